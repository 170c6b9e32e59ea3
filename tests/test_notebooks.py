"""The tutorials in notebooks/ run top to bottom, as a reader would run them.

Each notebook is kept as a jupytext percent script (``# %%`` cells), turned
into a notebook with jupytext and executed cell by cell by nbclient on the
``python3`` kernel; any exception in any cell fails the test with the cell's
traceback. The notebooks run in a temporary folder, so they leave no files
behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT = 300  # seconds per cell; each notebook takes well under a minute in all


def test_there_are_at_least_three_notebooks():
    """Hypothesis: the tutorials exist (a missing folder would silently run no notebook)."""
    names = [p.name for p in PATHS]
    assert len(PATHS) >= 3, f"expected at least three notebooks in {NOTEBOOKS}, found {names}"


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    """Hypothesis: every cell of the notebook runs without an error, in order."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = jupytext.read(path)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:  # the message holds the cell and its traceback
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
