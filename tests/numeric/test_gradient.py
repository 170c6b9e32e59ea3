"""BPTT gradients against finite differences, explicit Jacobian products and torch."""

import numpy as np
import pytest

from gradscope.errors import ConfigError
from gradscope.init import random_inputs, random_rnn
from gradscope.model import RNN
from gradscope.numeric.forward import forward, rnn_steps
from gradscope.numeric.gradient import bptt_gradient, loss

ACTS = ["tanh", "sigmoid", "relu", "linear"]


def problem(act, T=7, n=5, m=3, p=2, seed=0):
    rng = np.random.default_rng(seed)
    rnn = random_rnn("gaussian", n, radius=1.2, activation=act, input_size=m, seed=seed)
    rnn = RNN(W_hh=rnn.W_hh, W_xh=rnn.W_xh, b=0.1 * rng.standard_normal(n), activation=act)
    return (
        rnn,
        rng.standard_normal((p, n)),
        random_inputs(T, m, seed=seed),
        rng.standard_normal((T, p)),
        0.3 * rng.standard_normal(n),
    )


def _with(rnn, **kw):
    params = dict(W_hh=rnn.W_hh, W_xh=rnn.W_xh, b=rnn.b, activation=rnn.activation)
    params.update(kw)
    return RNN(**params)


@pytest.mark.parametrize("act", ACTS)
def test_full_gradient_matches_central_differences(act):
    rnn, Why, x, y, h0 = problem(act)
    g = bptt_gradient(rnn, Why, x, y, h0)
    eps = 1e-6
    for name in ("W_hh", "W_xh", "b"):
        P = getattr(rnn, name)
        fd = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            Pp, Pm = P.copy(), P.copy()
            Pp[idx] += eps
            Pm[idx] -= eps
            fd[idx] = (
                loss(_with(rnn, **{name: Pp}), Why, x, y, h0)
                - loss(_with(rnn, **{name: Pm}), Why, x, y, h0)
            ) / (2 * eps)
        np.testing.assert_allclose(getattr(g, name), fd, rtol=1e-6, atol=1e-8)
    fd = np.zeros_like(Why)
    for idx in np.ndindex(Why.shape):
        Wp, Wm = Why.copy(), Why.copy()
        Wp[idx] += eps
        Wm[idx] -= eps
        fd[idx] = (loss(rnn, Wp, x, y, h0) - loss(rnn, Wm, x, y, h0)) / (2 * eps)
    np.testing.assert_allclose(g.W_hy, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "linear"])
def test_taylor_remainder_is_second_order(act):
    """‖L(θ+εd) − L(θ) − ε ∇L·d‖ = O(ε²): the fitted log-log slope is 2."""
    rnn, Why, x, y, h0 = problem(act, seed=3)
    g = bptt_gradient(rnn, Why, x, y, h0)
    rng = np.random.default_rng(9)
    dW = rng.standard_normal(rnn.W_hh.shape)
    L0 = loss(rnn, Why, x, y, h0)
    eps = np.logspace(-1, -4, 7)
    rem = [
        abs(loss(_with(rnn, W_hh=rnn.W_hh + e * dW), Why, x, y, h0) - L0 - e * np.sum(g.W_hh * dW))
        for e in eps
    ]
    slope = np.polyfit(np.log(eps), np.log(rem), 1)[0]
    assert slope == pytest.approx(2.0, abs=0.1)


def test_weight_sharing_sum_of_per_step_losses():
    """Hypothesis: ∂L/∂W_hh = Σ_t ∂L_t/∂W_hh (the shared weights' gradient is a sum over steps)."""
    rnn, Why, x, y, h0 = problem("tanh", T=9)
    full = bptt_gradient(rnn, Why, x, y, h0)
    outputs = forward(rnn, x, h0).h[1:] @ Why.T
    total = np.zeros_like(rnn.W_hh)
    for t in range(9):
        only_t = outputs.copy()  # targets equal to the outputs make every other term zero
        only_t[t] = y[t]
        total += bptt_gradient(rnn, Why, x, only_t, h0).W_hh
    np.testing.assert_allclose(total, full.W_hh, rtol=1e-12, atol=1e-14)


def _explicit_truncated(rnn, Why, x, y, h0, window):
    """Reference: Σ_t Σ_{s∈window(t)} δ_s^{(t)} h_{s−1}ᵀ with explicit Jacobian products."""
    traj = forward(rnn, x, h0)
    steps = rnn_steps(rnn, x, h0)
    d = rnn.activation.derivative(traj.z)
    T, n = d.shape
    G = np.zeros((n, n))
    for t in range(1, T + 1):
        e_t = Why.T @ (Why @ traj.h[t] - y[t - 1])  # ∂L_t/∂h_t
        P = np.eye(n)  # ∂h_t/∂h_s
        for s in range(t, 0, -1):
            if s in window(t):
                G += np.outer(d[s - 1] * (P.T @ e_t), traj.h[s - 1])
            P = P @ steps.matrix(s)
    return G


@pytest.mark.parametrize("K", [1, 2, 3, 7])
def test_truncated_schemes_against_explicit_products(K):
    rnn, Why, x, y, h0 = problem("tanh", T=8)
    sliding = bptt_gradient(rnn, Why, x, y, h0, truncation=K, scheme="sliding")
    ref = _explicit_truncated(rnn, Why, x, y, h0, lambda t: range(max(t - K, 0) + 1, t + 1))
    np.testing.assert_allclose(sliding.W_hh, ref, rtol=1e-12, atol=1e-14)
    chunked = bptt_gradient(rnn, Why, x, y, h0, truncation=K, scheme="chunked")
    # chunks end at T, T-K, T-2K, …: step s belongs to the chunk of t iff no boundary in [s, t)
    chunk = lambda t: range(T - ((T - t) // K + 1) * K + 1, t + 1)  # noqa: E731
    T = 8
    ref = _explicit_truncated(rnn, Why, x, y, h0, lambda t: [s for s in chunk(t) if s >= 1])
    np.testing.assert_allclose(chunked.W_hh, ref, rtol=1e-12, atol=1e-14)


def test_truncation_at_T_is_the_full_gradient():
    rnn, Why, x, y, h0 = problem("sigmoid")
    full = bptt_gradient(rnn, Why, x, y, h0)
    for scheme in ("chunked", "sliding"):
        cut = bptt_gradient(rnn, Why, x, y, h0, truncation=7, scheme=scheme)
        np.testing.assert_allclose(cut.flat(), full.flat(), rtol=1e-13, atol=1e-15)


def test_against_torch_autograd():
    torch = pytest.importorskip("torch")
    rnn, Why, x, y, h0 = problem("tanh", T=6)
    t = {
        k: torch.tensor(v, requires_grad=True)
        for k, v in dict(W_hh=rnn.W_hh, W_xh=rnn.W_xh, b=rnn.b, W_hy=Why).items()
    }
    h = torch.tensor(h0)
    L = 0.0
    for s in range(6):
        h = torch.tanh(t["W_hh"] @ h + t["W_xh"] @ torch.tensor(x[s]) + t["b"])
        L = L + 0.5 * torch.sum((t["W_hy"] @ h - torch.tensor(y[s])) ** 2)
    L.backward()
    g = bptt_gradient(rnn, Why, x, y, h0)
    for k in t:
        np.testing.assert_allclose(getattr(g, k), t[k].grad.numpy(), rtol=1e-12, atol=1e-14)


def test_bad_arguments():
    rnn, Why, x, y, _ = problem("tanh")
    with pytest.raises(ConfigError, match="W_hy"):
        bptt_gradient(rnn, Why.T, x, y)
    with pytest.raises(ConfigError, match="targets"):
        bptt_gradient(rnn, Why, x, y[:-1])
    with pytest.raises(ConfigError, match="truncation"):
        bptt_gradient(rnn, Why, x, y, truncation=0)
    with pytest.raises(ConfigError, match="scheme"):
        bptt_gradient(rnn, Why, x, y, truncation=2, scheme="random")
