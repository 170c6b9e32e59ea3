"""torch_steps: the Jacobians of any PyTorch cell, checked against independent references.

References: torch autograd of the whole unrolled sequence (a dense Jacobian of
h_T with respect to h_0), the closed-form steps of gradscope.numeric for
PyTorch's own RNN/LSTM/GRU cells, and mpmath where the product leaves float range.
"""

from __future__ import annotations

import copy

import mpmath
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gradscope.errors import ConfigError, NumericalError  # noqa: E402
from gradscope.model import RNN, GRUCell, LSTMCell  # noqa: E402
from gradscope.numeric.cells import gru_steps, lstm_steps  # noqa: E402
from gradscope.numeric.forward import rnn_steps  # noqa: E402
from gradscope.numeric.lyapunov import compute_lyapunov  # noqa: E402
from gradscope.numeric.matrixfree import compute_top_spectrum  # noqa: E402
from gradscope.numeric.spectrum import compute_singular_values  # noqa: E402
from gradscope.numeric.steps import ArraySteps  # noqa: E402
from gradscope.torch import torch_steps  # noqa: E402
from tests.torch.user_cells.my_cell import LeakyCell  # noqa: E402

SEEDS = range(5)


def _cell(kind: str, seed: int, m: int = 3, n: int = 4) -> torch.nn.Module:
    torch.manual_seed(seed)
    if kind == "rnn":
        return torch.nn.RNNCell(m, n)
    if kind == "relu":
        return torch.nn.RNNCell(m, n, nonlinearity="relu")
    if kind == "lstm":
        return torch.nn.LSTMCell(m, n)
    if kind == "gru":
        return torch.nn.GRUCell(m, n)
    return LeakyCell(m, n)


def _h0(kind: str, seed: int, n: int = 4) -> object:
    g = torch.Generator().manual_seed(100 + seed)
    if kind == "lstm":
        return (torch.randn(n, generator=g), torch.randn(n, generator=g))
    return torch.randn(n, generator=g)


def _unrolled_jacobian(cell: torch.nn.Module, x: torch.Tensor, h0: object) -> np.ndarray:
    """d s_T / d s_0 of the whole run, by torch autograd on a float64 copy of the module."""
    ref = copy.deepcopy(cell).double().eval()
    xs = x.double()
    if isinstance(h0, tuple):
        n = h0[0].numel()

        def run(s: torch.Tensor) -> torch.Tensor:
            h, c = s[:n], s[n:]
            for t in range(xs.shape[0]):
                h, c = ref(xs[t], (h, c))
            return torch.cat([h, c])

        s0 = torch.cat([h0[0].double(), h0[1].double()])
    else:

        def run(s: torch.Tensor) -> torch.Tensor:
            for t in range(xs.shape[0]):
                s = ref(xs[t], s)
            return s

        s0 = h0.double()
    J = torch.autograd.functional.jacobian(run, s0)
    return J.numpy()


@pytest.mark.parametrize("kind", ["rnn", "relu", "lstm", "gru", "user"])
@pytest.mark.parametrize("seed", SEEDS)
def test_singular_values_match_autograd_of_the_unrolled_run(kind: str, seed: int) -> None:
    """Hypothesis: the spectrum of the product of torch_steps' J_t is that of d s_T/d s_0."""
    T = 6
    cell = _cell(kind, seed)
    x = torch.randn(T, 3, generator=torch.Generator().manual_seed(seed))
    h0 = _h0(kind, seed)
    steps = torch_steps(cell, x, h0)
    P = _unrolled_jacobian(cell, x, h0)
    product = np.eye(steps.n)
    for t in range(1, T + 1):
        product = steps.matrix(t) @ product
    assert np.linalg.norm(product - P) <= 1e-12 * np.linalg.norm(P)
    s_ref = np.linalg.svd(P, compute_uv=False)
    got = compute_singular_values(steps).log10_singular_values
    if s_ref[0] == 0.0:  # every ReLU unit off at some step: the product is exactly zero
        assert np.all(np.isneginf(got))
        return
    keep = s_ref >= 1e-3 * s_ref[0]  # the dense reference is accurate to u·σ_1 only
    ref = np.log10(s_ref, where=keep, out=np.full_like(s_ref, -np.inf))
    np.testing.assert_array_less(
        np.abs(got[keep] - ref[keep]), 1e-10 * np.maximum(1.0, np.abs(ref[keep]))
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_module_is_left_untouched(seed: int) -> None:
    """Hypothesis: parameters' dtype and values and every training flag survive the call."""
    cell = _cell("user", seed)
    cell.drop = torch.nn.Dropout(0.5)  # a submodule whose flag must come back as it was
    cell.train()
    before = {k: v.detach().clone() for k, v in cell.state_dict().items()}
    steps = torch_steps(cell, torch.randn(4, 3), torch.randn(4))
    steps.matrix(2)
    steps.apply(3, np.eye(4))
    steps.apply_transpose(1, np.eye(4))
    assert cell.training and cell.drop.training
    for k, v in cell.state_dict().items():
        assert v.dtype == torch.float32
        assert torch.equal(v, before[k])


def test_eval_mode_is_used() -> None:
    """Hypothesis: dropout is off inside torch_steps (eval mode), so J_t is deterministic."""

    class Dropped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            self.drop = torch.nn.Dropout(0.9)

        def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.drop(self.lin(h)) + x)

    torch.manual_seed(0)
    cell = Dropped().train()
    x = torch.randn(3, 4)
    steps = torch_steps(cell, x, torch.randn(4))
    W = cell.lin.weight.detach().double().numpy()
    z = W @ steps.states[1] + cell.lin.bias.detach().double().numpy() + x[1].double().numpy()
    d = 1.0 - np.tanh(z) ** 2
    np.testing.assert_allclose(steps.matrix(2), d[:, None] * W, rtol=1e-13, atol=1e-15)


def _closed_form(kind: str, cell: torch.nn.Module, x: torch.Tensor, h0: object) -> object:
    p = {k: v.detach().double().numpy() for k, v in cell.state_dict().items()}
    xs = x.double().numpy()
    if kind in ("rnn", "relu"):
        act = "tanh" if kind == "rnn" else "relu"
        rnn = RNN(
            W_hh=p["weight_hh"], W_xh=p["weight_ih"], b=p["bias_ih"] + p["bias_hh"], activation=act
        )
        return rnn_steps(rnn, xs, h0.double().numpy())
    ref_cell = {"lstm": LSTMCell, "gru": GRUCell}[kind](
        W_ih=p["weight_ih"], W_hh=p["weight_hh"], b_ih=p["bias_ih"], b_hh=p["bias_hh"]
    )
    if kind == "lstm":
        return lstm_steps(ref_cell, xs, h0[0].double().numpy(), h0[1].double().numpy())
    return gru_steps(ref_cell, xs, h0.double().numpy())


@pytest.mark.parametrize("kind", ["rnn", "relu", "lstm", "gru"])
@pytest.mark.parametrize("seed", SEEDS)
def test_pytorch_cells_equal_the_closed_form_steps(kind: str, seed: int) -> None:
    """Hypothesis: nn.RNNCell/LSTMCell/GRUCell through autograd give gradscope's closed forms."""
    T, n = 7, 5
    cell = _cell(kind, seed, n=n)
    x = 2.0 * torch.randn(T, 3, generator=torch.Generator().manual_seed(seed))
    h0 = _h0(kind, seed, n=n)
    steps = torch_steps(cell, x, h0)
    ref = _closed_form(kind, cell, x, h0)
    assert steps.n == ref.n and steps.T == ref.T
    rng = np.random.default_rng(seed)
    for t in range(1, T + 1):
        J = ref.matrix(t)
        scale = np.linalg.norm(J)
        np.testing.assert_allclose(steps.matrix(t), J, rtol=0, atol=1e-13 * scale)
        V = rng.standard_normal((ref.n, 3))
        np.testing.assert_allclose(steps.apply(t, V), ref.apply(t, V), rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(
            steps.apply_transpose(t, V), ref.apply_transpose(t, V), rtol=0, atol=1e-13 * scale
        )
    a = compute_singular_values(steps)
    b = compute_singular_values(ref)
    la, lb = a.log10_singular_values, b.log10_singular_values
    np.testing.assert_array_equal(np.isneginf(la), np.isneginf(lb))  # exact zeros (ReLU)
    live = np.isfinite(lb)
    tol = a.log10_error[live] + b.log10_error[live] + 1e-12
    assert np.all(np.abs(la[live] - lb[live]) <= tol)


def _mp_log10_singular_values(mats: list[np.ndarray], dps: int) -> np.ndarray:
    with mpmath.workdps(dps):
        P = mpmath.eye(mats[0].shape[0])
        for J in mats:
            P = mpmath.matrix(J.tolist()) * P
        s = mpmath.svd_r(P, compute_uv=False)
        return np.array(sorted((float(mpmath.log10(v)) for v in s), reverse=True))


@pytest.mark.parametrize("seed", range(3))
def test_underflowing_product_against_mpmath(seed: int) -> None:
    """Hypothesis: singular values far below float64's range (1e-308) are still exact in log10."""
    T, n = 600, 3
    torch.manual_seed(seed)
    cell = torch.nn.RNNCell(2, n)
    with torch.no_grad():
        W = torch.randn(n, n)
        cell.weight_hh.copy_(0.2 * W / torch.linalg.matrix_norm(W, 2))
    x = torch.randn(T, 2, generator=torch.Generator().manual_seed(seed))
    steps = torch_steps(cell, x, torch.zeros(n))
    got = compute_singular_values(steps)
    assert got.log10_singular_values[0] < -308  # past float64: the point of the test
    mats = [steps.matrix(t) for t in range(1, T + 1)]
    spread = got.log10_singular_values[0] - got.log10_singular_values[-1]
    dps = int(spread) + 40
    ref = _mp_log10_singular_values(mats, dps)
    confirm = _mp_log10_singular_values(mats, 2 * dps)
    assert np.all(np.abs(ref - confirm) <= 1e-13 * np.abs(confirm))
    err = np.abs(got.log10_singular_values - confirm)
    assert np.all(err <= 1e-10 * np.abs(confirm))
    assert np.all(err <= got.log10_error)


@pytest.mark.parametrize("seed", SEEDS)
def test_matrix_free_and_lyapunov_accept_torch_steps(seed: int) -> None:
    """Hypothesis: top-k and Lyapunov exponents on TorchSteps equal the dense path's."""
    T, n = 40, 6
    cell = _cell("gru", seed, n=n)
    x = torch.randn(T, 3, generator=torch.Generator().manual_seed(seed))
    steps = torch_steps(cell, x, torch.zeros(n))
    dense = ArraySteps(np.stack([steps.matrix(t) for t in range(1, T + 1)]))
    full = compute_singular_values(dense)
    top = compute_top_spectrum(steps, 2, seed=seed)
    tol = top.log10_error + full.log10_error[:2] + 1e-12
    assert np.all(np.abs(top.log10_singular_values - full.log10_singular_values[:2]) <= tol)
    a, b = compute_lyapunov(steps, k=3), compute_lyapunov(dense, k=3)
    assert np.all(np.abs(a.exponents - b.exponents) <= a.lyapunov_error + b.lyapunov_error + 1e-12)


class _Tanh(torch.autograd.Function):
    """tanh as a custom Function without a vmap rule, its backward branching on the data."""

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z)

    @staticmethod
    def setup_context(ctx: object, inputs: tuple, output: torch.Tensor) -> None:
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        if bool((g == 0).all()):  # data-dependent control flow: vmap refuses it
            return torch.zeros_like(g)
        return g * (1 - y * y)

    @staticmethod
    def jvp(ctx: object, dz: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return dz * (1 - y * y)


@pytest.mark.parametrize("seed", range(3))
def test_vmap_fallback_loops_and_says_so(seed: int) -> None:
    """Hypothesis: a cell vmap cannot batch still gives the right J_t, with a note."""
    torch.manual_seed(seed)
    W = torch.randn(4, 4, dtype=torch.float64)

    def custom(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return _Tanh.apply(W @ h + x)

    def plain(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(W @ h + x)

    x, h0 = torch.randn(5, 4), torch.randn(4)
    a, b = torch_steps(custom, x, h0), torch_steps(plain, x, h0)
    V = np.random.default_rng(seed).standard_normal((4, 3))
    for t in range(1, 6):
        np.testing.assert_allclose(a.apply(t, V), b.apply(t, V), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(
            a.apply_transpose(t, V), b.apply_transpose(t, V), rtol=1e-14, atol=1e-15
        )
        np.testing.assert_allclose(a.matrix(t), b.matrix(t), rtol=1e-14, atol=1e-15)
    assert b.notes == ()
    for what in ("jvp", "vjp", "jacrev"):
        assert any(f"cell's {what}" in s for s in a.notes)


def test_output_shape_must_equal_the_state_shape() -> None:
    """Hypothesis: a cell returning the wrong shape is refused with both shapes named."""
    lin = torch.nn.Linear(5, 4).double()
    with pytest.raises(ConfigError, match=r"returned \(4,\) for a state of shape \(5,\)"):
        torch_steps(lambda x, h: lin(h), torch.zeros(3, 2), torch.zeros(5))
    with pytest.raises(ConfigError, match="for a state of shape"):
        torch_steps(lambda x, h: h[0], torch.zeros(3, 2), (torch.zeros(5), torch.zeros(5)))


def test_non_finite_state_is_a_numerical_error() -> None:
    """Hypothesis: a run that overflows says at which step."""
    with pytest.raises(NumericalError, match="t=2 "):  # 1e200, then 1e400 = inf
        torch_steps(lambda x, h: h * 1e200, torch.zeros(5, 1), torch.ones(2))
    with pytest.raises(ConfigError, match="h0 is required"):
        torch_steps(lambda x, h: h, torch.zeros(5, 1), None)
    with pytest.raises(ConfigError, match=r"the cell raised \w+ at step t=1"):
        torch_steps(torch.nn.Linear(3, 3), torch.zeros(5, 1), torch.ones(2))  # Linear(x, h)


def test_dense_matrix_refused_above_the_limit() -> None:
    """Hypothesis: matrix(t) above dense_limit is a ConfigError naming the matrix-free route."""
    from gradscope.torch import TorchSteps

    steps = TorchSteps(lambda x, h: torch.tanh(h), torch.zeros(2, 1), torch.ones(3), dense_limit=2)
    with pytest.raises(ConfigError, match="--top"):
        steps.matrix(1)
    assert steps.apply(1, np.eye(3)).shape == (3, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_rounding_scale_bounds_the_norm(seed: int) -> None:
    """Hypothesis: N_t >= ‖J_t‖_2, exactly (dense) and by the probe estimate (large n)."""
    from gradscope.torch import TorchSteps

    cell = _cell("lstm", seed, n=6)
    x, h0 = 3.0 * torch.randn(4, 3), _h0("lstm", seed, n=6)
    dense = TorchSteps(cell, x, h0)
    probed = TorchSteps(cell, x, h0, dense_limit=1)
    for t in range(1, 5):
        J = dense.matrix(t)
        log_fro = np.log10(np.linalg.norm(J))
        assert abs(float(dense.log10_rounding_scale(t)) - log_fro) <= 1e-12
        assert float(probed.log10_rounding_scale(t)) >= np.log10(np.linalg.norm(J, 2))


def test_tuple_state_flattened_in_order() -> None:
    """Hypothesis: (h, c) is flattened h first; J for c' = c, h' = 2h is diag(2, 2, 1, 1, 1)."""
    steps = torch_steps(
        lambda x, s: (2.0 * s[0], s[1]), torch.zeros(1, 1), (torch.ones(2), torch.ones(3))
    )
    np.testing.assert_array_equal(steps.matrix(1), np.diag([2.0, 2.0, 1.0, 1.0, 1.0]))
