"""The real entry point, ``python -m gradscope``, a fresh interpreter per case.

Hypothesis (issue 16, "Keep it fixed"): what the forked cases of this suite
show holds for the command a user starts: a FIFO or ``/dev/zero`` given as any
input file is refused in one line (exit 1) instead of blocking or filling
memory; every command's small valid run exits 0 and leaves nothing behind;
a sweep with two worker processes leaves no process running; a report ended
by SIGTERM leaves no hidden staging folder. These also check the harness
itself against the fork-based runner (same exit code, same first line).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fuzz import _files
from tests.fuzz._harness import (
    Sandbox,
    _environment,
    _is_temporary,
    leftover_processes,
    run_case,
    stderr_lines,
)

FAST_READERS = {"analyze", "replay", "sweep --config"}
READERS = {
    "analyze": ["analyze", "{f}.npz"],
    "analyze --inputs": ["analyze", "{w}", "--inputs={f}.npy"],
    "spectrum --weights": ["spectrum", "--weights={f}.safetensors", "--T=5"],
    "spectrum --inputs": ["spectrum", "--weights={w}", "--inputs={f}.npy"],
    "spectrum --h0": ["spectrum", "--weights={w}", "--T=5", "--h0={f}.npy"],
    "replay": ["replay", "{f}.json"],
    "sweep --config": ["sweep", "--config={f}.toml"],
    "plot sweep": ["plot", "sweep", "{f}.csv", "--output=out/f.png"],
    "report --weights": ["report", "--output=out/r", "--weights={f}.npz"],
    "report --inputs": ["report", "--output=out/r", "--weights={w}", "--inputs={f}.npy"],
}


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize(
    "reader",
    [r if r in FAST_READERS else pytest.param(r, marks=pytest.mark.slow) for r in sorted(READERS)],
)
def test_non_regular_inputs_are_refused(reader, kind, sandbox_base):
    """Hypothesis: a FIFO or /dev/zero as an input file is exit 1 at once, not a hang."""
    sandbox = Sandbox.new(sandbox_base)
    w = sandbox.inputs / "w.npz"
    w.write_bytes(_files.valid_files()["npz-native"][1])
    args = [a.format(f=sandbox.inputs / "f", w=w) for a in READERS[reader]]
    target = next(a for a in args if "/in/f." in a).split("=")[-1]
    _files.place(Path(target), kind)
    result = run_case(args, sandbox, {1}, fresh=True)
    assert "regular file" in stderr_lines(result.stderr)[0], result.describe()


VALID_RUNS = {
    "bound": ["bound", "--norm=0.9", "--T=3", "--hidden=2", "--seeds=1", "--families=identity"],
    "spectrum": ["spectrum", "--norm=0.9", "--T=4", "--hidden=2", "--json"],
    "analyze": ["analyze", "{w}", "--T=4"],
    "derive": ["derive", "--hidden=1", "--T=2"],
    "check": ["check", "eigenvalue-criterion", "--budget=2", "--out=out/cex"],
    "replay": ["replay", "{cex}"],
    "sweep": ["sweep", "--norms=0.9", "--hidden=2", "--T=3", "--seeds=1",
              "--families=identity", "--activations=linear", "--out=out/t.csv"],
    "report": ["report", "--output=out/r", "--T=3", "--hidden=2", "--seeds=1", "--budget=1"],
    "plot decay": ["plot", "decay", "--norm=0.9", "--T=3", "--hidden=2", "--seeds=1",
                   "--output=out/f.png"],
}  # fmt: skip


@pytest.mark.parametrize(
    "name",
    [n if n in ("bound", "replay") else pytest.param(n, marks=pytest.mark.slow)
     for n in sorted(VALID_RUNS)],
)  # fmt: skip
def test_valid_runs_of_the_real_entry_point(name, sandbox_base):
    """Hypothesis: each command's small valid run exits 0, writes only its output, and the
    fork-based runner of this suite gives the same exit code and stdout."""
    sandbox = Sandbox.new(sandbox_base)
    w = sandbox.inputs / "w.npz"
    w.write_bytes(_files.valid_files()["npz-torch"][1])
    cex = sandbox.inputs / "cex.json"
    cex.write_bytes(_files.valid_files()["counterexample"][1])
    args = [a.format(w=w, cex=cex) for a in VALID_RUNS[name]]
    outputs = ["out/cex", "out/t.csv", "out/r", "out/f.png"]
    fresh = run_case(args, sandbox, {0}, outputs, fresh=True)
    if name in ("bound", "spectrum", "derive", "replay"):  # stdout alone, nothing written
        forked = run_case(args, sandbox, {0}, outputs)
        assert forked.stdout == fresh.stdout, (forked.describe(), fresh.describe())


@pytest.mark.slow
def test_sweep_with_two_workers_leaves_no_process(sandbox_base):
    """Hypothesis: sweep --jobs 2 ends its workers when it ends (none left in its group)."""
    sandbox = Sandbox.new(sandbox_base)
    args = ["sweep", "--norms=0.9,1.0", "--hidden=2,3", "--T=3", "--seeds=1"]
    args += ["--families=identity", "--activations=linear", "--jobs=2", "--out=out/t.csv"]
    run_case(args, sandbox, {0}, ["out/t.csv"], fresh=True)


@pytest.mark.slow
def test_sigterm_during_report_leaves_no_staging_folder(sandbox_base):
    """Hypothesis: a report ended by SIGTERM leaves no hidden folder, no process, no traceback."""
    sandbox = Sandbox.new(sandbox_base)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradscope", "report", "--output=out/r", "--T=20",
         "--hidden=8", "--seeds=2"],
        cwd=sandbox.root, env=_environment(sandbox), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
        _is_temporary(p.name) for p in sandbox.out.iterdir()
    ):
        time.sleep(0.02)  # wait until the staging folder exists: the run is under way
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert leftover_processes(proc.pid) == []
    assert b"Traceback" not in err, err
    left = [p.name for p in sandbox.out.iterdir() if _is_temporary(p.name)]
    assert not left, f"left behind after SIGTERM: {left}"
    assert not list(sandbox.tmp.iterdir())
