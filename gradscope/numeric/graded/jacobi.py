r"""Singular values of a graded factor ``diag(e^ℓ) U`` by one-sided Jacobi in log-scaled form.

``diag(e^ℓ) U`` is reduced to a lower triangular matrix that is also
column-graded, and one-sided Jacobi in log-scaled form gives each singular value
to a relative error of about ε κ of the scaled factor (Demmel & Veselić, *SIAM J.
Matrix Anal. Appl.* 13, 1992). Entries of the Jacobi iterates below ``2**-200``
of their unit row become 0. :func:`graded_svd` also returns the singular vectors
(the matrix-free method's Ritz vectors).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import NumericalError
from gradscope.numeric.graded.bounds import EPS, UNIT_ROUNDOFF
from gradscope.numeric.graded.factors import LN2
from gradscope.numeric.graded.kernels import (
    _NEGLIGIBLE,
    _cond_row_equilibrated,
    _exp_nonpositive,
    _zero_below,
)

__all__ = [
    "GradedValues",
    "graded_log_singular_values",
    "graded_singular_values",
    "graded_svd",
]

FloatArray = NDArray[np.float64]

_MAX_SWEEPS = 60


def _rounds(active: NDArray[np.bool_]) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """Rounds of disjoint pairs that cover every active pair ``i < j`` once.

    Greedy edge colouring: a pair goes to the first round in which neither of
    its indices is used yet (at most 2Δ − 1 rounds for Δ pairs at one index). A
    graded factor has few active pairs, mostly between near neighbours, so a
    sweep takes a few dozen rounds where a full round-robin takes r − 1.
    """
    firsts: list[list[int]] = []
    seconds: list[list[int]] = []
    used = [0] * active.shape[0]  # bit k set: the index is in round k
    for a, b in zip(*(x.tolist() for x in np.nonzero(np.triu(active, 1))), strict=True):
        taken = used[a] | used[b]
        k = (~taken & (taken + 1)).bit_length() - 1  # the lowest free round
        if k == len(firsts):
            firsts.append([])
            seconds.append([])
        firsts[k].append(a)
        seconds[k].append(b)
        used[a] |= 1 << k
        used[b] |= 1 << k
    return [
        (np.array(f, dtype=np.intp), np.array(s, dtype=np.intp))
        for f, s in zip(firsts, seconds, strict=True)
    ]


def _jacobi_start(ell: FloatArray, M: FloatArray) -> tuple[FloatArray, FloatArray]:
    r"""Unit columns of ``N`` with :math:`D M = N D`, :math:`D = \operatorname{diag}(e^\ell)`.

    ``ell`` descending and ``M`` lower trapezoidal (the L of an LQ factorisation):
    :math:`N_{ij} = e^{\ell_i - \ell_j} M_{ij}`, factors below ``2**-200`` taken as 0.
    Returns ``X`` (row j: column j of N, normalised) and the new scales.
    """
    F = np.subtract.outer(ell, ell)
    np.copyto(F, -np.inf, where=F <= -200.0 * LN2)  # below 2**-200: 0
    _exp_nonpositive(F)
    X = np.ascontiguousarray(np.tril(M * F).T)  # row j of X is column j of N
    norm = np.sqrt(np.einsum("ij,ij->i", X, X))
    dead = norm == 0.0
    norm[dead] = 1.0
    X /= norm[:, None]
    with np.errstate(divide="ignore"):
        return X, np.where(dead, -np.inf, ell + np.log(norm))


def _jacobi(
    X: FloatArray, ell: FloatArray, *, max_sweeps: int, Z: FloatArray | None = None
) -> int:
    """One-sided Jacobi sweeps on the rows of ``X`` (scales ``e^ℓ``) until they are orthogonal.

    In place (:func:`_rotate`, accumulating into ``Z`` if given). A pair rotates
    when its cosine exceeds ``max(r, 16) ε``; sweeps stop when none does.
    Returns the number of sweeps.

    Raises
    ------
    NumericalError
        If the rows are not orthogonal after ``max_sweeps`` sweeps.
    """
    r = X.shape[0]
    tol = max(r, 16) * EPS
    for sweep in range(max_sweeps + 1):
        _zero_below(X, _NEGLIGIBLE)
        G = X @ X.T
        d = np.sqrt(np.diagonal(G)).copy()
        d[d == 0.0] = 1.0
        # Twice the rotation threshold: the Gram product and _rotate's own dot
        # products differ by at most ~r ε, so every pair flagged here rotates.
        active = np.abs(G) > 2.0 * tol * np.outer(d, d)
        np.fill_diagonal(active, False)
        if not active.any():
            return sweep
        if sweep == max_sweeps:
            raise NumericalError(
                f"one-sided Jacobi did not converge in {max_sweeps} sweeps (r = {r}); "
                "please report this with the input that caused it"
            )
        if sum(_rotate(X, ell, i, j, tol, Z) for i, j in _rounds(active)) == 0:
            return sweep  # converged to rounding: what is left is below the threshold
    raise AssertionError("unreachable")


def _rotate(
    X: FloatArray,
    ell: FloatArray,
    i: NDArray[np.intp],
    j: NDArray[np.intp],
    tol: float,
    Z: FloatArray | None = None,
) -> int:
    r"""One-sided Jacobi rotations of the disjoint row pairs ``(i, j)``, in log-scaled form.

    With ``Z``, the true (unscaled) rotations, :math:`t = e^{\ell_s - \ell_b}\tau`, are
    also applied to the columns ``big``/``small`` of ``Z``, accumulating the right
    singular vectors (used by the matrix-free method).

    Row ``X[a]`` stands for :math:`e^{\ell_a} x_a`. For :math:`\ell_b \ge \ell_s`,
    :math:`\rho = e^{\ell_s - \ell_b}`, the Hestenes rotation
    :math:`t = \operatorname{sign}\zeta/(|\zeta| + \sqrt{1+\zeta^2})`,
    :math:`\zeta = (\rho^2\|x_s\|^2 - \|x_b\|^2)/(2\rho\,x_b\cdot x_s)`, goes through
    the bounded :math:`\tau = t/\rho`: :math:`x_b' = c(x_b - \rho^2\tau x_s)`,
    :math:`x_s' = c(\tau x_b + x_s)` in the scales :math:`e^{\ell_b}`, :math:`e^{\ell_s}`,
    so nothing is multiplied by :math:`e^{\pm(\ell_b - \ell_s)}`. Below
    ``ρ = 2**-100`` the rotation is a Gram–Schmidt step and ρ is taken as 0.
    """
    swap = ell[i] < ell[j]
    big, small = np.where(swap, j, i), np.where(swap, i, j)
    xb, xs = X[big], X[small]
    a = np.einsum("ij,ij->i", xb, xb)
    b = np.einsum("ij,ij->i", xs, xs)
    p = np.einsum("ij,ij->i", xb, xs)
    act = np.abs(p) > tol * np.sqrt(a * b)
    if not act.all():
        big, small, xb, xs, a, b, p = (v[act] for v in (big, small, xb, xs, a, b, p))
    if big.size == 0:
        return 0
    gap = ell[small] - ell[big]
    rho_true = np.exp(gap)
    rho = np.where(gap > -100.0 * LN2, rho_true, 0.0)
    h = rho * rho * b - a
    q = np.abs(h) / (2.0 * np.abs(p))
    tau = np.where(h * p >= 0.0, 1.0, -1.0) / (q + np.sqrt(rho * rho + q * q))
    t = rho * tau
    c = 1.0 / np.sqrt(1.0 + t * t)
    new_big = c[:, None] * (xb - (rho * t)[:, None] * xs)
    new_small = c[:, None] * (tau[:, None] * xb + xs)
    if Z is not None:
        tz = rho_true * tau
        cz = 1.0 / np.sqrt(1.0 + tz * tz)
        zb, zs = Z[:, big], Z[:, small]
        Z[:, big] = cz * (zb - tz * zs)
        Z[:, small] = cz * (tz * zb + zs)
    for rows, new in ((big, new_big), (small, new_small)):
        norm = np.sqrt(np.einsum("ij,ij->i", new, new))
        dead = norm == 0.0
        norm[dead] = 1.0
        ell[rows] = np.where(dead, -np.inf, ell[rows] + np.log(norm))
        X[rows] = new / norm[:, None]
    return int(big.size)


class GradedValues(NamedTuple):
    """What :func:`graded_singular_values` returns."""

    log_sigma: FloatArray  # (n,) natural logs, descending; -inf for exact zeros
    sweeps: int  # one-sided Jacobi sweeps
    log_error: float  # first-order error of the reduction and Jacobi, natural log


def graded_log_singular_values(
    log_scales: FloatArray, U: FloatArray, *, max_sweeps: int = _MAX_SWEEPS
) -> tuple[FloatArray, int]:
    """``(log σ, sweeps)`` of ``diag(e^ℓ) U``: :func:`graded_singular_values` without the error."""
    values = graded_singular_values(log_scales, U, max_sweeps=max_sweeps)
    return values.log_sigma, values.sweeps


def graded_singular_values(
    log_scales: FloatArray, U: FloatArray, *, max_sweeps: int = _MAX_SWEEPS
) -> GradedValues:
    r"""Natural logs of the singular values of ``diag(e^ℓ) U``, descending, with their error.

    Parameters
    ----------
    log_scales : (r,) ndarray
        ℓ; ``-inf`` marks an exactly zero row.
    U : (r, n) ndarray
        Rows of about unit norm, ``r <= n``.

    Returns
    -------
    GradedValues
        ``log_sigma`` (n,): :math:`\log\sigma_i`, descending; ``-inf`` for exact
        zeros (zero rows, and the ``n − r`` directions the product does not
        reach). ``sweeps``: one-sided Jacobi sweeps used. ``log_error``: the
        first-order bound on the error this reduction adds to every
        :math:`\log\sigma_i`, :math:`u\,r\,(\text{sweeps} + 3)\,
        \max(\tilde\kappa(M), \kappa(N))` (the LQ factor ``M`` with its rows
        equilibrated, and Jacobi's unit-column ``N``; Demmel & Veselić 1992),
        before the safety factor.

    Raises
    ------
    NumericalError
        If Jacobi has not converged after ``max_sweeps`` sweeps.

    Notes
    -----
    With the rows sorted by ℓ and the LQ factorisation ``U = M V``,
    ``diag(e^ℓ) U`` has the singular values of ``L = diag(e^ℓ) M``; ``L`` is
    lower triangular, so it is *also* column-graded, ``L = N diag(e^ℓ)`` with
    :math:`N_{ij} = e^{\ell_i - \ell_j} M_{ij}` and :math:`|N_{ij}| \le |M_{ij}|`.
    One-sided Jacobi on the columns of ``N diag(e^ℓ)`` (:func:`_rotate`) is
    accurate to a relative ε κ(N) for every singular value (Demmel & Veselić
    1992), and converges fast because a graded ``N`` has nearly orthogonal
    columns. A pair rotates when its cosine exceeds ``max(r, 16) ε``; sweeps stop
    when none does.
    """
    n = U.shape[1]
    live = np.isfinite(log_scales)
    ell = np.asarray(log_scales[live], dtype=np.float64)
    r = ell.size
    out = np.full(n, -np.inf)
    if r == 0:
        return GradedValues(out, 0, 0.0)
    order = np.argsort(-ell, kind="stable")
    ell = ell[order]
    M = np.asarray(np.linalg.qr(U[live][order].T, mode="r")).T  # U^T = V M^T
    X, ell = _jacobi_start(ell, M)
    kappa = max(_cond_row_equilibrated(M, lower=True), _cond_row_equilibrated(X))
    sweep = _jacobi(X, ell, max_sweeps=max_sweeps)
    with np.errstate(divide="ignore"):
        values = ell + np.log(np.sqrt(np.einsum("ij,ij->i", X, X)))
    out[:r] = np.sort(values)[::-1]
    return GradedValues(out, sweep, UNIT_ROUNDOFF * r * (sweep + 3) * kappa)


def graded_svd(
    log_scales: FloatArray, U: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, int]:
    r"""SVD of ``G = diag(e^ℓ) U`` (K × b) with vectors, to high relative accuracy.

    As :func:`~gradscope.numeric.graded.graded_log_singular_values` (sort the
    rows, LQ factorisation ``U = M V_q``, one-sided Jacobi on the columns of the
    column-graded ``L = diag(e^ℓ) M``), with the rotations accumulated:
    ``L Z = W diag(σ)``, so ``G = Π W diag(σ) (V_q^T Z)^T``.

    Returns
    -------
    log_sigma : (r,) ndarray
        Natural logs of the r nonzero-row singular values, descending
        (``-inf`` for exact zeros among them).
    X : (K, r) ndarray
        Left singular vectors (columns).
    Y : (b, r) ndarray
        Right singular vectors (columns).
    sweeps : int

    Raises
    ------
    NumericalError
        If one-sided Jacobi has not converged after ``_MAX_SWEEPS`` sweeps.
    """
    K, b = U.shape
    live = np.flatnonzero(np.isfinite(log_scales))
    r = live.size
    if r == 0:
        return np.full(0, -np.inf), np.zeros((K, 0)), np.zeros((b, 0)), 0
    ell = np.asarray(log_scales[live], dtype=np.float64)
    order = np.argsort(-ell, kind="stable")
    rows = live[order]
    ell = ell[order]
    Qm, Rm = np.linalg.qr(U[rows].T)  # U_sorted^T = Qm Rm: M = Rm^T, V_q = Qm^T
    X, ell = _jacobi_start(ell, Rm.T)
    Z = np.eye(r)
    sweep = _jacobi(X, ell, max_sweeps=_MAX_SWEEPS, Z=Z)
    lengths = np.sqrt(np.einsum("ij,ij->i", X, X))
    with np.errstate(divide="ignore"):
        values = ell + np.log(lengths)
    idx = np.argsort(-values, kind="stable")
    Wl = X[idx] / np.where(lengths[idx] > 0.0, lengths[idx], 1.0)[:, None]
    Xout = np.zeros((K, r))
    Xout[rows] = Wl.T
    Y = Qm @ Z[:, idx]
    return values[idx], Xout, Y, sweep
