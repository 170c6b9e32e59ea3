r"""The forward pass of a vanilla RNN and its step Jacobians.

:math:`z_t = W_{hh} h_{t-1} + W_{xh} x_t + b`, :math:`h_t = \varphi(z_t)` for
``t = 1..T`` (DESIGN.md §1). Arrays may carry leading batch dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError
from gradscope.model import RNN, Activation, get_activation
from gradscope.numeric.steps import RNNSteps

__all__ = ["Trajectory", "forward", "forward_arrays", "rnn_steps"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Trajectory:
    """States of one forward pass.

    Attributes
    ----------
    h : (..., T + 1, n) ndarray
        ``h[..., 0, :]`` is h_0 and ``h[..., t, :]`` is h_t.
    z : (..., T, n) ndarray
        ``z[..., t - 1, :]`` is the pre-activation z_t.
    """

    h: FloatArray
    z: FloatArray

    def __post_init__(self) -> None:
        self.h.flags.writeable = False
        self.z.flags.writeable = False

    @property
    def T(self) -> int:
        """The number of steps taken."""
        return int(self.z.shape[-2])


def _check_inputs(inputs: ArrayLike, m: int, batch_ndim: int) -> FloatArray:
    x = np.asarray(inputs, dtype=np.float64)
    if x.ndim != batch_ndim + 2:
        raise ConfigError(f"inputs must have shape (T, m) = (T, {m}), got {x.shape}")
    if x.shape[-2] < 1:
        raise ConfigError("inputs must hold at least one step (T >= 1)")
    if x.shape[-1] != m:
        raise ConfigError(
            f"inputs have width {x.shape[-1]} but W_xh expects m = {m}: give a (T, {m}) array"
        )
    if not np.all(np.isfinite(x)):
        raise ConfigError("inputs contain NaN or Inf; gradscope needs finite inputs")
    return x


def forward_arrays(
    W_hh: FloatArray,
    W_xh: FloatArray,
    b: FloatArray,
    inputs: FloatArray,
    h0: FloatArray | None,
    activation: str | Activation,
) -> Trajectory:
    r"""Run the recurrence on raw arrays, with optional leading batch dimensions.

    Parameters
    ----------
    W_hh : (..., n, n) ndarray
    W_xh : (..., n, m) ndarray
    b : (..., n) ndarray
    inputs : (..., T, m) ndarray
    h0 : (..., n) ndarray or None
        Initial state; zeros when None.
    activation : str or Activation

    Returns
    -------
    Trajectory
    """
    act = get_activation(activation)
    batch = W_hh.shape[:-2]
    n = W_hh.shape[-1]
    x = _check_inputs(inputs, W_xh.shape[-1], len(batch))
    T = x.shape[-2]
    # The input drive of every step at once: (*batch, T, n).
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        drive = np.einsum("...nm,...tm->...tn", W_xh, x) + b[..., None, :]
    h = np.empty((*batch, T + 1, n))
    z = np.empty((*batch, T, n))
    h[..., 0, :] = 0.0 if h0 is None else h0
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, in one line
        for t in range(1, T + 1):
            z[..., t - 1, :] = (W_hh @ h[..., t - 1, :, None])[..., 0] + drive[..., t - 1, :]
            h[..., t, :] = act(z[..., t - 1, :])
    check_finite_states(z, first_step=1)
    return Trajectory(h=h, z=z)


def check_finite_states(z: FloatArray, *, first_step: int) -> None:
    """Refuse a run whose pre-activations overflowed to Inf or NaN.

    Finite weights and inputs near float64's limit (1e300 with a linear or relu
    φ, inputs of 1e308) overflow in the recurrence; every command gets this
    one-line refusal instead of NaN results. ``z`` is ``(*batch, steps, n)``,
    its first step being ``first_step``. (A state is finite when its
    pre-activation is: every φ maps finite numbers to finite numbers.)

    Raises
    ------
    ConfigError
        Naming the first step that overflowed.
    """
    bad = ~np.isfinite(z).all(axis=-1).reshape(-1, z.shape[-2]).all(axis=0)
    if bad.any():
        raise ConfigError(
            f"the forward pass overflowed at step {first_step + int(np.argmax(bad))} "
            "(a pre-activation is Inf or NaN): the weights or inputs are too large for "
            "float64; rescale them"
        )


def forward(rnn: RNN, inputs: ArrayLike, h0: ArrayLike | None = None) -> Trajectory:
    """Run an RNN on an input sequence.

    Parameters
    ----------
    rnn : RNN
    inputs : (T, m) array_like
        ``inputs[t - 1]`` is x_t.
    h0 : (n,) array_like, optional
        Initial state; zeros by default.

    Returns
    -------
    Trajectory
        ``h`` of shape (T + 1, n) and ``z`` of shape (T, n).

    Raises
    ------
    ConfigError
        If the inputs have the wrong width, no rows, or non-finite values.

    Examples
    --------
    With zero inputs a tanh RNN started at 0 stays at 0:

    >>> import numpy as np
    >>> from gradscope.model import RNN
    >>> rnn = RNN(W_hh=np.eye(2), W_xh=np.ones((2, 1)))
    >>> forward(rnn, np.zeros((3, 1))).h.tolist()
    [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    """
    h0_arr = None
    if h0 is not None:
        h0_arr = np.asarray(h0, dtype=np.float64)
        if h0_arr.shape != (rnn.hidden_size,):
            raise ConfigError(f"h0 must have shape ({rnn.hidden_size},), got {h0_arr.shape}")
        if not np.all(np.isfinite(h0_arr)):
            raise ConfigError("h0 contains NaN or Inf")
    return forward_arrays(rnn.W_hh, rnn.W_xh, rnn.b, np.asarray(inputs), h0_arr, rnn.activation)


def rnn_steps(rnn: RNN, inputs: ArrayLike, h0: ArrayLike | None = None) -> RNNSteps:
    r"""The step Jacobians :math:`J_t = \operatorname{diag}(\varphi'(z_t)) W_{hh}` of a run.

    Parameters
    ----------
    rnn : RNN
    inputs : (T, m) array_like
    h0 : (n,) array_like, optional

    Returns
    -------
    RNNSteps
        Steps ``t = 1..T``; the product ``J_T ⋯ J_{k+1}`` is
        :math:`\partial h_T / \partial h_k`.
    """
    traj = forward(rnn, inputs, h0)
    dphi = rnn.activation.derivative(traj.z)
    dphi.flags.writeable = False
    return RNNSteps(rnn.W_hh, dphi)


class IncrementalRNNSteps(RNNSteps):
    r"""RNN step Jacobians whose forward pass runs only as far as it is asked.

    Like :class:`~gradscope.numeric.steps.RNNSteps`, but ``dphi`` is filled in
    chunks the first time a step past the computed range is requested, so a
    scan that stops early (a memory horizon reached after 40 of 1000 allowed
    steps) pays only for the steps it used. Batch dimensions are allowed.

    Parameters
    ----------
    W_hh, W_xh, b, inputs, h0, activation
        As for :func:`forward_arrays`; ``inputs`` fixes T.
    chunk : int
        Steps computed per extension.
    """

    __slots__ = ("_W_xh", "_act", "_b", "_chunk", "_done", "_h", "_x")

    def __init__(
        self,
        W_hh: FloatArray,
        W_xh: FloatArray,
        b: FloatArray,
        inputs: FloatArray,
        h0: FloatArray | None,
        activation: str | Activation,
        *,
        chunk: int = 64,
    ) -> None:
        batch = W_hh.shape[:-2]
        x = _check_inputs(inputs, W_xh.shape[-1], len(batch))
        n, T = W_hh.shape[-1], x.shape[-2]
        super().__init__(W_hh, np.empty((*batch, T, n)))
        self._W_xh, self._b, self._x = W_xh, b, x
        self._act = get_activation(activation)
        self._h = np.zeros((*batch, n)) if h0 is None else np.array(h0, dtype=np.float64)
        self._chunk = max(1, int(chunk))
        self._done = 0

    def _extend(self, t: int) -> None:
        stop = min(self.T, max(t, self._done + self._chunk))
        lo = self._done
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            drive = (
                np.einsum("...nm,...tm->...tn", self._W_xh, self._x[..., lo:stop, :])
                + self._b[..., None, :]
            )
        z = np.empty_like(drive)
        h = self._h
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, in one line
            for j in range(stop - lo):
                z[..., j, :] = (self.W_hh @ h[..., :, None])[..., 0] + drive[..., j, :]
                h = self._act(z[..., j, :])
        check_finite_states(z, first_step=lo + 1)
        self.dphi[..., lo:stop, :] = self._act.derivative(z)
        self._h = h
        self._done = stop

    def _check_t(self, t: int) -> int:
        t = super()._check_t(t)
        if t > self._done:
            self._extend(t)
        return t

    def take(self, index: NDArray[np.intp]) -> IncrementalRNNSteps:
        new = IncrementalRNNSteps.__new__(IncrementalRNNSteps)
        RNNSteps.__init__(new, self.W_hh[index], self.dphi[index])
        new._W_xh, new._b, new._x = self._W_xh[index], self._b[index], self._x[index]
        new._act, new._h = self._act, self._h[index]
        new._chunk, new._done = self._chunk, self._done
        return new
