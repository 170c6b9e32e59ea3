"""The start of every local worker process: one BLAS thread, and die with the parent.

:func:`init_worker` is the ``initializer`` of the sweep's process pool
(:func:`gradscope.sweep.executors.process_pool`). This module, and everything
a worker imports before it runs (``gradscope`` and ``gradscope.sweep``),
imports no numpy: the BLAS libraries read their thread counts once, when
numpy loads them, so the variables set here take effect only because numpy
is imported later, by the first unit of work.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["BLAS_THREAD_VARIABLES", "init_worker", "parent_death_signal"]

#: Thread-count variables of OpenBLAS, OpenMP, MKL, Accelerate and numexpr.
BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PR_GET_PDEATHSIG = 2


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # the C library this interpreter is linked to


def parent_death_signal() -> int:
    """The signal this process receives when its parent thread exits (Linux; 0: none).

    Returns
    -------
    int
        ``prctl(PR_GET_PDEATHSIG)``; 0 where there is no such setting.
    """
    if not sys.platform.startswith("linux"):
        return 0
    value = ctypes.c_int(0)
    if _libc().prctl(_PR_GET_PDEATHSIG, ctypes.byref(value), 0, 0, 0) != 0:
        return 0
    return value.value


def _watch_parent(parent_pid: int) -> None:  # pragma: no cover - not Linux
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


def init_worker(parent_pid: int, threads: int = 1) -> None:
    """Prepare a freshly spawned worker; exit at once if its parent is already gone.

    1. ``threads`` BLAS/OpenMP threads: :data:`BLAS_THREAD_VARIABLES` are set
       to it (numpy is not loaded yet; the workers share the cores between
       them: :func:`~gradscope.sweep.executors.worker_threads`).
    2. Ctrl-C is ignored: the parent receives it too, stops the pool and
       ends the workers, without each of them printing a traceback.
    3. On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills this
       process when the thread that started it exits, even when the parent
       is killed with SIGKILL. The pool starts every worker from the thread
       that runs the sweep (the main thread of ``gradscope sweep``).
       Elsewhere (or if prctl fails) a daemon thread checks the parent once
       a second.
    4. If the parent died before step 3 (the worker was then re-parented, so
       ``os.getppid()`` is no longer ``parent_pid``), nothing will signal this
       process: it exits now.

    Parameters
    ----------
    parent_pid : int
        ``os.getpid()`` of the process that starts the pool.
    threads : int
        BLAS threads of this worker (at least 1).
    """
    for name in BLAS_THREAD_VARIABLES:
        os.environ[name] = str(max(1, threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    linux = sys.platform.startswith("linux")
    if not (linux and _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0):
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)
