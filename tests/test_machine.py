"""Usable cores (CPU affinity and cgroup CPU quota) and available memory, on fake files.

Hypothesis: usable_cores is the affinity's size lowered to the tightest cgroup
quota (quota / period, rounded up) found in the process's cgroup or any cgroup
above it, for cgroup v2 (``cpu.max``) and v1 (``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``); files that are missing or malformed impose nothing.
"""

from __future__ import annotations

import os

import pytest

from gradscope.machine import available_memory, cgroup_cpu_limit, meminfo_available, usable_cores


@pytest.fixture
def affinity(monkeypatch):
    """Pretend this process may run on 64 cores."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)


def _v1(folder, quota, period="100000"):
    """cgroup v1 quota files in ``folder``."""
    return {
        f"{folder}/cpu.cfs_quota_us": f"{quota}\n",
        f"{folder}/cpu.cfs_period_us": f"{period}\n",
    }


def _tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    ("membership", "files", "cores"),
    [
        # cgroup v2
        ("0::/\n", {"cpu.max": "max 100000\n"}, 64),
        ("0::/\n", {"cpu.max": "200000 100000\n"}, 2),
        ("0::/\n", {"cpu.max": "150000 100000\n"}, 2),  # 1.5 cores: rounded up
        ("0::/\n", {"cpu.max": "50000 100000\n"}, 1),
        ("0::/\n", {"cpu.max": "800000 100000\n"}, 8),
        ("0::/a/b\n", {"a/cpu.max": "300000 100000\n", "a/b/cpu.max": "max 100000\n"}, 3),
        ("0::/a/b\n", {"a/cpu.max": "300000 100000\n", "a/b/cpu.max": "100000 100000\n"}, 1),
        ("0::/\n", {"cpu.max": "lots\n"}, 64),
        ("0::/\n", {"cpu.max": "max\n"}, 64),
        ("0::/\n", {}, 64),
        # cgroup v1
        ("1:cpu:/\n", _v1("cpu", "-1"), 64),
        ("1:cpu:/\n", _v1("cpu", "400000"), 4),
        ("1:cpu:/\n", _v1("cpu", "0"), 64),
        # no cgroup namespace: the files of the container's own cgroup are at the root
        ("4:cpu,cpuacct:/docker/abc\n", _v1("cpu,cpuacct", "250000"), 3),
        ("4:cpu,cpuacct:/slice/job\n", _v1("cpu,cpuacct/slice/job", "200000"), 2),
        (
            "4:cpu,cpuacct:/slice/job\n",
            {**_v1("cpu,cpuacct/slice", "100000"), **_v1("cpu,cpuacct/slice/job", "-1")},
            1,
        ),
        ("1:cpu:/\n", {"cpu/cpu.cfs_quota_us": "400000\n"}, 64),  # no period: no quota
    ],
)
def test_usable_cores_from_cgroup_files(tmp_path, affinity, membership, files, cores):
    root = tmp_path / "cgroup"
    root.mkdir()
    _tree(root, files)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(membership)
    assert usable_cores(root, proc) == cores


def test_quota_in_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path, tmp_path / "missing") == 1.5
    assert cgroup_cpu_limit(tmp_path / "nothing", tmp_path / "missing") is None


def test_affinity_below_the_quota_wins(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    (tmp_path / "cpu.max").write_text("800000 100000\n")
    assert usable_cores(tmp_path, tmp_path / "missing") == 2


def test_without_affinity_the_cpu_count_is_used(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable_cores(tmp_path, tmp_path / "missing") == 6
    (tmp_path / "cpu.max").write_text("400000 100000\n")
    assert usable_cores(tmp_path, tmp_path / "missing") == 4
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores(tmp_path / "none", tmp_path / "missing") == 1


def test_this_machine():
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def test_meminfo_available(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemFree: 100 kB\nMemAvailable:    2048 kB\n")
    assert meminfo_available(meminfo) == 2048 * 1024
    meminfo.write_text("MemTotal:       32000000 kB\n")  # a kernel before 3.14
    assert meminfo_available(meminfo) is None
    assert meminfo_available(tmp_path / "missing") is None


def test_available_memory_is_at_most_memavailable():
    """Hypothesis: this process's room is the least of MemAvailable, cgroup and RLIMIT_AS room."""
    room, free = available_memory(), meminfo_available()
    assert room is None or room >= 1
    if room is not None and free is not None:
        assert room <= free
