"""analyze_module: a module in memory gives what `gradscope analyze` gives for its file."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from gradscope import analyze_module  # noqa: E402
from gradscope.cli import main  # noqa: E402
from gradscope.errors import ConfigError  # noqa: E402
from gradscope.report.analysis_text import analysis_json  # noqa: E402
from gradscope.studies.analyze_module import BOUND_NOTE, CellAnalysis  # noqa: E402
from tests.torch.test_torch_steps import _unrolled_jacobian  # noqa: E402
from tests.torch.user_cells.my_cell import make_cell  # noqa: E402


def _module(kind: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    if kind == "relu":
        return torch.nn.RNN(3, 5, num_layers=2, nonlinearity="relu")
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    return cls(3, 5, num_layers=2)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("seed", range(3))
def test_module_route_equals_the_file_route(kind: str, seed: int, tmp_path) -> None:
    """Hypothesis: analyze_module(nn.X) and `gradscope analyze` of its saved weights agree."""
    module = _module(kind, seed)
    x = np.random.default_rng(seed).standard_normal((30, 3))
    weights, inputs = tmp_path / "w.safetensors", tmp_path / "x.npy"
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(weights))
    np.save(inputs, x)
    res = CliRunner().invoke(main, ["analyze", str(weights), "--inputs", str(inputs), "--json"])
    assert res.exit_code == 0, res.output
    from_file = json.loads(res.stdout)
    ours = analysis_json(analyze_module(module, torch.from_numpy(x)))
    assert ours["layers"] == from_file["layers"]
    for key in ("cell", "num_layers", "threshold", "initial_state"):
        assert ours[key] == from_file[key]
    assert ours["inputs"]["T"] == from_file["inputs"]["T"] == 30


def test_relu_rnn_keeps_its_nonlinearity(tmp_path) -> None:
    """Hypothesis: nn.RNN(nonlinearity='relu') is analysed as the file route's relu."""
    module = _module("relu", 0)
    x = np.random.default_rng(0).standard_normal((20, 3))
    weights, inputs = tmp_path / "w.safetensors", tmp_path / "x.npy"
    save_file(dict(module.state_dict()), str(weights))
    np.save(inputs, x)
    args = ["analyze", str(weights), "--inputs", str(inputs), "--activation", "relu", "--json"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    ours = analysis_json(analyze_module(module, x))
    assert ours["layers"] == json.loads(res.stdout)["layers"]


def test_nonzero_h0_for_a_layer_is_refused() -> None:
    with pytest.raises(ConfigError, match="zero state"):
        analyze_module(_module("gru", 0), np.zeros((4, 3)), torch.ones(2, 5))


@pytest.mark.parametrize("seed", range(3))
def test_a_users_cell_is_measured_and_the_bound_is_not_applicable(seed: int) -> None:
    """Hypothesis: a user's cell gets the spectrum of autograd's d s_T/d s_0, and no bound."""
    cell = make_cell()
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(seed))
    h0 = torch.randn(5, generator=torch.Generator().manual_seed(seed))
    result = analyze_module(cell, x, h0)
    assert isinstance(result, CellAnalysis)
    s = np.linalg.svd(_unrolled_jacobian(cell, x, h0), compute_uv=False)
    np.testing.assert_allclose(result.log10_singular_values, np.log10(s), rtol=0, atol=1e-10)
    d = result.to_dict()
    assert d["bound"] is None and d["bound_note"] == BOUND_NOTE
    assert d["T"] == 8 and d["state_size"] == 5
    with pytest.raises(ConfigError, match="h0 is required"):
        analyze_module(cell, x)
