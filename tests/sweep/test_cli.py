"""``gradscope sweep`` through click's CliRunner: output modes, options over TOML, bad input."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from gradscope.cli import main
from tests.sweep import SMALL, SMALL_ROWS

TINY = ["--families", "gaussian", "--hidden", "4", "--T", "10", "--activations", "tanh",
        "--seeds", "2", "--horizon-cap", "20"]  # fmt: skip


def invoke(*args):
    return CliRunner().invoke(main, ["sweep", *args])


def test_csv_on_stdout_in_grid_order():
    result = invoke(*SMALL)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == SMALL_ROWS
    assert rows[0]["family"] == "gaussian" and rows[-1]["family"] == "non-normal"
    assert all(r["holds"] == "true" for r in rows)


def test_json_lines_on_stdout_match_the_csv():
    as_csv = list(csv.DictReader(invoke(*TINY, "--norms", "0.9").stdout.splitlines()))
    result = invoke(*TINY, "--norms", "0.9", "--json")
    assert result.exit_code == 0
    as_json = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(as_json) == len(as_csv) == 2
    for c, j in zip(as_csv, as_json, strict=True):
        assert float(c["log10_measured"]) == j["log10_measured"]
        assert int(c["hidden"]) == j["hidden"] and c["family"] == j["family"]


def test_out_with_json_prints_one_summary(tmp_path):
    out = tmp_path / "r.jsonl"
    result = invoke(*TINY, "--norms", "0.9", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["command"] == "sweep" and summary["rows"] == 2 and summary["computed"] == 2
    assert summary["settings"]["norms"] == [0.9]
    again = json.loads(invoke(*TINY, "--norms", "0.9", "--out", str(out), "--json").stdout)
    assert (again["computed"], again["skipped"]) == (0, 2)


def test_progress_on_request(tmp_path):
    result = invoke(*TINY, "--norms", "0.9", "--out", str(tmp_path / "r.csv"), "--progress")
    assert result.exit_code == 0
    assert "sweep [" in result.stderr and "2/2 rows" in result.stderr
    assert "sweep [" not in result.stdout


def test_toml_config_with_override(tmp_path):
    config = tmp_path / "grid.toml"
    config.write_text(
        'families = ["orthogonal"]\nnorms = [0.8]\nhidden = [4]\nT = [10, 20]\n'
        'activations = ["linear"]\nseeds = 2\nseed = 5\n'
    )
    rows = list(csv.DictReader(invoke("--config", str(config)).stdout.splitlines()))
    assert {(r["T"], r["scale_kind"], r["scale"], r["seed"]) for r in rows} == {
        ("10", "norm", "0.8", "5"),
        ("20", "norm", "0.8", "5"),
    }
    result = invoke("--config", str(config), "--T", "30", "--radii", "0.7", "--seed", "1")
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 2
    assert {(r["T"], r["scale_kind"], r["scale"], r["seed"], r["family"]) for r in rows} == {
        ("30", "radius", "0.7", "1", "orthogonal")
    }
    # linear + orthogonal: the bound is tight
    assert all(abs(float(r["log10_ratio"])) < 1e-12 for r in rows)


def _one_line_error(result):
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--norms", "0.9", "--radii", "1"], "not both"),
        (["--families", "gaussian,lstm", "--norms", "1"], "lstm"),
        (["--activations", "swish", "--norms", "1"], "swish"),
        (["--families", ",", "--norms", "1"], "at least one"),
        (["--norms", ""], "at least one number"),
        (["--norms", "0.9,nan"], "finite"),
        (["--hidden", "0", "--norms", "1"], ">= 1"),
        (["--T", "ten", "--norms", "1"], "not an integer"),
        (["--seeds", "0", "--norms", "1"], "seeds"),
        (["--families", "gaussian"], "give --norms or --radii"),
        (["--norms", "1", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        (["--norms", "1", "--out", "results.txt"], ".csv or .jsonl"),
        (["--norms", "1", "--out", "no/such/folder/r.csv"], "does not exist"),
    ],
)
def test_bad_options_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in _one_line_error(result)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_output_that_is_a_folder_exits_2(tmp_path):
    (tmp_path / "r.csv").mkdir()
    result = invoke(*TINY, "--norms", "1", "--out", str(tmp_path / "r.csv"))
    assert result.exit_code == 2 and "is a folder" in _one_line_error(result)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("norms = [0.9", "not valid TOML"),
        ("norms = [1]\nwidth = 3\n", "unknown key"),
        ("norms = [1]\nradii = [2]\n", "not both"),
        ("norms = [1]\nfamilies = []\n", "at least one family"),
        ("norms = [1]\nactivations = ['gelu']\n", "gelu"),
    ],
)
def test_bad_toml_exits_1(tmp_path, text, message):
    config = tmp_path / "grid.toml"
    config.write_text(text)
    out = tmp_path / "r.csv"
    result = invoke("--config", str(config), "--out", str(out))
    assert result.exit_code == 1
    line = _one_line_error(result)
    assert message in line and str(config) in line
    assert not out.exists()


def test_missing_config_exits_1(tmp_path):
    result = invoke("--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 1 and "no such file" in _one_line_error(result)


def test_output_of_another_sweep_exits_1_untouched(tmp_path):
    out = tmp_path / "r.csv"
    assert invoke(*TINY, "--norms", "1", "--out", str(out)).exit_code == 0
    before = out.read_bytes()
    result = invoke(*TINY, "--norms", "1", "--out", str(out), "--thresholds", "0.1")
    assert result.exit_code == 1
    assert "columns do not match" in _one_line_error(result)
    assert out.read_bytes() == before


def test_corrupt_output_exits_1_untouched(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text('{"family": "gaussian"}\n')
    result = invoke(*TINY, "--norms", "1", "--out", str(out))
    assert result.exit_code == 1 and str(out) in _one_line_error(result)
    assert out.read_text() == '{"family": "gaussian"}\n'


def test_interrupted_line_is_reported_and_dropped(tmp_path):
    out = tmp_path / "r.csv"
    assert invoke(*TINY, "--norms", "1", "--out", str(out)).exit_code == 0
    full = out.read_bytes()
    out.write_bytes(full[:-7])
    result = invoke(*TINY, "--norms", "1", "--out", str(out))
    assert result.exit_code == 0
    assert "dropped an incomplete last line" in result.stderr
    assert "1 rows already there; measuring 1" in result.stderr
    assert out.read_bytes() == full


def test_the_summary_gives_the_python_call_that_rebuilds_each_row(tmp_path):
    """Hypothesis: a row's network is instance seed_index of run seed S, and the JSON
    summary's `python`, run with the row's columns, rebuilds it: same log10 norm."""
    import csv

    import gradscope
    from gradscope.numeric.forward import rnn_steps
    from gradscope.numeric.products import log10_product_norm

    out = tmp_path / "s.csv"
    res = CliRunner().invoke(
        main,
        [
            "sweep",
            "--norms",
            "0.9",
            "--families",
            "orthogonal",
            "--activations",
            "tanh",
            "--hidden",
            "6",
            "--T",
            "12",
            "--seeds",
            "2",
            "--seed",
            "4",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    code = json.loads(res.output)["python"]
    for row in csv.DictReader(out.open()):
        scope = {
            "gradscope": gradscope,
            "family": row["family"],
            "hidden": int(row["hidden"]),
            "scale": float(row["scale"]),
            "activation": row["activation"],
            "T": int(row["T"]),
            "seed_index": int(row["seed_index"]),
        }
        exec(code, scope)
        got = log10_product_norm(rnn_steps(scope["rnn"], scope["x"]))
        assert got == pytest.approx(float(row["log10_measured"]), abs=1e-12)
