r"""Rigorous enclosures of the singular values of an exact Jacobian product (python-flint).

:func:`~gradscope.numeric.spectrum.compute_singular_values` gives every
:math:`\log_{10}\sigma_i` of :math:`P = J_{end} \cdots J_{start+1}` with a
first-order error bound; :func:`enclose_log10_singular_values` *proves* an
interval for each, against the exact product of the stored float64 step data:

1. every float64 is an exact dyadic rational :math:`m \cdot 2^e`, so each
   :math:`J_t` is exactly :math:`N_t 2^{E_t}` with an integer matrix
   :math:`N_t` (for an RNN, :math:`\operatorname{diag}(d_t) W_{hh}` is formed
   from the stored ``dphi`` and ``W_hh`` exactly, not from the float64-rounded
   products ``d_{t,i} W_{ij}`` that the float engine multiplies);
2. :math:`P = N 2^E` exactly, multiplying the :math:`N_t` pairwise (binary
   splitting) in python-flint's ``fmpz_mat``;
3. the characteristic polynomial of :math:`G = N^\top N` exactly (``charpoly``);
   its roots are the :math:`\sigma_i(N)^2`. The root 0 has multiplicity
   n − rank(P) (G is symmetric), so exact zeros and the exact rank come out of
   the coefficients without any tolerance;
4. the other roots isolated rigorously (``fmpz_poly.complex_roots``, arb balls
   at ``precision`` bits of relative accuracy), then
   :math:`\log_{10}\sigma_i = (\tfrac12 \ln\lambda_i + E \ln 2)/\ln 10` in ball
   arithmetic, the endpoints rounded outward to float64.

The cost grows with the bit length of the exact product's integers (about 53
to 110 bits per factor, more when a factor's entries span many binades) and
steeply with n (the characteristic polynomial dominates), so the function first
*estimates* that bit length from the exponents alone and refuses, before any
big-integer work, a product that would take more than about half a minute
(:func:`default_max_bits`). This is a cross-check for small n, not the default
route to a spectrum.

python-flint is the ``certify`` extra (``pip install 'gradscope[certify]'``);
it is imported inside the function.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError, NumericalError, SizeError
from gradscope.numeric.steps import RNNSteps, Steps, unbatched_steps

__all__ = [
    "DEFAULT_PRECISION",
    "EnclosureSizeError",
    "SpectrumEnclosure",
    "default_max_bits",
    "enclose_log10_singular_values",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Bits of relative accuracy asked of each root of the characteristic polynomial.
DEFAULT_PRECISION = 128

# Measured on the development machine (python-flint 0.9, one core of a 2-core VM;
# see "Rigorous enclosures" in docs/guide/accuracy.md): the estimated product bit
# length B at which the exact part (Gram matrix, characteristic polynomial, root
# isolation) took about 5 s for random integer matrices of that size, for each n.
# Between the points the limit is interpolated in log-log. Whole runs at the limit
# took 1-12 s (n = 2..64, tanh RNN products); the cost grows about as n**4 B**1.3.
_LIMITS: tuple[tuple[int, int], ...] = (
    (2, 20_000_000),
    (3, 8_000_000),
    (4, 3_000_000),
    (5, 1_200_000),
    (6, 500_000),
    (8, 200_000),
    (10, 100_000),
    (12, 30_000),
    (16, 12_000),
    (24, 6_000),
    (32, 4_000),
    (48, 2_000),
    (64, 1_000),
)


class EnclosureSizeError(SizeError):
    """The exact product is too large to enclose within the bit limit (refused before work).

    Attributes
    ----------
    estimated_bits : int
        The estimated bit length of the exact product's integer entries.
    max_bits : int
        The limit that refused it.
    fitting_start : int or None
        The smallest ``start`` whose window ``start..end`` fits under the limit
        (None when not even the last factor alone fits).
    """

    def __init__(
        self, message: str, *, estimated_bits: int, max_bits: int, fitting_start: int | None
    ) -> None:
        super().__init__(message)
        self.estimated_bits = estimated_bits
        self.max_bits = max_bits
        self.fitting_start = fitting_start


@dataclass(frozen=True, slots=True, kw_only=True)
class SpectrumEnclosure:
    r"""Proved intervals for every :math:`\log_{10}\sigma_i` of :math:`J_{end} \cdots J_{start+1}`.

    Attributes
    ----------
    log10_lower, log10_upper : (n,) ndarray
        Descending: :math:`\text{log10\_lower}_i \le \log_{10}\sigma_i \le
        \text{log10\_upper}_i` for the exact product of the stored float64
        step data (float64 endpoints rounded outward). Both are ``-inf``
        exactly for the n − rank singular values that are exactly zero.
    rank : int
        The exact rank of the product (the number of nonzero σ_i).
    start, end : int
        The window: the product :math:`J_{end} \cdots J_{start+1}`.
    hidden : int
        n, the size of each Jacobian.
    precision_bits : int
        Bits of relative accuracy asked of the roots of the characteristic polynomial.
    product_bits : int
        The largest bit length of an integer entry of the exact product ``N``
        (:math:`P = N 2^E`); 0 for a zero product.
    estimated_bits : int
        The upper estimate of ``product_bits`` made before the work, which
        the size limit was applied to.
    """

    log10_lower: FloatArray
    log10_upper: FloatArray
    rank: int
    start: int
    end: int
    hidden: int
    precision_bits: int
    product_bits: int
    estimated_bits: int

    def __post_init__(self) -> None:
        for name in ("log10_lower", "log10_upper"):
            arr = np.array(getattr(self, name), dtype=np.float64, copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        if self.log10_lower.shape != (self.hidden,) or self.log10_upper.shape != (self.hidden,):
            raise ConfigError(f"an enclosure needs n = {self.hidden} lower and upper bounds")

    @property
    def steps(self) -> int:
        """The number of factors, ``end - start``."""
        return self.end - self.start

    @property
    def width(self) -> FloatArray:
        """``log10_upper - log10_lower`` (NaN beside an exact zero)."""
        finite = np.isfinite(self.log10_upper)
        return np.where(finite, self.log10_upper - np.where(finite, self.log10_lower, 0.0), np.nan)

    def contains(self, log10_values: ArrayLike) -> NDArray[np.bool_]:
        r"""Whether each given :math:`\log_{10}\sigma_i` lies in its interval."""
        v = np.asarray(log10_values, dtype=np.float64)
        if v.shape != (self.hidden,):
            raise ConfigError(f"give n = {self.hidden} values, got shape {v.shape}")
        zero = self.log10_upper == -math.inf
        inside = (self.log10_lower <= v) & (v <= self.log10_upper)
        return np.where(zero, v == -math.inf, inside)

    def intervals(self) -> list[list[float] | None]:
        """``[lower, upper]`` per singular value, None for an exact zero (the JSON form)."""
        return [
            None if hi == -math.inf else [float(lo), float(hi)]
            for lo, hi in zip(self.log10_lower.tolist(), self.log10_upper.tolist(), strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: ``log10_enclosure`` as :meth:`intervals`, and how it was obtained."""
        return {
            "product": f"dh_{self.end}/dh_{self.start}",
            "log10_enclosure": self.intervals(),
            "rank": self.rank,
            "precision_bits": self.precision_bits,
            "product_bits": self.product_bits,
            "estimated_bits": self.estimated_bits,
            "method": "exact product of the stored float64 step data (fmpz_mat), roots of "
            "charpoly(N^T N) isolated in ball arithmetic (python-flint)",
        }


def default_max_bits(n: int) -> int:
    """The default limit on the estimated product bit length for n × n Jacobians.

    Chosen from timings on the development machine so that an enclosure at the
    limit takes seconds, not minutes (see "Rigorous enclosures" in the accuracy
    guide); interpolated in log-log between the measured sizes and extrapolated
    as :math:`n^{-2.5}` beyond n = 64.

    Examples
    --------
    >>> default_max_bits(2) > default_max_bits(6) > default_max_bits(16)
    True
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    ns = [a for a, _ in _LIMITS]
    if n <= ns[0]:
        return _LIMITS[0][1]
    if n >= ns[-1]:
        return max(1, int(_LIMITS[-1][1] * (ns[-1] / n) ** 2.5))
    i = next(k for k, a in enumerate(ns) if a >= n)
    if ns[i] == n:
        return _LIMITS[i][1]
    (n0, b0), (n1, b1) = _LIMITS[i - 1], _LIMITS[i]
    frac = math.log(n / n0) / math.log(n1 / n0)
    return int(math.exp(math.log(b0) + frac * (math.log(b1) - math.log(b0))))


# --- exact step data ------------------------------------------------------------------


def _dyadic(a: FloatArray) -> tuple[IntArray, IntArray]:
    """``a = m · 2**e`` elementwise and exactly, ``m`` odd (``m = e = 0`` for a zero)."""
    frac, ex = np.frexp(a)
    m = np.ldexp(frac, 53).astype(np.int64)  # exact: 53 significant bits at most
    e = ex.astype(np.int64) - 53
    nz = m != 0
    low = np.where(nz, m & -m, 1)  # the lowest set bit: strip the trailing zeros
    tz = np.frexp(low.astype(np.float64))[1].astype(np.int64) - 1
    return np.where(nz, m >> tz, 0), np.where(nz, e + tz, 0)


def _bit_length(m: IntArray) -> IntArray:
    """Bit lengths of |m| (exact: |m| < 2**53)."""
    return np.frexp(np.abs(m).astype(np.float64))[1].astype(np.int64)


@dataclass(frozen=True, slots=True)
class _Factors:
    """The window's factors as dyadic data: J_t = diag(2**ed m_d) (2**ew m_w), or explicit."""

    mant: IntArray  # (k, n, n) explicit, or (k, n) row scales of W
    expo: IntArray
    w_mant: IntArray | None = None  # (n, n) for an RNN
    w_expo: IntArray | None = None


def _collect(steps: Steps, start: int, end: int | None) -> _Factors:
    """The stored float64 data of J_{start+1}..J_end, checked finite, as exact dyadics."""
    if isinstance(steps, RNNSteps):
        W = np.asarray(steps.W_hh, dtype=np.float64)
        d = np.asarray(steps.dphi, dtype=np.float64)[start:end]
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(d))):
            raise ConfigError("the step data (W_hh or dphi) contain NaN or Inf")
        dm, de = _dyadic(d)
        wm, we = _dyadic(W)
        return _Factors(dm, de, wm, we)
    mats = [np.asarray(J, dtype=np.float64) for J in steps.matrices(start, end)]
    if not mats:
        raise ConfigError("no factors in the window: nothing to enclose")
    J = np.stack(mats)
    if not np.all(np.isfinite(J)):
        raise ConfigError("the Jacobians contain NaN or Inf")
    m, e = _dyadic(J)
    return _Factors(m, e)


def _factor_bits(f: _Factors) -> tuple[IntArray, NDArray[np.bool_]]:
    """Per factor: the bit length of its integer matrix N_t, and whether it is exactly zero."""
    if f.w_mant is None:
        bits = _bit_length(f.mant) + f.expo  # (k, n, n): top bit position of each entry
        nz = f.mant != 0
        k = f.mant.shape[0]
        top = np.where(nz, bits, np.iinfo(np.int64).min).reshape(k, -1).max(axis=1)
        low = np.where(nz, f.expo, np.iinfo(np.int64).max).reshape(k, -1).min(axis=1)
        zero = ~nz.reshape(k, -1).any(axis=1)
        return np.where(zero, 0, top - low), zero
    assert f.w_expo is not None
    w_nz = f.w_mant != 0
    if not w_nz.any():
        k = f.mant.shape[0]
        return np.zeros(k, dtype=np.int64), np.ones(k, dtype=bool)
    # Entry (i, j) of N_t is (m_d[i] 2**(e_d[i] - low_d)) (m_w[i, j] 2**(e_w[i, j] - low_w))
    # with low_d, low_w the smallest exponents of d_t and of W (as _integer_factors
    # builds it): its bit length is at most bits(m_d[i]) + e_d[i] - low_d plus the
    # row's largest bits(m_w) + e_w - low_w, over rows where both are nonzero.
    big = np.iinfo(np.int64)
    w_top = np.where(w_nz, _bit_length(f.w_mant) + f.w_expo, big.min).max(axis=1)  # (n,)
    w_low = int(f.w_expo[w_nz].min())
    d_nz = f.mant != 0
    d_low = np.where(d_nz, f.expo, big.max).min(axis=1)  # (k,)
    row_ok = w_nz.any(axis=1)[None, :] & d_nz  # (k, n)
    top = np.where(row_ok, _bit_length(f.mant) + f.expo + w_top[None, :], big.min).max(axis=1)
    zero = ~row_ok.any(axis=1)
    return np.where(zero, 0, top - d_low - w_low), zero


def _estimate(bits: IntArray, n: int) -> IntArray:
    """Estimated product bits of each window ``j..k`` (suffix sums of bits, + log2 n a product)."""
    extra = math.ceil(math.log2(n)) if n > 1 else 0
    suffix = np.cumsum(bits[::-1])[::-1] + extra * np.arange(bits.size - 1, -1, -1)
    return suffix.astype(np.int64)


def _refuse(estimate: IntArray, limit: int, n: int, start: int, end: int) -> None:
    total = int(estimate[0])
    if total <= limit:
        return
    fits = np.flatnonzero(estimate <= limit)
    fitting = None if fits.size == 0 else start + int(fits[0])
    if fitting is None:
        shorter = (
            f"not even the last factor alone fits (about {int(estimate[-1]):,} bits): "
            f"a smaller n is needed"
        )
    else:
        shorter = (
            f"enclose a shorter window, start={fitting} (the last {end - fitting} of the "
            f"{end - start} factors)"
        )
    raise EnclosureSizeError(
        f"the exact product J_{end}⋯J_{start + 1} (n = {n}, {end - start} factors) would have "
        f"integer entries of about {total:,} bits, over the limit of {limit:,} bits for "
        f"n = {n} (seconds of exact arithmetic; the cost grows faster than linearly "
        f"beyond it): {shorter}, or raise max_bits to {total:,} to try anyway",
        estimated_bits=total,
        max_bits=limit,
        fitting_start=fitting,
    )


def _flint() -> Any:
    """python-flint, or a ConfigError that says how to install it."""
    try:
        import flint
    except ImportError:
        raise ConfigError(
            "rigorous enclosures of singular values need python-flint, the certify extra: "
            "pip install 'gradscope[certify]' (or pip install python-flint)"
        ) from None
    return flint


def _integer_factors(flint: Any, f: _Factors) -> list[tuple[Any, int]]:
    """Every factor exactly as ``(fmpz_mat N_t, E_t)`` with ``J_t = N_t · 2**E_t``."""
    n = f.mant.shape[-1]
    out: list[tuple[Any, int]] = []

    def ints(m: IntArray, e: IntArray) -> tuple[list[int], int]:
        nz = m != 0
        low = int(e[nz].min())
        shifts = (e - low).ravel().tolist()
        return [int(v) << s for v, s in zip(m.ravel().tolist(), shifts, strict=True)], low

    if f.w_mant is None:
        for m, e in zip(f.mant, f.expo, strict=True):
            flat, low = ints(m, e)
            out.append((flint.fmpz_mat(n, n, flat), low))
        return out
    assert f.w_expo is not None
    w_flat, w_low = ints(f.w_mant, f.w_expo)
    rows = [w_flat[i * n : (i + 1) * n] for i in range(n)]
    for m, e in zip(f.mant, f.expo, strict=True):
        d, d_low = ints(m, e)
        entries = [di * w for di, row in zip(d, rows, strict=True) for w in row]
        out.append((flint.fmpz_mat(n, n, entries), d_low + w_low))
    return out


def _product(level: list[tuple[Any, int]]) -> tuple[Any, int]:
    """``N_k ⋯ N_1`` and the summed exponent, by binary splitting (later factors on the left)."""
    while len(level) > 1:
        nxt = [
            (level[i + 1][0] * level[i][0], level[i][1] + level[i + 1][1])
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _float_down(flint: Any, x: Any) -> float:
    """The largest float64 <= the exact arb ``x``."""
    v = float(x)
    return math.nextafter(v, -math.inf) if flint.arb(v) > x else v


def _float_up(flint: Any, x: Any) -> float:
    """The smallest float64 >= the exact arb ``x``."""
    v = float(x)
    return math.nextafter(v, math.inf) if flint.arb(v) < x else v


def _root_enclosures(
    flint: Any, N: Any, E: int, n: int, precision: int
) -> tuple[int, list[tuple[float, float]]]:
    """The exact rank and the enclosures of log10 σ_i for the nonzero σ of ``N · 2**E``."""
    coeffs = (N.transpose() * N).charpoly().coeffs()  # low to high degree, exact
    zeros = next(i for i, c in enumerate(coeffs) if c != 0)  # multiplicity of the root 0
    rank = n - zeros
    if rank == 0:
        return 0, []
    poly = flint.fmpz_poly(coeffs[zeros:])
    old = flint.ctx.prec
    flint.ctx.prec = int(precision)
    try:
        ln2, ln10 = flint.arb(2).log(), flint.arb(10).log()
        out: list[tuple[float, float]] = []
        for root, mult in poly.complex_roots():
            lam = root.real  # the roots are real (G is symmetric): the true one is in here
            if not lam > 0:
                raise NumericalError(
                    f"a root of charpoly(NᵀN) was not isolated above 0 at {precision} bits "
                    f"({root}); retry with a larger precision"
                )
            lg = (lam.log() / 2 + E * ln2) / ln10
            out.extend([(_float_down(flint, lg.lower()), _float_up(flint, lg.upper()))] * mult)
    finally:
        flint.ctx.prec = old
    if len(out) != rank:
        raise NumericalError(f"{len(out)} nonzero roots for rank {rank}: isolation failed")
    return rank, sorted(out, key=lambda b: (b[1], b[0]), reverse=True)


def enclose_log10_singular_values(
    jacobians: Steps | ArrayLike | Iterable[ArrayLike],
    *,
    start: int = 0,
    end: int | None = None,
    max_bits: int | None = None,
    precision: int = DEFAULT_PRECISION,
) -> SpectrumEnclosure:
    r"""Proved intervals for every :math:`\log_{10}\sigma_i(J_{end} \cdots J_{start+1})`.

    Against the exact product of the stored float64 step data (see the module
    docstring for the method): for an :class:`~gradscope.numeric.steps.RNNSteps`
    the stored ``W_hh`` and ``dphi``, with :math:`\operatorname{diag}(d_t) W_{hh}`
    formed exactly; for any other Steps the float64 matrices its
    :meth:`~gradscope.numeric.steps.Steps.matrix` returns.

    Parameters
    ----------
    jacobians : Steps, (T, n, n) array_like or iterable of (n, n) arrays
        The step Jacobians :math:`J_1, \dots, J_T` (no batch dimensions).
    start, end : int, optional
        The window :math:`J_{end} \cdots J_{start+1}` (default: all T factors).
    max_bits : int, optional
        The most bits an integer entry of the exact product may have, as
        estimated from the exponents before any big-integer work; default
        :func:`default_max_bits` of n (seconds of work). Larger values are
        allowed; the cost grows about as :math:`n^4 B^{1.3}`.
    precision : int, optional
        Bits of relative accuracy of each root :math:`\sigma_i^2` (default 128:
        the intervals are a few float64 ulps wide, the outward rounding).

    Returns
    -------
    SpectrumEnclosure
        ``log10_lower[i] <= log10 σ_i <= log10_upper[i]``, descending, ``-inf``
        for both at the exact zeros; the exact rank.

    Raises
    ------
    ConfigError
        Bad input (shapes, non-finite values, an empty window, batch
        dimensions), or python-flint not installed.
    EnclosureSizeError
        A :class:`~gradscope.errors.ConfigError`: the estimated product is over
        ``max_bits``; raised before any big-integer work, naming a window that
        fits.
    NumericalError
        Root isolation failed (not observed; a larger ``precision`` may help).

    See Also
    --------
    gradscope.numeric.spectrum.compute_singular_values : the float64 engine,
        whose values and bounds these intervals check.

    Examples
    --------
    :math:`\operatorname{diag}(1/2, 1/4)^{1000}` has :math:`\sigma_1 = 2^{-1000}`
    exactly, and :math:`\log_{10} 2^{-1000} = -301.0299956639812` lies in the
    first interval:

    >>> import numpy as np
    >>> J = np.broadcast_to(np.diag([0.5, 0.25]), (1000, 2, 2))
    >>> enc = enclose_log10_singular_values(J)
    >>> bool(enc.log10_lower[0] <= -1000 * np.log10(2) <= enc.log10_upper[0])
    True
    >>> enc.rank
    2
    """
    steps, start, end_ = unbatched_steps(jacobians, start, end)
    if max_bits is not None and (
        isinstance(max_bits, bool) or not isinstance(max_bits, int | np.integer) or max_bits < 1
    ):
        raise ConfigError(f"max_bits must be a positive integer or None, got {max_bits!r}")
    if isinstance(precision, bool) or not isinstance(precision, int | np.integer):
        raise ConfigError(f"precision must be an integer number of bits, got {precision!r}")
    if not 53 <= precision <= 1_000_000:
        raise ConfigError(f"precision must be 53..1000000 bits, got {precision}")
    flint = _flint()
    n = steps.n
    factors = _collect(steps, start, end_)
    k = factors.mant.shape[0]
    end_ = start + k  # a stream's end is known once it has been read
    limit = default_max_bits(n) if max_bits is None else int(max_bits)
    bits, zero = _factor_bits(factors)
    estimate = _estimate(bits, n)
    common = {"start": start, "end": end_, "hidden": n, "precision_bits": int(precision)}
    if zero.any():  # an exactly zero factor: P = 0 (no size limit needed)
        minus = np.full(n, -np.inf)
        return SpectrumEnclosure(
            log10_lower=minus,
            log10_upper=minus,
            rank=0,
            product_bits=0,
            estimated_bits=0,
            **common,
        )
    _refuse(estimate, limit, n, start, end_)
    N, E = _product(_integer_factors(flint, factors))
    product_bits = max(abs(int(v)).bit_length() for v in N.entries())
    rank, found = _root_enclosures(flint, N, E, n, int(precision))
    lower = np.full(n, -np.inf)
    upper = np.full(n, -np.inf)
    for i, (lo, hi) in enumerate(found):
        lower[i], upper[i] = lo, hi
    return SpectrumEnclosure(
        log10_lower=lower,
        log10_upper=upper,
        rank=rank,
        product_bits=product_bits,
        estimated_bits=int(estimate[0]),
        **common,
    )
