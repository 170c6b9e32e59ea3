"""The report's zoo table: every number equals the library called directly; the report has it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradscope.init import random_inputs
from gradscope.model.zoo import ZOO_NAMES, zoo_cell
from gradscope.numeric.spectrum import compute_singular_values
from gradscope.numeric.zoo import zoo_steps
from gradscope.report.document import ReportSettings, _Doc, build_report
from gradscope.report.table import format_log10
from gradscope.report.zoo_section import add_zoo_section, zoo_cells_text


@pytest.fixture(scope="module")
def section() -> tuple[_Doc, dict]:
    doc, results = _Doc("t"), {}
    add_zoo_section(doc, results, format_log10, seed=2)
    return doc, results


def _direct(name: str, seed: int) -> np.ndarray:
    cell = zoo_cell(name, hidden=16, inputs=8, seed=seed)
    return compute_singular_values(zoo_steps(cell, random_inputs(100, 8, seed=seed)))


def test_each_row_equals_the_library_call(section: tuple[_Doc, dict]) -> None:
    """Hypothesis: log10 ‖·‖₂, σ_min and their error bars are the direct call's, cell by cell."""
    _, results = section
    rows = results["zoo"]["rows"]
    assert [r["cell"] for r in rows] == list(ZOO_NAMES)
    for r in rows:
        want = _direct(r["cell"], 2)
        sv, err = want.log10_singular_values, want.log10_error
        pairs = (("log10_norm", 0), ("log10_sigma_min", -1))
        for key, i in pairs:
            if not np.isfinite(sv[i]):
                assert r[key] is None
                continue
            # the same computation; BLAS threads may move the last bits, far inside the bar
            assert abs(r[key] - sv[i]) <= 1e-13 * max(1.0, abs(sv[i]))
            bar = r[f"{key}_error"]
            if np.isfinite(err[i]):
                assert bar is not None and 0.5 * err[i] <= bar <= 2.0 * err[i]  # a measured bar
            else:
                assert bar is None  # no bound: shown as such, never as a number
        assert r["paper"]["title"] and set(r["defaults"]) == set(zoo_cell(r["cell"]).HYPER)


def test_table_text_shows_paper_defaults_and_error_bars(section: tuple[_Doc, dict]) -> None:
    """Hypothesis: the Markdown table names each paper and default, with ± error bars."""
    doc, results = section
    md = "\n".join(doc.md)
    assert "The zoo of published cells" in md
    cells = zoo_cells_text(results["zoo"]["rows"], format_log10)
    for row, name in zip(cells, ZOO_NAMES, strict=True):
        assert row[0] == name and row in [c for c in cells]
        assert f"| {name} |" in md
    cornn = cells[ZOO_NAMES.index("cornn")]
    assert "Rusch & Mishra (2021), arXiv:2010.00951" == cornn[1]
    assert "dt=0.042" in cornn[2] and "±" in cornn[4]


def test_the_report_holds_the_zoo_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Hypothesis: gradscope report writes the zoo section and results.json's zoo rows."""
    out = tmp_path / "r"
    settings = ReportSettings(T=10, hidden=4, seeds=1, claims=False, derivation=False)
    build_report(str(out), settings)
    md = (out / "report.md").read_text()
    assert "The zoo of published cells" in md
    results = json.loads((out / "results.json").read_text())
    assert [r["cell"] for r in results["zoo"]["rows"]] == list(ZOO_NAMES)
    assert "The zoo of published cells" in (out / "index.html").read_text()
