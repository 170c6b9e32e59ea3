r"""Certified, not only computed: ball-arithmetic proofs for the bound and the counterexamples.

A replay recomputes a counterexample in float64; a *certificate* proves, in ball
arithmetic (python-flint's arb, the ``certify`` extra), that the exact numbers
behind the file contradict the claim — the enclosure of
:math:`\|\partial h_{end}/\partial h_{start}\|_2`, of ρ(W_hh) or of a gradient lies
strictly on the contradicting side — so the verdict is not a rounding artefact.
The float64 weights and inputs are exact dyadic rationals; everything computed
from them is enclosed (forward pass, φ and φ', Jacobians, their products,
spectral norms and radii, BPTT gradients; :mod:`gradscope.claims._balls`).

Precision adapts: each computation starts at 64 bits and doubles until the
enclosures decide the question (or reach the requested width), up to
``max_precision``; every result reports the precision it used. A fixed
``precision=`` turns adaptation off. Outputs are deterministic (no timings).

What each certificate proves is its ``statement``, in one line; where a claim's
contradiction is a floating-point phenomenon (clipping) or an exact identity
(weight sharing) the statement says precisely what is and is not proved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.claims import _balls as balls
from gradscope.claims.base import Counterexample
from gradscope.errors import ConfigError
from gradscope.model import RNN

__all__ = [
    "Certificate",
    "Enclosure",
    "certify_bound",
    "certify_counterexample",
    "enclose_log10_norm",
    "enclose_log10_spectral_norm",
    "enclose_spectral_radius",
]

START_PRECISION = 64
MAX_PRECISION = 4096
TOL = 1e-6  # default width asked of a log10 enclosure
FloatArray = NDArray[np.float64]
Ball = balls.Ball
Interval = tuple[Any, Any]  # exact arb endpoints
_DBL_MAX = float(np.finfo(np.float64).max)


@dataclass(frozen=True, slots=True, kw_only=True)
class Enclosure:
    """A proved interval ``lower ≤ x ≤ upper`` (float64 endpoints rounded outward).

    ``lower`` is ``-inf`` when only 0 ≤ x is proved for an x carried in log10.
    """

    lower: float
    upper: float
    precision_bits: int

    @property
    def width(self) -> float:
        return self.upper - self.lower

    def contains(self, x: float) -> bool:
        return bool(self.lower <= x <= self.upper)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
            "precision_bits": self.precision_bits,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate:
    """The outcome of a certification: what was proved, with the enclosures behind it.

    Attributes
    ----------
    subject : str
        ``"bound"`` or the claim id of a counterexample.
    certified : bool
        True when ``statement`` is a proof of the contradiction (or of the bound).
    statement : str
        One line: exactly what was proved — or why nothing was.
    enclosures : mapping of str to (float, float)
        Proved intervals, endpoints rounded outward; names say the scale (``log10_…``).
    precision_bits : int
        Working precision of the deciding run (0 when no ball arithmetic was done).
    details : mapping
        Counts and settings behind the statement.
    """

    subject: str
    certified: bool
    statement: str
    enclosures: Mapping[str, tuple[float, float]]
    precision_bits: int
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "enclosures", MappingProxyType(dict(self.enclosures)))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "certified": self.certified,
            "statement": self.statement,
            "precision_bits": self.precision_bits,
            "enclosures": {k: [_finite(a), _finite(b)] for k, (a, b) in self.enclosures.items()},
            "details": dict(self.details),
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None  # DESIGN.md §3: no ±Infinity in JSON


# ------------------------------------------------------------------- helpers


def _floats(iv: Interval) -> tuple[float, float]:
    return balls.float_down(iv[0]), balls.float_up(iv[1])


def _num(x: float, up: bool, digits: int = 6) -> str:
    """x rounded toward +inf (up) or -inf, for statements that must stay true."""
    if not math.isfinite(x):
        return "−∞" if x < 0 else "∞"
    with localcontext() as ctx:
        ctx.prec = 800  # enough for any float64 at this many decimals
        q = Decimal(x).quantize(Decimal(1).scaleb(-digits), ROUND_CEILING if up else ROUND_FLOOR)
    return str(q)


def _sci(x: float, up: bool) -> str:
    if x == 0 or not math.isfinite(x):
        return _num(x, up, 0)
    with localcontext() as ctx:
        ctx.prec, ctx.rounding = 3, ROUND_CEILING if up else ROUND_FLOOR
        return f"{+Decimal(x):.2E}".replace("E", "e")


def _narrow(iv: Interval, tol: float) -> bool:
    """The log10 enclosure iv is at most tol wide, or is exactly {-inf} (an exact zero)."""
    zero = iv[1] < 0 and not iv[1].is_finite()
    return bool(zero or iv[1] - iv[0] <= tol)


def _gt(iv: Interval, c: Any) -> bool | None:
    """True if every point of iv exceeds c, False if none does, None if undecided."""
    return True if iv[0] > c else False if iv[1] <= c else None


def _lt(iv: Interval, c: Any) -> bool | None:
    return True if iv[1] < c else False if iv[0] >= c else None


def _and(*xs: bool | None) -> bool | None:
    return False if False in xs else None if None in xs else True


def _or(*xs: bool | None) -> bool | None:
    return True if True in xs else None if None in xs else False


def _bits(precision: int | None, max_precision: int) -> tuple[int, int]:
    for name, v in (("precision", precision), ("max_precision", max_precision)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 53):
            raise ConfigError(f"{name} must be an integer number of bits >= 53, got {v!r}")
    if precision is not None:
        return precision, precision
    return min(START_PRECISION, max_precision), max_precision


def _check_run(
    rnn: RNN, inputs: ArrayLike, h0: ArrayLike | None, start: int, end: int | None
) -> tuple[FloatArray, FloatArray, int, int]:
    x = np.asarray(inputs, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != rnn.input_size:
        raise ConfigError(f"inputs must have shape (T, {rnn.input_size}), T >= 1, got {x.shape}")
    n = rnn.hidden_size
    h = np.zeros(n) if h0 is None else np.asarray(h0, dtype=np.float64)
    if h.shape != (n,):
        raise ConfigError(f"h0 must have shape ({n},), got {h.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(h))):
        raise ConfigError("inputs and h0 must be finite")
    T = x.shape[0]
    end = T if end is None else end
    for name, v in (("start", start), ("end", end)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"{name} must be an integer, got {v!r}")
    if not 0 <= start < end <= T:
        raise ConfigError(f"need 0 <= start < end <= T = {T}, got start={start}, end={end}")
    return x, h, int(start), int(end)


# ------------------------------------------------------- primitives (public)


def enclose_log10_norm(
    rnn: RNN,
    inputs: ArrayLike,
    h0: ArrayLike | None = None,
    start: int = 0,
    end: int | None = None,
    *,
    tol: float = TOL,
    precision: int | None = None,
    max_precision: int = MAX_PRECISION,
) -> Enclosure:
    r"""Enclose log10 :math:`\|\partial h_{end}/\partial h_{start}\|_2` in ball arithmetic.

    Precision starts at 64 bits and doubles until the enclosure is at most
    ``tol`` wide (or ``max_precision``); the result is valid at any width.

    Raises
    ------
    ConfigError
        For malformed inputs, or when python-flint is missing.

    Examples
    --------
    0.9^10000 ≈ 1e-458 is far below float64 but enclosed exactly:

    >>> import math
    >>> import numpy as np
    >>> from gradscope.model import RNN
    >>> rnn = RNN(W_hh=0.9 * np.eye(2), W_xh=np.ones((2, 1)), activation="linear")
    >>> enc = enclose_log10_norm(rnn, np.zeros((10000, 1)))
    >>> enc.contains(10000 * math.log10(0.9)), enc.width < 1e-6
    (True, True)
    """
    x, h, start, end = _check_run(rnn, inputs, h0, start, end)
    act = rnn.activation.name

    def compute(bits: int) -> tuple[Interval, bool]:
        run = balls.Run.make(rnn.W_hh, rnn.W_xh, rnn.b, h, x, act, end)
        iv = run.log10_norm(start, end, tol)
        return iv, _narrow(iv, tol)

    return _adaptive_enclosure(compute, precision, max_precision)


def enclose_log10_spectral_norm(
    W: ArrayLike,
    *,
    tol: float = TOL,
    precision: int | None = None,
    max_precision: int = MAX_PRECISION,
) -> Enclosure:
    """Enclose log10 ‖W‖₂ (the largest singular value) of a float64 matrix."""
    A = _square(W)

    def compute(bits: int) -> tuple[Interval, bool]:
        M, e = balls.split(balls.ball_matrix(A))
        iv = balls.log10_bounds(*balls.norm_interval(M, e, tol))
        return iv, _narrow(iv, tol)

    return _adaptive_enclosure(compute, precision, max_precision)


def enclose_spectral_radius(
    W: ArrayLike,
    *,
    tol: float = TOL,
    precision: int | None = None,
    max_precision: int = MAX_PRECISION,
) -> Enclosure:
    """Enclose ρ(W) = max |λ| (not a norm), by rigorous eigenvalues and ‖W^k‖^(1/k)."""
    A = _square(W)

    def compute(bits: int) -> tuple[Interval, bool]:
        lo, hi = balls.spectral_radius_interval(balls.ball_matrix(A))
        return (lo, hi), bool(hi <= 0 or (lo > 0 and hi - lo <= tol * hi))

    return _adaptive_enclosure(compute, precision, max_precision)


def _adaptive_enclosure(
    compute: Callable[[int], tuple[Interval, bool]], precision: int | None, max_precision: int
) -> Enclosure:
    """Run ``compute`` at rising precision until it decides, as an :class:`Enclosure`."""
    lo_bits, hi_bits = _bits(precision, max_precision)
    iv, bits = balls.adaptive(compute, start=lo_bits, maximum=hi_bits)
    return _enclosure(iv, bits)


def _enclosure(iv: Interval, bits: int) -> Enclosure:
    lower, upper = _floats(iv)
    return Enclosure(lower=lower, upper=upper, precision_bits=bits)


def _square(W: ArrayLike) -> FloatArray:
    A = np.asarray(W, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ConfigError(f"W must be a square, non-empty matrix, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ConfigError("W contains NaN or Inf")
    return A


# ---------------------------------------------------------------- the bound


def certify_bound(
    rnn: RNN,
    inputs: ArrayLike,
    h0: ArrayLike | None = None,
    *,
    start: int = 0,
    end: int | None = None,
    tol: float = TOL,
    precision: int | None = None,
    max_precision: int = MAX_PRECISION,
) -> Certificate:
    r"""Prove the bound for one instance, by enclosures.

    :math:`\|\partial h_{end}/\partial h_{start}\|_2 \le (\gamma\|W_{hh}\|_2)^{end-start}`
    is certified when the upper end of the first enclosure lies below the lower
    end of the second.

    When the two enclosures overlap at width ``tol`` the instance sits at the
    bound (a linear RNN with a scaled orthogonal W_hh does, up to rounding of
    W_hh) and nothing is certified — the statement says so; the bound remains a
    theorem there, which this function does not re-prove.
    """
    x, h, start, end = _check_run(rnn, inputs, h0, start, end)
    act, k = rnn.activation, end - start
    lo_bits, hi_bits = _bits(precision, max_precision)

    def compute(bits: int) -> tuple[dict[str, Any], bool]:
        flint = balls.flint_module()
        run = balls.Run.make(rnn.W_hh, rnn.W_xh, rnn.b, h, x, act.name, end)
        LP = run.log10_norm(start, end, tol)
        LW = balls.log10_bounds(*balls.norm_interval(*balls.split(run.p.W), tol / k))
        lg = flint.arb(act.gamma).log() / flint.arb(10).log()
        LB = ((k * (lg + LW[0])).lower(), (k * (lg + LW[1])).upper())
        sep = _lt(LP, LB[0])
        tight = _narrow(LP, tol) and _narrow(LB, tol)
        out = {"LP": LP, "LW": LW, "LB": LB, "sep": sep, "tight": tight, "u": run.undecided}
        return out, sep is True or tight or bool(LP[0] > LB[1])

    r, bits = balls.adaptive(compute, start=lo_bits, maximum=hi_bits)
    LP, LB = _floats(r["LP"]), _floats(r["LB"])
    prod = f"‖∂h_{end}/∂h_{start}‖₂"
    bound = f"(γ‖W_hh‖₂)^{k} ({act.name}, γ = {act.gamma:g})"
    if r["sep"] is True:
        statement = (
            f"proved for this instance: {prod} ≤ 10^{_num(LP[1], True)} < "
            f"10^{_num(LB[0], False)} ≤ {bound}"
        )
    elif r["sep"] is False and r["LP"][0] > r["LB"][1]:
        statement = f"the enclosures put {prod} above {bound}: impossible in exact arithmetic"
    else:
        statement = (
            f"not proved: {prod} ∈ 10^[{_num(LP[0], False)}, {_num(LP[1], True)}] and "
            f"{bound} ∈ 10^[{_num(LB[0], False)}, {_num(LB[1], True)}] overlap at {bits} bits"
            + (
                " — the instance sits at the bound to within the enclosures (it holds there as "
                "a theorem, by submultiplicativity and sup|φ'| = γ, not re-proved here)"
                if r["tight"]
                else f" (the maximum precision, {hi_bits} bits, is reached)"
            )
        )
    if r["u"]:
        statement += (
            f"; {r['u']} relu derivatives undecided (z-ball contains 0), enclosed by [0, 1]"
        )
    LR = (r["LP"][0] - r["LB"][1], r["LP"][1] - r["LB"][0])
    return Certificate(
        subject="bound",
        certified=r["sep"] is True,
        statement=statement,
        enclosures={
            "log10_norm": LP,
            "log10_spectral_norm_W": _floats(r["LW"]),
            "log10_bound": LB,
            "log10_ratio": (balls.float_down(LR[0]), balls.float_up(LR[1])),
        },
        precision_bits=bits,
        details={
            "activation": act.name,
            "gamma": act.gamma,
            "start": start,
            "end": end,
            "factors": k,
            "undecided_relu_derivatives": r["u"],
        },
    )


# ------------------------------------------------------------ counterexamples


@dataclass
class _Part:
    """One claim's outcome at one precision: True proved, False disproved, None undecided."""

    result: bool | None
    statement: str
    enclosures: dict[str, tuple[float, float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    computed: bool = True


def _undecided(bits: int, what: str) -> str:
    return f"undecided at {bits} bits: {what}"


def _opposite(what: str) -> str:
    return f"proved the opposite — {what}: this example does not contradict the claim"


def certify_counterexample(
    cex: Counterexample, *, precision: int | None = None, max_precision: int = MAX_PRECISION
) -> Certificate:
    """Prove in ball arithmetic that a counterexample contradicts its claim.

    Dispatches on ``cex.claim`` to logic that mirrors that claim's ``replay``
    criterion, with every number enclosed instead of rounded.

    Raises
    ------
    ConfigError
        For an unknown claim, malformed extra fields, or a missing python-flint.
    """
    try:
        check = _CHECKS[cex.claim]
    except KeyError:
        from gradscope.claims import get_claim

        get_claim(cex.claim)  # raises the ConfigError naming the known claims
        raise ConfigError(f"no certificate is implemented for {cex.claim!r}") from None
    lo_bits, hi_bits = _bits(precision, max_precision)
    balls.flint_module()

    def compute(bits: int) -> tuple[_Part, bool]:
        part = check(cex, bits)
        return part, part.result is not None

    part, bits = balls.adaptive(compute, start=lo_bits, maximum=hi_bits)
    return Certificate(
        subject=cex.claim,
        certified=part.result is True,
        statement=part.statement,
        enclosures=part.enclosures,
        precision_bits=bits if part.computed else 0,
        details=part.details,
    )


def _prod(end: int, start: int) -> str:
    return f"‖∂h_{end}/∂h_{start}‖₂"


def _run(cex: Counterexample, *, forward: bool = False, W_radius: Ball | None = None) -> balls.Run:
    return balls.Run.make(
        cex.W_hh,
        cex.W_xh,
        cex.b,
        cex.h0,
        cex.inputs,
        cex.activation,
        cex.end,
        forward_pass=forward,
        W_radius=W_radius,
    )


def _eye(n: int) -> Any:
    M = balls.flint_module().arb_mat(n, n)
    for i in range(n):
        M[i, i] = 1
    return M


def _frobenius(A: Any) -> Interval:
    return balls.frobenius_interval([A])


def _ratio(num: Interval, den: Interval) -> Interval:
    flint = balls.flint_module()
    lo = (num[0] / den[1]).lower() if den[1] > 0 else flint.arb(0)
    hi = (num[1] / den[0]).upper() if den[0] > 0 and den[0].is_finite() else flint.arb.pos_inf()
    return lo, hi


def _extra_array(cex: Counterexample, name: str) -> FloatArray:
    try:
        a = np.asarray(cex.extra[name], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"a {cex.claim} counterexample needs a numeric {name!r} field") from None
    if a.ndim != 2 or not np.all(np.isfinite(a)):
        raise ConfigError(f"counterexample field {name!r} must be a finite 2-D array")
    return a


def _linear_norm_bound(cex: Counterexample, bits: int) -> _Part:
    """Replay: linear, start = 1, ‖∂h_T/∂h_1‖₂ > ‖W_hh‖₂^T (T = end)."""
    if cex.activation != "linear" or cex.start != 1:
        why = "outside the claim's setting (a linear RNN and ∂h_T/∂h_1): nothing to certify"
        return _Part(False, why, computed=False)
    run = _run(cex)
    T, LP = cex.end, run.log10_norm(cex.start, cex.end, TOL)
    LW = balls.log10_bounds(*balls.norm_interval(*balls.split(run.p.W), TOL / T))
    claimed = ((T * LW[0]).lower(), (T * LW[1]).upper())
    result = True if LP[0] > claimed[1] else False if LP[1] <= claimed[0] else None
    P, Cl = _floats(LP), _floats(claimed)
    prod = f"‖∂h_{T}/∂h_1‖₂ = ‖W_hh^{T - 1}‖₂"
    if result:
        st = (
            f"proved: {prod} ≥ 10^{_num(P[0], False)} > 10^{_num(Cl[1], True)} ≥ "
            f"‖W_hh‖₂^{T}: the stated bound fails for this linear RNN"
        )
    elif result is False:
        st = _opposite(f"{prod} ≤ 10^{_num(P[1], True)} ≤ ‖W_hh‖₂^{T}")
    else:
        st = _undecided(bits, f"{prod} and ‖W_hh‖₂^{T} have overlapping enclosures")
    encs = {"log10_norm": P, "log10_spectral_norm_W": _floats(LW), "log10_claimed_bound": Cl}
    return _Part(result, st, encs)


def _eigenvalue_criterion(cex: Counterexample, bits: int) -> _Part:
    """Replay: (ρ(W) < 1 and log10‖P‖ > 3) or (ρ(W) > 1 and log10‖P‖ < −3)."""
    from gradscope.claims.eigenvalue_criterion import LOG10_BIG

    LP = _run(cex).log10_norm(cex.start, cex.end, 1e-3)
    rho = balls.spectral_radius_interval(balls.ball_matrix(cex.W_hh))
    below = _and(_lt(rho, 1), _gt(LP, LOG10_BIG))
    above = _and(_gt(rho, 1), _lt(LP, -LOG10_BIG))
    result = _or(below, above)
    P, R = _floats(LP), _floats(rho)
    prod = _prod(cex.end, cex.start)
    if below:
        st = (
            f"proved: ρ(W_hh) ≤ {_sci(R[1], True)} < 1, yet {prod} ≥ 10^{_num(P[0], False)} > "
            f"10^{LOG10_BIG:g} ({cex.activation}): the product grows although every eigenvalue "
            "of W_hh lies inside the unit circle"
        )
    elif above:
        st = (
            f"proved: ρ(W_hh) ≥ {_num(R[0], False)} > 1, yet {prod} ≤ 10^{_num(P[1], True)} < "
            f"10^-{LOG10_BIG:g} ({cex.activation}): the product vanishes although W_hh has an "
            "eigenvalue outside the unit circle"
        )
    elif result is False:
        st = _opposite(
            f"ρ(W_hh) ∈ [{_sci(R[0], False)}, {_sci(R[1], True)}] and {prod} ∈ "
            f"10^[{_num(P[0], False)}, {_num(P[1], True)}]"
        )
    else:
        st = _undecided(bits, f"ρ(W_hh) or {prod} straddles its threshold")
    case = "radius below 1, exploding" if below else "radius above 1, vanishing" if above else None
    return _Part(result, st, {"log10_norm": P, "spectral_radius": R}, {"case": case})


def _jacobian_product(cex: Counterexample, bits: int) -> _Part:
    """Replay: the increasing-order product J_2⋯J_T is off by more than 1e-2 (relative)."""
    run = _run(cex, forward=True)
    assert run.fw is not None
    T = cex.end
    ordered = increasing = sigmoid = _eye(cex.W_hh.shape[0])
    for t in range(2, T + 1):  # J_t for t = 2..T: T − 1 factors
        J = balls.jacobian(run.p, run.fw.d[t - 1])
        ordered, increasing = J * ordered, increasing * J
        sig_d = [(Z / 2).sech() ** 2 / 4 for Z in run.fw.z[t - 1]]  # the sigmoid's φ'
        sigmoid = balls.jacobian(run.p, sig_d) * sigmoid
    ref = _frobenius(ordered)
    inc = _ratio(_frobenius(increasing - ordered), ref)
    result, Inc = _gt(inc, 1e-2), _floats(inc)
    what = f"‖J_2⋯J_{T} − J_{T}⋯J_2‖_F / ‖J_{T}⋯J_2‖_F"
    if result:
        st = (
            f"proved: with J_t = diag(φ'(z_t)) W_hh (φ = {cex.activation}), {what} ≥ "
            f"{_sci(Inc[0], False)} > 0.01, while J_{T}⋯J_2 = ∂h_{T}/∂h_1 exactly (chain "
            "rule): the product read in increasing order is wrong for this RNN (the replay's "
            "finite-difference reference is a float computation and is not certified)"
        )
    elif result is False:
        st = _opposite(f"{what} ≤ {_sci(Inc[1], True)} ≤ 0.01")
    else:
        st = _undecided(bits, f"{what} straddles 0.01")
    encs = {
        "relative_error[increasing order]": Inc,
        "relative_error[sigma = sigmoid]": _floats(_ratio(_frobenius(sigmoid - ordered), ref)),
    }
    return _Part(result, st, encs, {"relative_error[time-ordered]": "0 (chain rule)"})


def _orthogonal_preserves_norm(cex: Counterexample, bits: int) -> _Part:
    """Replay: W_hh orthogonal to 1e-12 and log10 ‖∂h_end/∂h_start‖₂ < −1."""
    W = balls.ball_matrix(cex.W_hh)
    F = _frobenius(W.transpose() * W - _eye(cex.W_hh.shape[0]))  # ≥ ‖WᵀW − I‖₂
    Ff = _floats(F)
    if not F[1] <= 1e-12:
        what = f"‖W_hhᵀW_hh − I‖_F ≥ {_sci(Ff[0], False)}: W_hh is not orthogonal to 1e-12"
        return _Part(False, _opposite(what), {"frobenius_WtW_minus_I": Ff})
    # ‖W − Q‖₂ = max|σ_i − 1| ≤ max|σ_i² − 1| = ‖WᵀW − I‖₂ for the polar factor Q, so
    # every entry of Q lies within F[1] of W's: one ball of matrices holds both.
    LP = _run(cex, W_radius=F[1]).log10_norm(cex.start, cex.end, 1e-3)
    result, P = _lt(LP, -1), _floats(LP)
    prod = _prod(cex.end, cex.start)
    if result:
        st = (
            f"proved: ‖W_hhᵀW_hh − I‖₂ ≤ {_sci(Ff[1], True)} (the file's W_hh is orthogonal only "
            "up to rounding), so its orthogonal polar factor Q lies within that of W_hh in every "
            f"entry; for every matrix in that ball — Q and W_hh included — the {cex.activation} "
            f"RNN on the file's inputs has {prod} ≤ 10^{_num(P[1], True)} < 0.1: an exactly "
            "orthogonal W_hh that does not preserve the gradient norm"
        )
    elif result is False:
        st = _opposite(f"{prod} ≥ 10^{_num(P[0], False)} ≥ 0.1")
    else:
        st = _undecided(bits, f"{prod} straddles 0.1")
    return _Part(result, st, {"frobenius_WtW_minus_I": Ff, "log10_norm": P})


def _memory_horizon(cex: Counterexample, bits: int) -> _Part:
    """Replay: the first k with ‖∂h_k/∂h_0‖₂ < θ is outside LOW..HIGH (or beyond end > HIGH)."""
    from gradscope.claims.memory_horizon import HIGH, LOW, THETA

    theta = balls.flint_module().arb(THETA)
    run = _run(cex, forward=True)
    above: list[bool | None] = []  # ‖∂h_k/∂h_0‖₂ ≥ θ, for k = 1..min(end, HIGH)
    encs: dict[str, tuple[float, float]] = {}
    for k, M, e in balls.products(run.p, run.fw, 0, min(cex.end, HIGH), every=True):
        iv = balls.norm_interval(M, e, 1e-3)
        above.append(True if iv[0] >= theta else False if iv[1] < theta else None)
        encs[f"log10_norm[{k}]"] = _floats(balls.log10_bounds(*iv))
    below = next((k for k, a in enumerate(above, 1) if a is False), None)
    if cex.end > HIGH and all(above):
        low = min(v[0] for v in encs.values())
        st = (
            f"proved: ‖∂h_k/∂h_0‖₂ ≥ 10^{_num(low, False)} ≥ θ = {THETA:g} for every "
            f"k = 1..{HIGH}, so the memory horizon exceeds {HIGH} steps (the claim's 10–20 "
            f"read as {LOW}..{HIGH})"
        )
        return _Part(True, st, encs)
    if below is not None and below < LOW:
        exact = "exactly" if all(above[: below - 1]) else "at most"
        hi = encs[f"log10_norm[{below}]"][1]
        st = (
            f"proved: ‖∂h_{below}/∂h_0‖₂ ≤ 10^{_num(hi, True)} < θ = {THETA:g}, so the memory "
            f"horizon is {exact} {below} < {LOW} steps"
        )
        return _Part(True, st, encs)
    if (below is not None and all(above[: below - 1])) or (cex.end <= HIGH and all(above)):
        what = f"the horizon is in {LOW}..{HIGH}, or beyond the file's {cex.end} ≤ {HIGH} steps"
        return _Part(False, _opposite(what), encs)
    return _Part(None, _undecided(bits, f"some ‖∂h_k/∂h_0‖₂ straddles θ = {THETA:g}"), encs)


def _tanh_saturation(cex: Counterexample, bits: int) -> _Part:
    """Replay: ≥ 90% of unit-steps have |z| > 2 and log10 ‖∂h_end/∂h_start‖₂ > −3."""
    from gradscope.claims.tanh_saturation import FRACTION, SAT, VANISHED

    run = _run(cex, forward=True)
    assert run.fw is not None
    zs = [Z for row in run.fw.z for Z in row]
    surely = sum(bool(Z.abs_lower() > SAT) for Z in zs)
    maybe = sum(not bool(Z.abs_upper() <= SAT) for Z in zs)
    total = len(zs)
    saturated = True if surely / total >= FRACTION else False if maybe / total < FRACTION else None
    LP = run.log10_norm(cex.start, cex.end, 1e-3)
    result, P = _and(saturated, _gt(LP, VANISHED)), _floats(LP)
    prod = _prod(cex.end, cex.start)
    if result:
        st = (
            f"proved: {surely} of {total} unit-steps have |z_t,i| > {SAT:g} "
            f"({surely / total:.1%} ≥ {FRACTION:.0%}), yet {prod} ≥ 10^{_num(P[0], False)} > "
            f"10^{VANISHED:g}: saturated, and the gradient does not vanish"
        )
    elif result is False:
        st = _opposite(
            f"at most {maybe} of {total} unit-steps saturated, or {prod} ≤ "
            f"10^{_num(P[1], True)} ≤ 10^{VANISHED:g}"
        )
    else:
        st = _undecided(bits, "the saturated fraction or the norm straddles its threshold")
    facts = {"saturated_unit_steps_proved": surely, "saturated_unit_steps_possible": maybe}
    return _Part(result, st, {"log10_norm": P}, {**facts, "unit_steps": total})


def _truncated_bptt(cex: Counterexample, bits: int) -> _Part:
    """Replay: ‖g_K − g‖_F / ‖g‖_F > 0.1 for g = ∂L/∂W_hh, chunked truncation at K."""
    from gradscope.claims.truncated_bptt import TOL as REL
    from gradscope.claims.truncated_bptt import K

    W_hy, targets = _extra_array(cex, "W_hy"), _extra_array(cex, "targets")[: cex.end]
    run = _run(cex, forward=True)
    assert run.fw is not None
    g = balls.bptt(run.p, run.fw, W_hy, targets)["W_hh"]
    gK = balls.bptt(run.p, run.fw, W_hy, targets, truncation=K)["W_hh"]
    rel = _ratio(_frobenius(gK - g), _frobenius(g))
    result, Rf = _gt(rel, REL), _floats(rel)
    what = f"‖g_K − g‖_F / ‖g‖_F (g = ∂L/∂W_hh, g_K its chunked truncation at K = {K})"
    if result:
        st = (
            f"proved: {what} ≥ {_num(Rf[0], False, 4)} > {REL:g}, for the exact BPTT gradients "
            f"of L = Σ_t ½‖W_hy h_t − ŷ_t‖² over T = {cex.end} steps: truncation misses more "
            f"than {REL:.0%} of the gradient"
        )
    elif result is False:
        st = _opposite(f"{what} ≤ {_num(Rf[1], True, 4)}")
    else:
        st = _undecided(bits, f"{what} straddles {REL:g}")
    return _Part(result, st, {"relative_error_chunked": Rf})


def _clipping_direction(cex: Counterexample, bits: int) -> _Part:
    """Replay: the rule as written loses the direction — certifiable only as float64 overflow."""
    from gradscope.numeric.gradient import bptt_gradient

    flint = balls.flint_module()
    W_hy, targets = _extra_array(cex, "W_hy"), _extra_array(cex, "targets")[: cex.end]
    run = _run(cex, forward=True)
    assert run.fw is not None
    grads = balls.bptt(run.p, run.fw, W_hy, targets)
    LG = balls.log10_bounds(*balls.frobenius_interval(list(grads.values())))
    half = flint.arb(_DBL_MAX).log() / flint.arb(10).log() / 2  # log10 √(largest float64)
    exact = True if LG[0] > half.upper() else False if LG[1] <= half.lower() else None
    G, thr = _floats(LG), _floats((half.lower(), half.upper()))
    encs = {"log10_gradient_norm": G, "log10_sqrt_float64_max": thr}
    # (ii) the float64 gradient the replay computes, and the rule evaluated on it
    g = bptt_gradient(cex.rnn, W_hy, cex.inputs[: cex.end], targets).flat()
    huge = bool(np.all(np.isfinite(g)) and np.max(np.abs(g)) >= 2.0**512)
    details = {"float_gradient_max_abs_at_least_2^512": huge, "theta": cex.extra.get("theta")}
    if exact is None:
        return _Part(None, _undecided(bits, "‖g‖₂ straddles √(largest float64)"), encs, details)
    if exact is False:
        what = (
            f"‖g‖₂ ≤ 10^{_num(G[1], True)}: Σ g_i² does not overflow float64, and in exact "
            "arithmetic clipping keeps the direction"
        )
        return _Part(False, _opposite(what), encs, details)
    if not huge:
        st = (
            f"only half proved: ‖g‖₂ ≥ 10^{_num(G[0], False)}, so Σ g_i² overflows float64, "
            "but the float64 gradient g̃ is not finite or has max|g̃_i| < 2^512, so the rule's "
            "float evaluation on g̃ is not certified"
        )
        return _Part(False, st, encs, details)
    st = (
        f"proved: (i) the exact BPTT gradient g of L w.r.t. (W_hh, W_xh, b, W_hy) has ‖g‖₂ ≥ "
        f"10^{_num(G[0], False)} > 10^{_num(thr[1], True)} = √(largest float64), so Σ g_i² "
        "exceeds the largest float64 and sqrt(Σ g_i²) overflows in float64; (ii) the float64 "
        "gradient g̃ that gradscope computes for this file has max|g̃_i| ≥ 2^512, so g̃_i·g̃_i "
        "rounds to +inf in IEEE-754 and the rule as written returns (θ/inf)·g̃ = 0: the "
        "direction is lost. Not proved: that every BLAS computes the same g̃; in exact "
        "arithmetic clipping keeps the direction — the failure is float64 overflow, "
        "unavoidable for this gradient unless ‖g‖ is computed as m‖g/m‖ with m = max|g_i|"
    )
    return _Part(True, st, encs, details)


def _weight_sharing(cex: Counterexample, bits: int) -> _Part:
    """Replay: Σ_t ∂L_t/∂W_hh or finite differences differ from BPTT — impossible exactly."""
    st = (
        "cannot be certified: ∂L/∂W_hh = Σ_t ∂L_t/∂W_hh holds exactly by linearity of the "
        "derivative, so any difference a replay shows is floating-point rounding or "
        "finite-difference truncation, not a contradiction"
    )
    return _Part(False, st, computed=False)


_CHECKS: dict[str, Callable[[Counterexample, int], _Part]] = {
    "weight-sharing": _weight_sharing,
    "jacobian-product": _jacobian_product,
    "eigenvalue-criterion": _eigenvalue_criterion,
    "linear-norm-bound": _linear_norm_bound,
    "orthogonal-preserves-norm": _orthogonal_preserves_norm,
    "clipping-direction": _clipping_direction,
    "memory-horizon": _memory_horizon,
    "truncated-bptt": _truncated_bptt,
    "tanh-saturation": _tanh_saturation,
}
