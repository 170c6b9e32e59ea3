r"""Claim ``indrnn-gradient-regulation``: IndRNN's per-unit gradient is regulated by u_n alone.

Li, Li, Cook, Zhu & Gao (CVPR 2018), §3.1. The cell :math:`h_t = \sigma(W x_t + u \odot
h_{t-1} + b)` has diagonal step Jacobians, so for each unit n

.. math:: \frac{\partial h_{n,T}}{\partial h_{n,t}} = u_n^{T-t}\prod_{k=t}^{T-1}\sigma'_{n,k+1}.

Read as the paper uses it — keep :math:`|u_n|` in
:math:`[\epsilon^{1/(T-t)}, \gamma^{1/(T-t)}]` and the gradient neither explodes
(:math:`\le\gamma`) nor vanishes (:math:`\ge\epsilon`) — with ReLU
(:math:`\sigma' \in \{0, 1\}`) the upper bound always holds, and the lower one
fails as soon as the unit is inactive at one step: the factor is then exactly 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradscope.claims._cells import cell_counterexample, cell_steps, replayed_run
from gradscope.claims.base import (
    Budget,
    BudgetExhaustedError,
    Claim,
    ClaimCheck,
    Replay,
    search_each_seed,
)
from gradscope.claims.cell_counterexample import CellCounterexample
from gradscope.errors import ConfigError

ID = "indrnn-gradient-regulation"
STATEMENT = (
    "“∂J_n/∂h_{n,t} = ∂J_n/∂h_{n,T} u_n^{T−t} ∏_{k=t}^{T−1} σ'_{n,k+1}. It can be seen that "
    "the gradient only involves the exponential term of a scalar value u_n which can be easily "
    "regulated” (§3.1, as transcribed from the paper; equation number not found verbatim); "
    "used as: |u_n| ∈ [ε^{1/(T−t)}, γ^{1/(T−t)}] keeps the gradient in [ε, γ] (range not "
    "found verbatim)"
)
LATEX = (
    r"\frac{\partial h_{n,T}}{\partial h_{n,t}} = u_n^{T-t}\prod_{k=t}^{T-1}\sigma'_{n,k+1},"
    r"\quad |u_n| \in [\epsilon^{1/(T-t)}, \gamma^{1/(T-t)}] \Rightarrow "
    r"\epsilon \le \left|\frac{\partial h_{n,T}}{\partial h_{n,t}}\right| \le \gamma"
)
SETTING = (
    "the zoo's indrnn cell, ReLU (the paper's), one layer; per unit n the diagonal entry of "
    "∂h_T/∂h_0 = J_T ⋯ J_1 (t = 0); ε = 1/MAG, γ = MAG with MAG ∈ {2, 10} (the authors' "
    "code); u_n drawn in ±[ε^{1/T}, γ^{1/T}], W ~ N(0, 0.001²) (paper init), b ∈ {0, 0.1}, "
    "n 4–32, T 10–200, inputs N(0, 1), h_0 = 0"
)
_REL = 1e-12  # relative tolerance on a product of T ≤ 10^4 rounded factors (≤ T·u, generous)


def _unit_gradients(cell: Any, x: np.ndarray, s0: np.ndarray | None = None) -> np.ndarray:
    """|∂h_{n,T}/∂h_{n,0}| for every unit: the product of the diagonal step Jacobians."""
    steps = cell_steps(cell, x, s0)
    out = np.ones(cell.hidden_size)
    for t in range(1, x.shape[0] + 1):
        out = out * np.abs(np.diagonal(steps.matrix(t)))
    return out


def _verdicts(
    cell: Any, x: np.ndarray, mag: float, s0: np.ndarray | None = None
) -> dict[str, Any]:
    T = x.shape[0]
    g = _unit_gradients(cell, x, s0)
    u = np.abs(np.asarray(cell.u))
    lo_u, hi_u = (1.0 / mag) ** (1.0 / T), mag ** (1.0 / T)
    in_range = (u >= lo_u) & (u <= hi_u)
    below = in_range & (g < (1.0 / mag) * (1 - _REL))
    above = in_range & (g > mag * (1 + _REL))
    return {"g": g, "in_range": in_range, "below": below, "above": above}


def _search(budget: Budget, seed: int) -> dict[str, Any]:
    from gradscope.model.zoo import zoo_cell

    rng = np.random.default_rng(seed)
    found: list[CellCounterexample] = []
    tally = {"draws": 0, "units": 0, "below": 0, "above": 0, "active_units_outside": 0}
    try:
        while True:
            budget.spend()
            n, m = int(rng.integers(4, 33)), int(rng.integers(1, 5))
            T = int(rng.integers(10, 201))
            mag = (2.0, 10.0)[int(rng.integers(2))]
            base = zoo_cell("indrnn", hidden=n, inputs=m, seed=int(rng.integers(2**31)))
            sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
            u = sign * rng.uniform((1.0 / mag) ** (1.0 / T), mag ** (1.0 / T), n)
            b = np.full(n, (0.0, 0.1)[int(rng.integers(2))])
            cell = dataclasses.replace(base, u=u, b=b)
            x = rng.standard_normal((T, m))
            v = _verdicts(cell, x, mag)
            tally["draws"] += 1
            tally["units"] += int(v["in_range"].sum())
            tally["below"] += int(v["below"].sum())
            tally["above"] += int(v["above"].sum())
            active = v["g"] > 0  # ReLU: a nonzero factor means active at every step
            outside = active & (v["below"] | v["above"])
            tally["active_units_outside"] += int(outside.sum())
            if v["below"].any() and not found:
                unit = int(np.flatnonzero(v["below"])[0])
                g = float(v["g"][unit])
                observed = {
                    "log10_unit_gradient": math.log10(g) if g > 0 else -math.inf,
                    "abs_u": float(abs(u[unit])),
                    "log10_eps": -math.log10(mag),
                }
                note = (
                    f"n = {n}, T = {T}, MAG = {mag:g}: unit {unit} has |u| = {abs(u[unit]):.6f} "
                    f"in [ε^(1/T), γ^(1/T)] yet |∂h_T/∂h_0|_(n,n) = {g:.3g} < ε = {1 / mag:g}"
                )
                found.append(
                    cell_counterexample(
                        ID,
                        cell,
                        x,
                        start=0,
                        end=T,
                        observed=observed,
                        note=note,
                        seed=seed,
                        extra={"unit": unit, "mag": mag},
                    )
                )
    except BudgetExhaustedError:
        pass
    return {"found": found, "tally": tally}


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    per_seed = search_each_seed(budget, seeds, _search)
    found = [c for s in per_seed for c in s["found"]]
    t = {k: sum(s["tally"][k] for s in per_seed) for k in per_seed[0]["tally"]}
    seeds_with = sum(1 for s in per_seed if s["found"])
    explodes = t["above"] > 0
    verdict = "violated" if explodes else ("holds-under" if seeds_with >= 2 else "holds")
    evidence = (
        f"{t['units']} units with |u_n| in range over {t['draws']} IndRNNs: {t['above']} above "
        f"γ, {t['below']} below ε; units active at every step outside [ε, γ]: "
        f"{t['active_units_outside']}" + (f"; e.g. {found[0].note}" if found else "")
    )
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=evidence,
        numbers=t,
        conditions=(
            "the unit is active (pre-activation > 0) at every step t+1..T: then the gradient "
            "is exactly |u_n|^(T−t) ∈ [ε, γ]; the upper bound γ holds always"
            if verdict == "holds-under"
            else None
        ),
        corrected=(
            "|∂h_{n,T}/∂h_{n,t}| = |u_n|^(T−t) ∏σ'_{n,k+1} ≤ |u_n|^(T−t): |u_n| ≤ γ^(1/(T−t)) "
            "prevents explosion, but no range of u_n prevents vanishing — with ReLU one "
            "inactive step makes the factor exactly 0"
            if found
            else None
        ),
        source="the paper's own formula with σ' ∈ {0, 1} for ReLU (Li et al. 2018 §3.1)",
        counterexamples=tuple(found),
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=f"a unit's factor counts as below ε (above γ) when < ε(1 − {_REL:g}) "
        f"(> γ(1 + {_REL:g})); the counterexamples' factors are exact zeros",
    )


def replay(cex: Any) -> Replay:
    cell, x, s0 = replayed_run(cex, ID, "indrnn")
    unit, mag = cex.extra.get("unit"), cex.extra.get("mag")
    n = cex.cell.hidden_size
    if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < n:
        raise ConfigError(
            f"counterexample field 'unit' must be an integer in [0, {n}), got {unit!r}"
        )
    if isinstance(mag, bool) or not isinstance(mag, (int, float)) or not mag > 1:
        raise ConfigError(f"counterexample field 'mag' must be a number > 1, got {mag!r}")
    v = _verdicts(cell, x, float(mag), s0)
    g = float(v["g"][unit])
    contradicts = cex.start == 0 and bool(v["below"][unit] or v["above"][unit])
    return Replay(
        claim=ID,
        observed={
            "log10_unit_gradient": math.log10(g) if g > 0 else -math.inf,
            "abs_u": float(abs(cex.cell.u[unit])),
            "log10_eps": -math.log10(float(mag)),
        },
        contradicts=contradicts,
        message=(
            f"unit {unit}: |u| = {abs(cex.cell.u[unit]):.6f}, |∂h_T/∂h_0|_(n,n) = {g:.6g}, "
            f"the claimed range [{1 / mag:g}, {mag:g}]"
        ),
    )


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=None,
    default_budget=200,
    seconds_per_evaluation=0.05,  # measured: 2–15 ms
)
