r"""``analyze`` for a PyTorch module in memory: PyTorch's own RNNs, or any cell.

:func:`analyze_module` takes an ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` and gives
exactly what ``gradscope analyze`` gives for its state dict saved to a file
(the state dict goes through the same loader, in memory); any other module or
function ``cell(x, h) -> h_next`` is measured through
:func:`gradscope.torch.torch_steps`: every singular value of
:math:`\partial s_T/\partial s_0`, the Lyapunov exponents, the memory horizon
at the end and a verdict. The bound :math:`(\gamma\|W\|_2)^T` needs a ``W``
and a ``γ``, which an arbitrary cell does not have: it is reported as not
applicable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError
from gradscope.io_cells import layers_from_arrays
from gradscope.numeric.products import scan_product
from gradscope.numeric.spectrum import compute_singular_values
from gradscope.studies.analyze import (
    BACK,
    Analysis,
    _log10_norms_from_end,
    _verdict,
    compute_analysis,
    spectrum_fields,
)

__all__ = ["BOUND_NOTE", "CellAnalysis", "analyze_cell", "analyze_module"]

FloatArray = NDArray[np.float64]

#: Why a user's cell gets no (γ‖W‖)^T bound.
BOUND_NOTE = (
    "not applicable: the bound (gamma ||W||_2)^T needs one recurrent matrix W and "
    "gamma = sup |phi'|, which an arbitrary cell does not have"
)


def _readonly(arr: Any) -> FloatArray:
    out = np.array(arr, dtype=np.float64, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CellAnalysis:
    r"""What :func:`analyze_cell` found for a user's cell along one run.

    Attributes
    ----------
    cell : str
        The cell as the user named it (``package.module:factory``) or its type.
    state_size, T : int
    log10_singular_values, log10_error : (state_size,) ndarray
        Of :math:`\partial s_T/\partial s_0`, with the error bounds of
        :func:`~gradscope.numeric.spectrum.compute_singular_values`.
    lyapunov_exponents : (state_size,) ndarray
    threshold : float
    horizon : int or None
        The first k with :math:`\|\partial s_T/\partial s_{T-k}\|_2 < \theta`.
    log10_norm_back : tuple of (int, float)
    verdict : {"forgets", "explodes", "keeps"}
    notes : tuple of str
        Diagnostics of the Jacobian evaluations (:attr:`TorchSteps.notes`).
    """

    cell: str
    state_size: int
    T: int
    log10_singular_values: FloatArray
    log10_error: FloatArray
    lyapunov_exponents: FloatArray
    threshold: float
    horizon: int | None
    log10_norm_back: tuple[tuple[int, float], ...]
    verdict: str
    notes: tuple[str, ...]
    qr_count: int

    def __post_init__(self) -> None:
        for name in ("log10_singular_values", "log10_error", "lyapunov_exponents"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (exact zeros, log10 = −inf, as None)."""
        return {
            "cell": self.cell,
            "state": "the cell's state, flattened in order",
            "state_size": self.state_size,
            **spectrum_fields(self),
            "bound": None,
            "bound_note": BOUND_NOTE,
            "verdict": self.verdict,
            "diagnostics": {"qr_count": self.qr_count, "notes": list(self.notes)},
        }


def analyze_cell(
    cell: Any, inputs: Any, h0: Any, *, threshold: float = 1e-2, name: str | None = None
) -> CellAnalysis:
    r"""Spectrum, Lyapunov exponents, memory horizon and verdict of any PyTorch cell.

    Parameters
    ----------
    cell : callable
        ``cell(x, h) -> h_next`` (see :func:`gradscope.torch.torch_steps`).
    inputs : (T, ...) tensor or array_like
    h0 : tensor, array_like or tuple of them
    threshold : float
        θ of the memory horizon, in (0, 1).
    name : str, optional
        How to name the cell in the result (default: its type).

    Returns
    -------
    CellAnalysis
    """
    from gradscope.torch import torch_steps

    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be in (0, 1), got {threshold}")
    steps = torch_steps(cell, inputs, h0)
    T = steps.T
    spectrum = compute_singular_values(steps, end=T)
    end = steps.reversed_transposed()
    scan = scan_product(end, norm_at=1, thresholds=(threshold,), cap=T)
    found = int(scan.horizons[0])
    horizon = found if found > 0 else None
    back = _log10_norms_from_end(end, sorted({k for k in BACK if k <= T} | {T}))
    label = name if name is not None else f"{type(cell).__module__}.{type(cell).__qualname__}"
    return CellAnalysis(
        cell=label,
        state_size=steps.n,
        T=T,
        log10_singular_values=spectrum.log10_singular_values,
        log10_error=spectrum.log10_error,
        lyapunov_exponents=spectrum.lyapunov_exponents,
        threshold=float(threshold),
        horizon=horizon,
        log10_norm_back=back,
        verdict=_verdict(T, horizon, back, threshold),
        notes=steps.notes,
        qr_count=spectrum.qr_count,
    )


def _is_zero_state(h0: Any) -> bool:
    parts = h0 if isinstance(h0, (tuple, list)) else (h0,)
    for p in parts:
        arr = p.detach().cpu().numpy() if hasattr(p, "detach") else np.asarray(p)
        if np.any(arr != 0):
            return False
    return True


def analyze_module(
    module: Any, inputs: Any, h0: Any = None, *, threshold: float = 1e-2
) -> Analysis | CellAnalysis:
    r"""``gradscope analyze`` for a module in memory.

    Parameters
    ----------
    module : nn.RNN, nn.LSTM, nn.GRU, or a cell
        PyTorch's recurrent layers are analysed layer by layer from a zero state,
        exactly as ``gradscope analyze`` does for their saved state dict (same
        loader, same numbers). Anything else is a cell ``cell(x, h) -> h_next``,
        measured through :func:`gradscope.torch.torch_steps`.
    inputs : (T, m) tensor or array_like
        Layer 0's (or the cell's) inputs, unbatched.
    h0 : tensor, array_like or tuple, optional
        A cell's initial state (required for a cell). For ``nn.RNN``/``LSTM``/``GRU``
        the run starts from zeros, as on the file route; a nonzero ``h0`` is refused.
    threshold : float
        θ of the memory horizon.

    Returns
    -------
    Analysis or CellAnalysis
        :class:`~gradscope.studies.analyze.Analysis` for PyTorch's recurrent layers,
        :class:`CellAnalysis` (bound not applicable) for a cell.
    """
    import torch

    if isinstance(module, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)):
        if h0 is not None and not _is_zero_state(h0):
            raise ConfigError(
                f"nn.{type(module).__name__} is analysed from a zero state, as on the file "
                f"route of `gradscope analyze`; pass h0=None, or measure one cell from h0 "
                f"with torch_steps"
            )
        arrays = {
            k: v.detach().cpu().to(torch.float64).numpy() for k, v in module.state_dict().items()
        }
        loaded = layers_from_arrays(
            arrays, source=f"nn.{type(module).__name__} (in memory)", fmt="module"
        )
        activation = getattr(module, "nonlinearity", "tanh")
        x = inputs.detach().cpu().to(torch.float64).numpy() if torch.is_tensor(inputs) else inputs
        return compute_analysis(loaded, x, activation=activation, threshold=threshold)
    if h0 is None:
        raise ConfigError(
            f"h0 is required for a cell ({type(module).__name__}): its initial state, "
            f"a tensor or a tuple such as (h, c)"
        )
    if not math.isfinite(threshold):
        raise ConfigError(f"threshold must be finite, got {threshold}")
    return analyze_cell(module, inputs, h0, threshold=threshold)
