"""File contents, every command that reads a file: bad data is exit 1 in one line.

Hypothesis (issue 16, "Keep it fixed"): a file given to gradscope — weights
(.npz, .safetensors, .pt), inputs and initial states (.npy), a counterexample
(JSON), a sweep configuration (TOML), a sweep table to resume or to draw
(CSV, JSON lines) — that is valid runs (exit 0); one that is missing, a
folder, a FIFO, ``/dev/zero``, a dangling link, empty, truncated, garbage,
a pickle, over its declared size, with a huge declared shape, nested 10⁵
deep, with NaN/Inf, wrong keys, shapes or types, or tampered, is bad data:
exit 1 with one line on stderr, no traceback, no hang, the file and
everything beside it untouched, nothing temporary left. Sizes a file asks
for that would be refused as options (T = 10⁹ in a configuration) are
refused before work too (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz import _files
from tests.fuzz._harness import Sandbox, run_case

FAST = settings(settings.get_profile("gradscope-fuzz"), max_examples=5)
SLOW = settings(settings.get_profile("gradscope-fuzz"), max_examples=15)

#: Bad variants that may still be valid data: a success is allowed, or one line of exit 1.
MAYBE_VALID = {
    "float16", "longdouble", "int", "bool", "huge-weights", "extra-key", "W_hh-huge",
    "observed-list", "huge-values", "huge-field", "h0-wrong-length",
}  # fmt: skip
#: Bad configuration files that ask for too much: refused before work as too large.
TOO_LARGE = {"T-huge", "T-2**70", "seeds-huge", "grid-1e9"}


def _valid(sandbox: Sandbox, kind: str) -> str:
    suffix, data = _files.valid_files()[kind]
    path = sandbox.inputs / f"valid-{kind}{suffix}"
    path.write_bytes(data)
    return str(path)


Args = Callable[[Sandbox, str], list[str]]

#: target -> (the valid kinds of file it reads, its arguments given the file's path,
#: outputs it may write, and whether a file beside the target is the output itself).
TARGETS: dict[str, tuple[tuple[str, ...], Args, tuple[str, ...]]] = {
    "analyze": (
        ("npz-torch", "safetensors-torch", "pt", "npz-native"),
        lambda sb, p: ["analyze", p, "--T=5", "--json"],
        (),
    ),
    "analyze --inputs": (
        ("inputs-npy",),
        lambda sb, p: ["analyze", _valid(sb, "npz-torch"), f"--inputs={p}"],
        (),
    ),
    "spectrum --weights": (
        ("npz-native", "npz-torch", "safetensors-native", "safetensors-torch"),
        lambda sb, p: ["spectrum", f"--weights={p}", "--T=5"],
        (),
    ),
    "spectrum --inputs": (
        ("inputs-npy",),
        lambda sb, p: ["spectrum", f"--weights={_valid(sb, 'npz-native')}", f"--inputs={p}"],
        (),
    ),
    "spectrum --h0": (
        ("h0-npy",),
        lambda sb, p: ["spectrum", f"--weights={_valid(sb, 'npz-native')}", "--T=5", f"--h0={p}"],
        (),
    ),
    "replay": (("counterexample",), lambda sb, p: ["replay", p], ()),
    "sweep --config": (("config",), lambda sb, p: ["sweep", f"--config={p}"], ()),
    "plot sweep": (
        ("sweep-csv", "sweep-jsonl"),
        lambda sb, p: ["plot", "sweep", p, "--output=out/f.png"],
        ("out/f.png",),
    ),
}


def _content(kind: str) -> st.SearchStrategy[tuple[str, bytes | str, frozenset[int]]]:
    """(label, content, exit codes allowed) for a file of ``kind``."""
    _suffix, valid = _files.valid_files()[kind]
    bad = _files.bad_files(kind)

    # a configuration cut or flipped may still be valid TOML that lacks norms: then the
    # sweep lacks an option it needs (exit 2), as it does for an empty file
    mutation_codes = frozenset({0, 1, 2}) if kind == "config" else frozenset({0, 1})

    def of_bad(name: str) -> tuple[str, bytes | str, frozenset[int]]:
        if kind == "config" and name == "empty":
            codes = frozenset({2})
        elif name in TOO_LARGE:
            codes = frozenset({2})
        elif name in MAYBE_VALID:
            codes = frozenset({0, 1})
        else:
            codes = frozenset({1})
        return f"bad:{name}", bad[name][1], codes

    return st.one_of(
        st.just(("valid", valid, frozenset({0}))),
        _files.mutated(valid).map(
            lambda m: (
                f"mutated:{m[0]}",
                m[1],
                mutation_codes if m[2] or kind == "config" else frozenset({1}),
            )
        ),
        st.sampled_from(sorted(bad)).map(of_bad),
        st.sampled_from(_files.SPECIAL).map(lambda s: (f"special:{s}", s, frozenset({1}))),
    )


def _run_target(target: str, data: st.DataObject, sandbox_base: Path) -> None:
    kinds, make_args, outputs = TARGETS[target]
    kind = data.draw(st.sampled_from(kinds), label="kind")
    _label, content, expect = data.draw(_content(kind), label="content")
    sandbox = Sandbox.new(sandbox_base)
    suffix = _files.valid_files()[kind][0]
    path = _files.place(sandbox.inputs / f"file{suffix}", content)
    run_case(make_args(sandbox, str(path)), sandbox, expect, outputs)


@pytest.mark.parametrize("target", sorted(TARGETS))
@FAST
@given(data=st.data())
def test_file_contents(target, data, sandbox_base):
    """Hypothesis: valid files run; every kind of bad file is exit 1 (too large: 2), one line."""
    _run_target(target, data, sandbox_base)


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
@SLOW
@given(data=st.data())
def test_file_contents_more(target, data, sandbox_base):
    """Hypothesis: as test_file_contents, over more drawn files."""
    _run_target(target, data, sandbox_base)


@pytest.mark.parametrize(
    ("kind", "command"),
    [
        ("npz-native", ["spectrum", "--weights={}", "--T=5"]),
        ("safetensors-torch", ["analyze", "{}", "--T=5"]),
    ],
    ids=["spectrum", "analyze"],
)
@pytest.mark.parametrize(
    "bad", ["pickle", "npy-huge-shape", "nan", "missing-key", "torch-file", "deep-json"]
)
def test_every_hand_made_bad_weights_file(kind, command, bad, sandbox_base):
    """Hypothesis: the bad weights files the issue names are bad data for spectrum and analyze."""
    suffix, content = _files.bad_files(kind)[bad]
    sandbox = Sandbox.new(sandbox_base)
    path = _files.place(sandbox.inputs / f"w{suffix}", content)
    run_case([a.format(path) for a in command], sandbox, {1})


# --------------------------------------------------------------------------- sweep --out


SWEEP = [
    "sweep", "--norms=0.9", "--hidden=2,3", "--T=4", "--seeds=1",
    "--families=identity", "--activations=linear", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def sweep_tables(sandbox_base: Path) -> dict[str, bytes]:
    """The sweep's own table, CSV and JSON lines, written by a first valid run."""
    tables = {}
    for suffix in (".csv", ".jsonl"):
        sandbox = Sandbox.new(sandbox_base)
        run_case([*SWEEP, f"--out=out/t{suffix}"], sandbox, {0}, [f"out/t{suffix}"])
        tables[suffix] = (sandbox.out / f"t{suffix}").read_bytes()
    return tables


RESUMABLE = {"empty", "header-only"}


def _run_resume(data: st.DataObject, sandbox_base: Path, tables: dict[str, bytes]) -> None:
    suffix = data.draw(st.sampled_from([".csv", ".jsonl"]), label="suffix")
    valid = tables[suffix]
    kind = "sweep-csv" if suffix == ".csv" else "sweep-jsonl"
    bad = _files.bad_files(kind)
    _label, content, expect = data.draw(
        st.one_of(
            st.just(("valid", valid, frozenset({0}))),
            st.just(("missing", "missing", frozenset({0}))),
            st.just(("folder", "folder", frozenset({2}))),
            st.sampled_from(["fifo", "dev-zero"]).map(lambda s: (s, s, frozenset({1, 2}))),
            # a cut last line is an interrupted write: dropped and measured again
            _files.mutated(valid).map(lambda m: (m[0], m[1], frozenset({0, 1}))),
            # an empty file, or a header alone, is a table with no rows yet: resumed
            st.sampled_from(sorted(bad)).map(
                lambda b: (b, bad[b][1], frozenset({0, 1} if b in RESUMABLE else {1}))
            ),
        ),
        label="existing --out",
    )
    sandbox = Sandbox.new(sandbox_base)
    out = _files.place(sandbox.out / f"t{suffix}", content)
    run_case([*SWEEP, f"--out={out}"], sandbox, expect, [f"out/t{suffix}"])


@settings(FAST, max_examples=4)
@given(data=st.data())
def test_sweep_resumes_or_refuses_an_existing_out(data, sandbox_base, sweep_tables):
    """Hypothesis: an existing sweep --out is resumed when it is the sweep's own table and
    refused in one line (exit 1) when it is garbage, deep, huge or not a regular file."""
    _run_resume(data, sandbox_base, sweep_tables)


@pytest.mark.slow
@settings(FAST, max_examples=15)
@given(data=st.data())
def test_sweep_resumes_or_refuses_an_existing_out_more(data, sandbox_base, sweep_tables):
    """Hypothesis: as test_sweep_resumes_or_refuses_an_existing_out, over more files."""
    _run_resume(data, sandbox_base, sweep_tables)


# --------------------------------------------------------------------------- report


REPORT = ["report", "--output=out/r", "--T=3", "--hidden=2", "--seeds=1", "--budget=1"]


@pytest.mark.slow
@settings(SLOW, max_examples=6)
@given(data=st.data())
def test_report_weights_and_inputs(data, sandbox_base):
    """Hypothesis: report --weights/--inputs answer bad files as analyze does, before any
    work: no report folder, no staging folder beside it."""
    which = data.draw(st.sampled_from(["--weights", "--inputs"]), label="option")
    kind = data.draw(
        st.sampled_from(
            ["npz-native", "safetensors-torch"] if which == "--weights" else ["inputs-npy"]
        ),
        label="kind",
    )  # fmt: skip
    _label, content, expect = data.draw(_content(kind), label="content")
    sandbox = Sandbox.new(sandbox_base)
    suffix = _files.valid_files()[kind][0]
    path = _files.place(sandbox.inputs / f"file{suffix}", content)
    args = [*REPORT, f"{which}={path}"]
    if which == "--inputs":
        args.append(f"--weights={_valid(sandbox, 'npz-native')}")
    run_case(args, sandbox, expect, ["out/r"])
