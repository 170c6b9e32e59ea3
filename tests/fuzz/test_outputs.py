"""Output locations, every option that writes: unwritable ones are refused before work (exit 2).

Hypothesis (issue 16, "Keep it fixed"): every place gradscope writes to
(``--plot`` of bound, spectrum, analyze and check; ``check --out``; ``plot -o``
of every kind; ``sweep --out``; ``report -o``; ``derive -o``) is checked before
any work: a missing folder, a path under a regular file, ``/proc``, ``/sys``,
a name too long for the file system (300 characters), an empty name, an
existing folder where a file is meant, are each one line and exit 2 with
nothing written and no temporary file left; a writable location with a
name that fits gets the output and nothing else changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz import _files
from tests.fuzz._harness import Sandbox, run_case

FAST = settings(settings.get_profile("gradscope-fuzz"), max_examples=2)
SLOW = settings(settings.get_profile("gradscope-fuzz"), max_examples=8)


def _weights(sandbox: Sandbox) -> str:
    path = sandbox.inputs / "w.npz"
    path.write_bytes(_files.valid_files()["npz-torch"][1])
    return str(path)


#: writer -> (arguments with ``{out}`` for the location, suffix of a file output or "/" for
#: a folder output).
WRITERS: dict[str, tuple[list[str], str]] = {
    "bound --plot": (["bound", "--norm=0.9", "--T=3", "--hidden=2", "--seeds=1",
                      "--families=identity", "--plot={out}"], ".png"),
    "spectrum --plot": (["spectrum", "--norm=0.9", "--T=4", "--hidden=2", "--plot={out}"], ".svg"),
    "analyze --plot": (["analyze", "{weights}", "--T=4", "--plot={out}"], ".png"),
    "check --plot": (["check", "linear-norm-bound", "--budget=1", "--plot={out}"], ".png"),
    "check --out": (["check", "eigenvalue-criterion", "--budget=2", "--out={out}"], "/"),
    "derive -o": (["derive", "--hidden=1", "--T=2", "--output={out}"], ".tex"),
    "sweep --out": (["sweep", "--norms=0.9", "--hidden=2", "--T=3", "--seeds=1",
                     "--families=identity", "--activations=linear", "--out={out}"], ".csv"),
    "report -o": (["report", "--output={out}", "--T=3", "--hidden=2", "--seeds=1",
                   "--budget=1"], "/"),
    "plot vanishing-exploding -o": (["plot", "vanishing-exploding", "--T=4", "--hidden=2",
                                     "--seeds=1", "--output={out}"], ".png"),
    "plot decay -o": (["plot", "decay", "--norm=0.9", "--T=4", "--hidden=2", "--seeds=1",
                       "--output={out}"], ".svg"),
    "plot eigenvalues -o": (["plot", "eigenvalues", "--hidden=3", "--norm=0.9",
                             "--output={out}"], ".png"),
    "plot spectrum -o": (["plot", "spectrum", "--T=4", "--hidden=2", "--norm=0.9",
                          "--output={out}"], ".png"),
    "plot lyapunov -o": (["plot", "lyapunov", "--T=4", "--hidden=2", "--norm=0.9",
                          "--output={out}"], ".png"),
    "plot sweep -o": (["plot", "sweep", "{table}", "--output={out}"], ".png"),
}  # fmt: skip
SLOW_WRITERS = {"report -o", "check --out"}


@st.composite
def locations(draw: st.DrawFn, suffix: str) -> tuple[str, str, frozenset[int], list[str]]:
    """(label, location, exit codes allowed, outputs) for a file (or folder, "/") output."""
    folder = suffix == "/"
    ext = "" if folder else suffix
    length = draw(st.integers(1, 320))
    name = ("n" * length + ext) if not folder else "d" * length
    if length + len(ext) <= 200:
        long_codes = frozenset({0})
    elif length + len(ext) > 255:
        long_codes = frozenset({2})
    else:  # fits the file system, but maybe not with a temporary name beside it
        long_codes = frozenset({0, 2})
    choices = [
        ("fine", f"out/result{ext}" if not folder else "out/result", frozenset({0})),
        ("existing-folder-inside", "out/sub/x" + ext if not folder else "out/sub", frozenset({0})),
        (
            "missing-folder",
            f"out/missing/deeper/x{ext}" if not folder else "out/missing/x",
            frozenset({2}),
        ),
        (
            "under-a-file",
            f"in/regular.txt/x{ext}" if not folder else "in/regular.txt/x",
            frozenset({2}),
        ),
        # a LaTeX file may have any name (an existing one is replaced: it is the output);
        # a figure or a table must have its own suffix
        ("the-file-itself", "in/regular.txt", frozenset({0 if ext == ".tex" else 2})),
        ("proc", f"/proc/gradscope-fuzz{ext}", frozenset({2})),
        ("proc-deeper", f"/proc/self/gradscope-fuzz/x{ext}", frozenset({2})),
        ("sys", f"/sys/gradscope-fuzz{ext}", frozenset({2})),
        ("empty", "", frozenset({2})),
        (f"name-{len(name)}", f"out/{name}", long_codes),
        ("300-in-folder", "out/" + "p" * 300 + f"/x{ext}", frozenset({2})),
    ]
    if not folder:
        choices.append(("a-folder", "out", frozenset({2})))
        choices.append(("root", "/", frozenset({2})))
    label, where, codes = draw(st.sampled_from(choices))
    outputs = [where] if codes != frozenset({2}) and where else []
    return label, where, codes, outputs


def _run_writer(writer: str, data: st.DataObject, sandbox_base: Path) -> None:
    args, suffix = WRITERS[writer]
    _label, where, expect, outputs = data.draw(locations(suffix), label="location")
    sandbox = Sandbox.new(sandbox_base)
    (sandbox.inputs / "regular.txt").write_text("a regular file\n")
    (sandbox.out / "sub").mkdir()
    table = sandbox.inputs / "t.csv"
    table.write_bytes(_files.sweep_csv())
    filled = [
        a.format(out=where, weights=_weights(sandbox) if "{weights}" in a else "", table=table)
        for a in args
    ]
    run_case(filled, sandbox, expect, outputs)


@pytest.mark.parametrize("writer", sorted(set(WRITERS) - SLOW_WRITERS))
@FAST
@given(data=st.data())
def test_output_locations(writer, data, sandbox_base):
    """Hypothesis: an unwritable output is exit 2 before work; a writable one gets the output."""
    _run_writer(writer, data, sandbox_base)


@pytest.mark.slow
@pytest.mark.parametrize("writer", sorted(WRITERS))
@SLOW
@given(data=st.data())
def test_output_locations_more(writer, data, sandbox_base):
    """Hypothesis: as test_output_locations, over more locations, report and check too."""
    _run_writer(writer, data, sandbox_base)


@pytest.mark.parametrize("writer", sorted(SLOW_WRITERS))
@pytest.mark.parametrize("where", ["out/missing/x", "in/regular.txt/x", "/proc/x", ""])
def test_folder_outputs_refused(writer, where, sandbox_base):
    """Hypothesis: report -o and check --out refuse an unwritable folder before work."""
    args, _ = WRITERS[writer]
    sandbox = Sandbox.new(sandbox_base)
    (sandbox.inputs / "regular.txt").write_text("a regular file\n")
    run_case([a.format(out=where) for a in args], sandbox, {2})


def test_report_refuses_a_non_empty_folder(sandbox_base):
    """Hypothesis: report -o into a folder holding a user's file is refused, the file kept."""
    sandbox = Sandbox.new(sandbox_base)
    (sandbox.out / "notes.txt").write_text("mine\n")
    args, _ = WRITERS["report -o"]
    run_case([a.format(out="out") for a in args], sandbox, {2})
