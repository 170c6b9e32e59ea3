"""What this machine offers a computation: usable cores and free memory (the ground floor).

:func:`usable_cores` counts the cores this process may run on (its CPU
affinity) and lowers that to its cgroup's CPU quota, as a container or a
systemd slice sets it. :func:`meminfo_available` reads ``MemAvailable`` from
``/proc/meminfo`` (what new processes can use: the sweep's workers);
:func:`available_memory` is what an allocation of *this* process can get (that,
its cgroup's room and its address-space limit: the size checks).
:data:`WORKER_RSS_BYTES` is what one sweep worker costs before it measures
anything. It imports nothing of gradscope, so every layer may use it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = [
    "WORKER_RSS_BYTES",
    "available_memory",
    "cgroup_cpu_limit",
    "meminfo_available",
    "usable_cores",
]

#: Resident memory of one worker before it measures anything: a Python process
#: with numpy and scipy imported. Measured once on the development machine
#: (Linux x86-64, Python 3.11.7, numpy 2.4.6, scipy 1.17.1) as ``VmRSS`` of
#: ``/proc/self/status`` after ``import numpy, scipy, scipy.linalg``: 56 516 kB
#: in a plain interpreter (the same in three runs; 13 620 kB before the
#: imports, 27 584 kB with numpy alone) and 57 612 kB (56.3 MiB) in a worker of
#: :func:`~gradscope.sweep.executors.process_pool`; rounded up to 57 MiB. A
#: worker's actual peak (``VmHWM``) depends on its units: 41 MB after the
#: default unit (hidden 64, T 100, 5 seeds; it loads less of scipy), 76 MB
#: after hidden 256, T 2000; and the shared libraries, counted in full in every
#: worker's RSS, are in memory once. A rough estimate, meant to catch absurd
#: ``--jobs`` values before thousands of processes are started.
WORKER_RSS_BYTES = 57 * 2**20


def _affinity_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _quota_v2(folder: Path) -> float | None:
    """Cores allowed by ``cpu.max`` ("max 100000" or "200000 100000"), or None."""
    text = _read(folder / "cpu.max")
    if text is None:
        return None
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(folder: Path) -> float | None:
    """Cores allowed by ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1: none)."""
    quota_text = _read(folder / "cpu.cfs_quota_us")
    period_text = _read(folder / "cpu.cfs_period_us")
    if quota_text is None or period_text is None:
        return None
    try:
        quota, period = int(quota_text), int(period_text)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _own_cgroups(proc_cgroup: Path) -> list[tuple[str, str]]:
    """(controllers, path) of each line of ``/proc/self/cgroup``; v2's controllers are ""."""
    text = _read(proc_cgroup)
    out = []
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            out.append((parts[1], parts[2]))
    return out


def _with_ancestors(mount: Path, own: str) -> list[Path]:
    """``mount/own`` and each folder above it up to ``mount`` (a quota anywhere applies)."""
    folders = [mount]
    parts = [p for p in own.split("/") if p]
    for k in range(1, len(parts) + 1):
        folders.append(mount.joinpath(*parts[:k]))
    return folders


def cgroup_cpu_limit(
    cgroup_root: str | os.PathLike[str] = "/sys/fs/cgroup",
    proc_cgroup: str | os.PathLike[str] = "/proc/self/cgroup",
) -> float | None:
    """The tightest CPU quota of this process's cgroups, in cores, or None if there is none.

    Reads cgroup v2's ``cpu.max`` and cgroup v1's ``cpu.cfs_quota_us`` and
    ``cpu.cfs_period_us``, at the root of ``cgroup_root`` (inside a container
    that is the container's own cgroup), in this process's cgroup as
    ``proc_cgroup`` names it, and in every cgroup between them.

    Parameters
    ----------
    cgroup_root : path
        Where the cgroup file systems are mounted.
    proc_cgroup : path
        The process's cgroup membership file.

    Returns
    -------
    float or None
        quota / period, e.g. 1.5 for "150000 100000".
    """
    root = Path(cgroup_root)
    own = _own_cgroups(Path(proc_cgroup))
    limits: list[float] = []
    v2_paths = [path for controllers, path in own if controllers == ""] or ["/"]
    for own_path in v2_paths:
        limits += [q for f in _with_ancestors(root, own_path) if (q := _quota_v2(f)) is not None]
    v1_paths = [path for controllers, path in own if "cpu" in controllers.split(",")] or ["/"]
    for mount_name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        mount = root / mount_name
        for own_path in v1_paths:
            for folder in _with_ancestors(mount, own_path):
                if (q := _quota_v1(folder)) is not None:
                    limits.append(q)
    return min(limits) if limits else None


def usable_cores(
    cgroup_root: str | os.PathLike[str] = "/sys/fs/cgroup",
    proc_cgroup: str | os.PathLike[str] = "/proc/self/cgroup",
) -> int:
    """How many cores this process can keep busy at once.

    The cores of its CPU affinity (``len(os.sched_getaffinity(0))``, or
    ``os.cpu_count()`` where there is no affinity), lowered to its cgroup CPU
    quota rounded up (:func:`cgroup_cpu_limit`): a quota of 1.5 cores lets
    2 processes run, each for part of the time.

    Parameters
    ----------
    cgroup_root, proc_cgroup : path
        As for :func:`cgroup_cpu_limit` (tests point them at fake files).

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> import os
    >>> 1 <= usable_cores() <= (os.cpu_count() or 1)
    True
    """
    cores = _affinity_cores()
    quota = cgroup_cpu_limit(cgroup_root, proc_cgroup)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def meminfo_available(meminfo: str | os.PathLike[str] = "/proc/meminfo") -> int | None:
    """``MemAvailable`` in bytes: what new processes can use without swapping.

    Parameters
    ----------
    meminfo : path
        The kernel's memory report.

    Returns
    -------
    int or None
        None where the file or the line is missing (not Linux, or a kernel
        before 3.14): then nothing is checked.
    """
    text = _read(Path(meminfo))
    for line in (text or "").splitlines():
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            fields = value.split()
            try:
                amount = int(fields[0])
            except (IndexError, ValueError):
                return None
            unit = fields[1].lower() if len(fields) > 1 else "b"
            return amount * 1024 if unit == "kb" else amount
    return None


def available_memory() -> int | None:
    """Bytes a new allocation of this process can get, or None if unknown.

    The least of the machine's free memory (Linux ``MemAvailable``), what this
    process's cgroup still allows (``memory.max`` less ``memory.current``, cgroup
    v2) and what its address-space limit (``ulimit -v``, ``RLIMIT_AS``) leaves
    beside what it has mapped: a limit the estimate ignored made LAPACK fail
    inside an allocation (``init_gesdd failed init``) instead of a refusal.
    """
    candidates = [m for m in (meminfo_available(), _cgroup_room(), _address_room()) if m]
    if candidates:
        return min(candidates)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_room() -> int | None:
    """``memory.max − memory.current`` of this process's cgroup (v2), or None."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            path = next((ln[3:].strip() for ln in f if ln.startswith("0::")), None)
        if path is None:
            return None
        folder = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(folder, "memory.max"), encoding="ascii") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(folder, "memory.current"), encoding="ascii") as f:
            current = int(f.read().strip())
        return max(int(limit) - current, 1)
    except (OSError, ValueError):
        return None


def _address_room() -> int | None:
    """What ``RLIMIT_AS`` leaves beside this process's mapped memory (``VmSize``), or None."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status", encoding="ascii") as f:
            size = next((int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmSize:")), 0)
        return max(int(soft) - size, 1)
    except (ImportError, OSError, ValueError):
        return None
