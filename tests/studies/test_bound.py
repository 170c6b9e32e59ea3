"""The headline: ‖∂h_T/∂h_0‖₂ ≤ (γ‖W‖₂)^T, measured, with memory horizons."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradscope.errors import ConfigError
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.products import log10_norm_trajectory
from gradscope.studies.bound import compute_bound, log10_norm_bound, rounding_tolerance

FAMILIES = ["gaussian", "orthogonal", "identity", "uniform", "non-normal"]
ACTS = ["tanh", "sigmoid", "relu", "linear"]
GAMMA = {"tanh": 1.0, "sigmoid": 0.25, "relu": 1.0, "linear": 1.0}
PHI_PRIME = {  # φ'(z), written out here rather than taken from gradscope.model
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "sigmoid": lambda z: (1.0 / (1.0 + np.exp(-z))) * (1.0 - 1.0 / (1.0 + np.exp(-z))),
    "relu": lambda z: (z > 0).astype(np.float64),
    "linear": np.ones_like,
}
PHI = {
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
}


def reference_log10_norm(W, W_xh, b, x, act, T):
    """log10 ‖∂h_T/∂h_0‖₂ by a plain forward pass and a dense product, SVD at the end."""
    h, P = np.zeros(W.shape[0]), np.eye(W.shape[0])
    for t in range(T):
        z = W @ h + W_xh @ x[t] + b
        P = (PHI_PRIME[act](z)[:, None] * W) @ P
        h = PHI[act](z)
    top = np.linalg.svd(P, compute_uv=False)[0]
    return math.log10(top) if top > 0 else -math.inf


@given(
    st.sampled_from(FAMILIES),
    st.sampled_from(ACTS),
    st.floats(0.2, 2.5),
    st.booleans(),
    st.integers(1, 60),
    st.integers(0, 10_000),
    st.floats(0.0, 5.0),
)
def test_bound_holds_for_every_family_scale_and_activation(
    family, act, scale, by_radius, T, seed, input_scale
):
    """Theorem: ‖∂h_T/∂h_0‖₂ ≤ (γ‖W‖₂)^T for every vanilla RNN (norm or radius scaling)."""
    kw = {"radius": scale} if by_radius else {"norm": scale}
    r = compute_bound(
        T=T,
        hidden=6,
        seeds=2,
        seed=seed,
        families=[family],
        activations=[act],
        input_scale=input_scale,
        horizon_cap=80,
        **kw,
    )
    row = r.rows[0]
    assert row.holds
    for s in row.per_seed:
        assert s.log10_measured <= s.log10_bound + r.settings.tolerance_log10
        # this very instance, regenerated; its ‖W‖₂ from an SVD, its product formed densely
        rnn = random_rnn(family, 6, activation=act, seed=instance_seed(seed, s.seed), **kw)
        x = random_inputs(max(T, 80), 8, seed=instance_seed(seed, s.seed), scale=input_scale)
        W = np.asarray(rnn.W_hh)
        norm_W = np.linalg.svd(W, compute_uv=False)[0]
        assert s.spectral_norm == pytest.approx(norm_W, rel=1e-13)
        ref_bound = T * math.log10(GAMMA[act] * norm_W)
        assert s.log10_bound == pytest.approx(ref_bound, rel=1e-12, abs=1e-12)
        ref = reference_log10_norm(W, np.asarray(rnn.W_xh), np.asarray(rnn.b), x, act, T)
        if ref == -math.inf:
            assert s.log10_measured == -math.inf or s.log10_measured < -250
        else:
            # a dense float64 product of T ≤ 60 factors, n = 6: agrees to ~1e-10 in log10
            assert s.log10_measured == pytest.approx(ref, abs=1e-9)
            assert ref <= ref_bound + 1e-9  # the theorem, judged on the reference numbers


@pytest.mark.parametrize("family", ["orthogonal", "identity"])
def test_bound_is_tight_for_scaled_orthogonal_linear(family):
    """Closed form: linear activation, W = s·Q ⇒ ‖∂h_T/∂h_0‖₂ = s^T, ratio 1."""
    r = compute_bound(
        norm=0.9, T=250, hidden=16, seeds=3, families=[family], activations=["linear"]
    )
    row = r.rows[0]
    assert abs(row.log10_ratio) < 1e-12
    assert row.log10_measured == pytest.approx(250 * math.log10(0.9), rel=1e-12)
    # horizons: 0.9^k < 1e-2 first at k = 44, and < 2^-52 at k = 343 (bound exact)
    assert [h.measured for h in row.per_seed[0].horizons] == [44, 343]
    assert [math.ceil(h.predicted) for h in row.per_seed[0].horizons] == [44, 343]


def test_worst_seed_is_reported():
    r = compute_bound(
        radius=1.0, T=30, hidden=8, seeds=4, families=["gaussian"], activations=["tanh"]
    )
    row = r.rows[0]
    worst = max(row.per_seed, key=lambda s: s.log10_ratio)
    assert row.worst_seed == worst.seed
    assert row.log10_measured == worst.log10_measured
    assert row.log10_bound == worst.log10_bound


def test_horizons_match_brute_force_and_run_past_T():
    r = compute_bound(
        norm=0.95,
        T=10,
        hidden=8,
        seeds=3,
        families=["orthogonal"],
        activations=["tanh"],
        horizon_cap=400,
    )
    for s in r.rows[0].per_seed:
        seed = instance_seed(0, s.seed)
        rnn = random_rnn("orthogonal", 8, norm=0.95, seed=seed)
        traj = log10_norm_trajectory(rnn_steps(rnn, random_inputs(400, 8, seed=seed)))
        for h in s.horizons:
            below = np.nonzero(traj < math.log10(h.threshold))[0]
            assert h.measured == int(below[0]) + 1
            assert h.measured > 10  # found by running past T
            assert h.measured <= math.ceil(h.predicted)  # the bound's prediction is an upper bound


def test_horizon_not_reached_is_reported_as_such():
    """‖W‖ = 1, linear: the norm never falls; say 'not reached', predict 'never'."""
    r = compute_bound(
        norm=1.0,
        T=20,
        hidden=4,
        seeds=1,
        families=["orthogonal"],
        activations=["linear"],
        horizon_cap=50,
    )
    h1, _ = r.rows[0].per_seed[0].horizons
    assert h1.measured is None and h1.predicted is None and h1.cap == 50
    d = r.to_dict()["rows"][0]["memory_horizons"][0]
    assert d["all_reached"] is False and d["measured_max"] is None


def test_same_seed_same_result_different_seed_different():
    kw = dict(norm=0.9, T=40, hidden=8, seeds=2)
    assert compute_bound(**kw).to_dict() == compute_bound(**kw).to_dict()
    assert compute_bound(**kw).to_dict() != compute_bound(seed=1, **kw).to_dict()


def test_tolerance_grows_with_size_and_covers_a_tight_case():
    """The tolerance is small, grows with T and n, and covers the rounding of a tight bound."""
    assert 0 < rounding_tolerance(10, 8) < rounding_tolerance(100, 8) < rounding_tolerance(100, 64)
    assert rounding_tolerance(100, 64) < 1e-10  # far below any difference a user would read
    r = compute_bound(
        norm=1.0, T=300, hidden=16, seeds=3, families=["orthogonal"], activations=["linear"]
    )
    # linear, W orthogonal: ‖∂h_T/∂h_0‖₂ = 1 exactly, so the whole ratio is rounding
    for s in r.rows[0].per_seed:
        assert abs(s.log10_measured) <= rounding_tolerance(300, 16)


def test_log10_norm_bound_closed_form():
    """(γ‖W‖₂)^k in log10: exact decades, and −inf for a zero matrix."""
    assert log10_norm_bound(3, 1.0, 0.1) == pytest.approx(-3.0, abs=1e-15)
    assert log10_norm_bound(10, 0.25, 4.0) == 0.0
    assert log10_norm_bound(5, 1.0, 0.0) == -math.inf


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(), "exactly one"),
        (dict(norm=1.0, radius=1.0), "exactly one"),
        (dict(norm=-1.0), "must lie in"),
        (dict(norm=math.nan), "must lie in"),
        (dict(norm=1.0, T=0), "T must be"),
        (dict(norm=1.0, hidden=0), "hidden must be"),
        (dict(norm=1.0, families=["nope"]), "unknown family"),
        (dict(norm=1.0, activations=[]), "at least one activation"),
        (dict(norm=1.0, input_scale=-1.0), "input_scale"),
        (dict(norm=1.0, workers=0), "workers must be"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        compute_bound(**kwargs)


def test_activations_on_two_threads_give_the_same_result_as_in_turn():
    """Hypothesis (issue 18): measuring the activations side by side on threads changes
    no number: the records are equal, field by field, to the serial run's."""
    kwargs = dict(norm=0.95, T=40, hidden=12, seeds=2, activations=["tanh", "linear", "relu"])
    serial = compute_bound(**kwargs, workers=1)
    threaded = compute_bound(**kwargs, workers=2)
    assert threaded.to_dict() == serial.to_dict()
    assert [r.activation for r in threaded.rows] == [r.activation for r in serial.rows]
