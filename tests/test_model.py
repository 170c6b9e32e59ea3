"""Activations and RNN parameters against independent references."""

import math

import mpmath
import numpy as np
import pytest

from gradscope.errors import ConfigError
from gradscope.model import ACTIVATIONS, RNN, get_activation

mpmath.mp.dps = 40

MP_PHI = {
    "tanh": mpmath.tanh,
    "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
    "relu": lambda z: max(z, 0),
    "linear": lambda z: z,
}
# closed forms, evaluated at 40 digits (no cancellation in mpmath at this precision)
MP_DPHI = {
    "tanh": lambda z: mpmath.sech(z) ** 2,
    "sigmoid": lambda z: mpmath.sech(z / 2) ** 2 / 4,
    "linear": lambda z: mpmath.mpf(1),
}


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "linear"])
def test_derivative_matches_mpmath_everywhere(name):
    """φ' has full relative accuracy, in saturation too (where 1 − tanh² would fail)."""
    act = get_activation(name)
    z = np.array([-400.0, -40.0, -19.5, -3.0, -1e-3, 0.0, 2e-8, 0.7, 5.0, 25.0, 300.0])
    got = act.derivative(z)
    for zi, gi in zip(z, got, strict=True):
        ref = MP_DPHI[name](mpmath.mpf(zi))
        if abs(zi) < 30:  # the closed form agrees with differentiation itself
            assert abs(mpmath.diff(MP_PHI[name], mpmath.mpf(zi)) - ref) < 1e-30
        if ref < np.finfo(float).tiny:
            assert gi == 0.0  # flushed, documented
        else:
            assert abs(gi - float(ref)) <= 4e-16 * float(ref), (name, zi, gi, ref)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "linear"])
def test_phi_matches_mpmath(name):
    act = ACTIVATIONS[name]
    z = np.array([-800.0, -30.0, -1.0, 0.0, 0.3, 4.0, 800.0])
    for zi, gi in zip(z, act(z), strict=True):
        ref = float(MP_PHI[name](mpmath.mpf(zi)))
        assert gi == pytest.approx(ref, rel=1e-15, abs=1e-300)


def test_relu_derivative_at_zero_is_zero():
    """relu'(0) = 0, as in PyTorch (DESIGN.md §1)."""
    assert get_activation("relu").derivative(np.array([0.0, -0.0, 1e-300]))[:2].tolist() == [0, 0]
    assert get_activation("relu").derivative(1e-300) == 1.0


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "linear"])
def test_gamma_is_the_supremum_of_the_derivative(name):
    act = get_activation(name)
    z = np.linspace(-20, 20, 400_001)
    assert np.max(np.abs(act.derivative(z))) == pytest.approx(act.gamma, rel=1e-9)


def test_unknown_activation_is_refused():
    with pytest.raises(ConfigError, match="unknown activation 'softplus'"):
        get_activation("softplus")


def test_rnn_is_frozen_and_validated():
    rnn = RNN(W_hh=np.eye(2), W_xh=np.ones((2, 3)))
    assert rnn.b.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError):
        rnn.W_hh[0, 0] = 5.0
    with pytest.raises(AttributeError):
        rnn.W_hh = np.eye(3)  # type: ignore[misc]
    with pytest.raises(ConfigError, match="square"):
        RNN(W_hh=np.ones((2, 3)), W_xh=np.ones((2, 1)))
    with pytest.raises(ConfigError, match="2 rows"):
        RNN(W_hh=np.eye(2), W_xh=np.ones((3, 1)))
    with pytest.raises(ConfigError, match="NaN"):
        RNN(W_hh=np.array([[math.nan]]), W_xh=np.ones((1, 1)))
    with pytest.raises(ConfigError, match="b must have shape"):
        RNN(W_hh=np.eye(2), W_xh=np.ones((2, 1)), b=np.ones(3))
