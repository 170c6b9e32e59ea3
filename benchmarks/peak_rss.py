"""The largest rise of the resident set while a block runs, for the benchmarks' memory columns."""

from __future__ import annotations

import math
import threading


def _release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so that the
    next run's allocations raise the resident set instead of reusing freed pages."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: peaks may read low
        pass


class PeakRSS:
    """Largest increase of the resident set while the block runs (sampled every 2 ms)."""

    def __init__(self) -> None:
        _release_free_memory()
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is installed here
            self._proc = None
        else:
            self._proc = psutil.Process()
        self.mb = math.nan

    def _rss(self) -> int:
        assert self._proc is not None
        return int(self._proc.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        if self._proc is None:
            return self
        self._base = self._peak = self._rss()
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.002):
                self._peak = max(self._peak, self._rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        self.mb = (self._peak - self._base) / 1e6
