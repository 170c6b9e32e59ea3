r"""Claim ``clipping-direction``: clipping by norm caps ‖g‖ at θ and keeps the direction.

The rule :math:`g \leftarrow \theta g/\|g\|` if :math:`\|g\| > \theta` multiplies g
by a positive number, so in exact arithmetic it keeps the direction and makes
the norm exactly θ. Evaluated as written in floating point, with
:math:`\|g\| = \sqrt{\sum_i g_i^2}`, it holds to rounding (norm at most
:math:`\theta(1 + 4u)`, angle below 1e-7 rad) — until the sum of squares
overflows. An exploding gradient with entries beyond about 1e154 in float64
(1e19 in float32, the usual training precision) has :math:`\|g\| = \infty`, and
the rule returns :math:`(\theta/\infty)\, g = 0`: the direction is lost exactly
in the case clipping exists for. A scaled norm, :math:`m \|g/m\|` with
:math:`m = \max_i |g_i|` (as LAPACK's dnrm2 does), avoids it.

Gradients come from real RNNs: the BPTT gradient of
:math:`L = \sum_t \tfrac12\|W_{hy} h_t - \hat y_t\|^2` with respect to all
parameters, flattened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gradscope.claims import _balls as balls
from gradscope.claims._proof import (
    DBL_MAX,
    _extra_array,
    _floats,
    _num,
    _opposite,
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
from gradscope.claims.search import counterexample
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.model import RNN
from gradscope.numeric.gradient import bptt_gradient

ID = "clipping-direction"
STATEMENT = (
    "Gradient clipping: g ← g if ‖g‖ ≤ θ, θ g/‖g‖ if ‖g‖ > θ. Clipping by norm (typically "
    "θ = 1.0 or 5.0) prevents exploding gradients without affecting gradient direction."
)
LATEX = (
    r"\mathbf{g} \leftarrow \begin{cases} \mathbf{g} & \text{if } \|\mathbf{g}\| \leq \theta \\ "
    r"\frac{\theta}{\|\mathbf{g}\|} \mathbf{g} & \text{if } \|\mathbf{g}\| > \theta \end{cases}"
)
SETTING = (
    "g = the BPTT gradient of an RNN's loss w.r.t. (W_hh, W_xh, b, W_hy), float64; the rule "
    "evaluated as written with ‖g‖ = sqrt(Σ g_i²); θ ∈ {1, 5}; kept direction: angle between "
    "clip(g) and g below 1e-7 rad and clip(g) ≠ 0; capped: ‖clip(g)‖ ≤ θ(1 + 4u)"
)
U = 2.0**-53


def clip_as_written(g: np.ndarray, theta: float) -> tuple[np.ndarray, float]:
    """The tutorial's rule, evaluated literally in float64 (returns clip(g) and ‖g‖)."""
    with np.errstate(over="ignore", invalid="ignore"):
        norm = float(np.sqrt(np.sum(g * g)))
        return (g if norm <= theta else (theta / norm) * g), norm


def _safe_norm(g: np.ndarray) -> float:
    m = float(np.max(np.abs(g)))
    return 0.0 if m == 0 else m * float(np.sqrt(np.sum((g / m) ** 2)))


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = _safe_norm(a), _safe_norm(b)
    if na == 0 or nb == 0:
        return math.nan
    c = float(np.sum((a / na) * (b / nb)))
    return math.acos(max(-1.0, min(1.0, c)))


def _judge(g: np.ndarray, theta: float) -> dict[str, float | bool]:
    clipped, naive = clip_as_written(g, theta)
    true_norm = _safe_norm(g)
    angle = _angle(clipped, g)
    kept = math.isfinite(angle) and angle < 1e-7
    capped = _safe_norm(clipped) <= theta * (1 + 4 * U) or true_norm <= theta
    return {
        "log10_true_norm": math.log10(true_norm) if true_norm > 0 else -math.inf,
        "naive_norm_finite": math.isfinite(naive),
        "clipped_norm": _safe_norm(clipped),
        "angle_rad": angle,
        "direction_kept": kept,
        "norm_capped": capped,
    }


def _problem(seed_seq, n: int, T: int, norm: float, activation: str, scale: float):  # type: ignore[no-untyped-def]
    rnn = random_rnn("orthogonal", n, norm=norm, activation=activation, seed=seed_seq)
    rng = np.random.default_rng(seed_seq)
    W_hy = rng.standard_normal((2, n))
    targets = rng.standard_normal((T, 2))
    x = random_inputs(T, 8, seed=seed_seq, scale=scale)
    return rnn, W_hy, targets, x


def _gradient(rnn: RNN, W_hy: np.ndarray, x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return bptt_gradient(rnn, W_hy, x, targets).flat()


def _search(budget: Budget, seed: int) -> tuple[list[Counterexample], dict[str, float]]:
    rng = np.random.default_rng(seed)
    stats: dict[str, float] = {
        "ordinary_draws": 0,
        "ordinary_worst_angle": 0.0,
        "ordinary_all_capped": True,
        "exploding_draws": 0,
    }
    found: list[Counterexample] = []
    try:
        for i in range(10**6):
            s = instance_seed(seed, i)
            theta = float(rng.choice([1.0, 5.0]))
            if i % 2 == 0:  # ordinary gradients of random RNNs
                n, T = int(rng.integers(2, 17)), int(rng.integers(5, 60))
                problem = _problem(s, n, T, float(rng.uniform(0.5, 1.5)), "tanh", 1.0)
                stats["ordinary_draws"] += 1
            else:  # exploding: a linear RNN with ‖W‖ = s > 1 over enough steps
                n = int(rng.integers(2, 9))
                norm = float(rng.uniform(2.0, 3.0))
                # loss residuals and states both grow like norm^t, the gradient like
                # norm^(2T): aim its entries at 1e160–1e250, finite but past 1e154
                T = math.ceil(rng.uniform(160, 250) / (2 * math.log10(norm)))
                problem = _problem(s, n, T, norm, "linear", 1.0)
                stats["exploding_draws"] += 1
            rnn, W_hy, targets, x = problem
            budget.spend()
            g = _gradient(rnn, W_hy, x, targets)
            if not np.all(np.isfinite(g)):
                continue  # the gradient itself overflowed: nothing to clip
            j = _judge(g, theta)
            if i % 2 == 0:
                stats["ordinary_worst_angle"] = max(stats["ordinary_worst_angle"], j["angle_rad"])
                stats["ordinary_all_capped"] = stats["ordinary_all_capped"] and bool(
                    j["norm_capped"]
                )
            if not found and not (j["direction_kept"] and j["norm_capped"]):
                found.append(
                    counterexample(
                        ID,
                        rnn,
                        x,
                        start=0,
                        end=T,
                        observed=j,
                        note=f"{rnn.activation.name} RNN, ‖W_hh‖₂ = "
                        f"{np.linalg.norm(rnn.W_hh, 2):.3g}, T = {T}: "
                        f"‖g‖ = 10^{j['log10_true_norm']:.1f} overflows sqrt(Σ g²) and the rule "
                        f"returns ‖clip(g)‖ = {j['clipped_norm']:g}: the direction is lost",
                        seed=seed,
                        extra={
                            "W_hy": W_hy,
                            "targets": targets,
                            "theta": theta,
                            "gradient": "BPTT gradient w.r.t. (W_hh, W_xh, b, W_hy), flattened",
                            "norm": "sqrt(sum(g_i^2)) in float64, as written",
                        },
                    )
                )
    except BudgetExhaustedError:
        pass
    return found, stats


def check(budget: Budget, seeds: Sequence[int]) -> ClaimCheck:
    results = search_each_seed(budget, seeds, _search)
    ordinary_ok = all(
        st["ordinary_worst_angle"] < 1e-7 and st["ordinary_all_capped"] for _, st in results
    )
    broken = all(cs for cs, _ in results)
    verdict = "holds-under" if ordinary_ok and broken else "holds" if ordinary_ok else "violated"
    draws = sum(int(st["ordinary_draws"]) for _, st in results)
    worst = max(st["ordinary_worst_angle"] for _, st in results)
    examples = tuple(c for cs, _ in results for c in cs)
    evidence = f"{draws} ordinary gradients: norm capped and angle ≤ {worst:.1e} rad; " + (
        examples[0].note if examples else "no overflow case found"
    )
    return ClaimCheck(
        id=ID,
        statement=STATEMENT,
        latex=LATEX,
        setting=SETTING,
        verdict=verdict,
        evidence=evidence,
        numbers={
            "ordinary_draws": draws,
            "ordinary_worst_angle_rad": worst,
            "exploding_draws": sum(int(st["exploding_draws"]) for _, st in results),
        },
        conditions=(
            "‖g‖ is computed without overflow (g finite and Σ g_i² < 1.8e308 in float64, "
            "< 3.4e38 in float32) — or with a scaled norm m‖g/m‖, m = max|g_i|"
        ),
        corrected=(
            "clip(g) = θ g/‖g‖ keeps the direction and sets the norm to θ, provided ‖g‖ is "
            "computed in an overflow-safe way (scale by max|g_i| first); otherwise an exploded "
            "gradient is clipped to 0 or NaN"
        ),
        source="Pascanu, Mikolov & Bengio 2013 (the rule); Blue 1978 / LAPACK dnrm2 (safe norm)",
        counterexamples=examples,
        evaluations=budget.used,
        seeds=tuple(seeds),
        tolerance="angle < 1e-7 rad and ‖clip(g)‖ ≤ θ(1 + 4u), u = 2^-53",
    )


def replay(cex: Counterexample) -> Replay:
    W_hy = np.asarray(cex.extra["W_hy"], dtype=np.float64)
    targets = np.asarray(cex.extra["targets"], dtype=np.float64)
    g = _gradient(cex.rnn, W_hy, cex.inputs[: cex.end], targets[: cex.end])
    j = _judge(g, float(cex.extra["theta"]))
    contradicts = not (j["direction_kept"] and j["norm_capped"])
    return Replay(
        claim=ID,
        observed=j,
        contradicts=contradicts,
        message=f"‖g‖ = 10^{j['log10_true_norm']:.2f}, "
        f"sqrt(Σg²) finite: {j['naive_norm_finite']}, "
        f"‖clip(g)‖ = {j['clipped_norm']:g}, angle = {j['angle_rad']}",
    )


def certify(cex: Counterexample, bits: int) -> Part:
    """Certify a counterexample in ball arithmetic at ``bits`` of precision.

    The replay's criterion: the rule as written loses the direction — certifiable
    only as float64 overflow.

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
    flint = balls.flint_module()
    W_hy, targets = _extra_array(cex, "W_hy"), _extra_array(cex, "targets")[: cex.end]
    run = _run(cex, forward=True)
    assert run.fw is not None
    grads = balls.bptt(run.p, run.fw, W_hy, targets)
    LG = balls.log10_bounds(*balls.frobenius_interval(list(grads.values())))
    half = flint.arb(DBL_MAX).log() / flint.arb(10).log() / 2  # log10 √(largest float64)
    exact = True if LG[0] > half.upper() else False if LG[1] <= half.lower() else None
    G, thr = _floats(LG), _floats((half.lower(), half.upper()))
    encs = {"log10_gradient_norm": G, "log10_sqrt_float64_max": thr}
    # (ii) the float64 gradient the replay computes, and the rule evaluated on it
    g = bptt_gradient(cex.rnn, W_hy, cex.inputs[: cex.end], targets).flat()
    huge = bool(np.all(np.isfinite(g)) and np.max(np.abs(g)) >= 2.0**512)
    details = {"float_gradient_max_abs_at_least_2^512": huge, "theta": cex.extra.get("theta")}
    if exact is None:
        return Part(None, _undecided(bits, "‖g‖₂ straddles √(largest float64)"), encs, details)
    if exact is False:
        what = (
            f"‖g‖₂ ≤ 10^{_num(G[1], True)}: Σ g_i² does not overflow float64, and in exact "
            "arithmetic clipping keeps the direction"
        )
        return Part(False, _opposite(what), encs, details)
    if not huge:
        st = (
            f"only half proved: ‖g‖₂ ≥ 10^{_num(G[0], False)}, so Σ g_i² overflows float64, "
            "but the float64 gradient g̃ is not finite or has max|g̃_i| < 2^512, so the rule's "
            "float evaluation on g̃ is not certified"
        )
        return Part(False, st, encs, details)
    st = (
        f"proved: (i) the exact BPTT gradient g of L w.r.t. (W_hh, W_xh, b, W_hy) has ‖g‖₂ ≥ "
        f"10^{_num(G[0], False)} > 10^{_num(thr[1], True)} = √(largest float64), so Σ g_i² "
        "exceeds the largest float64 and sqrt(Σ g_i²) overflows in float64; (ii) the float64 "
        "gradient g̃ that gradscope computes for this file has max|g̃_i| ≥ 2^512, so g̃_i·g̃_i "
        "rounds to +inf in IEEE-754 and the rule as written returns (θ/inf)·g̃ = 0: the "
        "direction is lost. Not proved: that every BLAS computes the same g̃; in exact "
        "arithmetic clipping keeps the direction — the failure is float64 overflow, "
        "unavoidable for this gradient unless ‖g‖ is computed as m‖g/m‖ with m = max|g_i|"
    )
    return Part(True, st, encs, details)


CLAIM = Claim(
    id=ID,
    statement=STATEMENT,
    latex=LATEX,
    setting=SETTING,
    check=check,
    replay=replay,
    certify=certify,
    default_budget=200,
    seconds_per_evaluation=0.005,
    may_be_nan=frozenset({"angle_rad"}),  # the angle to a zero clip(g) is undefined
)
