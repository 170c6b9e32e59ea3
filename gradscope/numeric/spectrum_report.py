r"""The spectrum of one run beside its bound: what ``gradscope spectrum`` shows.

Combines :func:`~gradscope.numeric.spectrum.compute_spectrum` (every singular
value of :math:`\partial h_{end}/\partial h_{start}`, exact in log10, and the
Lyapunov exponents) with the weight facts (‖W_hh‖₂, ρ(W_hh)) and the bound
:math:`(\gamma\|W_{hh}\|_2)^{end-start}`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from gradscope.init import spectral_norm, spectral_radius
from gradscope.model import RNN
from gradscope.numeric.bound import rounding_tolerance
from gradscope.numeric.spectrum import SpectrumResult, compute_spectrum

__all__ = ["SpectrumReport", "compute_spectrum_report"]

# A float64 SVD of the formed product resolves singular values down to about
# eps·σ₁: log10(2^-52) ≈ −15.65 decades below the top.
FLOAT_DECADES = -math.log10(2.0**-52)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpectrumReport:
    """A spectrum with its bound and settings (see :func:`compute_spectrum_report`)."""

    spectrum: SpectrumResult
    spectral_norm: float
    spectral_radius: float
    gamma: float
    log10_bound: float
    source: str
    input_size: int
    T: int
    input_scale: float | None

    @property
    def float_resolvable(self) -> int:
        """How many σ_i lie within float64's reach of σ₁ (what a float SVD gets right)."""
        s = self.spectrum.log10_singular_values
        return int(np.sum(s >= s[0] - FLOAT_DECADES)) if math.isfinite(s[0]) else 0

    def to_dict(self) -> dict[str, Any]:
        sp = self.spectrum.to_dict()
        return {
            "command": "spectrum",
            "product": sp["product"],
            "log10_singular_values": sp["log10_singular_values"],
            "lyapunov_exponents": sp["lyapunov_exponents"],
            "lyapunov_note": "natural log per step, QR method: asymptotic rates, "
            "not finite-T singular values",
            "bound": {
                "log10_bound": self.log10_bound if math.isfinite(self.log10_bound) else None,
                "formula": "(end - start) * log10(gamma * ||W_hh||_2)",
                "gamma": self.gamma,
                "spectral_norm": self.spectral_norm,
                "spectral_radius": self.spectral_radius,
                "holds": bool(
                    sp["log10_singular_values"][0] is None
                    or self.spectrum.log10_singular_values[0]
                    <= self.log10_bound
                    + rounding_tolerance(self.spectrum.steps, self.spectrum.hidden)
                ),
            },
            "float64_svd_resolves": self.float_resolvable,
            "settings": {
                "source": self.source,
                "activation": self.spectrum.activation,
                "hidden": self.spectrum.hidden,
                "input_size": self.input_size,
                "T": self.T,
                "start": self.spectrum.start,
                "end": self.spectrum.end,
                "seed": self.spectrum.seed,
                "input_scale": self.input_scale,
            },
            "diagnostics": {k: sp[k] for k in ("qr_count", "longest_block", "jacobi_sweeps")},
        }


def compute_spectrum_report(
    rnn: RNN,
    inputs: ArrayLike,
    h0: ArrayLike | None = None,
    *,
    start: int = 0,
    end: int | None = None,
    seed: int | None = None,
    source: str = "",
    input_scale: float | None = None,
) -> SpectrumReport:
    """The spectrum of ∂h_end/∂h_start with the bound and the weights' norm and radius."""
    x = np.asarray(inputs, dtype=np.float64)
    result = compute_spectrum(rnn, x, h0, start=start, end=end, seed=seed)
    norm = spectral_norm(rnn.W_hh)
    gamma_norm = rnn.activation.gamma * norm
    bound = result.steps * math.log10(gamma_norm) if gamma_norm > 0 else -math.inf
    return SpectrumReport(
        spectrum=result,
        spectral_norm=norm,
        spectral_radius=spectral_radius(rnn.W_hh),
        gamma=rnn.activation.gamma,
        log10_bound=bound,
        source=source,
        input_size=rnn.input_size,
        T=int(x.shape[0]),
        input_scale=input_scale,
    )


def spectrum_over_time(
    rnn: RNN,
    inputs: ArrayLike,
    h0: ArrayLike | None = None,
    *,
    points: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    r"""log10 σ_i(∂h_t/∂h_0) for about ``points`` values of t from 1 to T.

    Returns
    -------
    ts : (k,) int ndarray
    log10_sv : (k, n) ndarray
        Row j: every singular value of :math:`\partial h_{t_j}/\partial h_0`,
        descending, exact in log10.
    """
    from gradscope.numeric.forward import rnn_steps
    from gradscope.numeric.spectrum import log10_singular_values

    steps = rnn_steps(rnn, inputs, h0)
    ts = np.unique(np.linspace(1, steps.T, min(points, steps.T)).round().astype(int))
    values = np.stack([log10_singular_values(steps, end=int(t)) for t in ts])
    return ts, values
