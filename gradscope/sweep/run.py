"""Running a sweep: plan the missing rows, run their units, write the table.

See :mod:`gradscope.sweep.units` for why each configuration is one batch, and
:mod:`gradscope.sweep.output` for the table and how resumption works.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradscope.errors import ConfigError
from gradscope.sweep.executors import (
    WORKERS_CANNOT_IMPORT,
    DaskRunner,
    plan_workers,
    run_processes,
    run_serial,
    worker_threads,
)
from gradscope.sweep.grid import Configuration, SweepGrid
from gradscope.sweep.lock import lock_output
from gradscope.sweep.output import (
    ExistingTable,
    RowKey,
    check_output_path,
    columns,
    encode_row,
    header,
    output_format,
    read_table,
    row_key,
)
from gradscope.sweep.units import UnitResult, UnitTask, measure_configuration
from gradscope.sweep.writer import OrderedEmitter, TableWriter, sort_table

__all__ = [
    "WORKERS_CANNOT_IMPORT",
    "SweepSummary",
    "UnitResult",
    "UnitTask",
    "grid_order",
    "measure_configuration",
    "run_sweep",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSummary:
    """What a sweep did.

    Attributes
    ----------
    grid : SweepGrid
    out : str or None
        The output file, or None for standard output.
    format : {"csv", "jsonl"}
    mode : str
        ``serial`` (in this process), ``jobs=N`` (N local worker processes: at
        most one per configuration measured) or ``dask=ADDRESS``.
    rows : int
        Rows of the grid.
    computed, skipped : int
        Rows measured now, and rows found already in ``out``.
    dropped_partial : bool
        An interrupted last line was cut off ``out``.
    seconds : float
        Wall-clock time of the run (printed by the CLI's table line; left out of
        :meth:`to_dict`, whose JSON is byte-stable).
    threads : int
        BLAS threads of each unit: ``max(1, cores // workers)``
        (:func:`~gradscope.sweep.executors.worker_threads`), all usable cores
        when serial, 1 on a Dask cluster; in :meth:`to_dict`'s settings as
        ``worker_blas_threads``.
    """

    grid: SweepGrid
    out: str | None
    format: str
    mode: str
    rows: int
    computed: int
    skipped: int
    dropped_partial: bool
    seconds: float = field(compare=False)
    threads: int = 1

    @property
    def python(self) -> str:
        """Python lines that rebuild a row's network and inputs, in the row's column names.

        Seed index i of a run with seed S is ``instance_seed(S, i)`` (not ``seed=S``).
        """
        g = self.grid
        where = f"gradscope.instance_seed({g.seed}, seed_index)"
        return (
            f"rnn = gradscope.random_rnn(family, hidden, {g.scale_kind}=scale, "
            f"activation=activation, input_size={g.input_size}, seed={where}); "
            f"x = gradscope.random_inputs(T, {g.input_size}, seed={where}, "
            f"scale={g.input_scale!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "sweep",
            "settings": {**self.grid.to_dict(), "worker_blas_threads": self.threads},
            "out": self.out,
            "format": self.format,
            "mode": self.mode,
            "rows": self.rows,
            "computed": self.computed,
            "skipped": self.skipped,
            "dropped_partial_line": self.dropped_partial,
            "python": self.python,
            "python_names": "family, hidden, scale, activation, T, seed_index: a row's columns",
        }  # no wall-clock seconds: the same sweep gives the same bytes (DESIGN.md §5)


def _key(grid: SweepGrid, c: Configuration, seed_index: int) -> RowKey:
    return row_key(
        {
            "family": c.family,
            "scale_kind": c.scale_kind,
            "scale": c.scale,
            "hidden": c.hidden,
            "T": c.T,
            "activation": c.activation,
            "seed": grid.seed,
            "seed_index": seed_index,
            "input_size": grid.input_size,
            "input_scale": grid.input_scale,
            "horizon_cap": grid.horizon_cap,
        }
    )


def grid_order(grid: SweepGrid) -> dict[RowKey, int]:
    """Each row's key → its position in the table (configuration order, then seed)."""
    return {
        _key(grid, c, i): c.index * grid.seeds + i
        for c in grid.configurations()
        for i in range(grid.seeds)
    }


def run_sweep(
    grid: SweepGrid,
    *,
    out: str | Path | None = None,
    fmt: str = "csv",
    jobs: int = 1,
    scheduler: str | None = None,
    emit: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_start: Callable[[int, int, bool], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> SweepSummary:
    """Measure every row of the grid and write the table.

    Parameters
    ----------
    grid : SweepGrid
    out : path, optional
        A ``.csv`` or ``.jsonl`` file. Rows already in it are skipped, new rows
        are appended as each configuration finishes, and at the end the file is
        rewritten in grid order. Without ``out`` the table goes to ``emit``.
        While the sweep runs it holds the lock ``OUT.lock``
        (:func:`~gradscope.sweep.lock.lock_output`), from before it reads the
        file until after the final rewrite.
    fmt : {"csv", "jsonl"}
        The format for ``emit`` (with ``out``, its suffix decides).
    jobs : int
        Local worker processes, at most one per configuration with missing
        rows (:func:`~gradscope.sweep.executors.plan_workers`), cores // workers BLAS threads
        each, none outliving this process; 1 runs in this process.
    scheduler : str, optional
        Address of a running Dask scheduler (instead of ``jobs``).
    emit : callable, optional
        Receives the table's text when there is no ``out``.
    progress : callable, optional
        Called with (rows done, rows to do).
    on_start : callable, optional
        Called once before measuring with (rows to do, rows skipped, whether an
        interrupted last line was dropped).
    on_warning : callable, optional
        Receives each warning (more workers than usable cores); without it
        they are issued as :class:`RuntimeWarning`.

    Returns
    -------
    SweepSummary

    Raises
    ------
    OutputPathError
        If ``out`` has another suffix or cannot be written (before anything runs).
    OutputLockedError
        If another sweep is writing ``out`` (the message names its pid and host).
    TooManyJobsError
        If ``jobs`` worker processes would not fit in the free memory (before
        anything runs; the message names a ``jobs`` that fits).
    ConfigError
        If ``out`` holds another sweep's columns or malformed rows, or the Dask
        cluster is unreachable or its workers cannot import gradscope.
    """
    t0 = time.perf_counter()
    if jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {jobs}")
    if scheduler is not None and jobs != 1:
        raise ConfigError("give jobs or a Dask scheduler, not both")
    if out is not None:
        fmt = output_format(out)
        check_output_path(out)
        lock: contextlib.AbstractContextManager[object] = lock_output(out)
    elif fmt not in ("csv", "jsonl"):
        raise ConfigError(f"format must be csv or jsonl, got {fmt!r}")
    else:
        lock = contextlib.nullcontext()
    with lock:
        todo, skipped, dropped, mode, threads = _measure(
            grid, out, fmt, jobs, scheduler, emit, progress, on_start, on_warning
        )
    return SweepSummary(
        grid=grid,
        out=None if out is None else str(out),
        format=fmt,
        mode=mode,
        rows=grid.rows,
        computed=todo,
        skipped=skipped,
        dropped_partial=dropped,
        seconds=time.perf_counter() - t0,
        threads=threads,
    )


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=5)  # the caller of run_sweep


#: The most rows (configurations × seeds) one sweep plans: its plan and the table's keys
#: hold a few hundred bytes per row (10⁷ rows: a few GB), so a larger grid is split.
MAX_ROWS = 10**7


def check_grid_size(grid: SweepGrid) -> None:
    """Refuse, before the table is touched, a grid too large to plan or a batch too large.

    Raises
    ------
    SizeError
        A grid of more than :data:`MAX_ROWS` rows, or a configuration whose
        batch of seeds would not fit in memory
        (:func:`~gradscope.studies.bound.check_bound_memory`).
    """
    from gradscope.errors import SizeError
    from gradscope.studies.bound import check_bound_memory

    if grid.rows > MAX_ROWS:
        raise SizeError(
            f"the grid has {grid.rows:,} rows (configurations × seeds); one sweep plans at "
            f"most {MAX_ROWS:,}: use fewer values or seeds, or split it into several sweeps "
            "(each with its own --out)"
        )
    for c in grid.configurations():
        check_bound_memory(
            grid.seeds, c.hidden, grid.input_size, max(c.T, grid.horizon_cap), c.T, c.activation
        )


def _measure(
    grid: SweepGrid,
    out: str | Path | None,
    fmt: str,
    jobs: int,
    scheduler: str | None,
    emit: Callable[[str], None] | None,
    progress: Callable[[int, int], None] | None,
    on_start: Callable[[int, int, bool], None] | None,
    on_warning: Callable[[str], None] | None,
) -> tuple[int, int, bool, str, int]:
    """The body of :func:`run_sweep` (with ``out`` locked): (todo, skipped, dropped, mode,
    BLAS threads per unit)."""
    check_grid_size(grid)  # before the table is read or a row is planned
    cols = columns(grid.thresholds)
    done: set[RowKey] = set()
    dropped = False
    existing: ExistingTable | None = None
    if out is not None:
        existing = read_table(out, fmt, cols)
        done, dropped = set(existing.keys), existing.dropped_partial
    tasks = _plan(grid, done)
    todo = sum(len(t.wanted) for t in tasks)
    skipped = grid.rows - todo
    workers = 0
    if scheduler is not None:
        mode = f"dask={scheduler}"
    else:
        workers = plan_workers(jobs, len(tasks), warn=on_warning or _warn)
        mode = f"jobs={workers}" if workers else "serial"
    threads = 1 if scheduler is not None else worker_threads(workers)
    tasks = [dataclasses.replace(task, threads=threads) for task in tasks]
    longest_first = sorted(tasks, key=lambda t: -t.cost)
    with contextlib.ExitStack() as stack:
        results: Generator[UnitResult, None, None]
        if scheduler is not None and tasks:
            dask = DaskRunner(scheduler)
            stack.callback(dask.close)
            results = dask.run(longest_first)
        elif workers:
            results = run_processes(longest_first, workers)
        else:
            results = run_serial(tasks)
        # Closed on the way out, before the Dask client: an exception or a
        # KeyboardInterrupt cancels the pending work and ends the worker processes
        # now, not whenever the traceback holding this frame is freed.
        stack.enter_context(contextlib.closing(results))
        if on_start:
            on_start(todo, skipped, dropped)
        if progress:
            progress(0, todo)
        if out is not None and existing is not None:
            with TableWriter(out, fmt, cols, existing) as writer:
                _drain(results, lambda r: writer.append(r.rows), progress, todo)
        else:
            write = emit if emit is not None else (lambda text: None)
            if fmt == "csv":
                write(header(cols))
            emitter = OrderedEmitter((t.config.index for t in tasks), write)
            _drain(
                results,
                lambda r: emitter.add(r.index, "".join(encode_row(x, cols, fmt) for x in r.rows)),
                progress,
                todo,
            )
    if out is not None:
        sort_table(out, fmt, cols, grid_order(grid))
    return todo, skipped, dropped, mode, threads


def _plan(grid: SweepGrid, done: set[RowKey]) -> list[UnitTask]:
    """One task per configuration with a missing row, in grid order."""
    tasks = []
    for c in grid.configurations():
        wanted = tuple(i for i in range(grid.seeds) if _key(grid, c, i) not in done)
        if wanted:
            tasks.append(
                UnitTask(
                    config=c,
                    seed=grid.seed,
                    seeds=grid.seeds,
                    input_size=grid.input_size,
                    input_scale=grid.input_scale,
                    horizon_cap=grid.horizon_cap,
                    thresholds=grid.thresholds,
                    wanted=wanted,
                )
            )
    return tasks


def _drain(
    results: Iterator[UnitResult],
    sink: Callable[[UnitResult], None],
    progress: Callable[[int, int], None] | None,
    todo: int,
) -> None:
    done = 0
    for result in results:
        sink(result)
        done += len(result.rows)
        if progress:
            progress(done, todo)
