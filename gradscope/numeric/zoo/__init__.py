r"""Forward passes and closed-form step Jacobians of the zoo's published cells.

:func:`zoo_forward` runs a cell of :mod:`gradscope.model.zoo` over inputs
``(T, m)`` and returns the states :math:`s_0, \dots, s_T` (``(T + 1, state_size)``);
:func:`zoo_steps` returns :math:`J_t = \partial s_t / \partial s_{t-1}`, t = 1..T,
as a :class:`~gradscope.numeric.steps.Steps` in closed form:

=================  ==============================================================
cell               :math:`J_t`
=================  ==============================================================
indrnn             :math:`\operatorname{diag}(\sigma'(z_t) \odot u)` (:class:`DiagonalSteps`)
antisymmetric      :math:`I + \operatorname{diag}(\tanh'(a_t))\, \epsilon (W - W^\top - \gamma I)`
cornn              the 2n × 2n block matrix of :class:`CoRNNSteps`
lipschitz          :math:`I + \epsilon A_\beta + \operatorname{diag}(\tanh'(a_t)) \epsilon W_\beta`
mingru             :math:`\operatorname{diag}(1 - z_t)`
s6                 :math:`\operatorname{diag}(\exp(\Delta_t \otimes A))` (D·N entries)
jordan             :math:`A` (:class:`~gradscope.numeric.steps.ConstantSteps`)
=================  ==============================================================

The equations, with the papers' numbers, are in each cell's module docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError, NumericalError
from gradscope.model import get_activation
from gradscope.numeric.steps import ConstantSteps, Steps
from gradscope.numeric.zoo._steps import AffineSteps, CoRNNSteps, DiagonalSteps

__all__ = ["AffineSteps", "CoRNNSteps", "DiagonalSteps", "zoo_forward", "zoo_steps"]

FloatArray = NDArray[np.float64]
_TANH = get_activation("tanh")


def _inputs(cell: Any, inputs: ArrayLike) -> FloatArray:
    x = np.asarray(inputs, dtype=np.float64)
    m = cell.input_size
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != m:
        raise ConfigError(
            f"inputs must have shape (T, m) = (T, {m}) for {cell.NAME} with T >= 1, "
            f"got {np.shape(inputs)}"
        )
    if not np.all(np.isfinite(x)):
        raise ConfigError("inputs contain NaN or Inf; gradscope needs finite inputs")
    return x


def _initial(cell: Any, s0: ArrayLike | None) -> FloatArray:
    S = cell.state_size
    if s0 is None:
        return np.zeros(S)
    arr = np.array(s0, dtype=np.float64)
    if arr.shape != (S,) or not np.all(np.isfinite(arr)):
        raise ConfigError(
            f"s0 must be a finite ({S},) vector for {cell.NAME}, got shape {arr.shape}"
        )
    return arr


def _check_finite(state: FloatArray, t: int, T: int, name: str) -> None:
    if not np.all(np.isfinite(state)):
        raise NumericalError(
            f"the {name} state is not finite at step t={t} (of {T}): NaN or Inf in s_{t}; "
            f"the Jacobians after it are undefined"
        )


def _sigmoid(a: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * a))
    return out


Runner = Callable[[Any, FloatArray, FloatArray], tuple[FloatArray, Steps]]


def _run_indrnn(cell: Any, x: FloatArray, s0: FloatArray) -> tuple[FloatArray, Steps]:
    act = get_activation(cell.activation)
    T, n = x.shape[0], cell.hidden_size
    states, d, pattern = np.empty((T + 1, n)), np.empty((T, n)), np.empty((T, n), dtype=bool)
    states[0] = s0
    drive = x @ cell.W_ih.T + cell.b
    for t in range(1, T + 1):
        z = drive[t - 1] + cell.u * states[t - 1]
        states[t] = act(z)
        _check_finite(states[t], t, T, "indrnn")
        dphi = act.derivative(z)
        d[t - 1] = dphi * cell.u
        # relu' is exactly 0 or 1; tanh' > 0 exactly (a computed 0 is an underflow)
        pattern[t - 1] = (cell.u != 0.0) & ((dphi != 0.0) if cell.activation == "relu" else True)
    return states, DiagonalSteps(d, pattern)


def _run_antisymmetric(cell: Any, x: FloatArray, s0: FloatArray) -> tuple[FloatArray, Steps]:
    T, n = x.shape[0], cell.hidden_size
    M = cell.M
    states, c = np.empty((T + 1, n)), np.empty((T, n))
    states[0] = s0
    drive = x @ cell.V.T + cell.b
    for t in range(1, T + 1):
        a = M @ states[t - 1] + drive[t - 1]
        states[t] = states[t - 1] + cell.eps * np.tanh(a)
        _check_finite(states[t], t, T, "antisymmetric")
        c[t - 1] = _TANH.derivative(a)
    return states, AffineSteps(np.eye(n), cell.eps * M, c)


def _run_lipschitz(cell: Any, x: FloatArray, s0: FloatArray) -> tuple[FloatArray, Steps]:
    T, n = x.shape[0], cell.hidden_size
    A, W = cell.A_beta, cell.W_beta
    states, c = np.empty((T + 1, n)), np.empty((T, n))
    states[0] = s0
    drive = x @ cell.U.T + cell.b
    for t in range(1, T + 1):
        h = states[t - 1]
        a = W @ h + drive[t - 1]
        states[t] = h + cell.eps * (A @ h) + cell.eps * np.tanh(a)
        _check_finite(states[t], t, T, "lipschitz")
        c[t - 1] = _TANH.derivative(a)
    return states, AffineSteps(np.eye(n) + cell.eps * A, cell.eps * W, c)


def _run_cornn(cell: Any, x: FloatArray, s0: FloatArray) -> tuple[FloatArray, Steps]:
    T, n = x.shape[0], cell.hidden_size
    states, d = np.empty((T + 1, 2 * n)), np.empty((T, n))
    states[0] = s0
    drive = x @ cell.V.T + cell.b
    dt = cell.dt
    for t in range(1, T + 1):
        y, z = states[t - 1, :n], states[t - 1, n:]
        a = cell.W @ y + cell.W_z @ z + drive[t - 1]
        z_new = z + dt * (np.tanh(a) - cell.gamma * y - cell.eps * z)
        states[t, n:] = z_new
        states[t, :n] = y + dt * z_new
        _check_finite(states[t], t, T, "cornn")
        d[t - 1] = _TANH.derivative(a)
    return states, CoRNNSteps(cell.W, cell.W_z, d, dt, cell.gamma, cell.eps)


def _run_mingru(cell: Any, x: FloatArray, s0: FloatArray) -> tuple[FloatArray, Steps]:
    T, n = x.shape[0], cell.hidden_size
    a = x @ cell.W_z.T + cell.b_z
    z, keep = _sigmoid(a), _sigmoid(-a)  # 1 - σ(a) = σ(-a), without cancellation
    cand = x @ cell.W_h.T + cell.b_h
    states = np.empty((T + 1, n))
    states[0] = s0
    for t in range(1, T + 1):
        states[t] = keep[t - 1] * states[t - 1] + z[t - 1] * cand[t - 1]
        _check_finite(states[t], t, T, "mingru")
    return states, DiagonalSteps(keep)


def _run_s6(cell: Any, x: FloatArray, s0: FloatArray) -> tuple[FloatArray, Steps]:
    T, D, N = x.shape[0], cell.hidden_size, cell.state_dim
    u = x @ cell.W_in.T  # (T, D)
    delta = np.logaddexp(0.0, u @ cell.W_delta.T + cell.b_delta)  # softplus, (T, D)
    B = u @ cell.W_B.T  # (T, N)
    decay = np.exp(delta[:, :, None] * cell.A[None, :, :])  # (T, D, N)
    push = delta[:, :, None] * B[:, None, :] * u[:, :, None]
    states = np.empty((T + 1, D * N))
    states[0] = s0
    for t in range(1, T + 1):
        states[t] = decay[t - 1].ravel() * states[t - 1] + push[t - 1].ravel()
        _check_finite(states[t], t, T, "s6")
    return states, DiagonalSteps(decay.reshape(T, D * N))


def _run_jordan(cell: Any, x: FloatArray, s0: FloatArray) -> tuple[FloatArray, Steps]:
    T, n = x.shape[0], cell.hidden_size
    A = cell.A
    A.flags.writeable = False
    states = np.empty((T + 1, n))
    states[0] = s0
    drive = x @ cell.B.T
    for t in range(1, T + 1):
        states[t] = A @ states[t - 1] + drive[t - 1]
        _check_finite(states[t], t, T, "jordan")
    return states, ConstantSteps(A, T)


_RUNNERS: dict[str, Runner] = {
    "indrnn": _run_indrnn,
    "antisymmetric": _run_antisymmetric,
    "cornn": _run_cornn,
    "lipschitz": _run_lipschitz,
    "mingru": _run_mingru,
    "s6": _run_s6,
    "jordan": _run_jordan,
}


def _run(cell: Any, inputs: ArrayLike, s0: ArrayLike | None) -> tuple[FloatArray, Steps]:
    name = getattr(cell, "NAME", None)
    if name not in _RUNNERS:
        raise ConfigError(
            f"{type(cell).__name__} is not a zoo cell (gradscope.model.zoo): "
            f"build one with zoo_cell(name, ...)"
        )
    x = _inputs(cell, inputs)
    with np.errstate(over="ignore", invalid="ignore"):
        states, steps = _RUNNERS[name](cell, x, _initial(cell, s0))
    states.flags.writeable = False
    return states, steps


def zoo_forward(cell: Any, inputs: ArrayLike, s0: ArrayLike | None = None) -> FloatArray:
    """The states :math:`s_0, \\dots, s_T` of a zoo cell, shape ``(T + 1, state_size)``.

    Parameters
    ----------
    cell : a cell of :mod:`gradscope.model.zoo`
    inputs : (T, m) array_like
        Row ``t - 1`` is :math:`x_t`.
    s0 : (state_size,) array_like, optional
        The initial state (zeros when omitted); coRNN's is (y_0, z_0), S6's
        the (D, N) state flattened row-major.

    Raises
    ------
    ConfigError
        Inputs of the wrong shape, or not a zoo cell.
    NumericalError
        A state is not finite.
    """
    return _run(cell, inputs, s0)[0]


def zoo_steps(cell: Any, inputs: ArrayLike, s0: ArrayLike | None = None) -> Steps:
    r"""The step Jacobians :math:`J_t = \partial s_t / \partial s_{t-1}`, t = 1..T, in closed form.

    Same arguments and errors as :func:`zoo_forward`. The product
    ``J_T ⋯ J_{k+1}`` is :math:`\partial s_T / \partial s_k`; pass the result to
    :func:`~gradscope.numeric.spectrum.compute_singular_values` and the rest of
    :mod:`gradscope.numeric`.

    Examples
    --------
    >>> from gradscope.model.zoo import zoo_cell
    >>> import numpy as np
    >>> cell = zoo_cell("mingru", hidden=3, inputs=2)
    >>> steps = zoo_steps(cell, np.zeros((5, 2)))
    >>> steps.n, steps.T
    (3, 5)
    """
    return _run(cell, inputs, s0)[1]
