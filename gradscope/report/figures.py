"""Figures from results: matplotlib ``Figure`` objects rendered by Agg, never ``plt.show()``.

Every function takes result objects computed elsewhere and returns a
:class:`matplotlib.figure.Figure`; :func:`save_figure` writes PNG or SVG
atomically. Colours are the Okabe–Ito palette (safe for colour-blind readers),
and every axis says what it shows and in which units.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure  # a Figure, not pyplot: no global state, no display

from gradscope.errors import ConfigError
from gradscope.io_folder import replace_file

if TYPE_CHECKING:
    from gradscope.claims.base import ClaimCheck
    from gradscope.studies.decay import DecayCurve
    from gradscope.studies.spectrum_report import SpectrumReport

__all__ = [
    "OKABE_ITO",
    "plot_claims",
    "plot_decay",
    "plot_eigenvalues",
    "plot_heatmap",
    "plot_lyapunov",
    "plot_spectrum_over_time",
    "save_figure",
]

OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",
)
VERDICT_COLOURS = {"holds": "#009E73", "holds-under": "#E69F00", "violated": "#D55E00"}


def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Write a figure as PNG or SVG (by suffix), atomically.

    Raises
    ------
    ConfigError
        For another suffix or a folder that does not exist.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in (".png", ".svg"):
        raise ConfigError(f"{p}: figures are written as .png or .svg, not {ext or 'no suffix'}")
    folder = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(folder):
        raise ConfigError(f"{p}: the folder {folder} does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(p)}.tmp{ext}")
    try:
        fig.savefig(
            tmp,
            format=ext[1:],
            metadata={"Software": "gradscope"}
            if ext == ".png"
            else {"Creator": "gradscope", "Date": None},
        )
        replace_file(tmp, p)  # an existing figure keeps its mode; a new one follows the umask
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def plot_decay(
    curves: Sequence[DecayCurve], *, title: str | None = None, show_bound: bool = True
) -> Figure:
    """log10 ‖∂h_t/∂h_0‖₂ against t: median over seeds, min–max band, bound and horizon."""
    fig = _figure()
    ax = fig.add_subplot()
    for k, c in enumerate(curves):
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        T = c.log10_norms.shape[1]
        t = np.arange(1, T + 1)
        finite = np.where(np.isfinite(c.log10_norms), c.log10_norms, np.nan)
        horizon = f"horizon {c.horizon}" if c.horizon is not None else f"horizon > {T}"
        ax.plot(
            t, np.nanmedian(finite, axis=0), color=colour, lw=1.8, label=f"{c.label} ({horizon})"
        )
        ax.fill_between(
            t, np.nanmin(finite, axis=0), np.nanmax(finite, axis=0), color=colour, alpha=0.15, lw=0
        )
        if show_bound and math.isfinite(c.log10_bound_per_step):
            ax.plot(t, t * c.log10_bound_per_step, color=colour, lw=1, ls="--")
        if c.horizon is not None:  # the practical limit, computed: where the median crosses θ
            ax.plot(
                [c.horizon], [math.log10(c.threshold)], marker="v", ms=8, color=colour, ls="none"
            )
    if curves:
        ax.axhline(
            math.log10(curves[0].threshold),
            color="0.5",
            lw=0.8,
            ls="-.",
            label=f"threshold θ = {curves[0].threshold:g}",
        )
    ax.set_xlabel("t (steps back from h_t to h_0)")
    ax.set_ylabel("log10 ‖∂h_t/∂h_0‖₂ (spectral norm)")
    ax.set_title(title or "Gradient decay: measured (solid, band = seeds) and bound (dashed)")
    ax.plot(
        [],
        [],
        marker="v",
        ls="none",
        color="0.3",
        label="memory horizon: first t with median below θ",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_eigenvalues(W: np.ndarray, *, title: str | None = None) -> Figure:
    """Eigenvalues of W_hh with the unit circle, the spectral-radius and spectral-norm circles."""
    eig = np.linalg.eigvals(W)
    rho = float(np.max(np.abs(eig)))
    norm = float(np.linalg.norm(W, 2))
    fig = _figure(5.5, 5.5)
    ax = fig.add_subplot()
    theta = np.linspace(0, 2 * np.pi, 400)
    for r, colour, ls, name in (
        (1.0, "0.4", "-", "unit circle"),
        (rho, OKABE_ITO[0], "--", f"spectral radius ρ = {rho:.3g}"),
        (norm, OKABE_ITO[1], ":", f"spectral norm ‖W‖₂ = {norm:.3g}"),
    ):
        ax.plot(r * np.cos(theta), r * np.sin(theta), color=colour, ls=ls, lw=1.2, label=name)
    ax.scatter(eig.real, eig.imag, s=12, color=OKABE_ITO[2], label="eigenvalues", zorder=3)
    ax.set_aspect("equal")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title(title or f"Eigenvalues of W_hh (‖W‖₂/ρ = {norm / rho:.2f})" if rho else "")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def plot_spectrum_over_time(
    ts: np.ndarray, log10_sv: np.ndarray, *, title: str | None = None
) -> Figure:
    """log10 σ_i(∂h_t/∂h_0) against t, one line per i (σ₁ on top)."""
    fig = _figure()
    ax = fig.add_subplot()
    n = log10_sv.shape[1]
    cmap = matplotlib.colormaps["viridis"]
    for i in range(n):
        ax.plot(ts, log10_sv[:, i], color=cmap(i / max(n - 1, 1)), lw=0.9)
    ax.set_xlabel("t (factors in ∂h_t/∂h_0)")
    ax.set_ylabel("log10 σ_i(∂h_t/∂h_0)")
    ax.set_title(title or f"The whole singular spectrum over time (n = {n}; yellow = smallest)")
    ax.grid(alpha=0.3)
    return fig


def plot_lyapunov(report: SpectrumReport, *, title: str | None = None) -> Figure:
    """Finite-T singular values per step beside the Lyapunov exponents (both in log10 per step)."""
    sp = report.spectrum
    fig = _figure()
    ax = fig.add_subplot()
    i = np.arange(1, sp.hidden + 1)
    ax.plot(
        i,
        sp.log10_singular_values / sp.steps,
        "o-",
        ms=3,
        color=OKABE_ITO[0],
        label="finite-T: log10 σ_i / (end − start)",
    )
    ax.plot(
        i,
        sp.lyapunov_exponents / math.log(10),
        "s--",
        ms=3,
        color=OKABE_ITO[1],
        label="Lyapunov exponents λ_i / ln 10 (asymptotic)",
    )
    ax.set_xlabel("index i")
    ax.set_ylabel("log10 growth per step")
    ax.set_title(title or f"Spectrum of ∂h_{sp.end}/∂h_{sp.start} and Lyapunov exponents")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_claims(
    results: Sequence[ClaimCheck], trajectories: Mapping[str, np.ndarray] | None = None
) -> Figure:
    """The verdicts as a coloured table, and counterexample trajectories where given."""
    traj = dict(trajectories or {})
    fig = _figure(9.0, 4.5 if not traj else 7.5)
    grid = fig.add_gridspec(2 if traj else 1, 1, height_ratios=[1, 1] if traj else [1])
    ax = fig.add_subplot(grid[0])
    ax.axis("off")
    cells = [[r.id, r.verdict, str(len(r.counterexamples))] for r in results]
    table = ax.table(
        cellText=cells,
        colLabels=["claim", "verdict", "counterexamples"],
        loc="center",
        cellLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    for row, r in enumerate(results, start=1):
        table[row, 1].set_facecolor(VERDICT_COLOURS.get(r.verdict, "white"))
    ax.set_title("The tutorial's claims, judged by search (DESIGN.md §4)")
    if traj:
        ax2 = fig.add_subplot(grid[1])
        for k, (name, values) in enumerate(traj.items()):
            ax2.plot(np.arange(1, values.size + 1), values, color=OKABE_ITO[k % 8], label=name)
        ax2.set_xlabel("t (factors)")
        ax2.set_ylabel("log10 ‖∂h_t/∂h_start‖₂")
        ax2.set_title("Counterexample trajectories")
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8)
    return fig


def plot_heatmap(
    values: np.ndarray,
    x_labels: Sequence[Any],
    y_labels: Sequence[Any],
    *,
    x_name: str,
    y_name: str,
    value_name: str,
    title: str | None = None,
) -> Figure:
    """A heat map of one measured value over a grid (e.g. a sweep), annotated."""
    fig = _figure()
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap="cividis", aspect="auto", origin="lower")
    ax.set_xticks(range(len(x_labels)), [str(v) for v in x_labels])
    ax.set_yticks(range(len(y_labels)), [str(v) for v in y_labels])
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    finite = values[np.isfinite(values)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):  # dark text on the bright (high) end of cividis, light on the dark
            ax.text(
                j,
                i,
                f"{v:.3g}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if v > mid else "white",
            )
    fig.colorbar(im, ax=ax, label=value_name)
    ax.set_title(title or value_name)
    return fig
