r"""The BLAS and LAPACK kernels of the graded product's block loop.

numpy and scipy each bundle an OpenBLAS with its own thread pool, and on few
cores two busy pools stall each other (DESIGN.md §5), so one hot loop uses one
library throughout: :data:`_SCIPY` for an RNN's or explicit Jacobians, whose
factors are matrices (``geqrf`` keeps ``Q`` as reflectors, the next block's first
``W`` is multiplied into them by ``ormqr``, so ``Q`` is never formed, and
triangular products go to ``trmm``), and :data:`_NUMPY` for Steps known only
through ``apply`` (``numpy.linalg.qr`` with ``Q`` formed).

Householder QR sorts the rows by decreasing size first (row-wise backward
stability, Cox & Higham 1998) and leaves exactly zero rows out. Entries below
``2**-200`` of their unit row or column (``_NEGLIGIBLE``) are flushed to 0, so no
subnormal number reaches LAPACK.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import NumericalError
from gradscope.numeric.graded.factors import Factor, RowScaled
from gradscope.threads import blas_pools

__all__: list[str] = []  # internal to gradscope.numeric

FloatArray = NDArray[np.float64]

_NEGLIGIBLE = 2.0**-200  # entries below this times their unit row / column -> 0
_EXP_FLOOR = -700.0  # exp below this is taken as 0 (numpy's exp is slow near underflow)


def _zero_below(X: FloatArray, threshold: FloatArray | float) -> None:
    """Set the entries of ``X`` with ``|x| < threshold`` to zero, in place."""
    np.copyto(X, 0.0, where=np.abs(X) < threshold)


def _exp_nonpositive(X: FloatArray, zero: NDArray[np.bool_] | None = None) -> None:
    """``X <- exp(min(X, 0))`` in place, exactly 0 where ``X < -700`` (no subnormal,
    fast) and where ``zero`` is true."""
    tiny = X < _EXP_FLOOR
    if zero is not None:
        tiny |= zero
    np.clip(X, _EXP_FLOOR, 0.0, out=X)
    np.exp(X, out=X)
    np.copyto(X, 0.0, where=tiny)


@lru_cache(maxsize=16)
def _strictly_lower(rows: int, cols: int) -> NDArray[np.bool_]:
    """True below the diagonal of a ``rows × cols`` matrix (read-only)."""
    mask = np.tri(rows, cols, -1, dtype=bool)
    mask.flags.writeable = False
    return mask


@lru_cache(maxsize=1)
def _scipy_linalg() -> Any:
    """``scipy.linalg``, imported on first use (0.25 s here: the CLI starts without it)."""
    import scipy.linalg  # type: ignore[import-untyped]

    return scipy.linalg


def _lwork(*dims: int) -> int:
    """A LAPACK workspace size that lets ``geqrf``/``orgqr``/``ormqr`` run blocked."""
    return 64 * max(*dims, 1) + 4160


def _rows_sorted(B: FloatArray) -> tuple[NDArray[np.intp], FloatArray]:
    """The nonzero rows of ``B`` by decreasing largest entry: their indices, and
    ``B[order]`` in Fortran order (LAPACK's own layout)."""
    size = np.abs(B).max(axis=1)
    nonzero = np.flatnonzero(size)
    order = nonzero[np.argsort(-size[nonzero], kind="stable")]
    return order, B.T[:, order].T


@dataclass(frozen=True, slots=True, eq=False)
class _Reflectors:
    """``Q`` of a sorted-row Householder QR, kept as LAPACK's reflectors (``geqrf``).

    ``Q`` (``rows`` × K) is zero outside the rows ``order``, and ``Q[order]`` is
    the first K columns of the product of the reflectors in ``qr`` and ``tau``.
    """

    qr: FloatArray  # (len(order), r), Fortran order; the reflectors below the diagonal
    tau: FloatArray  # (K,)
    order: NDArray[np.intp]
    rows: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.tau.size

    def matrix(self) -> FloatArray:
        """``Q`` itself (``orgqr``), entries below ``2**-200`` flushed."""
        lapack = _scipy_linalg().lapack

        m, K = self.order.size, self.tau.size
        if K == 0:
            return np.zeros((self.rows, 0))
        Qs, _, info = lapack.dorgqr(self.qr[:, :K], self.tau, lwork=_lwork(m, K))
        if info != 0:
            raise NumericalError(f"LAPACK dorgqr failed (info = {info})")
        Q = np.zeros((self.rows, K))
        Q[self.order] = Qs
        _zero_below(Q, _NEGLIGIBLE)
        return Q

    def left_multiply(self, M: FloatArray) -> FloatArray:
        """``M @ Q`` by applying the reflectors to ``M``'s columns (``ormqr``)."""
        lapack = _scipy_linalg().lapack

        K = self.tau.size
        if K == 0:
            return np.zeros((M.shape[0], 0))
        C = M.T[self.order].T  # M[:, order] in Fortran order, LAPACK's own layout
        out, _, info = lapack.dormqr(
            "R", "N", self.qr[:, :K], self.tau, C, _lwork(*C.shape), overwrite_c=1
        )
        if info != 0:
            raise NumericalError(f"LAPACK dormqr failed (info = {info})")
        return np.asarray(out[:, :K])


def _householder(B: FloatArray) -> tuple[_Reflectors, FloatArray]:
    """Householder QR of ``B`` (n × r) with its rows sorted by decreasing size.

    Sorted rows make Householder QR row-wise backward stable (Cox & Higham 1998),
    and exactly zero rows are left out, so an exact rank loss gives an exactly
    smaller ``R``. Returns ``Q`` as reflectors (n × K) and ``R`` (K × r),
    K = min(nonzero rows, r), whose entries below the diagonal are not zeroed:
    they hold the reflectors (callers read the upper trapezoid only; saves a
    pass). Reflector entries below ``2**-200`` (they are at most 1) are flushed,
    which moves ``Q`` by far less than the rounding error.
    """
    lapack = _scipy_linalg().lapack

    order, A = _rows_sorted(B)
    m, r = A.shape
    if min(m, r) == 0:
        return _Reflectors(A, np.zeros(0), order, B.shape[0]), np.zeros((0, r))
    qr, tau, _, info = lapack.dgeqrf(A, lwork=_lwork(m, r), overwrite_a=1)
    if info != 0:
        raise NumericalError(f"LAPACK dgeqrf failed (info = {info})")
    R = qr[: tau.size]
    size = np.abs(qr)
    if float(size.min()) < _NEGLIGIBLE:  # rare: only then a copy and a second pass
        R = R.copy()
        np.copyto(qr, 0.0, where=(size < _NEGLIGIBLE) & _strictly_lower(*qr.shape))
    return _Reflectors(qr, tau, order, B.shape[0]), R


def _qr_rows_sorted(B: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`_householder` with numpy's LAPACK and ``Q`` formed: ``Q`` (n × K), ``R`` (K × r)."""
    order, A = _rows_sorted(B)
    Qs, R = np.linalg.qr(A)
    Q = np.zeros((B.shape[0], Qs.shape[1]))
    Q[order] = Qs
    _zero_below(Q, _NEGLIGIBLE)
    return Q, R


def _scipy_gemm(A: FloatArray, B: FloatArray) -> FloatArray:
    """``A @ B`` by scipy's BLAS ``dgemm``, without copying C- or Fortran-ordered operands."""
    blas = _scipy_linalg().blas

    # (A B)^T = B^T A^T, formed in Fortran order: its transpose is A B in C order.
    bt, trans_b = (B.T, 0) if B.flags.c_contiguous else (B, 1)
    at, trans_a = (A.T, 0) if A.flags.c_contiguous else (A, 1)
    out: FloatArray = blas.dgemm(1.0, bt, at, trans_a=trans_b, trans_b=trans_a).T
    return out


def _scipy_triu_matmul(C: FloatArray, U: FloatArray) -> FloatArray:
    """``C @ U`` reading only the upper trapezoid of ``C``, by scipy's ``dtrmm``.

    Computed as :math:`(C U)^\top = U^\top C^\top` on transposed views, so a C- or
    Fortran-ordered ``C`` and a C-ordered ``U`` are not copied; a trapezoidal
    ``C`` (K < r) goes to ``dgemm``.
    """
    blas = _scipy_linalg().blas

    if C.shape[0] != C.shape[1] or not U.flags.c_contiguous:
        return _scipy_gemm(np.triu(C), U)
    if C.flags.c_contiguous:  # C^T is a Fortran-ordered lower triangle
        out: FloatArray = blas.dtrmm(1.0, C.T, U.T, side=1, lower=1).T
    else:  # C itself is Fortran-ordered (or copied so): op(C) = C^T
        out = blas.dtrmm(1.0, C, U.T, side=1, lower=0, trans_a=1).T
    return out


def _numpy_svdvals(A: FloatArray) -> FloatArray:
    out: FloatArray = np.linalg.svd(A, compute_uv=False).astype(np.float64, copy=False)
    return out


def _scipy_svdvals(A: FloatArray) -> FloatArray:
    out: FloatArray = _scipy_linalg().svdvals(A, check_finite=False)
    return out


def _cond_row_equilibrated(R: FloatArray, *, lower: bool = False) -> float:
    r"""An estimate of :math:`\kappa_2(D^{-1} R)`, ``D`` the rows' largest entries.

    ``R`` is upper (or, with ``lower``, lower) trapezoidal, K × r with K <= r;
    only that triangle is read. The grading of a triangular factor sits in its
    rows, so this is the conditioning that rounding errors see: the raw
    :math:`\kappa(R)` is mostly the grading, which costs no accuracy. A square
    triangle goes to LAPACK ``dtrcon`` (O(K²)) in the 1- and ∞-norms, whose
    larger value bounds :math:`\kappa_2` (:math:`\|A\|_2^2 \le \|A\|_1\|A\|_\infty`)
    up to the estimator's own factor (rarely above 3); a trapezoid, or a
    triangle with a zero row, gets an SVD. ``inf`` when singular.
    """
    K, r = R.shape
    if K == 0:
        return 1.0
    T = np.tril(R) if lower else np.triu(R)
    rows = np.abs(T).max(axis=1)
    if not np.all(rows > 0.0):
        return math.inf
    A = T / rows[:, None]
    if K != r:
        s = np.linalg.svd(A, compute_uv=False)
        return float(s[0] / s[-1]) if s[-1] > 0.0 else math.inf
    lapack = _scipy_linalg().lapack
    uplo = "L" if lower else "U"
    worst = 1.0
    for norm in ("1", "I"):
        rcond, info = lapack.dtrcon(A, norm=norm, uplo=uplo, diag="N")
        if info != 0:
            raise NumericalError(f"LAPACK dtrcon failed (info = {info})")
        if not rcond > 0.0:
            return math.inf
        worst = max(worst, 1.0 / float(rcond))
    return _steady(worst)


def _steady(estimate: float) -> float:
    """``estimate`` rounded to 30 significant bits.

    LAPACK's condition estimator sums with BLAS kernels whose order depends on
    the memory alignment of its work arrays, so the same R can give estimates a
    few ulps apart from one call to the next (1.0 or 1.0000000000000002 for a
    diagonal R), and a block-length decision at such a boundary would make the
    same input give different, equally valid, results. Rounded, they agree;
    2^-30 is nothing beside the estimator's own factor (up to 3).
    """
    mantissa, exponent = math.frexp(estimate)
    return math.ldexp(round(mantissa * 2.0**30) / 2.0**30, exponent)


@dataclass(frozen=True, slots=True)
class _Kernels:
    """The BLAS and LAPACK of one hot loop: numpy's or scipy's, never both.

    numpy and scipy each bundle an OpenBLAS with its own thread pool, and on
    few cores two busy pools stall each other (DESIGN.md §5). scipy's LAPACK
    lets the next block multiply into the QR's reflectors (``ormqr``), so the
    loop over an RNN's or explicit Jacobians uses it throughout; Steps known
    only through ``apply`` use numpy's.
    """

    matmul: Callable[[FloatArray, FloatArray], FloatArray]
    triu_matmul: Callable[[FloatArray, FloatArray], FloatArray]  # C @ U, C upper trapezoidal
    qr: Callable[[FloatArray], tuple[FloatArray | _Reflectors, FloatArray]]
    svdvals: Callable[[FloatArray], FloatArray]


def _triu_matmul(C: FloatArray, U: FloatArray) -> FloatArray:
    """``C @ U`` for upper trapezoidal ``C`` (K × r) and ``U`` (r × n), skipping zero blocks.

    Halves recursively while the blocks are large: about 3/4 of a full product's
    work at n = 256 (the product is upper trapezoidal too).
    """
    K, r = C.shape
    h = r // 2
    if r < 96 or K <= h:
        return C @ U
    Y = np.empty((K, U.shape[1]))
    Y[:h, :h] = _triu_matmul(C[:h, :h], U[:h, :h])
    Y[:h, h:] = C[:h, :h] @ U[:h, h:]
    Y[:h, h:] += C[:h, h:] @ U[h:, h:]
    Y[h:, :h] = 0.0
    Y[h:, h:] = _triu_matmul(C[h:, h:], U[h:, h:])
    return Y


_NUMPY = _Kernels(np.matmul, _triu_matmul, _qr_rows_sorted, _numpy_svdvals)
_SCIPY = _Kernels(_scipy_gemm, _scipy_triu_matmul, _householder, _scipy_svdvals)


def _kernels_for(matrices: bool, n: int, b: int) -> _Kernels:
    """The kernels of a loop over n-row factors on a block of b columns.

    scipy's where the factors are matrices (``matrices``) and the block is not
    thin; numpy's for Steps known only through ``apply`` (which use numpy
    themselves) and for a thin block (a matrix-free pass), where scipy's wrappers
    cost more than the product itself (n = 512: 0.4 ms against 0.08 ms for one
    vector).
    """
    return _SCIPY if matrices and 8 * b > n else _NUMPY


#: From this n on, scipy's pool keeps its threads in a loop on scipy's kernels;
#: below, one thread. Measured (issue 18; 2 cores, tanh RNN, case (a) of
#: benchmarks/bench_spectrum.py, ``compute_singular_values``, seconds, pools set
#: with threadpoolctl as numpy/scipy threads):
#:
#: ========  =======  =======  =======  =======
#: n, T      2/2      1/2      2/1      1/1
#: ========  =======  =======  =======  =======
#: 256, 1000 10.04    10.86    7.09     7.06
#: 512, 200   7.89     7.89    9.87     9.77
#: ========  =======  =======  =======  =======
#:
#: so at n = 256 a second scipy thread costs 1.4x, at n = 512 it saves 1.25x,
#: and numpy's pool (the forward pass, elementwise work between) does not
#: matter once limited or not spinning beside scipy's. Sizes between were not
#: measured: they get one thread.
_SCIPY_THREADED_FROM = 512


def _pools(kernels: _Kernels, n: int) -> AbstractContextManager[None]:
    """The BLAS pools for a loop on ``kernels`` at size ``n`` (gradscope.threads).

    The other library's pool gets one thread, so it cannot spin beside the busy
    one; scipy's own is lowered to one thread below :data:`_SCIPY_THREADED_FROM`.
    numpy's keeps its count: its loops here are matrix-free passes (thin blocks,
    where two threads measured faster at n = 2048, issue 18) and Steps known
    only through ``apply``.
    """
    if kernels is _SCIPY:
        return blas_pools(n, "scipy", 1 if n < _SCIPY_THREADED_FROM else None)
    return blas_pools(n, "numpy")


_Loop = TypeVar("_Loop", bound=Callable[..., Any])


def _managed_pools(loop: _Loop) -> _Loop:
    """``block_loop`` run inside the BLAS pool limits of the kernels it will use (:func:`_pools`).

    The first factor is looked at here as in the loop (matrices or functions), the
    pools are set for its kernels and restored when the loop returns or raises.
    """

    @functools.wraps(loop)
    def entry(factors: Iterable[Factor], n: int, V: Any = None, **options: Any) -> Any:
        source = iter(factors)
        first = next(source, None)
        if first is not None:
            source = itertools.chain((first,), source)
        matrices = first is None or isinstance(first.apply, RowScaled)
        b = n if V is None else np.shape(V)[1]
        with _pools(_kernels_for(matrices, n, b), n):
            return loop(source, n, V, **options)

    return cast(_Loop, entry)


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
