"""What every claim's certifier shares: interval tests, outward-rounded numbers, a ball run.

Each claim module's ``certify(cex, bits)`` proves (or fails to prove) at ``bits``
of precision that its counterexample contradicts the claim, and returns a
:class:`~gradscope.claims.base.Part`; :func:`gradscope.claims.certify.certify_counterexample`
raises the precision and wraps the outcome in a certificate. The helpers here
are the pieces those certifiers share (:mod:`gradscope.claims._balls` does the
ball arithmetic).
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradscope.claims import _balls as balls
from gradscope.claims.base import Counterexample
from gradscope.errors import ConfigError

__all__ = ["DBL_MAX", "TOL", "Ball", "Interval"]

TOL = 1e-6  # default width asked of a log10 enclosure
FloatArray = NDArray[np.float64]
Ball = balls.Ball
Interval = tuple[Any, Any]  # exact arb endpoints
DBL_MAX = float(np.finfo(np.float64).max)


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


def _undecided(bits: int, what: str) -> str:
    return f"undecided at {bits} bits: {what}"


def _opposite(what: str) -> str:
    return f"proved the opposite — {what}: this example does not contradict the claim"


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
