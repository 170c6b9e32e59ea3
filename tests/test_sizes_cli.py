"""Too large, refused before work; temporaries that never outlive a report; file modes.

Hypothesis: every estimate is within a factor of 2.5 of the peak memory that
tracemalloc measures on small cases (and at least half of it), so a refusal
based on it is neither wildly early nor late; the commands refuse a size or a
run time over the limits with one line and exit 2, writing nothing.
"""

import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

from gradscope import machine
from gradscope.cli import main
from gradscope.io_cells import layers_from_arrays

#: Estimated bytes / measured peak bytes must lie in [LOW, HIGH].
LOW, HIGH = 0.5, 2.5
GB = 10**9


def peak_bytes(fn):
    fn()  # warm caches and lazy imports outside the measurement
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- estimates


@pytest.mark.parametrize(
    ("activations", "scales", "T", "n", "seeds"),
    [
        (["linear"], [0.9], 2000, 16, 3),
        (["tanh"], [0.9], 2000, 16, 3),
        (["tanh"], [1.0], 3000, 8, 5),
        (["linear", "tanh"], [0.9, 1.1], 400, 48, 2),
    ],
)
def test_decay_estimate_matches_peak(activations, scales, T, n, seeds):
    from gradscope.studies.decay import compute_decay_curves, estimate_decay_work

    def run():
        compute_decay_curves(
            families=["orthogonal"],
            activations=activations,
            scales=scales,
            T=T,
            hidden=n,
            seeds=seeds,
        )

    est = estimate_decay_work(
        configurations=len(activations) * len(scales),
        nonlinear=len(scales) * sum(a != "linear" for a in activations),
        T=T,
        hidden=n,
        seeds=seeds,
    )
    assert LOW <= est.bytes / peak_bytes(run) <= HIGH


@pytest.mark.parametrize(("n", "T", "points"), [(16, 1000, 0), (48, 100, 0), (48, 100, 20)])
def test_spectrum_estimate_matches_peak(n, T, points):
    from gradscope.init import random_inputs, random_rnn
    from gradscope.studies.spectrum_report import (
        compute_spectrum_report,
        estimate_spectrum_work,
        spectrum_over_time,
    )

    rnn = random_rnn("gaussian", n, norm=0.9, seed=0)
    x = random_inputs(T, 8, seed=0)
    fn = (
        (lambda: spectrum_over_time(rnn, x, points=points))
        if points
        else (lambda: compute_spectrum_report(rnn, x))
    )
    assert LOW <= estimate_spectrum_work(n, T, points=points).bytes / peak_bytes(fn) <= HIGH


def layers(cell, n, m=4, count=1):
    rng = np.random.default_rng(1)
    g = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    arrays = {}
    for k in range(count):
        arrays[f"weight_hh_l{k}"] = 0.9 * rng.standard_normal((g * n, n)) / np.sqrt(n)
        arrays[f"weight_ih_l{k}"] = rng.standard_normal((g * n, m if k == 0 else n))
    return layers_from_arrays(arrays, source="w.npz", fmt="npz")


@pytest.mark.parametrize(
    ("cell", "n", "T", "count"), [("rnn", 32, 600, 1), ("lstm", 24, 600, 1), ("gru", 16, 400, 2)]
)
def test_analysis_estimate_matches_peak(cell, n, T, count):
    from gradscope.studies.analyze import compute_analysis, estimate_analysis_work

    loaded = layers(cell, n, count=count)
    x = np.random.default_rng(2).standard_normal((T, 4))
    ratio = estimate_analysis_work(loaded, T).bytes / peak_bytes(
        lambda: compute_analysis(loaded, x)
    )
    assert LOW <= ratio <= HIGH


def test_largest_fitting_is_the_boundary():
    from gradscope.studies.spectrum_report import (
        MAX_SECONDS,
        estimate_spectrum_work,
        largest_fitting,
    )

    avail = 8 * GB
    t = largest_fitting(lambda v: estimate_spectrum_work(64, v), 10**12, available=avail)
    assert t > 1
    inside, outside = estimate_spectrum_work(64, t), estimate_spectrum_work(64, t + 1)
    assert inside.bytes <= avail // 2 and inside.seconds <= MAX_SECONDS
    assert outside.bytes > avail // 2 or outside.seconds > MAX_SECONDS


def test_time_estimate_grows_with_the_work():
    """A run 10× longer is estimated 10× longer (within the fixed costs)."""
    from gradscope.studies.decay import estimate_decay_work

    short = estimate_decay_work(configurations=1, nonlinear=1, T=1000, hidden=32, seeds=2)
    long = estimate_decay_work(configurations=1, nonlinear=1, T=10000, hidden=32, seeds=2)
    assert 9 < long.seconds / short.seconds <= 10


# --------------------------------------------------------------------------- refusals


@pytest.fixture
def eight_gb(monkeypatch):
    """The same machine everywhere: 8 GB available."""
    monkeypatch.setattr(machine, "available_memory", lambda: 8 * GB)


def one_line(text):
    return len(text.strip().splitlines()) == 1


def assert_refused(res, *words):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert one_line(res.stderr), res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ")
    for w in words:
        assert w in last, last
    return last


HUGE = str(2**70)


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["plot", "decay", "--T", "100000000"], "--T "),
        (["plot", "vanishing-exploding", "--T", "1000000000"], "--T "),
        (["plot", "decay", "--T", HUGE], "--T "),
        (["plot", "spectrum", "--T", HUGE], "--T "),
        (["plot", "spectrum", "--T", "100000000"], "--T "),
        (["plot", "lyapunov", "--T", "100000000"], "--T "),
        (["plot", "eigenvalues", "--hidden", "100000"], "--hidden "),
    ],
)
def test_plot_refuses_before_work(tmp_path, eight_gb, args, fix):
    out = tmp_path / "f.png"
    start = time.perf_counter()
    res = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert time.perf_counter() - start < 5  # refused, not tried
    line = assert_refused(res, "needs about", fix)
    assert "out of memory" not in line
    assert not out.exists() and os.listdir(tmp_path) == []
    # the setting it names does fit
    value = line.split(fix, 1)[1].split()[0]
    assert value.isdigit()
    assert int(value) < int(args[args.index(fix.strip()) + 1])
    assert_fits(args[1], int(value) if fix == "--T " else 100, int(value) if fix != "--T " else 64)


def assert_fits(kind, T, hidden):
    """The checks the command runs accept the setting its refusal named."""
    from gradscope.cli._report import _check_network_work
    from gradscope.studies.decay import check_decay_work
    from gradscope.studies.spectrum_report import MAX_SECONDS

    if kind == "decay":  # defaults: orthogonal, tanh and linear, one scale, 5 seeds
        check_decay_work(
            configurations=2, nonlinear=1, T=T, hidden=hidden, seeds=5, max_seconds=MAX_SECONDS
        )
    elif kind == "vanishing-exploding":
        check_decay_work(
            configurations=6, nonlinear=3, T=T, hidden=32, seeds=5, max_seconds=MAX_SECONDS
        )
    else:
        _check_network_work(kind, hidden, T)


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["--T", "100000000"], "--T "),
        (["--hidden", "100000"], "--hidden "),
        (["--seeds", "10000000"], "--seeds "),
        (["--budget", "1000000000"], "--budget "),
    ],
)
def test_report_refuses_before_work(tmp_path, eight_gb, args, fix):
    out = tmp_path / "rep"
    start = time.perf_counter()
    res = CliRunner().invoke(main, ["report", "-o", str(out), *args])
    assert time.perf_counter() - start < 10
    assert_refused(res, fix)
    assert os.listdir(tmp_path) == []  # no folder, no staging folder


def npy_header_file(path, rows, m=4):
    """A real .npy of ``rows`` × m zeros, sparse on disk (its header tells the size)."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (rows, m)}
        )
        fh.truncate(fh.tell() + rows * m * 8)


def test_analyze_refuses_from_the_declared_shape(tmp_path, eight_gb, monkeypatch):
    rng = np.random.default_rng(0)
    w = tmp_path / "w.npz"
    np.savez(w, weight_hh_l0=0.5 * np.eye(16), weight_ih_l0=rng.standard_normal((16, 4)))
    x = tmp_path / "x.npy"
    npy_header_file(x, 50_000_000)  # 1.6 GB declared, nothing written
    from gradscope import io

    def no_loading(*a, **k):
        raise AssertionError("the inputs were loaded before the size check")

    monkeypatch.setattr(io, "load_array", no_loading)
    res = CliRunner().invoke(main, ["analyze", str(w), "--inputs", str(x)])
    assert_refused(res, "50000000 steps", "rows of")


def test_analyze_refuses_huge_T_and_large_n(tmp_path, eight_gb):
    w = tmp_path / "w.npz"
    np.savez(w, weight_hh_l0=0.5 * np.eye(8), weight_ih_l0=np.ones((8, 2)))
    assert_refused(CliRunner().invoke(main, ["analyze", str(w), "--T", HUGE]), "--T ")
    n = 4000
    big = tmp_path / "big.npz"
    np.savez(big, weight_hh_l0=np.eye(n) * 0.5, weight_ih_l0=np.ones((n, 1)))
    res = CliRunner().invoke(main, ["analyze", str(big), "--T", "10"])
    assert_refused(res, "n = 4000", "smaller network")


def test_analyze_corrupt_header_is_bad_data_not_too_large(tmp_path):
    w = tmp_path / "w.npz"
    np.savez(w, weight_hh_l0=0.5 * np.eye(4), weight_ih_l0=np.ones((4, 4)))
    x = tmp_path / "x.npy"
    with open(x, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 4)}
        )
        fh.write(b"\0" * 64)
    res = CliRunner().invoke(main, ["analyze", str(w), "--inputs", str(x)])
    assert res.exit_code == 1 and one_line(res.stderr), res.output


def test_small_runs_are_not_refused(tmp_path):
    out = tmp_path / "d.png"
    res = CliRunner().invoke(
        main, ["plot", "decay", "--T", "30", "--hidden", "6", "--seeds", "2", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert out.exists()


# --------------------------------------------------------------------------- usage


def test_plot_decay_norm_and_radius_conflict(tmp_path):
    out = tmp_path / "e.png"
    res = CliRunner().invoke(
        main, ["plot", "decay", "--norm", "1", "--radius", "1", "-o", str(out)]
    )
    assert res.exit_code == 2
    assert "at most one of --norm and --radius" in res.stderr
    assert not out.exists()


def sweep_table(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "family,hidden,T,log10_measured\ngaussian,4,10,-1.5\northogonal,8,20,-2.5\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [("--value", "family", ["'--value'", "numeric columns: hidden, T, log10_measured"])],
)
def test_plot_sweep_column_is_usage_error(tmp_path, option, value, words):
    out = tmp_path / "s.png"
    res = CliRunner().invoke(
        main, ["plot", "sweep", str(sweep_table(tmp_path)), option, value, "-o", str(out)]
    )
    assert res.exit_code == 2
    last = res.stderr.strip().splitlines()[-1]
    for w in words:
        assert w in last
    assert not out.exists()
    ok = CliRunner().invoke(main, ["plot", "sweep", str(sweep_table(tmp_path)), "-o", str(out)])
    assert ok.exit_code == 0 and out.exists()


def test_analyze_prints_huge_norms_in_4_significant_digits(tmp_path):
    w = tmp_path / "w.npz"
    np.savez(
        w,
        weight_hh_l0=np.eye(3) * 1e300,
        weight_ih_l0=np.ones((3, 2)),
        bias_ih_l0=-np.ones(3),  # relu stays at 0: φ' = 0, so nothing overflows
        bias_hh_l0=np.zeros(3),
    )
    res = CliRunner().invoke(main, ["analyze", str(w), "--T", "5", "--activation", "relu"])
    assert res.exit_code == 0, res.output
    assert "‖W_hh‖₂ = 1e+300" in res.stdout and "ρ(W_hh) = 1e+300" in res.stdout
    assert re.search(r"[0-9]{20}", res.stdout) is None  # no 300-digit numbers


# --------------------------------------------------------------------------- temporaries


def staging_entries(folder):
    """The staging folders in ``folder`` (not the write probe, ``.gradscope-probe-…``, which
    the output check makes and removes before the staging folder exists)."""
    return sorted(e for e in os.listdir(folder) if e.startswith(".gradscope-staging-"))


def start_report(tmp_path, name):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    env.pop("GRADSCOPE_PROGRESS", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gradscope",
            "report",
            "-o",
            str(tmp_path / name),
            "--T",
            "20",
            "--hidden",
            "6",
            "--seeds",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_staging(proc, folder, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if staging_entries(folder):
            time.sleep(0.5)  # well inside the work
            return
        if proc.poll() is not None:
            pytest.fail(f"the report ended before it could be stopped: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no staging folder appeared")


def test_sigterm_removes_the_staging_folder(tmp_path):
    proc = start_report(tmp_path, "r")
    wait_for_staging(proc, tmp_path)
    assert staging_entries(tmp_path)[0].startswith(f".gradscope-staging-{proc.pid}-")
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert err.strip().splitlines() == [
        "Error: stopped by SIGTERM; the unfinished report was removed (exit status 143)"
    ]
    assert os.listdir(tmp_path) == []


def test_sigkill_leftovers_are_removed_by_the_next_report(tmp_path):
    proc = start_report(tmp_path, "r")
    wait_for_staging(proc, tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    (stale,) = staging_entries(tmp_path)  # SIGKILL cannot be caught: it is left …
    live = tmp_path / f".gradscope-staging-{os.getpid()}-abcd1234"  # a running report's
    live.mkdir()
    mine = tmp_path / ".gradscope-staging-notes"  # not a name gradscope makes
    mine.mkdir()
    other = tmp_path / "keep.txt"
    other.write_text("user data", encoding="utf-8")

    from gradscope.io_folder import make_staging_folder

    fresh = make_staging_folder(tmp_path / "r2")  # … until the next report starts here
    left = set(os.listdir(tmp_path))
    assert stale not in left
    assert {live.name, mine.name, "keep.txt", os.path.basename(fresh)} == left
    assert other.read_text(encoding="utf-8") == "user data"


# --------------------------------------------------------------------------- permissions


@pytest.fixture(params=[0o022, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path):
    return os.stat(path).st_mode & 0o777


def test_report_folder_and_files_follow_the_umask(tmp_path, umask):
    from gradscope.report.document import ReportSettings, build_report

    out = tmp_path / "rep"
    build_report(
        str(out),
        ReportSettings(T=10, hidden=4, seeds=1, claims=False, derivation=False),
    )
    assert mode(out) == 0o777 & ~umask
    files = os.listdir(out)
    assert "index.html" in files and "decay.png" in files
    for name in files:
        assert mode(out / name) == 0o666 & ~umask, name


def test_atomic_writes_follow_the_umask_and_keep_an_existing_mode(tmp_path, umask):
    from gradscope.io_folder import write_atomic

    new = tmp_path / "new.txt"
    write_atomic(new, "x")
    assert mode(new) == 0o666 & ~umask
    old = tmp_path / "old.txt"
    old.write_text("before", encoding="utf-8")
    os.chmod(old, 0o640)
    write_atomic(old, "after")
    assert old.read_text(encoding="utf-8") == "after" and mode(old) == 0o640


def test_a_replaced_figure_keeps_its_mode(tmp_path, umask):
    out = tmp_path / "d.png"
    args = ["plot", "decay", "--T", "10", "--hidden", "4", "--seeds", "1", "-o", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert mode(out) == 0o666 & ~umask
    os.chmod(out, 0o604)
    assert CliRunner().invoke(main, args).exit_code == 0
    assert mode(out) == 0o604
