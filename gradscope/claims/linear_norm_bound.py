r"""Claim ``linear-norm-bound``: for a linear RNN, ‖∂h_T/∂h_1‖ ≤ ‖W_hh‖^T.

Read literally: linear activation, so :math:`\partial h_T/\partial h_1 = J_T \cdots J_2
= W_{hh}^{T-1}` — **T − 1 factors** — and the spectral norm. Submultiplicativity
gives :math:`\|W^{T-1}\|_2 \le \|W\|_2^{T-1}`, which is at most :math:`\|W\|_2^T`
only when :math:`\|W\|_2 \ge 1`. For :math:`\|W\|_2 < 1` — the vanishing case the
tutorial is about — the stated bound is one factor too small and fails already
for :math:`W = \tfrac12 I`, T = 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gradscope.claims import _balls as balls
from gradscope.claims._proof import TOL, _floats, _num, _opposite, _run, _undecided
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
    weight_facts,
)
from gradscope.init import FAMILIES, instance_seed, random_rnn
from gradscope.model import RNN
from gradscope.numeric.norms import spectral_norm
from gradscope.studies.bound import judging_slack, rounding_tolerance

ID = "linear-norm-bound"
STATEMENT = (
    "For a linear RNN (σ = identity): ‖∂h_T/∂h_1‖ ≤ ‖W_hh‖^T. If ‖W_hh‖ < 1, gradient "
    "vanishes as O(‖W_hh‖^T)."
)
LATEX = (
    r"\left\|\frac{\partial \mathbf{h}_T}{\partial \mathbf{h}_1}\right\| "
    r"\leq \|\mathbf{W}_{hh}\|^T"
)
SETTING = (
    "linear activation; ∂h_T/∂h_1 = J_T ⋯ J_2 = W_hh^(T−1) (T − 1 factors, DESIGN.md §1); "
    "spectral norm; any W_hh, any T ≥ 2"
)


def _violation(budget: Budget, rnn: RNN, T: int) -> tuple[bool, float, float, np.ndarray]:
    x = np.zeros((T, rnn.input_size))  # a linear RNN's Jacobians do not depend on inputs
    measured = evaluate(budget, rnn, x, start=1, end=T)
    claimed = T * math.log10(spectral_norm(rnn.W_hh))
    return measured > claimed + rounding_tolerance(T, rnn.hidden_size), measured, claimed, x


def _search(budget: Budget, seed: int) -> tuple[list[Counterexample], dict[str, int]]:
    """Random draws of family, size, norm and T; the first violation is kept."""
    rng = np.random.default_rng(seed)
    found: list[Counterexample] = []
    tally = {"draws": 0, "violations": 0, "violations_with_norm_at_least_1": 0}
    families = sorted(FAMILIES)
    try:
        for i in range(10**9):
            family = families[int(rng.integers(len(families)))]
            n = int(rng.integers(2, 17))
            norm = float(np.exp(rng.uniform(np.log(0.2), np.log(2.0))))
            T = int(rng.integers(2, 60))
            rnn = random_rnn(
                family, n, norm=norm, activation="linear", seed=instance_seed(seed, i)
            )
            bad, measured, claimed, x = _violation(budget, rnn, T)
            tally["draws"] += 1
            if bad:
                tally["violations"] += 1
                tally["violations_with_norm_at_least_1"] += norm >= 1.0
                if not found:
                    found.append(
                        counterexample(
                            ID,
                            rnn,
                            x,
                            start=1,
                            end=T,
                            observed={
                                "log10_norm": measured,
                                "log10_claimed_bound": claimed,
                                "log10_corrected_bound": (T - 1) * math.log10(norm),
                                **weight_facts(rnn.W_hh),
                            },
                            note=f"{family} W with ‖W‖₂ = {norm:.3g} < 1, T = {T}: "
                            f"‖∂h_T/∂h_1‖₂ = 10^{measured:.3f} > ‖W‖₂^T = 10^{claimed:.3f}",
                            seed=seed,
                        )
                    )
    except BudgetExhaustedError:
        pass
    return found, tally


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    per_seed = search_each_seed(budget, seeds, _search)
    found = [c for cs, _ in per_seed for c in cs]
    draws = sum(t["draws"] for _, t in per_seed)
    violations = sum(t["violations"] for _, t in per_seed)
    above_one = sum(t["violations_with_norm_at_least_1"] for _, t in per_seed)
    seeds_with = sum(1 for cs, _ in per_seed if cs)
    verdict = "violated" if seeds_with >= 2 else "holds"
    if found:
        c = found[0]
        evidence = (
            f"{violations} of {draws} random linear RNNs break it, {above_one} of them with "
            f"‖W‖₂ ≥ 1; e.g. {c.note}"
        )
    else:
        evidence = f"no violation in {draws} random linear RNNs"
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=evidence,
        numbers={"draws": draws, "violations": violations, "violations_norm_ge_1": above_one},
        conditions=(
            "true as written when ‖W_hh‖₂ ≥ 1 (no violation among those draws)"
            if found and above_one == 0
            else None
        ),
        corrected=(
            "‖∂h_T/∂h_1‖₂ = ‖W_hh^(T−1)‖₂ ≤ ‖W_hh‖₂^(T−1) (T − 1 factors), tight for a scaled "
            "orthogonal W_hh; equivalently ‖∂h_T/∂h_0‖₂ ≤ ‖W_hh‖₂^T"
            if found
            else None
        ),
        source="submultiplicativity of the spectral norm; count the factors (DESIGN.md §1)",
        counterexamples=tuple(found),
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance="measured > bound + (T n² + n)·u in log10 (u = 2^-53) counts as a violation; "
        "a replay uses the error bound its product computed where that is smaller",
    )


def replay(cex: Counterexample) -> Replay:
    rnn = cex.rnn
    norm = measured_norm_of(cex)
    measured = float(norm.log10_norm)
    T = cex.end
    claimed = T * math.log10(spectral_norm(rnn.W_hh))
    slack = judging_slack(float(norm.log10_error), norm.factors, rnn.hidden_size)
    contradicts = rnn.activation.name == "linear" and cex.start == 1 and measured > claimed + slack
    return Replay(
        claim=ID,
        observed={
            **observed_norm(norm),
            "log10_claimed_bound": claimed,
            **weight_facts(rnn.W_hh),
        },
        contradicts=contradicts,
        message=(
            f"log10 ‖∂h_{T}/∂h_1‖₂ = {measured:.6f} {'>' if contradicts else '<='} "
            f"T·log10 ‖W_hh‖₂ = {claimed:.6f}"
        ),
    )


def certify(cex: Counterexample, bits: int) -> Part:
    """Certify a counterexample in ball arithmetic at ``bits`` of precision.

    The replay's criterion: linear, start = 1, ‖∂h_T/∂h_1‖₂ > ‖W_hh‖₂^T (T = end).

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
    if cex.activation != "linear" or cex.start != 1:
        why = "outside the claim's setting (a linear RNN and ∂h_T/∂h_1): nothing to certify"
        return Part(False, why, computed=False)
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
    return Part(result, st, encs)


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=certify,
    seconds_per_evaluation=0.005,  # measured: 2–3.4 ms
)
