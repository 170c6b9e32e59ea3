r"""The factors of a Jacobian product, as the graded block loop applies them.

Every :class:`~gradscope.numeric.steps.Steps` gives its product as a stream of
:class:`Factor` (its methods ``factors`` and ``transposed_factors``); this module
builds those streams and sits below ``steps.py``, so it knows no Steps type:

* a weight matrix with row scalings, :math:`J_t = \operatorname{diag}(d_t) W`
  (a vanilla RNN; ``d`` absent for a linear one): :func:`weight_factors`, and the
  transposed product :math:`W^\top D_t` step by step: :func:`transposed_weight_factors`;
* explicit matrices, each row-equilibrated: :func:`explicit_factors`;
* steps known only through a function ``V -> J_t V``: :func:`applied_factors`.

Each factor carries a bound on its log-condition (the block rule's prediction), its
number of nonzero rows (an exact rank bound) and, where known, rigorous bounds on how
much it can grow a block. A step whose rows span more than ``2**500`` (tanh' < 1e-150
of the largest: deep saturation) is applied as several exact factors, each with its
own QR, so no row is lost to the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError, NumericalError

__all__ = [
    "Factor",
    "RowScaled",
    "applied_factors",
    "explicit_factors",
    "thin_block_condition",
    "transposed_weight_factors",
    "weight_factors",
]

FloatArray = NDArray[np.float64]
Apply = Callable[[FloatArray], FloatArray]

LN2 = math.log(2.0)
_SPLIT = 500  # a step whose rows span more than 2**_SPLIT is split into factors
_W_ROW_SPAN = 100  # a W whose rows span more than 2**_W_ROW_SPAN is row-equilibrated first
_OPAQUE_LOG_KAPPA = 1.0  # the predicted log κ of a step known only through apply


class Factor(NamedTuple):
    """One factor ``F`` of the product, as the block loop sees it."""

    apply: Apply  # V -> F V
    log_kappa: float  # a bound on log κ(F)
    last: bool  # the last factor of its step?
    live: int  # nonzero rows of F
    #: Bounds on log2(max|F V| / max|V|) for every V (n × r, r <= n); None: unknown.
    log2_growth: tuple[float, float] | None = None


def _log_cond(A: FloatArray) -> float:
    """Natural log of the 2-norm condition number of ``A`` (``inf`` if rank-deficient)."""
    s = np.linalg.svd(A, compute_uv=False)
    return math.log(s[0] / s[-1]) if s[-1] > 0.0 else math.inf


#: Up to this n a run of a few vectors takes κ(W) from an SVD (a bound, and cheap);
#: above, the SVD (or an inverse) would cost more than the passes themselves.
EXACT_COND_MAX = 256


def thin_block_condition(W: FloatArray, columns: int) -> tuple[float | None, float | None]:
    r"""``(log_kappa, predicted_log_kappa)`` for a run of ``columns`` vectors through ``W``.

    What a matrix-free pass or a top-k Lyapunov run gives :meth:`Steps.factors`:
    one column has condition 1 (prediction 0); up to :data:`EXACT_COND_MAX` the
    weights' :math:`\log\kappa(W)` from an SVD, a bound; above, no bound (an
    n × n factorisation is what the method avoids) but the nominal prediction of
    steps known only through ``apply``, which the blocks' measured amplification
    corrects (:func:`~gradscope.numeric.graded.blocks.block_loop`). Without a
    bound the factors' growth bounds have no lower side, so the block is tidied
    (rescaled by a power of two, O(n b)) after every factor.
    """
    if columns == 1:
        return None, 0.0
    if W.shape[-1] <= EXACT_COND_MAX:
        return _log_cond(W), None
    return None, _OPAQUE_LOG_KAPPA


def _condition(
    W: FloatArray, log_kappa: float | None, predicted_log_kappa: float | None
) -> tuple[float, float]:
    """(the factors' predicted log κ, the bound their growth bounds rest on: inf if none)."""
    if predicted_log_kappa is not None:
        if log_kappa is not None:
            raise ConfigError("give log_kappa (a bound) or predicted_log_kappa, not both")
        return predicted_log_kappa, math.inf
    c = _log_cond(W) if log_kappa is None else log_kappa
    return c, c


def _log2_growth(
    W: FloatArray,
    dmin: FloatArray | float,
    dmax: FloatArray | float,
    log_kappa: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    r"""Bounds on :math:`\log_2(\max|D W V| / \max|V|)` for ``D = diag(d)``, ``dmin <= d <= dmax``.

    Above: :math:`\max d\,\|W\|_\infty`. Below: :math:`\max|X| \ge \|X\|_2/n` and
    :math:`\|D W V\|_2 \ge \min d\,\sigma_{min}(W) \|V\|_2 \ge \min d\,\sigma_{min}(W) \max|V|`.
    Given a bound ``log_kappa`` on :math:`\log\kappa(W)`,
    :math:`\sigma_{min} \ge \|W\|_F / (\sqrt n\,\kappa)` stands in for the SVD
    (O(n²) instead of O(n³): a matrix-free pass at n = 2048 spent seconds here).
    """
    n = W.shape[0]
    top = float(np.abs(W).sum(axis=1).max())
    if log_kappa is None:
        sigma_min = float(np.linalg.svd(W, compute_uv=False)[-1])
    elif math.isfinite(log_kappa) and log_kappa < 700.0:
        peak = float(np.abs(W).max()) if W.size else 0.0
        frobenius = peak * float(np.linalg.norm(W / peak)) if peak > 0.0 else 0.0  # no overflow
        sigma_min = frobenius / (math.sqrt(n) * math.exp(log_kappa))
    else:
        sigma_min = 0.0
    bottom = sigma_min / n
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        lo = np.log2(np.multiply(dmin, bottom))
        hi = np.log2(np.multiply(dmax, top))
    # an undefined bound (0 · inf beyond float range) is no bound: the block is tidied
    return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)


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


def _live_rows(M: FloatArray) -> int:
    return int(np.count_nonzero(np.abs(M).max(axis=1))) if M.size else 0


def weight_factors(
    W: FloatArray,
    dphi: FloatArray | None,
    count: int,
    *,
    log_kappa: float | None = None,
    predicted_log_kappa: float | None = None,
) -> Iterator[Factor]:
    r"""The factors of :math:`J_t = \operatorname{diag}(d_t) W`, one step per row of ``dphi``.

    ``dphi`` None stands for ``count`` steps of ``W`` itself (a linear RNN). For
    an RNN, :math:`\kappa(\operatorname{diag}(d) W) \le (\max d/\min d)\,\kappa(W)`
    over the nonzero ``d`` (a zero row is an exact rank loss and costs no
    accuracy); ``log_kappa`` may give a bound on :math:`\log\kappa(W)` known
    already (default: from its singular values), or ``predicted_log_kappa`` a
    prediction only (:func:`thin_block_condition`). A ``W`` whose own rows span
    more than ``2**100`` is row-equilibrated first (:func:`_equilibrated_factors`).
    """
    if _log_spread(np.abs(W).max(axis=1)) > _W_ROW_SPAN * LN2:
        yield from _equilibrated_factors(W, dphi, count)
        return
    c, bound = _condition(W, log_kappa, predicted_log_kappa)
    if dphi is None:
        live = _live_rows(W)
        lo, hi = _log2_growth(W, 1.0, 1.0, bound)
        for _ in range(count):
            yield Factor(RowScaled(W), c, True, live, (float(lo), float(hi)))
        return
    d = np.abs(dphi)
    with np.errstate(divide="ignore", invalid="ignore"):  # all-zero rows: spread 0
        spread = np.log(d.max(axis=1) / np.where(d > 0.0, d, np.inf).min(axis=1))
    spread[~np.any(d > 0.0, axis=1)] = 0.0
    lo, hi = _log2_growth(W, d.min(axis=1), d.max(axis=1), bound)
    for i in range(dphi.shape[0]):  # spreads and growth bounds computed for all steps at once
        yield from _row_scaled_factors(
            d[i],
            RowScaled(W, dphi[i]),
            W,
            c,
            spread=float(spread[i]),
            growth=(float(lo[i]), float(hi[i])),
        )


def transposed_weight_factors(
    W: FloatArray,
    dphi: FloatArray | None,
    count: int,
    *,
    WT: FloatArray | None = None,
    log_kappa: float | None = None,
    predicted_log_kappa: float | None = None,
) -> Iterator[Factor]:
    r"""The factors of :math:`J_1^\top \cdots J_T^\top` (``T = count``), :math:`J_T^\top` first.

    Step by step, :math:`J_t^\top = W^\top D_t` is applied as the row scaling
    :math:`D_t` (exact, split as in :func:`weight_factors`) and then
    :math:`W^\top`, so the factors end on every step and a product of the first
    j of them is :math:`(J_T \cdots J_{T-j+1})^\top`. ``WT`` may be a C-ordered
    copy of ``W.T``: OpenBLAS multiplies a transposed view by a thin block about
    twice as slowly (n = 2048, 16 columns: 10.3 ms against 4.4 ms). ``log_kappa``
    and ``predicted_log_kappa`` as for :func:`weight_factors`.
    """
    WT = np.ascontiguousarray(W.T) if WT is None else WT
    c, bound = _condition(W, log_kappa, predicted_log_kappa)
    live = _live_rows(WT)
    lo, hi = _log2_growth(WT, 1.0, 1.0, bound)
    growth = (float(lo), float(hi))
    for i in range(count - 1, -1, -1):
        if dphi is not None:
            d = dphi[i]
            a = np.abs(d)
            if np.all(a > 0.0):
                scaled = (math.log2(float(a.min())), math.log2(float(a.max())))
            else:
                scaled = (-math.inf, math.log2(float(a.max())) if a.max() > 0.0 else -math.inf)
            for f in _row_scaled_factors(a, RowScaled(None, d), None, 0.0, growth=scaled):
                yield f._replace(last=False)
        yield Factor(RowScaled(WT), c, True, live, growth)


def _equilibrated_factors(W: FloatArray, dphi: FloatArray | None, count: int) -> Iterator[Factor]:
    r"""The factors of a ``W`` whose own rows span more than ``2**_W_ROW_SPAN``.

    :math:`J_t = \operatorname{diag}(d_t) \operatorname{diag}(2^{e}) \hat W` with
    :math:`\hat W = \operatorname{diag}(2^{-e}) W` (``2^{e_r}`` the power of two
    at or below row r's largest entry: exact), applied as two factors, so the
    rows' spread is carried by row scales, each split as a step's φ' would be
    (:func:`_row_scaled_factors`), and no row is flushed beside a far larger one
    in the same block: ``W = diag(1e250, 1)`` keeps σ₂ = 1. ``κ(\hat W)`` bounds
    what is left.
    """
    rows = np.abs(W).max(axis=1)
    live = rows > 0.0
    e = np.frexp(np.where(live, rows, 1.0))[1] - 1  # 2**e <= row max < 2**(e+1)
    W_hat = np.ldexp(W, -e[:, None])
    power = np.where(live, np.ldexp(1.0, e), 0.0)
    log_kappa = _log_cond(W_hat[live])
    for t in range(count):
        pieces = list(_row_scaled_factors(power, RowScaled(W_hat, power), W_hat, log_kappa))
        if dphi is None:
            yield from pieces
            continue
        yield from (f._replace(last=False) for f in pieces)
        d = dphi[t]  # φ' as its own row scaling: d * 2**e could underflow
        yield from _row_scaled_factors(np.abs(d), RowScaled(None, d), None, 0.0)


def explicit_factors(matrices: Iterator[FloatArray], start: int) -> Iterator[Factor]:
    r"""The factors of explicit Jacobians, in the order given, each row-equilibrated.

    :math:`J_t = D_t \hat J_t` with ``D_t`` the rows' largest entries, and
    :math:`\kappa(\hat J_{start+1})` stands in for every :math:`\kappa(\hat J_t)`
    (exact for an RNN's Jacobians; otherwise the measured ``α`` of the block
    loop corrects it). Entries below the smallest normal number are flushed
    (they are below any rounding beside them).
    """
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


def applied_factors(
    apply: Callable[[int, FloatArray], FloatArray], steps: Iterable[int], n: int
) -> Iterator[Factor]:
    """The factors ``V -> apply(t, V)`` for ``t`` in ``steps``: Jacobians known only through
    a function. No bound on κ is known: a nominal ``_OPAQUE_LOG_KAPPA`` seeds the
    prediction, and the measured amplification of each block decides (a block over the
    limit is redone shorter)."""
    for t in steps:
        yield Factor(_Applied(apply, t), _OPAQUE_LOG_KAPPA, True, n)


@dataclass(frozen=True, slots=True, eq=False)
class _Applied:
    """``V -> apply(t, V)`` (a picklable, printable partial)."""

    apply: Callable[[int, FloatArray], FloatArray]
    t: int

    def __call__(self, V: FloatArray) -> FloatArray:
        return self.apply(self.t, V)
