"""The zoo's closed-form steps against torch twins written from the papers' equations.

Each twin below is an independent PyTorch transcription of the cell's update
from its paper (not of gradscope's numpy code); torch_steps differentiates it by
autograd. Closed forms: the Jordan block's powers in mpmath, and diagonal
cells' singular values as sorted products of |diagonals|.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gradscope.errors import ConfigError, NumericalError  # noqa: E402
from gradscope.model.zoo import ZOO_NAMES, zoo_cell  # noqa: E402
from gradscope.model.zoo.indrnn import IndRNNCell  # noqa: E402
from gradscope.numeric.spectrum import compute_singular_values  # noqa: E402
from gradscope.numeric.steps import ArraySteps  # noqa: E402
from gradscope.numeric.zoo import zoo_forward, zoo_steps  # noqa: E402
from gradscope.torch import torch_steps  # noqa: E402

TOL = 1e-10
Twin = Callable[[Any, Any], Any]


def _t(a: np.ndarray) -> Any:
    return torch.as_tensor(np.array(a), dtype=torch.float64)


# --- twins, from the papers' equations ----------------------------------------------------


def twin_indrnn(c: Any) -> Twin:
    W, u, b = _t(c.W_ih), _t(c.u), _t(c.b)
    act = torch.relu if c.activation == "relu" else torch.tanh
    return lambda x, h: act(W @ x + u * h + b)  # Li et al. eq. (2)


def twin_antisymmetric(c: Any) -> Twin:
    W, V, b = _t(c.W), _t(c.V), _t(c.b)
    n = W.shape[0]
    A = W - W.T - c.gamma * torch.eye(n, dtype=torch.float64)
    return lambda x, h: h + c.eps * torch.tanh(A @ h + V @ x + b)  # Chang et al. eq. (12)


def twin_cornn(c: Any) -> Twin:
    W, Wz, V, b = _t(c.W), _t(c.W_z), _t(c.V), _t(c.b)
    n = W.shape[0]

    def step(x: Any, s: Any) -> Any:  # Rusch & Mishra eq. (3), state (y, z)
        y, z = s[:n], s[n:]
        z_new = (
            z
            + c.dt * torch.tanh(W @ y + Wz @ z + V @ x + b)
            - c.dt * c.gamma * y
            - c.dt * c.eps * z
        )
        return torch.cat([y + c.dt * z_new, z_new])

    return step


def twin_lipschitz(c: Any) -> Twin:
    MA, MW, U, b = _t(c.M_A), _t(c.M_W), _t(c.U), _t(c.b)
    eye = torch.eye(MA.shape[0], dtype=torch.float64)
    A = (1 - c.beta) * (MA + MA.T) + c.beta * (MA - MA.T) - c.gamma_A * eye
    W = (1 - c.beta) * (MW + MW.T) + c.beta * (MW - MW.T) - c.gamma_W * eye
    return lambda x, h: h + c.eps * (A @ h + torch.tanh(W @ h + U @ x + b))  # Euler of eq. (2)


def twin_mingru(c: Any) -> Twin:
    Wz, bz, Wh, bh = _t(c.W_z), _t(c.b_z), _t(c.W_h), _t(c.b_h)

    def step(x: Any, h: Any) -> Any:  # Feng et al. §3.1
        z = torch.sigmoid(Wz @ x + bz)
        return (1 - z) * h + z * (Wh @ x + bh)

    return step


def twin_s6(c: Any) -> Twin:
    A = -torch.exp(_t(c.A_log))
    Wd, bd, WB, Win = _t(c.W_delta), _t(c.b_delta), _t(c.W_B), _t(c.W_in)
    D, N = A.shape

    def step(x: Any, s: Any) -> Any:  # Gu & Dao Alg. 2, ZOH of A, B̄ = ΔB
        u = Win @ x
        delta = torch.nn.functional.softplus(Wd @ u + bd)
        B = WB @ u
        h = s.reshape(D, N)
        h = torch.exp(delta[:, None] * A) * h + (delta[:, None] * B[None, :]) * u[:, None]
        return h.reshape(-1)

    return step


def twin_jordan(c: Any) -> Twin:
    n, m = c.hidden_size, c.m
    A = torch.zeros(n, n, dtype=torch.float64)
    for i in range(m):
        A[i, i] = c.rho
        if i + 1 < m:
            A[i, i + 1] = 1.0
    for j, lam in enumerate(c.others):
        A[m + j, m + j] = float(lam)
    B = _t(c.B)
    return lambda x, s: A @ s + B @ x


TWINS = {name: globals()[f"twin_{name}"] for name in ZOO_NAMES}
#: (hidden, inputs, T, extra hyper-parameters) per cell; S6 with a small state_dim
SIZES: dict[str, list[tuple[int, int, int, dict[str, Any]]]] = {
    name: [(3, 2, 12, {}), (6, 4, 9, {})] for name in ZOO_NAMES
}
SIZES["s6"] = [(3, 2, 12, {"state_dim": 4}), (5, 3, 9, {"state_dim": 3})]
SIZES["jordan"] = [(4, 2, 12, {"m": 3}), (7, 3, 9, {})]
SEEDS = (0, 1, 2)


def _case(name: str, seed: int, size: int) -> tuple[Any, np.ndarray, np.ndarray]:
    n, m, T, hyper = SIZES[name][size]
    cell = zoo_cell(name, hidden=n, inputs=m, seed=seed, **hyper)
    rng = np.random.default_rng([seed, size, 7])
    x = rng.standard_normal((T, m))
    s0 = rng.standard_normal(cell.state_size)
    if name == "indrnn":  # ReLU units live at a positive state; the paper's b = 0 and tiny W
        s0 = np.abs(s0) + 0.5
    return cell, x, s0


@pytest.mark.parametrize("name", ZOO_NAMES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("size", [0, 1])
def test_closed_form_steps_match_torch_twin(name: str, seed: int, size: int) -> None:
    """Hypothesis: states, J_t, J_t V and J_tᵀ U agree with autograd on the twin to 1e-10."""
    cell, x, s0 = _case(name, seed, size)
    ref = torch_steps(TWINS[name](cell), x, s0)
    got = zoo_steps(cell, x, s0)
    states = zoo_forward(cell, x, s0)
    assert states.shape == (x.shape[0] + 1, cell.state_size) and got.n == cell.state_size
    scale = max(1.0, float(np.max(np.abs(ref.states))))
    assert float(np.max(np.abs(states - ref.states))) <= TOL * scale
    rng = np.random.default_rng(seed)
    for t in range(1, got.T + 1):
        J = ref.matrix(t)
        tol = TOL * max(1.0, float(np.max(np.abs(J))))
        assert float(np.max(np.abs(got.matrix(t) - J))) <= tol
        V = rng.standard_normal((got.n, 3))
        assert float(np.max(np.abs(got.apply(t, V) - ref.apply(t, V)))) <= tol * 10
        assert (
            float(np.max(np.abs(got.apply_transpose(t, V) - ref.apply_transpose(t, V))))
            <= tol * 10
        )
        # honesty: a False in the pattern is an exact zero of autograd's J_t
        assert np.all(J[~got.nonzero_pattern(t)] == 0.0)
        # N_t >= ‖J_t‖_2
        norm = np.linalg.norm(J, 2)
        if norm > 0:
            assert float(got.log10_rounding_scale(t)) >= math.log10(norm) - 1e-12


@pytest.mark.parametrize("name", ZOO_NAMES)
@pytest.mark.parametrize("seed", SEEDS)
def test_singular_values_match_torch_twin(name: str, seed: int) -> None:
    """Hypothesis: log10 σ_i of ∂s_T/∂s_0 from zoo_steps equal those from torch_steps to 1e-10."""
    cell, x, s0 = _case(name, seed, 0)
    ref = compute_singular_values(torch_steps(TWINS[name](cell), x, s0)).log10_singular_values
    got = compute_singular_values(zoo_steps(cell, x, s0)).log10_singular_values
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    assert np.all(np.abs(got[finite] - ref[finite]) <= TOL * np.maximum(1.0, np.abs(ref[finite])))


@pytest.mark.parametrize("name", ["indrnn", "mingru", "s6"])
@pytest.mark.parametrize("seed", SEEDS)
def test_diagonal_cells_singular_values_are_sorted_products(name: str, seed: int) -> None:
    """Hypothesis: for a diagonal J_t, σ_i = sorted |∏_t (J_t)_kk| (from the twin's autograd)."""
    cell, x, s0 = _case(name, seed, 1)
    ref = torch_steps(TWINS[name](cell), x, s0)
    logs = np.zeros(ref.n)
    for t in range(1, ref.T + 1):
        J = ref.matrix(t)
        assert np.all(J == np.diag(np.diag(J)))
        with np.errstate(divide="ignore"):
            logs += np.log10(np.abs(np.diag(J)))
    want = np.sort(logs)[::-1]
    got = compute_singular_values(zoo_steps(cell, x, s0)).log10_singular_values
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    assert np.all(
        np.abs(got[finite] - want[finite]) <= TOL * np.maximum(1.0, np.abs(want[finite]))
    )


@pytest.mark.parametrize("m, rho, k", [(3, 0.9, 40), (4, 0.5, 200), (2, 1.1, 60)])
def test_jordan_powers_match_binomial_entries(m: int, rho: float, k: int) -> None:
    """Hypothesis: A^k's spectrum is mpmath's SVD of (J_m(ρ)^k)_ij = C(k, j-i) ρ^(k-j+i)."""
    cell = zoo_cell("jordan", hidden=m + 2, inputs=2, seed=3, m=m, rho=rho)
    steps = zoo_steps(cell, np.zeros((k, 2)))
    got = compute_singular_values(steps).log10_singular_values
    mpmath.mp.dps = 60
    n = cell.hidden_size
    P = mpmath.zeros(n, n)
    r = mpmath.mpf(rho)
    for i in range(m):
        for j in range(i, m):
            P[i, j] = mpmath.binomial(k, j - i) * r ** (k - (j - i))
    for j, lam in enumerate(cell.others):
        P[m + j, m + j] = mpmath.mpf(float(lam)) ** k
    sv = mpmath.svd_r(P, compute_uv=False)
    want = sorted((float(mpmath.log10(abs(s))) for s in sv), reverse=True)
    want_arr = np.array(want)
    assert np.all(np.abs(got - want_arr) <= TOL * np.maximum(1.0, np.abs(want_arr)))
    # the 2-norm peaks above 1 while every eigenvalue is below 1 (ρ < 1): transient growth
    if rho == 0.9:  # C(40, 2) 0.9^38 ≈ 14
        assert got[0] > 0.0


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_steps_product_matches_autograd_of_the_unrolled_run(name: str) -> None:
    """Hypothesis: the dense product of zoo_steps' J_t is ∂s_T/∂s_0 of the whole twin run."""
    cell, x, s0 = _case(name, 5, 0)
    twin = TWINS[name](cell)
    xs = _t(x)

    def run(s: Any) -> Any:
        for t in range(xs.shape[0]):
            s = twin(xs[t], s)
        return s

    P = torch.autograd.functional.jacobian(run, _t(s0)).numpy()
    steps = zoo_steps(cell, x, s0)
    prod = np.eye(steps.n)
    for t in range(1, steps.T + 1):
        prod = steps.matrix(t) @ prod
    assert np.linalg.norm(prod - P) <= 1e-12 * max(1.0, np.linalg.norm(P))
    ref = compute_singular_values(
        ArraySteps(np.stack([steps.matrix(t) for t in range(1, steps.T + 1)]))
    )
    got = compute_singular_values(steps)
    finite = np.isfinite(ref.log10_singular_values)
    assert np.allclose(
        got.log10_singular_values[finite], ref.log10_singular_values[finite], atol=1e-10
    )


def test_relu_indrnn_tanh_variant_and_given_weights() -> None:
    """Hypothesis: an IndRNN built from given weights (tanh, nonzero b) matches its twin too."""
    rng = np.random.default_rng(11)
    cell = IndRNNCell(W_ih=rng.standard_normal((4, 2)), u=rng.uniform(-1.2, 1.2, 4),
                      b=rng.standard_normal(4), activation="tanh")  # fmt: skip
    assert cell.defaults()["u_max"]["value"] is None
    x, s0 = rng.standard_normal((10, 2)), rng.standard_normal(4)
    ref = torch_steps(twin_indrnn(cell), x, s0)
    got = zoo_steps(cell, x, s0)
    for t in range(1, 11):
        np.testing.assert_allclose(got.matrix(t), ref.matrix(t), rtol=0, atol=1e-12)


def test_bad_inputs_and_overflow() -> None:
    """Hypothesis: a wrong input shape is a ConfigError; an overflowing state a NumericalError."""
    cell = zoo_cell("jordan", hidden=4, inputs=2, rho=10.0)
    with pytest.raises(ConfigError, match=r"\(T, 2\)"):
        zoo_steps(cell, np.zeros((5, 3)))
    with pytest.raises(ConfigError, match="s0"):
        zoo_forward(cell, np.zeros((5, 2)), s0=np.zeros(3))
    with pytest.raises(NumericalError, match="not finite"):
        zoo_forward(cell, np.ones((400, 2)))
    with pytest.raises(ConfigError, match="not a zoo cell"):
        zoo_steps(object(), np.zeros((2, 2)))
