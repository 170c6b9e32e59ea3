r"""Graded QR of a Jacobian product, and its singular values to high relative accuracy.

The kernels behind :mod:`gradscope.numeric.spectrum`. The product
:math:`P = J_{end} \cdots J_{start+1}` is never formed; it is kept as
:math:`P = Q \operatorname{diag}(e^{\ell}) U` with ``Q`` (n × r) orthonormal, ``ℓ``
natural-log row scales and ``U`` (r × n) upper trapezoidal with unit rows, so
nothing under- or overflows however many decades the spectrum spans. A *block*
of k steps is applied to ``Q``, :math:`B = J_{t+k} \cdots J_{t+1} Q`, factorised
by Householder QR with its rows sorted, :math:`B = Q' R`, and ``R`` is folded
into :math:`\operatorname{diag}(e^{\ell}) U` (the discrete QR method; Stewart,
*ETNA* 3, 1995) — consecutive ``R`` are first multiplied together, and folded
once per group (:class:`_Group`).

**Block length.** In exact arithmetic a block's ``R`` is the product of its k
one-step factors, so k only trades speed for rounding. Block lengths are
*measured*: after each QR the block's amplification of rounding (κ̃ of its
row-equilibrated ``R`` times its worst column grading, :func:`_block_error`) is
compared with what ``error_per_factor`` allows k factors, and a block over it is
redone from its start with half as many factors (one factor is always kept, and
charged). A prediction ``α Σ c_t`` (``c_t`` a bound on ``log κ(J_t)``; for an RNN
:math:`\log(\max\varphi'/\min\varphi') + \log\kappa(W)`, rigorous; ``α`` the
recent measured share of it) chooses the next block's length so that redos are
rare; ``Σ c_t`` itself is kept below ``_SPAN_BUDGET``, which bounds the span of
the block's rows. A stream keeps the factors of one block, up to
``_REDO_BYTES``. Blocks whose columns have one nonzero each (a diagonal or
permutation W) get an exact QR (:func:`_monomial_qr`).

**Kernels** (:mod:`gradscope.numeric.kernels`). For an RNN's or explicit
Jacobians the loop runs on scipy's LAPACK and BLAS alone (``Q`` kept as
reflectors, never formed); Steps known only through ``apply`` use numpy's. One
loop never mixes the two libraries, whose OpenBLAS thread pools stall each other
(DESIGN.md §5). (The recursive compact-WY ``geqrt`` was 6% faster here, but
made the smallest Lyapunov exponent of a test case 14 times less accurate.)

**Singular values.** ``diag(e^ℓ) U`` is reduced to a lower triangular matrix
that is also column-graded, and one-sided Jacobi in log-scaled form gives each
singular value to a relative error of about ε κ of the scaled factor (Demmel &
Veselić, *SIAM J. Matrix Anal. Appl.* 13, 1992).

**Flushing** (no subnormal reaches LAPACK): block entries below ``2**-800`` of
the block's largest, and entries of ``Q`` (or its reflectors), ``U`` or the
Jacobi iterates below ``2**-200`` (6e-61) of their unit row or column, become
0 — far below the rounding error ε ≈ 1.1e-16 beside them. The block is
rescaled and flushed before each QR, and between QRs only when rigorous bounds
on its growth (:func:`_log2_growth`) say its largest entry may have moved by
``2**±300``; an entry far below rounding can meanwhile pass through a product as
a subnormal number, which costs time (in deep saturation), never accuracy.

A step whose rows span more than ``2**500`` (tanh' < 1e-150 of the largest:
deep saturation) is applied as several exact factors, each with its own QR, so
no row is lost to the others.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError, NumericalError
from gradscope.numeric.kernels import (
    _NEGLIGIBLE,
    _NUMPY,
    _SCIPY,
    _cond_row_equilibrated,
    _Kernels,
    _Reflectors,
    _strictly_lower,
    _triu_matmul,
    _zero_below,
)
from gradscope.numeric.steps import ArraySteps, ConstantSteps, RNNSteps, Steps

__all__ = [
    "COND_LIMIT",
    "SAFETY",
    "UNIT_ROUNDOFF",
    "GradedProduct",
    "GradedValues",
    "graded_log_singular_values",
    "graded_product",
    "graded_singular_values",
    "json_errors",
    "log10_bounds",
    "sorted_errors",
]

FloatArray = NDArray[np.float64]
Apply = Callable[[FloatArray], FloatArray]


class Factor(NamedTuple):
    """One factor ``F`` of the product, as the block loop sees it."""

    apply: Apply  # V -> F V
    log_kappa: float  # a bound on log κ(F)
    last: bool  # the last factor of its step?
    live: int  # nonzero rows of F
    #: Bounds on log2(max|F V| / max|V|) for every V (n × r, r <= n); None: unknown.
    log2_growth: tuple[float, float] | None = None


EPS = float(np.finfo(np.float64).eps)
UNIT_ROUNDOFF = EPS / 2  # u = 2**-53
#: The safety factor on the first-order error bounds (docs: "How exact is exact"):
#: every bound the engine reports is its first-order estimate times this.
SAFETY = 4.0
LN2 = math.log(2.0)
#: Default bound on the measured amplification of rounding of one block (see graded_product).
COND_LIMIT = 1e10
#: The most first-order error (natural log) a block may add per factor before it is redone
#: shorter: 1e-13 keeps a 1000-step product's bound near 1e-10 where single steps allow.
PER_FACTOR_ERROR = 1e-13
#: Most steps between two QR factorisations, even for orthogonal steps.
MAX_BLOCK = 64
_BLOCK_FLUSH = 2.0**-800  # block entries below this times the block's largest -> 0
_BLOCK_RANGE = 100  # a block is rescaled by 2**-e when its largest entry leaves 2**±100
_EXP_FLOOR = -700.0  # exp below this is taken as 0 (numpy's exp is slow near underflow)
_DRIFT = 300  # the block is tidied when its peak may have moved 2**±300 (and before a QR)
_GROUP_SPAN = 150 * math.log(10.0)  # R factors are folded before their κ pass 1e150
_ROW_FLOOR = 2.0**-700  # ... or before a row's largest entry falls below this of the largest
_SPLIT = 500  # a step whose rows span more than 2**_SPLIT is split into factors
_W_ROW_SPAN = 100  # a W whose rows span more than 2**_W_ROW_SPAN is row-equilibrated first
_MAX_SWEEPS = 60
#: Blocks close before the sum of their factors' log κ bounds passes this: κ(B) bounds
#: the span of B's rows, so no row falls below the flush level 2**-800 of the largest
#: (the measured α can be near 0 where the amplification is 1: a diagonal W).
_SPAN_BUDGET = 700 * LN2
_OPAQUE_LOG_KAPPA = 1.0  # the predicted log κ of a step known only through apply
_REDO_BYTES = 256 * 2**20  # a stream's factors kept for redoing a block, at most


@dataclass(frozen=True, slots=True, kw_only=True)
class GradedProduct:
    r"""The product :math:`J_{end} \cdots J_{start+1}` as ``Q diag(e^ℓ) U`` (``Q`` dropped).

    Attributes
    ----------
    log_scales : (r,) ndarray
        Natural-log row scales ℓ (``-inf`` for a row that became exactly zero).
    U : (r, n) ndarray or None
        Upper trapezoidal, unit rows; None when only ``log_diag`` was tracked.
    log_diag : (n,) ndarray
        :math:`\sum_t \log|R^{(t)}_{ii}|` after the warm-up (the QR-method
        Lyapunov sums); ``-inf`` for a direction lost to exact rank deficiency.
    steps, averaged_steps : int
        Factors ``end - start``, and those after the warm-up.
    qr_count, longest_block : int
        QR factorisations, and the most factors between two of them.
    marked : tuple of (int, ndarray, ndarray)
        ``(t, ℓ, U)`` of the product :math:`J_t \cdots J_{start+1}` at each of the
        steps ``marks`` asked for, in order (empty when none were).
    log_error : (r,) ndarray
        The block loop's first-order error in the natural log of each row's
        direction (the rows of ``U``), before the safety factor:
        :math:`\sum_b \tilde\kappa_b \,(u\, n\, (k_b + 2)\, g_{jb} + \sqrt n\, f_b)`
        with :math:`\tilde\kappa_b` the row-equilibrated condition of block b's
        ``R``, :math:`g_{jb} = \|R_{:,j}\|_2/|R_{jj}|` its column grading
        (:func:`_column_grading`) and :math:`f_b` the flushes' relative change
        of a row.
    zeros_exact : bool
        Every row that became zero did so exactly (no flush or fold dropped a
        nonzero row): the ``-inf`` values are then exact zeros.
    worst_block_cond : float
        The largest :math:`\tilde\kappa_b` met.
    redone_blocks : int
        Blocks whose measured :math:`\tilde\kappa_b` was over ``cond_limit`` and
        that were redone with half as many factors.
    log_sum_error : float
        The rounding of the running log scales themselves (natural log, every
        direction): u times the additions made to them (three per fold, two per
        grouped QR, one per rescaled block) times the largest |ℓ| they held.
    """

    log_scales: FloatArray
    U: FloatArray | None
    log_diag: FloatArray
    steps: int
    averaged_steps: int
    qr_count: int
    longest_block: int
    marked: tuple[tuple[int, FloatArray, FloatArray], ...] = ()
    log_error: FloatArray | None = None
    zeros_exact: bool = True
    worst_block_cond: float = 1.0
    redone_blocks: int = 0
    log_sum_error: float = 0.0


# --- the factors, with a bound on the log-condition of each ---------------------


def _log_cond(A: FloatArray) -> float:
    """Natural log of the 2-norm condition number of ``A`` (``inf`` if rank-deficient)."""
    s = np.linalg.svd(A, compute_uv=False)
    return math.log(s[0] / s[-1]) if s[-1] > 0.0 else math.inf


def _log2_growth(
    W: FloatArray, dmin: FloatArray | float, dmax: FloatArray | float
) -> tuple[FloatArray, FloatArray]:
    r"""Bounds on :math:`\log_2(\max|D W V| / \max|V|)` for ``D = diag(d)``, ``dmin <= d <= dmax``.

    Above: :math:`\max d\,\|W\|_\infty`. Below: :math:`\max|X| \ge \|X\|_2/n` and
    :math:`\|D W V\|_2 \ge \min d\,\sigma_{min}(W) \|V\|_2 \ge \min d\,\sigma_{min}(W) \max|V|`.
    """
    n = W.shape[0]
    top = float(np.abs(W).sum(axis=1).max())
    bottom = float(np.linalg.svd(W, compute_uv=False)[-1]) / n
    with np.errstate(divide="ignore"):
        return np.log2(np.multiply(dmin, bottom)), np.log2(np.multiply(dmax, top))


def _log_spread(s: FloatArray) -> float:
    """``log(max / min)`` of the nonzero entries of ``s >= 0`` (0 if none)."""
    live = s[s > 0.0]
    return math.log(float(live.max()) / float(live.min())) if live.size else 0.0


def _flush_subnormal(a: FloatArray) -> FloatArray:
    """``a`` with entries below the smallest normal float64 (2.2e-308) set to 0."""
    tiny = np.abs(a) < np.finfo(np.float64).tiny
    return np.where(tiny, 0.0, a) if np.any(tiny & (a != 0.0)) else a


def _split_scaling(s: FloatArray) -> list[FloatArray]:
    """Write row scales ``s >= 0`` as a product of factors, each spanning <= ``2**_SPLIT``.

    ``s = f_1 * f_2 * ...`` elementwise, exactly (the floors are powers of two);
    zeros stay zeros in ``f_1``.
    """
    pieces = []
    top = math.frexp(float(s.max()))[1]
    while True:
        floor = math.ldexp(1.0, top - _SPLIT)
        live = s > 0.0
        if not np.any(live & (s < floor)):
            pieces.append(s)
            return pieces
        first = np.where(live, np.maximum(s, floor), 0.0)
        pieces.append(first)
        s = np.where(live, s / np.where(live, first, 1.0), 1.0)
        if np.any(live & (s == 0.0)):
            raise NumericalError("a Jacobian's rows span beyond float64's range (> 1e600)")
        top = 1  # the rest lies in (0, 1]


@dataclass(frozen=True, slots=True, eq=False)
class RowScaled:
    """The factor ``V -> diag(scale) (M @ V)``; ``M`` None is the identity, ``scale`` None is 1.

    Knowing ``M`` lets :func:`graded_product` multiply it into the reflectors of
    the last QR (LAPACK ``ormqr``) instead of forming ``Q`` first.
    """

    M: FloatArray | None
    scale: FloatArray | None = None

    def __call__(self, V: FloatArray) -> FloatArray:
        out = V.copy() if self.M is None else self.M @ V
        if self.scale is not None:
            out *= self.scale[:, None]
        return out


def _row_scaled_factors(
    scale: FloatArray,
    direct: Apply,
    unscaled: FloatArray | None,
    log_kappa: float,
    *,
    spread: float | None = None,
    growth: tuple[float, float] | None = None,
) -> Iterator[Factor]:
    """Factors of ``direct = V -> diag(scale) unscaled V``, split if ``scale`` spans too much.

    ``unscaled`` None stands for the identity. ``spread`` (:func:`_log_spread` of
    ``scale``) may be given when it was computed for many steps at once, and
    ``growth`` goes to an unsplit factor.
    """
    if spread is None:
        spread = _log_spread(scale)
    live = int(np.count_nonzero(scale))
    if spread <= _SPLIT * LN2:
        yield Factor(direct, spread + log_kappa, True, live, growth)
        return
    first, *rest = _split_scaling(scale)
    yield Factor(RowScaled(unscaled, first), _log_spread(first) + log_kappa, not rest, live)
    for i, f in enumerate(rest, start=1):
        yield Factor(RowScaled(None, f), _log_spread(f), i == len(rest), live)


def _opaque(steps: Steps) -> bool:
    """Are these Steps known only through ``apply`` (no matrix factors)?"""
    return not isinstance(steps, ConstantSteps | RNNSteps | ArraySteps) and steps.T is not None


def _factors(steps: Steps, start: int, end: int | None) -> Iterator[Factor]:
    r"""The factors of :math:`J_{start+1}, \dots, J_{end}`, each with a bound on its log κ.

    For an RNN, :math:`\kappa(\operatorname{diag}(d) W) \le (\max d/\min d)\,\kappa(W)`
    over the nonzero ``d`` (a zero row is an exact rank loss and costs no
    accuracy). For explicit matrices, :math:`J_t = D_t \hat J_t` with ``D_t`` the
    rows' largest entries, and :math:`\kappa(\hat J_{start+1})` stands in for
    every :math:`\kappa(\hat J_t)` (exact for an RNN's Jacobians; otherwise the
    measured ``α`` corrects it). Other Steps get a nominal ``_OPAQUE_LOG_KAPPA``,
    which only seeds the prediction: the measured amplification of each block
    decides (a block over the limit is redone shorter).
    """
    if isinstance(steps, ConstantSteps | RNNSteps):
        W = steps.W if isinstance(steps, ConstantSteps) else steps.W_hh
        if _log_spread(np.abs(W).max(axis=1)) > _W_ROW_SPAN * LN2:
            yield from _equilibrated_factors(steps, W, start, end)
            return
    if isinstance(steps, ConstantSteps):
        assert end is not None
        c = _log_cond(steps.W)
        live = int(np.count_nonzero(np.abs(steps.W).max(axis=1)))
        lo, hi = _log2_growth(steps.W, 1.0, 1.0)
        for _ in range(start + 1, end + 1):
            yield Factor(RowScaled(steps.W), c, True, live, (float(lo), float(hi)))
    elif isinstance(steps, RNNSteps):
        assert end is not None
        W = steps.W_hh
        log_kappa = _log_cond(W)
        dphi = steps.dphi[start:end]
        d = np.abs(dphi)
        with np.errstate(divide="ignore", invalid="ignore"):  # all-zero rows: spread 0
            spread = np.log(d.max(axis=1) / np.where(d > 0.0, d, np.inf).min(axis=1))
        spread[~np.any(d > 0.0, axis=1)] = 0.0
        lo, hi = _log2_growth(W, d.min(axis=1), d.max(axis=1))
        for i in range(end - start):  # spreads and growth bounds computed for all steps at once
            yield from _row_scaled_factors(
                d[i],
                RowScaled(W, dphi[i]),
                W,
                log_kappa,
                spread=float(spread[i]),
                growth=(float(lo[i]), float(hi[i])),
            )
    elif _opaque(steps):
        assert end is not None
        for t in range(start + 1, end + 1):  # no bound on κ: the measured α sets the blocks
            yield Factor(partial(steps.apply, t), _OPAQUE_LOG_KAPPA, True, steps.n)
    else:
        yield from _explicit_factors(steps.matrices(start, end), start)


def _equilibrated_factors(
    steps: ConstantSteps | RNNSteps, W: FloatArray, start: int, end: int | None
) -> Iterator[Factor]:
    r"""The factors of a ``W`` whose own rows span more than ``2**_W_ROW_SPAN``.

    :math:`J_t = \operatorname{diag}(d_t) \operatorname{diag}(2^{e}) \hat W` with
    :math:`\hat W = \operatorname{diag}(2^{-e}) W` (``2^{e_r}`` the power of two
    at or below row r's largest entry: exact), applied as two factors, so the
    rows' spread is carried by row scales, each split as a step's φ' would be
    (:func:`_row_scaled_factors`), and no
    row is flushed beside a far larger one in the same block: ``W = diag(1e250, 1)``
    keeps σ₂ = 1. ``κ(\hat W)`` bounds what is left.
    """
    assert end is not None
    rows = np.abs(W).max(axis=1)
    live = rows > 0.0
    e = np.frexp(np.where(live, rows, 1.0))[1] - 1  # 2**e <= row max < 2**(e+1)
    W_hat = np.ldexp(W, -e[:, None])
    power = np.where(live, np.ldexp(1.0, e), 0.0)
    log_kappa = _log_cond(W_hat[live])
    for t in range(start, end):
        pieces = list(_row_scaled_factors(power, RowScaled(W_hat, power), W_hat, log_kappa))
        if isinstance(steps, ConstantSteps):
            yield from pieces
            continue
        yield from (f._replace(last=False) for f in pieces)
        d = steps.dphi[t]  # φ' as its own row scaling: d * 2**e could underflow
        yield from _row_scaled_factors(np.abs(d), RowScaled(None, d), None, 0.0)


def _explicit_factors(matrices: Iterator[FloatArray], start: int) -> Iterator[Factor]:
    log_kappa: float | None = None
    while True:
        try:
            M = next(matrices)
        except StopIteration:
            return
        except IndexError:  # the stream ended while skipping to start
            raise ConfigError(
                f"the stream of Jacobians ended before start={start}: nothing to multiply"
            ) from None
        M = _flush_subnormal(np.asarray(M, dtype=np.float64))
        rows = np.abs(M).max(axis=1)
        live = rows > 0.0
        if not live.any():
            yield Factor(RowScaled(M), 0.0, True, 0)
            continue
        M_hat = M / np.where(live, rows, 1.0)[:, None]
        if log_kappa is None:
            log_kappa = _log_cond(M_hat[live])
        yield from _row_scaled_factors(rows, RowScaled(M), M_hat, log_kappa)


# --- block hygiene, QR and folding ----------------------------------------------


def _block_error(R: FloatArray, n: int, factors: int, flushed: float) -> tuple[FloatArray, float]:
    r"""The error one block adds to each direction (natural log), and its :math:`\tilde\kappa`.

    The block's rounding (``factors`` products, the QR, the group product)
    changes each column by about u n per factor relative to its size, which
    moves ``R[j, j]`` by that times the column grading (:func:`_column_grading`);
    the flushes change a row by ``flushed`` relative to itself; and a row-wise
    relative change of ``R`` moves the singular values by at most that times its
    row-equilibrated condition κ̃. A model, calibrated against exact references
    (tests/numeric/test_accuracy.py), not a theorem.
    """
    kappa = _cond_row_equilibrated(R)
    rounding = UNIT_ROUNDOFF * n * (factors + 2) * _column_grading(R)
    added: FloatArray = (rounding + math.sqrt(n) * flushed) * kappa
    return added, kappa


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


def _column_grading(R: FloatArray) -> FloatArray:
    """For each row j of the upper trapezoid of ``R``: ‖R[:, j]‖₂ / |R[j, j]|.

    Column j of the block is ``Q R[:, j]``; a rounding error relative to that
    column's size moves ``R[j, j]`` (the block's growth in direction j, once the
    columns before it are removed) by this factor more. It is 1 for a
    triangular block without coupling and grows to σ₁/σ_j of the block when
    every column has turned towards the top direction.
    """
    T = np.triu(R)
    K = T.shape[0]
    diag = np.abs(np.diagonal(T)[:K])
    live = diag > 0.0
    S = T[:, :K] / np.where(live, diag, 1.0)  # column j relative to |R_jj|: no underflow
    return np.where(live, np.sqrt(np.einsum("ij,ij->j", S, S)), np.inf)


def _tidy(B: FloatArray, beta: float) -> tuple[FloatArray, float, float]:
    """Keep the block's largest entry in ``[2**-100, 2**100]`` and flush its negligible ones.

    The scale goes to ``beta`` (natural log); entries below ``2**-800`` times the
    largest are set to 0, so no subnormal number reaches the QR that follows.
    Returns ``(B, beta, moved)``: ``moved`` bounds the flush's relative change of
    each row, the largest flushed entry over the largest kept one (0 when
    nothing was flushed, ``inf`` when a nonzero row was flushed whole).
    """
    size = np.abs(B)
    peak = float(size.max()) if B.size else 0.0
    if not math.isfinite(peak):
        raise NumericalError(
            "the product overflowed inside a block: a Jacobian has entries beyond "
            "float64's range; rescale the weights"
        )
    if peak == 0.0:
        return B, beta, 0.0
    threshold = peak * _BLOCK_FLUSH
    moved = 0.0
    if float(size.min()) < threshold:  # rare: only then is a second pass needed
        small = size < threshold
        lost = np.where(small, size, 0.0).max(axis=1)
        kept = np.where(small, 0.0, size).max(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(lost > 0.0, lost / kept, 0.0)
        moved = float(ratio.max())
        np.copyto(B, 0.0, where=small)
    e = math.frexp(peak)[1]
    if abs(e) > _BLOCK_RANGE:
        B = np.ldexp(B, -e)  # exact
        beta += e * LN2
    return B, beta, moved


def _exp_nonpositive(X: FloatArray, zero: NDArray[np.bool_] | None = None) -> None:
    """``X <- exp(min(X, 0))`` in place, exactly 0 where ``X < -700`` (no subnormal,
    fast) and where ``zero`` is true."""
    tiny = X < _EXP_FLOOR
    if zero is not None:
        tiny |= zero
    np.clip(X, _EXP_FLOOR, 0.0, out=X)
    np.exp(X, out=X)
    np.copyto(X, 0.0, where=tiny)


def _fold(
    R: FloatArray,
    beta: float,
    ell: FloatArray,
    U: FloatArray,
    triu_matmul: Callable[[FloatArray, FloatArray], FloatArray] = _triu_matmul,
) -> tuple[FloatArray, FloatArray, bool]:
    r"""``diag(e^ℓ') U' = e^β R diag(e^ℓ) U`` with unit rows in ``U'``, and whether a row was lost.

    Entry (i, k) of ``R`` is scaled by :math:`e^{\ell_k - g_i}` with
    :math:`g_i = \max \ell_k` over the nonzero entries of row i (k >= i), so no
    factor exceeds 1; only the upper
    trapezoid of ``R`` is read (below it, the factor is 0). Each row is then
    divided by its largest coefficient and coefficients below ``2**-200`` of it
    are dropped. A factor below :math:`e^{-700}` (1e-304) is taken as 0: it
    could only matter beside a row peak ``2**-200`` times smaller, and numpy's
    ``exp`` is ten times slower where its result would be subnormal. The flag
    is true when a nonzero row of ``R`` came out zero (all its weights below
    that, or cancellation): such a zero is not exact.
    """
    K = R.shape[0]
    # g_i over the entries of row i that are nonzero (a zero entry weighs nothing): for a
    # diagonal R a direction is never scaled by a later, larger one that it does not meet.
    g = np.where(_strictly_lower(*R.shape) | (R == 0.0), -np.inf, ell).max(axis=1)
    live = np.isfinite(g)
    C = np.subtract(ell, np.where(live, g, 0.0)[:, None])
    _exp_nonpositive(C, _strictly_lower(*C.shape))  # R's upper trapezoid only
    C *= R
    peak = np.maximum(C.max(axis=1), -C.min(axis=1)) if C.size else np.zeros(K)
    nonzero = np.any(np.triu(R) != 0.0, axis=1) & live
    dropped = bool(np.any(nonzero & ~(peak > 0.0)))  # every weight underflowed
    live &= peak > 0.0
    peak[~live] = 1.0
    with np.errstate(over="ignore"):
        inverse = 1.0 / peak
    if np.all(np.isfinite(inverse)):
        C *= inverse[:, None]
    else:  # a subnormal peak: 1/peak overflows, C / peak does not (|C| <= peak)
        C /= peak[:, None]
    _zero_below(C, _NEGLIGIBLE)
    Y = triu_matmul(C, U)
    nu = np.sqrt(np.einsum("ij,ij->i", Y, Y))
    dropped |= bool(np.any(live & ~(nu > 0.0)))  # a row cancelled to zero: not exact
    live &= nu > 0.0
    nu[~live] = 1.0
    Y *= (1.0 / nu)[:, None]
    _zero_below(Y, _NEGLIGIBLE)
    Y[~live] = 0.0
    return np.where(live, g + beta + np.log(peak) + np.log(nu), -np.inf), Y, dropped


class _Group:
    r"""The product of the last QRs' ``R`` factors, not yet folded into ``diag(e^ℓ) U``.

    A fold costs as much as a product of two triangles *and* a dozen passes over
    the matrix (scaling by :math:`e^{\ell_k - g_i}`, flushing, normalising), so
    consecutive ``R`` are multiplied in plain floating point and folded together.
    That is exact as long as the group's entries stay far inside float64's range:
    its largest entry is kept at 1 by powers of two, and it is folded before its
    blocks' predicted condition numbers multiply past ``1e150`` (``_GROUP_SPAN``)
    or a row's largest entry would fall below ``2**-700`` of the largest
    (:meth:`push` checks, whatever the prediction said), so its smallest
    meaningful entries stay far above underflow. (Measured here:
    groups change the spectra of ``benchmarks/bench_spectrum.py`` by 1e-12 of
    their error against a QR after every step, and save a fold per block.)
    """

    __slots__ = ("R", "error", "factors", "log_scale", "lost", "monomial", "span")

    def __init__(self) -> None:
        self.R: FloatArray | None = None  # upper trapezoidal; the product is e^log_scale R
        self.log_scale = 0.0
        self.span = 0.0  # Σ predicted log κ of the grouped blocks
        self.factors = 0  # the steps behind the grouped blocks
        self.lost = False  # did a fold drop a nonzero row?
        self.monomial = True  # every grouped R came from a block with one nonzero per column
        self.error = np.zeros(0)  # the last fold's coupling error per row (natural log)

    def push(
        self,
        R: FloatArray,
        beta: float,
        span: float,
        kernels: _Kernels,
        factors: int = 0,
        monomial: bool = False,
    ) -> bool:
        """Multiply ``e^beta R`` (upper trapezoid read, K × r) onto the group.

        Returns False, leaving the group as it was, if the product would put a
        row's largest entry below ``2**-700`` of the largest of all (the fold
        keeps each row to ``2**-200`` of its own largest, which must stay a normal
        number): the caller folds the group first. A lone ``R`` always fits.
        """
        if self.R is None:
            P = np.triu(R)
        else:
            P = kernels.triu_matmul(R, self.R)
        rows = np.abs(P).max(axis=1) if P.size else np.zeros(0)
        if self.R is not None and np.any((rows == 0.0) & np.any(np.triu(R) != 0.0, axis=1)):
            self.lost = True  # a row underflowed or cancelled to zero: not an exact zero
        peak = float(rows.max()) if rows.size else 0.0
        live = rows[rows > 0.0]
        if self.R is not None and live.size and float(live.min()) < _ROW_FLOOR * peak:
            return False
        e = math.frexp(peak)[1] if peak > 0.0 else 0
        self.R = np.ldexp(P, -e) if e else P
        self.log_scale += beta + e * LN2
        self.span += span
        self.factors += factors
        self.monomial &= monomial
        return True

    def fold_into(
        self, ell: FloatArray, U: FloatArray, kernels: _Kernels
    ) -> tuple[FloatArray, FloatArray]:
        """``diag(e^ℓ) U`` with the group folded in (:func:`_fold`); the group empties.

        An empty group leaves ``ℓ`` and ``U`` as they are.
        """
        if self.R is None:
            self.error = np.zeros(0)
            return ell, U
        # Blocks with one nonzero per column (a diagonal W, a permutation) have a QR
        # without rounding off the diagonal (LAPACK's reflectors are the identity when
        # a column's tail is exactly zero): R's off-diagonal zeros are exact, and the
        # directions cannot swamp each other however they are ordered.
        if self.monomial:
            self.error = np.zeros(self.R.shape[0])
        else:
            self.error = _coupling_error(self.R, ell, self.factors)
        ell, U, dropped = _fold(self.R, self.log_scale, ell, U, kernels.triu_matmul)
        self.R, self.log_scale, self.span, self.factors = None, 0.0, 0.0, 0
        self.monomial = True
        self.lost |= dropped
        return ell, U


def _underflow(B: FloatArray, n: int) -> float:
    """The relative change of a row of ``B`` that underflow may have made in its last product.

    Each entry of a product loses at most (n + 1) half-subnormals, 2⁻¹⁰⁷⁵ each
    (products and sums below 2⁻¹⁰²²); relative to a row's largest entry that is
    negligible beside u unless the row is below 2⁻⁹⁶⁹ (1e-292), which a step whose
    entries are all tiny (W ~ 1e-246 times φ' ~ 1e-70) produces before the block
    can be rescaled.
    """
    rows = np.abs(B).max(axis=1) if B.size else np.zeros(0)
    live = rows[rows > 0.0]
    if not live.size or float(live.min()) >= 2.0**-969:
        return 0.0
    return (n + 1) * math.sqrt(n) * (2.0**-1074 / float(live.min()))  # 2⁻¹⁰⁷⁵ rounds to 0


def _block_qr(
    B: FloatArray, kernels: _Kernels
) -> tuple[FloatArray | _Reflectors, FloatArray, FloatArray, bool, bool]:
    r"""The QR of a block without its exactly zero columns: ``Q``, ``R``, ``R`` compact, monomial?

    A zero column of ``B`` is a direction the block killed exactly; Householder QR
    would spend a pivot on it and leave a zero on R's diagonal, whose
    conditioning is then infinite although nothing was lost. The QR is of the
    nonzero columns (``R_c``, K × r', upper trapezoidal with the reflectors
    below removed), and ``R`` (K × r) has them back in their places with zero
    columns between, still upper trapezoidal (column j of ``R_c`` goes to a
    column >= j). A monomial ``B`` gets :func:`_monomial_qr`. The zero columns
    are an exact rank loss only when B's zero rows already force that rank (the
    caller checks the rows against the data's zero pattern): fewer nonzero
    columns than that is a direction lost to underflow or cancellation, and the
    caller is told (the last value returned: ``False``).
    """
    nonzero = B != 0.0
    live = np.any(nonzero, axis=0)
    compact = B if live.all() else B[:, live]
    monomial = _is_monomial(compact)
    Q, Rc = _monomial_qr(compact) if monomial else kernels.qr(compact)
    if live.all():
        return Q, Rc, Rc, monomial, True
    rank_by_rows = min(int(np.count_nonzero(np.any(nonzero, axis=1))), B.shape[1])
    Rc = np.triu(Rc)
    R = np.zeros((Rc.shape[0], B.shape[1]))
    R[:, live] = Rc
    return Q, R, Rc, monomial, int(np.count_nonzero(live)) >= rank_by_rows


def _is_monomial(B: FloatArray) -> bool:
    """One nonzero in every column and at most one in every row (a scaled permutation's
    columns: a diagonal W, a permutation)."""
    nz = B != 0.0
    return bool(np.all(nz.sum(axis=0) == 1) and np.all(nz.sum(axis=1) <= 1))


def _monomial_qr(B: FloatArray) -> tuple[FloatArray, FloatArray]:
    r"""The QR of a monomial ``B`` without rounding: ``Q`` its columns' signed unit vectors,
    ``R = diag(|b_j|)``.

    Householder QR gets ``R`` right, but applying its reflectors to the next block
    (``ormqr``) leaves entries of about u where ``Q`` is exactly zero, and the next
    fold amplifies them by the ratio of the directions' scales, which for the units
    of a diagonal W crossing over reaches :math:`e^{400}` (the harness measured values
    off by tens of decades). Kept exact, such products never couple.
    """
    rows = np.argmax(B != 0.0, axis=0)
    values = B[rows, np.arange(B.shape[1])]
    Q = np.zeros_like(B)
    Q[rows, np.arange(B.shape[1])] = np.sign(values)
    return Q, np.diag(np.abs(values))


def _coupling_error(R: FloatArray, ell: FloatArray, factors: int) -> FloatArray:
    r"""The error a fold of ``R`` onto ``diag(e^ℓ) U`` adds to each new row (natural log).

    Rounding leaves entries of about :math:`u\,\|R_{:,k}\|` in ``R``'s upper
    triangle; row i of :math:`R\,\operatorname{diag}(e^\ell)` weighs entry k by
    :math:`e^{\ell_k}`, so relative to its own diagonal term
    :math:`|R_{ii}| e^{\ell_i}` it moves by
    :math:`a_i = \max_{k > i} \|R_{:,k}\| e^{\ell_k} / (\|R_{:,i}\| e^{\ell_i})`.
    While the directions are ordered (each column's weight below those before
    it) ``a_i <= 1`` and nothing is charged here: the column grading within a
    block is charged per block. When a smaller direction comes first (units of
    a diagonal W crossing over) ``a_i`` is the factor by which the larger one's
    rounding swamps it.
    Returns :math:`u\,r\,(	ext{factors} + 2)\,a_i\,	ilde\kappa(R)`, with ``inf``
    beyond float range.
    """
    T = np.triu(R)
    K = T.shape[0]
    if K == 0:
        return np.zeros(0)
    with np.errstate(divide="ignore"):
        log_col = np.log(np.sqrt(np.einsum("ij,ij->j", T, T))) + ell
    # a_i over the later columns only: the column's own grading is charged per block
    later = np.append(np.maximum.accumulate(log_col[::-1])[::-1][1:], -np.inf)[:K]
    with np.errstate(invalid="ignore", over="ignore"):
        log_a = np.where(np.isfinite(log_col[:K]), later - log_col[:K], 0.0)
        amplification = np.where(log_a > 0.0, np.exp(np.minimum(log_a, 700.0)), 0.0)
    amplification[log_a > 700.0] = np.inf
    scale = UNIT_ROUNDOFF * T.shape[1] * (factors + 2) * _cond_row_equilibrated(R)
    with np.errstate(invalid="ignore", over="ignore"):  # κ̃ = inf with no coupling: 0
        out: FloatArray = np.where(amplification > 0.0, scale * amplification, 0.0)
    return out


def _propagate(
    apply: Apply, rows: NDArray[np.bool_], last: list[tuple[FloatArray, FloatArray]]
) -> NDArray[np.bool_]:
    """The rows of ``F V`` that may be nonzero, given those of ``V``: F's zero pattern.

    Only exact zeros of the data count (a zero entry of ``M``, a zero row scale);
    a factor known only through ``apply`` may make any row nonzero. ``last``
    holds the last ``(M, M != 0)``, reused while the same ``M`` comes again (an
    RNN's ``W_hh``); keeping ``M`` itself there means no other array can be
    mistaken for it.
    """
    if not isinstance(apply, RowScaled):
        return np.ones(rows.shape, dtype=bool)
    out = rows
    if apply.M is not None:
        if not (last and last[0][0] is apply.M):
            last[:] = [(apply.M, (apply.M != 0.0).astype(np.float64))]
        out = last[0][1] @ rows.astype(np.float64) > 0.0
    if apply.scale is not None:
        out = out & (apply.scale != 0.0)
    return out


def _apply(apply: Apply, B: FloatArray | _Reflectors, kernels: _Kernels) -> FloatArray:
    """``apply(B)``, a matrix factor by ``kernels`` (onto the reflectors of the last QR)."""
    if not isinstance(apply, RowScaled):
        return apply(B if isinstance(B, np.ndarray) else B.matrix())
    if apply.M is None:
        out = B.copy() if isinstance(B, np.ndarray) else B.matrix()
    elif isinstance(B, np.ndarray):
        out = kernels.matmul(apply.M, B)
    else:
        out = B.left_multiply(apply.M)
    if apply.scale is not None:
        out *= apply.scale[:, None]
    return out


def graded_product(
    steps: Steps,
    start: int,
    end: int | None,
    *,
    accumulate: bool = True,
    warmup: int = 0,
    cond_limit: float = COND_LIMIT,
    max_block: int = MAX_BLOCK,
    marks: Collection[int] = (),
    error_per_factor: float = PER_FACTOR_ERROR,
) -> GradedProduct:
    r"""Run the discrete QR method over :math:`J_{start+1}, \dots, J_{end}`.

    Parameters
    ----------
    steps : Steps
        Unbatched; ``start`` and ``end`` already checked.
    start, end : int
        The window (``end`` None: a stream, to its end).
    accumulate : bool
        Fold every ``R`` into ``diag(e^ℓ) U`` (needed for singular values; the
        Lyapunov sums need only ``diag R``).
    warmup : int
        Steps after ``start`` left out of ``log_diag``.
    cond_limit : float
        Bound on the measured amplification of one block's rounding
        (:math:`\tilde\kappa_b \max_j g_{jb}`, see ``log_error``), which the
        prediction of the next block's length aims at.
    max_block : int
        Most factors in one block.
    error_per_factor : float
        A block of k factors whose first-order error (natural log) exceeds
        ``k * error_per_factor`` is redone with half as many factors (a single
        factor is kept, and its error charged).
    marks : collection of int
        Steps t (``start < t <= end``) at which to keep a copy of the graded
        factor of :math:`J_t \cdots J_{start+1}` in ``marked`` (needs
        ``accumulate``): one pass gives the spectra of every leading product.

    Returns
    -------
    GradedProduct

    Raises
    ------
    ConfigError
        If a stream holds no factor after ``start``, or not more than ``warmup``.
    NumericalError
        If a block overflows (a Jacobian beyond float64's range).
    """
    n = steps.n

    def log_limit(k: int) -> float:
        """The most log-amplification a block of k factors may have (see factorise)."""
        return math.log(min(cond_limit, error_per_factor * k / (UNIT_ROUNDOFF * n * (k + 2))))

    boundary = start + warmup
    if marks and (not accumulate or min(marks) <= start or (end is not None and max(marks) > end)):
        raise ConfigError(f"marks must lie in start < t <= end and need accumulate, got {marks}")
    kernels = _NUMPY if _opaque(steps) else _SCIPY
    B: FloatArray | _Reflectors = np.eye(n)
    beta = 0.0
    ell = np.zeros(n)
    U: FloatArray | None = np.eye(n) if accumulate else None
    log_diag = np.zeros(n)
    k = qr_count = longest = measured = 0
    budget = 0.0  # Σ c over the block's factors: a bound on log κ(B)
    alpha, ratios = 1.0, deque[float](maxlen=4)  # measured log κ(R) / budget
    t = t_last = start  # steps completed; step of the last factor applied
    group = _Group()  # the R factors not yet folded into diag(e^ℓ) U

    log_error = np.zeros(n)  # first-order, natural log, per direction (row of R)
    lost = [False]  # did a flush or a fold drop a nonzero row (a zero that is not exact)?
    structural = np.ones(n, dtype=bool)  # rows of the block that the data let be nonzero
    pattern: list[tuple[FloatArray, FloatArray]] = []  # the last (M, M != 0), see _propagate
    worst_cond = 1.0
    flushed = 0.0  # the flushes' relative row change since the last QR
    sums = [0, 0.0]  # additions to the log scales, and the largest |ℓ| they held

    def factorise(redo_allowed: bool = False) -> bool:
        """QR of the block; False (nothing kept) if ``redo_allowed``, k >= 2 and its
        measured amplification of rounding is over ``log_limit(k)``: the caller redoes
        it with fewer factors."""
        nonlocal B, beta, ell, U, log_diag, k, qr_count, longest, budget, alpha, measured
        nonlocal log_error, worst_cond, flushed, structural
        assert isinstance(B, np.ndarray)
        B, beta, moved = _tidy(B, beta)
        Q, R, Rc, monomial, columns_exact = _block_qr(B, kernels)
        K = R.shape[0]
        added, kappa = _block_error(Rc, n, k, max(flushed, moved))
        # The measured amplification of the block's rounding: κ̃ times the worst column
        # grading (what _block_error multiplies u n (k + 2) by).
        finite = added[np.isfinite(added)]
        amplification = (
            float(finite.max()) / (UNIT_ROUNDOFF * n * (k + 2)) if finite.size else math.inf
        )
        if finite.size < added.size:
            amplification = math.inf
        if 0.0 < budget < math.inf and 1.0 < amplification < math.inf:
            ratios.append(math.log(amplification) / budget)  # prediction, corrected
            alpha, measured = max(ratios), measured + 1
        # Accepted when the amplification is within cond_limit and the block's error
        # within error_per_factor per factor (k + 2 roundings per column): log_limit.
        if redo_allowed and k >= 2 and math.log(amplification) > log_limit(k):
            redone[0] += 1
            return False
        flushed = max(flushed, moved)
        worst_cond = max(worst_cond, kappa)
        # A row of R that is exactly zero is a rank loss that Householder found by
        # cancellation in floats (the zero rows of B, which the data's pattern
        # checks below, are left out of R): not an exact zero.
        if not columns_exact or not np.all(np.any(np.triu(Rc) != 0.0, axis=1)):
            lost[0] = True
        log_error = log_error[:K] + added
        if flushed == math.inf:
            lost[0] = True
        flushed = 0.0
        with np.errstate(divide="ignore"):
            logd = np.log(np.abs(np.diagonal(Rc)))
        log_diag = log_diag[:K] + (logd + beta if t_last > boundary else 0.0)
        sums[0] += 3  # _tidy's beta, the group's log scale (twice)
        if U is not None:
            span = alpha * budget  # the block's predicted log κ (inf: unknown)
            if group.span + span > _GROUP_SPAN:
                ell, U = fold()
            if not group.push(R, beta, span, kernels, k, monomial):  # rows span too much
                ell, U = fold()
                group.push(R, beta, span, kernels, k, monomial)
        qr_count, longest = qr_count + 1, max(longest, k)
        # A rank loss is exact only where the data's zeros force it: a row of the
        # block that is zero although the zero pattern of the factors lets it be
        # nonzero vanished by underflow or cancellation, and is not a zero.
        nonzero_rows = np.abs(B).max(axis=1) > 0.0 if B.size else np.zeros(n, dtype=bool)
        if np.any(structural & ~nonzero_rows):
            lost[0] = True
        structural = nonzero_rows  # Q is zero outside these rows
        B, beta, k, budget = Q, 0.0, 0, 0.0
        return True

    def fold() -> tuple[FloatArray, FloatArray]:
        """Fold the group into diag(e^ℓ) U, charging its coupling error to the rows."""
        nonlocal log_error
        assert U is not None
        scale = abs(group.log_scale)
        out = group.fold_into(ell, U, kernels)
        finite = np.abs(out[0][np.isfinite(out[0])])
        sums[0] += 3
        sums[1] = max(sums[1], float(finite.max()) if finite.size else 0.0, scale)
        m = min(group.error.size, log_error.size)
        log_error = log_error.copy()
        log_error[:m] += group.error[:m]
        return out

    marked: list[tuple[int, FloatArray, FloatArray]] = []
    pending_marks = set(marks)

    def mark() -> None:  # the product so far, folded: a copy of diag(e^ℓ) U
        nonlocal ell, U
        assert U is not None
        ell, U = fold()
        marked.append((t, ell.copy(), U.copy()))
        pending_marks.discard(t)

    rank_drop = False  # did the last factor have fewer nonzero rows than B has columns?
    drift = (0.0, 0.0)  # bounds on how far the block's peak moved since it was tidied (log2)
    # A block whose measured amplification is over log_limit is redone shorter: its factors are
    # kept (``block``) with the state it started from (``origin``), and replayed
    # (``replay``) with at most half as many factors per block. A stream's factors
    # are kept only up to _REDO_BYTES; past that a block is closed as it is.
    source = _factors(steps, start, end)
    replay: deque[Factor] = deque()
    block: list[Factor] = []
    redone = [0]
    cap = max_block  # most factors in the current block (halved by a redo)
    keep_bytes = 8 * n * n if steps.T is None else 0  # a stream's factor holds its matrix

    def snapshot() -> tuple[object, ...]:
        return (B, beta, t, t_last, structural, flushed, drift, rank_drop)

    origin = snapshot()

    def close() -> bool:
        """Factorise the block; False if it was too ill-conditioned and is to be redone."""
        nonlocal B, beta, t, t_last, structural, flushed, drift, rank_drop, cap, origin, k
        nonlocal budget
        if factorise(redo_allowed=len(block) == k):
            block.clear()
            if not replay:
                cap = min(max_block, 2 * cap)
            origin = snapshot()
            return True
        B, beta, t, t_last, structural, flushed, drift, rank_drop = origin  # type: ignore[assignment]
        replay.extendleft(reversed(block))
        cap = max(1, len(block) // 2)
        block.clear()
        k, budget = 0, 0.0
        return False

    while True:
        factor = replay.popleft() if replay else next(source, None)
        if factor is None:
            if k and not close():
                continue  # the last block, redone
            break
        apply, c, last, live, growth = factor
        at_boundary = t == boundary and t_last == t
        at_mark = t in pending_marks and t_last == t
        if k and (
            alpha * (budget + c) > log_limit(k + 1)
            or budget + c > _SPAN_BUDGET  # a bound on log κ(B), so on its rows' span
            or k >= cap
            or at_boundary
            or at_mark
            or rank_drop
            or (keep_bytes and (k + 1) * keep_bytes > _REDO_BYTES)
        ):
            replayed = len(block)
            if not close():  # redo the block; this factor comes after it again
                replay.insert(replayed, factor)
                continue
        if at_mark:
            mark()
        rank_drop = live < B.shape[1]
        block.append(factor)
        t_last = t + 1
        if last:
            t += 1
        if B.shape[1] == 0:
            continue  # the product is exactly zero from here on
        B = _apply(apply, B, kernels)
        structural = _propagate(apply, structural, pattern)
        flushed = max(flushed, _underflow(B, n))
        if growth is not None:
            drift = (drift[0] + growth[0], drift[1] + growth[1])
        if growth is None or drift[0] < -_DRIFT or drift[1] > _DRIFT:
            B, beta, moved = _tidy(B, beta)
            flushed = max(flushed, moved)
            drift = (0.0, 0.0)
            sums[0] += 1
        k += 1
        budget += c
    if U is not None:
        ell, U = fold()
    if t in pending_marks:
        mark()
    if pending_marks:
        raise ConfigError(f"the stream ended after step {t}, before marks {sorted(pending_marks)}")
    if t == start:
        raise ConfigError(f"no Jacobians after start={start}: the product has no factors")
    if warmup >= t - start:
        raise ConfigError(f"warmup={warmup} leaves no steps to average ({t - start} factors)")
    full_diag = np.full(n, -np.inf)
    full_diag[: log_diag.size] = log_diag
    return GradedProduct(
        log_scales=ell,
        U=U,
        log_diag=full_diag,
        steps=t - start,
        averaged_steps=t - start - warmup,
        qr_count=qr_count,
        longest_block=longest,
        marked=tuple(marked),
        log_error=log_error,
        zeros_exact=not (lost[0] or group.lost),
        worst_block_cond=worst_cond,
        redone_blocks=redone[0],
        log_sum_error=UNIT_ROUNDOFF * sums[0] * sums[1],
    )


# --- singular values of diag(e^ℓ) U by one-sided Jacobi in log-scaled form ------


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
