"""LSTM and GRU step Jacobians against torch autograd, and through every Steps consumer.

Reference: ``torch.autograd.functional.jacobian`` of PyTorch's own ``nn.RNN``,
``nn.LSTM`` and ``nn.GRU`` (float64, CPU), one step at a time and over the whole run.
"""

import numpy as np
import pytest
import torch

from gradscope.errors import ConfigError
from gradscope.io_cells import layers_from_arrays
from gradscope.model import GRUCell, LSTMCell
from gradscope.numeric.cells import (
    GRUSteps,
    LSTMSteps,
    gru_forward,
    gru_steps,
    lstm_forward,
    lstm_steps,
)
from gradscope.numeric.products import log10_norm_trajectory, log10_product_norm, scan_product
from gradscope.numeric.spectrum import log10_singular_values, lyapunov_exponents
from gradscope.studies.analyze import layer_model, layer_steps

M, N, T, LAYERS = 3, 5, 25, 2
CLASSES = {"rnn": torch.nn.RNN, "relu": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def make_module(kind, seed=0, scale=1.0, layers=LAYERS, n=N):
    torch.manual_seed(seed)
    extra = {"nonlinearity": "relu"} if kind == "relu" else {}
    net = CLASSES[kind](M, n, num_layers=layers, batch_first=True, **extra).double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
    return net


def inputs(seed=1, steps=T):
    return np.random.default_rng(seed).standard_normal((steps, M))


def state_dict(net):
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}


def one_layer(net, kind, k):
    """A one-layer torch module holding layer k of ``net``."""
    sd = net.state_dict()
    n, m = net.hidden_size, (M if k == 0 else net.hidden_size)
    extra = {"nonlinearity": "relu"} if kind == "relu" else {}
    single = CLASSES[kind](m, n, batch_first=True, **extra).double()
    single.load_state_dict({name: sd[f"{name[:-3]}_l{k}"] for name in single.state_dict()})
    return single


def torch_map(single, kind, xs):
    """s_0 -> s_T of a one-layer torch module on inputs ``xs`` (T, m); s = (h, c) for an LSTM."""
    n = single.hidden_size
    xt = torch.tensor(xs)[None]

    def f(s):
        if kind == "lstm":
            _, (h, c) = single(xt, (s[:n].reshape(1, 1, n), s[n:].reshape(1, 1, n)))
            return torch.cat([h.reshape(n), c.reshape(n)])
        return single(xt, s.reshape(1, 1, n))[1].reshape(n)

    return f


def gradscope_layers(net, kind, x):
    """(steps, layer inputs, states) of every layer, from gradscope's own forward passes."""
    loaded = layers_from_arrays(state_dict(net))
    out = []
    for w in loaded.layers:
        model = layer_model(w, "relu" if kind == "relu" else "tanh")
        steps, h = layer_steps(model, x)
        if kind == "lstm":
            tr = lstm_forward(model, x)
            states = np.concatenate([tr.h, tr.c], axis=1)
        else:
            states = np.concatenate([np.zeros((1, N)), h])
        out.append((steps, x, states))
        x = h
    return out


def rel(a, b):
    """Largest entry error relative to the largest entry (0 for two exact zero matrices)."""
    scale = np.max(np.abs(b))
    err = np.max(np.abs(a - b))
    return float(err / scale) if scale > 0 else float(err > 0) * np.inf


@pytest.mark.parametrize("kind", ["rnn", "relu", "lstm", "gru"])
def test_the_forward_pass_is_pytorchs(kind):
    """Hypothesis: layer k, driven by layer k − 1's outputs, reproduces the module's states."""
    net = make_module(kind)
    x = inputs()
    out, final = net(torch.tensor(x)[None])
    layers = gradscope_layers(net, kind, x)
    np.testing.assert_allclose(layers[-1][2][1:, :N], out[0].detach().numpy(), rtol=0, atol=1e-14)
    h_n = final[0] if kind == "lstm" else final
    for k, (_, _, states) in enumerate(layers):
        np.testing.assert_allclose(states[-1, :N], h_n[k, 0].detach().numpy(), atol=1e-14)
        if kind == "lstm":
            np.testing.assert_allclose(states[-1, N:], final[1][k, 0].detach().numpy(), atol=1e-14)


@pytest.mark.parametrize("scale", [1.0, 3.0])
@pytest.mark.parametrize("kind", ["rnn", "relu", "lstm", "gru"])
def test_every_step_jacobian_matches_autograd(kind, scale):
    """Hypothesis: J_t = ∂s_t/∂s_{t−1} equals autograd's Jacobian of one cell step, every t.

    ``scale`` 3 drives the gates into saturation.
    """
    net = make_module(kind, scale=scale)
    worst = 0.0
    for k, (steps, xs, states) in enumerate(gradscope_layers(net, kind, inputs())):
        single = one_layer(net, kind, k)
        assert steps.n == (2 * N if kind == "lstm" else N)
        for t in range(1, T + 1):
            f = torch_map(single, kind, xs[t - 1 : t])
            J = torch.autograd.functional.jacobian(f, torch.tensor(states[t - 1])).numpy()
            worst = max(worst, rel(steps.matrix(t), J))
    assert worst < 1e-13, worst


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_apply_and_apply_transpose_are_the_matrix(kind):
    """Hypothesis: the matrix-free products equal J_t V and J_tᵀ U with the dense J_t."""
    steps = gradscope_layers(make_module(kind), kind, inputs())[1][0]
    V = np.random.default_rng(2).standard_normal((steps.n, 3))
    for t in (1, 7, T):
        J = steps.matrix(t)
        np.testing.assert_allclose(steps.apply(t, V), J @ V, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(steps.apply_transpose(t, V), J.T @ V, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_the_whole_product_and_its_spectrum_match_autograd(kind):
    """Hypothesis: ∏ J_t = ∂s_T/∂s_0 of the torch module, and gradscope's exact spectrum
    equals the SVD of autograd's Jacobian to 1e-10 relative wherever float64 resolves it."""
    net = make_module(kind)
    for k, (steps, xs, _) in enumerate(gradscope_layers(net, kind, inputs())):
        f = torch_map(one_layer(net, kind, k), kind, xs)
        J = torch.autograd.functional.jacobian(f, torch.zeros(steps.n, dtype=torch.float64))
        J = J.numpy()
        P = np.eye(steps.n)
        for t in range(1, T + 1):
            P = steps.matrix(t) @ P
        assert rel(P, J) < 1e-12
        ref = np.log10(np.linalg.svd(J, compute_uv=False))
        ours = log10_singular_values(steps)
        resolved = ref >= ref[0] - 4  # float64's SVD of J is accurate to ~1e-12 here
        assert resolved.sum() >= 2
        err = np.max(np.abs(ours[resolved] - ref[resolved])) * np.log(10)  # relative, in σ
        assert err < 1e-10, err
        assert log10_product_norm(steps) == pytest.approx(ref[0], abs=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_every_singular_value_against_mpmath(kind):
    """Hypothesis: through the Steps abstraction the exact spectrum of LSTM/GRU products is
    right for *every* σ_i, over tens of decades (mpmath product of the same J_t at 60 digits)."""
    import mpmath

    steps = gradscope_layers(make_module(kind), kind, inputs())[0][0]
    with mpmath.workdps(60):
        P = mpmath.eye(steps.n)
        for t in range(1, T + 1):
            P = mpmath.matrix(steps.matrix(t).tolist()) * P
        sv = mpmath.svd_r(P, compute_uv=False)
        ref = np.sort([float(mpmath.log10(v)) for v in sv])[::-1]
    assert ref[0] - ref[-1] > 8  # beyond what a float64 SVD of the product resolves
    err = np.max(np.abs(log10_singular_values(steps) - ref)) * np.log(10)
    assert err < 1e-10, err


def test_lyapunov_exponents_against_a_qr_iteration_on_autograds_steps():
    """Hypothesis: the QR-method exponents of LSTMSteps equal those of autograd's Jacobians."""
    net = make_module("lstm", layers=1)
    steps, xs, states = gradscope_layers(net, "lstm", inputs(steps=60))[0]
    single = one_layer(net, "lstm", 0)
    Q, sums = np.eye(2 * N), np.zeros(2 * N)
    for t in range(1, 61):
        f = torch_map(single, "lstm", xs[t - 1 : t])
        J = torch.autograd.functional.jacobian(f, torch.tensor(states[t - 1])).numpy()
        Q, R = np.linalg.qr(J @ Q)
        sums += np.log(np.abs(np.diag(R)))
    ref = np.sort(sums / 60)[::-1]
    np.testing.assert_allclose(lyapunov_exponents(steps), ref, rtol=0, atol=1e-11)


def test_gru_biases_are_not_summed():
    """Hypothesis: b_hn sits inside the reset product, so moving it into b_in changes J_t."""
    rng = np.random.default_rng(5)
    W_ih, W_hh = rng.standard_normal((3 * N, M)), rng.standard_normal((3 * N, N)) / 2
    b = np.zeros(3 * N)
    b[2 * N :] = 1.5
    x = inputs()
    inside = gru_steps(GRUCell(W_ih=W_ih, W_hh=W_hh, b_hh=b), x)
    outside = gru_steps(GRUCell(W_ih=W_ih, W_hh=W_hh, b_ih=b), x)
    assert rel(inside.matrix(3), outside.matrix(3)) > 1e-2
    net = torch.nn.GRU(M, N, batch_first=True).double()
    net.load_state_dict(
        {
            "weight_ih_l0": torch.tensor(W_ih),
            "weight_hh_l0": torch.tensor(W_hh),
            "bias_ih_l0": torch.zeros(3 * N, dtype=torch.float64),
            "bias_hh_l0": torch.tensor(b),
        }
    )
    J = torch.autograd.functional.jacobian(
        torch_map(net, "gru", x), torch.zeros(N, dtype=torch.float64)
    ).numpy()
    P = np.eye(N)
    for t in range(1, T + 1):
        P = inside.matrix(t) @ P
    assert rel(P, J) < 1e-12


def test_batched_steps_and_matrix_free_consumers():
    """Hypothesis: stacked LSTM/GRU steps give each entry's own norms, and take() selects."""
    for kind, make in (("lstm", lstm_steps), ("gru", gru_steps)):
        runs = []
        for seed in (0, 1):
            w = layers_from_arrays(state_dict(make_module(kind, seed=seed, layers=1))).layers[0]
            cell = layer_model(w, "tanh")
            runs.append(make(cell, inputs()))
        cls = LSTMSteps if kind == "lstm" else GRUSteps
        both = cls(np.stack([r.W_hh for r in runs]), np.stack([r.coef for r in runs]))
        one = [log10_norm_trajectory(r) for r in runs]
        np.testing.assert_allclose(log10_norm_trajectory(both), np.stack(one), atol=1e-12)
        scan = scan_product(both, norm_at=T, thresholds=(1e-2,))
        for i in range(len(runs)):
            first = int(np.argmax(one[i] < -2)) + 1 if (one[i] < -2).any() else -1
            assert scan.horizons[i, 0] == first
        np.testing.assert_array_equal(both.take(np.array([1])).coef[0], runs[1].coef)


def test_shapes_are_checked():
    """Hypothesis: wrong shapes and NaN are ConfigErrors, with the expected shape named."""
    with pytest.raises(ConfigError, match=r"\(4n, n\)"):
        LSTMCell(W_ih=np.ones((8, 1)), W_hh=np.ones((6, 2)))
    with pytest.raises(ConfigError, match="W_ih must be"):
        GRUCell(W_ih=np.ones((5, 1)), W_hh=np.ones((6, 2)))
    with pytest.raises(ConfigError, match="NaN"):
        GRUCell(W_ih=np.ones((6, 1)), W_hh=np.full((6, 2), np.nan))
    cell = LSTMCell(W_ih=np.ones((8, 1)), W_hh=np.zeros((8, 2)))
    with pytest.raises(ConfigError, match=r"\(T, 1\)"):
        lstm_forward(cell, np.ones((3, 2)))
    with pytest.raises(ConfigError, match="h0"):
        gru_forward(GRUCell(W_ih=np.ones((6, 1)), W_hh=np.zeros((6, 2))), np.ones((3, 1)), [1.0])
    with pytest.raises(ConfigError, match="coef"):
        LSTMSteps(np.zeros((8, 2)), np.zeros((3, 5)))
