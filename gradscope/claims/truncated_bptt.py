r"""Claim ``truncated-bptt``: truncated BPTT (e.g. 100 steps) approximates the full gradient.

Read as: for a sequence longer than K = 100 steps, the gradient
:math:`\partial L/\partial W_{hh}` computed by truncated BPTT is within 10 %
(relative, Frobenius) of the full BPTT gradient, for
:math:`L = \sum_t \tfrac12\|W_{hy} h_t - \hat y_t\|^2` over T = 300 steps.
Truncation is done as PyTorch users do it — the state is detached every K
steps (``"chunked"``); the sliding-window variant (each :math:`L_t` through at
most K steps) is reported beside it.

Truncation drops every term that reaches back more than K steps, so the
approximation is good exactly when those terms are small: when the gradient
vanishes within the window (memory horizon ≪ K). With ‖W_hh‖₂ ≈ 1 and a
linear or lightly driven tanh RNN the dropped terms are as large as the kept
ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gradscope.claims import _balls as balls
from gradscope.claims._proof import (
    _extra_array,
    _floats,
    _frobenius,
    _gt,
    _num,
    _opposite,
    _ratio,
    _run,
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
from gradscope.claims.search import counterexample, weight_facts
from gradscope.init import FAMILIES, instance_seed, random_inputs, random_rnn
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.gradient import bptt_gradient
from gradscope.numeric.products import scan_product

ID = "truncated-bptt"
STATEMENT = "Truncated BPTT: For very long sequences, truncate gradient flow (e.g., 100 steps)."
LATEX = r"\text{truncated BPTT, } K = 100 \text{ steps}"
K, T, TOL = 100, 300, 0.1
SETTING = (
    f"L = Σ_t ½‖W_hy h_t − ŷ_t‖² over T = {T} steps, n = 16; truncated BPTT with K = {K} "
    f"(state detached every K steps, as in PyTorch); approximates: ‖g_K − g‖_F / ‖g‖_F ≤ {TOL:g} "
    "for g = ∂L/∂W_hh"
)


def _errors(rnn, W_hy, x, targets) -> dict[str, float]:  # type: ignore[no-untyped-def]
    full = bptt_gradient(rnn, W_hy, x, targets).W_hh
    scale = float(np.linalg.norm(full))
    out = {}
    for scheme in ("chunked", "sliding"):
        cut = bptt_gradient(rnn, W_hy, x, targets, truncation=K, scheme=scheme).W_hh
        out[f"relative_error_{scheme}"] = float(np.linalg.norm(cut - full)) / scale
    return out


def _search(budget: Budget, seed: int) -> tuple[list[Counterexample], dict[str, list[float]]]:
    rng = np.random.default_rng(seed)
    found: list[Counterexample] = []
    stats: dict[str, list[float]] = {"vanishing_errors": [], "other_errors": []}
    families = sorted(FAMILIES)
    try:
        for i in range(10**6):
            s = instance_seed(seed, i)
            family = families[i % len(families)]
            act = "linear" if i % 3 == 2 else "tanh"
            norm = float(rng.uniform(0.8, 1.05))
            scale = float(np.exp(rng.uniform(np.log(0.05), np.log(2.0))))
            rnn = random_rnn(family, 16, norm=norm, activation=act, seed=s)
            sub = np.random.default_rng(s)
            W_hy, targets = sub.standard_normal((2, 16)), sub.standard_normal((T, 2))
            x = random_inputs(T, 8, seed=s, scale=scale)
            budget.spend(3)  # the full and two truncated gradients
            err = _errors(rnn, W_hy, x, targets)
            horizon = int(
                scan_product(rnn_steps(rnn, x), norm_at=1, thresholds=(1e-2,), cap=T).horizons[0]
            )
            vanishing = 0 < horizon <= K // 4
            stats["vanishing_errors" if vanishing else "other_errors"].append(
                err["relative_error_chunked"]
            )
            if not found and err["relative_error_chunked"] > TOL:
                found.append(
                    counterexample(
                        ID,
                        rnn,
                        x,
                        start=0,
                        end=T,
                        observed={
                            **err,
                            "memory_horizon": horizon if horizon > 0 else None,
                            **weight_facts(rnn.W_hh),
                        },
                        note=f"{act} {family} W_hh, ‖W_hh‖₂ = {norm:.2f}, inputs of scale "
                        f"{scale:.2g}: truncation at K = {K} misses "
                        f"{100 * err['relative_error_chunked']:.0f}% of ∂L/∂W_hh "
                        f"(sliding window: {100 * err['relative_error_sliding']:.0f}%)",
                        seed=seed,
                        extra={
                            "W_hy": W_hy,
                            "targets": targets,
                            "truncation": K,
                            "scheme": "chunked",
                        },
                    )
                )
    except BudgetExhaustedError:
        pass
    return found, stats


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    results = search_each_seed(budget, seeds, _search)
    vanishing = [e for _, st in results for e in st["vanishing_errors"]]
    other = [e for _, st in results for e in st["other_errors"]]
    broken = all(cs for cs, _ in results)
    ok_when_vanishing = bool(vanishing) and max(vanishing) <= TOL
    verdict = "holds-under" if broken and ok_when_vanishing else "violated" if broken else "holds"
    examples = tuple(c for cs, _ in results for c in cs)
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=(
            f"where the memory horizon is ≤ {K // 4} steps the error is ≤ "
            f"{100 * max(vanishing, default=0):.1f}% ({len(vanishing)} RNNs); otherwise up to "
            f"{100 * max(other, default=0):.0f}% ({len(other)} RNNs); "
            + (examples[0].note if examples else "")
        ),
        numbers={
            "vanishing_cases": len(vanishing),
            "vanishing_max_error": max(vanishing, default=None),
            "other_cases": len(other),
            "other_max_error": max(other, default=None),
        },
        conditions=(
            f"the gradient vanishes well within the window: ‖∂h_t/∂h_(t−k)‖₂ ≪ 1 for k ≥ K "
            f"(memory horizon ≪ K; here ≤ K/4 kept the error ≤ {100 * TOL:.0f}%)"
        ),
        corrected=(
            "Truncated BPTT drops every term reaching back more than K steps; it approximates the "
            "full gradient only when those terms are small, i.e. when the memory horizon is well "
            "below K — which also means it cannot learn dependencies longer than K"
        ),
        source="Williams & Peng 1990 (BPTT(h)); Tallec & Ollivier 2017 (truncation bias)",
        counterexamples=examples,
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=f"relative Frobenius error ≤ {TOL:g}",
    )


def replay(cex: Counterexample) -> Replay:
    W_hy = np.asarray(cex.extra["W_hy"], dtype=np.float64)
    targets = np.asarray(cex.extra["targets"], dtype=np.float64)
    err = _errors(cex.rnn, W_hy, cex.inputs[: cex.end], targets[: cex.end])
    return Replay(
        claim=ID,
        observed=err,
        contradicts=err["relative_error_chunked"] > TOL,
        message=f"truncation at K = {K}: relative error {err['relative_error_chunked']:.3g} "
        f"(chunked), {err['relative_error_sliding']:.3g} (sliding)",
    )


def certify(cex: Counterexample, bits: int) -> Part:
    """Certify a counterexample in ball arithmetic at ``bits`` of precision.

    The replay's criterion: ‖g_K − g‖_F / ‖g‖_F > 0.1 for g = ∂L/∂W_hh, chunked truncation at K.

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

    W_hy, targets = _extra_array(cex, "W_hy"), _extra_array(cex, "targets")[: cex.end]
    run = _run(cex, forward=True)
    assert run.fw is not None
    g = balls.bptt(run.p, run.fw, W_hy, targets)["W_hh"]
    gK = balls.bptt(run.p, run.fw, W_hy, targets, truncation=K)["W_hh"]
    rel = _ratio(_frobenius(gK - g), _frobenius(g))
    result, Rf = _gt(rel, TOL), _floats(rel)
    what = f"‖g_K − g‖_F / ‖g‖_F (g = ∂L/∂W_hh, g_K its chunked truncation at K = {K})"
    if result:
        st = (
            f"proved: {what} ≥ {_num(Rf[0], False, 4)} > {TOL:g}, for the exact BPTT gradients "
            f"of L = Σ_t ½‖W_hy h_t − ŷ_t‖² over T = {cex.end} steps: truncation misses more "
            f"than {TOL:.0%} of the gradient"
        )
    elif result is False:
        st = _opposite(f"{what} ≤ {_num(Rf[1], True, 4)}")
    else:
        st = _undecided(bits, f"{what} straddles {TOL:g}")
    return Part(result, st, {"relative_error_chunked": Rf})


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=certify,
    default_budget=180,
    seconds_per_evaluation=0.15,
)
