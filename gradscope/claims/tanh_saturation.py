r"""Claim ``tanh-saturation``: tanh saturation causes gradient issues.

Read as: when the units are saturated (|z| > 2, where tanh' < 0.071), the
gradient :math:`\partial h_T/\partial h_0` vanishes. Each step contributes
:math:`\|J_t\|_2 \le \max_i \tanh'(z_{t,i})\, \|W_{hh}\|_2`, so saturation
shrinks every factor — but only relative to ‖W_hh‖₂. Random networks confirm
the claim; a search with inputs chosen to hold every unit at |z| = 2.2 finds
fully saturated networks whose gradient *grows*, because
:math:`\tanh'(2.2)\,\|W_{hh}\|_2 > 1`. The claim holds when the saturated
derivative times the norm stays below 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gradscope.claims._proof import _and, _floats, _gt, _num, _opposite, _prod, _run, _undecided
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
    counterexample,
    evaluate,
    measured_norm_of,
    observed_norm,
    surely_above,
    weight_facts,
)
from gradscope.init import FAMILIES, instance_seed, random_inputs, random_rnn, recurrent_weights
from gradscope.model import RNN, get_activation
from gradscope.numeric.forward import forward

ID = "tanh-saturation"
STATEMENT = "tanh saturation causes gradient issues."
LATEX = r"\tanh \text{ saturation causes gradient issues}"
SAT, FRACTION, T, VANISHED = 2.0, 0.9, 40, -3.0
SETTING = (
    f"tanh RNN; a unit is saturated at step t when |z_t,i| > {SAT:g} (tanh' < 0.071); a run is "
    f"saturated when ≥ {FRACTION:.0%} of its unit-steps are; gradient issue = vanishing, "
    f"‖∂h_T/∂h_0‖₂ < 1e{VANISHED:.0f} at T = {T}"
)


def _saturation(rnn: RNN, x: np.ndarray, h0: np.ndarray | None = None) -> float:
    z = forward(rnn, x, h0).z
    return float(np.mean(np.abs(z) > SAT))


def _held_saturated(rng: np.random.Generator, seed_seq) -> tuple[RNN, np.ndarray]:  # type: ignore[no-untyped-def]
    """Every unit held at |z| = 2.2 by inputs that cancel W h; ‖W‖₂ chosen so tanh'·‖W‖ > 1."""
    n = 8
    c = float(rng.uniform(25.0, 40.0))
    W = recurrent_weights("orthogonal", n, norm=c, seed=seed_seq)
    rnn = RNN(W_hh=W, W_xh=np.eye(n), activation=get_activation("tanh"))
    target = 2.2 * rng.choice([-1.0, 1.0], size=n)
    x = np.empty((T, n))
    h = np.zeros(n)
    for t in range(T):
        x[t] = target - W @ h
        h = np.tanh(W @ h + x[t])
    return rnn, x


def _search(budget: Budget, seed: int) -> tuple[list[Counterexample], dict[str, list[float]]]:
    rng = np.random.default_rng(seed)
    found: list[Counterexample] = []
    stats: dict[str, list[float]] = {
        "random_saturated": [],
        "held_saturated": [],
        "unsaturated": [],
    }
    families = sorted(FAMILIES)
    try:
        for i in range(10**6):
            s = instance_seed(seed, i)
            if i % 4 == 3:
                rnn, x = _held_saturated(rng, s)
                how = "inputs hold every unit at |z| = 2.2"
            else:
                rnn = random_rnn(
                    families[i % len(families)], 16, norm=float(rng.uniform(0.5, 3.0)), seed=s
                )
                x = random_inputs(T, 8, seed=s, scale=float(np.exp(rng.uniform(-2, 3.5))))
                how = "random inputs"
            value = evaluate(budget, rnn, x)
            frac = _saturation(rnn, x)
            saturated = frac >= FRACTION
            key = (
                "unsaturated"
                if not saturated
                else "held_saturated"
                if i % 4 == 3
                else "random_saturated"
            )
            stats[key].append(value)
            if saturated and value > VANISHED and not found:
                found.append(
                    counterexample(
                        ID,
                        rnn,
                        x,
                        start=0,
                        end=T,
                        observed={
                            "log10_norm": value,
                            "saturated_fraction": frac,
                            **weight_facts(rnn.W_hh),
                        },
                        note=f"{frac:.0%} of unit-steps saturated ({how}), yet ‖∂h_{T}/∂h_0‖₂ = "
                        f"10^{value:.1f}: tanh'(2.2)·‖W_hh‖₂ = "
                        f"{(1 - math.tanh(2.2) ** 2) * np.linalg.norm(rnn.W_hh, 2):.2f} > 1",
                        seed=seed,
                    )
                )
    except BudgetExhaustedError:
        pass
    return found, stats


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    results = search_each_seed(budget, seeds, _search)
    rand = [v for _, st in results for v in st["random_saturated"]]
    held = [v for _, st in results for v in st["held_saturated"]]
    unsat = [v for _, st in results for v in st["unsaturated"]]
    broken = all(cs for cs, _ in results)
    examples = tuple(c for cs, _ in results for c in cs)
    verdict = "holds-under" if broken else "holds"

    def med(values: list[float]) -> float:
        return float(np.median(values)) if values else math.nan

    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=(
            f"random saturated runs: {sum(v <= VANISHED for v in rand)} of {len(rand)} vanish "
            f"(median log10 ‖∂h_T/∂h_0‖₂ = {med(rand):.1f}; unsaturated: {med(unsat):.1f} over "
            f"{len(unsat)}); held at |z| = 2.2 with large ‖W_hh‖₂: "
            f"{sum(v <= VANISHED for v in held)} of {len(held)} vanish; "
            + (examples[0].note if examples else "no saturated run without vanishing")
        ),
        numbers={
            "random_saturated_runs": len(rand),
            "random_saturated_vanishing": sum(v <= VANISHED for v in rand),
            "median_log10_random_saturated": med(rand),
            "median_log10_unsaturated": med(unsat),
            "held_saturated_runs": len(held),
            "held_saturated_vanishing": sum(v <= VANISHED for v in held),
        },
        conditions=(
            "the saturated derivative times the norm stays below 1: "
            "max_i tanh'(z_t,i)·‖W_hh‖₂ < 1 "
            "at the saturated steps (then ‖∂h_T/∂h_0‖₂ ≤ Π_t max_i tanh'(z_t,i)·‖W_hh‖₂ → 0)"
        )
        if broken
        else None,
        corrected=(
            "Saturation shrinks each step's Jacobian to at most max_i tanh'(z_t,i)·‖W_hh‖₂; it "
            "makes gradients vanish when that product is below 1, which is the usual case, but a "
            "large ‖W_hh‖₂ can outweigh it"
        )
        if broken
        else None,
        source="DESIGN.md §1 bound applied step by step; Pascanu, Mikolov & Bengio 2013",
        counterexamples=examples,
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=f"vanishing at log10 ‖∂h_T/∂h_0‖₂ < {VANISHED:g}",
    )


def replay(cex: Counterexample) -> Replay:
    rnn = cex.rnn
    measured = measured_norm_of(cex)
    value = float(measured.log10_norm)
    frac = _saturation(rnn, cex.inputs[: cex.end], cex.h0)
    return Replay(
        claim=ID,
        observed={
            **observed_norm(measured),
            "saturated_fraction": frac,
            **weight_facts(rnn.W_hh),
        },
        contradicts=frac >= FRACTION and surely_above(measured, VANISHED),
        message=f"{frac:.1%} of unit-steps saturated; log10 ‖∂h_{cex.end}/∂h_0‖₂ = {value:.3f}",
    )


def certify(cex: Counterexample, bits: int) -> Part:
    """Certify a counterexample in ball arithmetic at ``bits`` of precision.

    The replay's criterion: ≥ 90% of unit-steps have |z| > 2 and log10 ‖∂h_end/∂h_start‖₂ > −3.

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
    return Part(result, st, {"log10_norm": P}, {**facts, "unit_steps": total})


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=certify,
    default_budget=300,
    seconds_per_evaluation=0.006,
)
