"""A heat map of a ``gradscope sweep`` table (CSV or JSON lines)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from gradscope.errors import ConfigError
from gradscope.io import read_regular

__all__ = ["numeric_columns", "read_sweep_rows", "sweep_heatmap"]

_MAX_TABLE_BYTES = 4 * 2**30  # read whole to draw it: 4 GB is ~10⁷ rows


def read_sweep_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a sweep's output (by suffix: ``.csv`` or ``.jsonl``), as dicts.

    Raises
    ------
    ConfigError
        For a missing or unreadable file, another suffix, or no rows.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in (".csv", ".jsonl"):
        raise ConfigError(f"{p}: a sweep table is .csv or .jsonl")
    raw = read_regular(p, what="sweep table", max_bytes=_MAX_TABLE_BYTES)
    try:
        text = raw.decode("utf-8")
        if ext == ".csv":
            rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(text, newline="")))
        else:
            lines = text.splitlines(keepends=True)
            rows = [json.loads(line) for line in lines if line.endswith("\n") and line.strip()]
    except RecursionError:
        raise ConfigError(f"{p}: a line is nested too deeply to be a sweep row") from None
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise ConfigError(f"{p}: cannot be read as a sweep table ({exc})") from None
    if not all(isinstance(r, dict) for r in rows):
        raise ConfigError(f"{p}: a line is not a JSON object; give the table a sweep wrote")
    if not rows:
        raise ConfigError(f"{p}: holds no rows")
    return rows


def _number(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _sort_key(value: str) -> tuple[int, float, str]:
    x = _number(value)
    return (0, x, "") if math.isfinite(x) else (1, 0.0, value)


def numeric_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns (of the first row, in order) holding a finite number in some row.

    Examples
    --------
    >>> numeric_columns([{"family": "gaussian", "T": "10", "x": ""}, {"family": "x", "T": 5}])
    ['T']
    """
    names = list(rows[0]) if rows else []
    return [k for k in names if any(math.isfinite(_number(r.get(k))) for r in rows)]


def sweep_heatmap(
    path: str | os.PathLike[str],
    x: str,
    y: str,
    value: str,
    *,
    rows: Sequence[Mapping[str, Any]] | None = None,
) -> Figure:
    """Median of column ``value`` for every (``x``, ``y``) cell of a sweep table.

    Parameters
    ----------
    path : path-like
        The table (read unless ``rows`` is given; named in the title).
    x, y : str
        The columns on the axes.
    value : str
        A numeric column (:func:`numeric_columns`).
    rows : sequence of dict, optional
        The table's rows, already read by :func:`read_sweep_rows`.

    Raises
    ------
    ConfigError
        For a bad table, a column it does not have, or a ``value`` column
        without a single number in it.
    """
    from gradscope.report.figures import plot_heatmap

    if rows is None:
        rows = read_sweep_rows(path)
    for key in (x, y, value):
        if key not in rows[0]:
            raise ConfigError(
                f"{os.fspath(path)}: no column {key!r}; columns: {', '.join(rows[0])}"
            )
    numeric = numeric_columns(rows)
    if value not in numeric:
        raise ConfigError(
            f"{os.fspath(path)}: column {value!r} holds no numbers to draw; numeric "
            f"columns: {', '.join(numeric) or 'none'}"
        )
    xs = sorted({str(r[x]) for r in rows}, key=_sort_key)
    ys = sorted({str(r[y]) for r in rows}, key=_sort_key)
    cells: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        cells.setdefault((str(r[x]), str(r[y])), []).append(_number(r[value]))
    grid = np.full((len(ys), len(xs)), np.nan)
    for (cx, cy), vals in cells.items():
        finite = [v for v in vals if math.isfinite(v)]
        if finite:
            grid[ys.index(cy), xs.index(cx)] = float(np.median(finite))
    return plot_heatmap(
        grid,
        xs,
        ys,
        x_name=x,
        y_name=y,
        value_name=f"median {value}",
        title=f"{value} over {x} × {y} ({os.path.basename(os.fspath(path))})",
    )
