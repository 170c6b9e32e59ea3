r"""Claim ``memory-horizon``: vanishing gradients limit memory to about 10–20 steps.

Read with DESIGN.md §1's memory horizon: from h_0, the first k with
:math:`\|\partial h_k/\partial h_0\|_2 < θ`, θ = 1e-2, for the tutorial's tanh
RNN. "About 10–20" is read generously as a horizon between 5 and 40 steps (a
factor of two either side). The horizon is a property of the network, not a
constant: the bound gives at most :math:`\log θ / \log(γ\|W\|_2)` steps when
:math:`γ\|W\|_2 < 1` (44 steps for ‖W‖₂ = 0.9) and no limit otherwise; a
near-orthogonal or identity W_hh with small inputs keeps gradients for
hundreds or thousands of steps, while saturating inputs erase them in a few.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gradscope.claims import _balls as balls
from gradscope.claims._proof import _floats, _num, _opposite, _run, _undecided
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
from gradscope.claims.search import counterexample, weight_facts
from gradscope.init import FAMILIES, instance_seed, random_inputs, random_rnn
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.products import log10_norm_trajectory, scan_product

ID = "memory-horizon"
STATEMENT = "Vanishing gradients limit memory to ~10-20 time steps."
LATEX = r"\text{memory} \approx 10\text{--}20 \text{ time steps}"
THETA = 1e-2
LOW, HIGH = 5, 40
CAP = 2000
SETTING = (
    f"tanh RNN, n = 32, generated weights of every family; memory horizon = first k with "
    f"‖∂h_k/∂h_0‖₂ < {THETA:g} (DESIGN.md §1), scanned up to {CAP} steps; 'about 10–20' read "
    f"as {LOW} ≤ horizon ≤ {HIGH}"
)


def _horizon(rnn, x) -> int | None:  # type: ignore[no-untyped-def]
    scan = scan_product(rnn_steps(rnn, x), norm_at=1, thresholds=(THETA,), cap=x.shape[0])
    k = int(scan.horizons[0])
    return k if k > 0 else None


def _search(budget: Budget, seed: int) -> tuple[dict[str, Counterexample], dict[str, object]]:
    rng = np.random.default_rng(seed)
    found: dict[str, Counterexample] = {}
    horizons: list[float] = []
    families = sorted(FAMILIES)
    try:
        for i in range(10**6):
            s = instance_seed(seed, i)
            family = families[i % len(families)]
            norm = float(rng.uniform(0.6, 1.2))
            scale = float(np.exp(rng.uniform(math.log(0.02), math.log(4.0))))
            rnn = random_rnn(family, 32, norm=norm, activation="tanh", seed=s)
            x = random_inputs(CAP, 8, seed=s, scale=scale)
            budget.spend()
            k = _horizon(rnn, x)
            horizons.append(math.inf if k is None else k)
            kind = "long" if k is None or k > HIGH else "short" if k < LOW else None
            if kind and kind not in found:
                end = HIGH + 1 if kind == "long" else k
                assert end is not None
                traj = log10_norm_trajectory(rnn_steps(rnn, x[:end]))
                found[kind] = counterexample(
                    ID,
                    rnn,
                    x[:end],
                    start=0,
                    end=end,
                    observed={
                        "memory_horizon": k,
                        "threshold": THETA,
                        "scanned": CAP,
                        "log10_norm_at_end": float(traj[-1]),
                        "min_log10_norm_up_to_end": float(traj.min()),
                        **weight_facts(rnn.W_hh),
                    },
                    note=(
                        f"{family} W_hh, ‖W_hh‖₂ = {norm:.2f}, inputs of scale {scale:.2g}: "
                        + (
                            f"memory horizon {'> ' + str(CAP) if k is None else k} steps"
                            if kind == "long"
                            else f"memory horizon {k} steps"
                        )
                    ),
                    seed=seed,
                    extra={"reading": f"horizon outside {LOW}..{HIGH}"},
                )
    except BudgetExhaustedError:
        pass
    return found, {"horizons": horizons}


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    results = search_each_seed(budget, seeds, _search)
    both = [kind for kind in ("long", "short") if all(kind in f for f, _ in results)]
    verdict = "violated" if both else "holds"
    hs = np.array([h for _, st in results for h in st["horizons"]])  # type: ignore[attr-defined]
    inside = int(np.sum((hs >= LOW) & (hs <= HIGH)))
    finite = hs[np.isfinite(hs)]
    examples = tuple(f[k] for f, _ in results for k in ("long", "short") if k in f)
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=(
            f"{inside} of {hs.size} random tanh RNNs have a horizon in {LOW}..{HIGH}; measured "
            f"horizons range from {int(finite.min()) if finite.size else '-'} to "
            f"{'> ' + str(CAP) if np.isinf(hs).any() else int(finite.max())} steps; "
            + "; ".join(e.note for e in examples[:2])
        ),
        numbers={
            "draws": int(hs.size),
            "inside_range": inside,
            "shortest": int(finite.min()) if finite.size else None,
            "longest": None if np.isinf(hs).any() else int(finite.max()),
            "not_reached_within_cap": int(np.isinf(hs).sum()),
        },
        conditions=None,
        corrected=(
            "The horizon depends on the network: at most log θ / log(γ‖W_hh‖₂) steps when "
            "γ‖W_hh‖₂ < 1 (e.g. 44 at ‖W‖₂ = 0.9, θ = 1e-2), unbounded otherwise; saturating "
            "inputs shorten it, orthogonal or identity W_hh with small inputs lengthen it to "
            "hundreds or thousands of steps"
        ),
        source="DESIGN.md §1 bound; Le, Jaitly & Hinton 2015 (identity init); Arjovsky, Shah & "
        "Bengio 2016 (unitary RNNs)",
        counterexamples=examples,
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=f"horizons are exact integers (SVD-checked crossings of θ = {THETA:g})",
    )


def replay(cex: Counterexample) -> Replay:
    traj = log10_norm_trajectory(rnn_steps(cex.rnn, cex.inputs[: cex.end], cex.h0), end=cex.end)
    below = np.nonzero(traj < math.log10(THETA))[0]
    k = int(below[0]) + 1 if below.size else None
    if k is None:
        message = f"‖∂h_k/∂h_0‖₂ ≥ {THETA:g} for every k ≤ {cex.end}: horizon > {cex.end}"
        contradicts = cex.end > HIGH
    else:
        message = f"memory horizon {k} steps"
        contradicts = not LOW <= k <= HIGH
    return Replay(
        claim=ID,
        observed={"memory_horizon_within_end": k, "log10_norm_at_end": float(traj[-1])},
        contradicts=contradicts,
        message=message,
    )


def certify(cex: Counterexample, bits: int) -> Part:
    """Certify a counterexample in ball arithmetic at ``bits`` of precision.

    The replay's criterion: the first k with ‖∂h_k/∂h_0‖₂ < θ is outside
    LOW..HIGH (or beyond end > HIGH).

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
        return Part(True, st, encs)
    if below is not None and below < LOW:
        exact = "exactly" if all(above[: below - 1]) else "at most"
        hi = encs[f"log10_norm[{below}]"][1]
        st = (
            f"proved: ‖∂h_{below}/∂h_0‖₂ ≤ 10^{_num(hi, True)} < θ = {THETA:g}, so the memory "
            f"horizon is {exact} {below} < {LOW} steps"
        )
        return Part(True, st, encs)
    if (below is not None and all(above[: below - 1])) or (cex.end <= HIGH and all(above)):
        what = f"the horizon is in {LOW}..{HIGH}, or beyond the file's {cex.end} ≤ {HIGH} steps"
        return Part(False, _opposite(what), encs)
    return Part(None, _undecided(bits, f"some ‖∂h_k/∂h_0‖₂ straddles θ = {THETA:g}"), encs)


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=certify,
    default_budget=120,
    seconds_per_evaluation=0.1,
)
