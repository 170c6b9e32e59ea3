r"""The graded representation ``diag(e^ℓ) U`` and the ``R`` factors folded into it.

:func:`_tidy` keeps a block in range and flushes its negligible entries,
:func:`_fold` multiplies an ``R`` onto ``diag(e^ℓ) U`` without under- or
overflow, and :class:`_Group` multiplies consecutive ``R`` in plain floating
point and folds them together (:mod:`~gradscope.numeric.graded.blocks`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import NumericalError
from gradscope.numeric.graded.factors import LN2
from gradscope.numeric.graded.kernels import (
    _NEGLIGIBLE,
    _exp_nonpositive,
    _Kernels,
    _strictly_lower,
    _triu_matmul,
    _zero_below,
)
from gradscope.numeric.graded.rounding import _coupling_error

__all__: list[str] = []  # internal to gradscope.numeric.graded

FloatArray = NDArray[np.float64]


_BLOCK_FLUSH = 2.0**-800  # block entries below this times the block's largest -> 0


_BLOCK_RANGE = 100  # a block is rescaled by 2**-e when its largest entry leaves 2**±100


_GROUP_SPAN = 150 * math.log(10.0)  # R factors are folded before their κ pass 1e150


_ROW_FLOOR = 2.0**-700  # ... or before a row's largest entry falls below this of the largest


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
        self, ell: FloatArray, U: FloatArray, kernels: _Kernels, *, first: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        """``diag(e^ℓ) U`` with the group folded in (:func:`_fold`); the group empties.

        An empty group leaves ``ℓ`` and ``U`` as they are. ``first``: ``diag(e^ℓ) U``
        is still the identity the loop started from, which couples nothing.
        """
        if self.R is None:
            self.error = np.zeros(0)
            return ell, U
        # Blocks with one nonzero per column (a diagonal W, a permutation) have a QR
        # without rounding off the diagonal (LAPACK's reflectors are the identity when
        # a column's tail is exactly zero): R's off-diagonal zeros are exact, and the
        # directions cannot swamp each other however they are ordered.
        if self.monomial or first:
            self.error = np.zeros(self.R.shape[0])
        else:
            self.error = _coupling_error(self.R, ell, self.factors)
        ell, U, dropped = _fold(self.R, self.log_scale, ell, U, kernels.triu_matmul)
        self.R, self.log_scale, self.span, self.factors = None, 0.0, 0.0, 0
        self.monomial = True
        self.lost |= dropped
        return ell, U
