"""gradscope.testing: assertions, hypothesis strategies and the pytest plugin."""

import numpy as np
import pytest
from hypothesis import given

from gradscope.model import RNN
from gradscope.testing import assert_bound_holds, assert_vanishes
from gradscope.testing.strategies import input_sequences, orthogonal_matrices, rnns, weights


@given(rnns(), input_sequences())
def test_bound_holds_for_generated_rnns(rnn, x):
    """Hypothesis: ‖∂h_T/∂h_0‖₂ ≤ (γ‖W‖₂)^T for every RNN the strategies produce."""
    assert_bound_holds(rnn, x[:, : rnn.input_size])


@given(orthogonal_matrices())
def test_orthogonal_strategy(Q):
    np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[0]), atol=1e-13)


@given(weights("non-normal", 6, radius=0.7))
def test_weights_strategy_radius(W):
    assert np.max(np.abs(np.linalg.eigvals(W))) == pytest.approx(0.7, rel=1e-9)


def test_assertion_messages_show_numbers():
    rnn = RNN(W_hh=2.0 * np.eye(2), W_xh=np.ones((2, 1)), activation="linear")
    with pytest.raises(AssertionError, match=r"does not vanish: log10 .* = 3\.0103"):
        assert_vanishes(rnn, np.zeros((10, 1)))
    assert_bound_holds(rnn, np.zeros((10, 1)))  # tight: 2^10 = (1·2)^10


def test_bound_assertion_fails_with_numbers(monkeypatch):
    """A bound computed with a too-small γ must be caught, and the message must show it."""
    import gradscope.testing as gt

    rnn = RNN(W_hh=2.0 * np.eye(2), W_xh=np.ones((2, 1)), activation="linear")
    monkeypatch.setattr(gt, "spectral_norm", lambda W: 1.0)  # pretend ‖W‖₂ = 1
    with pytest.raises(AssertionError, match=r"bound violated: .*= 3\.0102999.* > .*= 0 "):
        gt.assert_bound_holds(rnn, np.zeros((10, 1)))


def test_plugin_fixtures(gradscope_seed, gradscope_rng):
    assert gradscope_seed == 0  # the default of --gradscope-seed
    assert gradscope_rng.integers(10**9) == np.random.default_rng(0).integers(10**9)


def test_plugin_option(pytester):
    pytester.makepyfile("def test_seed(gradscope_seed):\n    assert gradscope_seed == 17\n")
    result = pytester.runpytest("--gradscope-seed", "17", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
