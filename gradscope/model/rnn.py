r"""The parameters of a vanilla (Elman) RNN: a frozen :class:`RNN`.

The recurrence (DESIGN.md §1), for :math:`t = 1, \dots, T`:

.. math::

    z_t = W_{hh} h_{t-1} + W_{xh} x_t + b, \qquad h_t = \varphi(z_t),

with ``W_hh`` of shape (n, n), ``W_xh`` of shape (n, m) and ``b`` of shape (n,).
The step Jacobian is :math:`J_t = \partial h_t / \partial h_{t-1} =
\operatorname{diag}(\varphi'(z_t))\, W_{hh}`, and :math:`\gamma = \sup|\varphi'|`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError
from gradscope.model.activations import Activation, get_activation

__all__ = ["RNN"]

FloatArray = NDArray[np.float64]


def _frozen_array(value: ArrayLike, name: str, ndim: int) -> FloatArray:
    arr = np.array(value, dtype=np.float64, copy=True)
    if arr.ndim != ndim:
        raise ConfigError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} contains NaN or Inf; gradscope needs finite weights")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, slots=True, kw_only=True)
class RNN:
    r"""The parameters of a vanilla (Elman) RNN, immutable.

    Parameters
    ----------
    W_hh : (n, n) array_like
        Recurrent weights.
    W_xh : (n, m) array_like
        Input weights.
    b : (n,) array_like, optional
        Bias; zeros by default.
    activation : str or Activation, optional
        ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"linear"``.

    Raises
    ------
    ConfigError
        If a shape is wrong, ``W_hh`` is not square, or a value is not finite.

    Notes
    -----
    The arrays are copied and made read-only, so an ``RNN`` never changes
    after construction.

    Examples
    --------
    >>> import numpy as np
    >>> rnn = RNN(W_hh=0.5 * np.eye(3), W_xh=np.ones((3, 2)))
    >>> rnn.hidden_size, rnn.input_size, rnn.activation.name
    (3, 2, 'tanh')
    """

    W_hh: FloatArray
    W_xh: FloatArray
    b: FloatArray = None  # type: ignore[assignment]  # filled in __post_init__
    activation: Activation = "tanh"  # type: ignore[assignment]  # normalised below

    def __post_init__(self) -> None:
        W_hh = _frozen_array(self.W_hh, "W_hh", 2)
        if W_hh.shape[0] != W_hh.shape[1] or W_hh.shape[0] == 0:
            raise ConfigError(f"W_hh must be square and non-empty, got shape {W_hh.shape}")
        n = W_hh.shape[0]
        W_xh = _frozen_array(self.W_xh, "W_xh", 2)
        if W_xh.shape[0] != n:
            raise ConfigError(
                f"W_xh must have {n} rows (one per hidden unit, like W_hh), got shape {W_xh.shape}"
            )
        b = _frozen_array(np.zeros(n) if self.b is None else self.b, "b", 1)
        if b.shape != (n,):
            raise ConfigError(f"b must have shape ({n},), got {b.shape}")
        object.__setattr__(self, "W_hh", W_hh)
        object.__setattr__(self, "W_xh", W_xh)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "activation", get_activation(self.activation))

    @property
    def hidden_size(self) -> int:
        """n, the number of hidden units."""
        return int(self.W_hh.shape[0])

    @property
    def input_size(self) -> int:
        """m, the width of one input vector."""
        return int(self.W_xh.shape[1])

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain lists, for JSON."""
        return {
            "activation": self.activation.name,
            "W_hh": self.W_hh.tolist(),
            "W_xh": self.W_xh.tolist(),
            "b": self.b.tolist(),
        }
