r"""Claim ``jacobian-product``: ∂h_T/∂h_1 = Π_{t=2}^T diag(σ'(z_t)) W_hh.

The factor count is right (t = 2..T: T − 1 factors, DESIGN.md §1), and so is
each factor :math:`J_t = \operatorname{diag}(\varphi'(z_t)) W_{hh}`. Two readings
of the formula are not:

* the order. Matrices do not commute, and the chain rule puts the latest step
  on the left: :math:`J_T J_{T-1} \cdots J_2`. Read as the product in increasing
  t, :math:`J_2 J_3 \cdots J_T`, the formula is wrong;
* σ'. The tutorial's RNN uses tanh; with σ' read as the sigmoid's derivative
  the formula is wrong too.

Each reading is compared with a reference that shares no code with the
product: central finite differences of the forward pass with respect to
:math:`h_1`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gradscope.claims import _balls as balls
from gradscope.claims._proof import (
    _eye,
    _floats,
    _frobenius,
    _gt,
    _opposite,
    _ratio,
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
from gradscope.claims.search import counterexample
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.model import RNN, get_activation
from gradscope.numeric.forward import forward, forward_arrays

ID = "jacobian-product"
STATEMENT = (
    "The gradient through T time steps involves the product ∂h_T/∂h_1 = Π_{t=2}^{T} "
    "∂h_t/∂h_{t−1} = Π_{t=2}^{T} diag(σ'(z_t)) · W_hh."
)
LATEX = (
    r"\frac{\partial \mathbf{h}_T}{\partial \mathbf{h}_1} = \prod_{t=2}^{T} "
    r"\frac{\partial \mathbf{h}_t}{\partial \mathbf{h}_{t-1}} = \prod_{t=2}^{T} "
    r"\text{diag}(\sigma'(\mathbf{z}_t)) \cdot \mathbf{W}_{hh}"
)
SETTING = (
    "the tutorial's tanh RNN; ∂h_T/∂h_1 compared entrywise (relative Frobenius error) with "
    "fourth-order central differences of h_T in h_1; readings: time-ordered J_T ⋯ J_2 with "
    "σ' = tanh', increasing order J_2 ⋯ J_T, and σ' = the sigmoid's derivative"
)
AGREE = 1e-7  # the fourth-order differences are good to about 1e-11 here


def _reference(rnn: RNN, x: np.ndarray, h1: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """∂h_T/∂h_1 by fourth-order central differences of steps 2..T from a perturbed h_1.

    Truncation error O(eps⁴) ≈ 1e-12 and rounding O(u/eps) ≈ 1e-13 at eps = 1e-3.
    """
    n = rnn.hidden_size
    J: np.ndarray = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = eps

        def h_T(shift: np.ndarray) -> np.ndarray:
            out: np.ndarray = forward(rnn, x[1:], h1 + shift).h[-1]
            return out

        J[:, j] = (-h_T(2 * e) + 8 * h_T(e) - 8 * h_T(-e) + h_T(-2 * e)) / (12 * eps)
    return J


def _readings(rnn: RNN, x: np.ndarray, h0: np.ndarray) -> dict[str, np.ndarray]:
    traj = forward_arrays(rnn.W_hh, rnn.W_xh, rnn.b, x, h0, rnn.activation)
    z = traj.z[1:]  # z_2 .. z_T
    W = rnn.W_hh
    factors: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "time-ordered": rnn.activation.derivative,
        "increasing order": rnn.activation.derivative,
        "sigma = sigmoid": get_activation("sigmoid").derivative,
    }
    out = {}
    for name, dphi in factors.items():
        Js = [dphi(zt)[:, None] * W for zt in z]
        P = np.eye(rnn.hidden_size)
        for J in Js:
            P = (J @ P) if name != "increasing order" else (P @ J)
        out[name] = P
    return out


def _errors(rnn: RNN, x: np.ndarray, h0: np.ndarray) -> dict[str, float]:
    h1 = forward(rnn, x[:1], h0).h[-1]
    ref = _reference(rnn, x, h1)
    scale = np.linalg.norm(ref)
    return {k: float(np.linalg.norm(P - ref) / scale) for k, P in _readings(rnn, x, h0).items()}


def _search(budget: Budget, seed: int) -> tuple[list[Counterexample], dict[str, float]]:
    rng = np.random.default_rng(seed)
    worst = {"time-ordered": 0.0, "increasing order": np.inf, "sigma = sigmoid": np.inf}
    found: list[Counterexample] = []
    draws = 0
    try:
        for i in range(10**6):
            n, T = int(rng.integers(2, 7)), int(rng.integers(3, 9))
            budget.spend(4 * n + 1)  # the finite-difference reference costs 4n forward runs
            rnn = random_rnn(
                "gaussian", n, radius=float(rng.uniform(0.5, 1.5)), seed=instance_seed(seed, i)
            )
            x = random_inputs(T, 8, seed=instance_seed(seed, i))
            h0 = 0.5 * rng.standard_normal(n)
            err = _errors(rnn, x, h0)
            draws += 1
            worst["time-ordered"] = max(worst["time-ordered"], err["time-ordered"])
            for k in ("increasing order", "sigma = sigmoid"):
                worst[k] = min(worst[k], err[k])
            if not found and err["increasing order"] > 1e-2:
                found.append(
                    counterexample(
                        ID,
                        rnn,
                        x,
                        h0=h0,
                        start=1,
                        end=T,
                        observed={f"relative_error[{k}]": v for k, v in err.items()},
                        note=f"n = {n}, T = {T}: J_2 ⋯ J_T is off by "
                        f"{err['increasing order']:.2g} "
                        f"(relative) where J_T ⋯ J_2 agrees to {err['time-ordered']:.1e}",
                        seed=seed,
                        extra={"reading": "increasing order J_2 ⋯ J_T"},
                    )
                )
    except BudgetExhaustedError:
        pass
    worst["draws"] = draws
    return found, worst


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    results = search_each_seed(budget, seeds, _search)
    ordered_ok = all(w["time-ordered"] < AGREE for _, w in results)
    others_fail = all(cs for cs, _ in results)
    if not ordered_ok:
        verdict = "violated"
    elif others_fail:
        verdict = "holds-under"
    else:
        verdict = "holds"
    worst_ordered = max(w["time-ordered"] for _, w in results)
    best_increasing = min(w["increasing order"] for _, w in results)
    best_sigmoid = min(w["sigma = sigmoid"] for _, w in results)
    draws = int(sum(w["draws"] for _, w in results))
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=(
            f"over {draws} random tanh RNNs, J_T ⋯ J_2 with tanh' matches finite differences to "
            f"{worst_ordered:.1e} (worst); J_2 ⋯ J_T is off by ≥ {best_increasing:.2g} and "
            f"σ' = sigmoid' by ≥ {best_sigmoid:.2g} (best cases)"
        ),
        numbers={
            "draws": draws,
            "worst_relative_error_time_ordered": worst_ordered,
            "smallest_relative_error_increasing_order": best_increasing,
            "smallest_relative_error_sigmoid_derivative": best_sigmoid,
        },
        conditions=(
            "the product is ordered with the latest step on the left, J_T J_{T−1} ⋯ J_2, and σ' "
            "is the derivative of the network's own activation (tanh' = 1 − h_t² here)"
        ),
        corrected=(
            "∂h_T/∂h_1 = J_T J_{T−1} ⋯ J_2 with J_t = diag(φ'(z_t)) W_hh and φ = tanh: T − 1 "
            "factors, later steps to the left"
        ),
        source="the chain rule; DESIGN.md §1",
        counterexamples=tuple(c for cs, _ in results for c in cs),
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance=f"a reading agrees when its relative Frobenius error is below {AGREE:g}",
    )


def replay(cex: Counterexample) -> Replay:
    err = _errors(cex.rnn, cex.inputs[: cex.end], cex.h0)
    contradicts = err["time-ordered"] < AGREE and err["increasing order"] > 1e-2
    return Replay(
        claim=ID,
        observed={f"relative_error[{k}]": v for k, v in err.items()},
        contradicts=contradicts,
        message=", ".join(f"{k}: {v:.3g}" for k, v in err.items())
        + " (relative error against finite differences)",
    )


def certify(cex: Counterexample, bits: int) -> Part:
    """Certify a counterexample in ball arithmetic at ``bits`` of precision.

    The replay's criterion: the increasing-order product J_2⋯J_T is off by more
    than 1e-2 (relative).

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
    T = cex.end
    ordered = increasing = sigmoid = _eye(cex.W_hh.shape[0])
    for t in range(2, T + 1):  # J_t for t = 2..T: T − 1 factors
        J = balls.jacobian(run.p, run.fw.d[t - 1])
        ordered, increasing = J * ordered, increasing * J
        sig_d = [(Z / 2).sech() ** 2 / 4 for Z in run.fw.z[t - 1]]  # the sigmoid's φ'
        sigmoid = balls.jacobian(run.p, sig_d) * sigmoid
    ref = _frobenius(ordered)
    inc = _ratio(_frobenius(increasing - ordered), ref)
    result, Inc = _gt(inc, 1e-2), _floats(inc)
    what = f"‖J_2⋯J_{T} − J_{T}⋯J_2‖_F / ‖J_{T}⋯J_2‖_F"
    if result:
        st = (
            f"proved: with J_t = diag(φ'(z_t)) W_hh (φ = {cex.activation}), {what} ≥ "
            f"{_sci(Inc[0], False)} > 0.01, while J_{T}⋯J_2 = ∂h_{T}/∂h_1 exactly (chain "
            "rule): the product read in increasing order is wrong for this RNN (the replay's "
            "finite-difference reference is a float computation and is not certified)"
        )
    elif result is False:
        st = _opposite(f"{what} ≤ {_sci(Inc[1], True)} ≤ 0.01")
    else:
        st = _undecided(bits, f"{what} straddles 0.01")
    encs = {
        "relative_error[increasing order]": Inc,
        "relative_error[sigma = sigmoid]": _floats(_ratio(_frobenius(sigmoid - ordered), ref)),
    }
    return Part(result, st, encs, {"relative_error[time-ordered]": "0 (chain rule)"})


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=certify,
    default_budget=1500,
    seconds_per_evaluation=0.0006,
)
