"""Plain-text tables for the terminal (no dependencies, so the CLI starts fast)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["format_log10", "format_table"]


def format_log10(x: float | None, digits: int = 3) -> str:
    """A log10 value for a table: ``−∞`` for log10 of an exact zero (DESIGN.md §3)."""
    if x is None or x == -math.inf:
        return "−∞"
    if x == math.inf:
        return "∞"
    text = f"{x:.{digits}f}"
    if text.startswith("-") and text.lstrip("-0.") == "":
        text = text[1:]  # "-0.000" reads as a sign where there is none
    return text


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    align: str | None = None,
) -> str:
    """Align ``rows`` under ``headers``.

    Parameters
    ----------
    headers : sequence of str
    rows : sequence of sequences of str
        Every row has one cell per header.
    align : str, optional
        One character per column, ``"l"`` or ``"r"``; default: first column
        left, the rest right.

    Returns
    -------
    str
        The table, with a rule under the headers and no trailing newline.

    Examples
    --------
    >>> print(format_table(["a", "b"], [["x", format_log10(-1e-9)]]))
    a      b
    -  -----
    x  0.000
    """
    ncol = len(headers)
    if any(len(r) != ncol for r in rows):
        raise ValueError("every row needs one cell per header")
    align = align or "l" + "r" * (ncol - 1)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if a == "l" else str(c).rjust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = ["-" * w for w in widths]
    return "\n".join([line(headers), line(rule), *(line(r) for r in rows)])
