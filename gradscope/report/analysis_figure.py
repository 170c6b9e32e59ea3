r"""The figure of ``gradscope analyze --plot``: each layer's memory curve.

One axes: per layer, :math:`\log_{10}\|\partial s_T/\partial s_{T-k}\|_2` against
k = 1..T (from :func:`gradscope.studies.memory.compute_memory_curves`), the
threshold θ as a horizontal line, and a marker where each curve first falls below
it (the memory horizon). Okabe–Ito colours; a ``Figure``, never ``pyplot``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from gradscope.errors import ConfigError
from gradscope.report.figures import OKABE_ITO

if TYPE_CHECKING:
    from gradscope.studies.memory import MemoryCurve

__all__ = ["plot_memory_curves"]

_CELL_NAMES = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _label(c: MemoryCurve) -> str:
    state = "s = (h, c)" if c.cell == "lstm" else "s = h"
    horizon = (
        f"horizon {c.horizon}" if c.horizon is not None else f"not reached within {c.T} steps"
    )
    zero = np.flatnonzero(np.isneginf(c.log10_norms))
    exact = f"; exactly 0 from k = {int(zero[0]) + 1}" if zero.size else ""
    return f"layer {c.layer} ({_CELL_NAMES.get(c.cell, c.cell)}, {state}): {horizon}{exact}"


def plot_memory_curves(curves: Sequence[MemoryCurve], *, title: str | None = None) -> Figure:
    r"""log10 ‖∂s_T/∂s_(T−k)‖₂ against k for each layer, with θ and each memory horizon.

    Parameters
    ----------
    curves : sequence of MemoryCurve
        One per layer, all with the same θ.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Layer ``L``'s curve is the line with ``gid`` ``"memory-layer-L"`` (its data are
        ``curve.k`` and ``curve.log10_norms``, exact zeros, −inf, left out as NaN), its
        horizon marker ``"horizon-layer-L"``, the threshold line ``"threshold"``.

    Raises
    ------
    ConfigError
        For no curves, or curves with different thresholds.
    """
    if not curves:
        raise ConfigError("plot_memory_curves needs at least one curve")
    theta = curves[0].threshold
    if any(c.threshold != theta for c in curves):
        raise ConfigError("every curve of one figure must use the same threshold θ")
    fig = Figure(figsize=(7.5, 4.8), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    log_theta = math.log10(theta)
    T_max = max(c.T for c in curves)
    for j, c in enumerate(curves):
        colour = OKABE_ITO[j % len(OKABE_ITO)]
        y = np.where(np.isfinite(c.log10_norms), c.log10_norms, np.nan)
        ax.plot(c.k, y, color=colour, lw=1.6, label=_label(c), gid=f"memory-layer-{c.layer}")
        if c.horizon is not None and math.isfinite(c.log10_norms[c.horizon - 1]):
            ax.plot(
                [c.horizon],
                [c.log10_norms[c.horizon - 1]],
                ls="none",
                marker=_MARKERS[j % len(_MARKERS)],
                ms=8,
                mfc="white",
                mec=colour,
                mew=2,
                gid=f"horizon-layer-{c.layer}",
            )
        elif c.horizon is not None:  # the product is exactly zero at the horizon
            ax.axvline(c.horizon, color=colour, lw=1, ls=":", gid=f"horizon-layer-{c.layer}")
    ax.axhline(
        log_theta,
        color="0.35",
        lw=1,
        ls="--",
        label=f"threshold θ = {theta:g} (log10 θ = {log_theta:.2f})",
        gid="threshold",
    )
    ax.set_xlim(0.5 if T_max < 20 else 0, T_max + (0.5 if T_max < 20 else 0))
    ax.set_xlabel(
        "k: steps back from the end of the run (the product ∂s_T/∂s_(T−k) has k factors)"
    )
    ax.set_ylabel("log10 ‖∂s_T/∂s_(T−k)‖₂ (spectral norm)")
    ax.set_title(
        title
        or "How much of a change k steps back reaches the final state s_T\n"
        "(open marker: the memory horizon, the first k below θ)",
        fontsize=10,
    )
    ax.grid(True, color="0.9", lw=0.6)
    ax.legend(fontsize=8, loc="best")
    return fig
