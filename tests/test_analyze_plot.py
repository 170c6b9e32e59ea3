"""gradscope analyze --plot: the memory-curve figure, its data, and bad paths.

The plotted numbers are checked against references that share no code with
``memory_curve``: :func:`gradscope.numeric.products.log10_product_norm` on the window
J_T ⋯ J_{T−k+1} (forward products, not the transposed backward pass) and torch
autograd through PyTorch's own modules.
"""

import json
import math
import xml.etree.ElementTree as ET

import matplotlib
import matplotlib.image
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

import gradscope.report.figures as figures_module
from gradscope.cli import main
from gradscope.errors import ConfigError
from gradscope.io_cells import layers_from_arrays, load_layers
from gradscope.numeric.products import log10_product_norm
from gradscope.report.analysis_figure import plot_memory_curves
from gradscope.studies.analyze import compute_analysis, layer_model, layer_steps
from gradscope.studies.memory import compute_memory_curves, memory_curve

matplotlib.use("Agg")

M, N, T = 3, 4, 40
X = np.random.default_rng(3).standard_normal((T, M))
CLASSES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def module(cell, layers=2, seed=0):
    torch.manual_seed(seed)
    return CLASSES[cell](M, N, num_layers=layers, batch_first=True).double()


def write_weights(net, folder):
    path = folder / "weights.safetensors"
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(path))
    np.save(folder / "x.npy", X)
    return path, folder / "x.npy"


@pytest.fixture
def captured(monkeypatch):
    """Every figure the CLI saves, kept for inspection (and still written)."""
    saved = []
    original = figures_module.save_figure

    def keep(fig, path):
        saved.append(fig)
        original(fig, path)

    monkeypatch.setattr(figures_module, "save_figure", keep)
    return saved


def line(fig, gid):
    (found,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == gid]
    return np.asarray(found.get_xdata(), dtype=float), np.asarray(found.get_ydata(), dtype=float)


def window_reference(loaded, k_values, layer):
    """log10 ‖J_T ⋯ J_{T−k+1}‖₂ of ``layer`` by log10_product_norm, for each k."""
    x = X
    for w in loaded.layers[: layer + 1]:
        steps, out = layer_steps(layer_model(w, "tanh"), x)
        x = out
    return {k: float(log10_product_norm(steps, start=T - k, end=T)) for k in k_values}


def autograd_reference(net, cell, layer, k_values):
    """log10 ‖∂s_T/∂s_(T−k)‖₂ through torch (one-layer module rebuilt from ``layer``)."""
    sd = net.state_dict()
    m = M if layer == 0 else N
    single = CLASSES[cell](m, N, batch_first=True).double()
    single.load_state_dict({nm: sd[f"{nm[:-3]}_l{layer}"] for nm in single.state_dict()})
    x = torch.tensor(X)[None]
    with torch.no_grad():
        for k in range(layer):
            below = CLASSES[cell](M if k == 0 else N, N, batch_first=True).double()
            below.load_state_dict({nm: sd[f"{nm[:-3]}_l{k}"] for nm in below.state_dict()})
            x = below(x)[0]
    out = {}
    for k in k_values:
        with torch.no_grad():  # the state at T − k, from zero
            size = 2 * N if cell == "lstm" else N
            if k == T:
                s = torch.zeros(size, dtype=torch.float64)
            elif cell == "lstm":
                _, (h, c) = single(x[:, : T - k])
                s = torch.cat([h.reshape(N), c.reshape(N)])
            else:
                s = single(x[:, : T - k])[1].reshape(N)

        def run(s, k=k):
            if cell == "lstm":
                _, (h, c) = single(x[:, T - k :], (s[:N].reshape(1, 1, N), s[N:].reshape(1, 1, N)))
                return torch.cat([h.reshape(N), c.reshape(N)])
            return single(x[:, T - k :], s.reshape(1, 1, N))[1].reshape(N)

        J = torch.autograd.functional.jacobian(run, s).numpy()
        out[k] = math.log10(np.linalg.norm(J, 2))
    return out


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_cli_plot_data_equal_independent_references(cell, tmp_path, captured):
    """Claim: the figure `gradscope analyze --plot` writes shows, for every layer, exactly
    log10 ‖∂s_T/∂s_(T−k)‖₂ for k = 1..T: equal to log10_product_norm on the window and to
    torch autograd (1e-10) at several k; its horizon marker sits on the curve at the
    layer's memory horizon (as reported in the JSON) and the threshold line at log10 θ."""
    net = module(cell)
    weights, inputs = write_weights(net, tmp_path)
    out = tmp_path / "memory.png"
    res = CliRunner().invoke(
        main, ["analyze", str(weights), "--inputs", str(inputs), "--plot", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)  # JSON alone on stdout, the note on stderr
    assert f"wrote {out}" in res.stderr
    (fig,) = captured
    loaded = load_layers(weights)
    ks = (1, 2, 7, 20, T)
    for entry in report["layers"]:
        layer = entry["layer"]
        k, y = line(fig, f"memory-layer-{layer}")
        assert np.array_equal(k, np.arange(1, T + 1))
        ref = window_reference(loaded, ks, layer)
        auto = autograd_reference(net, cell, layer, ks)
        for kk in ks:
            assert abs(y[kk - 1] - ref[kk]) < 1e-10, (kk, y[kk - 1], ref[kk])
            assert abs(y[kk - 1] - auto[kk]) < 1e-10, (kk, y[kk - 1], auto[kk])
        horizon = entry["memory_horizon"]["steps"]
        assert horizon is not None  # these untrained modules forget within 40 steps
        hx, hy = line(fig, f"horizon-layer-{layer}")
        assert hx.tolist() == [horizon] and hy[0] == y[horizon - 1]
        assert y[horizon - 1] < -2.0 and (horizon == 1 or np.all(y[: horizon - 1] >= -2.0))
    _, theta = line(fig, "threshold")
    assert np.all(theta == -2.0)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500


def test_svg_is_valid_and_axes_say_what_they_show(tmp_path):
    """Claim: an .svg path gives a well-formed SVG document; the axes are labelled with the
    quantity (log10 ‖∂s_T/∂s_(T−k)‖₂, spectral norm) and k; the table still prints."""
    weights, inputs = write_weights(module("gru", layers=1), tmp_path)
    out = tmp_path / "memory.svg"
    res = CliRunner().invoke(
        main, ["analyze", str(weights), "--inputs", str(inputs), "--plot", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "layer 0" in res.stdout
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    curves = compute_memory_curves(load_layers(weights), X)
    fig = plot_memory_curves(curves)
    ax = fig.axes[0]
    assert "log10 ‖∂s_T/∂s_(T−k)‖₂" in ax.get_ylabel() and "spectral norm" in ax.get_ylabel()
    assert ax.get_xlabel().startswith("k: steps back")
    assert any("horizon" in t.get_text() for t in ax.get_legend().get_texts())


def test_curve_does_not_underflow_and_matches_the_closed_form():
    """Claim: far below float64 the curve stays exact: a one-unit tanh RNN with w = 0.5 on
    zero inputs has ‖∂h_T/∂h_(T−k)‖₂ = 0.5^k, so at k = 3000 log10 = −903.09 (0.5^3000
    underflows float64), plotted as such; its horizon is 7 (0.5^7 < 0.01 ≤ 0.5^6)."""
    loaded = layers_from_arrays({"weight_hh_l0": [[0.5]], "weight_ih_l0": [[1.0]]})
    (curve,) = compute_memory_curves(loaded, T=3000)
    exact = np.arange(1, 3001) * math.log10(0.5)
    assert np.max(np.abs(curve.log10_norms - exact)) < 1e-9
    assert curve.horizon == 7 == compute_analysis(loaded, T=3000).layers[0].horizon
    _, y = line(plot_memory_curves([curve]), "memory-layer-0")
    assert y[-1] == pytest.approx(-903.0899869919435, abs=1e-9)


def test_exact_zero_and_not_reached_are_shown_not_guessed():
    """Claim: a product that is exactly zero is −inf in the curve (left out of the line, named
    in the legend), and a curve that never falls below θ has no horizon marker and says
    "not reached within T steps"."""
    zero = layers_from_arrays({"weight_hh_l0": [[0.0]], "weight_ih_l0": [[1.0]]})
    (c0,) = compute_memory_curves(zero, T=5)
    assert np.all(np.isneginf(c0.log10_norms)) and c0.horizon == 1
    keep = layers_from_arrays({"weight_hh_l0": [[1.0]], "weight_ih_l0": [[1.0]]})
    (c1,) = compute_memory_curves(keep, T=5)  # zero inputs: tanh'(0) = 1, norm 1 always
    assert c1.horizon is None and np.all(c1.log10_norms == 0.0)
    fig = plot_memory_curves([c1])
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("not reached within 5 steps" in t for t in texts)
    assert not [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "horizon-layer-0"]
    texts = [t.get_text() for t in plot_memory_curves([c0]).axes[0].get_legend().get_texts()]
    assert any("exactly 0 from k = 1" in t for t in texts)


def test_memory_curve_refuses_bad_arguments():
    """Claim: θ outside (0, 1) and curves with different θ in one figure are ConfigErrors."""
    loaded = layers_from_arrays({"weight_hh_l0": [[0.5]], "weight_ih_l0": [[1.0]]})
    steps, _ = layer_steps(layer_model(loaded.layers[0], "tanh"), np.zeros((3, 1)))
    for theta in (0.0, 1.0, -1.0):
        with pytest.raises(ConfigError, match="threshold"):
            memory_curve(steps, threshold=theta)
    with pytest.raises(ConfigError, match="layer 3 does not exist"):
        compute_memory_curves(loaded, T=3, layers=[3])
    a, b = memory_curve(steps, threshold=0.1), memory_curve(steps, threshold=0.2)
    with pytest.raises(ConfigError, match="same threshold"):
        plot_memory_curves([a, b])


@pytest.mark.parametrize(
    ("name", "message"),
    [("memory.pdf", "give a .png or .svg file"), ("memory", "give a .png or .svg file"),
     ("missing/memory.png", "does not exist")],
)  # fmt: skip
def test_bad_plot_path_is_a_usage_error_before_any_work(name, message, tmp_path, monkeypatch):
    """Claim: a wrong suffix or a missing folder is click's usage error (exit 2), raised
    before anything is loaded or computed: even with a weights file that does not exist
    (which would be exit 1), and with the loaders and the analysis made to fail if called."""

    def boom(*args, **kwargs):
        raise AssertionError("work started before the --plot path was checked")

    monkeypatch.setattr("gradscope.io_cells.load_layers", boom)
    monkeypatch.setattr("gradscope.studies.analyze.compute_analysis", boom)
    res = CliRunner().invoke(
        main, ["analyze", str(tmp_path / "absent.safetensors"), "--plot", str(tmp_path / name)]
    )
    assert res.exit_code == 2, res.output
    assert message in res.output and "--plot" in res.output
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []
