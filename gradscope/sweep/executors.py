"""Where the units of a sweep run: this process, local processes (loky) or Dask.

Each runner takes the tasks (longest first, for the parallel ones) and
yields their :class:`~gradscope.sweep.units.UnitResult` s as they finish.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any

from gradscope.errors import ConfigError
from gradscope.sweep.units import UnitResult, UnitTask, measure_configuration

__all__ = ["WORKERS_CANNOT_IMPORT", "DaskRunner", "run_loky", "run_serial"]

WORKERS_CANNOT_IMPORT = (
    "the Dask workers cannot import gradscope: install it on every worker (pip install gradscope)"
)


def run_serial(tasks: Sequence[UnitTask]) -> Iterator[UnitResult]:
    """Run the tasks one after the other in this process."""
    for task in tasks:
        yield measure_configuration(task)


def run_loky(tasks: Sequence[UnitTask], jobs: int) -> Iterator[UnitResult]:
    """Run the tasks on ``jobs`` local processes (joblib's loky), yielding as they finish."""
    from joblib import Parallel, delayed, parallel_config  # type: ignore[import-untyped]

    # Each worker process gets one BLAS/OpenMP thread (environment variables set by loky).
    with parallel_config(backend="loky", inner_max_num_threads=1):
        parallel = Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=1)
        results = parallel(delayed(measure_configuration)(t) for t in tasks)
    yield from results


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

    def run(self, tasks: Sequence[UnitTask]) -> Iterator[UnitResult]:
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
