r"""The sweep's table: columns, CSV and JSON-lines encoding, resumable files.

One row per (configuration, seed index). The columns are fixed by the
thresholds; settings come first, then the measured numbers:

* settings — ``family``, ``scale_kind`` (``norm`` or ``radius``), ``scale``,
  ``hidden``, ``T``, ``activation``, ``seed`` (the run seed S), ``seed_index``
  (i: the instance's seed is ``SeedSequence(S).spawn(seeds)[i]``), ``seeds``
  (the number of seeds measured together with it), ``input_size``,
  ``input_scale``, ``horizon_cap``;
* results — ``gamma`` (sup|φ'|), ``spectral_norm`` (‖W_hh‖₂), ``log10_measured``
  (log10 ‖∂h_T/∂h_0‖₂), ``log10_bound`` (T·log10(γ‖W‖₂)), ``log10_ratio``,
  ``holds``, ``tolerance_log10`` (the a priori rounding slack; ``holds`` uses the
  smaller of it and the error bound the product computed, which the table does
  not carry yet), and
  per threshold θ ``horizon_measured@θ`` (first k with ‖∂h_k/∂h_0‖₂ < θ;
  empty / null when not reached within max(T, horizon_cap) steps) and
  ``horizon_predicted@θ`` (log θ / log(γ‖W‖₂); empty / null when γ‖W‖₂ ≥ 1).

Floats are written with ``repr`` (they read back to the same bits); a log10 of
an exact zero is ``-inf`` in CSV and ``null`` in JSON. A last line without its
newline is what an interrupted write leaves: :func:`read_table` reports it and
does not count it (see :mod:`gradscope.sweep.writer`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradscope.errors import ConfigError

__all__ = [
    "FORMATS",
    "KEY_COLUMNS",
    "ExistingTable",
    "OutputPathError",
    "RowKey",
    "check_output_path",
    "columns",
    "encode_row",
    "header",
    "output_format",
    "read_table",
    "row_key",
]

_MAX_TABLE_BYTES = 4 * 2**30  # a resumed table is read whole: 4 GB is ~10⁷ rows

#: Output suffix → format.
FORMATS = {".csv": "csv", ".jsonl": "jsonl"}

SETTING_COLUMNS = (
    "family",
    "scale_kind",
    "scale",
    "hidden",
    "T",
    "activation",
    "seed",
    "seed_index",
    "seeds",
    "input_size",
    "input_scale",
    "horizon_cap",
)
RESULT_COLUMNS = (
    "gamma",
    "spectral_norm",
    "log10_measured",
    "log10_bound",
    "log10_ratio",
    "holds",
    "tolerance_log10",
)
#: The columns that identify a row; ``seeds`` is recorded but not part of the key.
KEY_COLUMNS = tuple(c for c in SETTING_COLUMNS if c != "seeds")
_KEY_TYPES: tuple[Callable[[Any], Any], ...] = (
    str, str, float, int, int, str, int, int, int, float, int
)  # fmt: skip
RowKey = tuple[Any, ...]


class OutputPathError(ConfigError):
    """The output path itself is unusable (wrong suffix, folder, no such folder, read-only)."""


class _ColumnMismatchError(ConfigError):
    """An existing output file has other columns than this sweep."""


def columns(thresholds: Sequence[float]) -> tuple[str, ...]:
    """Every column, in order, for these memory-horizon thresholds.

    Examples
    --------
    >>> columns([0.01])[-2:]
    ('horizon_measured@0.01', 'horizon_predicted@0.01')
    """
    per_threshold = []
    for th in thresholds:
        label = repr(float(th))
        per_threshold += [f"horizon_measured@{label}", f"horizon_predicted@{label}"]
    return (*SETTING_COLUMNS, *RESULT_COLUMNS, *per_threshold)


def output_format(path: str | os.PathLike[str]) -> str:
    """``"csv"`` or ``"jsonl"``, from the file's suffix.

    Raises
    ------
    OutputPathError
        For any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputPathError(
            f"{path}: the output's suffix must be .csv or .jsonl (it chooses the format)"
        )
    return FORMATS[suffix]


def check_output_path(path: str | os.PathLike[str]) -> None:
    """Check, without writing, that ``path`` can be created or appended to.

    Raises
    ------
    OutputPathError
    """
    from gradscope.io_folder import check_can_write

    p = Path(path)
    output_format(p)
    try:  # not a folder, the name's length, the folder, and a probe file in it
        check_can_write(p, what="")
    except ConfigError as exc:
        raise OutputPathError(str(exc)) from None
    if p.exists() and not os.access(p, os.R_OK | os.W_OK):  # resumed: read, then rewritten
        raise OutputPathError(f"{p}: cannot be read and written (permission denied)")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # DESIGN.md §3: log10 of an exact zero is null, never -Infinity
    return value


def header(cols: Sequence[str]) -> str:
    """The CSV header line, with its newline."""
    return ",".join(cols) + "\n"


def encode_row(row: Mapping[str, Any], cols: Sequence[str], fmt: str) -> str:
    """One row as a line (with its newline) of CSV or JSON lines."""
    if fmt == "jsonl":
        obj = {c: _json_value(row[c]) for c in cols}
        return json.dumps(obj, allow_nan=False) + "\n"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_cell(row[c]) for c in cols])
    return buf.getvalue()


def row_key(row: Mapping[str, Any]) -> RowKey:
    """The typed identity of a row (its :data:`KEY_COLUMNS`), from decoded or raw values.

    Raises
    ------
    ConfigError
        If a key value has the wrong type.
    """
    out = []
    for col, kind in zip(KEY_COLUMNS, _KEY_TYPES, strict=True):
        value = row[col]
        if (
            isinstance(value, bool)
            or (kind is str and not isinstance(value, str))
            or (kind is int and not isinstance(value, (int, str)))
        ):
            raise ConfigError(f"{col} = {value!r} is not a {kind.__name__}")
        try:
            out.append(kind(value))
        except (TypeError, ValueError):
            raise ConfigError(f"{col} = {value!r} is not a {kind.__name__}") from None
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExistingTable:
    """What an output file already holds.

    Attributes
    ----------
    lines : tuple of str
        Its complete data rows, each with its newline.
    keys : tuple of RowKey
        One per line.
    has_header : bool
        A CSV header is present.
    complete_bytes : int
        Length of the file up to its last newline.
    dropped_partial : bool
        The file ended in a line without a newline (an interrupted write), which
        is not counted and will be cut off.
    """

    lines: tuple[str, ...]
    keys: tuple[RowKey, ...]
    has_header: bool
    complete_bytes: int
    dropped_partial: bool


def _mismatch(path: Path, found: Iterable[str], cols: Sequence[str]) -> _ColumnMismatchError:
    found = list(found)
    missing = [c for c in cols if c not in found]
    extra = [c for c in found if c not in cols]
    detail = "; ".join(
        part
        for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "",
        )
        if part
    )
    return _ColumnMismatchError(
        f"{path}: its columns do not match this sweep ({detail or 'different order'}); "
        "use the same thresholds as the run that wrote it, or write to a new file"
    )


def read_table(path: str | os.PathLike[str], fmt: str, cols: Sequence[str]) -> ExistingTable:
    """Read an output file written by a sweep (missing file: empty table).

    Raises
    ------
    ConfigError
        If the file is not UTF-8, its columns differ from ``cols``, or a
        complete line is malformed.
    """
    p = Path(path)
    if not os.path.lexists(p):
        return ExistingTable(
            lines=(), keys=(), has_header=False, complete_bytes=0, dropped_partial=False
        )
    from gradscope.io import read_regular  # lazily: gradscope.io loads numpy

    data = read_regular(p, what="sweep table to resume", max_bytes=_MAX_TABLE_BYTES)
    complete = data.rfind(b"\n") + 1
    try:
        text = data[:complete].decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a sweep table (not UTF-8 text)") from None
    raw_lines = text.splitlines(keepends=True)
    has_header = False
    if fmt == "csv" and raw_lines:
        found = next(csv.reader([raw_lines[0]]))
        if found != list(cols):
            raise _mismatch(p, found, cols)
        raw_lines, has_header = raw_lines[1:], True
    keys = []
    for number, line in enumerate(raw_lines, start=1 + has_header):
        try:
            keys.append(row_key(_decode(line, fmt, cols, p)))
        except _ColumnMismatchError:
            raise
        except ConfigError as exc:
            raise ConfigError(f"{p}: line {number} is not a row of this sweep ({exc})") from None
    return ExistingTable(
        lines=tuple(raw_lines),
        keys=tuple(keys),
        has_header=has_header,
        complete_bytes=complete,
        dropped_partial=complete < len(data),
    )


def _decode(line: str, fmt: str, cols: Sequence[str], path: Path) -> dict[str, Any]:
    if fmt == "jsonl":
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise ConfigError("not a JSON object")
        if list(obj) != list(cols):
            raise _mismatch(path, obj, cols)
        return obj
    values = next(csv.reader([line]), [])
    if len(values) != len(cols):
        raise ConfigError(f"{len(values)} fields, expected {len(cols)}")
    return dict(zip(cols, values, strict=True))
