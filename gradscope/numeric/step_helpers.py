r"""The window check and the log-scale norms that step sequences use.

:func:`check_range` validates a product's window ``0 <= start < end <= T``;
the others give log10 norms without underflow. Re-exported by
:mod:`gradscope.numeric.steps`, where callers import them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError

__all__ = ["check_range", "log10_add", "log10_frobenius", "log10_row_scaled_frobenius"]

FloatArray = NDArray[np.float64]
_LN10 = float(np.log(10.0))


def check_range(start: int, end: int | None, T: int | None) -> tuple[int, int | None]:
    """Validate ``0 <= start < end <= T`` and fill in ``end = T`` when omitted.

    Raises
    ------
    ConfigError
        If the range is empty or outside ``0..T``.
    """
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
        raise ConfigError(f"start must be an integer, got {start!r}")
    start = int(start)
    if end is None:
        end = T
    elif isinstance(end, bool) or not isinstance(end, (int, np.integer)):
        raise ConfigError(f"end must be an integer, got {end!r}")
    else:
        end = int(end)
    if start < 0:
        raise ConfigError(f"start must be >= 0, got {start}")
    if end is not None:
        if end <= start:
            raise ConfigError(
                f"start must be smaller than end (the product dh_end/dh_start has "
                f"end - start factors), got start={start}, end={end}"
            )
        if T is not None and end > T:
            raise ConfigError(f"end={end} is past the last step T={T}")
    return start, end


def log10_frobenius(A: FloatArray) -> FloatArray:
    """log10 ‖A‖_F over the last two axes, without underflow (``-inf`` for zero)."""
    peak = np.max(np.abs(A), axis=(-2, -1))
    live = peak > 0.0
    scale = np.where(live, peak, 1.0)[..., None, None]
    with np.errstate(divide="ignore"):
        out: FloatArray = np.where(
            live,
            np.log10(np.where(live, peak, 1.0))
            + 0.5 * np.log10(np.sum((A / scale) ** 2, axis=(-2, -1))),
            -np.inf,
        )
    return out


def log10_add(a: FloatArray, b: FloatArray) -> FloatArray:
    """log10(10**a + 10**b), elementwise, without overflow; ``-inf`` stands for 0."""
    out: FloatArray = np.logaddexp(a * _LN10, b * _LN10) / _LN10
    return out


def log10_row_scaled_frobenius(d: FloatArray, W: FloatArray) -> FloatArray:
    """log10 ‖diag(d) W‖_F, ``d`` (…, m) and ``W`` (…, m, n), without forming the product.

    ``d[i] * W[i, j]`` may underflow in float64 where the exact product does
    not (a saturated unit's φ' of 1e-100 times a weight of 1e-230): the row
    norms of ``W`` and the ``d[i]`` are combined in log scale instead.
    """
    peak = np.max(np.abs(W), axis=-1, keepdims=True)
    live = peak > 0.0
    rows = np.where(live, peak, 1.0)
    norms = rows[..., 0] * np.sqrt(np.sum((W / rows) ** 2, axis=-1))  # >= peak: no underflow
    with np.errstate(divide="ignore"):
        a = np.log10(np.abs(d)) + np.where(live[..., 0], np.log10(norms), -np.inf)
    top = np.max(a, axis=-1, keepdims=True)
    finite = np.isfinite(top)
    shifted = np.where(finite, a - np.where(finite, top, 0.0), -np.inf)
    with np.errstate(divide="ignore"):
        out: FloatArray = np.where(
            finite[..., 0],
            top[..., 0] + 0.5 * np.log10(np.sum(10.0 ** (2.0 * shifted), axis=-1)),
            -np.inf,
        )
    return out
