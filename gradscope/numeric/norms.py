r"""Spectral norm and spectral radius of a matrix, and scaling a matrix to an exact one of them.

‖W‖₂ is the largest singular value; ρ(W), the largest eigenvalue modulus, is a
different number and never called a norm (DESIGN.md §1). :mod:`gradscope.init` draws
its weight families with these; they take any square array.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError

__all__ = [
    "SCALE_RANGE",
    "check_scale",
    "scale_to_norm",
    "scale_to_radius",
    "spectral_norm",
    "spectral_norm_certified",
    "spectral_norm_upper",
    "spectral_radius",
]

FloatArray = NDArray[np.float64]
LN2 = math.log(2.0)


def spectral_norm(W: FloatArray) -> float:
    """‖W‖₂, the largest singular value."""
    return float(np.linalg.svd(W, compute_uv=False)[0])


#: Up to this size :func:`spectral_norm_upper` callers may as well take the SVD (here
#: n = 512: 0.15 s for the singular values against about 0.1 s for the squarings).
EXACT_NORM_MAX = 512


def _scaled_by_a_power_of_two(W: FloatArray, rtol: float) -> tuple[FloatArray, int] | None:
    """``(W / 2**e, e)`` with entries at most 1 in modulus (exact), or None for W = 0.

    Raises
    ------
    ConfigError
        For an empty or non-finite W, or ``rtol`` outside (0, 1).
    """
    A = np.asarray(W, dtype=np.float64)
    if A.ndim != 2 or A.size == 0:
        raise ConfigError(f"W must be a nonempty matrix, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ConfigError("W has NaN or Inf entries")
    if not (0.0 < rtol < 1.0):
        raise ConfigError(f"rtol must be in (0, 1), got {rtol!r}")
    peak = float(np.abs(A).max())
    if peak == 0.0:
        return None
    w_exp = math.frexp(peak)[1]
    return np.ldexp(A, -w_exp), w_exp


def spectral_norm_upper(
    W: FloatArray, *, rtol: float = 1e-3, max_squarings: int = 10
) -> tuple[float, float]:
    r"""A rigorous upper bound on ‖W‖₂ without an SVD, and an estimate of how loose it is.

    Parameters
    ----------
    W : (m, n) ndarray
        Finite float64 entries.
    rtol : float
        Stop squaring once the upper bound is within the factor ``1 + rtol`` of
        the lower estimate.
    max_squarings : int
        Most squarings of :math:`W^\top W` (each one n × n product).

    Returns
    -------
    upper : float
        :math:`\ge \|W\|_2`, also counting every rounding of the computation.
    lower : float
        An estimate from below (a Rayleigh quotient of :math:`W^\top W`, rounded to
        nearest): ``upper
        / lower - 1`` says how loose ``upper`` may be.

    Notes
    -----
    :func:`spectral_norm_certified` is faster and tighter; this bound is its
    fallback. Why not Lanczos alone: Krylov iterations give Ritz values, *lower* bounds on
    :math:`\lambda_1(W^\top W)`; the residual bound :math:`|\theta - \lambda|
    \le \|r\|` (Parlett, Thm 4.5.1) puts *some* eigenvalue near θ, and a
    gap-free certificate that none lies above needs information about the rest
    of the spectrum that matrix-vector products alone cannot give (an adversary
    can hide an eigenvector orthogonal to the Krylov space; Kuczyński and
    Woźniakowski, SIAM J. Matrix Anal. Appl. 13, 1992, bound it only in
    probability). This bound is deterministic instead: with
    :math:`A = W^\top W` (positive semidefinite) and :math:`M_j = A^{2^j}`,

    .. math::  \|W\|_2^{2^{j+1}} = \lambda_1(M_j) \le \|M_j\|_F
               = \Big(\sum_i \sigma_i^{2^{j+2}}\Big)^{1/2},

    so :math:`\|W\|_2 \le \|M_j\|_F^{2^{-(j+1)}}`, loose by at most the
    factor :math:`\operatorname{rank}(W)^{2^{-(j+2)}}` and in practice by
    (number of σ_i near σ₁)^{2^{-(j+2)}}: for W with N(0, 1/n) entries at
    n = 2048, 1.0022 after 6 squarings, 2.8e-5 after 8. Each computed product
    obeys :math:`|fl(XY) - XY| \le \gamma_n |X||Y|` entrywise (any summation
    order, with or without FMA; Higham, *Accuracy and Stability of Numerical
    Algorithms*, 2nd ed., §3.5), so :math:`\|fl(XY) - XY\|_F \le \gamma_n
    \|X\|_F \|Y\|_F`; an error bound :math:`e_j \ge \|M_j - \hat M_j\|_F`
    is carried through the squarings (:math:`e_{j+1} = (2\|\hat M_j\|_F + e_j)
    e_j + \gamma_n \|\hat M_j\|_F^2` plus underflow), each :math:`\hat M_j`
    is rescaled by a power of two (exact), and the Frobenius norms are rounded
    up by :math:`\gamma_{n^2+2}`. Cost: 1 + j products of n × n matrices
    (j <= ``max_squarings``), O(n³) in BLAS-3 at about 0.1 s each at n = 2048.
    """
    scaled = _scaled_by_a_power_of_two(W, rtol)
    if scaled is None:
        return 0.0, 0.0
    Ws, w_exp = scaled
    u = 2.0**-53
    tiny = 2.0**-1074
    n = Ws.shape[1]
    g = n * u / (1.0 - n * u)  # γ_n of one product's inner products
    up = 1.0 + 2.0 * (n * n + 2) * u  # rounds a computed Frobenius norm up
    M = Ws.T @ Ws  # M_0 = 2^(-2 w_exp) A
    m = Ws.shape[0]  # M_0's inner products have length m, the later squarings' n
    fro_w = float(np.linalg.norm(Ws)) * (1.0 + 2.0 * (m * n + 2) * u)
    e = m * u / (1.0 - m * u) * fro_w * fro_w + n * n * m * tiny  # ‖M_0 − exact‖_F
    log_scale = -2.0 * w_exp * LN2  # M_j = e^log_scale · A^(2^j), up to e
    power = 2  # ‖W‖₂^power = λ1(A^(2^j))
    j = 0
    upper = lower = math.inf
    while True:
        fro = float(np.linalg.norm(M)) * up
        upper_log = (math.log((fro + e) * (1.0 + 4 * u)) - log_scale) / power
        upper = math.exp(upper_log) * (1.0 + 1e-12)
        # The Rayleigh quotient of A on M_j² e_i (the largest column of M_j, once more
        # through M_j): a power iteration of A from e_i, 3·2^j steps.
        y = M @ M[:, int(np.argmax(np.einsum("ij,ij->j", M, M)))]
        Ay = Ws.T @ (Ws @ y)
        yy = float(y @ y)
        rq = float(y @ Ay) / yy if yy > 0.0 else 0.0
        lower = math.sqrt(rq) * 2.0**w_exp
        if upper <= lower * (1.0 + rtol) or j >= max_squarings:
            return upper, min(lower, upper)
        # rescale by a power of two so the next product neither over- nor underflows
        s = math.frexp(fro)[1]
        M = np.ldexp(M, -s)
        e = math.ldexp(e, -s)
        fro_s = math.ldexp(fro, -s)
        log_scale -= s * LN2
        M = M @ M
        e = ((2.0 * fro_s + e) * e + g * fro_s * fro_s + n * n * n * tiny) * (1.0 + 8 * u)
        log_scale *= 2.0
        power *= 2
        j += 1


def _lanczos_top(A: FloatArray, *, steps: int, rtol: float) -> tuple[float, float]:
    r"""The largest Ritz value θ of :math:`A^\top A` and its residual norm, by Lanczos.

    Full reorthogonalisation, a fixed seeded start (the result is reproducible);
    at most ``steps`` products with :math:`A^\top A`, fewer once the residual
    :math:`\beta_j |y_j|` is below ``rtol`` θ. Only a guess for
    :func:`spectral_norm_certified`, which proves or discards it.
    """
    n = A.shape[1]
    k = min(steps, n)
    Q = np.zeros((k, n))
    q = np.random.default_rng(0).standard_normal((n,))
    q /= np.linalg.norm(q)
    alpha: list[float] = []
    beta: list[float] = []
    theta = resid = 0.0
    for j in range(k):
        Q[j] = q
        w = A.T @ (A @ q)
        alpha.append(float(q @ w))
        for _ in range(2):  # "twice is enough" (Kahan, in Parlett §6.9)
            w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = float(np.linalg.norm(w))
        T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
        vals, vecs = np.linalg.eigh(T)
        theta, resid = float(vals[-1]), b * abs(float(vecs[-1, -1]))
        if b <= 1e-300 or resid <= rtol * theta:
            break
        beta.append(b)
        q = w / b
    return theta, resid


def spectral_norm_certified(W: FloatArray, *, rtol: float = 1e-8) -> tuple[float, float]:
    r"""‖W‖₂ from Lanczos, proved from above by one Cholesky factorisation.

    Parameters
    ----------
    W : (m, n) ndarray
        Finite float64 entries.
    rtol : float
        How far above the Lanczos value the certificate is placed (relative,
        in :math:`\|W\|_2^2`); at least about :math:`n^2 u`, below which the
        factorisation of a nearly singular matrix may fail.

    Returns
    -------
    upper : float
        :math:`\ge \|W\|_2`, counting every rounding of the computation.
    lower : float
        The Lanczos estimate (a Ritz value: from below up to rounding).

    Notes
    -----
    Lanczos on :math:`A = W^\top W` (on the smaller side of W) gives a Ritz value
    θ and a residual r; they only *suggest* that :math:`\lambda_1(A) \le
    \theta + r` (see :func:`spectral_norm_upper`, Notes). The suggestion is
    then proved or refuted: for :math:`s = \theta + 2r + \text{rtol}\,\theta`
    the computed matrix :math:`\hat B = fl(sI - fl(A))` is given to a
    floating-point Cholesky factorisation. If that runs to completion,
    :math:`\hat R^\top \hat R = \hat B + \Delta` with :math:`|\Delta| \le
    \gamma_{n+1} |\hat R^\top||\hat R|` (Demmel's bound, Higham, *Accuracy
    and Stability of Numerical Algorithms*, 2nd ed., Thm 10.3, whose proof
    uses only that the factorisation completes, and which holds for the
    partitioned LAPACK algorithm on conventional BLAS-3; the idea of proving
    definiteness this way is Rump's, BIT 46, 2006). Taking traces,
    :math:`\|\hat R\|_F^2 \le \operatorname{tr}\hat B / (1 - \gamma_{n+1})`, so
    :math:`\hat B \succeq -\gamma_{n+1} \operatorname{tr}\hat B / (1 -
    \gamma_{n+1})\, I`. With :math:`\|fl(A) - A\|_2 \le \gamma_n \|W\|_F^2`
    (Higham §3.5) and the rounding of the diagonal shift,
    :math:`\lambda_1(A) \le s + \varepsilon` for the ε these terms (and
    underflow) add up to, all rounded up. If the factorisation breaks down the
    guess is refuted; one retry with a wider margin follows, then the
    squaring bound of :func:`spectral_norm_upper`. Cost: about 30–60 products
    with W and :math:`W^\top`, one product :math:`W^\top W` and one Cholesky
    (n = 2048: about 0.2 s, against about 1 s for the squarings at rtol 1e-3).
    """
    scaled = _scaled_by_a_power_of_two(W, rtol)
    if scaled is None:
        return 0.0, 0.0
    Ws, w_exp = scaled
    if Ws.shape[0] < Ws.shape[1]:
        Ws = Ws.T  # ‖W‖₂ = ‖Wᵀ‖₂; work on the smaller Gram matrix
    n = Ws.shape[1]
    u, tiny = 2.0**-53, 2.0**-1074
    theta, resid = _lanczos_top(Ws, steps=64, rtol=rtol / 4.0)
    fro = float(np.linalg.norm(Ws)) * (1.0 + 2.0 * (n * Ws.shape[0] + 2) * u)
    inner = Ws.shape[0]  # each entry of WᵀW is an inner product of this length
    gram_error = inner * u / (1.0 - inner * u) * fro * fro + n * n * inner * tiny  # ‖fl(A)-A‖₂
    g1 = (n + 1) * u / (1.0 - (n + 1) * u)
    B = Ws.T @ Ws
    diag = np.diagonal(B).copy()
    np.negative(B, out=B)  # off the diagonal -a_ij, exactly
    for margin in (rtol, 1e-4):
        s = theta + 2.0 * resid + margin * theta + 4.0 * gram_error
        B[np.diag_indices(n)] = s - diag  # fl(s - a_ii)
        try:
            np.linalg.cholesky(B)
        except np.linalg.LinAlgError:
            continue
        b = np.diagonal(B)
        top = float(b.max())
        trace = math.fsum(b.tolist()) * (1.0 + 2.0 * u)
        eps = g1 / (1.0 - g1) * trace + u / (1.0 - u) * top + gram_error
        eps += 8.0 * n * (n + 2 + top) * tiny
        lam = (s + eps) * (1.0 + 4.0 * u)
        upper = math.sqrt(lam) * (1.0 + 2.0 * u) * 2.0**w_exp
        return upper, min(math.sqrt(max(theta, 0.0)) * 2.0**w_exp, upper)
    return spectral_norm_upper(W, rtol=min(max(rtol, 1e-6), 1e-3))


def spectral_radius(W: FloatArray) -> float:
    """ρ(W), the largest eigenvalue modulus (not a norm)."""
    return float(np.max(np.abs(np.linalg.eigvals(W))))


#: Target norms and radii gradscope scales a W_hh to: beyond, W has lost its digits
#: (its entries leave float64's normal range, or every product of two overflows).
SCALE_RANGE = (1e-300, 1e300)


def check_scale(value: float, what: str) -> float:
    """``value`` as a float if it is a target norm or radius in :data:`SCALE_RANGE`.

    Raises
    ------
    ConfigError
        Otherwise, naming the range.
    """
    value = float(value)
    lo, hi = SCALE_RANGE
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ConfigError(
            f"the target {what} must lie in [{lo:g}, {hi:g}], got {value:g}: a W_hh scaled "
            "further has lost its digits"
        )
    return value


def scale_to_norm(W: FloatArray, norm: float) -> FloatArray:
    """Return ``c W`` with spectral norm exactly ``norm`` (to a few ulps).

    Raises
    ------
    ConfigError
        If ``norm`` is not finite and positive, or W is zero.
    """
    norm = check_scale(norm, "spectral norm")
    current = spectral_norm(W)
    if current == 0.0:
        raise ConfigError("cannot scale the zero matrix to a positive spectral norm")
    return W * (norm / current)


def scale_to_radius(W: FloatArray, radius: float) -> FloatArray:
    """Return ``c W`` with spectral radius exactly ``radius`` (to a few ulps).

    Raises
    ------
    ConfigError
        If ``radius`` is not finite and positive, or W is nilpotent (ρ = 0).
    """
    radius = check_scale(radius, "spectral radius")
    current = spectral_radius(W)
    if current == 0.0:
        raise ConfigError(
            "W has spectral radius 0 (nilpotent), so no scaling reaches a positive "
            "radius; scale it by spectral norm instead"
        )
    return W * (radius / current)
