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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.claims import _balls as balls
from gradscope.claims import get_claim
from gradscope.claims._proof import TOL, Interval, _floats, _lt, _narrow, _num
from gradscope.claims.base import Counterexample, Part
from gradscope.errors import ConfigError
from gradscope.model import RNN
from gradscope.records import json_number, json_numbers

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
FloatArray = NDArray[np.float64]


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
            "lower": json_number(self.lower),
            "upper": json_number(self.upper),
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
            "enclosures": {k: json_numbers(pair) for k, pair in self.enclosures.items()},
            "details": dict(self.details),
        }


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
    check = get_claim(cex.claim).certify  # an unknown claim: the ConfigError naming the known
    if check is None:
        raise ConfigError(f"no certificate is implemented for {cex.claim!r}")
    lo_bits, hi_bits = _bits(precision, max_precision)
    balls.flint_module()

    def compute(bits: int) -> tuple[Part, bool]:
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
