"""The parameters of one ``nn.LSTM`` or ``nn.GRU`` layer, frozen, in PyTorch's gate order.

:class:`LSTMCell` stacks the gates (i, f, g, o), :class:`GRUCell` (r, z, n); the
equations, forward passes and step Jacobians are in :mod:`gradscope.numeric.cells`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError

__all__ = ["GRUCell", "LSTMCell"]

FloatArray = NDArray[np.float64]


def _frozen(value: ArrayLike, name: str, shape: tuple[int, ...]) -> FloatArray:
    arr = np.array(value, dtype=np.float64, copy=True)
    if arr.shape != shape:
        raise ConfigError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} contains NaN or Inf; gradscope needs finite weights")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, slots=True, kw_only=True)
class _GatedCell:
    W_ih: FloatArray
    W_hh: FloatArray
    b_ih: FloatArray = None  # type: ignore[assignment]  # zeros when omitted
    b_hh: FloatArray = None  # type: ignore[assignment]

    gates = 1

    def __post_init__(self) -> None:
        W_hh = np.asarray(self.W_hh)
        G = self.gates
        if W_hh.ndim != 2 or W_hh.shape[1] == 0 or W_hh.shape[0] != G * W_hh.shape[1]:
            raise ConfigError(
                f"W_hh must be ({G}n, n) for {type(self).__name__}, got {W_hh.shape}"
            )
        n = W_hh.shape[1]
        W_ih = np.asarray(self.W_ih)
        if W_ih.ndim != 2 or W_ih.shape[0] != G * n:
            raise ConfigError(
                f"W_ih must be ({G * n}, m) to match W_hh {W_hh.shape}, got {W_ih.shape}"
            )
        m = W_ih.shape[1]
        zero = np.zeros(G * n)
        object.__setattr__(self, "W_hh", _frozen(W_hh, "W_hh", (G * n, n)))
        object.__setattr__(self, "W_ih", _frozen(W_ih, "W_ih", (G * n, m)))
        for name in ("b_ih", "b_hh"):
            value = getattr(self, name)
            object.__setattr__(
                self, name, _frozen(zero if value is None else value, name, (G * n,))
            )

    @property
    def hidden_size(self) -> int:
        """n, the number of hidden units."""
        return int(self.W_hh.shape[1])

    @property
    def input_size(self) -> int:
        """m, the width of one input vector."""
        return int(self.W_ih.shape[1])

    def block(self, gate: int) -> FloatArray:
        """The recurrent block of gate ``gate`` (in PyTorch's order), ``(n, n)``."""
        n = self.hidden_size
        return self.W_hh[gate * n : (gate + 1) * n]

    def _inputs(self, inputs: ArrayLike) -> FloatArray:
        x = np.asarray(inputs, dtype=np.float64)
        m = self.input_size
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != m:
            raise ConfigError(
                f"inputs must have shape (T, m) = (T, {m}) with T >= 1, got {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ConfigError("inputs contain NaN or Inf; gradscope needs finite inputs")
        return x

    def _state(self, value: ArrayLike | None, name: str) -> FloatArray:
        n = self.hidden_size
        if value is None:
            return np.zeros(n)
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != (n,) or not np.all(np.isfinite(arr)):
            raise ConfigError(f"{name} must be a finite ({n},) vector, got shape {arr.shape}")
        return arr


@dataclass(frozen=True, slots=True, kw_only=True)
class LSTMCell(_GatedCell):
    """One ``nn.LSTM`` layer's parameters, gates (i, f, g, o); immutable.

    Parameters
    ----------
    W_ih : (4n, m) array_like
    W_hh : (4n, n) array_like
    b_ih, b_hh : (4n,) array_like, optional
        Zeros when omitted (``bias=False``).
    """

    gates = 4
    names = ("i", "f", "g", "o")

    @property
    def state_size(self) -> int:
        """2n: the state is (h, c)."""
        return 2 * self.hidden_size


@dataclass(frozen=True, slots=True, kw_only=True)
class GRUCell(_GatedCell):
    """One ``nn.GRU`` layer's parameters, gates (r, z, n); immutable.

    Parameters
    ----------
    W_ih : (3n, m) array_like
    W_hh : (3n, n) array_like
    b_ih, b_hh : (3n,) array_like, optional
        Zeros when omitted; kept apart (``b_hn`` is inside the reset product).
    """

    gates = 3
    names = ("r", "z", "n")

    @property
    def state_size(self) -> int:
        """n: the state is h."""
        return self.hidden_size
