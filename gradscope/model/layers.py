"""One recurrent layer's weights as PyTorch stores them: a frozen :class:`LayerWeights`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["LayerWeights"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerWeights:
    """One layer's weights as PyTorch stores them, float64 and read-only.

    Attributes
    ----------
    index : int
        The layer k (``_l{k}``).
    cell : {"rnn", "lstm", "gru"}
    W_ih : (G n, m) ndarray
    W_hh : (G n, n) ndarray
    b_ih, b_hh : (G n,) ndarray
        Zeros when the file has no biases (``bias=False``).
    """

    index: int
    cell: str
    W_ih: FloatArray
    W_hh: FloatArray
    b_ih: FloatArray
    b_hh: FloatArray

    def __post_init__(self) -> None:
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            getattr(self, name).flags.writeable = False

    @property
    def hidden_size(self) -> int:
        """n, the number of hidden units."""
        return int(self.W_hh.shape[1])

    @property
    def input_size(self) -> int:
        """m, the width of this layer's input."""
        return int(self.W_ih.shape[1])
