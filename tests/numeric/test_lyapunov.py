"""Tests of the top-k Lyapunov exponents (gradscope.numeric.lyapunov).

References independent of the code under test: closed forms (the logs of a
diagonal's entries), a plain numpy QR loop written here (a QR after every
step), the QR iteration in mpmath at two precisions, and the spread of
estimates across independent runs (for the standard error).
"""

from __future__ import annotations

import json
import math
from itertools import combinations

import mpmath as mp
import numpy as np
import pytest

from gradscope.errors import ConfigError
from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.graded.blocks import graded_product
from gradscope.numeric.lyapunov import (
    CHECKPOINTS,
    LyapunovResult,
    compute_lyapunov,
    lyapunov_exponents,
)
from gradscope.numeric.steps import RNNSteps, Steps


def plain_loop(J: np.ndarray, Q: np.ndarray, warmup: int) -> np.ndarray:
    """The textbook discrete QR method: a QR after every step, descending."""
    sums = np.zeros(Q.shape[1])
    for t, M in enumerate(J):
        Q, R = np.linalg.qr(M @ Q)
        if t >= warmup:
            sums += np.log(np.abs(np.diagonal(R)))
    return np.sort(sums / (len(J) - warmup))[::-1]


def random_basis(n: int, k: int, seed: int) -> np.ndarray:
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((n, k)))[0]


def tanh_run(n: int, T: int, seed: int, gain: float = 1.5) -> RNNSteps:
    rng = np.random.default_rng(seed)
    W = gain * rng.standard_normal((n, n)) / math.sqrt(n)
    rnn = RNN(W_hh=W, W_xh=rng.standard_normal((n, 2)), activation="tanh")
    return rnn_steps(rnn, 0.3 * rng.standard_normal((T, 2)), rng.standard_normal(n))


# --- closed forms ------------------------------------------------------------------


def test_constant_diagonal_gives_the_top_k_log_moduli_from_either_basis() -> None:
    d = np.array([2.0, -1.5, 1.0, 0.5, -0.25])
    J = np.broadcast_to(np.diag(d), (400, 5, 5))
    expected = np.log(np.abs(d))[:3]
    ident = compute_lyapunov(J, k=3)
    np.testing.assert_allclose(ident.exponents, expected, rtol=0, atol=1e-14)
    # a random start needs the warm-up to align (gap ln(1.5/1) = 0.41 per step)
    rand = compute_lyapunov(J, k=3, warmup=150, basis="random", seed=3)
    np.testing.assert_allclose(rand.exponents, expected, rtol=0, atol=1e-12)
    assert ident.exponents.shape == (3,) and ident.k == 3


def test_constant_triangular_gives_log_eigenvalue_moduli_in_descending_order() -> None:
    # the diagonal out of order: the QR iteration still sorts the rates (descending)
    W = np.triu(np.random.default_rng(1).standard_normal((4, 4)), 1)
    W[np.diag_indices(4)] = [0.5, 3.0, -1.2, 2.0]
    J = np.broadcast_to(W, (600, 4, 4))
    top2 = compute_lyapunov(J, k=2, warmup=200, basis="random", seed=0).exponents
    np.testing.assert_allclose(top2, np.log([3.0, 2.0]), rtol=0, atol=1e-9)
    assert np.all(np.diff(compute_lyapunov(J, warmup=200).exponents) <= 0)


# --- against a plain numpy loop -----------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("basis", ["identity", "random"])
def test_k_columns_agree_with_a_plain_qr_every_step_loop(k: int, basis: str) -> None:
    steps = tanh_run(8, 300, seed=k)
    J = np.stack([steps.matrix(t) for t in range(1, 301)])
    V = np.eye(8)[:, :k] if basis == "identity" else random_basis(8, k, 7)
    ref = plain_loop(J, V, warmup=40)
    seed = None if basis == "identity" else 7
    for data in (steps, J):  # matrix-free (RNNSteps) and explicit Jacobians
        ours = compute_lyapunov(data, k=k, warmup=40, basis=basis, seed=seed).exponents
        assert np.all(np.abs(ours - ref) <= 1e-12 * (1.0 + np.abs(ref))), ours - ref


def test_generic_gaussian_products_agree_with_the_plain_loop() -> None:
    J = np.random.default_rng(5).standard_normal((250, 6, 6))
    ref = plain_loop(J, np.eye(6)[:, :3], warmup=0)
    ours = lyapunov_exponents(J, k=3)
    assert np.all(np.abs(ours - ref) <= 1e-12 * (1.0 + np.abs(ref)))


def test_default_is_all_n_and_bit_identical_to_the_whole_identity_loop() -> None:
    steps = tanh_run(7, 200, seed=2)
    product = graded_product(steps, 0, 200, accumulate=False, warmup=30)
    expected = np.sort(product.log_diag / product.averaged_steps)[::-1]
    default = compute_lyapunov(steps, warmup=30)
    np.testing.assert_array_equal(default.exponents, expected)
    assert default.qr_count == product.qr_count and default.k == 7
    np.testing.assert_array_equal(compute_lyapunov(steps, warmup=30, k=7).exponents, expected)
    # the re-export from spectrum is the same function
    from gradscope.numeric import spectrum

    assert spectrum.compute_lyapunov is compute_lyapunov
    assert spectrum.LyapunovResult is LyapunovResult


def test_k_columns_are_never_formed_as_jacobians(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = tanh_run(10, 120, seed=4)
    J = np.stack([steps.matrix(t) for t in range(1, 121)])
    ref = plain_loop(J, np.eye(10)[:, :2], warmup=10)

    def refuse(self: Steps, t: int) -> np.ndarray:
        raise AssertionError("a Jacobian was formed")

    monkeypatch.setattr(RNNSteps, "matrix", refuse)
    ours = compute_lyapunov(steps, k=2, warmup=10).exponents
    assert np.all(np.abs(ours - ref) <= 1e-12 * (1.0 + np.abs(ref)))


def test_steps_known_only_by_apply() -> None:
    W = np.random.default_rng(8).standard_normal((9, 9)) / 3.0

    class Applied(Steps):
        n, T = 9, 150  # type: ignore[assignment]

        def matrix(self, t: int) -> np.ndarray:
            raise AssertionError("a Jacobian was formed")

        def apply(self, t: int, V: np.ndarray) -> np.ndarray:
            return (1.0 + 0.1 * math.sin(t)) * (W @ V)

    J = np.stack([(1.0 + 0.1 * math.sin(t)) * W for t in range(1, 151)])
    ref = plain_loop(J, np.eye(9)[:, :3], warmup=20)
    ours = compute_lyapunov(Applied(), k=3, warmup=20).exponents
    assert np.all(np.abs(ours - ref) <= 1e-12 * (1.0 + np.abs(ref)))


# --- the rounding bound against mpmath ----------------------------------------------


def mp_qr_iteration(J: np.ndarray, V: np.ndarray, warmup: int, dps: int) -> list[mp.mpf]:
    """The QR iteration in exact-ish arithmetic (modified Gram-Schmidt at ``dps`` digits)."""
    with mp.workdps(dps):
        n, k = V.shape
        Q = mp.matrix(V.tolist())
        sums = [mp.mpf(0)] * k
        for t, M in enumerate(J):
            B = mp.matrix(M.tolist()) * Q
            for j in range(k):
                for i in range(j):
                    r = sum(B[a, i] * B[a, j] for a in range(n))
                    for a in range(n):
                        B[a, j] -= r * B[a, i]
                norm = mp.sqrt(sum(B[a, j] ** 2 for a in range(n)))
                for a in range(n):
                    B[a, j] /= norm
                if t >= warmup:
                    sums[j] += mp.log(norm)
            Q = B
        return sorted((s / (len(J) - warmup) for s in sums), reverse=True)


def test_rounding_bound_holds_against_mpmath() -> None:
    rng = np.random.default_rng(11)
    # graded steps: rows scaled over 1e-4..1, so the exponents spread by ~9 per step
    J = np.stack(
        [np.diag(10.0 ** rng.uniform(-4, 0, 5)) @ rng.standard_normal((5, 5)) for _ in range(80)]
    )
    # the spread of the k directions over the product: about 80 * 9 nats = 310 decades;
    # the Gram-Schmidt of each step needs only the one-step spread, so 40 digits hold
    # with room, confirmed at 60
    for k, basis, seed in ((3, "identity", None), (2, "random", 5)):
        ours = compute_lyapunov(J, k=k, warmup=10, basis=basis, seed=seed)
        V = np.eye(5)[:, :k] if seed is None else random_basis(5, k, seed)
        ref40 = mp_qr_iteration(J, V, 10, 40)
        ref60 = mp_qr_iteration(J, V, 10, 60)
        assert all(abs(a - b) < mp.mpf(10) ** -30 for a, b in zip(ref40, ref60, strict=True))
        err = np.array(
            [abs(float(mp.mpf(float(x)) - r)) for x, r in zip(ours.exponents, ref60, strict=True)]
        )
        assert np.all(err <= ours.lyapunov_error), (err, ours.lyapunov_error)
        assert np.all(ours.lyapunov_error < 1e-10)


# --- the standard error -------------------------------------------------------------


def test_standard_error_matches_the_spread_across_independent_runs() -> None:
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 6)) / math.sqrt(6)
    runs = []
    for seed in range(12):
        d = np.random.default_rng(100 + seed).uniform(0.3, 1.5, (2000, 6))
        runs.append(compute_lyapunov(RNNSteps(W, d), k=2, warmup=100))
    lam = np.array([r.exponents for r in runs])
    se = np.array([r.standard_error for r in runs])
    assert np.all(np.isfinite(se)) and np.all(se > 0)
    within = [
        bool(np.all(np.abs(lam[a] - lam[b]) <= 3.0 * np.hypot(se[a], se[b])))
        for a, b in combinations(range(len(runs)), 2)
    ]
    assert np.mean(within) >= 0.85
    # and not far too large either: the spread across runs against the mean estimate
    ratio = lam.std(axis=0, ddof=1) / se.mean(axis=0)
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


def test_standard_error_is_nan_with_too_few_steps() -> None:
    J = np.random.default_rng(2).standard_normal((12, 3, 3))
    assert np.all(np.isnan(compute_lyapunov(J, k=2, warmup=4).standard_error))


# --- history, seeds, records ----------------------------------------------------------


def test_history_is_the_running_estimate_and_ends_at_the_exponents() -> None:
    steps = tanh_run(6, 1000, seed=9)
    result = compute_lyapunov(steps, k=3, warmup=100)
    h, t = result.history, result.history_steps
    assert h.shape == (t.size, 3) and 2 <= t.size <= CHECKPOINTS + 1
    assert np.all(np.diff(t) > 0) and t[0] > 100 and t[-1] == 1000
    np.testing.assert_array_equal(h[-1], result.exponents)
    # an independent running estimate at a checkpoint: the plain loop to that step
    J = np.stack([steps.matrix(s) for s in range(1, 1001)])
    mid = int(t[t.size // 2])
    ref = plain_loop(J[:mid], np.eye(6)[:, :3], warmup=100)
    assert np.all(np.abs(h[t.size // 2] - ref) <= 1e-12 * (1.0 + np.abs(ref)))


def test_random_basis_same_seed_same_bytes_other_seed_other_bytes() -> None:
    steps = tanh_run(8, 200, seed=1)
    a = compute_lyapunov(steps, k=3, basis="random", seed=4)
    b = compute_lyapunov(steps, k=3, basis="random", seed=4)
    c = compute_lyapunov(steps, k=3, basis="random", seed=5)
    assert a.exponents.tobytes() == b.exponents.tobytes()
    assert json.dumps(a.to_dict(history=True)) == json.dumps(b.to_dict(history=True))
    assert a.exponents.tobytes() != c.exponents.tobytes()
    assert compute_lyapunov(steps, k=3, basis="random").seed == 0  # the default seed


def test_to_dict_has_the_unit_k_basis_and_history_on_request() -> None:
    result = compute_lyapunov(tanh_run(5, 300, seed=3), k=2, warmup=20)
    d = json.loads(json.dumps(result.to_dict()))
    assert d["unit"] == "natural log per step" and d["k"] == 2 and d["basis"] == "identity"
    assert len(d["exponents"]) == len(d["standard_error"]) == len(d["lyapunov_error"]) == 2
    assert "history" not in d
    full = result.to_dict(history=True)
    assert len(full["history"]) == len(full["history_steps"]) == result.history_steps.size


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 0},
        {"k": 6},
        {"k": 2.0},
        {"basis": "qr"},
        {"seed": 3},
        {"basis": "random", "seed": -1},
        {"warmup": 50},
        {"warmup": -1},
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        compute_lyapunov(np.random.default_rng(0).standard_normal((50, 5, 5)), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bound", [True, False], ids=["kappa-bound", "kappa-predicted"])
def test_k_column_bound_covers_a_qr_every_step_over_the_harness_cases(
    bound: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The accuracy harness's cases: the k-column run's rounding bound covers its distance
    to the same iteration (same start block) with a QR after every step; also when the
    blocks start from a prediction of κ(W), not a bound (n > 256: no n × n factorisation;
    the harness's small n are moved past the switch)."""
    from gradscope.numeric.graded import factors
    from gradscope.numeric.graded.blocks import block_loop
    from tests.numeric.harness import generate_cases

    if not bound:
        monkeypatch.setattr(factors, "EXACT_COND_MAX", 0)

    checked = 0
    for case in generate_cases(70):
        if case.T < 30 or case.explicit:
            continue
        steps = case.steps()
        k = min(3, steps.n)
        res = compute_lyapunov(steps, k=k, warmup=5, basis="random", seed=1)
        V = random_basis(steps.n, k, 1)
        fine = block_loop(
            steps.factors(0, case.T),
            steps.n,
            V,
            accumulate=False,
            warmup=5,
            cond_limit=1.0,
            max_block=1,
        )
        ref = np.sort(fine.log_diag / fine.averaged_steps)[::-1]
        live = np.isfinite(res.exponents) & np.isfinite(ref) & np.isfinite(res.lyapunov_error)
        gap = np.abs(res.exponents[live] - ref[live])
        assert np.all(gap <= res.lyapunov_error[live] + 1e-13), case.name
        checked += 1
    assert checked >= 10
