"""Option values, every command: the exit code the table names, one line, nothing else touched.

Hypothesis (issue 16, "Keep it fixed"): whatever value an option gets — valid,
at a boundary, in range but extreme (1e300, 1e-300, inputs of 1e308), out of
range (1e-320, 5e-324, 1e308 as a norm, 0, negative), of the wrong kind (nan,
inf, text, empty, 5000 characters) or far too large (2**70, 10**9, 10**12) —
every command answers with the exit code of the exit-code table: 0 only for
valid values, 2 for bad usage and for sizes refused before work, 1 for a
failed run; a refusal is one line on stderr without a traceback or a Python
warning, writes nothing, leaves no temporary file and no process behind.
Each command starts from a small valid invocation and gets one or two of its
options replaced by drawn values (plus drawn flags).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz import _files, _values
from tests.fuzz._harness import Sandbox, run_case
from tests.fuzz._values import (
    Opt,
    choice_opt,
    int_opt,
    namelist_opt,
    nonnegative_opt,
    option_case,
    positive_opt,
    scale_opt,
)

FAMILIES = ("gaussian", "orthogonal", "identity", "uniform", "non-normal")
ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")
FAST = settings(settings.get_profile("gradscope-fuzz"), max_examples=5)
SLOW = settings(settings.get_profile("gradscope-fuzz"), max_examples=20)

#: A huge horizon cap is only an upper limit: a scan that ends early may run (no hang).
CAP = frozenset({0, 2})
SEED = Opt(
    "--seed",
    valid=st.one_of(st.just("0"), st.integers(0, 2**64).map(str)),
    bad=st.one_of(_values.ints_below(0), _values.NOT_INTS),
)
FIGURE = Opt(
    "--plot",
    valid=st.sampled_from(["out/figure.png", "out/figure.svg", "out/F.PNG"]),
    bad=st.sampled_from(["out/figure.txt", "out/figure", "out/figure.png.gz", "out/.png"]),
)


def _input_files(sandbox: Sandbox) -> dict[str, str]:
    """The valid files a base invocation reads, written into the sandbox's ``in/``."""
    paths = {}
    for kind in ("npz-torch", "npz-native", "inputs-npy", "counterexample"):
        suffix, data = _files.valid_files()[kind]
        path = sandbox.inputs / f"{kind}{suffix}"
        path.write_bytes(data)
        paths[kind] = str(path)
    return paths


#: command -> (base arguments, options to fuzz, flags, outputs it may write).
#: ``{npz-torch}`` etc. name the valid input files of :func:`_input_files`.
COMMANDS: dict[str, tuple[list[str], list[Opt], list[str], list[str]]] = {
    "bound": (
        ["bound", "--norm=0.9", "--T=4", "--hidden=3", "--seeds=1",
         "--families=identity,orthogonal", "--activations=tanh,linear"],
        [
            scale_opt("--norm"), scale_opt("--radius"),
            int_opt("--T", 1, 30), int_opt("--hidden", 1, 8), int_opt("--seeds", 1, 3),
            SEED, namelist_opt("--families", FAMILIES), namelist_opt("--activations", ACTIVATIONS),
            int_opt("--input-size", 1, 8), nonnegative_opt("--input-scale"),
            int_opt("--horizon-cap", 1, 2000, huge_codes=CAP), FIGURE,
        ],
        ["--json"],
        ["out/figure.png", "out/figure.svg", "out/F.PNG"],
    ),
    "spectrum": (
        ["spectrum", "--norm=0.9", "--T=6", "--hidden=3"],
        [
            scale_opt("--norm"), scale_opt("--radius"), choice_opt("--family", FAMILIES),
            int_opt("--hidden", 3, 8), int_opt("--input-size", 1, 8),
            int_opt("--T", 6, 30), choice_opt("--activation", ACTIVATIONS),
            nonnegative_opt("--input-scale"),
            int_opt("--start", 0, 5, minimum=0, group="window"),
            int_opt("--end", 1, 6, group="window"),
            int_opt("--show", 1, 50), int_opt("--top", 1, 3),
            choice_opt("--method", ("auto", "graded")), SEED, FIGURE,
        ],
        ["--json", "--certify"],
        ["out/figure.png", "out/figure.svg", "out/F.PNG"],
    ),
    "analyze": (
        ["analyze", "{npz-torch}", "--T=5"],
        [
            int_opt("--T", 1, 30), choice_opt("--activation", ("tanh", "relu")),
            int_opt("--layer", 0, 0, minimum=0),
            positive_opt("--threshold", 1e-12, 0.9), FIGURE,
        ],
        ["--json"],
        ["out/figure.png", "out/figure.svg", "out/F.PNG"],
    ),
    "derive": (
        ["derive", "--hidden=1", "--T=2"],
        [
            int_opt("--hidden", 1, 2), int_opt("--T", 1, 3),
            choice_opt("--activation", ACTIVATIONS),
            choice_opt("--what", ("jacobian", "gradient", "all")),
            int_opt("--input-size", 1, 2), int_opt("--output-size", 1, 2),
            Opt("--output", valid=st.sampled_from(["out/d.tex", "out/bptt.tex"])),
        ],
        ["--standalone"],
        ["out/d.tex", "out/bptt.tex"],
    ),
    "check": (
        ["check", "linear-norm-bound", "--budget=2"],
        [
            int_opt("--budget", 1, 4), SEED, FIGURE,
            Opt("--out", valid=st.sampled_from(["out/cex", "out"])),
            int_opt("--max-precision", 53, 256, minimum=53, huge=False),
        ],
        ["--json"],
        ["out/figure.png", "out/figure.svg", "out/F.PNG", "out/cex", "out"],
    ),
    "replay": (
        ["replay", "{counterexample}"],
        [int_opt("--max-precision", 53, 512, minimum=53, huge=False)],
        ["--json", "--certify"],
        [],
    ),
    "sweep": (
        ["sweep", "--norms=0.9", "--hidden=3", "--T=4", "--seeds=1",
         "--families=identity", "--activations=linear"],
        [
            Opt("--norms", valid=st.sampled_from(["0.9", "0.5,1.0", "1e-3", " 0.9 , 1.1 "]),
                extreme=st.sampled_from(["1e300", "1e-300", "1e-300,1e300"]),
                bad=st.one_of(_values.BAD_SCALES, st.sampled_from(["0.9,", ",", "0.9,,1"])),
                group="scale"),
            Opt("--radii", valid=st.sampled_from(["0.9", "1.0,0.5"]),
                bad=_values.BAD_SCALES, group="scale"),
            Opt("--hidden", valid=st.sampled_from(["3", "2,3", "1"]),
                bad=st.sampled_from(["0", "-1", "1.5", "x", "", "3,,4", "nan"]),
                huge=st.one_of(_values.HUGE_INTS,
                               st.just(",".join(str(i) for i in range(1, 10001))))),
            Opt("--T", valid=st.sampled_from(["4", "1,2", "7"]),
                bad=st.sampled_from(["0", "-5", "2.5", "T", "", "1e3"]),
                huge=_values.HUGE_INTS),
            int_opt("--seeds", 1, 2), SEED,
            namelist_opt("--families", FAMILIES), namelist_opt("--activations", ACTIVATIONS),
            int_opt("--input-size", 1, 8), nonnegative_opt("--input-scale"),
            int_opt("--horizon-cap", 1, 1000, huge_codes=CAP),
            Opt("--thresholds", valid=st.sampled_from(["0.01", "0.01,eps", "eps", "0.5,1e-300"]),
                bad=st.sampled_from(["0", "-0.1", "nan", "inf", "x", "", "1.5", "2", "eps,,"])),
            Opt("--out", valid=st.sampled_from(["out/table.csv", "out/table.jsonl"]),
                bad=st.sampled_from(["out/table.txt", "out/table", "out/table.csv.gz"])),
            Opt("--jobs", valid=st.sampled_from(["1", "2"]),
                bad=st.one_of(_values.ints_below(1), _values.NOT_INTS)),
        ],
        ["--json", "--no-progress"],
        ["out/table.csv", "out/table.jsonl"],
    ),
    "report": (
        ["report", "--output=out/report", "--T=3", "--hidden=2", "--seeds=1", "--budget=1"],
        [
            scale_opt("--norm", group=""), int_opt("--T", 1, 4), int_opt("--hidden", 1, 3),
            int_opt("--seeds", 1, 2), int_opt("--budget", 1, 2), SEED,
            choice_opt("--activation", ACTIVATIONS),
        ],
        [],
        ["out/report"],
    ),
}  # fmt: skip

PLOT_KINDS: dict[str, tuple[list[str], list[Opt]]] = {
    "vanishing-exploding": (["--T=5", "--hidden=2", "--seeds=1"], [
        int_opt("--T", 1, 10), int_opt("--hidden", 1, 4), int_opt("--seeds", 1, 2), SEED,
    ]),
    "decay": (["--T=5", "--hidden=2", "--seeds=1", "--norm=0.9"], [
        scale_opt("--norm"), scale_opt("--radius"), int_opt("--T", 1, 10),
        int_opt("--hidden", 1, 4), int_opt("--seeds", 1, 2),
        namelist_opt("--families", FAMILIES), namelist_opt("--activations", ACTIVATIONS), SEED,
    ]),
    "eigenvalues": (["--hidden=3", "--norm=0.9"], [
        scale_opt("--norm"), scale_opt("--radius"), int_opt("--hidden", 1, 8),
        choice_opt("--family", FAMILIES), SEED,
    ]),
    "spectrum": (["--T=5", "--hidden=3", "--norm=0.9"], [
        scale_opt("--norm"), scale_opt("--radius"), int_opt("--T", 1, 10),
        int_opt("--hidden", 1, 6), choice_opt("--family", FAMILIES),
        choice_opt("--activation", ACTIVATIONS), SEED,
    ]),
    "lyapunov": (["--T=5", "--hidden=3", "--norm=0.9"], [
        scale_opt("--norm"), scale_opt("--radius"), int_opt("--T", 1, 10),
        int_opt("--hidden", 1, 6), choice_opt("--family", FAMILIES),
        choice_opt("--activation", ACTIVATIONS), SEED,
    ]),
}  # fmt: skip


def _replace(base: list[str], drawn: list[str]) -> list[str]:
    """``base`` with each drawn ``--flag=value`` replacing the base's value of ``--flag``.

    A drawn ``--norm`` also drops the base's ``--radius`` and vice versa (one scale).
    """
    flags = {a.split("=", 1)[0] for a in drawn}
    if flags & {"--norm", "--radius"}:
        flags |= {"--norm", "--radius"}
    if flags & {"--norms", "--radii"}:
        flags |= {"--norms", "--radii"}
    return [a for a in base if a.split("=", 1)[0] not in flags] + drawn


def _run_options(name: str, data: st.DataObject, sandbox_base: Path) -> None:
    base, opts, flags, outputs = COMMANDS[name]
    sandbox = Sandbox.new(sandbox_base)
    files = _input_files(sandbox)
    drawn, expect, _labels = data.draw(option_case(opts, flags), label="options")
    args = [a.format(**files) if a.startswith("{") else a for a in _replace(base, drawn)]
    if name == "spectrum" and "--certify" in args and any("--hidden" in a for a in drawn):
        args = [a for a in args if a != "--certify"]  # exact products grow fast with n
    run_case(args, sandbox, expect, outputs)


@pytest.mark.parametrize("name", sorted(COMMANDS))
@FAST
@given(data=st.data())
def test_option_values(name, data, sandbox_base):
    """Hypothesis: drawn option values get exactly the exit code their class allows."""
    _run_options(name, data, sandbox_base)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
@SLOW
@given(data=st.data())
def test_option_values_more(name, data, sandbox_base):
    """Hypothesis: as test_option_values, over more drawn cases."""
    _run_options(name, data, sandbox_base)


def _run_plot(kind: str, data: st.DataObject, sandbox_base: Path) -> None:
    base, opts = PLOT_KINDS[kind]
    sandbox = Sandbox.new(sandbox_base)
    drawn, expect, _ = data.draw(option_case(opts), label="options")
    figure = data.draw(st.sampled_from(["out/f.png", "out/f.svg"]), label="figure")
    args = ["plot", kind, f"--output={figure}", *_replace(base, drawn)]
    run_case(args, sandbox, expect, [figure])


@pytest.mark.parametrize("kind", sorted(PLOT_KINDS))
@settings(FAST, max_examples=3)
@given(data=st.data())
def test_plot_option_values(kind, data, sandbox_base):
    """Hypothesis: every plot kind answers drawn option values as the table says."""
    _run_plot(kind, data, sandbox_base)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(PLOT_KINDS))
@settings(FAST, max_examples=10)
@given(data=st.data())
def test_plot_option_values_more(kind, data, sandbox_base):
    """Hypothesis: as test_plot_option_values, over more drawn cases."""
    _run_plot(kind, data, sandbox_base)


#: Usage mistakes that are no single option's value: exit 2, one line, nothing written.
USAGE_MISTAKES = [
    ["bound", "--T=4", "--hidden=3"],  # neither --norm nor --radius
    ["bound", "--norm=0.9", "--radius=0.9", "--T=4"],
    ["bound", "--norm=0.9", "--bogus"],
    ["bound", "--norm=0.9", "extra-argument"],
    ["spectrum", "--norm=0.9", "--radius=1", "--T=4"],
    ["spectrum", "--norm=0.9", "--T=4", "--hidden=3", "--vectors"],
    ["spectrum", "--norm=0.9", "--T=4", "--hidden=3", "--max-bits=10"],
    ["spectrum", "--norm=0.9", "--T=4", "--hidden=3", "--top=4"],
    ["spectrum", "--norm=0.9", "--T=4", "--hidden=3", "--start=3", "--end=2"],
    ["spectrum", "--norm=0.9", "--T=4", "--hidden=3", "--end=5"],
    ["spectrum", "--norm=0.9", "--T=4", "--hidden=3", "--method=matrix-free"],
    ["spectrum", "--norm=0.9", "--T=4", "--certify", "--method=matrix-free", "--top=2"],
    ["spectrum", "--inputs={inputs-npy}", "--norm=0.9"],  # inputs without weights' width
    ["analyze"],
    ["analyze", "{npz-torch}", "--layer=1"],
    ["analyze", "{npz-torch}", "--activation=sigmoid"],
    ["check", "no-such-claim"],
    ["check", "linear-norm-bound", "--budget=2", "--out="],
    ["replay"],
    ["replay", "{counterexample}", "{counterexample}"],
    ["sweep", "--hidden=3", "--T=4"],  # no --norms or --radii
    ["sweep", "--norms=0.9", "--radii=0.9"],
    ["sweep", "--norms=0.9", "--jobs=2", "--scheduler=tcp://127.0.0.1:1"],
    ["plot"],
    ["plot", "no-such-kind", "--output=out/f.png"],
    ["plot", "decay", "--norm=1", "--radius=1", "--output=out/f.png"],
    ["plot", "decay", "--norm=0.9"],  # no --output
    ["plot", "sweep", "--output=out/f.png"],  # no sweep file
    ["plot", "eigenvalues", "{counterexample}", "--output=out/f.png"],
    ["report", "--inputs={inputs-npy}", "--output=out/r"],
    ["derive", "--expand", "--hidden=5", "--T=5"],
    ["derive", "--hidden=1000", "--T=1000"],
    ["--threads=0", "bound", "--norm=0.9"],
    ["--threads=x", "bound", "--norm=0.9"],
    ["no-such-command"],
]


@pytest.mark.parametrize("args", USAGE_MISTAKES, ids=lambda a: " ".join(a)[:60])
def test_usage_mistakes(args, sandbox_base):
    """Hypothesis: a missing, conflicting or unknown option is bad usage: exit 2, one line."""
    sandbox = Sandbox.new(sandbox_base)
    files = _input_files(sandbox)
    run_case([a.format(**files) for a in args], sandbox, {2})
