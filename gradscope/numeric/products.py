r"""The top singular value of a Jacobian product, in log10, for any horizon.

:math:`\|\partial s_{end}/\partial s_{start}\|_2 = \sigma_1(J_{end} \cdots J_{start+1})`
is computed from the running product kept as a mantissa matrix ``M`` times an
integer power of two, :math:`P = 2^{e} M` with :math:`\max|M_{ij}| \in [1/2, 1)`.
Rescaling by a power of two is exact, so the only rounding is that of the
matrix products themselves (relative error of order ``(end - start) n ε`` in
σ₁), and ``0.9**10000 ≈ 1e-458`` comes out as log10 = −457.57… rather than 0.

:func:`compute_spectral_norm` returns σ₁ with the bound on its error that the
product computed (rounding and underflow of every step, carried to the end by a
second pass from the end; see ``_Ledger`` and docs: "How exact is exact"), and
:func:`scan_product` gives the same bound beside its norm.

No subnormal number ever reaches BLAS (DESIGN.md §5): after each step, entries
of ``M`` below ``2**-600`` (relative to its largest entry, about 1e-181) are set
to zero (checked every few steps). That perturbs σ₁ by a relative
``n · 2**-600`` at most.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError, NumericalError
from gradscope.numeric.graded.bounds import SAFETY, log10_bounds
from gradscope.numeric.steps import Steps, as_steps, check_range, log10_add

__all__ = [
    "HorizonScan",
    "SpectralNorm",
    "compute_spectral_norm",
    "log10_norm_trajectory",
    "log10_product_norm",
    "scan_product",
]

FloatArray = NDArray[np.float64]
LOG10_2 = math.log10(2.0)
LN10 = math.log(10.0)
_UNIT_ROUNDOFF = 2.0**-53
_TINY = 2.0**-1074  # the smallest subnormal
_FLUSH = 2.0**-600
_FLUSH_EVERY = 8
_LOW, _HIGH = 2.0**-128, 2.0**128  # bounds on ‖M‖_F² between rescales


class _ScaledProduct:
    """A running product ``P = 2**e * M``, batched over leading dimensions.

    Each batch entry's ``M`` is rescaled by an exact power of two whenever its
    Frobenius norm leaves ``[2**-64, 2**64]`` (or its sum of squares underflows),
    and every entry is rescaled and flushed (entries below ``2**-600`` of its
    largest one set to 0) every ``_FLUSH_EVERY`` steps: an entry's numbers do
    not depend on what it is batched with.
    """

    __slots__ = ("M", "_count", "e", "sumsq")

    def __init__(self, n: int, batch_shape: tuple[int, ...]) -> None:
        self.M = np.broadcast_to(np.eye(n), (*batch_shape, n, n)).copy()
        self.e = np.zeros(batch_shape, dtype=np.int64)
        self.sumsq = np.full(batch_shape, float(n))
        self._count = 0

    @staticmethod
    def _rescaled(M: FloatArray) -> tuple[FloatArray, NDArray[np.int64], NDArray[np.bool_]]:
        """``M / 2**exp`` with each entry's peak in [1/2, 1), tiny entries flushed to 0."""
        A = np.abs(M)
        peak = A.max(axis=(-2, -1))
        zero = peak == 0.0
        _, exp = np.frexp(np.where(zero, 1.0, peak))
        exp = exp[..., None, None]
        small = A < np.ldexp(_FLUSH, exp)  # relative to the peak, before scaling
        out = np.ldexp(M, -exp)
        np.copyto(out, 0.0, where=small)
        return out, exp[..., 0, 0], zero

    def _rescale_and_flush(self, need: NDArray[np.bool_] | None = None) -> None:
        """Rescale every batch entry, or only those in ``need`` (so that an entry's
        arithmetic never depends on the other entries it is batched with)."""
        if need is None:
            self.M, exp, zero = self._rescaled(self.M)
            self.e += exp
            self.e[zero] = 0  # an exactly zero product stays exactly zero
        else:
            sub, exp, zero = self._rescaled(self.M[need])
            self.M[need] = sub
            e = self.e[need] + exp
            e[zero] = 0
            self.e[need] = e
        self.sumsq = np.einsum("...ij,...ij->...", self.M, self.M)

    def step(self, steps: Steps, t: int, *, transpose: bool = False) -> None:
        """Multiply by :math:`J_t` (or :math:`J_t^\top`, building a product from the end)."""
        self.M = (steps.apply_transpose if transpose else steps.apply)(t, self.M)
        self.sumsq = np.einsum("...ij,...ij->...", self.M, self.M)
        self._count += 1
        if not np.all(np.isfinite(self.sumsq)):
            raise NumericalError(
                f"the product overflowed at step {t}: a single Jacobian's entries are "
                "beyond float64's range; rescale the weights"
            )
        if self._count % _FLUSH_EVERY == 0:
            self._rescale_and_flush()
            return
        # A sum of squares of 0 may be an underflow (entries below 1e-154 after one
        # step with φ' ≈ 1e-298), not an exactly zero product: rescale it too.
        need = ~((self.sumsq > _LOW) & (self.sumsq < _HIGH))
        if need.any():
            self._rescale_and_flush(need if need.ndim else None)

    def keep(self, mask: NDArray[np.bool_]) -> None:
        """Drop the batch entries where ``mask`` is false (1-D batch only)."""
        self.M, self.e, self.sumsq = self.M[mask], self.e[mask], self.sumsq[mask]

    def log10_frobenius(self) -> NDArray[np.float64]:
        with np.errstate(divide="ignore"):
            out: FloatArray = 0.5 * np.log10(self.sumsq) + self.e * LOG10_2
        return out

    def log10_norm(self, index: Any = ...) -> NDArray[np.float64]:
        """Exact log10 σ₁ (−inf for an exactly zero product), of ``M[index]``."""
        s1 = np.linalg.svd(self.M[index], compute_uv=False)[..., 0]
        with np.errstate(divide="ignore"):
            out: FloatArray = np.log10(s1) + self.e[index] * LOG10_2
        return out


def _scalar_or_array(x: NDArray[np.float64]) -> float | NDArray[np.float64]:
    return float(x) if x.ndim == 0 else x


class _Ledger:
    r"""The rounding of a forward product, recorded while it runs, and its bound.

    The product is kept as :math:`\hat P_t = 2^{e_t} M_t`. Multiplying ``M`` by
    :math:`J_t` errs by at most :math:`c\,(u\,N_t \|M_{t-1}\|_F + n\,2^{-1074})`
    in the Frobenius norm, with ``c = n + 8`` roundings per entry
    (:meth:`~gradscope.numeric.steps.Steps.log10_rounding_scale`) and the
    second term for entries that underflow (each operation loses at most half
    the smallest subnormal, 2⁻¹⁰⁷⁵); a flush adds at most
    :math:`n\,2^{-600} \|M_t\|_F`, which is folded into ``c u``. A step with
    :math:`J_t = 0` or :math:`M_{t-1} = 0` is exact. To first order the error
    of step t reaches the end through :math:`Q_t = J_{end} \cdots J_{t+1}`:

    .. math:: \|\hat P - P\|_2 \le \sum_t \|Q_t\|_2\, 2^{e_{t-1}}\,
              c\,(u\,N_t \|M_{t-1}\|_F + n\,2^{-1074}) .

    With random access :math:`\|Q_t\|_2 \le \|\hat Q_t\|_F` comes from a
    second pass from the end (:meth:`Steps.apply_transpose`; where the
    computed :math:`\hat Q_t` is zero, :math:`\prod_{s>t} N_s` is used instead,
    which is zero only past an exactly zero step). A stream, which cannot be
    read twice, uses :math:`\|Q_t\|_2 \le \prod_{s>t} N_s`, summed as it goes,
    which can be far looser. The smaller of the two sums is used.
    """

    __slots__ = ("c", "local", "log_n", "log_running", "n")

    def __init__(self, n: int, batch_shape: tuple[int, ...]) -> None:
        self.n = n
        self.c = (n + 8) * _UNIT_ROUNDOFF + n * _FLUSH
        self.local: list[FloatArray] = []  # log10 of step t's error term, t = start+1, …
        self.log_n: list[FloatArray] = []  # log10 N_t
        self.log_running = np.full(batch_shape, -np.inf)  # log10 Σ_t Π_{s>t} N_s · local_t

    def record(self, steps: Steps, t: int, product: _ScaledProduct) -> None:
        """Before ``product`` takes step ``t``: that step's rounding and underflow."""
        log_n = steps.log10_rounding_scale(t)
        with np.errstate(divide="ignore"):
            log_m = 0.5 * np.log10(product.sumsq)  # -inf exactly when M = 0
            rounding = math.log10(self.c) + log_n + log_m
            underflow = math.log10((self.n + 8) * self.n * _TINY)
        exact = np.isneginf(log_n) | np.isneginf(log_m)
        local = np.where(exact, -np.inf, log10_add(rounding, np.full_like(rounding, underflow)))
        local = local + product.e * LOG10_2
        self.local.append(local)
        self.log_n.append(log_n)
        with np.errstate(invalid="ignore"):
            self.log_running = log10_add(self.log_running + log_n, local)

    def log10_error(self, steps: Steps, start: int, log10_norm: FloatArray) -> FloatArray:
        r"""The bound on :math:`|\Delta \log_{10} \sigma_1|`: NaN for an exact zero.

        ``log10_norm`` is the computed :math:`\log_{10} \sigma_1` after the
        recorded steps ``start+1 … start+len(local)``.
        """
        total = self.log_running
        if steps.T is not None:  # a second pass from the end: ‖Q_t‖_F at every t
            back = _ScaledProduct(steps.n, steps.batch_shape)
            summed = np.full(steps.batch_shape, -np.inf)
            after = np.zeros(steps.batch_shape)  # log10 Π_{s>t} N_s
            for j in range(len(self.local) - 1, -1, -1):
                log_q = back.log10_frobenius()
                log_q = np.where(np.isneginf(log_q), after, log_q)
                summed = log10_add(summed, log_q + self.local[j])
                back.step(steps, start + j + 1, transpose=True)
                after = after + self.log_n[j]
            total = np.minimum(total, summed)
        with np.errstate(over="ignore", invalid="ignore"):
            relative = 10.0 ** (total - log10_norm) + self.n * _UNIT_ROUNDOFF  # + the SVD
        err = log10_bounds(SAFETY * relative, log10_norm * LN10)
        zero = np.isneginf(log10_norm)
        exact = zero & np.isneginf(total)
        if steps.T is not None and np.any(zero & ~exact):
            exact |= zero & _zero_pattern(steps, start, start + len(self.local))
        out: FloatArray = np.where(zero, np.where(exact, np.nan, np.inf), err)
        return out


def _zero_pattern(steps: Steps, start: int, end: int) -> NDArray[np.bool_]:
    """Whether the zero patterns of the factors alone force an exactly zero product.

    The exact product can be nonzero only where the boolean product of the
    factors' patterns (:meth:`Steps.nonzero_pattern`) is; counts of paths are
    multiplied in float64 as 0/1 matrices, renormalised to stay exact.
    """
    B = np.broadcast_to(np.eye(steps.n), (*steps.batch_shape, steps.n, steps.n))
    for t in range(start + 1, end + 1):
        B = (steps.nonzero_pattern(t).astype(np.float64) @ B > 0.0).astype(np.float64)
    out: NDArray[np.bool_] = ~np.any(B > 0.0, axis=(-2, -1))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SpectralNorm:
    r"""The top singular value of a product, with the bound on its error.

    Attributes
    ----------
    log10_norm : float or ndarray
        :math:`\log_{10} \|J_{end} \cdots J_{start+1}\|_2` (batch shape);
        ``-inf`` for a product that is exactly zero.
    log10_error : float or ndarray
        A first-order bound on the error of ``log10_norm`` against the exact
        product of the stored float64 step data, times the safety factor of
        :data:`gradscope.numeric.graded.bounds.SAFETY` (docs: "How exact is exact");
        ``inf`` where rounding may have decided the value, ``nan`` for an exact
        zero (every term of the bound is exactly zero).
    factors : int
        ``end - start``.
    """

    log10_norm: float | FloatArray
    log10_error: float | FloatArray
    factors: int


def compute_spectral_norm(
    jacobians: Steps | ArrayLike | Iterable[ArrayLike],
    *,
    start: int = 0,
    end: int | None = None,
) -> SpectralNorm:
    r""":func:`log10_product_norm` with the error bound it computed.

    The bound needs a second pass over the factors, from the end, so this costs
    about twice :func:`log10_product_norm`; for a stream (read once) the
    bound comes from the first pass alone and can be far looser (see
    ``_Ledger``, and docs: "How exact is exact").

    Examples
    --------
    >>> import numpy as np
    >>> J = np.broadcast_to(0.9 * np.eye(3), (10000, 3, 3))
    >>> r = compute_spectral_norm(J)
    >>> round(r.log10_norm, 6), bool(1e-11 < r.log10_error < 1e-9)
    (-457.574906, True)
    """
    steps = as_steps(jacobians)
    start, end = check_range(start, end, steps.T)
    product = _ScaledProduct(steps.n, steps.batch_shape)
    ledger = _Ledger(steps.n, steps.batch_shape)
    for t in _window(steps, start, end):
        ledger.record(steps, t, product)
        product.step(steps, t)
    log10_norm = product.log10_norm()
    return SpectralNorm(
        log10_norm=_scalar_or_array(log10_norm),
        log10_error=_scalar_or_array(ledger.log10_error(steps, start, log10_norm)),
        factors=len(ledger.local),
    )


def log10_product_norm(
    jacobians: Steps | ArrayLike | Iterable[ArrayLike],
    *,
    start: int = 0,
    end: int | None = None,
) -> float | FloatArray:
    r"""log10 of :math:`\|J_{end} \cdots J_{start+1}\|_2`, without underflow.

    Parameters
    ----------
    jacobians : Steps, (T, n, n) array_like, or iterable of (n, n) arrays
        The step Jacobians :math:`J_1, \dots, J_T` (leading batch dimensions
        allowed for Steps and arrays, e.g. ``(B, T, n, n)``).
    start, end : int, optional
        The product :math:`\partial s_{end}/\partial s_{start}` has
        ``end - start`` factors; ``end`` defaults to T.

    Returns
    -------
    float or ndarray
        A float, or an array of the batch shape; ``-inf`` for an exactly
        singular product such as a relu network whose units are all off.

    Raises
    ------
    ConfigError
        For an empty or out-of-range window or malformed Jacobians.

    Examples
    --------
    0.9 ** 10000 underflows float64, its log10 does not:

    >>> import numpy as np
    >>> J = np.broadcast_to(0.9 * np.eye(3), (10000, 3, 3))
    >>> round(log10_product_norm(J), 6)
    -457.574906
    """
    steps = as_steps(jacobians)
    start, end = check_range(start, end, steps.T)
    product = _ScaledProduct(steps.n, steps.batch_shape)
    for t in _window(steps, start, end):
        product.step(steps, t)
    return _scalar_or_array(product.log10_norm())


def _window(steps: Steps, start: int, end: int | None) -> Iterable[int]:
    """The step indices start+1..end, pulling a stream through its start."""
    if steps.T is None:  # a stream: consume the factors before start
        for t in range(1, start + 1):
            steps.matrix(t)
        t = start + 1
        while end is None or t <= end:
            try:
                steps.matrix(t)
            except IndexError:
                if end is not None:
                    raise ConfigError(f"the Jacobians ended before end={end}") from None
                return
            yield t
            t += 1
    else:
        yield from range(start + 1, (end if end is not None else steps.T) + 1)


def log10_norm_trajectory(
    jacobians: Steps | ArrayLike | Iterable[ArrayLike],
    *,
    start: int = 0,
    end: int | None = None,
) -> FloatArray:
    r"""log10 :math:`\|\partial s_t / \partial s_{start}\|_2` for ``t = start+1 … end``.

    Exact at every t (one small SVD per step), so it costs about twice
    :func:`log10_product_norm`.

    Returns
    -------
    (..., end - start) ndarray
        Entry ``j`` is the norm of the product of the first ``j + 1`` factors.

    Examples
    --------
    >>> import numpy as np
    >>> J = np.broadcast_to(0.5 * np.eye(2), (3, 2, 2))
    >>> log10_norm_trajectory(J).round(6).tolist()
    [-0.30103, -0.60206, -0.90309]
    """
    steps = as_steps(jacobians)
    start, end = check_range(start, end, steps.T)
    product = _ScaledProduct(steps.n, steps.batch_shape)
    out = []
    for t in _window(steps, start, end):
        product.step(steps, t)
        out.append(product.log10_norm())
    return np.stack(out, axis=-1)


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonScan:
    r"""What one pass over a product found.

    Attributes
    ----------
    log10_norm : (...) ndarray
        log10 :math:`\|\partial s_{start+k}/\partial s_{start}\|_2` at ``k = norm_at``.
    log10_error : (...) ndarray
        Its error bound, as :attr:`SpectralNorm.log10_error`.
    thresholds : tuple of float
    horizons : (..., len(thresholds)) int ndarray
        The first k with :math:`\|\partial s_{start+k}/\partial s_{start}\|_2 < θ`,
        or −1 when not reached within ``steps_scanned`` steps.
    steps_scanned : int
        How many factors the scan multiplied (the cap when some horizon was not
        reached).
    """

    log10_norm: FloatArray
    log10_error: FloatArray
    thresholds: tuple[float, ...]
    horizons: NDArray[np.int64]
    steps_scanned: int


def scan_product(
    steps: Steps,
    *,
    norm_at: int,
    thresholds: Sequence[float] = (),
    cap: int | None = None,
    start: int = 0,
) -> HorizonScan:
    r"""One pass: the norm after ``norm_at`` factors and the memory horizons.

    Multiplies :math:`J_{start+1}, J_{start+2}, \dots` until both ``norm_at``
    factors have been taken and every batch entry's norm has fallen below every
    threshold, or ``cap`` factors (default: all available) have been taken.

    The horizon test is exact but cheap: the bracket ``‖P v‖ ≤ ‖P‖₂ ≤ ‖P‖_F``
    (v a unit vector from a warm-started power iteration) decides most
    steps, and an SVD settles the rest.

    Parameters
    ----------
    steps : Steps
    norm_at : int
        Number of factors at which to report the exact spectral norm.
    thresholds : sequence of float
        Memory-horizon thresholds θ in (0, ∞).
    cap : int, optional
        The most factors to take; at least ``norm_at``.
    start : int
        Index of the starting state s_start.

    Returns
    -------
    HorizonScan
    """
    T = steps.T
    limit = (T - start) if T is not None else None
    if cap is None:
        cap = limit if limit is not None else norm_at
    cap = max(cap, norm_at)
    if limit is not None and cap > limit:
        raise ConfigError(f"cannot scan {cap} steps from start={start}: only T={T} are given")
    check_range(start, start + norm_at, T)
    log_theta = np.log10(np.asarray(thresholds, dtype=np.float64))
    batch = steps.batch_shape
    n = steps.n
    horizons = np.full((*batch, len(log_theta)), -1, dtype=np.int64)
    log10_norm = np.full(batch, np.nan)
    # Entries that are finished (norm taken, every horizon found) are dropped from
    # the batch as they finish, when the batch is one-dimensional: `live` maps the
    # remaining entries to their places, `found` holds their horizons.
    live: Any = np.arange(batch[0]) if len(batch) == 1 else ...
    found = horizons[live].copy()
    half_log_n = 0.5 * math.log10(n)
    margin = 1e-12  # float noise in the cheap bounds; ties are settled by the SVD
    product = _ScaledProduct(n, batch)
    ledger, all_steps = _Ledger(n, batch), steps
    # Power-iteration vectors, warm-started: ‖M v‖ ≤ σ₁ is a lower bound that
    # becomes tight as the top right singular vector of the product settles.
    v = np.full((*batch, n, 1), 1.0 / math.sqrt(n))
    k = 0
    for k in range(1, cap + 1):
        if k <= norm_at:
            ledger.record(steps, start + k, product)
        product.step(steps, start + k)
        if k == norm_at:
            log10_norm[live] = product.log10_norm()
        open_ = found < 0
        if not open_.any():
            if k >= norm_at:
                break
            continue
        # ‖M‖_F/√n ≤ ‖M‖₂ ≤ ‖M‖_F decides most steps at the cost of one reduction.
        log_upper = product.log10_frobenius()[..., None]
        below = open_ & (log_upper < log_theta - margin)
        maybe = open_ & ~below & (log_upper - half_log_n < log_theta + margin)
        if maybe.any():
            rows = maybe.any(axis=-1)
            M = product.M[rows]
            u = M @ v[rows]
            w = np.swapaxes(M, -1, -2) @ u
            norm_w = np.sqrt(np.sum(w * w, axis=(-2, -1)))[..., None, None]
            v[rows] = np.where(norm_w > 0.0, w / np.where(norm_w > 0.0, norm_w, 1.0), v[rows])
            with np.errstate(divide="ignore"):
                log_lower = (
                    0.5 * np.log10(np.sum(u * u, axis=(-2, -1))) + product.e[rows] * LOG10_2
                )
            unsure = np.zeros_like(maybe)
            unsure[rows] = maybe[rows] & (log_lower[..., None] < log_theta + margin)
            if unsure.any():
                rows = unsure.any(axis=-1)
                exact = np.full(rows.shape, np.nan)
                exact[rows] = log10_norm[live][rows] if k == norm_at else product.log10_norm(rows)
                below |= unsure & (exact[..., None] < log_theta)
        found[below] = k
        if len(batch) == 1 and k >= norm_at:
            keep = (found < 0).any(axis=-1)
            if not keep.all() and keep.any():
                try:
                    steps = steps.take(np.nonzero(keep)[0])
                except NotImplementedError:  # this kind of steps cannot drop entries
                    continue
                horizons[live] = found
                live, found, v = live[keep], found[keep], v[keep]
                product.keep(keep)
    horizons[live] = found
    return HorizonScan(
        log10_norm=log10_norm,
        log10_error=ledger.log10_error(all_steps, start, log10_norm),
        thresholds=tuple(float(x) for x in thresholds),
        horizons=horizons,
        steps_scanned=k,
    )
