r"""One pass of the iteration and the error bounds of its Ritz values: rounding and residual."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradscope.numeric.graded.blocks import GradedProduct
from gradscope.numeric.graded.bounds import (
    SAFETY,
    UNIT_ROUNDOFF,
    log10_bounds,
    sorted_errors,
)
from gradscope.numeric.graded.jacobi import graded_singular_values, graded_svd

__all__ = ["MF_COND_LIMIT", "MF_ERROR_PER_FACTOR"]

FloatArray = NDArray[np.float64]

#: Bound on the measured condition number of one block of steps. Lower than the
#: full spectrum's 1e10: a QR of n × b costs little beside the steps themselves.
MF_COND_LIMIT = 1e8
#: The per-factor error budget of a pass's blocks, for the top k directions only. Looser
#: than the full spectrum's 1e-13: the values reported carry an a-posteriori residual
#: bound (_residual_errors), so the budget only has to keep the passes from stalling.
#: Measured on the harness (tests/numeric/test_matrixfree_accuracy.py, 440 cases): at
#: 1e-12 … 1e-9 a tanh Jordan block's passes stall 5.5 decades off (bounds inf); at 1e-8
#: every value lies inside its bound; n = 512, T = 1000, top 1: 1.4 s (2.6 s before).
MF_ERROR_PER_FACTOR = 1e-8


@dataclass(frozen=True, slots=True)
class _Pass:
    """``X V = Q diag(e^ℓ) U`` for the pass's operator X (P or Pᵀ) and input basis V."""

    Q: FloatArray  # (n, K) orthonormal
    log_scales: FloatArray  # (K,)
    U: FloatArray  # (K, b), upper trapezoidal, unit rows
    log_diag: FloatArray  # (b,) Σ log |R_ii|, the QR-method sums
    qr_count: int
    longest: int
    log_error: FloatArray  # (K,) first-order rounding error of each direction (natural log)
    lost: bool  # did a flush or a fold drop a nonzero row (a zero that is not exact)?
    factors: int  # factors applied (each may move the block's scale into the log)

    @classmethod
    def of(cls, p: GradedProduct) -> _Pass:
        """The pass that the block loop made."""
        assert p.Q is not None and p.U is not None and p.log_error is not None
        return cls(
            p.Q,
            p.log_scales,
            p.U,
            p.log_diag,
            p.qr_count,
            p.longest_block,
            p.log_error,
            not p.zeros_exact,
            p.factors,
        )


def _rounding(p: _Pass, values: FloatArray) -> FloatArray:
    r"""The rounding of pass ``p`` in each of the values ``values`` (natural logs).

    The engine's per-direction first-order model, the final b × b reduction, and
    the sums that carry :math:`\ln\sigma` itself, :math:`u|\ln\sigma|` for each
    rounding of the running log scale: three per fold, one per factor (the
    block's power-of-two rescaling; a pass on one vector at 1e92 per step
    rescales after every step), times :data:`SAFETY`; NaN beside an exact zero.
    """
    reduction = graded_singular_values(p.log_scales, p.U).log_error
    sums = UNIT_ROUNDOFF * (3 * (p.qr_count + 1) + p.factors) * np.abs(values)
    with np.errstate(invalid="ignore"):
        per_value = sorted_errors(values, p.log_scales, p.log_error) + reduction + sums
    out: FloatArray = SAFETY * per_value
    return out


def _residual_errors(prior: _Pass, prior_in: FloatArray, check: _Pass, k: int) -> FloatArray:
    r"""Natural-log bounds on the top k values of pass ``prior`` from its Ritz pairs' residual.

    ``prior`` maps ``prior_in`` (n × b, orthonormal) by X (P or Pᵀ) to
    ``Q diag(e^ℓ) U``; with that graded factor's SVD ``X̂ diag(σ̂) Ŷᵀ`` the Ritz
    pairs are :math:`a_i = Q\hat x_i` (output side) and
    :math:`b_i = V_{in}\hat y_i`, so :math:`X B = A \operatorname{diag}(\hat\sigma)`
    by construction (up to the pass's rounding). ``check`` is the pass of
    :math:`X^\top` on :math:`A` (m = min(k, rank) columns),
    :math:`X^\top A = Q_c \operatorname{diag}(e^{\ell_c}) U_c`. The residual
    :math:`R = X^\top A - B \operatorname{diag}(\hat\sigma)`, projected off
    :math:`B` and scaled column by column by :math:`1/\hat\sigma_i`, is

    .. math::  S = (Q_c - B B^\top Q_c)\,
               \operatorname{diag}(e^{\ell_c}) U_c \operatorname{diag}(\hat\sigma)^{-1},

    formed with the scales :math:`e^{\ell_c - \ln\hat\sigma_i}` combined before
    they are taken out of log scale, so nothing under- or overflows while the
    column is within 1e300 of :math:`\hat\sigma_i` (beyond, the residual is
    ``inf``). Value i gets :math:`\operatorname{asinh}(f_i / 2)`,
    :math:`f_i = \|S_{:, 1..i}\|_F \ge \|S_{:, 1..i}\|_2` (the theorem:
    :func:`compute_top_spectrum`, Notes). NaN beside an exact zero. The
    projection keeps the float64 vectors' own error, about ε along the top
    directions, from counting as residual to first order: what is left of it
    is about :math:`\varepsilon^2\sigma_1/\sigma_i`, so a value more than about
    30 decades below σ₁ can get an ``inf`` bound.
    """
    prior_sigma, _, Yp, _ = graded_svd(prior.log_scales, prior.U)
    m = min(k, prior_sigma.size)
    out = np.full(k, np.nan)
    if m == 0:
        return out
    sigma = prior_sigma[:m]
    live = np.isfinite(sigma)
    B = prior_in @ Yp[:, :m]  # (n, m), the input side of the prior pass's Ritz pairs
    Qc = check.Q
    C = Qc - B @ (B.T @ Qc)  # the residual pass's output basis off the span of B
    K = check.U.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        scale = check.log_scales[:K, None] - np.where(live, sigma, 0.0)[None, :]
        coeffs = np.where(check.U[:, :m] != 0.0, np.exp(scale) * check.U[:, :m], 0.0)
        S = C @ coeffs  # (n, m): column i is (I − B Bᵀ) Xᵀ a_i / σ̂_i
        sq = np.where(live, np.einsum("ij,ij->j", S, S), 0.0)
    sq = np.where(np.isnan(sq), np.inf, sq)
    out[:m] = np.where(live, np.arcsinh(np.sqrt(np.cumsum(sq)) / 2.0), np.nan)
    return out


def _top_errors(last: _Pass, values: FloatArray, prior: FloatArray | None) -> FloatArray:
    """log10 error bounds of the top k values (natural logs ``values``) of pass ``last``.

    The last pass's rounding (:func:`_rounding`) plus ``prior``, the residual
    bound from the Ritz pairs of the pass before (:func:`_residual_errors`;
    None: there was no such pass, the product is exactly zero). A value whose
    bound is NaN while it is not an exact zero gets ``inf``. A zero is exact
    (NaN) only beyond the rows of the pass's block (it shrank where a factor had
    fewer nonzero rows than the block has columns: a structural bound on the
    rank) and if no flush or fold dropped a nonzero row; any other zero gets
    ``inf``.
    """
    total = _rounding(last, values)
    if prior is not None:
        with np.errstate(invalid="ignore"):
            total = total + np.where(np.isnan(prior) & np.isfinite(values), np.inf, prior)
    out = log10_bounds(total, values)
    # A zero is exact where the block shrank (a factor's zero rows bound the rank
    # exactly), not where a row of the pass's factor vanished inside it.
    zero = ~np.isfinite(values)
    structural = np.arange(values.size) >= last.U.shape[0]
    out[zero] = np.where(structural[zero] & (not last.lost), np.nan, np.inf)
    return out


def _top(log_sigma: FloatArray, k: int) -> FloatArray:
    """The first k values, padded with −inf (the block shrinks when the product loses rank)."""
    out = np.full(k, -np.inf)
    out[: min(k, log_sigma.size)] = log_sigma[:k]
    return out
