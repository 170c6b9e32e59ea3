"""Tests of the graded singular spectrum and the Lyapunov exponents of Jacobian products.

Every reference is independent of the code under test: the exact product of the
same float64 Jacobians (integer arithmetic) and its SVD in mpmath, closed forms
(determinants, scaled orthogonal products, eigenvalues of a fixed W, Newman's
exponents for Gaussian products), or numpy's SVD where it is accurate.
"""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError

import mpmath as mp
import numpy as np
import pytest
from scipy.special import polygamma, psi

from gradscope.errors import ConfigError
from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.spectrum import (
    SpectrumResult,
    compute_spectrum,
    log10_singular_values,
    lyapunov_exponents,
)
from tests.numeric import assert_log10_close as _assert_log10_close
from tests.numeric import exact_product, exact_rank, non_normal_W


def assert_log10_close(ours: np.ndarray, ref: np.ndarray, rel: float = 1e-8) -> None:
    """The spec's criterion: relative 1e-8 in log10 (plus the floor near σ = 1)."""
    _assert_log10_close(ours, ref, rel)


LOG10_2 = math.log10(2.0)


# --- references ------------------------------------------------------------------


def mp_log10_singular_values(J: np.ndarray, dps: int) -> np.ndarray:
    """log10 σ of the exact product of the float64 Jacobians, SVD in mpmath at ``dps``."""
    P, E = exact_product(J)
    with mp.workdps(dps):
        A = mp.matrix([[mp.ldexp(mp.mpf(int(x)), E) for x in row] for row in P])
        S = mp.svd_r(A, compute_uv=False)
        return np.array(sorted((float(mp.log10(s)) for s in S), reverse=True))


def reference_log10(J: np.ndarray) -> np.ndarray:
    """A self-checked mpmath reference: enough digits, and stable under 40 more.

    The SVD in mpmath has an absolute error of about 10**-dps σ₁, so ``dps`` must
    exceed log10 κ(P) <= Σ_t log10 κ(J_t) (an independent bound) by a margin;
    κ(J_t) <= κ(D_t) κ(D_t⁻¹ J_t) with D_t the rows' largest entries (safe in
    float64 even when a row is 1e-280 of the others).
    """
    rows = np.abs(J).max(axis=2)
    bound = np.log10(rows.max(axis=1) / rows.min(axis=1)).sum()
    bound += sum(np.log10(np.linalg.cond(J[t] / rows[t, :, None])) for t in range(len(J)))
    dps = int(bound) + 30
    ref = mp_log10_singular_values(J, dps)
    again = mp_log10_singular_values(J, dps + 40)
    np.testing.assert_allclose(ref, again, rtol=0, atol=1e-13)
    return ref


# --- test systems ----------------------------------------------------------------


def rnn_run(
    n: int, T: int, *, seed: int, scale: float = 1.0, activation: str = "tanh", x: float = 1.0
):
    rng = np.random.default_rng(seed)
    rnn = RNN(
        W_hh=non_normal_W(n, rng, scale),
        W_xh=rng.standard_normal((n, 3)),
        activation=activation,
    )
    inputs = x * rng.standard_normal((T, 3))
    steps = rnn_steps(rnn, inputs)
    J = np.stack([steps.matrix(t) for t in range(1, T + 1)])
    return rnn, inputs, steps, J


def haar(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


# --- accuracy against mpmath -------------------------------------------------------


def test_non_normal_tanh_spanning_hundreds_of_decades_matches_mpmath():
    """Hypothesis: every σ_i of a non-normal tanh product is exact to 1e-8 relative (log10)."""
    _, _, steps, J = rnn_run(8, 200, seed=1)
    ref = reference_log10(J)
    assert ref[0] - ref[-1] > 300  # the spectrum spans > 300 decades
    assert_log10_close(log10_singular_values(steps), ref)
    assert_log10_close(log10_singular_values(J), ref)


def test_spectrum_entirely_below_1e_minus_400_matches_mpmath():
    """Hypothesis: values far below float64's range (top σ < 1e-400) are still exact."""
    _, _, steps, J = rnn_run(6, 450, seed=2, scale=0.15)
    ref = reference_log10(J)
    assert ref[0] < -400
    assert_log10_close(log10_singular_values(steps), ref)


def test_deep_saturation_is_split_and_still_exact():
    """Hypothesis: rows of J_t 1e-200 below the others (tanh' ~ 1e-200) are not lost."""
    _, _, steps, J = rnn_run(5, 12, seed=4, x=60.0)
    spread = np.log10(steps.dphi.max(axis=1) / steps.dphi.min(axis=1))
    assert spread.max() > 200  # some step's rows span more than 2**500
    assert len(list(steps.factors(0, 12))) > 12  # ... so it is split into factors
    ref = reference_log10(J)
    assert_log10_close(log10_singular_values(steps), ref)


@pytest.mark.parametrize("seed", range(6, 14))
def test_exact_zero_singular_values_are_minus_inf_and_the_rest_exact(seed):
    """Hypothesis: a ReLU product of exact rank r gives n − r values −inf, r exact ones.

    The rank is that of the exact (integer) product: units with z <= 0 zero
    whole rows of J_t, and the rank can fall below every single J_t's.
    """
    _, _, steps, J = rnn_run(6, 20, seed=seed, activation="relu")
    P, _ = exact_product(J)
    rank = exact_rank(P)
    assert 0 < rank < 6
    ours = log10_singular_values(steps)
    assert np.all(np.isneginf(ours[rank:])) and np.all(np.isfinite(ours[:rank]))
    np.testing.assert_array_equal(np.isneginf(log10_singular_values(J)), np.isneginf(ours))
    # The zero σ come out of mpmath as ~10**-dps σ₁, the others must not move with dps.
    ref = mp_log10_singular_values(J, 300)[:rank]
    np.testing.assert_allclose(ref, mp_log10_singular_values(J, 400)[:rank], rtol=0, atol=1e-13)
    assert_log10_close(ours[:rank], ref)


# --- closed forms ------------------------------------------------------------------


def test_log_singular_values_sum_to_log_determinants_at_n256_T1000():
    """Hypothesis: Σ_i log σ_i(P) = Σ_t log|det J_t| (det of a product), n = 256, T = 1000.

    Tolerance: 1e-11 relative to Σ|log σ_i| (about 4e5 here; measured 4e-14).
    Each slogdet is backward stable: an error of about n ε κ(J_t) ≈ 1e-10 in
    log|det J_t|, summed over 1000 steps with random signs.
    """
    rng = np.random.default_rng(6)
    n, T = 256, 1000
    W = rng.standard_normal((n, n)) / math.sqrt(n)
    W /= np.max(np.abs(np.linalg.eigvals(W)))  # spectral radius 1
    rnn = RNN(W_hh=W, W_xh=rng.standard_normal((n, 4)) / 2.0)
    steps = rnn_steps(rnn, rng.standard_normal((T, 4)))
    log_sigma = log10_singular_values(steps) * math.log(10.0)
    log_det = math.fsum(np.linalg.slogdet(steps.matrix(t))[1] for t in range(1, T + 1))
    total = math.fsum(log_sigma)
    assert log_sigma[0] - log_sigma[-1] > 1000  # spans hundreds of decades
    assert abs(total - log_det) <= 1e-11 * math.fsum(np.abs(log_sigma))


@pytest.mark.parametrize("s", [0.8, 1.3])
def test_scaled_orthogonal_product_has_all_singular_values_s_to_the_T(s):
    """Hypothesis: for J_t = s Q_t with Q_t orthogonal every σ_i equals s**T (1e-12 relative)."""
    rng = np.random.default_rng(7)
    n, T = 12, 3000
    J = np.stack([s * haar(n, rng) for _ in range(T)])
    expected = T * math.log10(s)
    np.testing.assert_allclose(log10_singular_values(J), expected, rtol=1e-12, atol=0)


def test_design_example_0_9_to_the_10000_is_minus_457_57():
    """Hypothesis (DESIGN.md §1): 0.9**10000 ≈ 1e-458 is reported as log10 −457.57."""
    W = 0.9 * haar(4, np.random.default_rng(8))
    values = log10_singular_values(W for _ in range(10_000))
    np.testing.assert_allclose(values, 10_000 * math.log10(0.9), rtol=1e-12, atol=0)
    assert round(float(values[0]), 2) == -457.57


def test_fixed_W_lyapunov_exponents_are_log_eigenvalue_moduli():
    """Hypothesis: for J_t = W (linear RNN) λ_i = log|eig_i(W)|, and σ_i(W^T)^(1/T) → |eig_i|.

    After a warm-up of 200 steps the QR iteration has converged to the Schur
    basis (error ~ max|λ_{i+1}/λ_i|^200 ≈ 1e-35), so the exponents are exact to
    rounding. For the singular values, σ_i(V Λ^T V⁻¹) lies within a factor
    κ(V) of |λ_i|^T (Horn's inequalities): |log σ_i / T − log|λ_i|| <= log κ(V)/T.
    """
    rng = np.random.default_rng(9)
    eig = np.array([1.5, -0.9, 0.6, -0.3, 0.12, 0.05])
    V = np.eye(6) + 0.4 * rng.standard_normal((6, 6))
    W = V @ np.diag(eig) @ np.linalg.inv(V)
    T = 2000
    J = np.broadcast_to(W, (T, 6, 6))
    expected = np.sort(np.log(np.abs(eig)))[::-1]
    np.testing.assert_allclose(lyapunov_exponents(J, warmup=200), expected, rtol=0, atol=1e-9)
    per_step = log10_singular_values(J) * math.log(10.0) / T
    assert np.all(np.abs(per_step - expected) <= math.log(np.linalg.cond(V)) / T + 1e-12)


def test_gaussian_products_have_newmans_lyapunov_exponents():
    """Hypothesis: entries N(0, σ²) in d dims give λ_i = log σ + ½[log 2 + ψ((d−i+1)/2)].

    Newman (1986). With J_t Q_{t−1} Gaussian again, the per-step log|R_ii| are
    i.i.d. with mean λ_i and variance ψ'((d−i+1)/2)/4 (Bartlett), so the
    estimate over T steps has standard deviation sqrt(ψ'/(4T)); we allow 5 of them.
    """
    rng = np.random.default_rng(10)
    d, sigma, T = 6, 0.5, 20_000
    J = sigma * rng.standard_normal((T, d, d))
    k = (d - np.arange(1, d + 1) + 1) / 2.0
    exact = math.log(sigma) + 0.5 * (math.log(2.0) + psi(k))
    sd = np.sqrt(polygamma(1, k) / (4.0 * T))
    assert np.all(np.abs(lyapunov_exponents(J) - exact) <= 5.0 * sd)


# --- agreement with plain float64 where it is accurate ----------------------------


@pytest.mark.parametrize(("n", "T"), [(10, 6), (128, 4)])
def test_agrees_with_numpy_svd_of_the_float_product_for_short_products(n, T):
    """Hypothesis: with no underflow, σ_i >= 1e-8 σ_1 agree with numpy's SVD of the product.

    numpy's σ_i carry an absolute error of about T n ε σ_1 (product and SVD), so
    the allowed relative error is 50 T n ε σ_1/σ_i. (n = 128 takes the blocked
    triangular products of the large-n path.)
    """
    _, _, steps, J = rnn_run(n, T, seed=11)
    P = np.eye(n)
    for M in J:
        P = M @ P
    s = np.linalg.svd(P, compute_uv=False)
    ours = 10.0 ** (log10_singular_values(steps) - math.log10(s[0]))
    s = s / s[0]
    keep = s >= 1e-8
    assert keep.sum() >= 5
    allowed = 50 * T * n * np.finfo(float).eps / s[keep]
    assert np.all(np.abs(ours[keep] / s[keep] - 1.0) <= allowed)


# --- input forms and windows -------------------------------------------------------


def test_array_list_and_stream_inputs_give_identical_results():
    """Hypothesis: the result does not depend on how the Jacobians are handed over."""
    _, _, steps, J = rnn_run(7, 120, seed=12)
    from_array = log10_singular_values(J)
    np.testing.assert_array_equal(log10_singular_values(list(J)), from_array)
    np.testing.assert_array_equal(log10_singular_values(M for M in J), from_array)
    assert_log10_close(log10_singular_values(steps), from_array, rel=1e-10)
    np.testing.assert_array_equal(lyapunov_exponents(M for M in J), lyapunov_exponents(J))


def test_windows_select_the_product_between_start_and_end():
    """Hypothesis: start/end select J_end ⋯ J_{start+1}, for arrays, streams and RNNs."""
    rnn, inputs, steps, J = rnn_run(6, 100, seed=13)
    window = log10_singular_values(J[20:70])
    np.testing.assert_array_equal(log10_singular_values(J, start=20, end=70), window)
    np.testing.assert_array_equal(log10_singular_values((M for M in J), start=20, end=70), window)
    assert_log10_close(window, reference_log10(J[20:70]))
    result = compute_spectrum(rnn, inputs, start=20, end=70)
    np.testing.assert_array_equal(
        result.log10_singular_values, log10_singular_values(steps, start=20, end=70)
    )
    assert (result.start, result.end, result.steps) == (20, 70, 50)
    np.testing.assert_array_equal(
        lyapunov_exponents(J, start=20, end=70, warmup=5), lyapunov_exponents(J[20:70], warmup=5)
    )
    # default end = T: the whole run
    np.testing.assert_array_equal(
        log10_singular_values(J, start=30), log10_singular_values(J[30:])
    )


def test_exact_power_of_two_rescaling_shifts_every_value_exactly():
    """Hypothesis: 2**-700 J_t shifts every log10 σ by exactly −700 T log10 2.

    The product leaves float64's range after the second step, and binary
    scaling commutes with every rounding, so the shift is exact up to the
    rounding of the logs themselves.
    """
    _, _, _, J = rnn_run(6, 80, seed=14)
    scaled = np.ldexp(J, -700)
    shift = -700 * 80 * LOG10_2
    np.testing.assert_allclose(
        log10_singular_values(scaled), log10_singular_values(J) + shift, rtol=1e-13, atol=0
    )


def test_lyapunov_sum_matches_singular_value_sum_in_compute_spectrum():
    """Hypothesis: Σ λ_i · steps = log|det P| = Σ log σ_i (two different computations)."""
    rnn, inputs, _, _ = rnn_run(8, 150, seed=15)
    result = compute_spectrum(rnn, inputs, seed=15)
    lhs = math.fsum(result.lyapunov_exponents) * result.steps
    rhs = math.fsum(result.log10_singular_values) * math.log(10.0)
    assert abs(lhs - rhs) <= 1e-10 * abs(rhs)
    assert np.all(np.diff(result.lyapunov_exponents) <= 0)
    assert np.all(np.diff(result.log10_singular_values) <= 0)


# --- the result record ---------------------------------------------------------------


def test_spectrum_result_is_frozen_read_only_and_json_safe():
    """Hypothesis: results are immutable and their dict survives strict JSON (−inf → null)."""
    rnn, inputs, _, _ = rnn_run(6, 30, seed=5, activation="relu")
    result = compute_spectrum(rnn, inputs, seed=5)
    assert isinstance(result, SpectrumResult)
    with pytest.raises(FrozenInstanceError):
        result.start = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.log10_singular_values[0] = 0.0
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["hidden"] == 6 and data["activation"] == "relu" and data["seed"] == 5
    assert data["steps"] == 30 and data["qr_count"] >= 1
    values = data["log10_singular_values"]
    assert None in values  # exact zeros
    finite = [v for v in values if v is not None]
    np.testing.assert_array_equal(finite, result.log10_singular_values[: len(finite)])


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jacobians", "kwargs", "match"),
    [
        (np.eye(3), {}, "shape"),
        (np.ones((4, 3, 2)), {}, "shape"),
        (np.full((2, 3, 3), np.nan), {}, "NaN"),
        ([], {}, "empty"),
        ([np.eye(3), np.eye(4)], {}, "first was 3"),
        (np.ones((2, 5, 3, 3)), {}, "batch"),
        (np.ones((5, 3, 3)), {"start": 5}, "start"),
        (np.ones((5, 3, 3)), {"start": 2, "end": 2}, "start"),
        (np.ones((5, 3, 3)), {"end": 6}, "past the last step"),
        (np.ones((5, 3, 3)), {"start": -1}, "start"),
        (np.ones((5, 3, 3)), {"start": 1.5}, "integer"),
        ([np.eye(3)] * 4, {"end": 9}, "ended before end"),
        ([np.eye(3)] * 4, {"start": 6}, "ended before start"),
    ],
)
def test_bad_input_raises_config_error(jacobians, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        log10_singular_values(jacobians, **kwargs)


def test_bad_warmup_and_rnn_arguments_raise_config_error():
    J = np.ones((5, 3, 3))
    with pytest.raises(ConfigError, match="warmup"):
        lyapunov_exponents(J, warmup=5)
    with pytest.raises(ConfigError, match="warmup"):
        lyapunov_exponents(J, warmup=-1)
    with pytest.raises(ConfigError, match="warmup"):
        lyapunov_exponents(iter(list(J)), warmup=7)
    rnn, inputs, _, _ = rnn_run(3, 5, seed=0)
    with pytest.raises(ConfigError, match="RNN"):
        compute_spectrum("not an rnn", inputs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="inputs"):
        compute_spectrum(rnn, np.ones((5, 4)))
    with pytest.raises(ConfigError, match="past the last step"):
        compute_spectrum(rnn, inputs, end=6)
    with pytest.raises(ConfigError, match="seed"):
        compute_spectrum(rnn, inputs, seed=1.5)  # type: ignore[arg-type]


def test_a_block_that_multiplies_to_exactly_zero():
    """Regression: relu steps whose product is exactly zero give −inf, not an IndexError."""
    from gradscope.model import RNN

    rnn = RNN(W_hh=[[0.9, 0.2], [0.1, 0.8]], W_xh=np.eye(2), activation="relu")
    result = compute_spectrum(rnn, [[1, -9], [1, -9], [-9, -9]])
    assert result.log10_singular_values.tolist() == [-np.inf, -np.inf]


def test_w_diag_1e250_1_keeps_sigma_2_equal_to_1():
    """Regression: one linear step of W = diag(1e250, 1) gave log10 σ = [250, null]: σ₂ = 1
    was flushed beside 1e250 in the same block and reported as an exact zero."""
    from gradscope.numeric.steps import ConstantSteps, RNNSteps

    W = np.diag([1e250, 1.0])
    for steps in (ConstantSteps(W, 1), RNNSteps(W, np.ones((1, 2))), W[None]):
        assert log10_singular_values(steps) == pytest.approx([250.0, 0.0], abs=1e-12)
    assert log10_singular_values(ConstantSteps(W, 3)) == pytest.approx([750.0, 0.0], abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_w_whose_rows_span_hundreds_of_decades_matches_mpmath(seed):
    """Hypothesis: every σ is exact when W's own rows span 1e-140 … 1e140 (tanh φ')."""
    from gradscope.numeric.steps import RNNSteps

    rng = np.random.default_rng(seed)
    n, T = 4, 6
    W = np.diag(10.0 ** np.linspace(-140, 140, n)[rng.permutation(n)]) @ rng.standard_normal(
        (n, n)
    )
    d = 1.0 - np.tanh(rng.standard_normal((T, n))) ** 2
    J = np.stack([d[t][:, None] * W for t in range(T)])  # exact: row scalings of W
    assert_log10_close(log10_singular_values(RNNSteps(W, d)), reference_log10(J))
