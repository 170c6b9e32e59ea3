r"""The graded block loop: one engine for the graded product and the matrix-free passes.

A product of factors applied to a block ``V`` (the identity for the whole
product) is kept as :math:`Q \operatorname{diag}(e^{\ell}) U` with ``Q``
orthonormal, ``ℓ`` natural-log row scales and ``U`` upper trapezoidal with unit
rows, so nothing under- or overflows however many decades the spectrum spans. A
*block* of k factors is applied to ``Q``, :math:`B = F_{t+k} \cdots F_{t+1} Q`,
factorised by Householder QR with its rows sorted, :math:`B = Q' R`, and ``R`` is
folded into :math:`\operatorname{diag}(e^{\ell}) U` (the discrete QR method;
Stewart, *ETNA* 3, 1995) — consecutive ``R`` are first multiplied together, and
folded once per group (:class:`_Group`).

**Block length.** In exact arithmetic a block's ``R`` is the product of its k
one-step factors, so k only trades speed for rounding. Block lengths are
*measured*: after each QR the block's amplification of rounding (κ̃ of its
row-equilibrated ``R`` times its worst column grading, :func:`_block_error`) is
compared with what ``error_per_factor`` allows k factors, and a block over it is
redone from its start with half as many factors (one factor is always kept, and
charged). A prediction ``α Σ c_t`` (``c_t`` a bound on ``log κ`` of each factor,
:mod:`~gradscope.numeric.graded.factors`; ``α`` the recent measured share of it)
chooses the next block's length so that redos are rare; ``Σ c_t`` itself is kept
below ``_SPAN_BUDGET``, which bounds the span of the block's rows. A stream keeps
the factors of one block, up to ``_REDO_BYTES``. Blocks whose columns have one
nonzero each (a diagonal or permutation W) get an exact QR (:func:`_monomial_qr`).

**Error bars.** Each block's error per direction (:func:`_block_error`) is the
smaller of two models of the same rounding: by columns (the block length's
measure) and by rows (:func:`_row_grading`, from the magnitudes the block was
formed from, :func:`_magnitude`), which keeps a saturated unit's row, 1e-196
below the others, from making every bound ``inf``.

**Flushing** (no subnormal reaches LAPACK): block entries below ``2**-800`` of
the block's largest, and entries of ``Q`` (or its reflectors) or ``U`` below
``2**-200`` (6e-61) of their unit row or column, become 0 — far below the
rounding error ε ≈ 1.1e-16 beside them, and every flush is charged to the
bound. The block is rescaled and flushed before each QR, and between QRs only
when rigorous bounds on its growth (:func:`~gradscope.numeric.graded.factors._log2_growth`)
say its largest entry may have moved by ``2**±300``; an entry far below rounding
can meanwhile pass through a product as a subnormal number, which costs time
(in deep saturation), never accuracy.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gradscope import progress
from gradscope.errors import ConfigError
from gradscope.numeric.graded.bounds import UNIT_ROUNDOFF
from gradscope.numeric.graded.factors import LN2, Apply, Factor, RowScaled
from gradscope.numeric.graded.fold import _GROUP_SPAN, _Group, _tidy
from gradscope.numeric.graded.kernels import (
    _block_qr,
    _Kernels,
    _kernels_for,
    _managed_pools,
    _Reflectors,
)
from gradscope.numeric.graded.rounding import (
    _block_error,
    _in_scale,
    _magnitude,
    _underflow,
)


class FactorSource(Protocol):
    """What :func:`graded_product` reads of a :class:`~gradscope.numeric.steps.Steps`."""

    @property
    def n(self) -> int: ...

    @property
    def T(self) -> int | None: ...

    def factors(self, start: int, end: int | None) -> Iterator[Factor]: ...


__all__ = [
    "COND_LIMIT",
    "MAX_BLOCK",
    "PER_FACTOR_ERROR",
    "GradedProduct",
    "block_loop",
    "graded_product",
]

FloatArray = NDArray[np.float64]

#: Default bound on the measured amplification of rounding of one block (see block_loop).
COND_LIMIT = 1e10
#: The most first-order error (natural log) a block may add per factor before it is redone
#: shorter: 1e-13 keeps a 1000-step product's bound near 1e-10 where single steps allow.
PER_FACTOR_ERROR = 1e-13
#: Most steps between two QR factorisations, even for orthogonal steps.
MAX_BLOCK = 64
_DRIFT = 300  # the block is tidied when its peak may have moved 2**±300 (and before a QR)
#: Blocks close before the sum of their factors' log κ bounds passes this: κ(B) bounds
#: the span of B's rows, so no row falls below the flush level 2**-800 of the largest
#: (the measured α can be near 0 where the amplification is 1: a diagonal W).
_SPAN_BUDGET = 700 * LN2
_REDO_BYTES = 256 * 2**20  # a stream's factors kept for redoing a block, at most


@dataclass(frozen=True, slots=True, kw_only=True)
class GradedProduct:
    r"""A product of factors applied to a block, ``Q diag(e^ℓ) U`` (:func:`block_loop`).

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
    rank_bound : int or None
        A bound on the exact product's rank from the data alone: the fewest
        nonzero row scales of a factor, or the block's columns (None: not
        known). As many values proven nonzero make the other values exact zeros,
        whatever ``zeros_exact`` says.
    worst_block_cond : float
        The largest :math:`\tilde\kappa_b` met.
    redone_blocks : int
        Blocks whose measured :math:`\tilde\kappa_b` was over ``cond_limit`` and
        that were redone with half as many factors.
    Q : (n, r) ndarray or None
        The last orthonormal basis (the matrix-free passes start from it).
    factors : int
        Factors applied (a split step counts each of its factors).
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
    Q: FloatArray | None = None
    factors: int = 0
    rank_bound: int | None = None


_SHIFT_BELOW = 2.0**-100  # M B below this is brought to about 1 before its row scale


_PatternCache = list[tuple[FloatArray, FloatArray | None, bool]]


def _pattern(M: FloatArray, last: _PatternCache) -> tuple[FloatArray | None, bool]:
    """``M``'s zero pattern: ``M != 0`` as floats (None when no entry is zero), and whether
    ``M = 0``. ``last`` holds them for the last ``M``, reused while the same ``M`` comes
    again (an RNN's ``W_hh``: an O(n²) pass per step saved); keeping ``M`` itself there
    means no other array can be mistaken for it."""
    if not (last and last[0][0] is M):
        nonzero = M != 0.0
        last[:] = [(M, None if nonzero.all() else nonzero.astype(np.float64), not nonzero.any())]
    return last[0][1], last[0][2]


def _rank_bound(apply: Apply, b: int, last: _PatternCache) -> int:
    """A bound on the rank of the factor from its exact zeros: its nonzero row scales, or 0
    for ``M = 0`` (``b``, the block's columns, when the data say nothing). 0 makes the
    product an exact zero, whatever came before."""
    if not isinstance(apply, RowScaled):
        return b
    if apply.M is not None and _pattern(apply.M, last)[1]:
        return 0
    return b if apply.scale is None else int(np.count_nonzero(apply.scale))


def _propagate(apply: Apply, rows: NDArray[np.bool_], last: _PatternCache) -> NDArray[np.bool_]:
    """The rows of ``F V`` that may be nonzero, given those of ``V``: F's zero pattern.

    Only exact zeros of the data count (a zero entry of ``M``, a zero row scale);
    a factor known only through ``apply`` may make any row nonzero. ``last``:
    :func:`_pattern`'s cache.
    """
    if not isinstance(apply, RowScaled):
        return np.ones(rows.shape, dtype=bool)
    out = rows
    if apply.M is not None:
        pattern_f = _pattern(apply.M, last)[0]
        if pattern_f is None:  # no zero entry: any nonzero row of V makes every row nonzero
            out = np.full(rows.shape, bool(rows.any()))
        else:
            out = pattern_f @ rows.astype(np.float64) > 0.0
    if apply.scale is not None:
        out = out & (apply.scale != 0.0)
    return out


def _apply(apply: Apply, B: FloatArray | _Reflectors, kernels: _Kernels) -> tuple[FloatArray, int]:
    """``2**-e apply(B)`` and ``e``: a matrix factor by ``kernels`` (onto the reflectors of
    the last QR).

    A row scale is applied to ``M B`` after a power of two has brought its largest
    entry to about 1 (exactly), so a tiny ``M`` times a tiny scale (W ~ 1e-246,
    φ′ ~ 1e-70) does not underflow; ``e`` is 0 when no shift was needed.
    """
    if not isinstance(apply, RowScaled):
        return apply(B if isinstance(B, np.ndarray) else B.matrix()), 0
    if apply.M is None:
        out = B.copy() if isinstance(B, np.ndarray) else B.matrix()
    elif isinstance(B, np.ndarray):
        out = kernels.matmul(apply.M, B)
    else:
        out = B.left_multiply(apply.M)
    e = 0
    if apply.scale is not None:
        peak = float(np.abs(out).max()) if out.size else 0.0
        if 0.0 < peak < _SHIFT_BELOW:
            e = math.frexp(peak)[1]
            out = np.ldexp(out, -e)
        out *= apply.scale[:, None]
    return out, e


@_managed_pools
def block_loop(
    factors: Iterable[Factor],
    n: int,
    V: FloatArray | None = None,
    *,
    start: int = 0,
    accumulate: bool = True,
    warmup: int = 0,
    cond_limit: float = COND_LIMIT,
    max_block: int = MAX_BLOCK,
    marks: Collection[int] = (),
    error_per_factor: float = PER_FACTOR_ERROR,
    keep_bytes: int = 0,
    leading: int | None = None,
    advance: Callable[[int], None] | None = None,
    on_block: Callable[[int, FloatArray], None] | None = None,
) -> GradedProduct:
    r"""The block loop: apply ``factors`` to ``V`` (the identity if None), keeping it graded.

    The one loop behind every graded method: :func:`graded_product` starts it
    from the identity, the matrix-free subspace iteration
    (:mod:`gradscope.numeric.matrixfree`) from an orthonormal block ``V``
    (n × b). The result is :math:`F_m \cdots F_1 V = Q \operatorname{diag}(e^{\ell}) U`.

    Parameters
    ----------
    factors : iterable of Factor
        The factors in the order applied (``Steps.factors``,
        ``Steps.transposed_factors``); a factor with ``last`` set ends a step.
    n : int
        Rows of every factor.
    V : (n, b) ndarray, optional
        Orthonormal columns to start from (default: the identity, b = n).
    start : int
        The step the product starts after (``t`` counts steps from there).
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
        factor is kept, and its error charged). A budget below what one factor
        adds with no amplification, ``3 u n``, is raised to it.
    leading : int, optional
        Budget the error of the first ``leading`` directions only (default:
        all). A matrix-free pass reports its top k; the rest of its block are
        guard vectors, whose accuracy only speeds convergence.
    advance : callable, optional
        Called with 1 as each step is applied (a progress bar's ``advance``).
    on_block : callable, optional
        Called after each accepted QR with ``(t, log_diag)``: the step of the
        block's last factor and the running ``log_diag`` (its sums so far, zero
        before the warm-up ends; the array is not kept, copy it to keep it).
    marks : collection of int
        Steps t (``start < t``) at which to keep a copy of the graded factor of
        the product so far in ``marked`` (needs ``accumulate``).
    keep_bytes : int
        The memory one factor holds when it must be kept for a redo (a stream's
        matrix); the factors of one block are kept up to ``_REDO_BYTES``.

    Returns
    -------
    GradedProduct
        With ``Q``, the last orthonormal basis (n × r).

    Raises
    ------
    ConfigError
        If ``factors`` is empty, holds not more than ``warmup`` steps, or ends
        before a mark.
    NumericalError
        If a block overflows (a Jacobian beyond float64's range).
    """

    # A block of one factor adds u n 3 A (A >= 1, its amplification) per factor: a budget
    # below that of A = 1 cannot be met by any block, and is raised to it.
    per_factor = max(error_per_factor, 3 * UNIT_ROUNDOFF * n)

    def log_limit(k: int) -> float:
        """The most log-amplification a block of k factors may have (see factorise)."""
        return math.log(min(cond_limit, per_factor * k / (UNIT_ROUNDOFF * n * (k + 2))))

    boundary = start + warmup
    if marks and (not accumulate or min(marks) <= start):
        raise ConfigError(f"marks must lie after start and need accumulate, got {marks}")
    # One library's BLAS and LAPACK throughout (kernels.py): scipy's where the factors
    # are matrices, numpy's where they are functions (which use numpy themselves).
    source = iter(factors)
    first = next(source, None)
    if first is not None:
        source = itertools.chain((first,), source)
    B: FloatArray | _Reflectors = np.eye(n) if V is None else np.array(V, dtype=np.float64)
    b = B.shape[1]
    # A thin block (a matrix-free pass) goes to numpy too: scipy's wrappers cost more than
    # the product itself there (n = 512: 0.4 ms against 0.08 ms for one vector).
    matrices = first is None or isinstance(first.apply, RowScaled)
    kernels = _kernels_for(matrices, n, b)
    beta = 0.0
    ell = np.zeros(b)
    U: FloatArray | None = np.eye(b) if accumulate else None
    log_diag = np.zeros(b)
    k = qr_count = longest = measured = applied = 0
    budget = 0.0  # Σ c over the block's factors: a bound on log κ(B)
    alpha, ratios = 1.0, deque[float](maxlen=4)  # measured log κ(R) / budget
    t = t_last = start  # steps completed; step of the last factor applied
    group = _Group()  # the R factors not yet folded into diag(e^ℓ) U

    log_error = np.zeros(b)  # first-order, natural log, per direction (row of R)
    lost = [False]  # did a flush or a fold drop a nonzero row (a zero that is not exact)?
    # rows of the block that the data let be nonzero
    structural = np.ones(n, dtype=bool) if V is None else np.any(B != 0.0, axis=1)
    pattern: _PatternCache = []  # the last M's zeros: _pattern
    worst_cond = 1.0
    rank_bound = b  # of the exact product, from the factors' exact zeros
    flushed = 0.0  # the flushes' relative row change since the last QR
    # (x, λ): e^λ x bounds the row norms of |F_k| ... |F_1| |Q| (the block's rounding is
    # relative to them, row by row); None once a factor is known only through apply
    magnitude: tuple[FloatArray, float] | None = (np.ones(n), 0.0) if V is None else None
    absolute: list[tuple[FloatArray, FloatArray]] = []  # the last (M, |M|): _magnitude
    # additions to the log scales, the largest |ℓ| they held, and whether a fold happened
    sums: list[float] = [0, 0.0, 0]

    def factorise(redo_allowed: bool = False) -> bool:
        """QR of the block; False (nothing kept) if ``redo_allowed``, k >= 2 and its
        measured amplification of rounding is over ``log_limit(k)``: the caller redoes
        it with fewer factors."""
        nonlocal B, beta, ell, U, log_diag, k, qr_count, longest, budget, alpha, measured
        nonlocal log_error, worst_cond, flushed, structural, magnitude
        assert isinstance(B, np.ndarray)
        B, beta, moved = _tidy(B, beta)
        Q, R, Rc, monomial, columns_exact = _block_qr(B, kernels)
        K = R.shape[0]
        size = None if magnitude is None else _in_scale(magnitude, beta)
        added, by_columns, kappa, formed = _block_error(Rc, n, k, max(flushed, moved), Q, size)
        if formed is not None:
            Q = formed
        # The measured amplification of the block's rounding: κ̃ times the worst column
        # grading (what _block_error multiplies u n (k + 2) by, by columns).
        watched = by_columns[:leading]  # the directions whose accuracy is asked for
        finite = watched[np.isfinite(watched)]
        amplification = (
            float(finite.max()) / (UNIT_ROUNDOFF * n * (k + 2)) if finite.size else math.inf
        )
        if finite.size < watched.size:
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
        # A rank drop merges the directions the block loses, the smallest, into the
        # smallest it keeps (row K - 1 of R holds every later column): their errors go
        # with them, so rounding noise that is merged leaves no value determined.
        merged = float(log_error[K:].max()) if 0 < K < log_error.size else 0.0
        log_error = log_error[:K] + added
        if merged:
            log_error[K - 1] += merged
        if flushed == math.inf:
            lost[0] = True
        flushed = 0.0
        with np.errstate(divide="ignore"):
            logd = np.log(np.abs(np.diagonal(Rc)))
        log_diag = log_diag[:K] + (logd + beta if t_last > boundary else 0.0)
        if on_block is not None:
            on_block(t_last, log_diag)
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
        if V is None:  # the row model: whole products only (rows of Q: norms <= 1)
            magnitude = (structural.astype(np.float64), 0.0)
        return True

    def fold() -> tuple[FloatArray, FloatArray]:
        """Fold the group into diag(e^ℓ) U, charging its coupling error to the rows."""
        nonlocal log_error
        assert U is not None
        scale = abs(group.log_scale)
        out = group.fold_into(ell, U, kernels, first=not sums[2])
        finite = np.abs(out[0][np.isfinite(out[0])])
        sums[0] += 3
        sums[1] = max(sums[1], float(finite.max()) if finite.size else 0.0, scale)
        sums[2] = 1  # folded: diag(e^ℓ) U is no longer the identity
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
    replay: deque[Factor] = deque()
    block: list[Factor] = []
    redone = [0]
    cap = max_block  # most factors in the current block (halved by a redo)

    def snapshot() -> tuple[object, ...]:
        return (B, beta, t, t_last, structural, flushed, drift, rank_drop, magnitude)

    origin = snapshot()

    def close() -> bool:
        """Factorise the block; False if it was too ill-conditioned and is to be redone."""
        nonlocal B, beta, t, t_last, structural, flushed, drift, rank_drop, cap, origin, k
        nonlocal budget, magnitude
        if factorise(redo_allowed=len(block) == k):
            block.clear()
            if not replay:
                cap = min(max_block, 2 * cap)
            origin = snapshot()
            return True
        B, beta, t, t_last, structural, flushed, drift, rank_drop, magnitude = origin  # type: ignore[assignment]
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
        # One column's R is 1 × 1: its amplification is 1 and its rows' span is harmless
        # (a flush moves the one vector by far less than its rounding), so neither the
        # prediction nor the span budget closes it.
        many = B.shape[1] > 1
        if k and (
            (many and alpha * (budget + c) > log_limit(k + 1))
            or (many and budget + c > _SPAN_BUDGET)  # a bound on log κ(B), so on its rows' span
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
            if advance is not None:
                advance(1)
        if B.shape[1] == 0:
            continue  # the product is exactly zero from here on
        factor_rank = _rank_bound(apply, b, pattern)
        rank_bound = min(rank_bound, factor_rank)
        B, shift = _apply(apply, B, kernels)
        if shift:
            beta += shift * LN2
            sums[0] += 1
        structural = _propagate(apply, structural, pattern)
        magnitude = _magnitude(apply, magnitude, absolute)
        if factor_rank == 0:  # exactly zero from here, whatever was lost before
            lost[0] = group.lost = False
        flushed = max(flushed, _underflow(B, n))
        if growth is not None:
            drift = (drift[0] + growth[0], drift[1] + growth[1])
        if growth is None or drift[0] < -_DRIFT or drift[1] > _DRIFT:
            B, beta, moved = _tidy(B, beta)
            flushed = max(flushed, moved)
            drift = (0.0, 0.0)
            sums[0] += 1
        k += 1
        applied += 1
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
    full_diag = np.full(b, -np.inf)
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
        Q=B.matrix() if isinstance(B, _Reflectors) else B,
        factors=applied,
        rank_bound=rank_bound,
    )


def graded_product(
    steps: FactorSource,
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

    :func:`block_loop` from the identity over ``steps.factors(start, end)``.

    Parameters
    ----------
    steps : Steps
        Unbatched; ``start`` and ``end`` already checked.
    start, end : int
        The window (``end`` None: a stream, to its end).
    accumulate, warmup, cond_limit, max_block, error_per_factor
        As for :func:`block_loop`.
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
    if marks and end is not None and max(marks) > end:
        raise ConfigError(f"marks must lie in start < t <= end and need accumulate, got {marks}")
    n = steps.n
    with progress.task("graded product", 0 if end is None else end - start) as bar:
        return block_loop(
            steps.factors(start, end),
            n,
            start=start,
            accumulate=accumulate,
            warmup=warmup,
            cond_limit=cond_limit,
            max_block=max_block,
            marks=marks,
            error_per_factor=error_per_factor,
            keep_bytes=8 * n * n if steps.T is None else 0,  # a stream's factor: its matrix
            advance=bar.advance,
        )
