"""JSON numbers for the result records: a non-finite float is ``null`` (DESIGN.md §3).

Every frozen result record has a ``to_dict()`` that the JSON output, the reports
and the tests all use. JSON has no ±Infinity or NaN, and a log10 of an exact zero
(−∞) is ``null``; these two functions are the one place that says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import SupportsFloat

__all__ = ["json_number", "json_numbers"]


def json_number(x: SupportsFloat) -> float | None:
    """``x`` as a Python float, or ``None`` if it is ±inf or NaN.

    Examples
    --------
    >>> json_number(1.5), json_number(float("-inf")), json_number(float("nan"))
    (1.5, None, None)
    """
    value = float(x)
    return value if math.isfinite(value) else None


def json_numbers(values: Iterable[SupportsFloat]) -> list[float | None]:
    """:func:`json_number` of each value, as a list (an array's entries, in order).

    Examples
    --------
    >>> import numpy as np
    >>> json_numbers(np.array([0.0, -np.inf, 2.0]))
    [0.0, None, 2.0]
    """
    return [json_number(v) for v in values]
