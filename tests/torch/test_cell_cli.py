"""`--cell package.module:factory` on `spectrum` and `analyze`: a user's own cell file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from gradscope.cli import main  # noqa: E402
from tests.torch.test_torch_steps import _unrolled_jacobian  # noqa: E402
from tests.torch.user_cells.my_cell import LeakyCell, make_cell  # noqa: E402

CELLS = Path(__file__).parent / "user_cells"


@pytest.fixture
def run(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Inputs and h0 files in tmp_path; the command runs from the folder of my_cell.py."""
    rng = np.random.default_rng(7)
    x, h0 = rng.standard_normal((12, 3)), rng.standard_normal(5)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "h0.npy", h0)
    monkeypatch.chdir(CELLS)

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        files = ["--inputs", str(tmp_path / "x.npy"), "--h0", str(tmp_path / "h0.npy")]
        return CliRunner().invoke(main, [*args, *files])

    invoke.x, invoke.h0, invoke.dir = x, h0, tmp_path  # type: ignore[attr-defined]
    return invoke


def _reference(cell: torch.nn.Module, x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    J = _unrolled_jacobian(cell, torch.from_numpy(x), torch.from_numpy(h0))
    return np.log10(np.linalg.svd(J, compute_uv=False))


def _one_line_error(res, code: int, text: str) -> None:  # type: ignore[no-untyped-def]
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if "rror" in line]
    assert len(errors) == 1 and text in errors[0], res.output


def test_spectrum_of_a_users_cell_file(run) -> None:  # type: ignore[no-untyped-def]
    """Hypothesis: the JSON spectrum is autograd's, the cell is recorded, the bound is n/a."""
    res = run("spectrum", "--cell", "my_cell:make_cell", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ref = _reference(make_cell(), run.x, run.h0)
    np.testing.assert_allclose(out["log10_singular_values"], ref, rtol=0, atol=1e-10)
    assert out["cell"] == "my_cell:make_cell" and out["bound"] is None
    assert out["bound_note"].startswith("not applicable")


def test_spectrum_top_k_and_weights(run) -> None:  # type: ignore[no-untyped-def]
    """Hypothesis: --weights replaces the factory's parameters; --top 2 is the full top 2."""
    torch.manual_seed(99)
    other = LeakyCell()
    with torch.no_grad():
        other.leak.fill_(1.5)
    path = run.dir / "cell.safetensors"
    save_file(dict(other.state_dict()), str(path))
    res = run("spectrum", "--cell", "my_cell:make_cell", "--weights", str(path), "--top", "2")
    assert res.exit_code == 0, res.output
    res = run(
        "spectrum", "--cell", "my_cell:make_cell", "--weights", str(path), "--top", "2", "--json"
    )
    out = json.loads(res.stdout)
    assert out["method"] == "matrix-free" and out["weights"] == str(path)
    ref = _reference(other, run.x, run.h0)[:2]
    np.testing.assert_allclose(out["log10_singular_values"], ref, rtol=0, atol=1e-10)


def test_analyze_a_users_cell(run) -> None:  # type: ignore[no-untyped-def]
    """Hypothesis: analyze --cell measures ∂s_T/∂s_0 and its horizon, and names no bound."""
    res = run("analyze", "--cell", "my_cell:make_cell", "--threshold", "0.5", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ref = _reference(make_cell(), run.x, run.h0)
    np.testing.assert_allclose(out["log10_singular_values"], ref, rtol=0, atol=1e-10)
    # the horizon from the end, by autograd: the first k with ‖∂s_T/∂s_(T−k)‖₂ < θ
    cell, T = make_cell(), run.x.shape[0]
    norms = []
    h = torch.from_numpy(run.h0)
    states = [h]
    with torch.no_grad():
        for t in range(T):
            states.append(cell.double()(torch.from_numpy(run.x[t]), states[-1]))
    for k in range(1, T + 1):
        J = _unrolled_jacobian(cell, torch.from_numpy(run.x[T - k :]), states[T - k])
        norms.append(np.linalg.norm(J, 2))
    below = [k for k, v in enumerate(norms, start=1) if v < 0.5]
    assert out["memory_horizon"]["steps"] == (below[0] if below else None)
    assert out["bound"] is None and out["cell"] == "my_cell:make_cell"
    text = run("analyze", "--cell", "my_cell:make_cell")
    assert text.exit_code == 0 and "not applicable" in text.output


def test_module_not_importable(run) -> None:  # type: ignore[no-untyped-def]
    _one_line_error(run("spectrum", "--cell", "no_such_module:make"), 2, "cannot import")


def test_attribute_missing(run) -> None:  # type: ignore[no-untyped-def]
    _one_line_error(run("analyze", "--cell", "my_cell:nope"), 2, "no attribute 'nope'")


def test_factory_not_returning_a_callable(run) -> None:  # type: ignore[no-untyped-def]
    _one_line_error(run("spectrum", "--cell", "my_cell:not_a_cell"), 2, "returned a int")


def test_malformed_spec(run) -> None:  # type: ignore[no-untyped-def]
    _one_line_error(run("spectrum", "--cell", "my_cell"), 2, "package.module:factory")


def test_weights_do_not_match(run) -> None:  # type: ignore[no-untyped-def]
    path = run.dir / "small.safetensors"
    save_file(dict(LeakyCell(3, 4).state_dict()), str(path))
    res = run("spectrum", "--cell", "my_cell:make_cell", "--weights", str(path))
    _one_line_error(res, 1, "do not match my_cell:make_cell()")


def test_output_shape_differs_from_the_state(run) -> None:  # type: ignore[no-untyped-def]
    res = run("analyze", "--cell", "my_cell:wrong_shape")
    _one_line_error(res, 1, "returned (4,) for a state of shape (5,)")


def test_cell_needs_inputs_and_h0(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(CELLS)
    res = CliRunner().invoke(main, ["spectrum", "--cell", "my_cell:make_cell"])
    _one_line_error(res, 2, "--inputs")


@pytest.mark.parametrize("command", ["spectrum", "analyze"])
def test_a_whole_spectrum_too_large_is_refused_before_the_cell_is_imported(
    command, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Hypothesis: a state of 6000 over 3000 steps (the whole spectrum: hours of O(T n³)
    work) is refused in one line, exit 2, naming --top, before the cell's module is even
    imported (the spec names a module that does not exist)."""
    np.save(tmp_path / "x.npy", np.zeros((3000, 1)))
    np.save(tmp_path / "h0.npy", np.zeros(6000))
    monkeypatch.chdir(tmp_path)
    files = ["--inputs", str(tmp_path / "x.npy"), "--h0", str(tmp_path / "h0.npy")]
    res = CliRunner().invoke(main, [command, "--cell", "no_such_module:make", *files])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "no_such_module" not in res.output
    assert "--top" in res.output
