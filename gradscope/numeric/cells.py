r"""Gated cells — PyTorch's ``nn.LSTM`` and ``nn.GRU`` — their forward passes and step Jacobians.

The equations and gate orders are PyTorch's exactly (one layer, ``x_t`` of width
m, hidden size n, ``σ`` the logistic sigmoid, ``⊙`` the elementwise product).

**LSTM**, gates stacked as (i, f, g, o) in ``W_ih`` (4n, m), ``W_hh`` (4n, n),
``b_ih``, ``b_hh`` (4n,); the state is :math:`s_t = (h_t, c_t)`, h first, 2n values:

.. math::

    a_t = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}, \quad
    i, f, o = \sigma(a^i_t), \sigma(a^f_t), \sigma(a^o_t), \quad g = \tanh(a^g_t),

    c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).

Its step Jacobian :math:`J_t = \partial s_t / \partial s_{t-1}` is, with
:math:`A_t = \operatorname{diag}(g\,\sigma'(a^i)) W_{hi} + \operatorname{diag}(c_{t-1}\,
\sigma'(a^f)) W_{hf} + \operatorname{diag}(i \tanh'(a^g)) W_{hg}` (``= ∂c_t/∂h_{t-1}``)
and :math:`k_t = o \odot \tanh'(c_t)`,

.. math::

    J_t = \begin{pmatrix}
      \operatorname{diag}(\tanh(c_t)\,\sigma'(a^o)) W_{ho} + \operatorname{diag}(k_t) A_t
        & \operatorname{diag}(k_t \odot f) \\
      A_t & \operatorname{diag}(f)
    \end{pmatrix}.

**GRU**, gates stacked as (r, z, n) in ``W_ih`` (3n, m), ``W_hh`` (3n, n); the
biases are *not* summed, since ``b_hn`` sits inside the reset product:

.. math::

    r = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}), \quad
    z = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}),

    \tilde n = \tanh(W_{in} x_t + b_{in} + r \odot (W_{hn} h_{t-1} + b_{hn})), \qquad
    h_t = (1 - z) \odot \tilde n + z \odot h_{t-1},

    J_t = \operatorname{diag}(z)
      + \operatorname{diag}((1-z) \tanh'(a^n) (W_{hn} h_{t-1} + b_{hn}) \sigma'(a^r)) W_{hr}
      + \operatorname{diag}((h_{t-1} - \tilde n)\, \sigma'(a^z)) W_{hz}
      + \operatorname{diag}((1-z) \tanh'(a^n)\, r) W_{hn}.

Both are sums of ``diag · W`` terms, so :class:`LSTMSteps` and :class:`GRUSteps`
keep only ``W_hh`` and O(T n) coefficient vectors, and apply :math:`J_t` or
:math:`J_t^\top` to a block with one product by ``W_hh`` or ``W_hhᵀ``: the exact
spectra and matrix-free methods of :mod:`gradscope.numeric` work unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError
from gradscope.model import GRUCell, LSTMCell, get_activation
from gradscope.numeric.steps import Steps, log10_add, log10_row_scaled_frobenius

__all__ = [
    "GRUSteps",
    "GRUTrajectory",
    "LSTMSteps",
    "LSTMTrajectory",
    "gru_forward",
    "gru_steps",
    "lstm_forward",
    "lstm_steps",
]

FloatArray = NDArray[np.float64]
_SIGMOID = get_activation("sigmoid")
_TANH = get_activation("tanh")


def _readonly(*arrays: FloatArray) -> None:
    for a in arrays:
        a.flags.writeable = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LSTMTrajectory:
    """States of one LSTM forward pass.

    Attributes
    ----------
    h, c : (T + 1, n) ndarray
        Row ``t`` is h_t (c_t); row 0 the initial state.
    a : (T, 4n) ndarray
        Row ``t - 1`` holds the gate pre-activations a_t, order (i, f, g, o).
    """

    h: FloatArray
    c: FloatArray
    a: FloatArray

    def __post_init__(self) -> None:
        _readonly(self.h, self.c, self.a)


@dataclass(frozen=True, slots=True, kw_only=True)
class GRUTrajectory:
    """States of one GRU forward pass.

    Attributes
    ----------
    h : (T + 1, n) ndarray
    gx : (T, 3n) ndarray
        ``W_ih x_t + b_ih`` (order r, z, n).
    gh : (T, 3n) ndarray
        ``W_hh h_{t-1} + b_hh`` (its last block is ``W_hn h + b_hn``, the part the reset
        gate multiplies).
    """

    h: FloatArray
    gx: FloatArray
    gh: FloatArray

    def __post_init__(self) -> None:
        _readonly(self.h, self.gx, self.gh)


def lstm_forward(
    cell: LSTMCell, inputs: ArrayLike, h0: ArrayLike | None = None, c0: ArrayLike | None = None
) -> LSTMTrajectory:
    """Run one LSTM layer over ``inputs`` (T, m) from ``(h0, c0)`` (zeros by default).

    Examples
    --------
    With zero weights every gate is 1/2 and g = 0, so the cell stays at 0:

    >>> import numpy as np
    >>> cell = LSTMCell(W_ih=np.zeros((8, 1)), W_hh=np.zeros((8, 2)))
    >>> lstm_forward(cell, np.ones((3, 1))).c.tolist()[-1]
    [0.0, 0.0]
    """
    x = cell._inputs(inputs)
    n, T = cell.hidden_size, x.shape[0]
    h = np.empty((T + 1, n))
    c = np.empty((T + 1, n))
    h[0], c[0] = cell._state(h0, "h0"), cell._state(c0, "c0")
    a = x @ cell.W_ih.T + (cell.b_ih + cell.b_hh)
    for t in range(1, T + 1):
        a[t - 1] += cell.W_hh @ h[t - 1]
        i, f, g, o = np.split(a[t - 1], 4)
        c[t] = _SIGMOID(f) * c[t - 1] + _SIGMOID(i) * np.tanh(g)
        h[t] = _SIGMOID(o) * np.tanh(c[t])
    return LSTMTrajectory(h=h, c=c, a=a)


def gru_forward(cell: GRUCell, inputs: ArrayLike, h0: ArrayLike | None = None) -> GRUTrajectory:
    """Run one GRU layer over ``inputs`` (T, m) from ``h0`` (zeros by default)."""
    x = cell._inputs(inputs)
    n, T = cell.hidden_size, x.shape[0]
    h = np.empty((T + 1, n))
    h[0] = cell._state(h0, "h0")
    gx = x @ cell.W_ih.T + cell.b_ih
    gh = np.empty_like(gx)
    for t in range(1, T + 1):
        gh[t - 1] = cell.W_hh @ h[t - 1] + cell.b_hh
        r = _SIGMOID(gx[t - 1, :n] + gh[t - 1, :n])
        z = _SIGMOID(gx[t - 1, n : 2 * n] + gh[t - 1, n : 2 * n])
        new = np.tanh(gx[t - 1, 2 * n :] + r * gh[t - 1, 2 * n :])
        h[t] = (1.0 - z) * new + z * h[t - 1]
    return GRUTrajectory(h=h, gx=gx, gh=gh)


def _two_s_plus(log_s: FloatArray, x: FloatArray) -> FloatArray:
    """log10(2 · 10**log_s + x) for x >= 0: the size of the gate terms plus a diagonal term."""
    with np.errstate(divide="ignore"):  # x = 0: log10 is -inf, which log10_add takes as 0
        return log10_add(math.log10(2.0) + log_s, np.log10(x))


class _DiagWSteps(Steps):
    """Shared bookkeeping: ``W_hh`` (*batch, G n, n) and per-step coefficients (*batch, T, ·)."""

    __slots__ = ("W_hh", "coef")

    def __init__(self, W_hh: FloatArray, coef: FloatArray, gates: int) -> None:
        if W_hh.ndim < 2 or W_hh.shape[-2] != gates * W_hh.shape[-1]:
            raise ConfigError(f"W_hh must be (…, {gates}n, n), got shape {W_hh.shape}")
        if coef.ndim != W_hh.ndim or coef.shape[-2] < 1:
            raise ConfigError(f"coefficients must be (…, T, ·) with T >= 1, got {coef.shape}")
        self.W_hh = W_hh
        self.coef = coef

    @property
    def hidden(self) -> int:
        return int(self.W_hh.shape[-1])

    @property
    def T(self) -> int:
        return int(self.coef.shape[-2])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.W_hh.shape[:-2])

    def matrix(self, t: int) -> FloatArray:
        eye = np.broadcast_to(np.eye(self.n), (*self.batch_shape, self.n, self.n))
        return self.apply(t, np.array(eye))

    def nonzero_pattern(self, t: int) -> NDArray[np.bool_]:
        """Everywhere: the sums of gate terms in :meth:`apply` are not tracked entry by entry."""
        self._check_t(t)
        return np.ones((*self.batch_shape, self.n, self.n), dtype=bool)

    def _log10_gate_terms(self, t: int) -> tuple[FloatArray, FloatArray]:
        """log10 of S = ‖diag(w) W_hh‖_F (every gate's term, stacked) and the coefficients."""
        t = self._check_t(t)
        w = self.coef[..., t - 1, :]
        G = self.W_hh.shape[-2]
        return log10_row_scaled_frobenius(w[..., :G], self.W_hh), w


class LSTMSteps(_DiagWSteps):
    r"""Step Jacobians :math:`\partial (h_t, c_t) / \partial (h_{t-1}, c_{t-1})` of an LSTM.

    Parameters
    ----------
    W_hh : (*batch, 4n, n) ndarray
    coef : (*batch, T, 6n) ndarray
        Per step, the vectors :math:`g\sigma'(a^i),\ c_{t-1}\sigma'(a^f),\ i\tanh'(a^g),\
        \tanh(c_t)\sigma'(a^o)` (the ``diag`` of each gate's ``W`` term, 4n values),
        then ``f`` and :math:`k_t = o \tanh'(c_t)` (see the module docstring).

    Notes
    -----
    ``n`` here is the state size 2n. Applying :math:`J_t` or :math:`J_t^\top` to a
    block costs one product with ``W_hh`` (4n × n) or its transpose.
    """

    def __init__(self, W_hh: FloatArray, coef: FloatArray) -> None:
        super().__init__(W_hh, coef, 4)
        if coef.shape[-1] != 6 * self.hidden:
            raise ConfigError(f"coef must be (…, T, {6 * self.hidden}), got {coef.shape}")

    @property
    def n(self) -> int:
        return 2 * self.hidden

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        t = self._check_t(t)
        n = self.hidden
        w = self.coef[..., t - 1, :, None]
        P = self.W_hh @ V[..., :n, :]
        P *= w[..., : 4 * n, :]
        dc = P[..., :n, :] + P[..., n : 2 * n, :] + P[..., 2 * n : 3 * n, :]
        dc += w[..., 4 * n : 5 * n, :] * V[..., n:, :]
        dh = P[..., 3 * n :, :] + w[..., 5 * n :, :] * dc
        return np.concatenate([dh, dc], axis=-2)

    def log10_rounding_scale(self, t: int) -> FloatArray:
        r""":math:`N_t = (1 + \|k_t\|_\infty)(2 S + \|f\|_\infty)`, S the stacked gate term.

        :meth:`apply` sums four gate terms :math:`\operatorname{diag}(w_g) W_g V_h`
        (whose Frobenius norms add up to at most 2S) and ``f ⊙ V_c`` into
        ``dc``, then adds ``k ⊙ dc`` to the output gate's term: each rounding is
        relative to the absolute values of these terms, which this sum bounds.
        """
        log_s, w = self._log10_gate_terms(t)
        n = self.hidden
        f = np.max(np.abs(w[..., 4 * n : 5 * n]), axis=-1)
        k = np.max(np.abs(w[..., 5 * n :]), axis=-1)
        out: FloatArray = np.log10(1.0 + k) + _two_s_plus(log_s, f)
        return out

    def apply_transpose(self, t: int, U: FloatArray) -> FloatArray:
        t = self._check_t(t)
        n = self.hidden
        w = self.coef[..., t - 1, :, None]
        Y = w[..., 5 * n :, :] * U[..., :n, :] + U[..., n:, :]
        G = np.concatenate([Y, Y, Y, U[..., :n, :]], axis=-2)
        G *= w[..., : 4 * n, :]
        return np.concatenate(
            [np.swapaxes(self.W_hh, -1, -2) @ G, w[..., 4 * n : 5 * n, :] * Y], axis=-2
        )

    def take(self, index: NDArray[np.intp]) -> LSTMSteps:
        return LSTMSteps(self.W_hh[index], self.coef[index])


class GRUSteps(_DiagWSteps):
    r"""Step Jacobians :math:`\partial h_t / \partial h_{t-1}` of a GRU.

    Parameters
    ----------
    W_hh : (*batch, 3n, n) ndarray
    coef : (*batch, T, 4n) ndarray
        Per step the coefficients of :math:`W_{hr}, W_{hz}, W_{hn}` (3n values, see the
        module docstring), then ``z`` (the diagonal term).
    """

    def __init__(self, W_hh: FloatArray, coef: FloatArray) -> None:
        super().__init__(W_hh, coef, 3)
        if coef.shape[-1] != 4 * self.hidden:
            raise ConfigError(f"coef must be (…, T, {4 * self.hidden}), got {coef.shape}")

    @property
    def n(self) -> int:
        return self.hidden

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        t = self._check_t(t)
        n = self.hidden
        w = self.coef[..., t - 1, :, None]
        P = self.W_hh @ V
        P *= w[..., : 3 * n, :]
        out = P[..., :n, :] + P[..., n : 2 * n, :] + P[..., 2 * n :, :]
        out += w[..., 3 * n :, :] * V
        return out

    def log10_rounding_scale(self, t: int) -> FloatArray:
        r""":math:`N_t = 2 S + \|z_t\|_\infty`, S the stacked gate term (see LSTMSteps)."""
        log_s, w = self._log10_gate_terms(t)
        z = np.max(np.abs(w[..., 3 * self.hidden :]), axis=-1)
        return _two_s_plus(log_s, z)

    def apply_transpose(self, t: int, U: FloatArray) -> FloatArray:
        t = self._check_t(t)
        n = self.hidden
        w = self.coef[..., t - 1, :, None]
        G = np.concatenate([U, U, U], axis=-2)
        G *= w[..., : 3 * n, :]
        out: FloatArray = np.swapaxes(self.W_hh, -1, -2) @ G
        out += w[..., 3 * n :, :] * U
        return out

    def take(self, index: NDArray[np.intp]) -> GRUSteps:
        return GRUSteps(self.W_hh[index], self.coef[index])


def lstm_steps(
    cell: LSTMCell, inputs: ArrayLike, h0: ArrayLike | None = None, c0: ArrayLike | None = None
) -> LSTMSteps:
    r"""The step Jacobians of an LSTM run; their product ``J_T ⋯ J_{k+1}`` is ∂s_T/∂s_k.

    The state is :math:`s = (h, c)`, h first (2n values).
    """
    tr = lstm_forward(cell, inputs, h0, c0)
    n = cell.hidden_size
    ai, af, ag, ao = (tr.a[:, j * n : (j + 1) * n] for j in range(4))
    i, f, g, o = _SIGMOID(ai), _SIGMOID(af), np.tanh(ag), _SIGMOID(ao)
    tc = np.tanh(tr.c[1:])
    coef = np.concatenate(
        [
            g * _SIGMOID.derivative(ai),
            tr.c[:-1] * _SIGMOID.derivative(af),
            i * _TANH.derivative(ag),
            tc * _SIGMOID.derivative(ao),
            f,
            o * _TANH.derivative(tr.c[1:]),
        ],
        axis=1,
    )
    _readonly(coef)
    return LSTMSteps(cell.W_hh, coef)


def gru_steps(cell: GRUCell, inputs: ArrayLike, h0: ArrayLike | None = None) -> GRUSteps:
    r"""The step Jacobians :math:`\partial h_t/\partial h_{t-1}` of a GRU run."""
    tr = gru_forward(cell, inputs, h0)
    n = cell.hidden_size
    ar = tr.gx[:, :n] + tr.gh[:, :n]
    az = tr.gx[:, n : 2 * n] + tr.gh[:, n : 2 * n]
    hn = tr.gh[:, 2 * n :]
    r = _SIGMOID(ar)
    an = tr.gx[:, 2 * n :] + r * hn
    one_minus_z = _SIGMOID(-az)  # 1 - σ(a) = σ(-a), without cancellation
    dn = one_minus_z * _TANH.derivative(an)
    coef = np.concatenate(
        [
            dn * hn * _SIGMOID.derivative(ar),
            (tr.h[:-1] - np.tanh(an)) * _SIGMOID.derivative(az),
            dn * r,
            _SIGMOID(az),
        ],
        axis=1,
    )
    _readonly(coef)
    return GRUSteps(cell.W_hh, coef)
