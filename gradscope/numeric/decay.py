r"""Gradient decay curves: log10 ‖∂h_t/∂h_0‖₂ for every t, per configuration and seed.

The numbers behind the decay figures: for each configuration (family, scale,
activation) the exact trajectory of :math:`\log_{10}\|\partial h_t/\partial h_0\|_2`,
t = 1..T, for every seed, the bound line :math:`t \log_{10}(\gamma\|W\|_2)` and
the memory horizon at θ (the first t below θ), so a figure only draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError
from gradscope.init import instance_seed, random_inputs, random_rnn, spectral_norm
from gradscope.model import get_activation
from gradscope.numeric.forward import forward_arrays
from gradscope.numeric.products import log10_norm_trajectory
from gradscope.numeric.steps import ConstantSteps, RNNSteps, Steps

__all__ = ["DecayCurve", "compute_decay_curves"]

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
        rows = [[float(v) if math.isfinite(v) else None for v in r] for r in self.log10_norms]
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
    curves = []
    for family in families:
        for activation in activations:
            gamma = get_activation(activation).gamma
            for scale in scales:
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
                    x = np.stack(
                        [random_inputs(T, input_size, seed=s, scale=input_scale) for s in ss]
                    )
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
