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


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_headline_table():
    res = run("bound", "--norm", "0.9", "--T", "100")
    assert res.exit_code == 0, res.output
    out = res.output
    for family in ["gaussian", "orthogonal", "identity", "uniform", "non-normal"]:
        assert family in out
    assert "NO" not in out
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
    assert res.exit_code == 0 and "weight-sharing" in res.output and "holds" in res.output
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
    assert "ball arithmetic" in again.output and "certified" in again.output
