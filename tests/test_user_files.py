"""Users' files that could hang a command or exhaust the machine get one line and exit 1.

Hypotheses (issue 16, the items that can take a machine down): a FIFO or a device given
where a file is read (weights, inputs, a sweep's configuration or existing table, a
counterexample, a sweep table to draw) is refused before a byte is read, so nothing
blocks and ``/dev/zero`` is never read; a ``.npy`` whose header declares more data than
the file holds is refused from the header, without allocating it; a file parsed whole is
refused past its size cap; nesting too deep for the parsers is one line, not a
RecursionError traceback. Every command runs as a subprocess with a timeout, so a
regression fails instead of hanging the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TIMEOUT = 60


def run(*args: str, cwd: Path, limit_memory: bool = False) -> subprocess.CompletedProcess[str]:
    """``gradscope ARGS`` in a subprocess; ``limit_memory``: under a 2 GiB address-space
    limit, so a regression fails instead of taking the machine."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    return subprocess.run(
        [sys.executable, "-m", "gradscope", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit if limit_memory else None,
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def weights(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "w.npz"
    np.savez(path, W_hh=0.5 * rng.standard_normal((4, 4)), W_xh=rng.standard_normal((4, 2)))
    return path


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    "make_args",
    [
        lambda f, w: ["analyze", str(f)],
        lambda f, w: ["spectrum", "--weights", str(f), "--T", "5"],
        lambda f, w: ["spectrum", "--weights", str(w), "--inputs", str(f)],
        lambda f, w: ["sweep", "--config", str(f)],
        lambda f, w: ["replay", str(f)],
        lambda f, w: ["plot", "sweep", str(f.with_suffix(".csv")), "-o", "x.png"],
    ],
    ids=["analyze", "spectrum-weights", "spectrum-inputs", "sweep-config", "replay", "plot"],
)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_pipes_and_devices_are_refused_before_any_read(tmp_path, make_args, kind):
    if kind == "fifo":
        target = tmp_path / "pipe.npz"
        os.mkfifo(target)
        if make_args(target, None)[0] == "plot":
            os.mkfifo(target.with_suffix(".csv"))
    else:
        target = tmp_path / "zero.npz"
        target.symlink_to("/dev/zero")
        if make_args(target, None)[0] == "plot":
            target.with_suffix(".csv").symlink_to("/dev/zero")
    args = make_args(target, weights(tmp_path))
    result = run(*args, cwd=tmp_path)
    assert_one_line(result, 1, "not a regular file")


def test_a_fifo_as_a_sweep_table_to_resume_is_refused(tmp_path):
    os.mkfifo(tmp_path / "out.csv")
    result = run(
        "sweep",
        "--hidden",
        "4",
        "--T",
        "5",
        "--norms",
        "0.9",
        "--seeds",
        "1",
        "--out",
        "out.csv",
        cwd=tmp_path,
    )
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def test_a_huge_declared_npy_shape_is_refused_from_its_header(tmp_path):
    """The header says 10⁶ × 10⁶ float64 (8 TB): refused at once, nothing allocated."""
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 2)))
    raw = path.read_bytes()
    header = raw.replace(b"(2, 2)", b"(1000000, 1000000)")
    path.write_bytes(header[: len(raw)] if len(header) == len(raw) else header)
    result = run(
        "spectrum", "--weights", str(weights(tmp_path)), "--inputs", str(path), cwd=tmp_path
    )
    assert_one_line(result, 1, "declares shape (1000000, 1000000)")


def test_a_huge_declared_member_of_an_npz_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    big = tmp_path / "W_hh.npy"
    np.save(big, np.zeros((4, 4)))
    big.write_bytes(big.read_bytes().replace(b"(4, 4)", b"(400000, 400000)"))
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.write(big, "W_hh.npy")
    result = run("spectrum", "--weights", str(path), "--T", "5", cwd=tmp_path)
    assert_one_line(result, 1, "declares shape (400000, 400000)")


def test_nesting_too_deep_is_one_line(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_one_line(run("replay", "deep.json", cwd=tmp_path), 1, "nested too deeply")
    (tmp_path / "deep.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert_one_line(run("sweep", "--config", "deep.toml", cwd=tmp_path), 1, "nested too deeply")


def test_a_config_over_its_size_cap_is_refused(tmp_path):
    (tmp_path / "big.toml").write_text("# " + "x" * (2 * 2**20) + "\n")
    assert_one_line(run("sweep", "--config", "big.toml", cwd=tmp_path), 1, "at most")


def test_a_sweep_table_line_that_is_not_an_object_is_one_line(tmp_path):
    (tmp_path / "t.jsonl").write_text("[1, 2]\n")
    assert_one_line(
        run("plot", "sweep", "t.jsonl", "-o", "x.png", cwd=tmp_path), 1, "not a JSON object"
    )


@pytest.mark.parametrize(
    "extra",
    [["--seeds", "10000000"], ["--T", str(2**70)], ["--hidden", "200000"]],
    ids=["seeds", "T", "hidden"],
)
def test_bound_refuses_a_size_that_does_not_fit_before_any_work(tmp_path, extra):
    result = run("bound", "--norm", "0.9", *extra, cwd=tmp_path, limit_memory=True)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "GB are available" in result.stderr


def test_sweep_refuses_a_size_that_does_not_fit_before_touching_its_output(tmp_path):
    result = run(
        *("sweep", "--T", "1000000000", "--norms", "0.9", "--hidden", "64", "--out", "s.csv"),
        cwd=tmp_path,
        limit_memory=True,
    )
    assert result.returncode == 2, result.stderr
    assert "GB are available" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_check_bound_memory_names_the_instances_that_fit():
    from gradscope.errors import SizeError
    from gradscope.studies.bound import check_bound_memory, estimate_bound_memory

    one = estimate_bound_memory(1, 64, 8, 1000, 100, "tanh")
    check_bound_memory(10, 64, 8, 1000, 100, "tanh", available=20 * one)  # fits in half
    with pytest.raises(SizeError, match="at most 10 instances"):
        check_bound_memory(11, 64, 8, 1000, 100, "tanh", available=20 * one)


def test_the_estimate_bounds_what_a_batch_allocates():
    """tracemalloc's peak (numpy reports its buffers) over a real batch lies below the
    estimate, and not far below it (the estimate is not a blanket constant)."""
    import tracemalloc

    from gradscope.studies.bound import Instance, estimate_bound_memory, measure_instances

    specs = [Instance(family="gaussian", seed=0, index=i, norm=0.9) for i in range(12)]
    tracemalloc.start()
    try:
        measure_instances(specs, activation="tanh", T=300, hidden=48, horizon_cap=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = estimate_bound_memory(12, 48, 8, 1000, 300, "tanh")
    assert estimate / 10 < peak <= estimate, (peak, estimate)


@pytest.mark.parametrize("value", ["1e-320", "5e-324", "1e301"])
def test_a_norm_outside_the_scale_range_is_bad_usage(tmp_path, value):
    """Issue 16: --norm 1e-320 reported the textbook bound as violated, 5e-324 as −∞."""
    result = run("bound", "--norm", value, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "outside [1e-300, 1e300]" in result.stderr and "Traceback" not in result.stderr


def test_the_library_refuses_the_same_scales():
    from gradscope.errors import ConfigError
    from gradscope.init import random_rnn
    from gradscope.studies.bound import compute_bound

    with pytest.raises(ConfigError, match=r"must lie in \[1e-300, 1e\+300\]"):
        random_rnn("gaussian", 4, norm=1e301)
    with pytest.raises(ConfigError, match="lost its digits"):
        compute_bound(norm=1e-320, T=5, hidden=4, seeds=1)
    random_rnn("gaussian", 4, norm=1e-300)  # the ends of the range are accepted
    random_rnn("gaussian", 4, radius=1e300)


def test_sweep_json_summary_is_byte_stable(tmp_path):
    """Issue 16: the summary printed wall-clock seconds, so the same sweep differed."""
    args = ("sweep", "--hidden", "4", "--T", "5", "--norms", "0.9", "--seeds", "1", "--json")
    first = run(*args, "--out", "a.csv", cwd=tmp_path)
    second = run(*args, "--out", "b.csv", cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout.replace("a.csv", "X") == second.stdout.replace("b.csv", "X")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


@pytest.mark.parametrize(
    ("scale", "x", "activation"),
    [(1e300, 1.0, "linear"), (1e300, 1.0, "relu"), (1.0, 1e308, "linear")],
)
def test_a_run_that_overflows_is_one_line_everywhere(tmp_path, scale, x, activation):
    """Issue 16: finite weights or inputs near float64's limit gave NaN states that
    spectrum accepted (exit 0 and RuntimeWarnings) while analyze refused them."""
    np.savez(tmp_path / "w.npz", W_hh=scale * np.eye(3), W_xh=np.full((3, 2), 2.0))
    np.save(tmp_path / "x.npy", np.full((6, 2), x))
    args = ("--inputs", "x.npy", "--activation", activation)
    result = run("spectrum", "--weights", "w.npz", *args, cwd=tmp_path)
    assert_one_line(result, 1, "the forward pass overflowed at step")


def test_the_forward_pass_names_the_step_that_overflowed():
    import warnings

    from gradscope.errors import ConfigError
    from gradscope.model import RNN
    from gradscope.numeric.forward import rnn_steps

    rnn = RNN(W_hh=1e300 * np.eye(2), W_xh=np.ones((2, 1)), activation="linear")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning leaks before the refusal
        with pytest.raises(ConfigError, match="overflowed at step 3"):
            rnn_steps(rnn, np.ones((5, 1)))
        tanh = RNN(W_hh=np.eye(2), W_xh=np.ones((2, 1)), activation="tanh")
        assert np.all(rnn_steps(tanh, np.full((3, 1), 1e308)).dphi == 0.0)  # saturated


LONG = "a" * 300


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--out", "{bad}", "--budget", "5"),
        ("plot", "decay", "--norm", "0.9", "-o", "{bad}.png"),
        ("bound", "--norm", "0.9", "--T", "5", "--plot", "{bad}.png"),
        ("sweep", "--norms", "0.9", "--hidden", "4", "--T", "5", "--out", "{bad}.csv"),
        ("report", "-o", "{bad}", "--T", "5"),
    ],
    ids=["check", "plot", "bound-plot", "sweep", "report"],
)
@pytest.mark.parametrize("bad", ["/proc/x", "afile/x", LONG], ids=["proc", "under-a-file", "long"])
def test_an_unwritable_output_is_refused_before_any_work(tmp_path, args, bad):
    """Issue 16: these were tracebacks, and check failed only after its whole search."""
    (tmp_path / "afile").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run(*(a.format(bad=bad) for a in args), cwd=tmp_path)
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
