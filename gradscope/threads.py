r"""BLAS thread pools inside gradscope's own heavy calls (the ground floor).

numpy and scipy each bundle an OpenBLAS with its own thread pool, and OpenBLAS
threads busy-wait: while one library's pool works, the other's spins, and on
few cores the two stall each other (DESIGN.md §5). :func:`blas_pools` is what
the library enters around a hot loop that keeps one library's BLAS busy: the
other pool is limited to one thread for the duration, the busy one keeps its
count (or is lowered to a given one), and on exit every pool gets back exactly
the count it had, also when the loop raises.

Rules (issue 18):

* a limit is only ever lowered, never raised: a pool the user limited to 1
  thread stays at 1;
* nested entries (and entries from a second thread while one is active) are
  no-ops: only the outermost entry changes and restores the pools;
* small inputs skip it all (:data:`MIN_SIZE`): claim searches make about 10⁴
  calls at n <= 8, and a pool lookup there costs more than the work;
* without threadpoolctl nothing happens, at the cost of one failed import
  (cached).

The pool lookup (a ``threadpoolctl.ThreadpoolController``) is built once, on
first use, and again only when numpy or ``scipy.linalg`` has been imported since
(scipy's OpenBLAS is loaded with ``scipy.linalg``). It imports nothing of
gradscope and only the standard library at import time, so every layer may
use it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Literal

__all__ = ["MIN_SIZE", "at_most", "blas_pools", "pool_threads"]

#: Inputs with fewer rows than this (the hidden size n) leave the pools alone.
#: Measured on the development machine (2 cores shared with other work,
#: numpy 2.4.6, scipy 1.17.1, threadpoolctl 3.8.0; issue 18): building the
#: lookup costs 6.5 ms once, entering and leaving with it cached 8.5 µs, while
#: ``compute_singular_values`` of a tanh RNN at T = 100 takes 39 ms at n = 8,
#: 49 ms at n = 32 and 74 ms at n = 64. Below n = 32 OpenBLAS multiplies on one
#: thread anyway, so there is nothing to limit, and the 10⁴ calls of a claim
#: search (n <= 8) never build the lookup at all.
MIN_SIZE = 32

Library = Literal["numpy", "scipy"]

_lock = threading.Lock()
_active = [False]  # is an outermost entry in force (in any thread)?


@lru_cache(maxsize=4)
def _controller(loaded: tuple[bool, bool]) -> Any:
    """threadpoolctl's controller for the BLAS pools loaded now, or None without it.

    ``loaded`` (numpy imported, ``scipy.linalg`` imported) is the cache key: a
    library imported later brings a pool the old lookup does not know.
    """
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
    except ImportError:
        return None
    return ThreadpoolController()


def _loaded() -> tuple[bool, bool]:
    return "numpy" in sys.modules, "scipy.linalg" in sys.modules


def _library(filepath: str) -> Library | None:
    """Which bundle a BLAS belongs to, by its folder (``numpy.libs``, ``scipy.libs``)."""
    if "numpy.libs" in filepath or "/numpy/" in filepath:
        return "numpy"
    if "scipy.libs" in filepath or "/scipy/" in filepath:
        return "scipy"
    return None


def _blas_pools() -> list[tuple[Any, Library | None]]:
    """(threadpoolctl's library controller, whose it is) for each loaded BLAS pool."""
    controller = _controller(_loaded())
    if controller is None:
        return []
    return [
        (lib, _library(str(lib.filepath)))
        for lib in controller.lib_controllers
        if lib.user_api == "blas"
    ]


def pool_threads() -> dict[str, int]:
    """The thread count of each loaded BLAS pool, by library (``"numpy"``, ``"scipy"``).

    A BLAS that is neither numpy's nor scipy's bundle is named by its file.
    Empty without threadpoolctl.

    Returns
    -------
    dict of str to int

    Examples
    --------
    >>> import numpy
    >>> all(count >= 1 for count in pool_threads().values())
    True
    """
    out: dict[str, int] = {}
    for lib, library in _blas_pools():
        out[library or str(lib.filepath)] = int(lib.num_threads)
    return out


@contextmanager
def blas_pools(n: int, busy: Library, threads: int | None = None) -> Iterator[None]:
    """Limit the BLAS pools for a hot loop of size ``n`` that keeps ``busy``'s BLAS working.

    Every other BLAS pool gets one thread; ``busy``'s keeps its count, or is
    lowered to ``threads``. No count is ever raised, and each pool gets back the
    count it had when the outermost entry began. Nested entries, entries from
    another thread while one is in force, ``n <`` :data:`MIN_SIZE` and a missing
    threadpoolctl do nothing.

    Parameters
    ----------
    n : int
        The size of the work (rows of the matrices the loop multiplies).
    busy : {"numpy", "scipy"}
        The library whose BLAS the loop uses.
    threads : int, optional
        At most this many threads for ``busy``'s pool (default: as it is).

    Examples
    --------
    >>> import numpy
    >>> before = pool_threads()
    >>> with blas_pools(256, "numpy"):
    ...     pass
    >>> pool_threads() == before
    True
    """
    if n < MIN_SIZE:
        yield
        return
    with _lock:
        outermost = not _active[0]
        _active[0] = True
    if not outermost:
        yield
        return
    saved: list[tuple[Any, int]] = []
    try:
        for lib, library in _blas_pools():
            current = int(lib.num_threads)
            if library == busy:
                target = current if threads is None else min(current, max(1, threads))
            else:
                target = 1
            saved.append((lib, current))
            if target != current:
                lib.set_num_threads(target)
        yield
    finally:
        for lib, current in saved:
            if int(lib.num_threads) != current:
                lib.set_num_threads(current)
        with _lock:
            _active[0] = False


@contextmanager
def at_most(threads: int) -> Iterator[None]:
    """Lower every BLAS pool to at most ``threads`` threads for the duration; restore after.

    For a unit of work that shares the cores with others (a sweep's worker gets
    ``cores // jobs``). A pool already below ``threads`` keeps its count (a
    limit is never raised). It does not count as an entry of :func:`blas_pools`,
    which still limits the idle pool inside; no-op without threadpoolctl.

    Parameters
    ----------
    threads : int
        The most threads any pool may keep (at least 1).

    Examples
    --------
    >>> import numpy
    >>> with at_most(1):
    ...     all(count == 1 for count in pool_threads().values())
    True
    """
    saved: list[tuple[Any, int]] = []
    try:
        for lib, _ in _blas_pools():
            current = int(lib.num_threads)
            saved.append((lib, current))
            if current > max(1, threads):
                lib.set_num_threads(max(1, threads))
        yield
    finally:
        for lib, current in saved:
            if int(lib.num_threads) != current:
                lib.set_num_threads(current)
