r"""The unit of work of a sweep: one configuration with all of its seeds.

:func:`measure_configuration` measures seeds ``0 … seeds − 1`` of one
:class:`~gradscope.sweep.grid.Configuration` by one call of
:func:`~gradscope.studies.bound.measure_instances` (the seeds stacked into one
batch), with its share of the BLAS threads (``UnitTask.threads``: the usable
cores // the workers, issue 18), and returns the rows asked for. A row therefore
depends only on its configuration and the number of seeds — never on the
execution mode, the other configurations, or how the work was split or
resumed (a configuration is measured with all its seeds even when only some
of its rows are missing).

Why configurations are not batched together: the running product of
:mod:`gradscope.numeric.products` rescales every batch entry whenever one
entry leaves its range, and ``log10 σ₁ + e·log10 2`` depends in the last bit
on where the power of two sits; with an extreme scale in a batch (‖W‖₂ = 1000
or 0.001, say) its batch-mates change in the last bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gradscope.sweep.grid import Configuration

__all__ = ["UnitResult", "UnitTask", "measure_configuration"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitTask:
    """One configuration to measure, with the run's settings.

    Attributes
    ----------
    config : Configuration
    seed, seeds : int
        Run seed S; seeds ``0 … seeds − 1`` are always measured together.
    input_size, input_scale, horizon_cap, thresholds
        As for :func:`~gradscope.studies.bound.measure_instances`.
    wanted : tuple of int
        The seed indices whose rows are returned.
    threads : int
        BLAS threads for the unit (a worker's share of the cores; never raised
        above what the process has).
    """

    config: Configuration
    seed: int
    seeds: int
    input_size: int
    input_scale: float
    horizon_cap: int
    thresholds: tuple[float, ...]
    wanted: tuple[int, ...]
    threads: int = 1

    @property
    def cost(self) -> float:
        """A rough relative cost, to start the longest units first."""
        c = self.config
        steps = max(c.T, self.horizon_cap)
        return steps * (1.0 + self.seeds * c.hidden**3 / 50_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitResult:
    """The rows of one configuration (column → value), in seed order."""

    index: int
    rows: tuple[dict[str, Any], ...]
    seconds: float


def measure_configuration(task: UnitTask) -> UnitResult:
    """Measure every seed of one configuration in one batch, with ``task.threads`` BLAS threads.

    Returns
    -------
    UnitResult
        The rows of ``task.wanted``.
    """
    from gradscope.model import get_activation
    from gradscope.studies.bound import Instance, measure_instances, rounding_tolerance

    t0 = time.perf_counter()
    c = task.config
    scale = {c.scale_kind: c.scale}
    instances = [
        Instance(family=c.family, seed=task.seed, index=i, **scale) for i in range(task.seeds)
    ]
    from gradscope.threads import at_most

    with at_most(task.threads):
        measured = measure_instances(
            instances,
            activation=c.activation,
            T=c.T,
            hidden=c.hidden,
            input_size=task.input_size,
            input_scale=task.input_scale,
            thresholds=task.thresholds,
            horizon_cap=task.horizon_cap,
        )
    gamma = get_activation(c.activation).gamma
    tolerance = rounding_tolerance(c.T, c.hidden)
    wanted = set(task.wanted)
    rows = []
    for sb in measured:
        if sb.seed not in wanted:
            continue
        row: dict[str, Any] = {
            **_settings(task, sb.seed),
            "gamma": float(gamma),
            "spectral_norm": float(sb.spectral_norm),
            "log10_measured": float(sb.log10_measured),
            "log10_bound": float(sb.log10_bound),
            "log10_ratio": float(sb.log10_ratio),
            "holds": bool(sb.holds),
            "tolerance_log10": float(tolerance),
        }
        for h in sb.horizons:
            label = repr(float(h.threshold))
            row[f"horizon_measured@{label}"] = h.measured
            row[f"horizon_predicted@{label}"] = h.predicted
        rows.append(row)
    return UnitResult(index=c.index, rows=tuple(rows), seconds=time.perf_counter() - t0)


def _settings(task: UnitTask, seed_index: int) -> dict[str, Any]:
    c = task.config
    return {
        "family": c.family,
        "scale_kind": c.scale_kind,
        "scale": float(c.scale),
        "hidden": c.hidden,
        "T": c.T,
        "activation": c.activation,
        "seed": task.seed,
        "seed_index": seed_index,
        "seeds": task.seeds,
        "input_size": task.input_size,
        "input_scale": float(task.input_scale),
        "horizon_cap": task.horizon_cap,
    }
