r"""Backpropagation through time for a vanilla RNN, full and truncated.

Loss (DESIGN.md §1): :math:`L = \sum_{t=1}^T L_t`, :math:`L_t = \tfrac12\|y_t - \hat y_t\|^2`,
:math:`y_t = W_{hy} h_t`. With :math:`\delta_t = \partial L/\partial z_t` the adjoint
recursion runs backwards from :math:`t = T`:

.. math::

    \delta_t = \varphi'(z_t) \odot \bigl(W_{hy}^\top (y_t - \hat y_t)
              + W_{hh}^\top \delta_{t+1}\bigr), \qquad \delta_{T+1} = 0,

and the shared weights collect one contribution per step:
:math:`\partial L/\partial W_{hh} = \sum_t \delta_t h_{t-1}^\top`,
:math:`\partial L/\partial W_{xh} = \sum_t \delta_t x_t^\top`,
:math:`\partial L/\partial b = \sum_t \delta_t`,
:math:`\partial L/\partial W_{hy} = \sum_t (y_t - \hat y_t) h_t^\top`.

Truncated BPTT cuts the backward flow after ``K`` steps, in one of two ways:

``"chunked"``
    The sequence is split into chunks of K steps and the state is detached
    between chunks (what ``h = h.detach()`` every K steps does in PyTorch).
``"sliding"``
    Each loss term :math:`L_t` is backpropagated through at most K steps,
    :math:`t, t-1, \dots, t-K+1` (Williams & Peng 1990's BPTT(K)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError
from gradscope.model import RNN
from gradscope.numeric.forward import forward

__all__ = ["Gradients", "bptt_gradient", "loss"]

FloatArray = NDArray[np.float64]
SCHEMES = ("chunked", "sliding")


@dataclass(frozen=True, slots=True, kw_only=True)
class Gradients:
    r"""The gradient of the loss with respect to every parameter.

    Attributes
    ----------
    loss : float
        :math:`L = \sum_t \tfrac12\|y_t - \hat y_t\|^2`.
    W_hh, W_xh, b, W_hy : ndarray
        :math:`\partial L/\partial \theta`, each shaped like its parameter.
    truncation : int or None
        K for truncated BPTT, None for the full gradient.
    scheme : str or None
        ``"chunked"`` or ``"sliding"`` when truncated.
    """

    loss: float
    W_hh: FloatArray
    W_xh: FloatArray
    b: FloatArray
    W_hy: FloatArray
    truncation: int | None = None
    scheme: str | None = None

    def __post_init__(self) -> None:
        for name in ("W_hh", "W_xh", "b", "W_hy"):
            getattr(self, name).flags.writeable = False

    def flat(self) -> FloatArray:
        """All four gradients as one vector, in the order W_hh, W_xh, b, W_hy."""
        return np.concatenate([self.W_hh.ravel(), self.W_xh.ravel(), self.b, self.W_hy.ravel()])

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "truncation": self.truncation,
            "scheme": self.scheme,
            "W_hh": self.W_hh.tolist(),
            "W_xh": self.W_xh.tolist(),
            "b": self.b.tolist(),
            "W_hy": self.W_hy.tolist(),
        }


def _check(
    rnn: RNN, W_hy: ArrayLike, inputs: ArrayLike, targets: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    Why = np.asarray(W_hy, dtype=np.float64)
    if Why.ndim != 2 or Why.shape[1] != rnn.hidden_size:
        raise ConfigError(f"W_hy must have shape (p, {rnn.hidden_size}), got {Why.shape}")
    x = np.asarray(inputs, dtype=np.float64)
    y_hat = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"inputs must have shape (T, {rnn.input_size}), got {x.shape}")
    if y_hat.shape != (x.shape[0], Why.shape[0]):
        raise ConfigError(
            f"targets must have shape (T, p) = ({x.shape[0]}, {Why.shape[0]}), got {y_hat.shape}"
        )
    if not (np.all(np.isfinite(Why)) and np.all(np.isfinite(y_hat))):
        raise ConfigError("W_hy and targets must be finite")
    return Why, x, y_hat


def loss(
    rnn: RNN, W_hy: ArrayLike, inputs: ArrayLike, targets: ArrayLike, h0: ArrayLike | None = None
) -> float:
    r""":math:`L = \sum_t \tfrac12\|W_{hy} h_t - \hat y_t\|^2` of one run."""
    Why, x, y_hat = _check(rnn, W_hy, inputs, targets)
    h = forward(rnn, x, h0).h[1:]
    r = h @ Why.T - y_hat
    return float(0.5 * np.sum(r * r))


def bptt_gradient(
    rnn: RNN,
    W_hy: ArrayLike,
    inputs: ArrayLike,
    targets: ArrayLike,
    h0: ArrayLike | None = None,
    *,
    truncation: int | None = None,
    scheme: str = "chunked",
) -> Gradients:
    r"""The gradient of :math:`L = \sum_t \tfrac12\|y_t - \hat y_t\|^2` by BPTT.

    Parameters
    ----------
    rnn : RNN
    W_hy : (p, n) array_like
        Output weights, :math:`y_t = W_{hy} h_t`.
    inputs : (T, m) array_like
    targets : (T, p) array_like
        :math:`\hat y_t`.
    h0 : (n,) array_like, optional
    truncation : int, optional
        K ≥ 1 for truncated BPTT; None (default) for the full gradient.
    scheme : {"chunked", "sliding"}
        How to truncate (see the module docstring).

    Returns
    -------
    Gradients

    Examples
    --------
    With T = 1 the gradient of ½‖W_hy h_1 − ŷ‖² w.r.t. b is φ'(z_1) ⊙ W_hyᵀ r:

    >>> import numpy as np
    >>> from gradscope.model import RNN
    >>> rnn = RNN(W_hh=np.eye(1), W_xh=np.ones((1, 1)), activation="linear")
    >>> g = bptt_gradient(rnn, np.ones((1, 1)), [[2.0]], [[0.5]])
    >>> g.loss, g.b.tolist()
    (1.125, [1.5])
    """
    Why, x, y_hat = _check(rnn, W_hy, inputs, targets)
    if truncation is not None and (
        isinstance(truncation, bool)
        or not isinstance(truncation, (int, np.integer))
        or truncation < 1
    ):
        raise ConfigError(f"truncation must be a positive integer or None, got {truncation!r}")
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown truncation scheme {scheme!r}; choose one of {SCHEMES}")
    traj = forward(rnn, x, h0)
    T = traj.T
    h = traj.h  # (T+1, n), h[0] = h0
    d = rnn.activation.derivative(traj.z)  # (T, n)
    r = h[1:] @ Why.T - y_hat  # (T, p): y_t - ŷ_t
    e = r @ Why  # (T, n): ∂L_t/∂h_t
    W = rnn.W_hh
    if truncation is None or truncation >= T:
        delta = np.empty_like(d)
        carry = np.zeros(rnn.hidden_size)
        for t in range(T, 0, -1):
            delta[t - 1] = d[t - 1] * (e[t - 1] + carry)
            carry = W.T @ delta[t - 1]
        deltas = [(delta, np.arange(T))]
    elif scheme == "chunked":
        delta = np.empty_like(d)
        for stop in range(T, 0, -truncation):
            carry = np.zeros(rnn.hidden_size)  # nothing flows across a chunk boundary
            for t in range(stop, max(stop - truncation, 0), -1):
                delta[t - 1] = d[t - 1] * (e[t - 1] + carry)
                carry = W.T @ delta[t - 1]
        deltas = [(delta, np.arange(T))]
    else:  # sliding: each L_t flows back through at most K steps
        deltas = []
        for t in range(T, 0, -1):
            lo = max(t - truncation, 0)
            part = np.empty((t - lo, rnn.hidden_size))
            g = e[t - 1]
            for s in range(t, lo, -1):
                part[s - lo - 1] = d[s - 1] * g
                g = W.T @ part[s - lo - 1]
            deltas.append((part, np.arange(lo, t)))
    gW_hh = np.zeros_like(W)
    gW_xh = np.zeros_like(rnn.W_xh)
    gb = np.zeros(rnn.hidden_size)
    for delta, idx in deltas:  # idx[j] = t - 1 for the row holding δ_t
        gW_hh += delta.T @ h[idx]
        gW_xh += delta.T @ x[idx]
        gb += delta.sum(axis=0)
    return Gradients(
        loss=float(0.5 * np.sum(r * r)),
        W_hh=gW_hh,
        W_xh=gW_xh,
        b=gb,
        W_hy=r.T @ h[1:],
        truncation=None if truncation is None else int(truncation),
        scheme=None if truncation is None else scheme,
    )
