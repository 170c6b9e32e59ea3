"""The headline: ‖∂h_T/∂h_0‖₂ ≤ (γ‖W‖₂)^T, measured, with memory horizons."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradscope.errors import ConfigError
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.products import log10_norm_trajectory, log10_product_norm
from gradscope.studies.bound import compute_bound, rounding_tolerance

FAMILIES = ["gaussian", "orthogonal", "identity", "uniform", "non-normal"]
ACTS = ["tanh", "sigmoid", "relu", "linear"]


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
        # the measured value is the norm of this very instance, recomputed independently
        rnn = random_rnn(family, 6, activation=act, seed=instance_seed(seed, s.seed), **kw)
        x = random_inputs(max(T, 80), 8, seed=instance_seed(seed, s.seed), scale=input_scale)
        ref = log10_product_norm(rnn_steps(rnn, x), end=T)
        assert s.log10_measured == pytest.approx(ref, abs=1e-12) or s.log10_measured == ref
        assert s.log10_bound == pytest.approx(
            T * math.log10(rnn.activation.gamma * s.spectral_norm)
        )


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


def test_tolerance_formula():
    # (T n² + n) u in log10: about 2e-11 at the headline size
    assert rounding_tolerance(100, 64) == pytest.approx(
        math.log10(1 + (100 * 64**2 + 64) * 2**-53)
    )


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
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        compute_bound(**kwargs)
