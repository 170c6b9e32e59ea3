r"""Claim ``eigenvalue-criterion``: ρ(W_hh) < 1 ⇒ vanishing, ρ(W_hh) > 1 ⇒ exploding.

Read in the tutorial's setting: its tanh RNN and its product
:math:`\partial h_T/\partial h_1 = J_T \cdots J_2`; "the largest eigenvalue"
as the spectral radius ρ (the largest |λ|, the most favourable reading);
"shrinks / grows exponentially" as :math:`\|\partial h_T/\partial h_1\|_2` falling
below :math:`10^{-3}` / rising above :math:`10^{3}` and continuing at a steady
exponential rate.

Both halves fail for tanh, because the Jacobians are :math:`D_t W` and not
:math:`W`:

* ρ(W) < 1 yet exploding. :math:`W = c\,a b^\top` with :math:`b^\top a = 0` is
  nilpotent (ρ = 0), but with inputs that hold unit 1 at :math:`z = 0`
  (φ' = 1) and saturate unit 2 (φ' ≈ 0), every step has
  :math:`J_t = D W` with :math:`\rho(DW) = c\,a_1 b_1` — here 3 — so the product
  grows like :math:`3^{T}`.
* ρ(W) > 1 yet vanishing: inputs that saturate the units make every φ' small.

The statement is right with the largest *singular value* (Pascanu, Mikolov &
Bengio 2013, final version, §2.1): ‖W‖₂ < 1/γ suffices for vanishing and
‖W‖₂ > 1/γ is necessary for exploding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gradscope.claims import _balls as balls
from gradscope.claims._proof import (
    _and,
    _floats,
    _gt,
    _lt,
    _num,
    _opposite,
    _or,
    _prod,
    _run,
    _sci,
    _undecided,
)
from gradscope.claims.base import (
    Budget,
    BudgetExhaustedError,
    Claim,
    ClaimCheck,
    Counterexample,
    Part,
    Replay,
    search_each_seed,
)
from gradscope.claims.search import (
    adversarial_inputs,
    counterexample,
    evaluate,
    measured_norm_of,
    observed_norm,
    surely_above,
    surely_below,
    weight_facts,
)
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.model import RNN, get_activation
from gradscope.numeric.forward import forward_arrays
from gradscope.numeric.norms import spectral_radius

ID = "eigenvalue-criterion"
STATEMENT = (
    "If the largest eigenvalue of W_hh is < 1, the product shrinks exponentially → vanishing "
    "gradients. If the largest eigenvalue is > 1, the product grows exponentially → exploding "
    "gradients."
)
LATEX = (
    r"\frac{\partial \mathbf{h}_T}{\partial \mathbf{h}_1} = \prod_{t=2}^{T} "
    r"\text{diag}(\sigma'(\mathbf{z}_t))\, \mathbf{W}_{hh}:\ \lambda_{\max}(\mathbf{W}_{hh}) < 1 "
    r"\Rightarrow \text{vanishing},\ > 1 \Rightarrow \text{exploding}"
)
SETTING = (
    "tanh RNN; ∂h_T/∂h_1 = J_T ⋯ J_2 (T − 1 factors); 'largest eigenvalue' = spectral radius "
    "ρ(W_hh) = max |λ|; shrinks: ‖∂h_T/∂h_1‖₂ < 1e-3, grows: > 1e3 (spectral norm), inputs free"
)
LOG10_BIG = 3.0


def _saturating_construction(rng: np.random.Generator, T: int) -> tuple[RNN, np.ndarray]:
    """A nilpotent W (ρ = 0) and inputs that make J_t = D W with ρ(D W) ≈ 3 at every step."""
    phi = rng.uniform(0.25, 1.3)
    a = np.array([math.cos(phi), math.sin(phi)])
    b = np.array([math.sin(phi), -math.cos(phi)])  # bᵀa = 0: W = c a bᵀ is nilpotent
    c = 3.0 / (a[0] * b[0])
    W = c * np.outer(a, b)
    rnn = RNN(W_hh=W, W_xh=np.eye(2), activation=get_activation("tanh"))
    target = np.array([0.0, rng.uniform(8.0, 12.0)])  # unit 1 at z = 0, unit 2 saturated
    x = np.empty((T, 2))
    h = np.zeros(2)
    for t in range(T):  # x_t = z_target − W h_{t−1}, so z_t = z_target exactly
        x[t] = target - W @ h
        traj = forward_arrays(W, np.eye(2), np.zeros(2), x[t : t + 1], h, "tanh")
        h = traj.h[-1]
    return rnn, x


def _record(
    kind: str, rnn: RNN, x: np.ndarray, value: float, T: int, seed: int, how: str
) -> Counterexample:
    facts = weight_facts(rnn.W_hh)
    verb = "grows" if value > 0 else "vanishes"
    return counterexample(
        ID,
        rnn,
        x,
        start=1,
        end=T,
        observed={"log10_norm": value, "log10_rate_per_step": value / (T - 1), **facts},
        note=f"ρ(W_hh) = {facts['spectral_radius']:.3g} {'<' if kind == 'below' else '>'} 1 but "
        f"‖∂h_{T}/∂h_1‖₂ = 10^{value:.1f} {verb} ({how}; ‖W_hh‖₂ = {facts['spectral_norm']:.3g})",
        seed=seed,
        extra={
            "case": "radius below 1, exploding" if kind == "below" else "radius above 1, vanishing"
        },
    )


def _search(budget: Budget, seed: int) -> tuple[dict[str, Counterexample], dict[str, float]]:
    rng = np.random.default_rng(seed)
    found: dict[str, Counterexample] = {}
    stats = {"draws": 0, "es_max_log10_growth_radius_below_1": -math.inf}
    T = 60
    try:
        # ρ < 1, exploding: the saturating construction, then an adversarial input search.
        # The construction's forward dynamics expand by 3 per step, so float rounding in
        # the designed trajectory grows like 3^t: beyond ~30 steps the exact trajectory
        # leaves it (ball arithmetic showed a 60-step version to be an artefact). Twenty
        # steps keep the deviation near 1e-7 and the growth at 3^19 ≈ 1e9.
        T_held = 20
        rnn, x = _saturating_construction(rng, T_held)
        value = evaluate(budget, rnn, x, start=1)
        stats["draws"] += 1
        if value > LOG10_BIG and spectral_radius(rnn.W_hh) < 1:
            found["below"] = _record(
                "below",
                rnn,
                x,
                value,
                T_held,
                seed,
                "inputs hold one unit at z = 0 and saturate the other",
            )
        nn_rnn = random_rnn("non-normal", 8, radius=0.9, seed=instance_seed(seed, 0))
        es = adversarial_inputs(budget.share(0.5), nn_rnn, T, maximise=True, rng=rng, start=1)
        stats["es_max_log10_growth_radius_below_1"] = es.value
        if "below" not in found and es.value > LOG10_BIG:
            found["below"] = _record(
                "below", nn_rnn, es.inputs, es.value, T, seed, "adversarial input search"
            )
        # ρ > 1, vanishing: random draws with inputs of growing scale
        for i in range(1, 10**6):
            radius = rng.uniform(1.05, 2.0)
            scale = rng.uniform(0.5, 5.0)
            rnn = random_rnn("gaussian", 8, radius=radius, seed=instance_seed(seed, i))
            x = random_inputs(T, 8, seed=instance_seed(seed, i), scale=scale)
            value = evaluate(budget, rnn, x, start=1)
            stats["draws"] += 1
            if value < -LOG10_BIG:
                found["above"] = _record(
                    "above",
                    rnn,
                    x,
                    value,
                    T,
                    seed,
                    f"tanh with inputs x_t ~ N(0, {scale:.2g}²)",
                )
                break
    except BudgetExhaustedError:
        pass
    return found, stats


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    results = search_each_seed(budget, seeds, _search)
    both = {kind for kind in ("below", "above") if all(kind in f for f, _ in results)}
    examples = tuple(f[k] for f, _ in results for k in ("below", "above") if k in f)
    verdict = "violated" if both else "holds"
    parts = []
    for kind in ("below", "above"):
        hits = [f[kind] for f, _ in results if kind in f]
        if hits:
            parts.append(hits[0].note)
    evidence = "; ".join(parts) if parts else "no counterexample within the budget"
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=evidence,
        numbers={
            "found_radius_below_1_exploding": "below" in both,
            "found_radius_above_1_vanishing": "above" in both,
            "draws": sum(s["draws"] for _, s in results),
            "adversarial_search_best_log10_growth": [
                s["es_max_log10_growth_radius_below_1"] for _, s in results
            ],
        },
        conditions=None,
        corrected=(
            "Use the largest singular value: with γ = sup|φ'|, ‖W_hh‖₂ < 1/γ is sufficient for "
            "vanishing (‖∂h_T/∂h_k‖₂ ≤ (γ‖W_hh‖₂)^(T−k)) and ‖W_hh‖₂ > 1/γ is necessary for "
            "exploding. The eigenvalue version holds only asymptotically and only for a linear "
            "RNN (where a non-normal W_hh can still grow for many steps first)."
        ),
        source=(
            "Pascanu, Mikolov & Bengio, 'On the difficulty of training recurrent neural "
            "networks', ICML 2013, §2.1 (the final version says 'largest singular value'; "
            "arXiv v1's 'largest eigenvalue' was an error)"
        ),
        counterexamples=examples,
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=f"exponential change judged at |log10 ‖∂h_T/∂h_1‖₂| > {LOG10_BIG:g}",
    )


def replay(cex: Counterexample) -> Replay:
    rnn = cex.rnn
    measured = measured_norm_of(cex)
    value = float(measured.log10_norm)
    facts = weight_facts(rnn.W_hh)
    rho = facts["spectral_radius"]
    contradicts = (rho < 1 and surely_above(measured, LOG10_BIG)) or (
        rho > 1 and surely_below(measured, -LOG10_BIG)
    )
    return Replay(
        claim=ID,
        observed={**observed_norm(measured), **facts},
        contradicts=contradicts,
        message=f"ρ(W_hh) = {rho:.6g}, ‖W_hh‖₂ = {facts['spectral_norm']:.6g}: "
        f"log10 ‖∂h_{cex.end}/∂h_{cex.start}‖₂ = {value:.3f}",
    )


def certify(cex: Counterexample, bits: int) -> Part:
    """Certify a counterexample in ball arithmetic at ``bits`` of precision.

    The replay's criterion: (ρ(W) < 1 and log10‖P‖ > 3) or (ρ(W) > 1 and log10‖P‖ < −3).

    Parameters
    ----------
    cex : Counterexample
        A counterexample of this claim.
    bits : int
        The working precision of the ball arithmetic.

    Returns
    -------
    Part
        What is proved at this precision (``result`` None: undecided).
    """

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
    return Part(result, st, {"log10_norm": P, "spectral_radius": R}, {"case": case})


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=certify,
    default_budget=600,
    seconds_per_evaluation=0.004,
)
