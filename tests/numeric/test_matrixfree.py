"""Tests of the matrix-free top-k singular values and vectors of Jacobian products.

Every reference is independent of the code under test: the exact product of the
same float64 Jacobians (integer arithmetic) with its SVD, values *and* vectors,
in mpmath; the graded full spectrum (a different algorithm: the QR method on the
whole n × n product, itself checked against mpmath in ``test_spectrum.py``);
closed forms (powers of symmetric and scaled orthogonal matrices); numpy's SVD
where the spread is small enough for it to be accurate.
"""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError

import mpmath as mp
import numpy as np
import pytest
from click.testing import CliRunner

from gradscope.cli import main
from gradscope.errors import ConfigError
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.model import RNN
from gradscope.numeric.forward import IncrementalRNNSteps, rnn_steps
from gradscope.numeric.graded.jacobi import graded_log_singular_values, graded_svd
from gradscope.numeric.matrixfree import (
    TopSpectrumResult,
    check_memory,
    choose_method,
    compute_top_spectrum,
    estimate_memory,
    log10_top_singular_values,
)
from gradscope.numeric.spectrum import (
    compute_singular_values,
    compute_spectrum,
    log10_singular_values,
)
from gradscope.numeric.steps import ArraySteps, ConstantSteps, Steps, StreamSteps
from tests.numeric import assert_log10_close as _assert_log10_close
from tests.numeric import exact_product, exact_rank, non_normal_W


def assert_log10_close(ours: np.ndarray, ref: np.ndarray, rel: float = 1e-10) -> None:
    """Relative 1e-10 in log10 (plus the floor near σ = 1): tighter than the spec's 1e-8."""
    _assert_log10_close(ours, ref, rel)


LN10 = math.log(10.0)


# --- references ------------------------------------------------------------------


class ExactSVD:
    """The SVD of the exact product in mpmath, with enough digits for every σ_i.

    The SVD has an absolute error of about 10**-dps σ₁, so dps exceeds an
    independent bound on log10 κ(P) (Σ_t log10 κ(J_t), rows scaled first) by 40.
    """

    def __init__(self, J: np.ndarray) -> None:
        bound = 0.0
        for M in J:
            rows = np.abs(M).max(axis=1)
            live = rows > 0.0  # a zero row (relu off) is an exact rank loss
            if live.any():
                bound += math.log10(rows[live].max() / rows[live].min())
                bound += math.log10(np.linalg.cond(M[live] / rows[live, None]))
        self.dps = int(bound) + 40
        P, E = exact_product(J)
        with mp.workdps(self.dps):
            self.A = mp.matrix([[mp.ldexp(mp.mpf(int(x)), E) for x in row] for row in P])
            self.U, S, self.Vt = mp.svd_r(self.A)
            self.S = [S[i] for i in range(len(S))]
        self.rank = exact_rank(P)
        self.log10 = np.array(
            [float(mp.log10(s)) if i < self.rank else -np.inf for i, s in enumerate(self.S)]
        )


# --- test systems ----------------------------------------------------------------


def rnn_run(
    n: int,
    T: int,
    *,
    seed: int,
    activation: str = "tanh",
    x: float = 1.5,
    scale: float = 1.0,
    bias: float = 0.0,
):
    rng = np.random.default_rng(seed)
    rnn = RNN(
        W_hh=non_normal_W(n, rng, scale),
        W_xh=rng.standard_normal((n, 3)),
        b=bias + 0.1 * rng.standard_normal(n),
        activation=activation,
    )
    return rnn_steps(rnn, x * rng.standard_normal((T, 3)))


def jacobians(steps: Steps) -> np.ndarray:
    return np.stack([steps.matrix(t) for t in range(1, steps.T + 1)])


@pytest.fixture(scope="module")
def deep():
    """n = 7, T = 100, tanh: σ₆/σ₁ ≈ 1e-242, and its exact SVD (values and vectors)."""
    steps = rnn_run(7, 100, seed=5)
    return steps, ExactSVD(jacobians(steps))


# --- values: exact relative to the exact spectrum -----------------------------------


def test_top_k_is_exact_when_the_values_span_hundreds_of_decades(deep):
    """Claim: top-k values are exact relative to each σ_i, even when σ_k/σ₁ < 1e-30.

    Methods on PᵀP square the spread and lose everything below ~1e-8 σ₁; the
    graded orthogonal iteration keeps each value to a small relative error.
    """
    steps, ref = deep
    k = 6
    assert ref.log10[k - 1] - ref.log10[0] < -200  # σ_6/σ_1 far below 1e-30
    result = compute_top_spectrum(steps, k)
    assert result.converged
    assert_log10_close(result.log10_singular_values, ref.log10[:k])


@pytest.mark.parametrize(
    ("n", "T", "activation", "x", "seed", "k"),
    [
        (5, 150, "tanh", 1.5, 1, 4),
        (6, 80, "sigmoid", 2.0, 2, 3),
        (6, 60, "relu", 0.7, 3, 5),
        (5, 200, "linear", 1.0, 4, 2),
    ],
)
def test_top_k_against_mpmath(n, T, activation, x, seed, k):
    """Claim: for every activation the top k agree with the exact product's SVD."""
    relu = activation == "relu"
    steps = rnn_run(
        n,
        T,
        seed=seed,
        activation=activation,
        x=x,
        scale=0.5 if relu else 1.0,
        bias=1.0 if relu else 0.0,
    )
    J = jacobians(steps)
    ref = ExactSVD(J)
    ours = compute_top_spectrum(steps, k).log10_singular_values
    finite = np.isfinite(ref.log10[:k])
    if relu:  # some units are off (exact zero rows); the product keeps rank 3 of 6
        assert min(int(np.count_nonzero(np.abs(M).max(axis=1))) for M in J) < n
        assert finite.tolist() == [True, True, True, False, False]
    assert np.array_equal(np.isfinite(ours), finite)
    assert_log10_close(ours[finite], ref.log10[:k][finite])


def test_spread_beyond_1e30_in_a_closed_form():
    """Claim: σ_i(W^T) = s_i^T for symmetric W = Q diag(s) Qᵀ, here σ_8/σ_1 = e^{-70} ≈ 4e-31."""
    n, T, k = 32, 1000, 8
    rng = np.random.default_rng(11)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = 0.98 * np.exp(-0.01 * np.arange(n))
    W = (Q * s) @ Q.T
    result = compute_top_spectrum(ConstantSteps(W, T), k)
    exact = T * np.log10(s[:k])
    assert exact[k - 1] - exact[0] < -30
    # The float W is symmetric with eigenvalues s_i to ~1e-16 relative: log10 σ_i
    # moves by at most T·1e-16/ln 10 ≈ 5e-14.
    assert_log10_close(result.log10_singular_values, exact, rel=1e-12)
    # ... and the right singular vectors are the eigenvectors.
    cosines = np.abs(np.sum(result.right_singular_vectors * Q[:, :k], axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-12)


@pytest.mark.parametrize(
    ("kind", "n", "T", "k", "start", "end"),
    [
        ("tanh", 64, 1000, 8, 0, None),
        ("relu", 48, 400, 6, 0, None),
        ("sigmoid", 40, 300, 5, 20, 250),
        ("gaussian", 96, 600, 4, 0, None),
    ],
)
def test_agrees_with_the_graded_full_spectrum(kind, n, T, k, start, end):
    """Claim: the matrix-free top k equal the first k values of the exact graded spectrum."""
    if kind == "gaussian":
        rnn = random_rnn("gaussian", n, radius=1.0, seed=instance_seed(7, 0))
        steps = rnn_steps(rnn, random_inputs(T, 8, seed=instance_seed(7, 0)))
    else:
        steps = rnn_run(n, T, seed=n, activation=kind, scale=0.5 if kind == "relu" else 1.0)
    full = log10_singular_values(steps, start=start, end=end)
    result = compute_top_spectrum(steps, k, start=start, end=end)
    assert result.converged and result.start == start and result.end == (end or T)
    assert_log10_close(result.log10_singular_values, full[:k])


def test_one_vector_needs_no_qr_inside_a_pass():
    """Claim: with a block of one vector (b = 1) σ₁ is still exact, with one QR per pass."""
    steps = rnn_run(32, 2000, seed=9)
    full = log10_singular_values(steps)
    result = compute_top_spectrum(steps, 1, block=1)
    assert result.block == 1 and result.qr_count == result.passes
    assert result.longest_block >= 2000  # a whole pass between two QRs
    assert_log10_close(result.log10_singular_values, full[:1], rel=1e-13)


def test_no_underflow_at_long_horizons():
    """Claim: 0.5^5000 ≈ 1e-1505 is reported exactly, far below float64's 1e-308."""
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    result = compute_top_spectrum(ConstantSteps(0.5 * Q, 5000), 4)
    np.testing.assert_allclose(result.log10_singular_values, 5000 * math.log10(0.5), rtol=1e-14)
    assert round(float(result.log10_singular_values[0]), 3) == -1505.15


def test_deep_saturation_splits_the_scalings_in_both_passes():
    """Claim: φ' spanning 1e-300..1 within one step (tanh, |z| ≈ 350) loses no direction.

    Such a step is applied as several exact factors with a QR between them, in
    the forward pass (diag(d) W) and in the backward pass (Wᵀ diag(d)) alike.
    """
    n, T = 5, 30
    rng = np.random.default_rng(21)
    W = non_normal_W(n, rng)
    W_xh = np.diag([340.0, 200.0, 1.0, 0.5, 0.2])[:, :3]
    x = np.ones((T, 3)) * np.array([1.0, 1.0, 0.3])
    steps = rnn_steps(RNN(W_hh=W, W_xh=W_xh, activation="tanh"), x)
    d = steps.dphi
    assert np.log10(d[d > 0].max() / d[d > 0].min()) > 250
    ref = ExactSVD(jacobians(steps))
    result = compute_top_spectrum(steps, 4)
    finite = np.isfinite(ref.log10[:4])
    assert_log10_close(result.log10_singular_values[finite], ref.log10[:4][finite])


# --- vectors: exact in log scale ------------------------------------------------------


def _mp(v: np.ndarray) -> mp.matrix:
    return mp.matrix([mp.mpf(float(x)) for x in v])  # exact: every float64 is an mpf


def test_singular_vectors_against_mpmath(deep):
    r"""Claim: u_i, v_i are the exact singular vectors to float precision, for every i <= k.

    Measured in mpmath on the exact product, so nothing underflows:

    * the angle between v_i (u_i) and the exact vector is below 1e-8;
    * ``‖P v_i − σ_i u_i‖ <= 1e-12 σ₁`` (backward stable), and relative to σ_i
      itself once the components along u_1 … u_{i-1} are removed:
      ``‖(I − Π_{<i})(P v_i) − σ_i u_i‖ <= 1e-9 (1 + |ln σ_i|) σ_i``. The plain
      relative residual cannot be small when σ_i < ε σ₁: a float64 v_i has
      components of size ε along v_1, which P amplifies by σ₁.
    """
    steps, ref = deep
    k = 6
    result = compute_top_spectrum(steps, k)
    V, U = result.right_singular_vectors, result.left_singular_vectors
    np.testing.assert_allclose(V.T @ V, np.eye(k), atol=1e-13)
    np.testing.assert_allclose(U.T @ U, np.eye(k), atol=1e-13)
    with mp.workdps(ref.dps):
        sigma1 = ref.S[0]
        raw_relative = []
        for i in range(k):
            v, u = _mp(V[:, i]), _mp(U[:, i])
            v_ex, u_ex = ref.Vt[i, :].T, ref.U[:, i]
            for ours, exact in ((v, v_ex), (u, u_ex)):
                c = mp.fdot(exact, ours)
                assert mp.norm(ours - c * exact) < 1e-8  # sin of the angle
            sigma = mp.power(10, mp.mpf(float(result.log10_singular_values[i])))
            Pv = ref.A * v
            residual = Pv - sigma * u
            assert mp.norm(residual) <= 1e-12 * sigma1
            raw_relative.append(float(mp.log10(mp.norm(residual) / sigma)))
            for j in range(i):
                Pv -= mp.fdot(ref.U[:, j], Pv) * ref.U[:, j]
            assert mp.fdot(u, Pv) > 0  # the signs match: u_iᵀ P v_i = +σ_i
            deflated = mp.norm(Pv - sigma * u) / sigma
            assert deflated <= 1e-9 * (1 + abs(float(result.log10_singular_values[i]) * LN10))
    assert max(raw_relative) > 100  # why the deflated residual is the measure for σ_i ≪ σ₁


def test_graded_svd_with_vectors_matches_the_kernel_and_reconstructs():
    """Claim: the b × b decomposition gives the kernel's values and G = X diag(σ) Yᵀ."""
    rng = np.random.default_rng(4)
    b = 9
    ell = np.sort(rng.uniform(-3.0, 3.0, b))[::-1][rng.permutation(b)]
    U = np.triu(rng.standard_normal((b, b)))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    values, X, Y, _ = graded_svd(ell, U)
    kernel, _ = graded_log_singular_values(ell, U)
    np.testing.assert_allclose(values, kernel, rtol=0, atol=1e-13)
    G = np.exp(ell)[:, None] * U
    np.testing.assert_allclose(X @ np.diag(np.exp(values)) @ Y.T, G, atol=1e-13)
    np.testing.assert_allclose(X.T @ X, np.eye(b), atol=1e-13)
    np.testing.assert_allclose(Y.T @ Y, np.eye(b), atol=1e-13)


# --- exact zeros, other Steps, determinism, validation ----------------------------


def test_exact_zeros_are_minus_infinity_with_zero_vectors():
    """Claim: a product with two exactly zero rows has σ_4 = σ_5 = 0: log10 is −inf."""
    rng = np.random.default_rng(3)
    W = rng.standard_normal((5, 5)) / 3.0
    W[3:] = 0.0
    result = compute_top_spectrum(ConstantSteps(W, 10), 5)
    assert np.all(np.isneginf(result.log10_singular_values[3:]))
    assert not np.any(result.right_singular_vectors[:, 3:])
    ref = log10_singular_values(np.stack([W] * 10))
    assert np.all(np.isneginf(ref[3:]))
    assert_log10_close(result.log10_singular_values[:3], ref[:3])
    d = result.to_dict()
    assert d["log10_singular_values"][3:] == [None, None]
    json.dumps(d, allow_nan=False)


def test_every_kind_of_steps_gives_the_same_values():
    """Claim: RNN steps, the explicit (T, n, n) array and a bare Steps agree."""

    class Bare(Steps):  # only matrix(): the default apply / apply_transpose
        def __init__(self, J):
            self.J = J

        @property
        def n(self):
            return self.J.shape[-1]

        @property
        def T(self):
            return self.J.shape[0]

        def matrix(self, t):
            return self.J[self._check_t(t) - 1]

    steps = rnn_run(12, 120, seed=8)
    J = jacobians(steps)
    full = compute_singular_values(J)  # the graded engine from the identity: every value
    for other in (steps, J, ArraySteps(J), Bare(J)):  # factors of each kind (Steps.factors)
        got = compute_top_spectrum(other, 3)
        assert np.all(np.isfinite(got.log10_error[:2]))
        gap = np.abs(got.log10_singular_values - full.log10_singular_values[:3])
        allowed = got.log10_error + full.log10_error[:3]  # inf: not determined, no claim
        assert np.all(gap <= allowed), (type(other).__name__, gap, allowed)
        assert_log10_close(got.log10_singular_values[:2], full.log10_singular_values[:2])
    rng = np.random.default_rng(8)
    rnn = RNN(W_hh=non_normal_W(12, rng), W_xh=rng.standard_normal((12, 3)))
    x = rng.standard_normal((120, 3))
    lazy = IncrementalRNNSteps(rnn.W_hh, rnn.W_xh, rnn.b, x, None, "tanh", chunk=7)
    assert_log10_close(
        compute_top_spectrum(lazy, 3).log10_singular_values,
        compute_top_spectrum(rnn_steps(rnn, x), 3).log10_singular_values,
        rel=1e-14,
    )


def test_same_seed_same_result_and_a_frozen_record():
    steps = rnn_run(20, 200, seed=2)
    a, b = compute_top_spectrum(steps, 3, seed=4), compute_top_spectrum(steps, 3, seed=4)
    assert json.dumps(a.to_dict(vectors=True)) == json.dumps(b.to_dict(vectors=True))
    assert isinstance(a, TopSpectrumResult) and a.top == 3 and a.steps == 200
    with pytest.raises(FrozenInstanceError):
        a.passes = 0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        a.log10_singular_values[0] = 0.0
    other = compute_top_spectrum(steps, 3, seed=5).log10_singular_values
    assert_log10_close(other, a.log10_singular_values, rel=1e-12)
    assert log10_top_singular_values(steps, 3).shape == (3,)


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (lambda s: s, {"k": 0}, "k must be"),
        (lambda s: s, {"k": 13}, "k must be"),
        (lambda s: s, {"k": 4, "block": 3}, "block must be"),
        (lambda s: s, {"k": 2, "start": 5, "end": 5}, "smaller than end"),
        (lambda s: StreamSteps(iter(jacobians(s))), {"k": 1}, "one-shot stream"),
        (lambda s: np.stack([jacobians(s)] * 2), {"k": 1}, "batch"),
        (lambda s: s, {"k": 1, "rtol": 0.0}, "rtol"),
    ],
)
def test_bad_arguments_are_refused(make, kwargs, message):
    steps = rnn_run(12, 30, seed=1)
    with pytest.raises(ConfigError, match=message):
        compute_top_spectrum(make(steps), **kwargs)


# --- memory and method -----------------------------------------------------------------


def test_sizes_that_do_not_fit_are_refused_up_front_with_the_option_that_fits():
    graded = estimate_memory(20000, 1000, method="graded")
    free = estimate_memory(20000, 1000, method="matrix-free", top=8)
    assert free < graded / 2
    # measured peak at n = 2048, T = 1000 (bench_matrixfree.py): about 190 MB
    assert 190e6 < estimate_memory(2048, 1000, method="matrix-free", top=8) < 400e6
    with pytest.raises(ConfigError, match=r"needs about 61\.3 GB.*--method matrix-free --top 8"):
        check_memory(20000, 1000, method="graded", top=8, available=40 * 10**9)
    with pytest.raises(ConfigError, match="reduce --hidden or --T"):
        check_memory(20000, 1000, method="matrix-free", top=8, available=10**9)
    check_memory(20000, 1000, method="matrix-free", top=8, available=40 * 10**9)
    assert choose_method("auto", 2048, 8) == "matrix-free"
    assert choose_method("auto", 2048, None) == "graded"
    assert choose_method("auto", 128, 8) == "matrix-free"
    assert choose_method("auto", 128, 24) == "graded"  # a block of 48 is more than n / 4
    assert choose_method("auto", 64, 1) == "graded"
    assert choose_method("graded", 4096, 8) == "graded"
    with pytest.raises(ConfigError, match="method must be"):
        choose_method("lanczos", 10, 1)


# --- the command line --------------------------------------------------------------------


def spectrum(*args):
    return CliRunner().invoke(main, ["spectrum", *map(str, args)])


def spectrum_json(*args):
    res = spectrum(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_cli_top_k_has_length_k_and_both_methods_agree():
    args = ("--family", "non-normal", "--radius", "0.95", "--hidden", "24", "--T", "300")
    full = spectrum_json(*args)
    graded = spectrum_json(*args, "--top", "5")
    free = spectrum_json(*args, "--top", "5", "--method", "matrix-free")
    assert graded["method"] == "graded" and free["method"] == "matrix-free"
    assert len(graded["log10_singular_values"]) == len(free["log10_singular_values"]) == 5
    assert graded["log10_singular_values"] == full["log10_singular_values"][:5]
    assert_log10_close(
        np.array(free["log10_singular_values"]), np.array(graded["log10_singular_values"])
    )
    assert free["diagnostics"]["converged"] is True and free["top"] == 5
    assert free["bound"]["holds"] is True and free["bound"]["spectral_radius"] is None
    np.testing.assert_allclose(
        free["bound"]["spectral_norm"], graded["bound"]["spectral_norm"], rtol=1e-12
    )


def test_cli_vectors_and_table():
    args = ("--radius", "1", "--hidden", "16", "--T", "200", "--top", "3")
    out = spectrum_json(*args, "--vectors")
    v = np.array(out["right_singular_vectors"])
    assert out["method"] == "matrix-free" and v.shape == (3, 16)
    np.testing.assert_allclose(v @ v.T, np.eye(3), atol=1e-12)
    rnn = random_rnn("gaussian", 16, radius=1.0, seed=instance_seed(0, 0))
    ref = compute_spectrum(rnn, random_inputs(200, 8, seed=instance_seed(0, 0)))
    assert_log10_close(np.array(out["log10_singular_values"]), ref.log10_singular_values[:3])
    res = spectrum(*args, "--method", "matrix-free")
    assert res.exit_code == 0, res.output
    assert "top 3 singular values" in res.output and "method: matrix-free" in res.output
    assert "v_i: largest units" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--radius", "1", "--method", "matrix-free"], "add --top K"),
        (["--radius", "1", "--hidden", "5", "--top", "6"], "more than n = 5"),
        (["--radius", "1", "--vectors"], "add --top K"),
        (["--radius", "1", "--top", "2", "--vectors", "--method", "graded"], "--vectors needs"),
        (["--radius", "1", "--top", "0"], "--top"),
        (["--radius", "1", "--method", "lanczos"], "--method"),
        (["--radius", "1", "--hidden", "200000", "--T", "1000"], "needs about"),
        (["--radius", "1", "--hidden", "15000", "--T", "100"], "--method matrix-free --top 1"),
    ],
)
def test_cli_bad_usage_is_exit_code_2(args, message, monkeypatch):
    import gradscope.machine as machine

    monkeypatch.setattr(machine, "available_memory", lambda: 24 * 10**9)  # as measured here
    res = spectrum(*args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert message in res.output


# --- the block shrinks to the measured gap (issue 18) -------------------------------


def _symmetric_steps(s: np.ndarray, T: int, seed: int = 4):
    from gradscope.numeric.steps import ConstantSteps

    Q = np.linalg.qr(np.random.default_rng(seed).standard_normal((s.size, s.size)))[0]
    return ConstantSteps((Q * s) @ Q.T, T)


def test_shrunk_block_follows_the_gap():
    from gradscope.numeric.matrixfree.sizes import shrunk_block

    wide = np.array([0.0, -30.0, -31.0, -32.0, -33.0, -34.0, -35.0, -36.0])
    assert shrunk_block(wide, 1, 1e-13) == 2
    flat = -0.001 * np.arange(16.0)
    assert shrunk_block(flat, 1, 1e-13) == 16
    assert shrunk_block(np.array([0.0, -50.0]), 1, 1e-13) == 2  # b = k + 1: nothing to drop
    assert shrunk_block(np.array([0.0, -np.inf, -np.inf]), 1, 1e-13) == 3


@pytest.mark.parametrize("k", [1, 2])
def test_default_block_shrinks_at_a_wide_gap_and_values_stay_in_their_bounds(k):
    # σ_i(W^T) = s_i^T exactly for symmetric W: a gap of 50 ln(0.9/0.45) after σ_2.
    s = np.concatenate([[0.9, 0.85], 0.45 * np.exp(-0.01 * np.arange(62))])
    T = 50
    r = compute_top_spectrum(_symmetric_steps(s, T), k)
    assert r.block_sizes[0] == 16 and min(r.block_sizes) < 16
    assert len(r.block_sizes) == r.passes
    exact = T * np.log10(s[:k])
    # 1e-12: the rounding of the stored W itself (the closed form is for the exact one)
    assert np.all(np.abs(r.log10_singular_values - exact) <= r.log10_error + 1e-12)
    fixed = compute_top_spectrum(_symmetric_steps(s, T), k, block=16)
    assert set(fixed.block_sizes) <= {16, k}
    assert np.all(np.abs(fixed.log10_singular_values - exact) <= fixed.log10_error + 1e-12)


def test_default_block_keeps_its_size_without_a_gap():
    s = 0.9 * np.exp(-0.002 * np.arange(64))
    r = compute_top_spectrum(_symmetric_steps(s, 40), 1)
    assert set(r.block_sizes) <= {16, 1}


def test_thin_block_condition_is_a_bound_up_to_the_switch_and_a_prediction_above():
    """Hypothesis (issue 18): a run of a few vectors gets log κ(W) from an SVD (a bound,
    equal to numpy's 2-norm condition) up to n = EXACT_COND_MAX, a prediction only above
    (no n × n factorisation), and 0 for one column; a bound and a prediction together
    are refused."""
    from gradscope.errors import ConfigError
    from gradscope.numeric.graded import factors

    rng = np.random.default_rng(3)
    small = rng.standard_normal((factors.EXACT_COND_MAX, factors.EXACT_COND_MAX))
    bound, predicted = factors.thin_block_condition(small, 4)
    assert predicted is None
    assert bound == pytest.approx(math.log(np.linalg.cond(small)), rel=1e-12)
    big = rng.standard_normal((factors.EXACT_COND_MAX + 1,) * 2)
    assert factors.thin_block_condition(big, 4) == (None, factors._OPAQUE_LOG_KAPPA)
    assert factors.thin_block_condition(big, 1) == (None, 0.0)
    with pytest.raises(ConfigError, match="not both"):
        next(factors.weight_factors(small, None, 1, log_kappa=1.0, predicted_log_kappa=1.0))


def test_above_the_switch_no_weights_factorisation_and_values_inside_their_bounds(
    monkeypatch,
):
    """Hypothesis: at n = 320 (> EXACT_COND_MAX) the top 3 of a tanh RNN lie within their
    bounds of the graded full spectrum (a different algorithm, every value exact), and
    the weights are never factorised (no SVD or inverse of an n × n matrix)."""
    from gradscope.model import RNN
    from gradscope.numeric.forward import rnn_steps
    from gradscope.numeric.spectrum import compute_singular_values

    n, T = 320, 30
    rng = np.random.default_rng(8)
    W = 1.2 * rng.standard_normal((n, n)) / math.sqrt(n)
    rnn = RNN(W_hh=W, W_xh=rng.standard_normal((n, 2)), activation="tanh")
    steps = rnn_steps(rnn, 0.5 * rng.standard_normal((T, 2)), rng.standard_normal(n))
    ref = compute_singular_values(steps)
    seen: list[tuple[int, ...]] = []
    for name in ("svd", "inv"):
        real = getattr(np.linalg, name)

        def spy(A, *args, _real=real, **kwargs):
            seen.append(np.shape(A))
            return _real(A, *args, **kwargs)

        monkeypatch.setattr(np.linalg, name, spy)
    got = compute_top_spectrum(steps, 3)
    monkeypatch.undo()
    assert (n, n) not in seen
    gap = np.abs(got.log10_singular_values - ref.log10_singular_values[:3])
    assert np.all(gap <= got.log10_error + ref.log10_error[:3]), (gap, got.log10_error)
    assert np.all(got.log10_error < 1e-6)
