r"""Spectral norm and spectral radius of a matrix, and scaling a matrix to an exact one of them.

‖W‖₂ is the largest singular value; ρ(W), the largest eigenvalue modulus, is a
different number and never called a norm (DESIGN.md §1). :mod:`gradscope.init` draws
its weight families with these; they take any square array.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError

__all__ = [
    "SCALE_RANGE",
    "check_scale",
    "scale_to_norm",
    "scale_to_radius",
    "spectral_norm",
    "spectral_radius",
]

FloatArray = NDArray[np.float64]


def spectral_norm(W: FloatArray) -> float:
    """‖W‖₂, the largest singular value."""
    return float(np.linalg.svd(W, compute_uv=False)[0])


def spectral_radius(W: FloatArray) -> float:
    """ρ(W), the largest eigenvalue modulus (not a norm)."""
    return float(np.max(np.abs(np.linalg.eigvals(W))))


#: Target norms and radii gradscope scales a W_hh to: beyond, W has lost its digits
#: (its entries leave float64's normal range, or every product of two overflows).
SCALE_RANGE = (1e-300, 1e300)


def check_scale(value: float, what: str) -> float:
    """``value`` as a float if it is a target norm or radius in :data:`SCALE_RANGE`.

    Raises
    ------
    ConfigError
        Otherwise, naming the range.
    """
    value = float(value)
    lo, hi = SCALE_RANGE
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ConfigError(
            f"the target {what} must lie in [{lo:g}, {hi:g}], got {value:g}: a W_hh scaled "
            "further has lost its digits"
        )
    return value


def scale_to_norm(W: FloatArray, norm: float) -> FloatArray:
    """Return ``c W`` with spectral norm exactly ``norm`` (to a few ulps).

    Raises
    ------
    ConfigError
        If ``norm`` is not finite and positive, or W is zero.
    """
    norm = check_scale(norm, "spectral norm")
    current = spectral_norm(W)
    if current == 0.0:
        raise ConfigError("cannot scale the zero matrix to a positive spectral norm")
    return W * (norm / current)


def scale_to_radius(W: FloatArray, radius: float) -> FloatArray:
    """Return ``c W`` with spectral radius exactly ``radius`` (to a few ulps).

    Raises
    ------
    ConfigError
        If ``radius`` is not finite and positive, or W is nilpotent (ρ = 0).
    """
    radius = check_scale(radius, "spectral radius")
    current = spectral_radius(W)
    if current == 0.0:
        raise ConfigError(
            "W has spectral radius 0 (nilpotent), so no scaling reaches a positive "
            "radius; scale it by spectral norm instead"
        )
    return W * (radius / current)
