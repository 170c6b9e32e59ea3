"""One test per claim of the tutorial, named after it, each judged through gradscope.testing.

The expected verdicts below are what the search found; a change in any of them
(for instance a counterexample that stops replaying) fails the test. Every
counterexample is also replayed from its JSON text alone.
"""

import json

import pytest

from gradscope.claims import CLAIM_IDS, Counterexample, check_claim, replay
from gradscope.errors import ConfigError
from gradscope.testing import assert_claim


def _replays(result):
    for cex in result.counterexamples:
        again = Counterexample.from_dict(json.loads(cex.to_json()))  # through JSON text
        r = replay(again)
        assert r.contradicts, (result.id, r.message)
    if result.verdict != "holds":
        assert len({c.seed for c in result.counterexamples}) >= 2  # found from two seeds


def test_weight_sharing():
    """Claim: ∂L/∂W_hh = Σ_t ∂L_t/∂W_hh — the gradient of the summed loss is the sum."""
    r = assert_claim("weight-sharing", "holds")
    assert r.numbers["worst_relative_error_sum_of_terms"] < 1e-10
    assert r.numbers["worst_relative_error_finite_differences"] < 1e-5


def test_jacobian_product():
    """Claim: ∂h_T/∂h_1 = Π_{t=2}^T diag(σ'(z_t)) W_hh — holds time-ordered, with σ = tanh."""
    r = assert_claim("jacobian-product", "holds-under")
    assert r.numbers["worst_relative_error_time_ordered"] < 1e-7
    assert r.numbers["smallest_relative_error_increasing_order"] > 1e-3
    _replays(r)


def test_eigenvalue_criterion():
    """Claim: ρ(W_hh) < 1 ⇒ vanishing, > 1 ⇒ exploding — false for tanh RNNs."""
    r = assert_claim("eigenvalue-criterion", "violated")
    kinds = {c.extra["case"] for c in r.counterexamples}
    assert kinds == {"radius below 1, exploding", "radius above 1, vanishing"}
    _replays(r)


def test_linear_norm_bound():
    """Claim: linear RNN, ‖∂h_T/∂h_1‖ ≤ ‖W_hh‖^T — one factor off when ‖W‖ < 1."""
    r = assert_claim("linear-norm-bound", "violated")
    assert r.numbers["violations_norm_ge_1"] == 0
    for c in r.counterexamples:
        assert c.observed["spectral_norm"] < 1
        assert c.observed["log10_norm"] <= c.observed["log10_corrected_bound"] + 1e-9
    _replays(r)


def test_orthogonal_preserves_norm():
    """Claim: orthogonal W_hh (‖W‖ = 1) preserves gradient magnitude — only when linear."""
    r = assert_claim("orthogonal-preserves-norm", "holds-under")
    assert r.numbers["linear_worst_abs_log10_sigma"] < 1e-9
    _replays(r)


def test_clipping_direction():
    """Claim: clipping by norm caps ‖g‖ at θ and keeps the direction — unless ‖g‖ overflows."""
    r = assert_claim("clipping-direction", "holds-under")
    assert r.numbers["ordinary_worst_angle_rad"] < 1e-7
    for c in r.counterexamples:
        assert c.observed["naive_norm_finite"] is False
    _replays(r)


def test_memory_horizon():
    """Claim: vanishing gradients limit memory to about 10–20 steps — the horizon varies widely."""
    r = assert_claim("memory-horizon", "violated")
    assert r.numbers["shortest"] < 5
    assert r.numbers["longest"] is None or r.numbers["longest"] > 40
    _replays(r)


def test_truncated_bptt():
    """Claim: truncated BPTT (K = 100) approximates the full gradient — if it vanishes within K."""
    r = assert_claim("truncated-bptt", "holds-under")
    assert r.numbers["vanishing_max_error"] <= 0.1 < r.numbers["other_max_error"]
    _replays(r)


def test_tanh_saturation():
    """Claim: tanh saturation causes gradient issues — unless tanh'·‖W_hh‖₂ > 1."""
    r = assert_claim("tanh-saturation", "holds-under")
    assert r.numbers["random_saturated_vanishing"] == r.numbers["random_saturated_runs"] > 0
    _replays(r)


def test_catalogue_is_complete_and_deterministic():
    assert CLAIM_IDS == (
        "weight-sharing",
        "jacobian-product",
        "eigenvalue-criterion",
        "linear-norm-bound",
        "orthogonal-preserves-norm",
        "clipping-direction",
        "memory-horizon",
        "truncated-bptt",
        "tanh-saturation",
    )
    a = check_claim("linear-norm-bound", budget=300, seed=4).to_dict()
    b = check_claim("linear-norm-bound", budget=300, seed=4).to_dict()
    assert json.dumps(a) == json.dumps(b)
    assert a["evaluations"] == 300


def test_assert_claim_failure_shows_the_numbers():
    with pytest.raises(AssertionError, match=r"verdict 'violated', expected 'holds'.*evidence"):
        assert_claim("linear-norm-bound", budget=200)


def test_bad_counterexample_json():
    with pytest.raises(ConfigError, match="lacks field"):
        Counterexample.from_dict({"claim": "linear-norm-bound"})
    good = {
        "claim": "linear-norm-bound",
        "activation": "linear",
        "W_hh": [[0.5]],
        "W_xh": [[1.0]],
        "b": [0.0],
        "h0": [0.0],
        "inputs": [[0.0], [0.0]],
        "start": 1,
        "end": 2,
    }
    assert replay(Counterexample.from_dict(good)).contradicts  # 0.5 > 0.5² at T = 2
    with pytest.raises(ConfigError, match="start < end"):
        Counterexample.from_dict({**good, "start": 2})
    with pytest.raises(ConfigError, match="NaN"):
        Counterexample.from_dict({**good, "W_hh": [[float("nan")]]})
    with pytest.raises(ConfigError, match="unknown claim"):
        replay(Counterexample.from_dict({**good, "claim": "made-up"}))
