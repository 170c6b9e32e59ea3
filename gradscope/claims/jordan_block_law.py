r"""Claim ``jordan-block-law``: :math:`\|A^k\| = \Theta(k^{m-1}\rho^k)`, dominant Jordan block.

A linear recurrence :math:`s_t = A s_{t-1} + B x_t` has step Jacobians
:math:`J_t = A`, so :math:`\partial s_{t+k}/\partial s_t = A^k`. The classical
law (Jordan normal form): if the eigenvalues of largest modulus ρ carry Jordan
blocks of size at most m, and at least one has size m, then
:math:`\|A^k\|_2 = \Theta(k^{m-1}\rho^k)`.

Θ is read with explicit constants: for each random A the check computes
:math:`c_1 = \inf_{k \ge 1}\|A^k\|_2/(k^{m-1}\rho^k)` and
:math:`c_2 = \sup_{k\ge1}` of the same ratio exactly (binomial entries in log
space for k ≤ K, a proven tail enclosure beyond: :mod:`gradscope.claims._jordan`),
and the law holds for that A when :math:`0 < c_1 \le c_2 < \infty`. How large
:math:`c_2/c_1` is — the transient Θ hides — is the report: it grows with
:math:`\kappa(S)` and with a subdominant block larger than m whose modulus is
near ρ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradscope.claims._jordan import jordan_constants, jordan_matrix
from gradscope.claims.base import (
    Budget,
    BudgetExhaustedError,
    Claim,
    ClaimCheck,
    Counterexample,
    Replay,
    _number,
    search_each_seed,
)
from gradscope.errors import ConfigError
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.products import compute_spectral_norm
from gradscope.studies.bound import judging_slack

ID = "jordan-block-law"
STATEMENT = (
    "“we prove that memory retention in linear SSMs follows the sharp asymptotic law "
    "Θ(k^{m-1}ρ^k), where ρ is the spectral radius and m is the size of the dominant Jordan "
    "block” (OpenReview forum 8Kg8lL3L58, abstract; theorem number not found) — the classical "
    "‖A^k‖ = Θ(k^(m−1) ρ^k) of the Jordan normal form"
)
LATEX = r"\|A^k\|_2 = \Theta\!\left(k^{m-1}\rho(A)^k\right)"
SETTING = (
    "A = S (J_m(λ) ⊕ other Jordan blocks) S⁻¹, real, |λ| = ρ; every other block has modulus "
    "< ρ (any size) or modulus ρ and size ≤ m; the product ∂s_(t+k)/∂s_t = A^k of a linear "
    "recurrence (the zoo's jordan cell); spectral norm; Θ read as 0 < c₁ ≤ "
    "‖A^k‖₂/(k^(m−1)ρ^k) ≤ c₂ < ∞ for all k ≥ k₀ = 1, with c₁, c₂ computed (binomial "
    "entries for k ≤ K, a proven tail enclosure for k > K)"
)
FAMILIES = ("single-block", "similar", "tie", "near-subdominant")


def _draw(rng: np.random.Generator, family: str) -> tuple[np.ndarray, list[tuple[float, int]]]:
    """S and the blocks (dominant first) of one random A of a family."""
    m = int(rng.integers(1, 6))
    rho = float(rng.uniform(0.5, 1.2))
    lam = rho if rng.random() < 0.5 else -rho
    blocks: list[tuple[float, int]] = [(lam, m)]
    if family == "tie":
        blocks.append((-lam, int(rng.integers(1, m + 1))))
    if family in ("similar", "tie"):
        for _ in range(int(rng.integers(1, 4))):
            q = float(rng.uniform(0.2, 0.95))
            sign = 1 if rng.random() < 0.5 else -1
            blocks.append((sign * q * rho, int(rng.integers(1, m + 3))))
    if family == "near-subdominant":
        q = float(rng.uniform(0.9, 0.98))
        blocks.append((q * rho, m + int(rng.integers(2, 5))))
    n = sum(p for _, p in blocks)
    S = np.eye(n) if family == "single-block" else rng.standard_normal((n, n))
    return S, blocks


def _search(budget: Budget, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    try:
        for i in range(10**9):
            family = FAMILIES[i % len(FAMILIES)]
            S, blocks = _draw(rng, family)
            budget.spend()
            c = jordan_constants(S, blocks)
            rows.append(
                {
                    "family": family,
                    "m": blocks[0][1],
                    "rho": abs(blocks[0][0]),
                    "n": S.shape[0],
                    "blocks": [[mu, p] for mu, p in blocks],
                    "c1": c.c1,
                    "c2": c.c2,
                    "ratio": c.ratio,
                    "K": c.K,
                    "kappa": c.kappa,
                    "determined": c.determined,
                }
            )
    except BudgetExhaustedError:
        pass
    return {"seed": seed, "rows": rows}


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    per_seed = search_each_seed(budget, seeds, _search)
    rows = [r for s in per_seed for r in s["rows"]]
    determined = [r for r in rows if r["determined"]]
    ratios = sorted(r["ratio"] for r in determined)
    by_family = {
        f: max((r["ratio"] for r in determined if r["family"] == f), default=None)
        for f in FAMILIES
    }
    worst = max(determined, key=lambda r: r["ratio"], default=None)
    median = ratios[len(ratios) // 2] if ratios else math.nan
    undetermined = len(rows) - len(determined)
    evidence = (
        f"0 < c₁ ≤ ‖A^k‖₂/(k^(m−1)ρ^k) ≤ c₂ < ∞ for all k ≥ 1 in {len(determined)} of "
        f"{len(rows)} random A"
        + (
            f" ({undetermined}: tail enclosure too wide at K = 16384, no verdict)"
            if undetermined
            else ""
        )
        + f"; c₂/c₁ median {median:.3g}, largest {ratios[-1] if ratios else math.nan:.3g}"
        + (f" ({worst['family']}, m = {worst['m']}, κ(S) = {worst['kappa']:.3g})" if worst else "")
    )
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict="holds",
        evidence=evidence,
        numbers={
            "draws": len(rows),
            "determined": len(determined),
            "ratio_median": median,
            "ratio_max": ratios[-1] if ratios else math.nan,
            "ratio_max_by_family": by_family,
            "worst": worst,
        },
        conditions=None,
        corrected=None,
        source="Jordan normal form: (J_m(λ)^k)_(i,i+d) = C(k,d) λ^(k−d) (classical)",
        counterexamples=(),
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance="c₁, c₂ from r_k computed in log space for k ≤ K (relative error ~1e-13 "
        "per entry, κ(S)·n·u for the similarity), and for k > K the proven enclosure "
        "|r_k − ‖S N_∞ S⁻¹‖₂| ≤ κ(S)·e_K; a draw whose enclosure reaches 0 gives no verdict",
    )


def replay(cex: Counterexample) -> Replay:
    """Recompute ‖A^k‖₂ (A = W_hh, k = end − start) against a file's c₁, c₂, m and ρ."""
    if cex.activation != "linear":
        raise ConfigError("a jordan-block-law counterexample must be a linear recurrence")
    extra = cex.extra
    for key in ("m", "rho", "c1", "c2"):
        if key not in extra:
            raise ConfigError(f"a {ID} counterexample lacks field(s): {key}")
    m = extra["m"]
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ConfigError(f"counterexample field 'm' must be an integer >= 1, got {m!r}")
    rho = _number(extra["rho"], "rho", "the spectral radius ρ > 0 (a number)")
    c1 = _number(extra["c1"], "c1", "the lower constant c₁ > 0 (a number)")
    c2 = _number(extra["c2"], "c2", "the upper constant c₂ > 0 (a number)")
    norm = compute_spectral_norm(
        rnn_steps(cex.rnn, cex.inputs, cex.h0), start=cex.start, end=cex.end
    )
    k = cex.end - cex.start
    scale = (m - 1) * math.log10(k) + k * math.log10(rho)
    low, high = math.log10(c1) + scale, math.log10(c2) + scale
    measured = float(norm.log10_norm)
    slack = judging_slack(float(norm.log10_error), k, cex.W_hh.shape[0])
    contradicts = measured < low - slack or measured > high + slack
    return Replay(
        claim=ID,
        observed={"log10_norm": measured, "log10_low": low, "log10_high": high},
        contradicts=contradicts,
        message=(
            f"log10 ‖A^{k}‖₂ = {measured:.6f}, the law with the file's constants: "
            f"[{low:.6f}, {high:.6f}]"
        ),
    )


def power_of(blocks: Sequence[tuple[float, int]], S: np.ndarray) -> np.ndarray:
    """A = S J S⁻¹ for the given blocks (for files and tests)."""
    return S @ jordan_matrix(blocks) @ np.linalg.inv(S)


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=None,
    default_budget=24,
    seconds_per_evaluation=0.5,  # measured: 0.02–0.25 s per random A
)
