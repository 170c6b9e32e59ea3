r"""Memory curves of trained layers: log10 ‖∂s_T/∂s_(T−k)‖₂ for k = 1..T (``analyze --plot``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope import progress
from gradscope.errors import ConfigError
from gradscope.io_cells import LoadedLayers
from gradscope.numeric.steps import Steps
from gradscope.records import json_numbers
from gradscope.studies.analyze import (
    _log10_norms_from_end,
    _readonly,
    _run_inputs,
    check_analysis_work,
    layer_model,
    layer_steps,
)

__all__ = ["MemoryCurve", "compute_memory_curves", "memory_curve"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryCurve:
    r"""How much of a change k steps before the end reaches the final state, k = 1..T.

    Attributes
    ----------
    layer : int
    cell : {"rnn", "lstm", "gru"}
    state_size : int
        Size of s (2n for an LSTM: (h, c), h first).
    T : int
        Steps of the run.
    threshold : float
        θ of the memory horizon.
    log10_norms : (T,) ndarray
        Entry ``k - 1`` is :math:`\log_{10}\|\partial s_T/\partial s_{T-k}\|_2`, exact
        (the product is carried with an exact power-of-two scale, so it never
        underflows); ``-inf`` where the product is exactly zero.
    horizon : int or None
        The first k with :math:`\|\partial s_T/\partial s_{T-k}\|_2 < θ`; None if the
        curve stays at or above θ for all T steps.
    """

    layer: int
    cell: str
    state_size: int
    T: int
    threshold: float
    log10_norms: FloatArray
    horizon: int | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "log10_norms", _readonly(self.log10_norms))

    @property
    def k(self) -> NDArray[np.int64]:
        """The distances 1..T back from the end."""
        return np.arange(1, self.T + 1, dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (exact zeros, log10 = −inf, as None)."""
        return {
            "layer": self.layer,
            "cell": self.cell,
            "state": "h" if self.cell != "lstm" else "(h, c), h first",
            "state_size": self.state_size,
            "T": self.T,
            "definition": "log10 ||ds_T/ds_(T-k)||_2 for k = 1..T",
            "threshold": self.threshold,
            "horizon": self.horizon,
            "log10_norms": json_numbers(self.log10_norms),
        }


def memory_curve(
    steps: Steps, *, threshold: float = 1e-2, layer: int = 0, cell: str = "rnn"
) -> MemoryCurve:
    r""":math:`\log_{10}\|\partial s_T/\partial s_{T-k}\|_2` for every k = 1..T, in one pass.

    The product :math:`(\partial s_T/\partial s_{T-k})^\top = J_{T-k+1}^\top \cdots J_T^\top`
    grows one factor per k from the end (matrix-free, through ``apply_transpose``),
    rescaled by an exact power of two after every step, with an SVD at each k: O(T n³).

    Parameters
    ----------
    steps : Steps
        The step Jacobians :math:`J_1, \dots, J_T` of one layer (no batch dimensions).
    threshold : float
        θ in (0, 1) of the memory horizon.
    layer, cell :
        Recorded in the result.

    Returns
    -------
    MemoryCurve

    Raises
    ------
    ConfigError
        For θ outside (0, 1), batched steps, or steps without a known T.

    Examples
    --------
    A one-unit RNN with w = 0.5 and zero inputs halves the gradient at every step,
    so ‖∂h_T/∂h_(T−k)‖₂ = 0.5**k, below 0.01 from k = 7 on:

    >>> import numpy as np
    >>> from gradscope.model import RNN
    >>> from gradscope.numeric.forward import rnn_steps
    >>> rnn = RNN(W_hh=[[0.5]], W_xh=[[1.0]], activation="tanh")
    >>> c = memory_curve(rnn_steps(rnn, np.zeros((2000, 1))))
    >>> c.horizon, round(float(c.log10_norms[-1]), 4)  # 0.5**2000 is below float64
    (7, -602.06)
    """
    if not (isinstance(threshold, float | int) and 0 < threshold < 1):
        raise ConfigError(f"threshold must be in (0, 1), got {threshold!r}")
    if steps.batch_shape != ():
        raise ConfigError(f"memory_curve takes one run, not a batch {steps.batch_shape}")
    if steps.T is None or steps.T < 1:
        raise ConfigError("memory_curve needs steps with a known T >= 1")
    T = int(steps.T)
    back = _log10_norms_from_end(steps.reversed_transposed(), range(1, T + 1))
    values = np.array([v for _, v in back], dtype=np.float64)
    below = np.flatnonzero(values < math.log10(threshold))
    return MemoryCurve(
        layer=layer,
        cell=cell,
        state_size=steps.n,
        T=T,
        threshold=float(threshold),
        log10_norms=values,
        horizon=int(below[0]) + 1 if below.size else None,
    )


def compute_memory_curves(
    loaded: LoadedLayers,
    inputs: ArrayLike | None = None,
    *,
    T: int | None = None,
    layers: Sequence[int] | None = None,
    activation: str = "tanh",
    threshold: float = 1e-2,
) -> tuple[MemoryCurve, ...]:
    r"""The memory curve of each layer, on the same run as :func:`compute_analysis`.

    Same arguments and checks as :func:`compute_analysis` (zero initial state; layer
    k > 0 driven by layer k − 1's outputs; without ``inputs``, ``T`` steps of zeros).
    Each curve's horizon is the :attr:`LayerAnalysis.horizon` of the same layer.

    Returns
    -------
    tuple of MemoryCurve
        One per reported layer, in layer order.

    Examples
    --------
    >>> from gradscope.io_cells import layers_from_arrays
    >>> w = layers_from_arrays({"weight_hh_l0": [[0.5]], "weight_ih_l0": [[1.0]]})
    >>> [round(float(v), 3) for v in compute_memory_curves(w, T=3)[0].log10_norms]
    [-0.301, -0.602, -0.903]
    """
    x, wanted = _run_inputs(loaded, inputs, T, layers, activation, threshold)
    check_analysis_work(loaded, int(x.shape[0]), wanted, curves=True, max_seconds=math.inf)
    curves = []
    run = loaded.layers[: wanted[-1] + 1]
    with progress.task("memory curves: layers", len(run)) as task:
        for w in run:
            steps, outputs = layer_steps(layer_model(w, activation), x)
            if w.index in wanted:
                curves.append(memory_curve(steps, threshold=threshold, layer=w.index, cell=w.cell))
            x = outputs
            task.advance()
    return tuple(curves)
