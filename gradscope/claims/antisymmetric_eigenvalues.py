r"""Claim ``antisymmetric-eigenvalues``: AntisymmetricRNN's Jacobian eigenvalues and gradients.

Chang, Chen, Haber & Chi (ICLR 2019). The cell
:math:`h_t = h_{t-1} + \epsilon\tanh((W - W^\top - \gamma I)h_{t-1} + V x_t + b)` has step
Jacobians :math:`J_t = I + \epsilon D_t (W - W^\top - \gamma I)`,
:math:`D_t = \operatorname{diag}(\tanh'(a_t))`, :math:`0 < D_t \le I`.

Two readings are judged, each exactly:

1. *As written* (the eigenvalue statement): the eigenvalues of
   :math:`D_t(W - W^\top - \gamma I)` have real parts in
   :math:`[-\gamma \max D_t, -\gamma \min D_t]` (zero for γ = 0: "purely imaginary"),
   so those of :math:`J_t` lie at :math:`1 + \epsilon\lambda`, near the unit circle.
   True for every :math:`D_t \succ 0` (:math:`D_t^{1/2}(W - W^\top)D_t^{1/2}` is
   antisymmetric).
2. *As used* (gradients neither explode nor vanish): the singular values of the
   product :math:`\partial h_T/\partial h_0 = J_T \cdots J_1` stay in the band the
   eigenvalues predict, :math:`[\prod_t \min_i|\mu_i(J_t)|, \prod_t \max_i|\mu_i(J_t)|]`.
   The :math:`J_t` are non-normal (:math:`D_t \ne cI`) and change with t, so
   eigenvalues of the factors do not bound singular values of the product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradscope.claims._cells import (
    cell_counterexample,
    cell_spectrum,
    cell_steps,
    errors_of,
    replayed_run,
)
from gradscope.claims.base import (
    Budget,
    BudgetExhaustedError,
    Claim,
    ClaimCheck,
    Replay,
    search_each_seed,
)
from gradscope.claims.cell_counterexample import CellCounterexample

ID = "antisymmetric-eigenvalues"
STATEMENT = (
    "“A special form of recurrent networks called the AntisymmetricRNN is proposed under this "
    "theoretical framework, which is able to capture long-term dependencies thanks to the "
    "stability property of its underlying differential equation.” (abstract); §3: the "
    "eigenvalues of D(W − Wᵀ) (D diagonal, positive) are purely imaginary, so the Jacobian "
    "satisfies the critical criterion Re λ_i(J) ≈ 0 and gradients neither explode nor vanish; "
    "the diffusion −γI makes the real parts slightly negative (proposition and equation "
    "numbers: not found verbatim)"
)
LATEX = (
    r"\operatorname{Re}\lambda_i\!\big(D_t(W - W^\top - \gamma I)\big) \in "
    r"[-\gamma\max D_t,\,-\gamma\min D_t] \;\Rightarrow\; "
    r"\sigma_i\Big(\prod_t J_t\Big) \approx \prod_t |\mu(J_t)|"
)
SETTING = (
    "the zoo's antisymmetric cell (ungated, eq. of §3.4 with diffusion): J_t = I + ε D_t "
    "(W − Wᵀ − γI); (1) the eigenvalues of D_t(W − Wᵀ − γI) at every step; (2) every singular "
    "value of ∂h_T/∂h_0 = J_T ⋯ J_1 (log10, with error bars) against the band "
    "[Σ_t log10 min|μ(J_t)|, Σ_t log10 max|μ(J_t)|]; ε, γ, σ_w from the paper's grids "
    "(ε ∈ {0.01, 0.1, 1}, γ ∈ {0.001, 0.01, 0.1, 1}, σ_w ∈ {0, 1, 2, 4, 8, 16}), n 4–24, "
    "T 10–150, inputs N(0, s²), s ∈ {1, 3}, h_0 = 0"
)
EPS = (0.01, 0.1, 1.0)
GAMMA = (0.001, 0.01, 0.1, 1.0)
SIGMA_W = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
MARGIN = 0.01  # log10: a violation of the band must exceed it beyond the error bars


def _band(steps: Any, T: int) -> tuple[float, float]:
    """Σ_t log10 min_i |μ_i(J_t)| and Σ_t log10 max_i |μ_i(J_t)|."""
    lo = hi = 0.0
    for t in range(1, T + 1):
        mu = np.abs(np.linalg.eigvals(steps.matrix(t)))
        with np.errstate(divide="ignore"):  # a singular J_t: the band reaches 0 (−inf)
            lo += float(np.log10(mu.min()))
            hi += float(np.log10(mu.max()))
    return lo, hi


def _eigen_excess(cell: Any, steps: Any, T: int) -> float:
    """max over t of how far Re λ(D_t(W − Wᵀ − γI)) leaves [−γ max D_t, −γ min D_t].

    D_t is read off J_t: row i of (J_t − I)/ε is d_i times row i of W − Wᵀ − γI.
    Reported minus the tolerance 1e-9·max(1, ‖D_t(W − Wᵀ − γI)‖₂): > 0 is an exception.
    """
    n = cell.hidden_size
    R = cell.M
    worst = -math.inf
    for t in range(1, T + 1):
        M = (steps.matrix(t) - np.eye(n)) / cell.eps
        d = np.sum(M * R, axis=1) / np.sum(R * R, axis=1)
        re = np.linalg.eigvals(M).real
        tol = 1e-9 * max(1.0, float(np.linalg.norm(M, 2)))
        low, high = -cell.gamma * float(d.max()), -cell.gamma * float(d.min())
        worst = max(worst, float(np.max(re - high)) - tol, float(np.max(low - re)) - tol)
    return worst


def _measure(
    cell: Any, x: np.ndarray, budget: Budget | None, s0: np.ndarray | None = None
) -> dict[str, float]:
    T = x.shape[0]
    steps = cell_steps(cell, x, s0)
    spec = cell_spectrum(budget, steps)
    s = np.asarray(spec.log10_singular_values, dtype=np.float64)
    err = errors_of(spec)
    lo, hi = _band(steps, T)
    return {
        "log10_sigma_max": float(s[0]),
        "log10_sigma_min": float(s[-1]),
        "log10_error_max": float(err[0]),
        "log10_error_min": float(err[-1]),
        "log10_band_high": hi,
        "log10_band_low": lo,
        "eigen_excess": _eigen_excess(cell, steps, T),
    }


def _outside(m: dict[str, float]) -> bool:
    above = m["log10_sigma_max"] - m["log10_error_max"] > m["log10_band_high"] + MARGIN
    below = m["log10_sigma_min"] + m["log10_error_min"] < m["log10_band_low"] - MARGIN
    return bool(above or below)


def _search(budget: Budget, seed: int) -> dict[str, Any]:
    from gradscope.model.zoo import zoo_cell

    rng = np.random.default_rng(seed)
    found: list[CellCounterexample] = []
    tally = {"draws": 0, "outside": 0, "eigen_violations": 0, "worst_excess": -math.inf}
    try:
        while True:
            eps = EPS[int(rng.integers(len(EPS)))]
            gamma = GAMMA[int(rng.integers(len(GAMMA)))]
            sigma_w = SIGMA_W[int(rng.integers(len(SIGMA_W)))]
            n, m = int(rng.integers(4, 25)), int(rng.integers(1, 5))
            T = int(rng.integers(10, 151))
            scale = (1.0, 3.0)[int(rng.integers(2))]
            cell = zoo_cell(
                "antisymmetric",
                hidden=n,
                inputs=m,
                seed=int(rng.integers(2**31)),
                eps=eps,
                gamma=gamma,
                sigma_w=sigma_w,
            )
            x = scale * rng.standard_normal((T, m))
            meas = _measure(cell, x, budget)
            tally["draws"] += 1
            tally["eigen_violations"] += meas["eigen_excess"] > 0
            tally["worst_excess"] = max(tally["worst_excess"], meas["eigen_excess"])
            if _outside(meas):
                tally["outside"] += 1
                if not found:
                    note = (
                        f"ε = {eps}, γ = {gamma}, σ_w = {sigma_w}, n = {n}, T = {T}: log10 σ of "
                        f"∂h_T/∂h_0 in [{meas['log10_sigma_min']:.3f}, "
                        f"{meas['log10_sigma_max']:.3f}], eigenvalues predict "
                        f"[{meas['log10_band_low']:.3f}, {meas['log10_band_high']:.3f}]"
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
    draws = sum(s["tally"]["draws"] for s in per_seed)
    outside = sum(s["tally"]["outside"] for s in per_seed)
    eig_bad = sum(s["tally"]["eigen_violations"] for s in per_seed)
    worst_excess = max(s["tally"]["worst_excess"] for s in per_seed)
    seeds_with = sum(1 for s in per_seed if s["found"])
    if eig_bad:
        verdict = "violated" if seeds_with >= 2 else "holds"
    else:
        verdict = "holds-under" if seeds_with >= 2 else "holds"
    evidence = (
        f"eigenvalues of D_t(W − Wᵀ − γI) in the stated strip at every step of {draws} runs "
        f"({eig_bad} exceptions); the product's singular values leave the eigenvalues' band by "
        f"> {MARGIN} (beyond error bars) in {outside} of {draws}"
        + (f"; e.g. {found[0].note}" if found else "")
    )
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=evidence,
        numbers={
            "draws": draws,
            "outside_band": outside,
            "eigen_exceptions": eig_bad,
            "worst_eigen_excess": worst_excess,
        },
        conditions=(
            "the eigenvalue statement holds at every step; the gradient reading holds when the "
            "J_t are normal and commute (D_t = cI, e.g. the linear regime with γ = 0 at fixed "
            "c), where σ_i(∏J_t) = ∏|μ_i(J_t)|"
            if verdict == "holds-under"
            else None
        ),
        corrected=(
            "Re λ(D_t(W − Wᵀ − γI)) ∈ [−γ max D_t, −γ min D_t] holds exactly, but it does not "
            "bound the gradient: the singular values of ∂h_T/∂h_0 = J_T ⋯ J_1 lie in "
            "[∏ σ_min(J_t), ∏ σ_max(J_t)] (submultiplicativity), and "
            "σ_max(J_t) ≤ 1 + ε‖W − Wᵀ − γI‖₂ — not in the band of the eigenvalues"
            if found
            else None
        ),
        source=(
            "eigenvalues of products of non-normal, time-varying matrices "
            "(Trefethen & Embree 2005); the step's singular values from J_t itself"
        ),
        counterexamples=tuple(found),
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=(
            f"outside the band means by more than {MARGIN} in log10 beyond the product's "
            "error bars (log10_error); an eigenvalue exception means Re λ outside the strip "
            "by more than 1e-9·max(1, ‖D_t(W − Wᵀ − γI)‖₂)"
        ),
    )


def replay(cex: Any) -> Replay:
    cell, x, s0 = replayed_run(cex, ID, "antisymmetric")
    meas = _measure(cell, x, None, s0)
    contradicts = cex.start == 0 and _outside(meas)
    return Replay(
        claim=ID,
        observed=meas,
        contradicts=contradicts,
        message=(
            f"log10 σ(∂h_{cex.end}/∂h_0) in [{meas['log10_sigma_min']:.6f}, "
            f"{meas['log10_sigma_max']:.6f}]; the eigenvalues of the factors give "
            f"[{meas['log10_band_low']:.6f}, {meas['log10_band_high']:.6f}]"
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
    default_budget=40,
    seconds_per_evaluation=0.3,
)
