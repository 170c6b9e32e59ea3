r"""The differential harness (issue 14): generated cases and exact references.

A :class:`Case` holds the float64 *step data* that gradscope multiplies — either
``dphi`` (T, n) and ``W`` (n, n), with :math:`J_t = \operatorname{diag}(dphi_t) W`,
or an explicit ``J`` (T, n, n) — and :meth:`Case.steps` hands exactly those
arrays to gradscope. Every reference here is a property of the **exact** product
:math:`P = J_T \cdots J_1` of those stored binary numbers, not of the
real-valued network they approximate and not of the float64-rounded
``dphi[t, i] * W[i, j]``:

* :func:`exact_product` — ``P`` exactly, as an integer matrix times ``2**E``
  (every float64 is ``m · 2**e`` with an integer ``m``; the products and sums
  are done in python-flint's ``fmpz_mat``, by binary splitting);
* :func:`exact_rank` — the rank of ``P`` (rank modulo a prime is a lower bound;
  when it is not full, ``fmpz_mat.rank`` gives the exact rank): the number of
  singular values that are not exactly zero;
* :func:`reference_log10_singular_values` — log10 σ_i of ``P`` in mpmath
  (``svd_r`` of the exact ``P`` rounded to the working precision), the
  precision chosen from the spread of the spectrum and raised until every
  nonzero σ_i is resolved, then confirmed by a second run at 1.5 × the digits;
* :func:`flint_log10_singular_values` — rigorous enclosures of log10 σ_i
  (roots of the exact characteristic polynomial of ``PᵀP``, isolated by
  flint's ``fmpz_poly.complex_roots``), for small cases;
* :func:`reference_log10_abs_det` — :math:`\sum_t \log_{10}|\det J_t|`, for the
  identity :math:`\sum_i \log_{10}\sigma_i = \sum_t \log_{10}|\det J_t|` at
  sizes where an SVD in mpmath is too slow (n = 64).

python-flint 0.9 and rigorous singular values: ``acb_mat.eig`` (also with
``multiple=True`` or ``algorithm="rump"``) failed to isolate the eigenvalues of
``PᵀP`` for every graded product tried (a 6 × 6, 300-step tanh product whose
eigenvalues span 476 decades needed 64 000 bits, a 12 × 12, 1000-step one
failed even there), so the rigorous route goes through the exact
characteristic polynomial instead; it is exact and rigorous, but costs seconds
from n ≈ 12, T ≈ 1000 (the charpoly of a 12 × 12 matrix of 120 000-bit
integers), so it serves as a cross-check, not as the default.

:func:`generate_cases` draws the cases of the harness deterministically: case
``seed`` depends on nothing but ``seed`` (:func:`make_case`), and its name ends
in ``/s<seed>`` so that :func:`case_from_name` rebuilds it. The four
regressions of issue 14 have their own constructors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import mpmath as mp
import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError
from gradscope.init import FAMILIES, instance_seed, random_inputs, random_rnn
from gradscope.model import RNN
from gradscope.numeric.forward import forward, rnn_steps
from gradscope.numeric.norms import scale_to_norm
from gradscope.numeric.steps import ArraySteps, RNNSteps, Steps

__all__ = [
    "ACTIVATIONS",
    "ARRAY_FAMILIES",
    "COMBOS",
    "ROOT_SEED",
    "W_FAMILIES",
    "Case",
    "ReferenceCheckError",
    "ReferenceSpectrum",
    "badly_scaled_case",
    "case_from_name",
    "exact_product",
    "exact_rank",
    "flint_log10_singular_values",
    "gaussian_array_case",
    "generate_cases",
    "make_case",
    "reference_log10_abs_det",
    "reference_log10_norm",
    "reference_log10_singular_values",
    "regression_cases",
    "relu_dead_units_case",
    "small_tanh_cases",
]

FloatArray = NDArray[np.float64]

#: The root entropy of every generated case (issue 14).
ROOT_SEED = 14

#: Families of ``W_hh`` (the first five are gradscope.init.FAMILIES).
W_FAMILIES: tuple[str, ...] = (
    *FAMILIES,
    "nilpotent",
    "jordan",
    "rank-deficient",
)
#: Activations of the RNN cases.
ACTIVATIONS: tuple[str, ...] = ("tanh", "sigmoid", "relu", "linear")
#: Families of explicit (T, n, n) step arrays (activation ``"explicit"``).
ARRAY_FAMILIES: tuple[str, ...] = ("gaussian-array", "graded-array", "rank-deficient-array")
#: Case ``seed`` is of kind ``COMBOS[seed % len(COMBOS)]``: every 35 seeds cover them all.
COMBOS: tuple[tuple[str, str], ...] = (
    *((f, a) for f in W_FAMILIES for a in ACTIVATIONS),
    *((f, "explicit") for f in ARRAY_FAMILIES),
)

LOG10_2 = math.log10(2.0)
_INPUT_SIZE = 8  # m, DESIGN.md §1's default
_PRIME = 2**61 - 1  # rank modulo this prime is a lower bound on the rank over Q


class ReferenceCheckError(AssertionError):
    """Two runs of a reference disagree beyond the accuracy the first one claimed."""


# --- cases --------------------------------------------------------------------------


def _frozen(a: FloatArray | None) -> FloatArray | None:
    if a is None:
        return None
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.flags.writeable:
        a = a.copy()
        a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Case:
    r"""One product of the harness: its name, how it was made, and its float64 step data.

    Exactly one of the two forms is given:

    * ``dphi`` (T, n) and ``W`` (n, n): :math:`J_t = \operatorname{diag}(dphi[t-1]) W`
      (an RNN's steps; the arrays are the ones gradscope's ``RNNSteps`` holds);
    * ``J`` (T, n, n): explicit Jacobians, ``J[t - 1]`` is :math:`J_t`.

    The arrays are read-only. ``scale_exponent`` k records that ``W`` (or ``J``)
    was multiplied by ``10.0**k``; ``spikes`` how many inputs were multiplied by
    1e2–1e4; ``recipe`` the calls that built the data (for a reader — the data
    are rebuilt from the seed by :func:`make_case` or by name by
    :func:`case_from_name`).
    """

    name: str
    family: str
    activation: str
    n: int
    T: int
    seed: int
    dphi: FloatArray | None = None
    W: FloatArray | None = None
    J: FloatArray | None = None
    scale_exponent: int = 0
    spikes: int = 0
    recipe: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for name in ("dphi", "W", "J"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        n, T = self.n, self.T
        if self.J is not None:
            if self.dphi is not None or self.W is not None:
                raise ValueError("give either J or (dphi, W), not both")
            if self.J.shape != (T, n, n):
                raise ValueError(f"J must be (T, n, n) = ({T}, {n}, {n}), got {self.J.shape}")
        else:
            if self.dphi is None or self.W is None:
                raise ValueError("give either J or both dphi and W")
            if self.dphi.shape != (T, n) or self.W.shape != (n, n):
                raise ValueError(
                    f"dphi must be ({T}, {n}) and W ({n}, {n}), got "
                    f"{self.dphi.shape} and {self.W.shape}"
                )
        for a in (self.dphi, self.W, self.J):
            if a is not None and not np.all(np.isfinite(a)):
                raise ValueError(f"case {self.name}: step data must be finite")

    @property
    def explicit(self) -> bool:
        """True for explicit (T, n, n) Jacobians, False for ``diag(dphi_t) W``."""
        return self.J is not None

    def steps(self) -> Steps:
        """A gradscope Steps object holding exactly these arrays (no copy)."""
        if self.J is not None:
            return ArraySteps(self.J)
        assert self.W is not None and self.dphi is not None
        return RNNSteps(self.W, self.dphi)

    def float_jacobian(self, t: int) -> FloatArray:
        """:math:`J_t` (1 <= t <= T) in float64 — *rounded* for an RNN case (estimates only)."""
        if self.J is not None:
            return self.J[t - 1]
        assert self.W is not None and self.dphi is not None
        return self.dphi[t - 1][:, None] * self.W

    def data_bytes(self) -> bytes:
        """The step data, byte for byte (for reproducibility checks)."""
        parts = [a.tobytes() for a in (self.dphi, self.W, self.J) if a is not None]
        return b"".join(parts)


def _case_rng(seed: int) -> np.random.Generator:
    """The configuration stream of case ``seed`` (independent of gradscope's streams)."""
    return np.random.default_rng(np.random.SeedSequence([ROOT_SEED, int(seed)]))


def _permute(W: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Π W Πᵀ for a random permutation Π: exact (entries only move)."""
    p = rng.permutation(W.shape[0])
    return W[np.ix_(p, p)]


def _special_W(family: str, n: int, rng: np.random.Generator) -> tuple[FloatArray, str]:
    """W for the families outside gradscope.init (before any power-of-ten scaling)."""
    if family == "nilpotent":
        W = np.triu(rng.standard_normal((n, n)) / math.sqrt(n), k=1)
        if rng.random() < 0.5:
            # nearly nilpotent: a tiny diagonal 1e-8..1e-2 (random signs)
            W += np.diag(rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-8, -2, n))
            how = "strictly upper triangular N(0, 1/n) + tiny diagonal"
        else:
            how = "strictly upper triangular N(0, 1/n) (exactly nilpotent)"
        W = scale_to_norm(W, float(rng.uniform(0.5, 1.5))) if np.any(W) else W
        return _permute(W, rng), how + ", scaled to a norm in (0.5, 1.5), permuted"
    if family == "jordan":
        lam = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.05))
        return lam * np.eye(n) + np.eye(n, k=1), f"Jordan block, λ = {lam!r} (1 above)"
    if family == "rank-deficient":
        W = rng.standard_normal((n, n)) / math.sqrt(n)
        k = int(rng.integers(1, max(2, n // 2)))
        where = rng.choice(n, size=k, replace=False)
        if rng.random() < 0.5:
            W[where, :] = 0.0
            how = f"gaussian with zero rows {sorted(where.tolist())}"
        else:
            W[:, where] = 0.0
            how = f"gaussian with zero columns {sorted(where.tolist())}"
        return scale_to_norm(W, float(rng.uniform(0.5, 1.5))), how + ", norm in (0.5, 1.5)"
    raise ValueError(f"unknown family {family!r}")


def _draw_T(rng: np.random.Generator) -> int:
    u = rng.random()
    if u < 0.82:
        return int(rng.integers(1, 61))
    if u < 0.96:
        return int(rng.integers(61, 301))
    return int(rng.integers(301, 1001))


def _draw_scale(rng: np.random.Generator) -> int:
    u = rng.random()
    if u < 0.15:
        return int(rng.integers(-300, 301))
    if u < 0.30:
        return int(rng.integers(-30, 31))
    return 0


def _array_case(seed: int, family: str, rng: np.random.Generator) -> Case:
    n = int(rng.integers(2, 13))
    T = _draw_T(rng)
    k = _draw_scale(rng)
    G = rng.standard_normal((T, n, n)) / math.sqrt(n)
    recipe = f"J_t i.i.d. N(0, 1/n) (rng {ROOT_SEED}, {seed})"
    if family == "graded-array":
        a = float(rng.uniform(0.0, min(60.0, 1500.0 / T)))  # spread <~ 2 a T decades
        k = int(np.clip(k, -290 + a, 290 - a))
        G *= 10.0 ** rng.uniform(-a, a, (T, n, 1))
        recipe += f", rows scaled by 10**U(-{a:.1f}, {a:.1f})"
    elif family == "rank-deficient-array":
        for t in np.flatnonzero(rng.random(T) < 0.3):
            i = int(rng.integers(n))
            if rng.random() < 0.5:
                G[t, i, :] = 0.0
            else:
                G[t, :, i] = 0.0
        if rng.random() < 0.3:
            t = int(rng.integers(T))
            G[t] = np.outer(rng.standard_normal(n), rng.standard_normal(n)) / n
        recipe += ", some steps with a zero row or column (and maybe one rank-1 step)"
    J = G * 10.0**k if k else G
    name = f"{family}/explicit/n{n}/T{T}/e{k:+d}/s{seed}"
    return Case(
        name=name,
        family=family,
        activation="explicit",
        n=n,
        T=T,
        seed=seed,
        J=J,
        scale_exponent=k,
        recipe=recipe + (f", times 10.0**{k}" if k else ""),
    )


def _finite_run(rnn: RNN, x: FloatArray) -> bool:
    """Whether the run stays finite (gradscope refuses one that overflows)."""
    try:
        traj = forward(rnn, x)
    except ConfigError:
        return False
    return bool(np.all(np.isfinite(traj.h)) and np.all(np.isfinite(traj.z)))


def make_case(seed: int) -> Case:
    """Case number ``seed`` of the harness, built from ``seed`` alone.

    Kind: ``COMBOS[seed % 35]`` (a family of ``W_hh`` × an activation, or an
    explicit array family). Parameters, all drawn from
    ``SeedSequence([ROOT_SEED, seed])``: n in 2..12; T in 1..60 (82 %),
    61..300 (14 %) or 301..1000 (4 %); for the gradscope.init families a
    target spectral norm in (0.5, 1.5) or radius in (0.7, 1.3); ``W`` (or
    ``J``) times ``10.0**k`` with k in −300..300 (15 %), −30..30 (15 %) or 0;
    inputs ``random_inputs(T, 8, scale=s)`` with s = 1, U(0.1, 3) or 0, and in
    30 % of the runs with inputs one to three of them times 10**U(2, 4)
    (saturating spikes); ReLU runs get a bias of −10 on a random unit in 40 %
    of cases (a unit dead throughout). Explicit arrays: J_t i.i.d. N(0, 1/n);
    ``graded-array`` scales each row by 10**U(−a, a) with a in (0, min(60,
    1500/T)) (so the spectrum spans at most a few thousand decades and the
    mpmath reference stays affordable); ``rank-deficient-array`` zeroes a row or
    column in about 30 % of the steps and may make one step rank 1.

    The network's ``W_xh`` and inputs come from ``gradscope.init.random_rnn`` /
    ``random_inputs`` with ``seed=instance_seed(ROOT_SEED, seed)``, ``W_hh`` from
    ``random_rnn`` for the gradscope.init families, and the step data from
    ``gradscope.numeric.forward.rnn_steps`` — the case stores the very ``dphi``
    and ``W_hh`` arrays of that Steps object. Where a positive k would make the
    forward pass overflow (ReLU, linear), the inputs are set to zero (linear:
    h stays 0 and J_t = W) or k is halved until the run is finite.
    """
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seeds are non-negative, got {seed}")
    family, activation = COMBOS[seed % len(COMBOS)]
    rng = _case_rng(seed)
    if activation == "explicit":
        return _array_case(seed, family, rng)
    n = int(rng.integers(2, 13))
    T = _draw_T(rng)
    k = _draw_scale(rng)
    inst = instance_seed(ROOT_SEED, seed)
    if family in FAMILIES:
        if family == "identity" or rng.random() < 0.5:
            target = {"norm": float(rng.uniform(0.5, 1.5))}
        else:
            target = {"radius": float(rng.uniform(0.7, 1.3))}
        base = random_rnn(family, n, activation=activation, seed=inst, **target)  # type: ignore[arg-type]
        W0 = base.W_hh
        w_recipe = (
            f"random_rnn({family!r}, {n}, {next(iter(target))}={next(iter(target.values()))!r})"
        )
    else:
        base = random_rnn("gaussian", n, norm=1.0, activation=activation, seed=inst)
        W0, w_recipe = _special_W(family, n, np.random.default_rng(inst))
    u = rng.random()
    x_scale = 1.0 if u < 0.6 else (float(rng.uniform(0.1, 3.0)) if u < 0.9 else 0.0)
    x = np.array(random_inputs(T, _INPUT_SIZE, seed=inst, scale=x_scale))
    spikes = 0
    spike_note = ""
    if x_scale > 0.0 and rng.random() < 0.3:
        spikes = int(rng.integers(1, min(3, T) + 1))
        when = rng.choice(T, size=spikes, replace=False)
        factor = 10.0 ** rng.uniform(2.0, 4.0, spikes)
        x[when] *= factor[:, None]
        spike_note = f"; x[{sorted(when.tolist())}] *= 1e2..1e4"
    b = np.zeros(n)
    if activation == "relu" and rng.random() < 0.4:
        b[int(rng.integers(n))] = -10.0
    if activation in ("linear", "relu") and k > 0:
        if activation == "linear":
            x[:] = 0.0  # h stays 0: J_t = W for every t, whatever the scale
            spikes, spike_note = 0, "; zero inputs (h stays 0)"
        else:
            k = min(k, max(1, 200 // T))
    while True:
        rnn = RNN(W_hh=W0 * 10.0**k if k else W0, W_xh=base.W_xh, b=b, activation=activation)
        if _finite_run(rnn, x) or k == 0:
            break
        k = int(k / 2)
    if not _finite_run(rnn, x):
        x[:] = 0.0
        spikes, spike_note = 0, "; zero inputs (the run overflowed)"
        rnn = RNN(W_hh=rnn.W_hh, W_xh=base.W_xh, b=b, activation=activation)
    steps = rnn_steps(rnn, x)
    name = f"{family}/{activation}/n{n}/T{T}/e{k:+d}/x{spikes}/s{seed}"
    recipe = (
        f"W_hh = {w_recipe}" + (f" * 10.0**{k}" if k else "") + f"; seed=instance_seed("
        f"{ROOT_SEED}, {seed}); x = random_inputs({T}, 8, scale={x_scale!r}){spike_note}"
        + ("; b[i] = -10 (a dead unit)" if np.any(b) else "")
        + f"; rnn_steps(RNN({activation!r}), x)"
    )
    return Case(
        name=name,
        family=family,
        activation=activation,
        n=n,
        T=T,
        seed=seed,
        dphi=steps.dphi,
        W=steps.W_hh,
        scale_exponent=k,
        spikes=spikes,
        recipe=recipe,
    )


def generate_cases(count: int, *, seed_list_start: int = 0) -> list[Case]:
    """Cases ``make_case(s)`` for ``s = seed_list_start, …, seed_list_start + count − 1``.

    Deterministic, and each case depends only on its own seed, so a longer list
    extends a shorter one. Any 35 consecutive seeds cover every kind in
    :data:`COMBOS`.
    """
    return [make_case(s) for s in range(seed_list_start, seed_list_start + count)]


# --- the four regressions of issue 14 -------------------------------------------------


def relu_dead_units_case() -> Case:
    """Issue 14 (a): a 6-unit, 40-step ReLU RNN with a dead unit and one large input spike.

    The issue reports log10 σ₂ = −11.15609814 from gradscope against −11.15610049
    exact, but not the network. This reproduction: ``random_rnn("gaussian", 6,
    norm=1.2, activation="relu", seed=instance_seed(14, 1158))``, inputs
    ``random_inputs(40, 8, seed=instance_seed(14, 1158))`` with x_1 × 1e2. Found
    by searching seeds 1000–1499, W scaled to ρ = 1 or ‖W‖₂ = 1.2 (gaussian,
    orthogonal, uniform), a spike of 1e2, 1e3 or 1e4 at t = 1, 10, 20 or 30, for
    runs with a unit dead (φ' = 0) at every step after the spike and σ₂ between
    1e-11.7 and 1e-10.6; this one has one unit dead from t = 2 on, about 40 % of
    all φ' zero, exact rank 3 (three σ exactly 0), and σ₂ = 10**-11.156479 — the
    issue's value to four digits (the gradscope of the search, commit 809e415,
    was within 1e-9 of it; none of the 500 runs was off by more than 2e-7).
    """
    seed = 1158
    inst = instance_seed(ROOT_SEED, seed)
    rnn = random_rnn("gaussian", 6, norm=1.2, activation="relu", seed=inst)
    x = np.array(random_inputs(40, _INPUT_SIZE, seed=inst))
    x[0] *= 1e2
    steps = rnn_steps(rnn, x)
    return Case(
        name="regression/relu-dead-units",
        family="gaussian",
        activation="relu",
        n=6,
        T=40,
        seed=seed,
        dphi=steps.dphi,
        W=steps.W_hh,
        spikes=1,
        recipe="random_rnn('gaussian', 6, norm=1.2, activation='relu', seed=instance_seed("
        "14, 1158)); x = random_inputs(40, 8, seed=instance_seed(14, 1158)); x[0] *= 1e2",
    )


def small_tanh_cases() -> list[Case]:
    """Issue 14 (b): 12 small tanh RNNs, n = 4–6, T = 300, ‖W‖₂ in 1.1–1.2.

    Seed i = 0..11: n = 4 + i mod 3, gaussian W for i < 6 and orthogonal for
    i >= 6, ‖W_hh‖₂ = 1.1 + 0.1·(i mod 4)/3 (spectral norm, by
    ``random_rnn(..., norm=...)``), inputs ``random_inputs(300, 8)``, all with
    ``seed=instance_seed(14, 2000 + i)``. The issue gives only these ranges (and
    that 4 of its 12 seeds had smallest values off by up to 2.7e-5 decades), so
    this is the same configuration, not the same draws.
    """
    out = []
    for i in range(12):
        n = 4 + i % 3
        family = "gaussian" if i < 6 else "orthogonal"
        norm = 1.1 + 0.1 * (i % 4) / 3
        seed = 2000 + i
        inst = instance_seed(ROOT_SEED, seed)
        rnn = random_rnn(family, n, norm=norm, activation="tanh", seed=inst)
        steps = rnn_steps(rnn, random_inputs(300, _INPUT_SIZE, seed=inst))
        out.append(
            Case(
                name=f"regression/small-tanh-{i}",
                family=family,
                activation="tanh",
                n=n,
                T=300,
                seed=seed,
                dphi=steps.dphi,
                W=steps.W_hh,
                recipe=f"random_rnn({family!r}, {n}, norm={norm!r}, activation='tanh', "
                f"seed=instance_seed(14, {seed})); x = random_inputs(300, 8, seed=…)",
            )
        )
    return out


def gaussian_array_case(n: int = 64, T: int = 4000) -> Case:
    """Issue 14 (c): explicit i.i.d. Gaussian Jacobians, entries N(0, 1/n), n = 64, T = 4000.

    ``numpy.random.default_rng(SeedSequence([14, 3000, n, T])).standard_normal((T, n, n))
    / sqrt(n)``. The issue does not give the variance; N(0, 1/n) keeps the top
    Lyapunov exponent near 0 (Newman: λ_i = ½[ln 2 + ψ((n−i+1)/2)] − ½ ln n), so
    the spectrum spans about 4700 decades at T = 4000. The reference is the
    determinant identity (:func:`reference_log10_abs_det`).
    """
    rng = np.random.default_rng(np.random.SeedSequence([ROOT_SEED, 3000, n, T]))
    J = rng.standard_normal((T, n, n)) / math.sqrt(n)
    return Case(
        name=f"regression/gaussian-array-n{n}-T{T}",
        family="gaussian-array",
        activation="explicit",
        n=n,
        T=T,
        seed=3000,
        J=J,
        recipe=f"default_rng(SeedSequence([14, 3000, {n}, {T}])).standard_normal(({T}, {n}, "
        f"{n})) / sqrt({n})",
    )


def badly_scaled_case() -> Case:
    """Issue 14 (d): W_hh = diag(1e250, 1), one linear step; σ = 1e250 and 1 exactly.

    Built as an RNN (``RNN(W_hh=diag(1e250, 1), W_xh=ones((2, 1)), activation="linear")``,
    one zero input) through ``rnn_steps``, so dphi = (1, 1).
    """
    rnn = RNN(W_hh=np.diag([1e250, 1.0]), W_xh=np.ones((2, 1)), activation="linear")
    steps = rnn_steps(rnn, np.zeros((1, 1)))
    return Case(
        name="regression/badly-scaled",
        family="diagonal",
        activation="linear",
        n=2,
        T=1,
        seed=0,
        dphi=steps.dphi,
        W=steps.W_hh,
        scale_exponent=250,
        recipe="RNN(W_hh=diag(1e250, 1), W_xh=ones((2, 1)), activation='linear'); one step",
    )


def regression_cases(*, n64_T: int = 4000) -> list[Case]:
    """The issue's regressions: relu, the 12 small tanh runs, the n = 64 arrays, diag(1e250, 1)."""
    return [
        relu_dead_units_case(),
        *small_tanh_cases(),
        gaussian_array_case(64, n64_T),
        badly_scaled_case(),
    ]


def case_from_name(name: str) -> Case:
    """Rebuild a case from its name alone (generated ``…/s<seed>`` or ``regression/…``)."""
    if name.startswith("regression/"):
        if name.startswith("regression/gaussian-array-n"):
            n_part, T_part = name.removeprefix("regression/gaussian-array-n").split("-T")
            case = gaussian_array_case(int(n_part), int(T_part))
        else:
            by_name = {
                c.name: c
                for c in (relu_dead_units_case(), badly_scaled_case(), *small_tanh_cases())
            }
            case = by_name[name]
    else:
        case = make_case(int(name.rsplit("/s", 1)[1]))
    if case.name != name:
        raise ValueError(f"no case is named {name!r} (seed gives {case.name!r})")
    return case


# --- exact arithmetic -----------------------------------------------------------------


def _binary(a: FloatArray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``a = m · 2**e`` elementwise, exactly, with odd integers ``m`` (m = 0 for 0)."""
    mant, ex = np.frexp(np.asarray(a, dtype=np.float64))
    m = np.ldexp(mant, 53).astype(np.int64)  # exact: a float64 has at most 53 bits
    e = ex.astype(np.int64) - 53
    nz = m != 0
    low_bit = np.where(nz, m & -m, 1)  # the lowest set bit, a power of two <= 2**52
    tz = np.rint(np.log2(low_bit.astype(np.float64))).astype(np.int64)
    return np.where(nz, m >> tz, 0), np.where(nz, e + tz, 0)


def _as_ints(m: NDArray[np.int64], e: NDArray[np.int64]) -> tuple[list[int], int]:
    """Flat Python ints ``N`` and one exponent ``E`` with ``m · 2**e = N · 2**E`` exactly."""
    nz = m != 0
    if not nz.any():
        return [0] * m.size, 0
    low = int(e[nz].min())
    shift = (e - low).ravel().tolist()
    return [int(v) << s if v else 0 for v, s in zip(m.ravel().tolist(), shift, strict=True)], low


def _exact_factors(case: Case) -> list[tuple[object, int]]:
    """Every J_t exactly, as ``(fmpz_mat N_t, E_t)`` with ``J_t = N_t · 2**E_t``."""
    from flint import fmpz_mat

    n = case.n
    out: list[tuple[object, int]] = []
    if case.J is not None:
        m, e = _binary(case.J)
        for t in range(case.T):
            ints, low = _as_ints(m[t], e[t])
            out.append((fmpz_mat(n, n, ints), low))
        return out
    assert case.W is not None and case.dphi is not None
    mw, ew = _binary(case.W)
    w_ints, w_low = _as_ints(mw, ew)
    w_rows = [w_ints[i * n : (i + 1) * n] for i in range(n)]
    md, ed = _binary(case.dphi)
    for t in range(case.T):
        d_ints, d_low = _as_ints(md[t], ed[t])
        entries = [d * w for d, row in zip(d_ints, w_rows, strict=True) for w in row]
        out.append((fmpz_mat(n, n, entries), d_low + w_low))
    return out


def exact_product(case: Case, start: int = 0, end: int | None = None) -> tuple[object, int]:
    r"""The exact :math:`P = J_{end} \cdots J_{start+1}` as ``(fmpz_mat N, int E)``, P = N·2**E.

    Assumes nothing but the stored float64 data: each ``dphi[t, i] * W[i, j]``
    is the exact product of two binary numbers (not the float64-rounded one),
    and the matrix products are exact integer arithmetic (binary splitting, so
    the cost is that of the last few products of big integers).
    """
    from flint import fmpz_mat

    end = case.T if end is None else end
    if not 0 <= start < end <= case.T:
        raise ValueError(f"need 0 <= start < end <= T = {case.T}, got {start}, {end}")
    factors = _exact_factors(case)[start:end]
    if any(N.is_zero() for N, _ in factors):  # type: ignore[attr-defined]
        return fmpz_mat(case.n, case.n), 0
    level = factors
    while len(level) > 1:  # later factors multiply from the left
        nxt = [
            (level[i + 1][0] * level[i][0], level[i][1] + level[i + 1][1])  # type: ignore[operator]
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def exact_rank(case: Case, product: tuple[object, int] | None = None) -> int:
    """The rank of the exact product: the number of singular values that are not exactly 0.

    Rank modulo the prime 2**61 − 1 is a lower bound on the rank over Q; when it
    is not full, the exact rank comes from ``fmpz_mat.rank`` (fraction-free
    elimination on the exact integers).
    """
    from flint import nmod_mat

    N, _ = exact_product(case) if product is None else product
    if N.is_zero():  # type: ignore[attr-defined]
        return 0
    if nmod_mat(N, _PRIME).rank() == case.n:
        return case.n
    return int(N.rank())  # type: ignore[attr-defined]


def _fmpz_to_mp(N: object, shift: int) -> mp.matrix:
    """The integer matrix times 2**-shift, each entry rounded to mpmath's working precision."""
    n = N.nrows()  # type: ignore[attr-defined]
    A = mp.matrix(n, n)
    for idx, v in enumerate(N.entries()):  # type: ignore[attr-defined]
        A[idx // n, idx % n] = mp.ldexp(mp.mpf(int(v)), -shift)
    return A


def _max_bits(N: object) -> int:
    return max(abs(int(v)).bit_length() for v in N.entries())  # type: ignore[attr-defined]


def reference_log10_norm(
    case: Case, start: int = 0, end: int | None = None, *, dps: int = 40
) -> tuple[float, float]:
    r"""log10 σ₁ of the exact :math:`J_{end} \cdots J_{start+1}` and its absolute error.

    σ₁ is perfectly conditioned in the absolute sense (:math:`|\Delta\sigma_1| \le
    \|\Delta P\|_2`, Weyl), and :math:`\sigma_1 \ge \max_{ij} |P_{ij}|`, so rounding
    the exact integer product to ``dps`` digits and an SVD in mpmath give
    log10 σ₁ to about ``n² 10**-dps`` relative, whatever the spread of the
    spectrum. A second run at ``dps + 20`` digits confirms it. Returns
    ``(-inf, 0)`` for an exactly zero product.
    """
    N, E = exact_product(case, start, end)
    if N.is_zero():  # type: ignore[attr-defined]
        return -math.inf, 0.0
    shift = _max_bits(N)
    runs = []
    for digits in (dps, dps + 20):
        with mp.workdps(digits):
            top = max(mp.svd_r(_fmpz_to_mp(N, shift), compute_uv=False))
        with mp.workdps(digits + 10):
            runs.append(mp.log10(top) + (E + shift) * mp.log10(2))
    n = case.n
    error = 10.0 * n * n * 10.0**-dps
    if abs(float(runs[0] - runs[1])) > error:
        raise ReferenceCheckError(f"{case.name}: σ₁ at {dps} and {dps + 20} digits disagree")
    return float(runs[1]), error


# --- the mpmath reference ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ReferenceSpectrum:
    """log10 σ_i of the exact product, descending, with what it took to get them.

    Attributes
    ----------
    log10_sigma : (n,) float64 ndarray
        Descending; ``-inf`` exactly for the n − rank exact zeros. Each value is
        the confirmation run's, rounded to float64.
    log10_error : (n,) float64 ndarray
        The error claimed for each value by the *first* run (absolute, in
        log10; 0 for exact zeros), which the confirmation run has to meet.
    rank : int
        The exact rank of the product.
    dps, confirm_dps : int
        Decimal digits of the first and of the confirmation run (``svd_r``).
    """

    log10_sigma: FloatArray
    log10_error: FloatArray
    rank: int
    dps: int
    confirm_dps: int


def _qr_estimate(case: Case) -> FloatArray:
    """Rough log10 σ estimates (discrete QR method in float64), to choose the precision.

    Each step's block is QR-factorised with its rows sorted by norm (row-graded
    blocks, such as φ' spanning many decades, lose their small R_ii otherwise).
    Only a starting point: the reference raises the precision when it was too low.
    """
    n = case.n
    Q = np.eye(n)
    logs = np.zeros(n)
    with np.errstate(all="ignore"):
        for t in range(1, case.T + 1):
            J = case.float_jacobian(t)
            big = np.max(np.abs(J))
            if not big > 0.0 or not np.isfinite(big):
                return np.full(n, -np.inf)
            Z = (J / big) @ Q
            order = np.argsort(-np.linalg.norm(Z, axis=1), kind="stable")
            Qs, R = np.linalg.qr(Z[order])
            Q = np.empty_like(Qs)
            Q[order] = Qs  # Z = Q R with Q orthogonal: the rows put back in place
            logs += np.log10(np.abs(np.diag(R))) + math.log10(big)
    return np.sort(logs)[::-1]


def _svd_run(
    N: object, E: int, rank: int, dps: int
) -> tuple[list[mp.mpf], FloatArray, FloatArray]:
    """One mpmath SVD at ``dps`` digits: log10 σ (mpf, descending), their error bounds, and
    the computed σ beyond the rank relative to the error level (which must be <= ~1)."""
    n = N.nrows()  # type: ignore[attr-defined]
    shift = _max_bits(N)
    with mp.workdps(dps):
        A = _fmpz_to_mp(N, shift)
        S = sorted(mp.svd_r(A, compute_uv=False), reverse=True)
        # Error level: the rounding of A (2**-prec per entry) and a backward-stable SVD,
        # generously ε·σ₁ times 10 n² (the confirmation run checks it).
        delta = mp.mpf(10) * n * n * mp.mpf(10) ** (-dps) * S[0]
    # The logs at more digits: log10 σ is large (thousands of decades), and its
    # absolute error must come from σ's error alone, not from rounding the log.
    size = abs(E + shift) * LOG10_2 + dps + 10
    logs, errs, beyond = [], [], []
    with mp.workdps(dps + 10 + int(math.log10(size))):
        offset = (E + shift) * mp.log10(2)
        for i, s in enumerate(S):
            if i < rank:
                if s <= 2 * delta:
                    logs.append(None)
                    errs.append(math.inf)
                else:
                    logs.append(mp.log10(s) + offset)
                    errs.append(float(-mp.log10(1 - delta / s)))
            else:
                beyond.append(float(s / delta))
    return logs, np.array(errs), np.array(beyond)


def reference_log10_singular_values(case: Case, *, digits: int | None = None) -> ReferenceSpectrum:
    r"""log10 σ_i of the exact product :math:`J_T \cdots J_1` of the stored float64 data.

    Assumes: the step data are exact binary numbers (they are), and mpmath's
    ``svd_r`` is backward stable, so that each computed σ_i is within
    ``δ = 10 n² 10**-dps σ₁`` of the exact one (the factor is generous; the
    confirmation run checks the claim). Method:

    1. the exact product ``P`` (:func:`exact_product`) and its exact rank
       (:func:`exact_rank`): the n − rank smallest σ are exactly zero (−inf);
    2. a first precision from a float64 estimate of the spread (discrete QR
       method) plus ``digits`` + 15 digits; the run is repeated at twice the
       digits until every nonzero σ_i exceeds ``δ · 10**digits`` (so that each
       carries a relative error below 1e-``digits``); the computed σ beyond the
       rank must lie below the error level, or the reference raises;
    3. confirmation: a second run at 1.5 × the digits must agree with the first
       within the first run's claimed errors, or :class:`ReferenceCheckError` is
       raised.

    Parameters
    ----------
    digits : int, optional
        Relative accuracy of every nonzero σ_i, in decimal digits (default 20).
    """
    digits = 20 if digits is None else int(digits)
    n = case.n
    product = exact_product(case)
    N, E = product
    rank = exact_rank(case, product)
    zeros = np.full(n - rank, -np.inf)
    if rank == 0:
        return ReferenceSpectrum(zeros, np.zeros(n), 0, 0, 0)
    est = _qr_estimate(case)[:rank]
    finite = est[np.isfinite(est)]  # the float estimate may lose a direction: the
    spread = float(finite[0] - finite[-1]) if finite.size else 0.0  # loop below finds it
    dps = int(max(30, min(spread, 200_000) + digits + 15 + 2 * math.log10(n)))
    while True:
        logs, errs, beyond = _svd_run(N, E, rank, dps)
        if all(v is not None for v in logs) and np.all(errs <= 10.0**-digits):
            break
        if dps > 2_000_000:
            raise ReferenceCheckError(f"{case.name}: σ not resolved at {dps} digits")
        dps *= 2
    if beyond.size and np.max(beyond) > 1e3:
        raise ReferenceCheckError(
            f"{case.name}: a σ beyond the exact rank {rank} is {np.max(beyond):.3g} × the "
            f"error level at {dps} digits (the error model is wrong)"
        )
    confirm = math.ceil(1.5 * dps)
    logs2, errs2, _ = _svd_run(N, E, rank, confirm)
    diff = np.array([float(abs(a - b)) for a, b in zip(logs, logs2, strict=True)])
    if not np.all(diff <= errs + errs2):
        i = int(np.argmax(diff - errs))
        raise ReferenceCheckError(
            f"{case.name}: σ_{i + 1} moved by {diff[i]:.3g} decades between {dps} and "
            f"{confirm} digits, more than the claimed {errs[i]:.3g}"
        )
    values = np.concatenate([[float(v) for v in logs2], zeros])
    errors = np.concatenate([errs, np.zeros(n - rank)])
    return ReferenceSpectrum(values, errors, rank, dps, confirm)


# --- the rigorous (flint) route ---------------------------------------------------------


def _outward(lo: float, hi: float) -> tuple[float, float]:
    return math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)


def flint_log10_singular_values(case: Case, *, prec: int = 128) -> list[tuple[float, float]]:
    """Rigorous enclosures ``(lo, hi)`` of log10 σ_i of the exact product, descending.

    Assumes nothing beyond python-flint's ball arithmetic: ``G = PᵀP`` is formed
    exactly in ``fmpz_mat``, its characteristic polynomial exactly
    (``charpoly``), and its roots — the σ_i² — are isolated rigorously by
    ``fmpz_poly.complex_roots`` with their multiplicities, at ``prec`` bits of
    relative accuracy; the root 0 has the multiplicity n − rank, so exact zeros
    come out as ``(-inf, -inf)``. The float bounds are rounded outwards.
    Seconds for n = 12, T = 1000 (the charpoly dominates); meant for small cases.
    """
    from flint import arb, ctx

    N, E = exact_product(case)
    n = case.n
    if N.is_zero():  # type: ignore[attr-defined]
        return [(-math.inf, -math.inf)] * n
    G = N.transpose() * N  # type: ignore[attr-defined]
    out: list[tuple[float, float]] = []
    old = ctx.prec
    ctx.prec = prec
    try:
        roots = G.charpoly().complex_roots()
        for root, mult in roots:
            re = root.real
            if re.is_zero():
                out.extend([(-math.inf, -math.inf)] * mult)
                continue
            if not re > 0:
                raise ReferenceCheckError(
                    f"{case.name}: a root of charpoly(PᵀP) is not isolated > 0"
                )
            lg = (re.log() + 2 * E * arb(2).log()) / (2 * arb(10).log())
            lo, hi = _outward(float(lg.lower()), float(lg.upper()))
            out.extend([(lo, hi)] * mult)
    finally:
        ctx.prec = old
    if len(out) != n:
        raise ReferenceCheckError(f"{case.name}: {len(out)} roots for n = {n}")
    return sorted(out, key=lambda b: b[1], reverse=True)


# --- the determinant identity ---------------------------------------------------------


def _log10_abs_exact_det(M: FloatArray, prec: int = 128) -> mp.mpf:
    """log10 |det M| of a float64 matrix, to about 1e-30 (−inf if exactly singular).

    A ball determinant (flint ``arb_mat.det``, rigorous) at ``prec`` bits; when
    the ball contains 0 or is wider than 1e-25 relative, the exact integer
    determinant (``fmpz_mat.det``) instead.
    """
    from flint import arb, arb_mat, ctx, fmpz_mat

    n = M.shape[0]
    old = ctx.prec
    ctx.prec = prec
    try:
        d = arb_mat(n, n, M.ravel().tolist()).det()
        if not d.contains(0) and d.rad() < abs(d.mid()) * arb(10) ** -25:
            mid = d.mid()
            man, exp = mid.man_exp()
            value = mp.mpf(abs(int(man))) * mp.mpf(2) ** int(exp)
            return mp.log10(value)
    finally:
        ctx.prec = old
    m, e = _binary(M)
    ints, low = _as_ints(m, e)
    det = int(fmpz_mat(n, n, ints).det())
    if det == 0:
        return mp.mpf("-inf")
    return mp.log10(abs(det)) + n * low * mp.log10(2)


def reference_log10_abs_det(case: Case) -> float:
    r""":math:`\sum_t \log_{10} |\det J_t|` of the stored data (−inf if some J_t is singular).

    Assumes only the stored float64 data. For an RNN case
    :math:`\det J_t = \prod_i dphi_{t,i} \cdot \det W` exactly, so the sum is
    :math:`\sum_{t,i}\log_{10}|dphi_{t,i}| + T \log_{10}|\det W|` with
    ``det W`` the exact integer determinant; for explicit Jacobians each
    ``det J_t`` is a rigorous ball determinant at 128 bits (exact integers when
    the ball is not tight). Summed in mpmath at 40 digits: the result is exact
    to far below float64's rounding of it.
    """
    with mp.workdps(40):
        if case.J is not None:
            total = mp.mpf(0)
            for t in range(case.T):
                term = _log10_abs_exact_det(case.J[t])
                if term == -mp.inf:
                    return -math.inf
                total += term
            return float(total)
        assert case.W is not None and case.dphi is not None
        if np.any(case.dphi == 0.0):
            return -math.inf
        detW = _log10_abs_exact_det(case.W)
        if detW == -mp.inf:
            return -math.inf
        total = case.T * detW
        for v in np.abs(case.dphi).ravel().tolist():
            total += mp.log10(mp.mpf(v))
        return float(total)


def sum_log10(values: Iterable[float]) -> float:
    """Σ values, exactly rounded (math.fsum); −inf if any is −inf."""
    vals = list(values)
    if any(v == -math.inf for v in vals):
        return -math.inf
    return math.fsum(vals)


def describe(cases: Sequence[Case]) -> dict[str, object]:
    """Coverage summary of a list of cases (kinds, n and T ranges, scale exponents)."""
    return {
        "kinds": sorted({(c.family, c.activation) for c in cases}),
        "n": (min(c.n for c in cases), max(c.n for c in cases)),
        "T": (min(c.T for c in cases), max(c.T for c in cases)),
        "scale_exponent": (
            min(c.scale_exponent for c in cases),
            max(c.scale_exponent for c in cases),
        ),
        "spiked": sum(c.spikes > 0 for c in cases),
        "count": len(cases),
    }


class OnlyApply(Steps):
    """An RNN's Jacobians known only through ``apply`` (the opaque-steps path of the engine)."""

    def __init__(self, steps: RNNSteps) -> None:
        self._steps = steps

    @property
    def n(self) -> int:
        return self._steps.n

    @property
    def T(self) -> int:
        return int(self._steps.T)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return ()

    def matrix(self, t: int) -> NDArray[np.float64]:
        return self._steps.matrix(t)

    def apply(self, t: int, V: NDArray[np.float64]) -> NDArray[np.float64]:
        return self._steps.apply(t, V)
