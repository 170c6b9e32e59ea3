"""Run one gradscope command as its own process and check everything the issue promises.

Two ways to start a command, both a separate process with a timeout, its own
process group, a memory limit, stdin from ``/dev/null``, ``TMPDIR`` inside the
sandbox, ``GRADSCOPE_PROGRESS`` unset and one BLAS thread:

- :func:`run_subprocess`: ``python -m gradscope ARGS``, a fresh interpreter (the
  real entry point, every lazy import).
- :func:`run_forked`: a child forked from a *zygote*, a clean interpreter started
  once per session (not the pytest process: no pytest warning capture, no
  threads) that has already imported gradscope, numpy, scipy, matplotlib and
  sympy, so a case costs tens of milliseconds instead of seconds. The child
  calls ``gradscope.cli.main`` exactly as ``gradscope/__main__.py`` does and
  exits as the interpreter would (atexit handlers, flushed streams, an uncaught
  exception's traceback and exit status 1).

:func:`check_case` then asserts, for one case: the exit code is one the
exit-code table allows (0 only for valid input); a refusal is exactly one line
on stderr (click's "Usage: … Try … Error: …" block counts as one); no
"Traceback" and no Python warning anywhere; nothing in the sandbox changed
except the declared outputs (and nothing at all on exit 2, which refuses before
work); no new hidden (``.``) or ``tmp`` names anywhere in the sandbox; the
``TMPDIR`` given is empty again; no process of the command's group is left.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Seconds a case may take before it counts as a hang (valid cases take < 2 s alone;
#: the machine is shared, so the margin is wide).
TIMEOUT = 45.0
#: Address-space limit of every command: a regression that allocates without a size
#: check fails with MemoryError instead of taking the machine.
MEMORY_LIMIT = 6 * 2**30

#: Cases run, per command ("plot decay", "bound", …), for the closing summary.
CASE_COUNTS: collections.Counter[str] = collections.Counter()
#: Seconds spent per command, to keep the suite within its time budget.
CASE_SECONDS: collections.Counter[str] = collections.Counter()

_PY_WARNING = re.compile(r"^\S.*:\d+: \w*Warning: ", re.MULTILINE)


@dataclass
class Result:
    """What a command did."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    pgid: int
    timed_out: bool
    seconds: float

    def describe(self) -> str:
        shown = " ".join(a if len(a) < 80 else a[:60] + f"…({len(a)} chars)" for a in self.args)
        return (
            f"gradscope {shown}\n  exit {self.returncode}"
            f"{' (TIMED OUT: a hang)' if self.timed_out else ''} after {self.seconds:.1f} s\n"
            f"  stderr: {self.stderr[-3000:]!r}\n  stdout: {self.stdout[-600:]!r}"
        )


def command_name(args: Sequence[str]) -> str:
    """The command a case exercises, for counting: ``plot`` is counted per kind."""
    if not args:
        return "(none)"
    if args[0] == "plot" and len(args) > 1 and not args[1].startswith("-"):
        return f"plot {args[1]}"
    return args[0]


# --------------------------------------------------------------------------- sandbox


@dataclass
class Sandbox:
    """A fresh folder per case: ``in/`` inputs, ``out/`` outputs, ``tmp/`` the TMPDIR.

    The command runs with the sandbox as its working folder.
    """

    root: Path
    inputs: Path = field(init=False)
    out: Path = field(init=False)
    tmp: Path = field(init=False)

    def __post_init__(self) -> None:
        self.inputs = self.root / "in"
        self.out = self.root / "out"
        self.tmp = self.root / "tmp"
        for p in (self.inputs, self.out, self.tmp):
            p.mkdir(parents=True, exist_ok=True)

    @classmethod
    def new(cls, base: Path) -> Sandbox:
        return cls(Path(tempfile.mkdtemp(prefix="case-", dir=base)))


Snapshot = dict[str, tuple[object, ...]]


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root``: kind, size, mtime, mode and (regular files) a hash.

    Links, FIFOs and devices are never followed or opened.
    """
    entries: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            digest = ""
            if stat.S_ISREG(st.st_mode) and st.st_size <= 4 * 2**20:
                with open(p, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            if stat.S_ISDIR(st.st_mode):  # its entries are compared one by one; a probe
                key: tuple[object, ...] = (stat.S_IFDIR, stat.S_IMODE(st.st_mode))  # file
            else:  # created and removed changes a folder's mtime, and that is fine
                key = (
                    stat.S_IFMT(st.st_mode),
                    st.st_size,
                    st.st_mtime_ns,
                    stat.S_IMODE(st.st_mode),
                    digest,
                )
            entries[os.path.relpath(p, root)] = key
    return entries


def _is_temporary(rel: str) -> bool:
    name = os.path.basename(rel)
    return name.startswith(".") or "tmp" in name.lower()


# --------------------------------------------------------------------------- processes


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of process group ``pgid``, as "pid name" strings."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                text = fh.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp …; comm may hold spaces and parentheses
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(f"{entry} {comm}")
    return found


def leftover_processes(pgid: int, grace: float = 3.0) -> list[str]:
    """The command's process group after it exited, given ``grace`` seconds to empty.

    Whatever is still there is reported and then killed (they are this test's
    own processes), so one failure does not leak into the next case.
    """
    deadline = time.monotonic() + grace
    members = _group_members(pgid)
    while members and time.monotonic() < deadline:
        time.sleep(0.05)
        members = _group_members(pgid)
    if members:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return members


def _environment(sandbox: Sandbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSCOPE_")}
    env.pop("GRADSCOPE_PROGRESS", None)
    env.update(
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        MPLBACKEND="Agg",
        TMPDIR=str(sandbox.tmp),
        COLUMNS="100",
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    env.pop("FORCE_COLOR", None)
    return env


def _limit_memory() -> None:  # runs in the child before exec
    import resource

    os.setpgid(0, 0)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_subprocess(args: Sequence[str], sandbox: Sandbox, timeout: float = TIMEOUT) -> Result:
    """``python -m gradscope ARGS`` in its own process group; past ``timeout``, a hang."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradscope", *args],
        cwd=sandbox.root,
        env=_environment(sandbox),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limit_memory,
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return Result(
        list(args),
        proc.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        proc.pid,
        timed_out,
        time.monotonic() - t0,
    )


_ZYGOTE = r"""
import atexit, json, os, resource, signal, sys, tempfile, time
import warnings
import numpy, scipy.linalg, click, sympy, safetensors.numpy
try:
    import torch  # no threads start until an operation runs: safe to fork after
except ImportError:
    pass
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
import gradscope.cli
from gradscope.cli import main
for name in ("gradscope.report.figures", "gradscope.studies.bound", "gradscope.claims",
             "gradscope.numeric.spectrum", "gradscope.sweep.run", "gradscope.symbolic"):
    try:
        __import__(name)
    except Exception:
        pass  # a broken module fails in the case that needs it, as in a fresh process
reply = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
requests = os.fdopen(os.dup(0), "r")
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)


def child(req):
    os.setpgid(0, 0)
    resource.setrlimit(resource.RLIMIT_AS, (req["memory"], req["memory"]))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    tempfile.tempdir = None
    for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    reply.close()
    requests.close()
    sys.argv = ["gradscope", *req["args"]]
    code = 0
    try:
        main(args=req["args"], prog_name="gradscope")
    except SystemExit as exc:  # as the interpreter turns SystemExit into an exit status
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # an uncaught exception: its traceback, status 1
        sys.excepthook(*sys.exc_info())
        code = 1
    # what the interpreter's exit does that a command can observe: atexit handlers (and
    # weakref finalizers, run from one), flushed streams; tearing down every module of
    # the zygote (torch, matplotlib) would take seconds and change nothing
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


while True:
    line = requests.readline()
    if not line:
        break
    req = json.loads(line)
    reply.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child(req)  # never returns: SystemExit or an uncaught exception ends the child
    t0 = time.monotonic()
    timed_out = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - t0 > req["timeout"]:
            timed_out = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.005)
    code = os.waitstatus_to_exitcode(status)
    reply.write(json.dumps({"pid": pid, "code": code, "timed_out": timed_out}) + "\n")
"""


class Zygote:
    """A clean interpreter that forks one child per case (see the module docstring)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def _start(self, env: dict[str, str]) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _ZYGOTE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                text=True,
                cwd=env["TMPDIR"],
                start_new_session=True,
            )
        return self._proc

    def run(self, args: Sequence[str], sandbox: Sandbox, timeout: float = TIMEOUT) -> Result:
        env = _environment(sandbox)
        io_dir = Path(tempfile.mkdtemp(prefix="io-", dir=sandbox.root.parent))
        request = {
            "args": list(args),
            "cwd": str(sandbox.root),
            "env": env,
            "stdout": str(io_dir / "stdout"),
            "stderr": str(io_dir / "stderr"),
            "timeout": timeout,
            "memory": MEMORY_LIMIT,
        }
        with self._lock:
            zygote_env = dict(env, TMPDIR=str(sandbox.root.parent))
            proc = self._start(zygote_env)
            assert proc.stdin is not None and proc.stdout is not None
            t0 = time.monotonic()
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            seconds = time.monotonic() - t0
        if not line:
            raise RuntimeError("the fuzz zygote died; run the case with run_subprocess")
        reply = json.loads(line)
        out = (io_dir / "stdout").read_text("utf-8", "replace")
        err = (io_dir / "stderr").read_text("utf-8", "replace")
        for p in io_dir.iterdir():
            p.unlink()
        io_dir.rmdir()
        return Result(
            list(args), reply["code"], out, err, reply["pid"], reply["timed_out"], seconds
        )

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


ZYGOTE = Zygote()


def run_forked(args: Sequence[str], sandbox: Sandbox, timeout: float = TIMEOUT) -> Result:
    """``gradscope ARGS`` in a child forked from the session's zygote."""
    return ZYGOTE.run(args, sandbox, timeout)


# --------------------------------------------------------------------------- checks


def stderr_lines(text: str) -> list[str]:
    """Logical lines of stderr: click's usage block counts as one line.

    The block is "Usage: …" (wrapped lines indented), "Try '… --help' …", and
    "Error: …" (with click's own indented continuation, e.g. a list of choices).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Usage: "):
        return lines
    i = 1
    while i < len(lines) and lines[i][:1].isspace():
        i += 1
    if i >= len(lines) or not lines[i].startswith("Try '"):
        return lines
    i += 1
    if i >= len(lines) or not lines[i].startswith("Error: "):
        return lines
    block = lines[i]
    i += 1
    while i < len(lines) and lines[i][:1].isspace():
        i += 1
    return [block, *lines[i:]]


def _inside(rel: str, allowed: Iterable[str]) -> bool:
    return any(rel == a or rel.startswith(a.rstrip("/") + "/") for a in allowed)


def check_case(
    result: Result,
    sandbox: Sandbox,
    before: Snapshot,
    expect: Iterable[int],
    outputs: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Assert every promise for one finished case; ``outputs``: paths the command may write.

    ``expect`` is the set of exit codes the exit-code table allows for the case.
    """
    CASE_COUNTS[command_name(result.args)] += 1
    CASE_SECONDS[command_name(result.args)] += result.seconds
    try:
        _check(result, sandbox, before, set(expect), outputs)
    except AssertionError as exc:
        log = os.environ.get("GRADSCOPE_FUZZ_FAILURES")
        if log:  # one record per failing case, for the closing note
            with open(log, "a") as fh:
                fh.write(
                    json.dumps(
                        {
                            "args": result.args,
                            "exit": result.returncode,
                            "timed_out": result.timed_out,
                            "stderr": result.stderr[-2000:],
                            "why": str(exc).splitlines()[0],
                        }
                    )
                    + "\n"
                )
        raise


def _check(
    result: Result,
    sandbox: Sandbox,
    before: Snapshot,
    expect: set[int],
    outputs: Iterable[str | os.PathLike[str]],
) -> None:
    info = result.describe()
    allowed = [
        os.path.relpath(os.path.abspath(os.path.join(sandbox.root, p)), sandbox.root)
        for p in outputs
    ]
    leftovers = leftover_processes(result.pgid)
    assert not result.timed_out, f"a hang (killed after {TIMEOUT:.0f} s):\n{info}"
    assert result.returncode in expect, f"exit {result.returncode}, expected {expect}:\n{info}"
    assert "Traceback" not in result.stderr + result.stdout, f"a traceback:\n{info}"
    assert not _PY_WARNING.search(result.stderr), f"a Python warning leaked:\n{info}"
    if result.returncode != 0:
        lines = stderr_lines(result.stderr)
        assert len(lines) == 1, f"{len(lines)} lines on stderr, not one:\n{info}"
    assert not leftovers, f"processes left running: {leftovers}\n{info}"
    after = snapshot(sandbox.root)
    changed = sorted(rel for rel in set(before) | set(after) if before.get(rel) != after.get(rel))
    new_temporary = [
        rel for rel in changed if rel in after and rel not in before and _is_temporary(rel)
    ]
    assert not new_temporary, f"temporary files left behind: {new_temporary}\n{info}"
    in_tmp = [rel for rel in after if rel.startswith("tmp/")]
    assert not in_tmp, f"left in the TMPDIR given: {in_tmp}\n{info}"
    if result.returncode == 2:  # refused before work: nothing at all was written
        assert not changed, f"exit 2 (refused before work) but files changed: {changed}\n{info}"
    outside = [rel for rel in changed if not _inside(rel, allowed)]
    assert not outside, f"files outside the outputs {allowed} changed: {outside}\n{info}"


def run_case(
    args: Sequence[str],
    sandbox: Sandbox,
    expect: Iterable[int],
    outputs: Iterable[str | os.PathLike[str]] = (),
    *,
    fresh: bool = False,
) -> Result:
    """Run ``args`` (forked, or ``fresh``: ``python -m gradscope``) and :func:`check_case` it."""
    before = snapshot(sandbox.root)
    runner = run_subprocess if fresh else run_forked
    result = runner([str(a) for a in args], sandbox)
    check_case(result, sandbox, before, expect, outputs)
    return result
