"""The top singular value of ∂h_end/∂h_start in log10, against independent references."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradscope.errors import ConfigError
from gradscope.init import instance_seed, random_inputs, random_rnn, recurrent_weights
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.products import (
    log10_norm_trajectory,
    log10_product_norm,
    scan_product,
)
from gradscope.numeric.steps import ConstantSteps, RNNSteps, Steps
from gradscope.studies.bound import rounding_tolerance


def mp_log10_top_singular_value(jacobians, dps=30):
    """Reference: the product in mpmath (no exponent range limit), then its SVD."""
    with mpmath.workdps(dps):
        P = mpmath.eye(jacobians[0].shape[0])
        for J in jacobians:
            P = mpmath.matrix(J.tolist()) * P
        s = mpmath.svd_r(P, compute_uv=False)
        return float(mpmath.log10(max(s)))


@pytest.mark.parametrize("family", ["orthogonal", "identity"])
@pytest.mark.parametrize("norm", [0.5, 0.9, 1.0, 1.1, 3.0])
def test_scaled_orthogonal_linear_is_norm_to_the_T(family, norm):
    """Closed form: for W = s·Q (Q orthogonal), ‖W^T‖₂ = s^T exactly."""
    T = 700
    W = recurrent_weights(family, 32, norm=norm, seed=4)
    got = log10_product_norm(ConstantSteps(W, T))
    exact = T * math.log10(norm)
    assert got == pytest.approx(exact, rel=1e-12, abs=1e-12)


def test_ten_thousand_steps_below_float64_against_mpmath():
    """0.9^10000 ≈ 1e-458 underflows float64; its log10 must be −457.57…, exact."""
    W = recurrent_weights("orthogonal", 16, norm=0.9, seed=0)
    got = log10_product_norm(ConstantSteps(W, 10_000))
    with mpmath.workdps(50):
        ref = 10_000 * mpmath.log10(mpmath.mpf("0.9"))
    assert abs(got - float(ref)) < 1e-12 * 458
    assert round(got, 2) == -457.57


def test_tanh_rnn_underflowing_product_against_mpmath():
    """A nonlinear case whose norm is far below 1e-308, against an mpmath product."""
    rnn = random_rnn("gaussian", 6, radius=1.3, seed=11)
    x = random_inputs(1500, 8, seed=11, scale=2.0)
    steps = rnn_steps(rnn, x)
    Js = [steps.matrix(t) for t in range(1, steps.T + 1)]
    ref = mp_log10_top_singular_value(Js)
    assert ref < -308  # really beyond float64
    got = log10_product_norm(steps)
    assert abs(got - ref) <= rounding_tolerance(1500, 6)


def test_window_start_end_against_mpmath():
    """∂h_end/∂h_start = J_end ⋯ J_{start+1}: exactly end − start factors."""
    rnn = random_rnn("non-normal", 5, radius=0.95, seed=2, activation="sigmoid")
    steps = rnn_steps(rnn, random_inputs(400, 8, seed=2))
    Js = [steps.matrix(t) for t in range(1, 401)]
    ref = mp_log10_top_singular_value(Js[37:310])  # J_38 … J_310
    assert abs(log10_product_norm(steps, start=37, end=310) - ref) <= rounding_tolerance(273, 5)


@given(
    st.sampled_from(["gaussian", "orthogonal", "uniform", "non-normal", "identity"]),
    st.sampled_from(["tanh", "sigmoid", "relu", "linear"]),
    st.floats(0.3, 2.0),
    st.integers(1, 40),
    st.integers(0, 1000),
)
def test_agrees_with_plain_float_product_where_nothing_underflows(family, act, norm, T, seed):
    """Where the float product is representable, plain numpy is an independent reference."""
    rnn = random_rnn(family, 7, norm=norm, activation=act, seed=seed)
    steps = rnn_steps(rnn, random_inputs(T, 8, seed=seed))
    P = np.eye(7)
    for t in range(1, T + 1):
        P = steps.matrix(t) @ P
    ref = np.linalg.norm(P, 2)
    got = log10_product_norm(steps)
    if ref == 0.0:
        assert got == -math.inf
    else:
        assert got == pytest.approx(math.log10(ref), abs=rounding_tolerance(T, 7) + 1e-15)


def test_array_stream_and_batch_inputs_agree():
    rnn = random_rnn("gaussian", 9, norm=1.2, seed=3)
    steps = rnn_steps(rnn, random_inputs(120, 8, seed=3))
    J = np.stack([steps.matrix(t) for t in range(1, 121)])
    a = log10_product_norm(steps)
    b = log10_product_norm(J)
    c = log10_product_norm(iter(list(J)))
    d = log10_product_norm(J[None].repeat(3, axis=0))
    # The same explicit factors: the same arithmetic, the same bits.
    assert b == c
    assert d.shape == (3,) and np.all(d == b)
    # Steps apply diag(φ') (W M) instead of (diag(φ') W) M: equal up to rounding.
    assert a == pytest.approx(b, abs=rounding_tolerance(120, 9))


def test_exactly_zero_product_is_minus_infinity():
    """A relu network whose units are all off: the product is exactly 0."""
    steps = RNNSteps(np.eye(3), np.zeros((4, 3)))
    assert log10_product_norm(steps) == -math.inf


class RecordingSteps(Steps):
    """Wraps steps and records the smallest nonzero |entry| every block handed to BLAS has."""

    def __init__(self, inner):
        self.inner = inner
        self.smallest = math.inf

    n = property(lambda self: self.inner.n)
    T = property(lambda self: self.inner.T)
    batch_shape = property(lambda self: self.inner.batch_shape)

    def matrix(self, t):
        return self.inner.matrix(t)

    def apply(self, t, V):
        nz = np.abs(V[V != 0])
        if nz.size:
            self.smallest = min(self.smallest, float(nz.min()))
        return self.inner.apply(t, V)


def test_no_subnormal_ever_reaches_blas():
    """A product whose entries span 1e-30 per step would be subnormal in 11 steps."""
    d = np.tile([1.0, 1e-30, 0.5], (300, 1))
    W = np.array([[1.0, 1e-3, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    rec = RecordingSteps(RNNSteps(W, d))
    got = log10_product_norm(rec)
    assert rec.smallest >= np.finfo(float).tiny
    # the top singular value is still exact: P = diag(1, 1e-30^k, 0.5^k) plus a
    # coupling the flush may drop (it is below 1e-180 relative)
    assert got == pytest.approx(0.0, abs=1e-6)


def test_trajectory_matches_pointwise_norms():
    rnn = random_rnn("non-normal", 8, radius=0.9, activation="linear", seed=1)
    steps = rnn_steps(rnn, np.zeros((60, 8)))
    traj = log10_norm_trajectory(steps, start=5, end=45)
    assert traj.shape == (40,)
    for j in (0, 7, 39):
        assert traj[j] == log10_product_norm(steps, start=5, end=5 + j + 1)
    # transient growth of a non-normal W: the norm rises above 1 before it decays
    assert traj.max() > 0 > traj[-1]


@given(
    st.sampled_from(["gaussian", "orthogonal", "uniform", "non-normal", "identity"]),
    st.sampled_from(["tanh", "relu", "linear"]),
    st.floats(0.5, 1.5),
    st.booleans(),
    st.integers(0, 500),
)
def test_horizon_scan_equals_brute_force(family, act, scale, by_radius, seed):
    """The cheap bracketed scan finds the same first crossing as an SVD at every step."""
    kw = {"radius": scale} if by_radius else {"norm": scale}
    rnns = [
        random_rnn(family, 10, activation=act, seed=instance_seed(seed, i), **kw) for i in range(3)
    ]
    x = np.stack([random_inputs(150, 8, seed=instance_seed(seed, i)) for i in range(3)])
    from gradscope.numeric.forward import forward_arrays

    W = np.stack([r.W_hh for r in rnns])
    traj = forward_arrays(W, np.stack([r.W_xh for r in rnns]), np.zeros((3, 10)), x, None, act)
    steps = RNNSteps(W, rnns[0].activation.derivative(traj.z))
    thresholds = (0.5, 1e-2, 2.0**-52)
    scan = scan_product(steps, norm_at=20, thresholds=thresholds, cap=150)
    brute = log10_norm_trajectory(steps, end=150)
    for b in range(3):
        assert scan.log10_norm[b] == brute[b, 19]
        for j, th in enumerate(thresholds):
            below = np.nonzero(brute[b] < math.log10(th))[0]
            expected = int(below[0]) + 1 if below.size else -1
            assert scan.horizons[b, j] == expected


def test_bad_windows_are_refused():
    J = np.broadcast_to(np.eye(2), (5, 2, 2))
    with pytest.raises(ConfigError, match="smaller than end"):
        log10_product_norm(J, start=3, end=3)
    with pytest.raises(ConfigError, match="past the last step"):
        log10_product_norm(J, end=6)
    with pytest.raises(ConfigError, match=r"shape \(T, n, n\)"):
        log10_product_norm(np.ones((3, 2, 4)))
    with pytest.raises(ConfigError, match="square"):
        log10_product_norm([np.eye(2), np.ones((2, 3))])
    with pytest.raises(ConfigError, match="empty"):
        log10_product_norm([])
    with pytest.raises(ConfigError, match="NaN"):
        log10_product_norm(np.full((2, 2, 2), np.nan))


def test_saturated_steps_with_huge_weights_do_not_underflow_to_zero():
    """Regression: φ' ≈ 1e-298 in one step made Σ M² underflow to 0, read as an exact zero.

    Reference: the graded full spectrum (a different algorithm) gives the same top value.
    """
    from gradscope.numeric.spectrum import log10_singular_values

    for i in range(3):
        rnn = random_rnn("gaussian", 32, norm=1000.0, seed=instance_seed(0, i))
        steps = rnn_steps(rnn, random_inputs(600, 8, seed=instance_seed(0, i)))
        got = log10_product_norm(steps)
        ref = log10_singular_values(steps)[0]
        assert np.isfinite(got) and got < -1000
        assert abs(got - ref) <= 1e-9 * abs(ref)


def test_an_entry_does_not_depend_on_what_it_is_batched_with():
    """Each batch entry is rescaled on its own: alone or beside extreme entries, same bits."""
    from gradscope.numeric.forward import forward_arrays

    kinds = [("gaussian", 1.0), ("gaussian", 1e3), ("orthogonal", 1e-3), ("uniform", 50.0)]
    rnns = [random_rnn(f, 12, norm=s, seed=instance_seed(5, i)) for i, (f, s) in enumerate(kinds)]
    x = np.stack([random_inputs(300, 8, seed=instance_seed(5, i)) for i in range(4)])

    def batched(idx):
        W = np.stack([rnns[i].W_hh for i in idx])
        traj = forward_arrays(
            W,
            np.stack([rnns[i].W_xh for i in idx]),
            np.zeros((len(idx), 12)),
            x[idx],
            None,
            "tanh",
        )
        return log10_product_norm(RNNSteps(W, rnns[0].activation.derivative(traj.z)))

    together = batched([0, 1, 2, 3])
    for i in range(4):
        assert batched([i])[0] == together[i]


def test_reversed_transposed_steps_give_the_products_that_end_at_T():
    """K_k ⋯ K_1 = (∂s_T/∂s_{T−k})ᵀ: its spectrum from the front equals the spectrum of
    the window T−k..T computed directly, and reading it twice gives the steps back."""
    from gradscope.numeric.spectrum import compute_singular_values
    from gradscope.numeric.steps import RNNSteps

    rng = np.random.default_rng(11)
    n, T, k = 5, 40, 17
    steps = RNNSteps(rng.standard_normal((n, n)) / 2, rng.uniform(0.1, 1.0, (T, n)))
    back = steps.reversed_transposed()
    a = compute_singular_values(back, end=k)
    b = compute_singular_values(steps, start=T - k)
    assert np.all(
        np.abs(a.log10_singular_values - b.log10_singular_values) <= a.log10_error + b.log10_error
    )
    assert back.reversed_transposed() is steps
    np.testing.assert_array_equal(back.matrix(1), steps.matrix(T).T)
