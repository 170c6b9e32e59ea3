"""Tools the papers' claims share: zoo-cell products charged to a budget, and their files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradscope.claims.base import Budget
from gradscope.claims.cell_counterexample import CellCounterexample
from gradscope.errors import ConfigError
from gradscope.numeric.spectrum import SpectrumResult, compute_singular_values
from gradscope.numeric.steps import Steps

__all__ = [
    "cell_counterexample",
    "cell_norm",
    "cell_spectrum",
    "cell_steps",
    "errors_of",
    "replayed_run",
]

FloatArray = NDArray[np.float64]


def cell_steps(cell: Any, inputs: FloatArray, s0: FloatArray | None = None) -> Steps:
    """The step Jacobians J_t = ∂s_t/∂s_(t−1) of a zoo cell's run (closed form)."""
    from gradscope.numeric.zoo import zoo_steps

    steps: Steps = zoo_steps(cell, inputs, s0)
    return steps


def cell_spectrum(
    budget: Budget | None, steps: Steps, *, start: int = 0, end: int | None = None
) -> SpectrumResult:
    """Every log10 singular value of ∂s_end/∂s_start with its error bound (one evaluation)."""
    if budget is not None:
        budget.spend()
    return compute_singular_values(steps, start=start, end=end)


def cell_norm(
    budget: Budget | None, cell: Any, inputs: FloatArray, s0: FloatArray | None = None
) -> dict[str, float]:
    """log10 ‖∂s_T/∂s_0‖₂ of a zoo cell's run and its error bound (one evaluation).

    An exact zero's NaN bound is read as 0, as in :func:`errors_of`.
    """
    from gradscope.numeric.products import compute_spectral_norm

    if budget is not None:
        budget.spend()
    norm = compute_spectral_norm(cell_steps(cell, inputs, s0))
    err = float(norm.log10_error)
    return {"log10_norm": float(norm.log10_norm), "log10_error": 0.0 if math.isnan(err) else err}


def errors_of(spectrum: SpectrumResult) -> FloatArray:
    """The error bounds, an exact zero's NaN read as 0 (it has no error)."""
    err = np.asarray(spectrum.log10_error, dtype=np.float64)
    out: FloatArray = np.where(np.isnan(err), 0.0, err)
    return out


def cell_counterexample(
    claim: str,
    cell: Any,
    inputs: FloatArray,
    *,
    start: int,
    end: int,
    observed: Mapping[str, Any],
    note: str,
    seed: int,
    extra: Mapping[str, Any] | None = None,
) -> CellCounterexample:
    """Package a finding on a zoo cell as a replayable file (zero initial state)."""
    return CellCounterexample(
        claim=claim,
        cell=cell,
        s0=np.zeros(cell.state_size),
        inputs=inputs,
        start=start,
        end=end,
        extra=extra or {},
        observed=observed,
        note=note,
        seed=seed,
    )


def replayed_run(cex: Any, claim: str, name: str) -> tuple[Any, FloatArray, FloatArray]:
    """``(cell, inputs, s0)`` of a file's run, the inputs cut at ``end``.

    Raises
    ------
    ConfigError
        The file does not carry a ``name`` cell block.
    """
    if not isinstance(cex, CellCounterexample) or cex.cell.NAME != name:
        article = "an" if name[0] in "aeiou" else "a"
        raise ConfigError(f"a {claim} counterexample must carry {article} {name} cell block")
    return cex.cell, cex.inputs[: cex.end], cex.s0
