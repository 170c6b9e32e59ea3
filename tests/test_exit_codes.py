"""The exit-code table of docs/cli.md, row by row, on every command.

Hypotheses (issue 16): 0 success; 2 bad usage (an unknown option, a missing argument,
a value out of range, options that conflict); 2 a request too large, refused before
work; 2 an output location that cannot be written, checked before work; 1 bad data
(an input file missing, a folder, a pipe, malformed, tampered); 1 a failed run
(overflow, out of memory despite the estimate). Every refusal is one line on stderr
(click's usage block counts as one), never a traceback, and leaves no file behind.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from gradscope.cli import main

COMMANDS = ("bound", "spectrum", "derive", "check", "replay", "report", "analyze", "sweep", "plot")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def error_line(res: Result) -> str:
    """The one error line of a refusal (a usage block before it is allowed)."""
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], res.stderr
    if len(lines) > 1:  # click's usage block: "Usage: …" (maybe wrapped), "Try '… --help'"
        assert lines[0].startswith("Usage: ") and lines[-2].startswith("Try '"), res.stderr
    return errors[0]


def refused(res: Result, code: int, *fragments: str) -> str:
    assert res.exit_code == code, (res.exit_code, res.stderr, res.stdout)
    line = error_line(res)
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """A small valid weights file, inputs, and a folder, a FIFO and a missing path."""
    w = tmp_path / "w.npz"
    np.savez(w, W_hh=0.5 * np.eye(3), W_xh=np.ones((3, 2)), b=np.zeros(3))
    x = tmp_path / "x.npy"
    np.save(x, np.ones((4, 2)))
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    return {
        "weights": str(w),
        "inputs": str(x),
        "folder": str(folder),
        "fifo": str(fifo),
        "missing": str(tmp_path / "missing.npz"),
        "tmp": str(tmp_path),
    }


# --- 0: success --------------------------------------------------------------------


def test_success_is_0(files):
    assert run("derive", "--hidden", "1", "--T", "1").exit_code == 0
    assert (
        run("spectrum", "--weights", files["weights"], "--inputs", files["inputs"]).exit_code == 0
    )


# --- 2: bad usage ------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_option_is_2_on_every_command(command):
    refused(run(command, "--no-such-option"), 2, "No such option")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["replay"], "Missing argument"),
        (["analyze"], "Missing argument"),
        (["plot", "decay"], "Missing option"),
        (["bound", "--norm", "1e301"], "[1e-300, 1e300]"),
        (["bound", "--norm", "1", "--radius", "1"], "exactly one of --norm and --radius"),
        (["spectrum", "--norm", "0.9", "--T", "0"], "--T"),
        (["derive", "--hidden", "x"], "--hidden"),
        (["check", "--budget", "0"], "--budget"),
        (["check", "no-such-claim"], "no-such-claim"),
        (["report", "--inputs", "x.npy"], "--inputs goes with --weights"),
        (["plot", "decay", "-o", "a.pdf"], ".png or .svg"),
    ],
)
def test_bad_usage_is_2(args, fragment):
    refused(run(*args), 2, fragment)


@pytest.mark.parametrize("option", ["--norms", "--radii"])
@pytest.mark.parametrize("value", ["1e301", "1e-320"])
def test_sweep_scale_out_of_range_is_usage_2(option, value):
    """Was exit 1: the range check of the grid ran as if the value came from a file."""
    refused(run("sweep", option, value), 2, f"Invalid value for {option}", "[1e-300, 1e+300]")


# --- 2: too large, refused before work ---------------------------------------------


def test_check_budget_of_hours_is_refused_before_work_naming_one_that_fits(tmp_path):
    out = tmp_path / "cex"
    start = time.perf_counter()
    res = run("check", "--budget", "1000000000", "--out", str(out))
    assert time.perf_counter() - start < 10  # refused from the estimate, not after searching
    line = refused(res, 2, "--budget 1,000,000,000", "10 minutes", "use --budget ")
    fits = int(line.rsplit("use --budget ", 1)[1].split()[0])
    from gradscope.claims import MAX_CHECK_SECONDS, estimate_check_seconds

    assert estimate_check_seconds(None, fits) <= MAX_CHECK_SECONDS
    assert estimate_check_seconds(None, fits + 1) > MAX_CHECK_SECONDS
    assert not out.exists()


def test_check_budget_of_thousands_of_digits_is_one_line():
    refused(
        run("check", "memory-horizon", "--budget", "9" * 4000),
        2,
        "--budget about 10^",
        "1,000 years",
    )
    refused(run("check", "memory-horizon", "--budget", "9" * 5000), 2, "--budget")  # click's


def test_default_budgets_fit_the_limit():
    from gradscope.claims import MAX_CHECK_SECONDS, check_budget, estimate_check_seconds

    check_budget(None, None)  # never refused
    assert estimate_check_seconds(None, None) < MAX_CHECK_SECONDS / 5


def test_sizes_too_large_are_2():
    refused(run("sweep", "--norms", "1", "--hidden", "100000000"), 2, "GB")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--hidden", "3", "--T", "9", "--expand", "--what", "jacobian"], "--T 8"),
        (["--hidden", "3", "--T", "6", "--expand"], "--T 2"),  # --what all: both, up front
        (["--hidden", "1", "--T", "8", "--expand", "--output-size", "16"], "--output-size 2"),
        (["--hidden", "17"], "--hidden 16"),
        (["--hidden", "4", "--T", "251"], "T=251"),
    ],
)
def test_derivations_beyond_the_limits_are_2_naming_sizes_that_fit(args, fragment):
    """The limits keep every allowed derivation to a few seconds (m = p = 16 with an
    expanded gradient took 69 s; hidden = 63 at T = 1, 32 s)."""
    start = time.perf_counter()
    refused(run("derive", *args), 2, fragment)
    assert time.perf_counter() - start < 5  # refused before any SymPy work


# --- 2: an output location that cannot be written, before work ----------------------


def _outputs(files: dict[str, str]) -> list[tuple[list[str], str, str]]:
    """(command line without the location, the option, the file name to write)."""
    w = files["weights"]
    return [
        (["check", "linear-norm-bound", "--budget", "5", "--out"], "--out", "cex"),
        (["report", "--hidden", "2", "--T", "2", "--seeds", "1", "-o"], "-o", "rep"),
        (["plot", "eigenvalues", "--hidden", "2", "-o"], "--output", "a.png"),
        (["bound", "--norm", "0.9", "--hidden", "2", "--T", "2", "--plot"], "--plot", "a.png"),
        (["spectrum", "--weights", w, "--T", "2", "--plot"], "--plot", "a.png"),
        (["analyze", w, "--T", "2", "--plot"], "--plot", "a.png"),
        (["check", "linear-norm-bound", "--budget", "5", "--plot"], "--plot", "a.png"),
        (["derive", "--hidden", "1", "--T", "1", "-o"], "--output", "d.tex"),
        (["sweep", "--norms", "1", "--hidden", "2", "--T", "2", "--out"], "--out", "s.csv"),
    ]


@pytest.mark.parametrize("case", range(9))
@pytest.mark.parametrize("where", ["missing folder", "under a file", "/proc", "too long", "empty"])
def test_unwritable_output_is_2_before_work(files, case, where):
    args, option, name = _outputs(files)[case]
    tmp = Path(files["tmp"])
    a_file = tmp / "plain.txt"
    a_file.write_text("x")
    suffix = Path(name).suffix
    location = {
        "missing folder": str(tmp / "nowhere" / name),
        "under a file": str(a_file / name),
        "/proc": f"/proc/{name}",
        "too long": str(tmp / ("n" * 300 + suffix)),
        "empty": "",
    }[where]
    if where == "empty" and option == "--plot":
        expect = ".png or .svg"  # the suffix check comes first; still usage, exit 2
    elif where == "empty" and args[0] == "sweep":
        expect = ".csv or .jsonl"
    else:
        expect = option
    before = sorted(os.listdir(tmp))
    refused(run(*args, location), 2, expect)
    assert sorted(os.listdir(tmp)) == before  # nothing written, no temporary left
    assert a_file.read_text() == "x"


def test_check_out_empty_name_is_2_not_silently_ignored():
    """Was exit 0: an empty --out was taken as no --out at all."""
    refused(run("check", "linear-norm-bound", "--budget", "5", "--out", ""), 2, "empty name")


# --- 1: bad data -------------------------------------------------------------------


def _inputs(files: dict[str, str], bad: str) -> list[list[str]]:
    w, x = files["weights"], files["inputs"]
    return [
        ["spectrum", "--weights", bad],
        ["spectrum", "--weights", w, "--inputs", bad],
        ["spectrum", "--weights", w, "--inputs", x, "--h0", bad],
        ["analyze", bad],
        ["analyze", w, "--inputs", bad],
        ["report", "--weights", bad, "-o", os.path.join(files["tmp"], "rep")],
        ["report", "--weights", w, "--inputs", bad, "-o", os.path.join(files["tmp"], "rep")],
        ["replay", bad],
        ["plot", "sweep", bad.replace(".npz", ".csv"), "-o", os.path.join(files["tmp"], "a.png")],
        ["sweep", "--config", bad, "--norms", "1"],
    ]


@pytest.mark.parametrize("case", range(10))
@pytest.mark.parametrize("kind", ["missing", "folder", "fifo"])
def test_input_missing_folder_or_pipe_is_1(files, case, kind):
    """A folder given as a weights file was exit 2 (click's Path check); it is bad data."""
    bad = files[kind]
    if case == 8:  # a sweep table: the same kinds of path, named .csv
        target = bad.replace(".npz", ".csv")
        if kind == "folder":
            os.mkdir(target)
        elif kind == "fifo":
            os.mkfifo(target)
    line = refused(run(*_inputs(files, bad)[case]), 1)
    assert {"missing": "no such file", "folder": "folder", "fifo": "not a regular file"}[
        kind
    ] in line or (case == 8 and ".csv" in line)
    assert not os.path.exists(os.path.join(files["tmp"], "rep"))


def test_text_file_as_inputs_is_not_called_a_pickle(files, tmp_path):
    text = tmp_path / "x.npy"
    text.write_text("1 2\n3 4\n")
    for args in (
        ["spectrum", "--weights", files["weights"], "--inputs", str(text)],
        ["analyze", files["weights"], "--inputs", str(text)],
    ):
        line = refused(run(*args), 1, "is not a .npy file")
        assert "pickle" not in line


def test_torch_file_named_safetensors_says_rename_it_pt(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "rnn.safetensors"
    torch.save(torch.nn.RNN(2, 3).state_dict(), path)
    for args in (["analyze", str(path)], ["spectrum", "--weights", str(path)]):
        line = refused(run(*args), 1, "torch.save file", "rename it .pt")
        assert "header" not in line
    renamed = tmp_path / "rnn.pt"
    path.rename(renamed)
    assert run("analyze", str(renamed), "--T", "3").exit_code == 0  # the advice works


def test_huge_declared_shape_is_bad_data_not_out_of_memory(files, tmp_path):
    """Claim: a corrupt header declaring 80 GB is refused from the header (exit 1)."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }"
    header += " " * (117 - len(header)) + "\n"
    path = tmp_path / "huge.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    line = refused(run("spectrum", "--weights", files["weights"], "--inputs", str(path)), 1)
    assert "declares shape (100000, 100000)" in line and "memory" not in line


# --- 1: a failed run ---------------------------------------------------------------


def test_overflowing_forward_pass_is_1(tmp_path):
    w = tmp_path / "big.npz"
    np.savez(w, W_hh=np.full((3, 3), 1e300), W_xh=np.ones((3, 2)))
    args = ["spectrum", "--weights", str(w), "--T", "5", "--activation", "linear"]
    refused(run(*args), 1, "overflow")


@pytest.mark.parametrize(
    "args, target, expect, absent",
    [
        (["bound", "--norm", "0.9"], "gradscope.studies.bound.compute_bound", "--hidden", None),
        (
            ["derive"],
            "gradscope.symbolic.latex.document.render_document",
            "gradscope derive ran out of memory",
            "--seeds",
        ),
        (["replay", "__FILE__"], "gradscope.claims.replay", "its input is too large", "--hidden"),
    ],
)
def test_out_of_memory_is_1_with_a_message_that_fits_the_command(
    monkeypatch, tmp_path, args, target, expect, absent
):
    """The old message named --hidden, --T and seeds for commands without them."""
    import importlib

    module, name = target.rsplit(".", 1)

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(importlib.import_module(module), name, boom)
    if "__FILE__" in args:
        from gradscope.claims import check_claim

        cex = check_claim("linear-norm-bound", budget=50).counterexamples[0]
        path = tmp_path / "c.json"
        path.write_text(cex.to_json())
        args = [str(path) if a == "__FILE__" else a for a in args]
    line = refused(run(*args), 1, expect)
    if absent:
        assert absent not in line


# --- check: stale counterexample files, --certify without python-flint ---------------


def test_check_removes_only_its_own_stale_files(tmp_path):
    out = tmp_path / "cex"
    out.mkdir()
    stale = out / "linear-norm-bound-7.json"
    stale.write_text("{}")
    other_claim = out / "memory-horizon-0.json"  # a claim not checked now: kept
    other_claim.write_text("{}")
    mine = out / "notes-0.txt"
    mine.write_text("keep")
    lookalike = out / "linear-norm-bound-07.json"  # not a name gradscope writes
    lookalike.write_text("keep")
    (out / "linear-norm-bound-9.json").mkdir()  # a folder of that name is not touched
    res = run("check", "linear-norm-bound", "--budget", "300", "--out", str(out))
    assert res.exit_code == 0, res.stderr
    assert not stale.exists()
    assert "removed 1 stale counterexample file" in res.stdout and stale.name in res.stdout
    assert other_claim.read_text() == "{}" and mine.read_text() == "keep"
    assert lookalike.read_text() == "keep" and (out / "linear-norm-bound-9.json").is_dir()
    written = sorted(p.name for p in out.glob("linear-norm-bound-?.json") if p.is_file())
    assert written and all(json.loads((out / n).read_text())["claim"] for n in written)


def test_check_json_reports_removed_files_on_stderr_only(tmp_path):
    out = tmp_path / "cex"
    out.mkdir()
    (out / "linear-norm-bound-5.json").write_text("{}")
    res = run("check", "linear-norm-bound", "--budget", "300", "--out", str(out), "--json")
    assert res.exit_code == 0
    json.loads(res.stdout)  # stdout is JSON alone
    assert "linear-norm-bound-5.json" in res.stderr


@pytest.mark.parametrize("command", [["check", "linear-norm-bound"], ["replay", "__FILE__"]])
def test_certify_without_flint_fails_before_work(monkeypatch, tmp_path, command):
    import gradscope.claims as claims

    calls = []
    monkeypatch.setattr(claims, "check_claim", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(claims, "replay", lambda *a, **k: calls.append(a))
    monkeypatch.setitem(sys.modules, "flint", None)  # import flint raises ImportError
    path = tmp_path / "c.json"
    path.write_text("{}")
    args = [str(path) if a == "__FILE__" else a for a in command]
    refused(run(*args, "--certify"), 1, "python-flint", "gradscope[certify]")
    assert calls == []  # no search, no replay was started
