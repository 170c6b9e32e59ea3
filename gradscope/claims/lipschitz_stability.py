r"""Claim ``lipschitz-stability``: the Lipschitz RNN's stability, and its gradients.

Erichson, Azencot, Queiruga, Hodgkinson & Mahoney (ICLR 2021). The zoo's cell is
the Euler step of :math:`\dot h = A_\beta h + \tanh(W_\beta h + U x + b)`, so
:math:`J_t = I + \epsilon A_\beta + \epsilon D_t W_\beta`. A sufficient condition
for global (exponential) stability of the unit, in the contraction form
(tanh is 1-Lipschitz):

.. math:: \mu = -\big(\lambda_{\max}(\tfrac12(A_\beta + A_\beta^\top)) + \|W_\beta\|_2\big) > 0.

Judged on the product :math:`\partial h_T/\partial h_0`: (1) under the condition
the step is non-expansive, :math:`\|\partial h_T/\partial h_0\|_2 \le 1`, when
:math:`\epsilon\|A_\beta + D_t W_\beta\|_2^2 \le 2\mu`; (2) as used — no exploding
gradients — at the paper's own settings, where the condition does not hold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradscope.claims._cells import cell_counterexample, cell_norm, replayed_run
from gradscope.claims.base import (
    Budget,
    BudgetExhaustedError,
    Claim,
    ClaimCheck,
    Replay,
    search_each_seed,
)
from gradscope.claims.cell_counterexample import CellCounterexample
from gradscope.studies.bound import rounding_tolerance

ID = "lipschitz-stability"
STATEMENT = (
    "“Sufficient conditions for global stability of the recurrent unit are obtained, "
    "motivating a novel scheme for constructing hidden-to-hidden matrices.” (abstract); the "
    "conditions, on the symmetric parts of A_β and W_β (Theorem of §3; its exact form and "
    "number not found verbatim), are read here in the contraction form "
    "λ_max(A_β^sym) + ‖W_β‖₂ < 0; used as: the Lipschitz RNN has no exploding gradients"
)
LATEX = (
    r"\lambda_{\max}\!\big(\tfrac{A_\beta + A_\beta^\top}{2}\big) + \|W_\beta\|_2 < 0"
    r"\;\Rightarrow\; \left\|\frac{\partial h_T}{\partial h_0}\right\|_2 \le 1"
)
LIMIT = 8.0  # log10: exploded above 10^8
SETTING = (
    "the zoo's lipschitz cell (forward Euler, column convention), the product ∂h_T/∂h_0 "
    "(T factors), spectral norm with its error bound; 'paper' draws: β ∈ {0.65, 0.75, 0.8}, "
    "γ_A = γ_W = 0.001, ε ∈ {0.01, 0.03, 0.05}, init_std ∈ {6, 32} (driver.py, README), "
    "T ∈ {196, 392, 784}; 'stable' draws: γ_A ∈ {1, 5}, γ_W = 0.001, init_std ∈ {1, 2}; "
    "n 4–32, inputs N(0, 1), h_0 = 0; exploded = above 10^8 beyond the error bound"
)


def _mu(cell: Any) -> float:
    A, W = cell.A_beta, cell.W_beta
    return -float(np.linalg.eigvalsh(0.5 * (A + A.T)).max() + np.linalg.norm(W, 2))


def _measure(
    cell: Any, x: np.ndarray, budget: Budget | None, s0: np.ndarray | None = None
) -> dict[str, float]:
    return {**cell_norm(budget, cell, x, s0), "mu": _mu(cell)}


def _judge(m: dict[str, float], T: int, n: int) -> str:
    slack = m["log10_error"] + rounding_tolerance(T, n)
    if m["mu"] > 0 and m["log10_norm"] - slack > 0:
        return "expansive-under-condition"
    if m["log10_norm"] - m["log10_error"] > LIMIT:
        return "exploded"
    return "ok"


def _draw(rng: np.random.Generator, family: str) -> dict[str, Any]:
    if family == "paper":
        return {
            "beta": (0.65, 0.75, 0.8)[int(rng.integers(3))],
            "gamma_A": 0.001,
            "gamma_W": 0.001,
            "eps": (0.01, 0.03, 0.05)[int(rng.integers(3))],
            "init_std": (6.0, 32.0)[int(rng.integers(2))],
        }
    return {
        "beta": (0.65, 0.75, 0.8)[int(rng.integers(3))],
        "gamma_A": (1.0, 5.0)[int(rng.integers(2))],
        "gamma_W": 0.001,
        "eps": (0.01, 0.03, 0.05)[int(rng.integers(3))],
        "init_std": (1.0, 2.0)[int(rng.integers(2))],
    }


_KEYS = (
    "draws",
    "condition",
    "expansive_under_condition",
    "exploded",
    "paper_draws",
    "paper_condition",
)


def _search(budget: Budget, seed: int) -> dict[str, Any]:
    from gradscope.model.zoo import zoo_cell

    rng = np.random.default_rng(seed)
    found: list[CellCounterexample] = []
    keys = _KEYS
    tally: dict[str, Any] = dict.fromkeys(keys, 0)
    tally["largest_paper_log10_norm"] = -math.inf
    try:
        for i in range(10**9):
            family = ("paper", "stable")[i % 2]
            hyper = _draw(rng, family)
            n, m = int(rng.integers(4, 33)), int(rng.integers(1, 4))
            T = (196, 392, 784)[int(rng.integers(3))]
            cell = zoo_cell(
                "lipschitz", hidden=n, inputs=m, seed=int(rng.integers(2**31)), **hyper
            )
            x = rng.standard_normal((T, m))
            meas = _measure(cell, x, budget)
            verdict = _judge(meas, T, n)
            tally["draws"] += 1
            tally["condition"] += meas["mu"] > 0
            tally["paper_draws"] += family == "paper"
            tally["paper_condition"] += family == "paper" and meas["mu"] > 0
            if family == "paper":
                tally["largest_paper_log10_norm"] = max(
                    tally["largest_paper_log10_norm"], meas["log10_norm"]
                )
            if verdict == "expansive-under-condition":
                tally["expansive_under_condition"] += 1
            if verdict == "exploded":
                tally["exploded"] += 1
            if verdict != "ok" and not found:
                shown = ", ".join(f"{k} = {v:g}" for k, v in hyper.items())
                note = (
                    f"{shown}, n = {n}, T = {T}: ‖∂h_T/∂h_0‖₂ = 10^{meas['log10_norm']:.2f}, "
                    f"μ = {meas['mu']:.3g} ({verdict})"
                )
                found.append(
                    cell_counterexample(
                        ID, cell, x, start=0, end=T, observed=meas, note=note, seed=seed
                    )
                )
    except BudgetExhaustedError:
        pass
    return {"found": found, "tally": tally}


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    per_seed = search_each_seed(budget, seeds, _search)
    found = [c for s in per_seed for c in s["found"]]
    keys = _KEYS
    t: dict[str, Any] = {k: sum(s["tally"][k] for s in per_seed) for k in keys}
    t["largest_paper_log10_norm"] = max(s["tally"]["largest_paper_log10_norm"] for s in per_seed)
    broken = sum(1 for s in per_seed if s["tally"]["expansive_under_condition"])
    exploded = sum(1 for s in per_seed if s["tally"]["exploded"])
    if broken >= 2:
        verdict = "violated"
    else:
        verdict = "holds-under" if exploded >= 2 else "holds"
    evidence = (
        f"the stability condition (μ > 0) held in {t['condition']} of {t['draws']} cells, "
        f"{t['expansive_under_condition']} of them expansive; at the paper's settings "
        f"(μ > 0 in {t['paper_condition']} of {t['paper_draws']}) {t['exploded']} exploded "
        f"past 10^{LIMIT:g}, the "
        f"largest ‖∂h_T/∂h_0‖₂ = 10^{t['largest_paper_log10_norm']:.1f}"
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
            "no exploding gradient when the stability condition μ > 0 holds (here "
            f"{t['expansive_under_condition']} of {t['condition']} such cells expansive, at "
            "ε ≤ 0.05); the paper's initialisation and γ = 0.001 do not satisfy it"
            if verdict == "holds-under"
            else None
        ),
        corrected=(
            "stability is a hypothesis, not a property of the parametrisation: with μ > 0 and "
            "ε‖A_β + D_tW_β‖₂² ≤ 2μ the gradient is non-expansive — and then vanishes "
            "exponentially, ‖∂h_T/∂h_0‖₂ ≤ (1 − εμ + O(ε²))^T; at the paper's settings "
            "(μ < 0) it can grow exponentially"
            if found
            else None
        ),
        source="contraction of ḣ = A h + tanh(W h + …) (tanh 1-Lipschitz); this check's "
        "products at the authors' settings",
        counterexamples=tuple(found),
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=f"expansive = log10 norm > 0 beyond its error bound plus (T n² + n)u; "
        f"exploded = > {LIMIT:g} beyond its error bound",
    )


def replay(cex: Any) -> Replay:
    cell, x, s0 = replayed_run(cex, ID, "lipschitz")
    meas = _measure(cell, x, None, s0)
    verdict = _judge(meas, cex.end, cex.cell.hidden_size)
    return Replay(
        claim=ID,
        observed=meas,
        contradicts=cex.start == 0 and verdict != "ok",
        message=(
            f"‖∂h_{cex.end}/∂h_0‖₂ = 10^{meas['log10_norm']:.6f}, μ = {meas['mu']:.6g}: {verdict}"
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
    default_budget=24,
    seconds_per_evaluation=0.5,
)
