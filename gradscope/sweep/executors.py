"""Where the units of a sweep run: this process, local worker processes, or Dask.

Each runner takes the tasks (longest first, for the parallel ones) and
yields their :class:`~gradscope.sweep.units.UnitResult` s as they finish.
:func:`plan_workers` decides how many local workers a sweep starts (no more
than it has tasks, and no more than fit in memory); :func:`run_processes` runs
them, and no worker outlives the process that started it.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from gradscope import machine
from gradscope.errors import ConfigError
from gradscope.sweep.units import UnitResult, UnitTask, measure_configuration
from gradscope.sweep.worker import init_worker

__all__ = [
    "WORKERS_CANNOT_IMPORT",
    "DaskRunner",
    "TooManyJobsError",
    "plan_workers",
    "process_pool",
    "run_processes",
    "run_serial",
]

WORKERS_CANNOT_IMPORT = (
    "the Dask workers cannot import gradscope: install it on every worker (pip install gradscope)"
)
_WORKER_DIED = (
    "a local worker process died unexpectedly (killed, perhaps for lack of memory); the rows "
    "already written are kept: rerun the same command to resume, with a lower --jobs if "
    "memory is short"
)


class TooManyJobsError(ConfigError):
    """The requested worker processes would not fit in this machine's free memory."""


def _mib(n: int) -> int:
    return -(-n // 2**20)


def plan_workers(jobs: int, pending: int, *, warn: Callable[[str], None]) -> int:
    """How many local worker processes to start for ``pending`` tasks and ``jobs`` asked.

    At most one worker per pending task (a configuration with missing rows).
    Two or more workers are checked against free memory, each counted as
    :data:`~gradscope.machine.WORKER_RSS_BYTES`; more workers than
    :func:`~gradscope.machine.usable_cores` is allowed, with a warning.

    Parameters
    ----------
    jobs : int
        Worker processes asked for (>= 1).
    pending : int
        Tasks to run.
    warn : callable
        Receives the one warning, if the workers outnumber the usable cores.

    Returns
    -------
    int
        The number of worker processes; 0 when the tasks run in this process
        (``jobs`` is 1 or there is at most one task).

    Raises
    ------
    TooManyJobsError
        If the workers need more memory than ``MemAvailable``; the message
        names the ``--jobs`` that would fit.

    Examples
    --------
    >>> plan_workers(100_000, 1, warn=print), plan_workers(1, 50, warn=print)
    (0, 0)
    """
    workers = min(jobs, pending)
    if workers <= 1:
        return 0
    available = machine.meminfo_available()
    per_worker = machine.WORKER_RSS_BYTES
    if available is not None and workers * per_worker > available:
        fit = available // per_worker
        advice = f"--jobs {fit} or fewer" if fit >= 2 else "--jobs 1 (no worker processes)"
        raise TooManyJobsError(
            f"{workers} worker processes need about {_mib(workers * per_worker)} MiB "
            f"({_mib(per_worker)} MiB each) but only {available // 2**20} MiB of memory is "
            f"available; use {advice}"
        )
    cores = machine.usable_cores()
    if workers > cores:
        warn(
            f"{workers} worker processes on {cores} usable CPU core{'s' * (cores != 1)} "
            f"(CPU affinity and cgroup quota): they take turns, so --jobs {cores} would be "
            "as fast"
        )
    return workers


def worker_threads(workers: int) -> int:
    """BLAS threads of each of ``workers`` worker processes: ``max(1, cores // workers)``.

    The usable cores (:func:`~gradscope.machine.usable_cores`) shared out;
    ``workers`` 0 (serial, in this process) gets them all. Recorded in the
    sweep's settings.

    Examples
    --------
    >>> worker_threads(10**6)
    1
    """
    return max(1, machine.usable_cores() // max(1, workers))


def run_serial(tasks: Sequence[UnitTask]) -> Generator[UnitResult, None, None]:
    """Run the tasks one after the other in this process."""
    for task in tasks:
        yield measure_configuration(task)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` local processes, each started by :func:`.worker.init_worker`.

    The processes are *spawned* (a fresh interpreter each), not forked: a fork
    would copy this process's threads' locks mid-use (BLAS pools, a Dask
    client) and every open file descriptor, the output's lock included; and
    with ``forkserver`` the workers would be children of the fork server, not
    of this process, so their parent-death signal and their check of
    ``os.getppid()`` would watch the wrong process. A spawned worker is a
    direct child, and its environment is set before it loads numpy. Starting
    costs a fraction of a second per worker.

    The pool starts its workers lazily, in ``submit`` (Python 3.11): submit
    from the thread that outlives the work, since a worker's parent-death
    signal fires when the thread that started it exits.
    """
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(os.getpid(), worker_threads(workers)),
    )


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers now (running units are abandoned), drop pending ones, reap them all."""
    terminate = getattr(pool, "terminate_workers", None)  # public from Python 3.14
    if terminate is not None:  # pragma: no cover - Python >= 3.14
        terminate()
    else:
        processes = pool._processes  # private but stable through Python 3.13
        for process in list(processes.values() if processes else ()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_processes(tasks: Sequence[UnitTask], workers: int) -> Generator[UnitResult, None, None]:
    """Run the tasks on ``workers`` local processes, yielding their results as they finish.

    The tasks are queued in the order given (give the longest first). All of
    them are submitted before the first result is awaited, so every worker is
    started by the calling thread (see :func:`process_pool`). If the consumer
    stops early, by an exception, a KeyboardInterrupt or ``close()``, the
    pending tasks are cancelled and the workers ended before this returns.

    Raises
    ------
    ConfigError
        If a worker process dies (killed from outside, say).
    """
    pool = process_pool(workers)
    finished = False
    try:
        futures = [pool.submit(measure_configuration, task) for task in tasks]
        for future in as_completed(futures):
            try:
                result = future.result()
            except BrokenProcessPool:
                raise ConfigError(_WORKER_DIED) from None
            yield result
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop(pool)


class DaskRunner:
    """A connection to an existing Dask scheduler whose workers can import gradscope."""

    def __init__(self, address: str) -> None:
        try:  # imported as an untyped module: only its documented calls are used
            distributed: Any = importlib.import_module("distributed")
        except ImportError:
            raise ConfigError(
                "--scheduler needs Dask's distributed package: "
                "pip install 'gradscope[distributed]'"
            ) from None
        self._distributed = distributed
        try:
            self.client: Any = distributed.Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"cannot connect to the Dask scheduler at {address}: {exc}"
            ) from None
        try:
            self.client.wait_for_workers(1, timeout=30)
            # A builtin, so the probe itself needs nothing from gradscope on the worker.
            self.client.run(exec, "import gradscope.sweep.units")
        except ImportError:
            self.close()
            raise ConfigError(WORKERS_CANNOT_IMPORT) from None
        except TimeoutError:
            self.close()
            raise ConfigError(f"the Dask cluster at {address} has no workers") from None

    def run(self, tasks: Sequence[UnitTask]) -> Generator[UnitResult, None, None]:
        futures = [
            self.client.submit(measure_configuration, t, pure=False, priority=len(tasks) - i)
            for i, t in enumerate(tasks)
        ]
        try:
            for _, result in self._distributed.as_completed(
                futures, with_results=True, loop=self.client.loop
            ):
                yield result
        except ImportError as exc:
            if "gradscope" in str(exc):
                raise ConfigError(WORKERS_CANNOT_IMPORT) from None
            raise
        finally:
            self.client.cancel(futures)

    def close(self) -> None:
        self.client.close()
