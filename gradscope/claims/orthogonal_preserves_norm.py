r"""Claim ``orthogonal-preserves-norm``: orthogonal W_hh (‖W‖ = 1) preserves gradient magnitude.

Read as: with :math:`W_{hh}` orthogonal, every singular value of
:math:`\partial h_T/\partial h_k` is 1, so :math:`\|(\partial h_T/\partial h_k)^\top g\|
= \|g\|` for every backpropagated gradient g. For a **linear** RNN this is exact
(a product of orthogonal matrices is orthogonal). With tanh,
:math:`J_t = D_t W` and :math:`\|D_t\| = \max_i \tanh'(z_{t,i}) < 1` as soon as
any input moves the state off 0, so the magnitude decays — by tens of decades
at T = 100 with ordinary inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gradscope.claims import _balls as balls
from gradscope.claims._proof import (
    _eye,
    _floats,
    _frobenius,
    _lt,
    _num,
    _opposite,
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
    counterexample,
    evaluate,
    measured_norm_of,
    observed_norm,
    surely_below,
)
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.numeric.forward import rnn_steps

ID = "orthogonal-preserves-norm"
STATEMENT = "Orthogonal initialization: ‖W_hh‖ = 1 preserves gradient magnitude."
LATEX = r"\|\mathbf{W}_{hh}\| = 1 \text{ preserves gradient magnitude}"
SETTING = (
    "W_hh Haar orthogonal (‖W_hh‖₂ = ρ = 1); preserved means every singular value of "
    "∂h_T/∂h_0 equals 1 (so ‖(∂h_T/∂h_0)ᵀ g‖ = ‖g‖ for all g); inputs x_t ~ N(0, 1)"
)
TOL = 1e-9  # |log10 σ_i| allowed for rounding over T ≤ 100 factors


def _singular_values_log10(rnn, x) -> np.ndarray:  # type: ignore[no-untyped-def]
    """log10 of all singular values of ∂h_T/∂h_0 (float product: safe while σ ≥ 1e-250)."""
    steps = rnn_steps(rnn, x)
    P = np.eye(rnn.hidden_size)
    for t in range(1, steps.T + 1):
        P = steps.apply(t, P)
    with np.errstate(divide="ignore"):
        out: np.ndarray = np.log10(np.linalg.svd(P, compute_uv=False))
    return out


def _search(budget: Budget, seed: int) -> tuple[list[Counterexample], dict[str, float]]:
    rng = np.random.default_rng(seed)
    stats = {
        "linear_draws": 0,
        "linear_worst_abs_log10_sigma": 0.0,
        "tanh_draws": 0,
        "tanh_largest_log10_norm": -np.inf,
    }
    found: list[Counterexample] = []
    try:
        for i in range(10**6):
            n, T = int(rng.integers(4, 33)), int(rng.choice([10, 50, 100]))
            s = instance_seed(seed, i)
            x = random_inputs(T, 8, seed=s)
            lin = random_rnn("orthogonal", n, norm=1.0, activation="linear", seed=s)
            budget.spend()
            logs = _singular_values_log10(lin, x)
            stats["linear_draws"] += 1
            stats["linear_worst_abs_log10_sigma"] = max(
                stats["linear_worst_abs_log10_sigma"], float(np.abs(logs).max())
            )
            tanh = random_rnn("orthogonal", n, norm=1.0, activation="tanh", seed=s)
            value = evaluate(budget, tanh, x)
            stats["tanh_draws"] += 1
            stats["tanh_largest_log10_norm"] = max(stats["tanh_largest_log10_norm"], value)
            if not found and value < -1.0:
                found.append(
                    counterexample(
                        ID,
                        tanh,
                        x,
                        start=0,
                        end=T,
                        observed={"log10_norm": value, "spectral_norm": 1.0},
                        note=f"Haar orthogonal W_hh, tanh, n = {n}, T = {T}, x_t ~ N(0, 1): "
                        f"‖∂h_T/∂h_0‖₂ = 10^{value:.1f}: "
                        "every gradient shrinks at least that much",
                        seed=seed,
                    )
                )
    except BudgetExhaustedError:
        pass
    return found, stats


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    results = search_each_seed(budget, seeds, _search)
    linear_ok = all(st["linear_worst_abs_log10_sigma"] < TOL for _, st in results)
    tanh_fails = all(cs for cs, _ in results)
    verdict = (
        "holds" if linear_ok and not tanh_fails else "holds-under" if linear_ok else "violated"
    )
    worst_lin = max(st["linear_worst_abs_log10_sigma"] for _, st in results)
    best_tanh = max(st["tanh_largest_log10_norm"] for _, st in results)
    draws = sum(int(st["linear_draws"]) for _, st in results)
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=(
            f"linear: every singular value of ∂h_T/∂h_0 is 1 to |log10 σ| ≤ {worst_lin:.1e} over "
            f"{draws} draws; tanh with the same W and inputs: ‖∂h_T/∂h_0‖₂ ≤ 10^{best_tanh:.2f} "
            "(largest seen)"
        ),
        numbers={
            "draws": draws,
            "linear_worst_abs_log10_sigma": worst_lin,
            "tanh_largest_log10_norm": best_tanh,
        },
        conditions=(
            "a linear RNN (or tanh exactly at h = 0, i.e. zero inputs and h_0 = 0, where "
            "tanh' = 1); with tanh and nonzero inputs, ‖∂h_T/∂h_0‖₂ ≤ Π_t max_i tanh'(z_{t,i}) < 1"
        ),
        corrected=(
            "Orthogonal W_hh makes ‖W_hh‖₂ = 1, so the bound becomes ‖∂h_T/∂h_k‖₂ ≤ 1: "
            "gradients cannot explode, but with tanh they still vanish at the rate of the "
            "derivatives, Π_t ‖diag(tanh'(z_t))‖"
        ),
        source="Saxe, McClelland & Ganguli 2014 (exact for linear networks); DESIGN.md §1 bound",
        counterexamples=tuple(c for cs, _ in results for c in cs),
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=f"preserved when every |log10 σ_i| < {TOL:g}; lost when ‖∂h_T/∂h_0‖₂ < 0.1",
    )


def replay(cex: Counterexample) -> Replay:
    from gradscope.numeric.norms import spectral_norm

    rnn = cex.rnn
    measured = measured_norm_of(cex)
    value = float(measured.log10_norm)
    norm = spectral_norm(rnn.W_hh)
    orthogonal = bool(np.allclose(rnn.W_hh.T @ rnn.W_hh, np.eye(rnn.hidden_size), atol=1e-12))
    return Replay(
        claim=ID,
        observed={**observed_norm(measured), "spectral_norm": norm, "W_hh_orthogonal": orthogonal},
        contradicts=orthogonal and surely_below(measured, -1.0),
        message=f"W_hh orthogonal: {orthogonal}; "
        f"log10 ‖∂h_{cex.end}/∂h_{cex.start}‖₂ = {value:.3f}",
    )


def certify(cex: Counterexample, bits: int) -> Part:
    """Certify a counterexample in ball arithmetic at ``bits`` of precision.

    The replay's criterion: W_hh orthogonal to 1e-12 and log10 ‖∂h_end/∂h_start‖₂ < −1.

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
    W = balls.ball_matrix(cex.W_hh)
    F = _frobenius(W.transpose() * W - _eye(cex.W_hh.shape[0]))  # ≥ ‖WᵀW − I‖₂
    Ff = _floats(F)
    if not F[1] <= 1e-12:
        what = f"‖W_hhᵀW_hh − I‖_F ≥ {_sci(Ff[0], False)}: W_hh is not orthogonal to 1e-12"
        return Part(False, _opposite(what), {"frobenius_WtW_minus_I": Ff})
    # ‖W − Q‖₂ = max|σ_i − 1| ≤ max|σ_i² − 1| = ‖WᵀW − I‖₂ for the polar factor Q, so
    # every entry of Q lies within F[1] of W's: one ball of matrices holds both.
    LP = _run(cex, W_radius=F[1]).log10_norm(cex.start, cex.end, 1e-3)
    result, P = _lt(LP, -1), _floats(LP)
    prod = _prod(cex.end, cex.start)
    if result:
        st = (
            f"proved: ‖W_hhᵀW_hh − I‖₂ ≤ {_sci(Ff[1], True)} (the file's W_hh is orthogonal only "
            "up to rounding), so its orthogonal polar factor Q lies within that of W_hh in every "
            f"entry; for every matrix in that ball — Q and W_hh included — the {cex.activation} "
            f"RNN on the file's inputs has {prod} ≤ 10^{_num(P[1], True)} < 0.1: an exactly "
            "orthogonal W_hh that does not preserve the gradient norm"
        )
    elif result is False:
        st = _opposite(f"{prod} ≥ 10^{_num(P[0], False)} ≥ 0.1")
    else:
        st = _undecided(bits, f"{prod} straddles 0.1")
    return Part(result, st, {"frobenius_WtW_minus_I": Ff, "log10_norm": P})


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=certify,
    default_budget=400,
    seconds_per_evaluation=0.005,
)
