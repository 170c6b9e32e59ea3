r"""When the subspace iteration stops: the top k Ritz values' change and predicted error."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Progress:
    """What the last pass says about convergence (see :func:`_assess`)."""

    converged: bool
    change: float  # largest relative change of the top k in the last pass
    error: float  # largest predicted relative error of the top k
    one_more: bool  # one more pass should be enough: make it on the k Ritz vectors only


def _assess(history: list[FloatArray], log_sigma_b: float, rtol: float) -> _Progress:
    r"""Have the top k Ritz values converged, and will one more pass do?

    ``c_h = |ln σ_i^{(h)} − ln σ_i^{(h−1)}| / (1 + |ln σ_i^{(h)}|)`` estimates the
    error of pass h − 1. Subspace iteration converges linearly, by
    :math:`q_i = (\sigma_{b+1}/\sigma_i)^2` per pass, so the error left after
    pass h is about ``c_h q / (1 − q)``. ``q_i`` is taken as the larger of the
    observed ratio ``c_h / c_{h−1}`` (from the third pass on) and
    ``4 (σ_b / σ_i)^2`` from the block's own smallest Ritz value (the first pass
    starts far from the asymptotic rate, so the observed ratio alone can be too
    hopeful). Converged: for each of the top k, ``c_h <= rtol``, or the
    predicted error is below ``rtol``, or the change stopped shrinking
    (observed ratio >= 1/2) at rounding level (``c_h <= 1e3 rtol``). Exact zeros
    agree with exact zeros. ``one_more``: the error predicted after one more pass,
    ``c_h q^2 / (1 − q)``, is below ``rtol`` for every value not yet converged.
    """
    if len(history) < 2:
        return _Progress(converged=False, change=math.inf, error=math.inf, one_more=False)
    change = _relative_change(history[-1], history[-2])
    worst = float(change.max()) if change.size else 0.0
    last = history[-1]
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.where(np.isfinite(last), log_sigma_b - last, -np.inf)
        q = np.minimum(4.0 * np.exp(2.0 * np.minimum(gap, 0.0)), 1.0)
    noise = np.zeros(change.shape, dtype=bool)
    if len(history) >= 3:
        before = _relative_change(history[-2], history[-3])
        with np.errstate(divide="ignore", invalid="ignore"):
            observed = np.where(before > 0.0, change / before, np.where(change > 0.0, 1.0, 0.0))
        q = np.maximum(q, np.minimum(observed, 1.0))
        noise = (observed >= 0.5) & (change <= 1e3 * rtol)
    with np.errstate(divide="ignore", invalid="ignore"):
        predicted = np.where(q < 1.0, change * q / (1.0 - q), np.inf)
        predicted = np.where(change == 0.0, 0.0, predicted)
    done = (change <= rtol) | (predicted <= rtol) | noise
    error = np.minimum(predicted, np.where(noise | (change <= rtol), change, np.inf))
    return _Progress(
        converged=bool(done.all()),
        change=worst,
        error=float(error.max()) if error.size else 0.0,
        one_more=bool(np.all(np.where(done, 0.0, predicted * q) <= rtol)),
    )


def _relative_change(current: FloatArray, previous: FloatArray) -> FloatArray:
    """``|Δ ln σ_i| / (1 + |ln σ_i|)`` per value; two exact zeros agree (0), one is inf."""
    fc, fp = np.isfinite(current), np.isfinite(previous)
    out = np.full(current.shape, np.inf)
    both = fc & fp
    out[both] = np.abs(current[both] - previous[both]) / (1.0 + np.abs(current[both]))
    out[~fc & ~fp] = 0.0
    return out
