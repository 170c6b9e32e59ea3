r"""Runs of the zoo's published cells as the command line and the report make them.

One run (DESIGN.md §1's generated-run conventions, applied to a zoo cell): the
cell drawn by :func:`~gradscope.model.zoo.zoo_cell` from ``seed`` (its paper's
initialisation), inputs :math:`x_t \sim N(0, 1)` of width m from the seed's
input stream (:func:`~gradscope.init.random_inputs`), :math:`s_0 = 0`, and
the closed-form steps of :func:`~gradscope.numeric.zoo.zoo_steps`.
:func:`zoo_table` is the report's table: one row per cell at a small size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradscope.init import random_inputs
from gradscope.model.zoo import ZOO_NAMES, ZooCell, zoo_cell
from gradscope.numeric.spectrum import compute_singular_values
from gradscope.numeric.steps import Steps
from gradscope.numeric.zoo import zoo_steps
from gradscope.records import json_number

__all__ = [
    "INPUTS_NOTE",
    "TABLE_SIZE",
    "ZooRun",
    "zoo_header",
    "zoo_row",
    "zoo_run",
    "zoo_table",
]

#: How a zoo run's inputs and initial state are made (named in every output).
INPUTS_NOTE = "x_t ~ N(0, 1) from the seed's input stream (DESIGN.md §1); s_0 = 0"
#: The report's size for the zoo table (small: every cell's whole spectrum in seconds).
TABLE_SIZE: dict[str, int] = {"hidden": 16, "inputs": 8, "T": 100, "seed": 0}


@dataclass(frozen=True, slots=True, eq=False)
class ZooRun:
    """A zoo cell, the inputs it was run on, and its step Jacobians (s_0 = 0)."""

    cell: ZooCell
    inputs: NDArray[np.float64]
    steps: Steps
    seed: int


def zoo_run(
    name: str, *, hidden: int = 64, inputs: int = 8, T: int = 100, seed: int = 0, **hyper: Any
) -> ZooRun:
    """Draw the zoo cell ``name`` and its inputs from ``seed`` and run it from s_0 = 0."""
    cell = zoo_cell(name, hidden=hidden, inputs=inputs, seed=seed, **hyper)
    x = random_inputs(T, cell.input_size, seed=seed)
    return ZooRun(cell=cell, inputs=x, steps=zoo_steps(cell, x), seed=seed)


def zoo_header(run: ZooRun) -> dict[str, Any]:
    """The cell, its paper, every default it used, the sizes and how the inputs were drawn."""
    cell = run.cell
    return {
        "cell": cell.NAME,
        "paper": cell.PAPER.to_dict(),
        "defaults": cell.defaults(),
        "hidden_size": cell.hidden_size,
        "input_size": cell.input_size,
        "state_size": cell.state_size,
        "T": run.steps.T,
        "seed": run.seed,
        "inputs": INPUTS_NOTE,
        "product": f"ds_{run.steps.T}/ds_0",
    }


def zoo_row(run: ZooRun) -> dict[str, Any]:
    r"""One table row: log10 ‖∂s_T/∂s_0‖₂ and log10 σ_min, each with its error bar."""
    result = compute_singular_values(run.steps)
    values, errors = result.log10_singular_values, result.log10_error
    return {
        **zoo_header(run),
        "log10_norm": json_number(values[0]),
        "log10_norm_error": json_number(errors[0]),
        "log10_sigma_min": json_number(values[-1]),
        "log10_sigma_min_error": json_number(errors[-1]),
    }


def zoo_table(
    *, hidden: int | None = None, inputs: int | None = None, T: int | None = None,
    seed: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """:func:`zoo_row` of every zoo cell, in the zoo's order, at :data:`TABLE_SIZE` by default."""
    size = dict(TABLE_SIZE)
    for key, value in (("hidden", hidden), ("inputs", inputs), ("T", T), ("seed", seed)):
        if value is not None:
            size[key] = value
    return [zoo_row(zoo_run(name, **size)) for name in ZOO_NAMES]
