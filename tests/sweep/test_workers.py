"""Local worker processes: how many, how much memory, and none outliving the sweep.

Hypothesis: ``--jobs N`` starts at most one worker per configuration still to
measure (warning once if they outnumber the usable cores), refuses up front
(exit 2) when they would not fit in the free memory, starts every worker from
the sweep's own thread with one BLAS thread, stops them all when the sweep
stops, and never leaves one running after its parent is killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradscope import machine
from gradscope.cli import main
from gradscope.errors import ConfigError
from gradscope.sweep.grid import SweepGrid
from gradscope.sweep.run import run_sweep
from tests.sweep import SMALL

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and uses prctl (Linux)"
)

#: Two configurations, two seeds each.
TWO = ["--families", "gaussian", "--norms", "0.9,1.1", "--hidden", "4", "--T", "10",
       "--activations", "tanh", "--seeds", "2", "--horizon-cap", "20"]  # fmt: skip
#: Four configurations of many seconds each: both workers stay busy until killed.
LONG = ["--families", "gaussian", "--norms", "1.0,1.01,1.02,1.03", "--hidden", "256",
        "--T", "6000", "--horizon-cap", "6000", "--activations", "tanh",
        "--seeds", "4"]  # fmt: skip
GRID = SweepGrid.from_mapping(
    {"families": "gaussian,non-normal", "norms": "0.9,1.05", "hidden": "5,8", "T": 20,
     "activations": "tanh", "seeds": 3, "seed": 4, "horizon_cap": 40}
)  # fmt: skip


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process from /proc/PID/stat, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _children(parent: int) -> dict[int, int]:
    """The child processes of ``parent`` (scanning /proc/*/stat): pid → start time."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and stat[1] == parent:
            out[int(entry)] = stat[2]
    return out


def _alive(pid: int, start: int) -> bool:
    """The same process (same start time) still exists and is not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[2] == start and stat[0] not in "ZXx"


def _new_workers(before: dict[int, int]) -> list[int]:
    """Live children of this process not in ``before``, other than multiprocessing's
    resource tracker (one per process, started with the first pool)."""
    out = []
    for pid, start in _children(os.getpid()).items():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if pid not in before and _alive(pid, start) and b"resource_tracker" not in cmdline:
            out.append(pid)
    return out


def _has_numpy(pid: int) -> bool:
    """The process has loaded numpy, i.e. a worker is measuring a unit."""
    try:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _gradscope(args, tmp_path, *, patch="", timeout=60.0):
    """Run ``gradscope ARGS`` in its own session; kill the whole session afterwards."""
    code = f"{patch}\nfrom gradscope.cli import main\nmain(prog_name='gradscope')"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of a hung run, workers included
        except ProcessLookupError:
            pass
        proc.wait()
    return proc.returncode, stdout, stderr


@pytest.mark.parametrize("jobs", ["3", "100000"])
def test_jobs_are_capped_at_the_configurations_to_measure(tmp_path, jobs):
    """--jobs far above the 2 configurations: 2 workers, one warning (1 usable core
    pretended), finished within 60 s, the same bytes as a serial run."""
    one_core = "import gradscope.machine as r\nr.usable_cores = lambda *a, **k: 1"
    code, stdout, stderr = _gradscope(
        ["sweep", *TWO, "--jobs", jobs, "--out", "jobs.csv", "--json"], tmp_path, patch=one_core
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert (summary["mode"], summary["computed"]) == ("jobs=2", 4)
    assert stderr.count("warning:") == 1
    assert "warning: 2 worker processes on 1 usable CPU core " in stderr
    serial = CliRunner().invoke(main, ["sweep", *TWO, "--out", str(tmp_path / "serial.csv")])
    assert serial.exit_code == 0
    assert (tmp_path / "jobs.csv").read_bytes() == (tmp_path / "serial.csv").read_bytes()


def test_no_warning_within_the_cores_and_serial_for_one_configuration(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "usable_cores", lambda *a, **k: 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = run_sweep(GRID, out=tmp_path / "r.csv", jobs=2)
    assert summary.mode == "jobs=2"
    lines = (tmp_path / "r.csv").read_text().splitlines(keepends=True)
    (tmp_path / "r.csv").write_text("".join(lines[:-1]))  # one configuration left to measure
    summary = run_sweep(GRID, out=tmp_path / "r.csv", jobs=8)
    assert (summary.mode, summary.computed) == ("serial", 1)


def test_warning_without_a_callback_is_a_runtime_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "usable_cores", lambda *a, **k: 1)
    with pytest.warns(RuntimeWarning, match="2 worker processes on 1 usable CPU core"):
        run_sweep(GRID, jobs=2, emit=lambda text: None)


@pytest.mark.parametrize(
    ("fit", "advice"), [(3, "use --jobs 3 or fewer"), (1, "use --jobs 1 (no worker processes)")]
)
def test_too_many_jobs_for_the_memory_exit_2(tmp_path, monkeypatch, fit, advice):
    """Workers that would not fit in MemAvailable: exit 2 before anything starts, one
    line that names the --jobs that fits; no file written, no worker started."""
    from gradscope.sweep import executors

    monkeypatch.setattr(
        machine, "meminfo_available", lambda *a, **k: fit * machine.WORKER_RSS_BYTES + 1
    )

    def no_pool(workers):
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(executors, "process_pool", no_pool, raising=False)
    result = CliRunner().invoke(
        main, ["sweep", *SMALL, "--jobs", "8", "--out", str(tmp_path / "r.csv")]
    )
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: Invalid value for --jobs: 8 worker processes need about ")
    assert last.endswith(advice)
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_workers_start_from_the_calling_thread(monkeypatch):
    """PR_SET_PDEATHSIG fires when the *thread* that started a worker exits: every
    worker must be started by the thread running the sweep, none by a helper thread."""
    from multiprocessing.context import SpawnProcess

    starters = []
    real_start = SpawnProcess.start

    def start(self):
        starters.append(threading.current_thread())
        real_start(self)

    monkeypatch.setattr(SpawnProcess, "start", start)
    monkeypatch.setattr(machine, "usable_cores", lambda *a, **k: 3)
    summary = run_sweep(GRID, jobs=3, emit=lambda text: None)
    assert summary.mode == "jobs=3"
    assert len(starters) == 3
    assert all(t is threading.main_thread() for t in starters)


def _probe() -> dict[str, object]:
    """Runs in a worker: what it inherited, and its BLAS pools once numpy is loaded."""
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    from gradscope.sweep.worker import BLAS_THREAD_VARIABLES, parent_death_signal

    return {
        "env": {v: os.environ.get(v) for v in BLAS_THREAD_VARIABLES},
        "blas_threads": [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"],
        "pdeathsig": parent_death_signal(),
        "sigint": signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
        "ppid": os.getppid(),
    }


def test_worker_environment():
    """Each worker: numpy not loaded before its first unit, its share of the cores as
    BLAS threads (max(1, cores // workers), issue 18), SIGKILL on parent death, Ctrl-C
    left to the parent."""
    pytest.importorskip("threadpoolctl")
    from gradscope.machine import usable_cores
    from gradscope.sweep.executors import process_pool

    # The first task of a fresh worker is a builtin (nothing to import to unpickle it):
    # whatever the worker imported to start (gradscope.sweep.worker, the package,
    # multiprocessing's bootstrap) has not loaded numpy.
    with process_pool(1) as pool:
        assert pool.submit(eval, "'numpy' in __import__('sys').modules").result(60) is False
        probes = [(1, pool.submit(_probe).result(timeout=60))]
    with process_pool(2) as pool:
        probes += [(2, pool.submit(_probe).result(timeout=60)) for _ in range(2)]
    for workers, probe in probes:
        share = max(1, usable_cores() // workers)
        assert set(probe["env"].values()) == {str(share)}
        assert probe["blas_threads"] and set(probe["blas_threads"]) == {share}
        assert probe["pdeathsig"] == signal.SIGKILL
        assert probe["sigint"] is True
        assert probe["ppid"] == os.getpid()


def test_worker_whose_parent_is_already_gone_exits_at_once():
    """The race: a parent that died before the worker set PR_SET_PDEATHSIG. The worker
    sees os.getppid() differ from the pid it was given, and exits."""
    script = (
        "import os, sys\nfrom gradscope.sweep.worker import init_worker\n"
        "init_worker(int(sys.argv[1]))\nprint('survived', flush=True)"
    )
    gone = subprocess.run(
        [sys.executable, "-c", script, "1"], capture_output=True, text=True, timeout=60
    )
    assert (gone.returncode, gone.stdout) == (1, "")
    alive = subprocess.run(
        [sys.executable, "-c", script, str(os.getpid())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (alive.returncode, alive.stdout) == (0, "survived\n")


def test_worker_module_imports_no_numpy():
    code = "import sys, gradscope.sweep.worker; print('numpy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout == "False\n", result.stderr


def test_interrupt_stops_the_workers_and_the_run_resumes(tmp_path):
    """A KeyboardInterrupt in the consumer: pending units cancelled, workers ended
    before run_sweep returns; the rows written are kept and a rerun completes them."""
    before = _children(os.getpid())
    out = tmp_path / "r.csv"

    def progress(done, total):
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(GRID, out=out, jobs=2, progress=progress)
    # With the exception still referenced (as in the CLI's handler), whose traceback
    # keeps run_sweep's frames and so its runner alive: the workers are gone anyway.
    assert info.tb is not None
    assert _new_workers(before) == []
    assert out.read_text().endswith("\n")
    run_sweep(GRID, out=out, jobs=2)
    serial = tmp_path / "serial.csv"
    run_sweep(GRID, out=serial)
    assert out.read_bytes() == serial.read_bytes()


def test_error_in_the_consumer_stops_the_workers(tmp_path, monkeypatch):
    import errno

    from gradscope.sweep import writer

    before = _children(os.getpid())

    def full_disk(row, cols, fmt):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer, "encode_row", full_disk)
    with pytest.raises(ConfigError, match="No space left on device") as info:
        run_sweep(GRID, out=tmp_path / "r.csv", jobs=2)
    assert info.tb is not None  # the traceback (and run_sweep's frames) still alive
    assert _new_workers(before) == []


def test_no_worker_outlives_a_killed_parent(tmp_path):
    """SIGKILL of ``gradscope sweep --jobs 2`` while both workers measure: within
    10 s no worker (nor any other child it started) is left running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradscope", "sweep", *LONG, "--jobs", "2", "--out", "X.csv"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            children = _children(proc.pid)
            if sum(_has_numpy(pid) for pid in children) >= 2:
                break
            assert time.monotonic() < deadline, f"no two busy workers within 60 s: {children}"
            time.sleep(0.1)
        children = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while (survivors := [p for p, t in children.items() if _alive(p, t)]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert survivors == [], f"worker processes outlived their parent: {survivors}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session: orphaned workers included
        except ProcessLookupError:
            pass
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def test_worker_killed_from_outside_is_one_clear_error(tmp_path):
    """A worker killed mid-sweep (as by the kernel's OOM killer): a ConfigError that
    says what happened and what to do, no worker left, and a rerun completes the file."""
    grid = SweepGrid.from_mapping(
        {"families": "gaussian", "norms": "0.9,0.95,1.0,1.05,1.1,1.15", "hidden": 96,
         "T": 1500, "activations": "tanh", "seeds": 3, "horizon_cap": 1500}
    )  # fmt: skip
    before = _children(os.getpid())
    out = tmp_path / "r.csv"

    def kill_the_workers(done, total):
        if done:
            for pid in _new_workers(before):
                os.kill(pid, signal.SIGKILL)

    with pytest.raises(ConfigError, match=r"worker process died unexpectedly.*rerun") as info:
        run_sweep(grid, out=out, jobs=2, progress=kill_the_workers)
    assert info.tb is not None
    assert _new_workers(before) == []
    summary = run_sweep(grid, out=out)
    assert 0 < summary.skipped < grid.rows
    reference = tmp_path / "serial.csv"
    run_sweep(grid, out=reference)
    assert out.read_bytes() == reference.read_bytes()
