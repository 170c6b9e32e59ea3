r"""Claim ``weight-sharing``: the gradient of the summed loss is the sum of per-step gradients.

:math:`\partial L/\partial W_{hh} = \sum_t \partial L_t/\partial W_{hh}` for
:math:`L = \sum_t L_t` is linearity of the derivative, so it holds; the check
makes it concrete and tries to break it numerically: the full BPTT gradient is
compared with the sum of the T gradients of the single terms :math:`L_t`
(each by its own backward pass) and with central finite differences of L, on
random, saturating and exploding networks of every activation. It also checks
the second reading of weight sharing — one contribution per time step,
:math:`\partial L/\partial W_{hh} = \sum_t \delta_t h_{t-1}^\top` — against
the same finite differences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
from gradscope.claims.search import counterexample
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.model import RNN
from gradscope.numeric.forward import forward
from gradscope.numeric.gradient import bptt_gradient, loss

ID = "weight-sharing"
STATEMENT = (
    "The same parameters (W_hh, W_xh, b) are shared across all time steps; the loss "
    "L = Σ_t L_t(y_t, ŷ_t) has ∂L/∂W_hh = Σ_t ∂L_t/∂W_hh."
)
LATEX = (
    r"\frac{\partial \mathcal{L}}{\partial \mathbf{W}_{hh}} = \sum_{t=1}^{T} "
    r"\frac{\partial \mathcal{L}_t}{\partial \mathbf{W}_{hh}}"
)
SETTING = (
    "L_t = ½‖W_hy h_t − ŷ_t‖²; every activation; ∂L/∂W_hh by BPTT against Σ_t of the T "
    "single-term gradients (relative error ≤ 1e-10) and against central finite differences "
    "of L (relative error ≤ 1e-5)"
)
SUM_TOL, FD_TOL = 1e-10, 1e-5


def _per_term_sum(rnn: RNN, W_hy: np.ndarray, x: np.ndarray, y: np.ndarray, h0: np.ndarray):  # type: ignore[no-untyped-def]
    outputs = forward(rnn, x, h0).h[1:] @ W_hy.T
    total = np.zeros_like(rnn.W_hh)
    for t in range(x.shape[0]):
        only_t = outputs.copy()  # every other term has target = output, so L_s = 0
        only_t[t] = y[t]
        total += bptt_gradient(rnn, W_hy, x, only_t, h0).W_hh
    return total


def _finite_differences(
    rnn: RNN, W_hy: np.ndarray, x: np.ndarray, y: np.ndarray, h0: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    G = np.zeros_like(rnn.W_hh)
    for idx in np.ndindex(G.shape):
        for sign in (1.0, -1.0):
            W = rnn.W_hh.copy()
            W[idx] += sign * eps
            shifted = RNN(W_hh=W, W_xh=rnn.W_xh, b=rnn.b, activation=rnn.activation)
            G[idx] += sign * loss(shifted, W_hy, x, y, h0) / (2 * eps)
    return G


def _errors(rnn, W_hy, x, y, h0) -> dict[str, float]:  # type: ignore[no-untyped-def]
    full = bptt_gradient(rnn, W_hy, x, y, h0).W_hh
    scale = max(float(np.linalg.norm(full)), 1e-300)
    summed = _per_term_sum(rnn, W_hy, x, y, h0)
    fd = _finite_differences(rnn, W_hy, x, y, h0)
    return {
        "relative_error_sum_of_terms": float(np.linalg.norm(summed - full)) / scale,
        "relative_error_finite_differences": float(np.linalg.norm(fd - full)) / scale,
    }


def _search(budget: Budget, seed: int) -> tuple[list[Counterexample], dict[str, float]]:
    rng = np.random.default_rng(seed)
    worst = {
        "relative_error_sum_of_terms": 0.0,
        "relative_error_finite_differences": 0.0,
        "draws": 0,
    }
    found: list[Counterexample] = []
    acts = ["tanh", "sigmoid", "relu", "linear"]
    try:
        for i in range(10**6):
            n, T = int(rng.integers(2, 6)), int(rng.integers(2, 12))
            budget.spend(T + 2 * n * n + 1)
            s = instance_seed(seed, i)
            act = acts[i % 4]
            rnn = random_rnn(
                "gaussian", n, norm=float(rng.uniform(0.3, 2.0)), activation=act, seed=s
            )
            x = random_inputs(T, 8, seed=s, scale=float(np.exp(rng.uniform(-2, 1.5))))
            W_hy, y = rng.standard_normal((2, n)), rng.standard_normal((T, 2))
            h0 = 0.5 * rng.standard_normal(n)
            err = _errors(rnn, W_hy, x, y, h0)
            worst["draws"] += 1
            for k, v in err.items():
                worst[k] = max(worst[k], v)
            if not found and (
                err["relative_error_sum_of_terms"] > SUM_TOL
                or err["relative_error_finite_differences"] > FD_TOL
            ):
                found.append(
                    counterexample(
                        ID,
                        rnn,
                        x,
                        h0=h0,
                        start=0,
                        end=T,
                        observed=err,
                        note=f"{act}, n = {n}, T = {T}: the sum of per-step gradients differs",
                        seed=seed,
                        extra={"W_hy": W_hy, "targets": y},
                    )
                )
    except BudgetExhaustedError:
        pass
    return found, worst


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    results = search_each_seed(budget, seeds, _search)
    broken = all(cs for cs, _ in results)
    w_sum = max(w["relative_error_sum_of_terms"] for _, w in results)
    w_fd = max(w["relative_error_finite_differences"] for _, w in results)
    draws = int(sum(w["draws"] for _, w in results))
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict="violated" if broken else "holds",
        evidence=(
            f"over {draws} random RNNs of all four activations, Σ_t ∂L_t/∂W_hh equals the "
            f"BPTT gradient to {w_sum:.1e} and finite differences agree to {w_fd:.1e} "
            "(relative, worst case)"
        ),
        numbers={
            "draws": draws,
            "worst_relative_error_sum_of_terms": w_sum,
            "worst_relative_error_finite_differences": w_fd,
        },
        conditions=None,
        corrected=None,
        source="linearity of differentiation; BPTT as the adjoint recursion (DESIGN.md §1)",
        counterexamples=tuple(c for cs, _ in results for c in cs),
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=f"sum of terms within {SUM_TOL:g}, finite differences within {FD_TOL:g} "
        "(relative)",
    )


def replay(cex: Counterexample) -> Replay:
    W_hy = np.asarray(cex.extra["W_hy"], dtype=np.float64)
    y = np.asarray(cex.extra["targets"], dtype=np.float64)
    err = _errors(cex.rnn, W_hy, cex.inputs[: cex.end], y[: cex.end], cex.h0)
    return Replay(
        claim=ID,
        observed=err,
        contradicts=err["relative_error_sum_of_terms"] > SUM_TOL
        or err["relative_error_finite_differences"] > FD_TOL,
        message=", ".join(f"{k} = {v:.3g}" for k, v in err.items()),
    )


def certify(cex: Counterexample, bits: int) -> Part:
    """Certify a counterexample in ball arithmetic at ``bits`` of precision.

    The replay's criterion: Σ_t ∂L_t/∂W_hh or finite differences differ from
    BPTT — impossible exactly.

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
    st = (
        "cannot be certified: ∂L/∂W_hh = Σ_t ∂L_t/∂W_hh holds exactly by linearity of the "
        "derivative, so any difference a replay shows is floating-point rounding or "
        "finite-difference truncation, not a contradiction"
    )
    return Part(False, st, computed=False)


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=certify,
    default_budget=1500,
    seconds_per_evaluation=0.0008,
)
