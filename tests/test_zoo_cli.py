"""``gradscope spectrum --cell NAME``: exit codes, JSON fields, and the numbers of a direct call.

The reference for the numbers is the library called directly, from the
documented conventions (zoo_cell from the seed, inputs from random_inputs'
stream, s_0 = 0), not the CLI's own helper.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from gradscope.cli import main
from gradscope.init import random_inputs
from gradscope.model.zoo import ZOO_NAMES, zoo_cell
from gradscope.numeric.lyapunov import compute_lyapunov
from gradscope.numeric.spectrum import compute_singular_values
from gradscope.numeric.zoo import zoo_steps


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["spectrum", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_json_names_cell_paper_defaults_and_matches_direct_call(name: str) -> None:
    """Hypothesis: the JSON's spectrum is compute_singular_values(zoo_steps(...)) exactly."""
    code, out = _run("--cell", name, "--hidden", "5", "--T", "30", "--seed", "3", "--json")
    assert code == 0, out
    record = json.loads(out)
    cell = zoo_cell(name, hidden=5, inputs=8, seed=3)
    assert record["cell"] == name and record["paper"]["title"] == cell.PAPER.title
    assert set(record["defaults"]) == set(type(cell).HYPER)
    assert all(e["source"] for e in record["defaults"].values())
    assert record["state_size"] == cell.state_size and record["T"] == 30
    assert "N(0, 1)" in record["inputs"]
    want = compute_singular_values(zoo_steps(cell, random_inputs(30, 8, seed=3)))
    got = np.array([-np.inf if v is None else v for v in record["log10_singular_values"]])
    np.testing.assert_array_equal(got, want.log10_singular_values)


def test_top_and_lyapunov_match_direct_call() -> None:
    """Hypothesis: --top K and --lyapunov-top K agree with the library (matrix-free, QR)."""
    args = ("--cell", "lipschitz", "--hidden", "12", "--T", "40", "--top", "2")
    code, out = _run(*args, "--lyapunov-top", "3", "--json")
    assert code == 0, out
    record = json.loads(out)
    steps = zoo_steps(zoo_cell("lipschitz", hidden=12, seed=0), random_inputs(40, 8, seed=0))
    full = compute_singular_values(steps).log10_singular_values
    np.testing.assert_allclose(record["log10_singular_values"], full[:2], rtol=0, atol=1e-8)
    ly = compute_lyapunov(steps, k=3)
    np.testing.assert_allclose(record["lyapunov_top"]["exponents"], ly.exponents, atol=1e-12)
    assert record["method"] == "matrix-free"


def test_table_names_paper_and_defaults() -> None:
    """Hypothesis: the table names the cell's paper and each default with its source."""
    code, out = _run("--cell", "cornn", "--hidden", "3", "--T", "10")
    assert code == 0, out
    assert "Rusch & Mishra (2021)" in out and "arXiv:2010.00951" in out
    assert "dt = 0.042" in out and "sMNIST" in out
    assert "log10 σ_6" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--cell", "lstm"), "choose one of indrnn, antisymmetric, cornn"),
        (("--cell", "jordan", "--family", "gaussian"), "--family cannot be combined"),
        (("--cell", "jordan", "--hidden", "4", "--top", "5"), "not in 1..n = 4"),
        (("--cell", "s6", "--hidden", "4096", "--T", "5000"), "reduce --hidden or --T"),
    ],
)
def test_bad_usage_exits_2_in_one_line(args: tuple[str, ...], needle: str) -> None:
    """Hypothesis: an unknown name, a clash or an oversized request is exit 2, no traceback."""
    code, out = _run(*args)
    assert code == 2 and needle in out and "Traceback" not in out


def test_bad_data_exits_1() -> None:
    """Hypothesis: a cell whose drawn Jordan block is too big for hidden is refused cleanly."""
    code, out = _run("--cell", "jordan", "--hidden", "2", "--T", "5")
    assert code in (1, 2) and "does not fit" in out and "Traceback" not in out
