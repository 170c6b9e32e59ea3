"""Sweeps: many configurations × seeds, measured in batches, locally or on Dask.

A sweep expands a grid of weight families × norms (or radii) × hidden sizes ×
horizons × activations × seeds (:class:`SweepGrid`), measures every
configuration's seeds as one batch (:func:`run_sweep`), and writes one tidy
table, one row per (configuration, seed), as CSV or JSON lines, resumably.
See :mod:`gradscope.sweep.output` for the columns, :mod:`gradscope.sweep.lock`
for why two sweeps never write one file at once, and
:mod:`gradscope.sweep.executors` for the local worker processes.
"""

from __future__ import annotations

from gradscope.sweep.config import load_config, merge_settings
from gradscope.sweep.grid import Configuration, SweepGrid
from gradscope.sweep.output import OutputPathError, columns, output_format
from gradscope.sweep.run import (
    WORKERS_CANNOT_IMPORT,
    SweepSummary,
    measure_configuration,
    run_sweep,
)

__all__ = [
    "WORKERS_CANNOT_IMPORT",
    "Configuration",
    "OutputPathError",
    "SweepGrid",
    "SweepSummary",
    "columns",
    "load_config",
    "measure_configuration",
    "merge_settings",
    "output_format",
    "run_sweep",
]
