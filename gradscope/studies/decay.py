r"""Gradient decay curves: log10 ‖∂h_t/∂h_0‖₂ for every t, per configuration and seed.

The numbers behind the decay figures: for each configuration (family, scale,
activation) the exact trajectory of :math:`\log_{10}\|\partial h_t/\partial h_0\|_2`,
t = 1..T, for every seed, the bound line :math:`t \log_{10}(\gamma\|W\|_2)` and
the memory horizon at θ (the first t below θ), so a figure only draws.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradscope import progress
from gradscope.errors import ConfigError
from gradscope.init import instance_seed, random_inputs, random_rnn
from gradscope.model import get_activation
from gradscope.numeric.forward import forward_arrays
from gradscope.numeric.norms import spectral_norm
from gradscope.numeric.products import log10_norm_trajectory
from gradscope.numeric.steps import ConstantSteps, RNNSteps, Steps
from gradscope.records import json_numbers
from gradscope.studies.spectrum_report import (
    _ENTRY,
    _LOOP,
    _N2,
    _PRODUCT_N3,
    WorkEstimate,
    check_work,
    estimate_network_work,
    largest_fitting,
)

__all__ = ["DecayCurve", "check_decay_work", "compute_decay_curves", "estimate_decay_work"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecayCurve:
    r"""One configuration's decay over seeds.

    Attributes
    ----------
    family, activation : str
    scale_kind : {"norm", "radius"}
    scale : float
    log10_norms : (seeds, T) ndarray
        Row i: log10 :math:`\|\partial h_t/\partial h_0\|_2`, t = 1..T, of seed i.
    log10_bound_per_step : float
        log10(γ‖W‖₂) of the worst seed (largest ‖W‖₂), the slope of the bound line.
    horizon : int or None
        The first t where the median over seeds falls below ``threshold``.
    threshold : float
    """

    family: str
    activation: str
    scale_kind: str
    scale: float
    log10_norms: FloatArray
    log10_bound_per_step: float
    horizon: int | None
    threshold: float

    def __post_init__(self) -> None:
        self.log10_norms.flags.writeable = False

    @property
    def label(self) -> str:
        sym = "‖W‖₂" if self.scale_kind == "norm" else "ρ(W)"
        return f"{self.family}, {self.activation}, {sym} = {self.scale:g}"

    def to_dict(self) -> dict[str, Any]:
        rows = [json_numbers(r) for r in self.log10_norms]
        return {
            "family": self.family,
            "activation": self.activation,
            "scale_kind": self.scale_kind,
            "scale": self.scale,
            "log10_norms": rows,
            "log10_bound_per_step": self.log10_bound_per_step,
            "horizon": self.horizon,
            "threshold": self.threshold,
        }


def estimate_decay_work(
    *,
    configurations: int,
    nonlinear: int,
    T: int,
    hidden: int,
    seeds: int,
    input_size: int = 8,
) -> WorkEstimate:
    """Peak memory and time of :func:`compute_decay_curves`.

    Parameters
    ----------
    configurations : int
        family × activation × scale combinations, run one after the other.
    nonlinear : int
        How many of them have a non-linear activation (they need a forward pass).
    T, hidden, seeds, input_size : int
        As :func:`compute_decay_curves`.

    Notes
    -----
    Kept: every finished curve (seeds × T floats). Working set of one
    configuration: the seeds' networks and the stacked ``W_hh``, the running
    product with its temporaries (6 seeds n²), the trajectory as T small arrays
    (about 200 bytes each) and its stacked copy; with a non-linear φ also the
    inputs (twice, 2 seeds T m) and the forward pass (its drive, h, z, φ'(z) and
    their temporaries: 6 seeds T n). Time: per step, a product and an SVD per seed.
    """
    c, k, T, n, s, m = configurations, nonlinear, int(T), int(hidden), int(seeds), input_size
    gen = estimate_network_work(n, input_size=m, count=s)
    floats = c * s * T + s * T + 7 * s * n * n + (s * T * (2 * m + 6 * n) if k else 0)
    nbytes = max(gen.bytes, 8.0 * floats + 200.0 * T)
    step = _LOOP + s * (_ENTRY + _N2 * n * n + _PRODUCT_N3 * n**3)
    forward = _LOOP / 4 + s * 2e-9 * n * n
    seconds = c * (gen.seconds + T * step) + k * T * forward
    return WorkEstimate(nbytes, seconds)


def check_decay_work(
    *,
    configurations: int,
    nonlinear: int,
    T: int,
    hidden: int,
    seeds: int,
    input_size: int = 8,
    what: str = "the decay curves",
    available: int | None = None,
    max_seconds: float = math.inf,
) -> None:
    """Refuse, before any work, decay curves that would not fit in memory or time.

    Raises
    ------
    SizeError
        With the estimates and the largest ``--T`` (or, if none, what else) that fits.
    """

    def est(t: int, n: int = hidden, s: int = seeds) -> WorkEstimate:
        return estimate_decay_work(
            configurations=configurations,
            nonlinear=nonlinear,
            T=t,
            hidden=n,
            seeds=s,
            input_size=input_size,
        )

    def fix(avail: int | None) -> str:
        t = largest_fitting(est, T, available=avail, max_seconds=max_seconds)
        if t:
            return f"--T {t} fits (or fewer seeds, configurations or --hidden)"
        n = largest_fitting(lambda v: est(1, v), hidden, available=avail, max_seconds=max_seconds)
        return f"even --T 1 does not fit; --hidden {n} does" if n else "reduce --hidden"

    check_work(
        est(T),
        what=f"{what} ({configurations} configuration(s), n = {hidden}, {seeds} seed(s), T = {T})",
        fix=fix,
        available=available,
        max_seconds=max_seconds,
    )


def compute_decay_curves(
    *,
    families: Sequence[str],
    activations: Sequence[str],
    scales: Sequence[float],
    scale_kind: str = "norm",
    T: int = 100,
    hidden: int = 64,
    seeds: int = 5,
    seed: int = 0,
    input_size: int = 8,
    input_scale: float = 1.0,
    threshold: float = 1e-2,
) -> list[DecayCurve]:
    """Exact decay curves for every family × activation × scale, over seeds.

    Raises
    ------
    ConfigError
        For an unknown scale kind or empty choices.
    """
    if scale_kind not in ("norm", "radius"):
        raise ConfigError(f"scale_kind must be 'norm' or 'radius', got {scale_kind!r}")
    if not (families and activations and scales):
        raise ConfigError("give at least one family, activation and scale")
    configurations = len(families) * len(activations) * len(scales)
    check_decay_work(  # memory only: the commands also refuse long runs
        configurations=configurations,
        nonlinear=len(families) * len(scales) * sum(a != "linear" for a in activations),
        T=T,
        hidden=hidden,
        seeds=seeds,
        input_size=input_size,
    )
    curves = []
    with progress.task("decay curves", configurations * T) as task:
        for family, activation, scale in itertools.product(families, activations, scales):
            gamma = get_activation(activation).gamma
            ss = [instance_seed(seed, i) for i in range(seeds)]
            rnns = [
                random_rnn(
                    family,
                    hidden,
                    activation=activation,
                    input_size=input_size,
                    seed=s,
                    **{scale_kind: float(scale)},
                )
                for s in ss
            ]
            W = np.stack([r.W_hh for r in rnns])
            steps: Steps
            if activation == "linear":
                steps = ConstantSteps(W, T)
            else:
                x = np.stack([random_inputs(T, input_size, seed=s, scale=input_scale) for s in ss])
                traj = forward_arrays(
                    W,
                    np.stack([r.W_xh for r in rnns]),
                    np.zeros((seeds, hidden)),
                    x,
                    None,
                    activation,
                )
                steps = RNNSteps(W, get_activation(activation).derivative(traj.z))
            logs = np.asarray(log10_norm_trajectory(steps))
            task.advance(T)
            median = np.median(logs, axis=0)
            below = np.nonzero(median < math.log10(threshold))[0]
            worst = max(spectral_norm(r.W_hh) for r in rnns) * gamma
            curves.append(
                DecayCurve(
                    family=family,
                    activation=activation,
                    scale_kind=scale_kind,
                    scale=float(scale),
                    log10_norms=logs,
                    log10_bound_per_step=math.log10(worst) if worst > 0 else -math.inf,
                    horizon=int(below[0]) + 1 if below.size else None,
                    threshold=threshold,
                )
            )
    return curves
