"""Shared references for the symbolic tests: random problems, numeric layer, differences.

Every reference here is independent of gradscope.symbolic: the numeric layer's
forward pass and step Jacobians, and fourth-order central differences of them.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from gradscope.model import RNN
from gradscope.numeric.forward import forward, rnn_steps

ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")

#: Step of the five-point stencil: truncation ~ eps**4 / 30 * f^(5) and rounding
#: ~ 1e-16 / eps, both about 1e-13 for values of order 1.
EPS = 1e-3


def random_problem(n, T, m=1, p=1, *, seed, scale=0.9):
    """Arrays for one run: W_hh scaled to about ``scale``, everything else N(0, 1)."""
    rng = np.random.default_rng(seed)
    return {
        "W_hh": scale * rng.normal(size=(n, n)) / np.sqrt(n),
        "W_xh": rng.normal(size=(n, m)) / np.sqrt(m),
        "b": 0.5 * rng.normal(size=n),
        "h0": rng.normal(size=n),
        "inputs": rng.normal(size=(T, m)),
        "W_hy": rng.normal(size=(p, n)),
        "targets": rng.normal(size=(T, p)),
    }


def model(arrays, activation):
    return RNN(W_hh=arrays["W_hh"], W_xh=arrays["W_xh"], b=arrays["b"], activation=activation)


def rnn_arrays(arrays):
    """Only the arguments of a Jacobian function."""
    return {k: arrays[k] for k in ("W_hh", "W_xh", "b", "h0", "inputs")}


def min_abs_z(arrays, activation):
    """Smallest |z_{t,i}| of the run (relu's kink is at 0)."""
    traj = forward(model(arrays, activation), arrays["inputs"], arrays["h0"])
    return float(np.min(np.abs(traj.z)))


def numeric_product(arrays, activation, start=0):
    """J_T ⋯ J_{start+1} from the numeric layer's step Jacobians."""
    steps = rnn_steps(model(arrays, activation), arrays["inputs"], arrays["h0"])
    P = np.eye(steps.n)
    for t in range(start + 1, steps.T + 1):
        P = steps.matrix(t) @ P
    return P


def stencil(f, x, direction, eps=EPS):
    """Fourth-order central difference of f at x along direction."""
    return (
        -f(x + 2 * eps * direction)
        + 8 * f(x + eps * direction)
        - 8 * f(x - eps * direction)
        + f(x - 2 * eps * direction)
    ) / (12 * eps)


def final_state(arrays, activation, start, h_start):
    """h_T as a function of h_start, by the numeric forward pass from step start + 1."""
    traj = forward(model(arrays, activation), arrays["inputs"][start:], h_start)
    return traj.h[-1]


def fd_jacobian(arrays, activation, start=0):
    """∂h_T/∂h_start by finite differences of the numeric forward pass (column by column)."""
    traj = forward(model(arrays, activation), arrays["inputs"], arrays["h0"])
    h_start = traj.h[start]
    n = h_start.size
    cols = [
        stencil(lambda h: final_state(arrays, activation, start, h), h_start, np.eye(n)[j])
        for j in range(n)
    ]
    return np.stack(cols, axis=1)


def numeric_loss(arrays, activation):
    """L = Σ_t ½‖W_hy h_t − ŷ_t‖² by the numeric forward pass."""
    traj = forward(model(arrays, activation), arrays["inputs"], arrays["h0"])
    y = traj.h[1:] @ arrays["W_hy"].T
    return 0.5 * float(np.sum((y - arrays["targets"]) ** 2))


def fd_gradient(arrays, activation):
    """∂L/∂W_hh, ∂L/∂W_xh, ∂L/∂b by finite differences, entry by entry."""
    out = {}
    for name in ("W_hh", "W_xh", "b"):
        base = arrays[name]
        grad = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            unit = np.zeros_like(base)
            unit[idx] = 1.0

            def f(value, name=name):
                return np.array(numeric_loss({**arrays, name: value}, activation))

            grad[idx] = stencil(f, base, unit)
        out[name] = grad
    return out


def max_error(a, b):
    """Largest entrywise difference, relative to max(1, |b|)."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


# Every reference that is installed: the numeric layer and finite differences always, torch
# autograd when torch is importable (CI installs it). Tests parametrize over this list, so
# nothing is ever skipped (in CI a skip is a failure).
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def _torch_phi(activation):
    import torch

    return {
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "relu": torch.relu,  # relu'(0) = 0
        "linear": lambda z: z,
    }[activation]


def torch_jacobian(arrays, activation, start=0):
    """∂h_T/∂h_start by torch autograd in float64."""
    import torch

    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in arrays.items()}
    phi = _torch_phi(activation)

    def run(h, first, last):
        for step in range(first, last):
            h = phi(t["W_hh"] @ h + t["W_xh"] @ t["inputs"][step] + t["b"])
        return h

    T = arrays["inputs"].shape[0]
    with torch.no_grad():
        h_start = run(t["h0"], 0, start)
    J = torch.autograd.functional.jacobian(lambda h: run(h, start, T), h_start)
    return J.numpy()


def torch_gradient(arrays, activation):
    """∂L/∂(W_hh, W_xh, b) by torch autograd in float64."""
    import torch

    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in arrays.items()}
    params = {k: t[k].clone().requires_grad_(True) for k in ("W_hh", "W_xh", "b")}
    phi = _torch_phi(activation)
    h = t["h0"]
    loss = torch.zeros((), dtype=torch.float64)
    for step in range(t["inputs"].shape[0]):
        h = phi(params["W_hh"] @ h + params["W_xh"] @ t["inputs"][step] + params["b"])
        loss = loss + 0.5 * torch.sum((t["W_hy"] @ h - t["targets"][step]) ** 2)
    loss.backward()
    return {k: p.grad.numpy() for k, p in params.items()}
