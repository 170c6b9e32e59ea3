r"""Ball-arithmetic primitives behind :mod:`gradscope.claims.certify` (python-flint, lazy).

Every quantity is enclosed rigorously: an ``arb`` ball contains the exact real
number, an ``arb_mat`` contains the exact matrix entrywise. The float64 weights
and inputs are exact dyadic rationals, so the only errors are the roundings of
the ball operations themselves, and those are inside the radii.

Long recurrences are carried as *norm balls* to avoid the wrapping effect of
entrywise balls (whose radii grow like ``‖|W|‖^T`` instead of ``‖W‖^T``): a
state is an exact midpoint vector ``m_t`` and a bound ``r_t`` with
:math:`\|h_t - m_t\|_2 \le r_t`; a product of Jacobians is an exact midpoint
matrix ``M_k`` and a bound ``e_k`` with :math:`\|P_k - M_k\|_2 \le e_k`, where

.. math::

    e_k \le \|\operatorname{rad}(J_k M_{k-1})\|_2 + \|J_k\|_2\, e_{k-1},
    \qquad \|J_k\|_2 \le \min\bigl(\max_i |\varphi'(z_{k,i})|\,\|W_{hh}\|_2,\;
    \|\operatorname{diag}(\varphi'(z_k)) W_{hh}\|_F\bigr).

Because :math:`\|J_k\|_2` can exceed the true contraction of the product by a
constant factor per step, the product is formed in blocks of about √T steps
whose errors are then propagated with the blocks' own norms (:func:`products`).

Spectral norms are enclosed from below by :math:`\|Mv\|_2/\|v\|_2` for a float
approximation v of the top right singular vector (a column of
:math:`(M^\top M)^{2^j}`), and from above by
:math:`\|M\|_2 \le \operatorname{tr}\bigl((M^\top M)^{2^j}\bigr)^{1/2^{j+1}}`
(repeated squaring; the overestimate is at most :math:`n^{1/2^{j+1}}`). No
LAPACK call is made, so no BLAS thread pool is woken.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError
from gradscope.model import get_activation

Ball = Any  # flint.arb (python-flint is imported lazily)
BallMat = Any  # flint.arb_mat
FloatArray = NDArray[np.float64]
R = TypeVar("R")

MIN_PRECISION = 53  # float64 numbers are exact balls from 53 bits on
MAX_SQUARINGS = 64


def flint_module() -> Any:
    """python-flint, or a ConfigError that says how to install it."""
    try:
        import flint
    except ImportError:
        raise ConfigError(
            "certification in ball arithmetic needs python-flint, the certify extra: "
            "pip install 'gradscope[certify]'"
        ) from None
    return flint


@contextmanager
def working_precision(bits: int) -> Iterator[Any]:
    """Set flint's working precision to ``bits`` inside the block (restored after)."""
    flint = flint_module()
    old = flint.ctx.prec
    flint.ctx.prec = int(bits)
    try:
        yield flint
    finally:
        flint.ctx.prec = old


def adaptive(
    compute: Callable[[int], tuple[R, bool]], *, start: int, maximum: int
) -> tuple[R, int]:
    """Run ``compute(bits)`` at start, 2·start, … bits until it says decided or ``maximum``."""
    bits = start
    while True:
        with working_precision(bits):
            result, decided = compute(bits)
        if decided or bits >= maximum:
            return result, bits
        bits = min(2 * bits, maximum)


# ---------------------------------------------------------------- conversions


def ball_matrix(a: FloatArray) -> BallMat:
    """An exact ``arb_mat`` of a float64 array (1-D arrays become columns)."""
    flint = flint_module()
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    return flint.arb_mat(arr.tolist())


def column(values: list[Ball]) -> BallMat:
    return flint_module().arb_mat([[v] for v in values])


def ones(n: int) -> BallMat:
    return flint_module().arb_mat([[1]] * n)


def pow2(k: int) -> Ball:
    """2**k exactly."""
    return flint_module().arb(2) ** int(k)


def log2_floor(x: Ball) -> int:
    """floor(log2 |mid x|) for a nonzero x."""
    man, exp = x.mid().man_exp()
    return int(exp) + abs(int(man)).bit_length() - 1


def log10_bounds(lo: Ball, hi: Ball) -> tuple[Ball, Ball]:
    """Exact arbs bounding log10 of [lo, hi] outward; log10 0 = -inf, unknown = ±inf."""
    flint = flint_module()
    ln10 = flint.arb(10).log()
    low = (lo.log() / ln10).lower() if lo > 0 and lo.is_finite() else flint.arb.neg_inf()
    if hi > 0 and hi.is_finite():
        high = (hi.log() / ln10).upper()
    else:
        high = flint.arb.neg_inf() if hi.is_exact() and hi.is_zero() else flint.arb.pos_inf()
    return low, high


def float_down(x: Ball) -> float:
    """A float64 ≤ every point of x."""
    low = x.lower()
    f = float(low)
    if math.isnan(f):
        return -math.inf
    if math.isinf(f):
        return f if f < 0 else float(np.finfo(np.float64).max)
    if flint_module().arb(f) > low:
        f = math.nextafter(f, -math.inf)
    return f


def float_up(x: Ball) -> float:
    """A float64 ≥ every point of x."""
    return -float_down(-x)


def max_upper(balls: list[Ball]) -> Ball:
    """An exact upper bound on max_i |x_i|."""
    best = flint_module().arb(0)
    for x in balls:
        u = x.abs_upper()
        if u > best:
            best = u
    return best


# ------------------------------------------------------------ norm enclosures


def split(C: BallMat) -> tuple[BallMat, Ball]:
    """(M, e): M = mid C exactly and ‖X − M‖₂ ≤ e for every X in C.

    The radius matrix R ≥ 0 bounds |X − M| entrywise, so
    ‖X − M‖₂ ≤ ‖R‖₂ ≤ sqrt(‖R‖₁ ‖R‖_∞); its row and column sums are read from
    the balls of (C − M)·1 and (C − M)ᵀ·1, whose midpoints are exactly zero.
    """
    M = C.mid()
    D = C - M
    rows = D * ones(D.ncols())
    cols = D.transpose() * ones(D.nrows())
    r_inf = max_upper(rows.entries())
    r_one = max_upper(cols.entries())
    return M, (r_inf * r_one).sqrt().upper()


def split_vector(c: BallMat) -> tuple[BallMat, Ball]:
    """(m, r): m = mid c exactly and ‖x − m‖₂ ≤ r for every x in the column c."""
    flint = flint_module()
    total = flint.arb(0)
    for x in c.entries():
        rad = x.rad()
        total += rad * rad
    return c.mid(), total.sqrt().upper()


def _rayleigh_lower(X: BallMat, v: list[float]) -> Ball:
    """‖X‖₂ ≥ ‖X v‖₂ / ‖v‖₂ for the exact float vector v (a lower bound, ≥ 0)."""
    flint = flint_module()
    vcol = flint.arb_mat([[x] for x in v])
    y = X * vcol
    num = (y.transpose() * y)[0, 0]
    den = (vcol.transpose() * vcol)[0, 0]
    if not (num.lower() > 0 and den.upper() > 0):
        return flint.arb(0)
    return (num.lower() / den.upper()).sqrt().lower()


def _top_column(B: BallMat) -> list[float]:
    """The column of the PSD ball matrix B with the largest diagonal entry, as floats.

    For B = (XᵀX)^(2^j) it approximates the top right singular vector of X
    (power iteration with exponent 2^j); no LAPACK call, hence no BLAS threads.
    """
    n = B.nrows()
    i = max(range(n), key=lambda k: float(B[k, k].mid()))
    v = [float(B[r, i].mid()) for r in range(n)]
    return v if any(math.isfinite(x) and x != 0 for x in v) else [1.0] * n


def norm_interval(M: BallMat, e: Ball, tol_log10: float) -> tuple[Ball, Ball]:
    """Exact [lo, hi] with lo ≤ ‖P‖₂ ≤ hi for every P with ‖P − M‖₂ ≤ e (M exact).

    With A = XᵀX for X = M scaled by a power of two: hi from
    ‖X‖₂ ≤ tr(A^(2^j))^(1/2^(j+1)), lo from the Rayleigh bound ‖Xv‖/‖v‖ with v a
    column of A^(2^j) and from ‖X‖₂ ≥ (tr(A^(2^j))/n)^(1/2^(j+1)). Squarings stop
    when hi/lo ≤ 10**tol_log10, when the trace ball loses its accuracy (more
    precision is needed), or after MAX_SQUARINGS.
    """
    flint = flint_module()
    A = M.transpose() * M
    f2 = A.trace()
    if not f2.upper() > 0:  # the exact matrix M is zero
        return flint.arb(0), e.upper()
    if not f2.is_finite():
        return flint.arb(0), flint.arb.pos_inf()
    shift = log2_floor(f2.upper()) // 2
    X, A = M * pow2(-shift), A * pow2(-2 * shift)
    n = M.ncols()
    ln2, ln10, lnn = flint.arb(2).log(), flint.arb(10).log(), flint.arb(n).log()
    lo, hi = flint.arb(0), flint.arb.pos_inf()
    B, k = A, 0  # B = A^(2^j) · 2^-k
    for j in range(MAX_SQUARINGS + 1):
        t = B.trace()
        if not (t.is_finite() and t.lower() > 0):
            break
        m = 2 ** (j + 1)
        cand = ((t.upper().log() + k * ln2) / m).exp().upper()
        hi = cand if cand < hi else hi
        for low in (
            ((t.lower().log() + k * ln2 - lnn) / m).exp().lower(),
            _rayleigh_lower(X, _top_column(B)),
        ):
            lo = low if low > lo else lo
        if lo > 0 and float((hi / lo).log() / ln10) <= tol_log10:
            break
        if t.rel_accuracy_bits() < 12:
            break  # the radii dominate: more squarings cannot help at this precision
        B, k = B * B, 2 * k
        tr = B.trace()
        if tr.is_finite() and tr.upper() > 0:
            s = log2_floor(tr.upper())
            B, k = B * pow2(-s), k + s
    if not hi.is_finite():  # not even tr(XᵀX) was usable: the Frobenius norm
        hi = A.trace().upper().sqrt().upper()
    scale = pow2(shift)
    low_P = lo * scale - e
    return (low_P.lower() if low_P > 0 else flint.arb(0)), (hi * scale + e).upper()


def spectral_radius_interval(W: BallMat, squarings: int = 12) -> tuple[Ball, Ball]:
    """Exact [lo, hi] around ρ(W) for an exact square W.

    Upper: ρ ≤ ‖W^(2^j)‖_F^(1/2^j) (Gelfand), and max |λ| over flint's rigorous
    eigenvalue enclosures (acb_mat.eig) when they isolate the eigenvalues.
    Lower: min over those enclosures of max |λ|, or 0 when eig fails.
    """
    flint = flint_module()
    ln2 = flint.arb(2).log()
    hi: Ball = None
    B, k = W, 0  # B = W^(2^j) · 2^-k
    for j in range(squarings + 1):
        f2 = (B.transpose() * B).trace()
        if not f2.is_finite():
            break
        if not f2.upper() > 0:
            hi = flint.arb(0)  # W^(2^j) = 0 exactly: nilpotent
            break
        cand = ((f2.upper().log() / 2 + k * ln2) / 2**j).exp().upper()
        hi = cand if hi is None or cand < hi else hi
        s = log2_floor(f2.upper()) // 2
        B = (B * pow2(-s)) * (B * pow2(-s))
        k = 2 * (k + s)
    lo = flint.arb(0)
    eigs = None
    for multiple in (False, True):
        try:
            eigs = flint.acb_mat(W).eig(multiple=multiple)
            break
        except (ValueError, ArithmeticError):
            continue
    if eigs:
        mods = [abs(x) for x in eigs]
        lo_eig = max((x.lower() for x in mods), key=float)
        hi_eig = max_upper(mods)
        if lo_eig > 0:
            lo = lo_eig.lower()
        if hi is None or hi_eig < hi:
            hi = hi_eig
    return lo, hi


# ------------------------------------------------------------ the RNN in balls


def _dphi_tanh(Z: Ball) -> tuple[Ball, Ball, bool]:
    d = Z.sech() ** 2
    return d, d.abs_upper(), False


def _dphi_sigmoid(Z: Ball) -> tuple[Ball, Ball, bool]:
    d = (Z / 2).sech() ** 2 / 4
    return d, d.abs_upper(), False


def _dphi_relu(Z: Ball) -> tuple[Ball, Ball, bool]:
    flint = flint_module()  # relu'(0) = 0 (DESIGN.md §1)
    if Z.lower() > 0:
        return flint.arb(1), flint.arb(1), False
    if Z.upper() < 0 or (Z.is_exact() and Z.is_zero()):
        return flint.arb(0), flint.arb(0), False
    return flint.arb(0.5, 0.5), flint.arb(1), True  # undecided: [0, 1] encloses {0, 1}


def _dphi_linear(Z: Ball) -> tuple[Ball, Ball, bool]:
    flint = flint_module()
    return flint.arb(1), flint.arb(1), False


def _phi_relu(c: Ball) -> Ball:
    return c if c > 0 else flint_module().arb(0)


@dataclass(frozen=True)
class BallActivation:
    """φ and φ' of one activation in ball arithmetic.

    Attributes
    ----------
    phi : callable
        φ at an exact point, as a ball.
    dphi : callable
        (φ'(Z) enclosure, Lipschitz bound of φ on Z, undecided relu derivative).
    """

    phi: Callable[[Ball], Ball]
    dphi: Callable[[Ball], tuple[Ball, Ball, bool]]


#: keyed by the names of :data:`gradscope.model.ACTIVATIONS` (tests/test_activation_registries.py)
ACTIVATIONS: dict[str, BallActivation] = {
    "tanh": BallActivation(phi=lambda c: c.tanh(), dphi=_dphi_tanh),
    "sigmoid": BallActivation(phi=lambda c: 1 / (1 + (-c).exp()), dphi=_dphi_sigmoid),
    "relu": BallActivation(phi=_phi_relu, dphi=_dphi_relu),
    "linear": BallActivation(phi=lambda c: c, dphi=_dphi_linear),
}


def _dphi(name: str, Z: Ball) -> tuple[Ball, Ball, bool]:
    """(φ'(Z) enclosure, Lipschitz bound of φ on Z, undecided relu derivative)."""
    return ACTIVATIONS[get_activation(name).name].dphi(Z)


def _phi(name: str, c: Ball) -> Ball:
    """φ at the exact point c, as a ball."""
    return ACTIVATIONS[get_activation(name).name].phi(c)


@dataclass(frozen=True)
class Forward:
    """The forward pass in norm balls: ‖h_t − m[t]‖₂ ≤ r[t]; z[t−1][i] ∋ z_{t,i}.

    Attributes
    ----------
    m, r : list
        Centres (exact columns) and radii of h_0 … h_T.
    z, d : list of list of Ball
        Per step t = 1 … T, the balls around z_{t,i} and φ'(z_{t,i}).
    activation, undecided : str, int
        φ's name; how many relu derivatives were undecided (enclosed by [0, 1]).
    """

    activation: str
    m: list[BallMat]
    r: list[Ball]
    z: list[list[Ball]]
    d: list[list[Ball]]
    undecided: int

    def h(self, t: int) -> BallMat:
        """h_t as an entrywise ball column."""
        flint = flint_module()
        rt = self.r[t]
        return column([flint.arb(x, rt) for x in self.m[t].entries()])


@dataclass(frozen=True)
class Problem:
    """One RNN and run at the working precision; W may be a ball of matrices.

    Attributes
    ----------
    W, W_rows, W_norm : BallMat, list of BallMat, tuple of Ball
        W_hh as a ball matrix, its rows, and [lo, hi] around ‖W_hh‖₂.
    row_norms, col_norms : list of Ball
        Upper bounds on ‖W_{i,:}‖₂ and ‖W_{:,j}‖₂ (over the ball).
    W_xh, b, h0, inputs, activation
        The input weights and bias (balls), h_0, the (T, m) inputs, φ's name.
    """

    W: BallMat
    W_rows: list[BallMat]
    W_norm: tuple[Ball, Ball]
    row_norms: list[Ball]
    col_norms: list[Ball]
    W_xh: BallMat
    b: list[Ball]
    h0: FloatArray
    inputs: FloatArray
    activation: str


def _vector_norm_upper(xs: list[Ball]) -> Ball:
    total = flint_module().arb(0)
    for x in xs:
        total += x.abs_upper() ** 2
    return total.upper().sqrt().upper()


def scaled_norm_upper(d: list[Ball], norms: list[Ball], w_up: Ball) -> Ball:
    """An upper bound on ‖diag(d) W‖₂ (norms = row norms of W) or ‖diag(d) Wᵀ‖₂ (column norms).

    min(max|d_i| ‖W‖₂, ‖diag(d) W‖_F): the second is far smaller when most
    units are saturated (d_i ≈ 0), the first when the d_i are alike.
    """
    flint = flint_module()
    fro = flint.arb(0)
    for di, ni in zip(d, norms, strict=True):
        fro += (di.abs_upper() * ni) ** 2
    a, b = (max_upper(d) * w_up).upper(), fro.upper().sqrt().upper()
    return a if a < b else b


def make_problem(
    W_hh: FloatArray,
    W_xh: FloatArray,
    b: FloatArray,
    h0: FloatArray,
    inputs: FloatArray,
    activation: str,
    *,
    W_radius: Ball | None = None,
) -> Problem:
    """Balls for the parameters; ``W_radius`` widens every entry of W_hh by that much."""
    flint = flint_module()
    W = ball_matrix(W_hh)
    if W_radius is not None:
        n = W.nrows()
        W = W + flint.arb_mat([[flint.arb(0, W_radius)] * n for _ in range(n)])
    M, e = split(W)
    rows = W.tolist()
    return Problem(
        W=W,
        W_rows=[flint.arb_mat([row]) for row in rows],
        W_norm=norm_interval(M, e, 1e-3),
        row_norms=[_vector_norm_upper(row) for row in rows],
        col_norms=[_vector_norm_upper(list(col)) for col in zip(*rows, strict=True)],
        W_xh=ball_matrix(W_xh),
        b=ball_matrix(b).entries(),
        h0=np.asarray(h0, dtype=np.float64),
        inputs=np.asarray(inputs, dtype=np.float64),
        activation=activation,
    )


def forward(p: Problem, T: int) -> Forward:
    """Steps 1..T of the recurrence, as norm balls (see the module docstring)."""
    flint = flint_module()
    n = p.W.nrows()
    U = p.W_xh * ball_matrix(p.inputs[:T].T)  # (n, T): W_xh x_t
    w_up = p.W_norm[1]
    m = ball_matrix(p.h0)
    r = flint.arb(0)
    ms: list[BallMat] = [m]
    rs: list[Ball] = [r]
    z_steps: list[list[Ball]] = []
    d_steps: list[list[Ball]] = []
    n_undecided = 0
    for t in range(T):
        Wm = p.W * m
        cs = [Wm[i, 0] + U[i, t] + p.b[i] for i in range(n)]
        cmid, rc = split_vector(column(cs))
        # |z_i − mid c_i| ≤ ‖rad c‖₂ + |(W (h − m))_i| ≤ rc + ‖W_{i,:}‖₂ r
        zs, ds, mids, lips = [], [], [], []
        y_rad2 = flint.arb(0)
        for c, w_i in zip(cmid.entries(), p.row_norms, strict=True):
            Z = flint.arb(c, (rc + w_i * r).upper())
            d, L, undecided = _dphi(p.activation, Z)
            y = _phi(p.activation, c)
            y_rad2 += y.rad() ** 2
            n_undecided += undecided
            zs.append(Z)
            ds.append(d)
            lips.append(L)
            mids.append(y.mid())
        m = column(mids)
        # mean value theorem per unit: |φ(z_i) − φ(mid c_i)| ≤ L_i |z_i − mid c_i|, so
        # ‖h − φ(mid c)‖₂ ≤ max L · rc + ‖diag(L) W‖₂ r
        r = y_rad2.sqrt() + max_upper(lips) * rc + scaled_norm_upper(lips, p.row_norms, w_up) * r
        r = r.upper()
        ms.append(m)
        rs.append(r)
        z_steps.append(zs)
        d_steps.append(ds)
    return Forward(p.activation, ms, rs, z_steps, d_steps, n_undecided)


def jacobian(p: Problem, d: list[Ball]) -> BallMat:
    """J = diag(d) W_hh as a ball matrix (row scaling, cheaper than a diagonal product)."""
    flint = flint_module()
    return flint.arb_mat([(row * di).entries() for row, di in zip(p.W_rows, d, strict=True)])


def frobenius_upper(M: BallMat) -> Ball:
    """An upper bound on ‖X‖_F ≥ ‖X‖₂ for every X in the ball matrix M."""
    return (M.transpose() * M).trace().upper().sqrt().upper()


def products(
    p: Problem, fw: Forward | None, start: int, end: int, *, every: bool = False
) -> Iterator[tuple[int, BallMat, Ball]]:
    r"""(t, M_t, e_t) with ‖J_t ⋯ J_{start+1} − M_t‖₂ ≤ e_t, at t = end (every t if ``every``).

    ``fw`` None means the linear activation (J_t = W_hh exactly). The product is
    formed in blocks of about √(end − start) steps, each from the identity, and
    the blocks are multiplied together: the error of a block grows with
    ‖J_t‖₂ ≤ max_i|φ'(z_{t,i})| ‖W‖₂ (which can exceed the true contraction of
    the product by tens of decades over a long run), but across blocks it grows
    only with the blocks' own norms, so far fewer bits are needed.
    """
    flint = flint_module()
    n = p.W.nrows()
    eye = flint.arb_mat(n, n)
    for i in range(n):
        eye[i, i] = 1
    zero = flint.arb(0)
    w_up = p.W_norm[1]
    block = max(1, math.isqrt(end - start))
    Mo, eo, no = eye, zero, flint.arb(1)  # the product up to the block's start
    for s in range(start, end, block):
        stop = min(s + block, end)
        Mi, ei = eye, zero
        for t in range(s + 1, stop + 1):
            if fw is None:
                C, j_up = p.W * Mi, w_up
            else:
                d = fw.d[t - 1]
                C, j_up = jacobian(p, d) * Mi, scaled_norm_upper(d, p.row_norms, w_up)
            Mi, rad = split(C)
            ei = (rad + j_up * ei).upper()
            if not (every or t == stop):
                continue
            if s == start:
                Mt, et = Mi, ei
            else:  # (Mi + Ei)(Mo + Eo) = Mi Mo + Mi Eo + Ei Mo + Ei Eo
                Mt, rad = split(Mi * Mo)
                mi = frobenius_upper(Mi)
                et = (rad + mi * eo + ei * no + ei * eo).upper()
            if every or t == end:
                yield t, Mt, et
        no = ((frobenius_upper(Mi) + ei) * no).upper()  # ‖P_stop‖₂ ≤ ‖B‖₂ ‖P_s‖₂
        Mo, eo = Mt, et


def power(W: BallMat, k: int) -> BallMat:
    """W**k by repeated squaring, as a ball matrix (k ≥ 1)."""
    result, base = None, W
    while k:
        if k & 1:
            result = base if result is None else result * base
        k >>= 1
        if k:
            base = base * base
    return result


def bptt(
    p: Problem,
    fw: Forward,
    W_hy: FloatArray,
    targets: FloatArray,
    truncation: int | None = None,
) -> dict[str, BallMat]:
    r"""∂L/∂θ for L = Σ_t ½‖W_hy h_t − ŷ_t‖², as ball matrices (chunked truncation at K).

    The adjoint :math:`\delta_t = \varphi'(z_t) \odot (W_{hy}^\top r_t + W^\top \delta_{t+1})`
    is carried as a norm ball; the state is detached every K steps from the end,
    as :func:`gradscope.numeric.gradient.bptt_gradient` does.
    """
    flint = flint_module()
    T = len(fw.d)
    Why = ball_matrix(W_hy)
    Why_T, W_T = Why.transpose(), p.W.transpose()
    w_up = p.W_norm[1]
    delta_rows: list[list[Ball]] = [[] for _ in range(T)]
    res_rows: list[list[Ball]] = [[] for _ in range(T)]
    mu: BallMat = None
    rho = flint.arb(0)
    for t in range(T, 0, -1):
        res = Why * fw.h(t) - ball_matrix(targets[t - 1])
        res_rows[t - 1] = res.entries()
        e = (Why_T * res).entries()
        d = fw.d[t - 1]
        reset = mu is None or (truncation is not None and (T - t) % truncation == 0)
        if reset:
            cs = [di * ei for di, ei in zip(d, e, strict=True)]
            extra = flint.arb(0)
        else:
            carry = (W_T * mu).entries()
            cs = [di * (ei + ci) for di, ei, ci in zip(d, e, carry, strict=True)]
            extra = scaled_norm_upper(d, p.col_norms, w_up) * rho
        mu, rc = split_vector(column(cs))
        rho = (rc + extra).upper()
        delta_rows[t - 1] = [flint.arb(x, rho) for x in mu.entries()]
    Delta_T = flint.arb_mat(delta_rows).transpose()  # (n, T)
    H_prev = flint.arb_mat([fw.h(t).entries() for t in range(T)])
    H_cur = flint.arb_mat([fw.h(t).entries() for t in range(1, T + 1)])
    return {
        "W_hh": Delta_T * H_prev,
        "W_xh": Delta_T * ball_matrix(p.inputs[:T]),
        "b": Delta_T * ones(T),
        "W_hy": flint.arb_mat(res_rows).transpose() * H_cur,
    }


def frobenius_interval(mats: list[BallMat]) -> tuple[Ball, Ball]:
    """Exact [lo, hi] around the Euclidean norm of all entries of ``mats`` together."""
    flint = flint_module()
    lo2, hi2 = flint.arb(0), flint.arb(0)
    for A in mats:
        for x in A.entries():
            lo2 += x.abs_lower() ** 2
            hi2 += x.abs_upper() ** 2
    low = lo2.lower().sqrt().lower() if lo2.lower() > 0 else flint.arb(0)
    return low, hi2.upper().sqrt().upper()


@dataclass(frozen=True)
class Run:
    """One RNN run at the working precision: parameters, forward pass, products.

    Attributes
    ----------
    p, fw : Problem, Forward or None
        The parameters as balls; the forward pass (None: a linear RNN made without one).
    """

    p: Problem
    fw: Forward | None  # None for a linear RNN without a forward pass (J_t = W_hh)

    @classmethod
    def make(
        cls,
        W_hh: FloatArray,
        W_xh: FloatArray,
        b: FloatArray,
        h0: FloatArray,
        x: FloatArray,
        activation: str,
        end: int,
        *,
        forward_pass: bool = False,
        W_radius: Ball | None = None,
    ) -> Run:
        """Balls for the parameters and, unless linear (or ``forward_pass``), steps 1..end."""
        p = make_problem(W_hh, W_xh, b, h0, x[:end], activation, W_radius=W_radius)
        fw = forward(p, end) if forward_pass or activation != "linear" else None
        return cls(p, fw)

    def norm(self, start: int, end: int, tol: float) -> tuple[Ball, Ball]:
        """Exact [lo, hi] around ‖J_end ⋯ J_{start+1}‖₂."""
        if self.p.activation == "linear":  # J_t = W_hh whatever the inputs
            M, e = split(power(self.p.W, end - start))
        else:
            *_, (_, M, e) = products(self.p, self.fw, start, end)
        return norm_interval(M, e, tol)

    def log10_norm(self, start: int, end: int, tol: float) -> tuple[Ball, Ball]:
        """Exact [lo, hi] around log10 ‖J_end ⋯ J_{start+1}‖₂."""
        return log10_bounds(*self.norm(start, end, tol))

    @property
    def undecided(self) -> int:
        """How many relu derivatives the forward pass left undecided."""
        return 0 if self.fw is None else self.fw.undecided
