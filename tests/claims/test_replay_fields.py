"""Tampered counterexample files: every field checked for type and range, in one place.

Hypotheses (issue 16): ``gradscope replay`` of a file with a field missing, of the wrong
type (``"start": 1.7``, ``true``, ``"1"``, ``1e999``, a 5000-digit integer) or out of
range (a negative θ, a short bias, too few target rows) is refused in one line naming
the field and what it must be, exit 1, no traceback; a file whose recomputed numbers
are NaN gets no verdict (it used to print "does NOT contradict the claim"); a file
``gradscope check`` wrote still replays unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from gradscope.claims import Counterexample, check_claim, replay
from gradscope.cli import main
from gradscope.errors import ConfigError, NumericalError


def _base(claim: str) -> dict[str, Any]:
    """A small, well-formed counterexample of ``claim`` (n = 2, m = 1, T = 3, p = 1)."""
    rng = np.random.default_rng(0)
    data: dict[str, Any] = {
        "claim": claim,
        "activation": "tanh" if claim != "linear-norm-bound" else "linear",
        "W_hh": (0.5 * rng.standard_normal((2, 2))).tolist(),
        "W_xh": rng.standard_normal((2, 1)).tolist(),
        "b": [0.0, 0.1],
        "h0": [0.0, 0.0],
        "inputs": rng.standard_normal((3, 1)).tolist(),
        "start": 0 if claim != "linear-norm-bound" else 1,
        "end": 3,
        "seed": 0,
        "note": "made by hand",
        "observed": {},
    }
    if claim in ("weight-sharing", "clipping-direction", "truncated-bptt"):
        data["W_hy"] = rng.standard_normal((1, 2)).tolist()
        data["targets"] = rng.standard_normal((3, 1)).tolist()
    if claim == "clipping-direction":
        data["theta"] = 1.0
    if claim == "truncated-bptt":
        data["truncation"] = 100
        data["scheme"] = "chunked"
    return data


def _replay_text(tmp_path: Path, text: str) -> tuple[int, str, str]:
    path = tmp_path / "c.json"
    path.write_text(text)
    res = CliRunner().invoke(main, ["replay", str(path)], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(
    "claim", ["weight-sharing", "clipping-direction", "truncated-bptt", "linear-norm-bound"]
)
def test_well_formed_files_replay(tmp_path, claim):
    code, out, err = _replay_text(tmp_path, json.dumps(_base(claim)))
    assert code == 0, err
    assert "recomputed from scratch" in out and err == ""


def _drop(key: str):
    return lambda d: d.pop(key)


def _set(key: str, value: Any):
    return lambda d: d.__setitem__(key, value)


CASES = [
    ("clipping-direction", _drop("W_hy"), "lacks field(s): W_hy"),
    ("clipping-direction", _drop("targets"), "lacks field(s): targets"),
    ("clipping-direction", _drop("theta"), "lacks field(s): theta"),
    ("truncated-bptt", _drop("W_hy"), "lacks field(s): W_hy"),
    ("truncated-bptt", _drop("targets"), "lacks field(s): targets"),
    ("weight-sharing", _drop("targets"), "lacks field(s): targets"),
    ("linear-norm-bound", _drop("inputs"), "lacks field(s): inputs"),
    ("linear-norm-bound", _set("start", 1.7), "'start' must be an integer"),
    ("linear-norm-bound", _set("start", True), "'start' must be an integer"),
    ("linear-norm-bound", _set("start", "1"), "'start' must be an integer"),
    ("linear-norm-bound", _set("start", 1.0), "'start' must be an integer"),
    ("linear-norm-bound", _set("start", -1), "0 <= start < end <= T = 3, got -1"),
    ("linear-norm-bound", _set("end", 4), "'end' must be an integer"),
    ("linear-norm-bound", _set("end", None), "'end' must be an integer"),
    ("linear-norm-bound", _set("start", 10**400), "got an integer of about 400 digits"),
    ("clipping-direction", _set("theta", -1.0), "'theta' must be a clipping threshold θ > 0"),
    ("clipping-direction", _set("theta", 0), "'theta' must be a clipping threshold θ > 0"),
    ("clipping-direction", _set("theta", True), "'theta' must be a clipping threshold θ > 0"),
    ("clipping-direction", _set("theta", "abc"), "'theta' must be a clipping threshold θ > 0"),
    ("clipping-direction", _set("W_hy", [[1.0, 2.0, 3.0]]), "'W_hy' must have shape (p, n)"),
    ("clipping-direction", _set("W_hy", "x"), "'W_hy' must be a 2-D array"),
    ("clipping-direction", _set("targets", [[0.0]]), "a row for each of the end = 3 steps"),
    ("weight-sharing", _set("targets", [[0.0, 1.0]] * 3), "'targets' must have shape (T, p)"),
    ("truncated-bptt", _set("truncation", "x"), "'truncation' must be an integer K >= 1"),
    ("truncated-bptt", _set("truncation", 0), "'truncation' must be an integer K >= 1"),
    ("linear-norm-bound", _set("W_hh", [[True, 0.0], [0.0, 1.0]]), "numbers only, got true"),
    ("linear-norm-bound", _set("W_hh", [["1", 0.0], [0.0, 1.0]]), "numbers only, got '1'"),
    ("linear-norm-bound", _set("W_hh", [[1.0, 0.0], [0.0]]), "'W_hh' must be a rectangular"),
    ("linear-norm-bound", _set("W_hh", [[1.0, 0.0]]), "'W_hh' must be square"),
    ("linear-norm-bound", _set("b", [0.0]), "'b' must have shape (n,) = (2,)"),
    ("linear-norm-bound", _set("h0", [0.0, 0.0, 0.0]), "'h0' must have shape (n,) = (2,)"),
    ("linear-norm-bound", _set("inputs", [[0.0, 1.0]] * 3), "'inputs' must have shape (T, m)"),
    ("linear-norm-bound", _set("inputs", []), "'inputs' must be a non-empty 2-D array"),
    ("linear-norm-bound", _set("seed", 1.5), "'seed' must be null or an integer >= 0"),
    ("linear-norm-bound", _set("seed", -3), "'seed' must be null or an integer >= 0"),
    ("linear-norm-bound", _set("note", {"a": 1}), "'note' must be text"),
    ("linear-norm-bound", _set("observed", [1]), "'observed' must be an object"),
    ("linear-norm-bound", _set("claim", 5), "'claim' must be a claim id"),
    ("linear-norm-bound", _set("claim", "made-up"), "unknown claim 'made-up'"),
    ("linear-norm-bound", _set("activation", "soft"), "unknown activation 'soft'"),
]


@pytest.mark.parametrize("claim, change, fragment", CASES)
def test_tampered_field_is_one_line_naming_it(tmp_path, claim, change, fragment):
    data = _base(claim)
    change(data)
    code, out, err = _replay_text(tmp_path, json.dumps(data))
    assert code == 1, (out, err)
    assert fragment in _one_line(err)
    assert out == ""
    with pytest.raises(ConfigError):  # the library refuses it in the same place
        Counterexample.from_dict(data)


@pytest.mark.parametrize(
    "literal, fragment",
    [
        (
            "1e999",
            "'start' must be an integer, a step index with 0 <= start < end <= T = 3, got inf",
        ),
        ("9" * 5000, "4300 digits"),
        ("NaN", "'start' must be an integer"),
    ],
)
def test_start_as_json_text_that_python_cannot_hold(tmp_path, literal, fragment):
    text = json.dumps(_base("linear-norm-bound")).replace('"start": 1', f'"start": {literal}')
    assert literal in text
    code, _, err = _replay_text(tmp_path, text)
    assert code == 1 and fragment in _one_line(err)


@pytest.mark.parametrize(
    "claim, field",
    [
        ("clipping-direction", "W_hy"),
        ("clipping-direction", "targets"),
        ("truncated-bptt", "W_hy"),
        ("weight-sharing", "W_hy"),
    ],
)
def test_nan_results_get_no_verdict(tmp_path, claim, field):
    """Finite but huge numbers overflow inside the claim's own computation; the replay
    said "does NOT contradict the claim" (and leaked RuntimeWarnings)."""
    data = _base(claim)
    data[field] = (np.array(data[field]) * 0 + 1e308).tolist()
    code, out, err = _replay_text(tmp_path, json.dumps(data))
    assert code == 1, (out, err)
    line = _one_line(err)
    assert "is NaN" in line and "neither contradicts nor supports" in line
    assert "contradict the claim" not in out
    with pytest.raises(NumericalError, match="NaN"):
        replay(Counterexample.from_dict(data))


def test_files_check_writes_replay_unchanged():
    """The checks' own counterexamples pass the stricter fields (numpy ints, arrays)."""
    for claim in ("linear-norm-bound", "clipping-direction"):
        for cex in check_claim(claim, budget=200).counterexamples:
            again = Counterexample.from_dict(json.loads(cex.to_json()))
            assert type(again.start) is int and type(again.end) is int
            assert again.to_json() == cex.to_json()
            assert replay(again).contradicts == replay(cex).contradicts
