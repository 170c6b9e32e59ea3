"""The command line: the headline, its JSON, bad values, and start-up cost."""

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gradscope.cli import GradscopeGroup, main
from gradscope.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


FAMILY_ROWS = [["gaussian"], ["orthogonal"], ["identity"], ["uniform"], ["non-normal"]]


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_headline_table():
    res = run("bound", "--norm", "0.9", "--T", "100")
    assert res.exit_code == 0, res.output
    out = res.output
    for family in ["gaussian", "orthogonal", "identity", "uniform", "non-normal"]:
        assert family in out
    header = next(ln for ln in out.splitlines() if ln.startswith("family "))
    assert header.split()[8] == "holds"  # after three two-word columns: the 6th cell of a row
    rows = [ln.split() for ln in out.splitlines() if ln.split()[:1] in FAMILY_ROWS]
    assert len(rows) == 10 and all(r[5] == "yes" for r in rows), out
    assert "T = 100" in out and "‖W‖₂ = 0.9" in out
    # the scaled orthogonal linear row is tight: measured = bound = 100 log10 0.9
    line = next(ln for ln in out.splitlines() if ln.startswith("orthogonal  linear"))
    assert line.split()[2:5] == ["-4.576", "-4.576", "0.000"]


def test_json_has_rows_settings_and_integer_seeds():
    res = run("bound", "--norm", "0.9", "--T", "50", "--hidden", "16", "--json")
    assert res.exit_code == 0
    payload = json.loads(res.output)
    assert payload["settings"]["T"] == 50 and payload["settings"]["norm"] == 0.9
    assert payload["settings"]["seeds"] == 5 and payload["settings"]["hidden"] == 16
    assert len(payload["rows"]) == 10
    for row in payload["rows"]:
        for key in (
            "family",
            "activation",
            "log10_measured",
            "log10_bound",
            "log10_ratio",
            "holds",
        ):
            assert key in row
        seeds = [s["seed"] for s in row["per_seed"]]
        assert seeds == [0, 1, 2, 3, 4] and all(type(s) is int for s in seeds)
        worst = max(row["per_seed"], key=lambda s: s["log10_ratio"])
        assert row["log10_measured"] == worst["log10_measured"]


def test_json_same_seed_same_bytes():
    args = [
        "bound",
        "--radius",
        "1.1",
        "--T",
        "30",
        "--hidden",
        "12",
        "--json",
        "--activations",
        "all",
    ]
    assert run(*args).output == run(*args).output
    assert run(*args).output != run(*args, "--seed", "3").output


def test_exact_zero_is_null_in_json_and_minus_infinity_in_tables():
    # relu with strongly negative inputs... simplest exact zero: relu and zero inputs,
    # h stays 0 and relu'(0) = 0, so the product is exactly zero.
    args = [
        "bound",
        "--norm",
        "0.9",
        "--T",
        "5",
        "--hidden",
        "4",
        "--seeds",
        "1",
        "--families",
        "gaussian",
        "--activations",
        "relu",
        "--input-scale",
        "0",
    ]
    payload = json.loads(run(*args, "--json").output)
    assert payload["rows"][0]["log10_measured"] is None
    assert "−∞" in run(*args).output


@pytest.mark.parametrize(
    "args",
    [
        ["--norm", "-1"],
        ["--norm", "nan"],
        ["--norm", "inf"],
        ["--norm", "0"],
        ["--norm", "1", "--T", "0"],
        ["--norm", "1", "--hidden", "0"],
        ["--norm", "1", "--radius", "1"],
        [],
        ["--norm", "1", "--families", "hadamard"],
        ["--norm", "1", "--activations", "gelu"],
        ["--norm", "abc"],
        ["--norm", "1", "--input-scale", "-2"],
    ],
)
def test_bad_values_are_usage_errors_with_one_line(args):
    res = CliRunner().invoke(main, ["bound", *args])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1


def test_gradscope_errors_become_one_line_and_exit_1():
    @click.group(cls=GradscopeGroup)
    def app():
        pass

    @app.command()
    def boom():
        raise ConfigError("weights.npz: W_hh is not square; give an (n, n) array")

    res = CliRunner().invoke(app, ["boom"])
    assert res.exit_code == 1
    assert res.output.strip() == "Error: weights.npz: W_hh is not square; give an (n, n) array"


def _python(code):
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout


def test_import_gradscope_does_not_import_numpy():
    assert _python("import sys, gradscope; print('numpy' in sys.modules)").strip() == "False"
    # ... and lazy attributes still work
    assert _python("import gradscope; print(gradscope.RNN.__name__)").strip() == "RNN"


def test_help_does_not_import_numpy():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom gradscope.cli import main\n"
        "CliRunner().invoke(main, ['--help'])\nCliRunner().invoke(main, ['bound', '--help'])\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'sympy', 'matplotlib') if m in sys.modules))"
    )
    assert _python(code).strip() == "[]"


def test_root_runner_behaves_as_the_command():
    args = ["bound", "--norm", "0.8", "--T", "7", "--hidden", "5", "--seeds", "2", "--json"]
    out = subprocess.run(
        [sys.executable, "cli.py", *args], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out == run(*args).output


def test_check_json_and_counterexample_files(tmp_path):
    res = run("check", "linear-norm-bound", "--budget", "200", "--json", "--out", str(tmp_path))
    assert res.exit_code == 0
    payload = json.loads(res.output)
    (claim,) = payload["claims"]
    for key in ("id", "verdict", "statement", "evidence", "counterexamples"):
        assert key in claim
    assert claim["verdict"] == "violated" and len(claim["counterexamples"]) == 2
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["linear-norm-bound-0.json", "linear-norm-bound-1.json"]
    cex = json.loads(files[0].read_text())
    for key in ("claim", "activation", "W_hh", "W_xh", "b", "h0", "inputs", "start", "end"):
        assert key in cex
    assert cex == claim["counterexamples"][0]
    again = run("replay", str(files[0]))
    assert again.exit_code == 0
    assert "contradicts the claim" in again.output and "NOT" not in again.output
    replayed = json.loads(run("replay", str(files[0]), "--json").output)
    assert replayed["contradicts"] is True


def test_check_table_and_bad_ids(tmp_path):
    res = run("check", "weight-sharing", "--budget", "100")
    assert res.exit_code == 0, res.output
    # the verdict cell itself: the legend below the table names every verdict, and
    # "holds" is also a prefix of "holds-under"
    row = next(ln for ln in res.output.splitlines() if ln.startswith("weight-sharing "))
    assert row.split()[:3] == ["weight-sharing", "holds", "0"]
    claim = json.loads(run("check", "weight-sharing", "--budget", "100", "--json").output)
    assert [c["verdict"] for c in claim["claims"]] == ["holds"]
    bad = CliRunner().invoke(main, ["check", "not-a-claim"])
    assert bad.exit_code == 2


def test_replay_bad_files(tmp_path):
    missing = CliRunner().invoke(main, ["replay", str(tmp_path / "none.json")])
    assert missing.exit_code == 1 and missing.output.startswith("Error:")
    garbage = tmp_path / "g.json"
    garbage.write_text("{not json")
    res = CliRunner().invoke(main, ["replay", str(garbage)])
    assert res.exit_code == 1 and "not a readable JSON" in res.output
    wrong = tmp_path / "w.json"
    wrong.write_text('{"claim": "linear-norm-bound"}')
    res = CliRunner().invoke(main, ["replay", str(wrong)])
    assert res.exit_code == 1 and "lacks field" in res.output and "Traceback" not in res.output


def test_check_and_replay_certify(tmp_path):
    res = run(
        "check",
        "linear-norm-bound",
        "--budget",
        "200",
        "--certify",
        "--json",
        "--out",
        str(tmp_path),
    )
    claim = json.loads(res.output)["claims"][0]
    assert claim["certified"] is True
    assert all(c["certified"] for c in claim["certificates"])
    table = run("check", "linear-norm-bound", "--budget", "200", "--certify").output
    assert "violated, certified" in table and "2 of 2 counterexamples proved" in table
    again = run("replay", str(tmp_path / "linear-norm-bound-0.json"), "--certify")
    assert "\nball arithmetic, 64 bits: certified: proved: " in again.output


def _plain_log10_singular_values(rnn, x):
    """An independent reference: the forward pass and the product in a plain numpy loop."""
    import numpy as np

    W, U, b = rnn.W_hh, rnn.W_xh, rnn.b
    h = np.zeros(W.shape[0])
    P = np.eye(W.shape[0])
    for x_t in x:
        h = np.tanh(W @ h + U @ x_t + b)
        P = ((1 - h**2)[:, None] * W) @ P
    return np.log10(np.linalg.svd(P, compute_uv=False))


def _rebuild(code, i=0):
    import gradscope

    scope = {"gradscope": gradscope, "i": i}
    exec(code, scope)
    return scope["rnn"], scope["x"]


def test_spectrum_prints_the_python_call_that_rebuilds_its_network():
    """Hypothesis: `--seed S` is instance 0 of run S, not `random_rnn(seed=S)`; the JSON's
    settings and the table say how to get the same network in Python."""
    import numpy as np

    args = ["spectrum", "--family", "orthogonal", "--norm", "0.9", "--hidden", "5", "--T", "12"]
    res = run(*args, "--seed", "3", "--json")
    data = json.loads(res.output)
    rnn, x = _rebuild(data["settings"]["python"])
    ref = _plain_log10_singular_values(rnn, x)
    got = np.array(data["log10_singular_values"])
    assert np.abs(got - ref).max() < 1e-9  # all within float range of σ₁ here
    table = run(*args, "--seed", "3").output
    assert data["settings"]["python"] in table


def test_bound_prints_the_python_call_of_every_row_and_seed():
    args = ["bound", "--norm", "0.9", "--T", "15", "--hidden", "4", "--seeds", "3"]
    args += ["--families", "gaussian,identity", "--activations", "tanh", "--seed", "5"]
    data = json.loads(run(*args, "--json").output)
    for row in data["rows"]:
        for entry in row["per_seed"]:
            rnn, x = _rebuild(row["python"], entry["seed"])
            assert rnn.W_hh.shape == (4, 4) and x.shape == (15, 8)
            ref = _plain_log10_singular_values(rnn, x)[0]
            assert entry["log10_measured"] == pytest.approx(ref, abs=1e-10)
    assert data["rows"][0]["python"] in run(*args).output


def test_matplotlib_is_a_core_dependency():
    """Hypothesis: the README's `pip install .` gives every command, figures and reports
    included, so matplotlib is a requirement of the package, not of an extra."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(dep.replace(" ", "").startswith("matplotlib>=") for dep in project["dependencies"])
