"""One sweep at a time per output: the lock beside the output file.

Hypothesis: while a sweep writes ``OUT``, a second sweep on ``OUT`` is refused
(exit 1, one line naming the holder) and leaves it byte for byte as it was;
the lock is released when its holder ends, however it ends (``kill -9``
included), and a lock file left behind never blocks anyone.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from gradscope.cli import main
from gradscope.errors import ConfigError
from gradscope.sweep import lock as lock_module
from gradscope.sweep.grid import SweepGrid
from gradscope.sweep.lock import OutputLockedError, lock_output, lock_path
from gradscope.sweep.run import run_sweep

TINY = ["--families", "gaussian", "--hidden", "4", "--T", "10", "--activations", "tanh",
        "--seeds", "2", "--horizon-cap", "20"]  # fmt: skip
#: One configuration that keeps a serial sweep busy for many seconds (it is killed early).
LONG = ["--families", "gaussian", "--norms", "1.0", "--hidden", "256", "--T", "6000",
        "--horizon-cap", "6000", "--activations", "tanh", "--seeds", "4"]  # fmt: skip
SMALL_GRID = SweepGrid.from_mapping(
    {"families": "gaussian", "norms": "0.9,1.1", "hidden": 4, "T": 10, "activations": "tanh",
     "seeds": 2, "horizon_cap": 20}
)  # fmt: skip


def _is_locked(path) -> bool:
    """Whether some process holds an exclusive flock on the file at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_second_sweep_on_a_locked_output_exits_1_untouched(tmp_path):
    """A sweep holds OUT.lock: another sweep on OUT exits 1 with one line naming the
    holder, and the output (and the holder's lock file) are left as they were."""
    out = tmp_path / "results.csv"
    first = CliRunner().invoke(main, ["sweep", *TINY, "--norms", "0.9", "--out", str(out)])
    assert first.exit_code == 0, first.output
    before = out.read_bytes()
    lock = lock_path(out)
    holder = f"{os.getpid()}@{socket.gethostname()}"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{holder}\n".encode())
        # New rows (another norm) that the unlocked code would append.
        result = CliRunner().invoke(main, ["sweep", *TINY, "--norms", "1.1", "--out", str(out)])
        assert lock.read_text() == f"{holder}\n"
    finally:
        os.close(fd)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"Error: {out} is being written by another sweep (pid {holder}, lock {lock}); "
        "wait for it or choose another --out\n"
    )
    assert result.stdout == ""
    assert out.read_bytes() == before


def test_lock_is_held_during_the_run_and_removed_after(tmp_path):
    """The lock is held from before the table is read until after the final rewrite,
    and released (its file removed) after a normal run and after a refused one."""
    out = tmp_path / "r.csv"
    seen = []

    def progress(done, total):
        seen.append(_is_locked(lock_path(out)))

    run_sweep(SMALL_GRID, out=out, progress=progress)
    assert seen and all(seen)
    assert not lock_path(out).exists()
    with lock_output(out):  # free again
        pass
    with pytest.raises(ConfigError, match="columns do not match"):
        run_sweep(SweepGrid.from_mapping({"norms": 1, "families": "gaussian", "hidden": 4,
                                          "T": 10, "thresholds": 0.5}), out=out)  # fmt: skip
    assert not lock_path(out).exists()
    summary = run_sweep(SMALL_GRID, out=out)
    assert (summary.computed, summary.skipped) == (0, SMALL_GRID.rows)


def test_lock_is_released_when_its_holder_is_killed(tmp_path):
    """kill -9 of a running sweep: the kernel drops its lock; the stale lock file it
    leaves does not block the next sweep on the same output."""
    out = tmp_path / "r.csv"
    lock = lock_path(out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradscope", "sweep", *LONG, "--out", str(out)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        holder = f"{proc.pid}@{socket.gethostname()}\n"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text() == holder and _is_locked(lock)):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the sweep never took its lock"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert lock.read_text() == holder  # left behind, stale
    assert not _is_locked(lock)
    result = CliRunner().invoke(main, ["sweep", *TINY, "--norms", "0.9", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not lock.exists()


def test_lock_file_replaced_before_it_was_locked_is_retried(tmp_path, monkeypatch):
    """A sweep that opened the lock file just before its previous holder removed it
    (and a third sweep created a new one) must not lock the removed file: it checks
    the inode after locking and starts again with the file now at the path."""
    out = tmp_path / "r.csv"
    path = lock_path(out)
    real_os = os

    class ReplacedAfterFirstOpen:
        opens = 0

        def __getattr__(self, name):
            return getattr(real_os, name)

        def open(self, file, flags, mode=0o777):
            fd = real_os.open(file, flags, mode)
            type(self).opens += 1
            if type(self).opens == 1:
                real_os.unlink(file)
                real_os.close(real_os.open(file, real_os.O_CREAT | real_os.O_WRONLY, 0o644))
            return fd

    monkeypatch.setattr(lock_module, "os", ReplacedAfterFirstOpen())
    with lock_output(out):
        assert ReplacedAfterFirstOpen.opens == 2
        assert _is_locked(path)  # the file at the path is the locked one
        assert path.read_text() == f"{os.getpid()}@{socket.gethostname()}\n"
    assert not path.exists()


def test_lock_refusal_names_an_unknown_holder(tmp_path):
    """A holder that has not written its note yet: the message still names the lock."""
    out = tmp_path / "r.jsonl"
    fd = os.open(lock_path(out), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(OutputLockedError) as info:
            run_sweep(SMALL_GRID, out=out)
    finally:
        os.close(fd)
    assert str(info.value) == (
        f"{out} is being written by another sweep (lock {lock_path(out)}); "
        "wait for it or choose another --out"
    )
    assert not out.exists()
