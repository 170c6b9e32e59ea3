r"""Error bounds of the graded engine: the unit roundoff, the safety factor, and how a
natural-log bound becomes a reported log10 one (and a JSON value).

The bottom of :mod:`gradscope.numeric.graded`: the σ₁ path
(:mod:`gradscope.numeric.products`) and the studies format their bounds with
these too.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EPS",
    "SAFETY",
    "UNIT_ROUNDOFF",
    "json_error",
    "json_errors",
    "log10_bounds",
    "sorted_errors",
]

FloatArray = NDArray[np.float64]

EPS = float(np.finfo(np.float64).eps)
UNIT_ROUNDOFF = EPS / 2  # u = 2**-53
#: The safety factor on the first-order error bounds (docs: "How exact is exact"):
#: every bound the engine reports is its first-order estimate times this.
SAFETY = 4.0


def log10_bounds(total: FloatArray, log_values: FloatArray) -> FloatArray:
    """Natural-log bounds ``total`` of values ``log_values`` (natural logs) as log10 bounds.

    A first-order bound past a relative error of 1 no longer bounds anything
    (``inf``), and each value carries its own float64 rounding, 8 ε |log10 σ|
    (ln → log10, sums of logs).
    """
    out = np.where(total > 1.0, np.inf, total) / math.log(10.0)
    with np.errstate(invalid="ignore"):
        out += 8.0 * EPS * np.abs(log_values / math.log(10.0))
    bounds: FloatArray = out
    return bounds


def json_error(error: float) -> float | str | None:
    """An error bound for JSON: a float, ``None`` beside an exact zero, ``"inf"`` where
    the data do not determine the value (JSON has no infinity)."""
    return None if math.isnan(error) else "inf" if math.isinf(error) else float(error)


def json_errors(errors: FloatArray) -> list[float | str | None]:
    """:func:`json_error` of each bound."""
    return [json_error(e) for e in errors]


def sorted_errors(log_values: FloatArray, key: FloatArray, errors: FloatArray) -> FloatArray:
    """Per-direction errors (rows in ``key``'s order) for values sorted descending.

    The direction with the j-th largest ``key`` is taken as the j-th value, and
    the errors are made non-decreasing down the list, so a value never gets a
    smaller bound than one above it (the assignment is approximate; its
    monotone envelope is not).
    """
    live = np.isfinite(key)
    order = np.argsort(-key[live], kind="stable")
    errors = np.where(np.isnan(errors), np.inf, errors)  # inf · 0 in a bound is no bound
    env = np.maximum.accumulate(errors[live][order]) if order.size else np.zeros(0)
    out = np.full(log_values.size, np.nan)
    m = min(env.size, int(np.count_nonzero(np.isfinite(log_values))))
    out[:m] = env[:m]
    if m < np.count_nonzero(np.isfinite(log_values)):  # more values than directions
        out[m : np.count_nonzero(np.isfinite(log_values))] = env[-1] if env.size else np.inf
    return out
