"""Figures: written as real PNG/SVG files from real numbers; bad paths refused."""

import numpy as np
import pytest
from click.testing import CliRunner

from gradscope.cli import main
from gradscope.errors import ConfigError
from gradscope.report.figures import plot_decay, plot_eigenvalues, save_figure
from gradscope.studies.decay import compute_decay_curves

PNG = b"\x89PNG\r\n\x1a\n"


def test_decay_curves_are_the_exact_trajectories():
    """The numbers a decay figure draws are exact: orthogonal linear at ‖W‖ = s gives t·log10 s."""
    (c,) = compute_decay_curves(
        families=["orthogonal"], activations=["linear"], scales=[0.9], T=60, hidden=8, seeds=2
    )
    t = np.arange(1, 61)
    np.testing.assert_allclose(c.log10_norms, np.tile(t * np.log10(0.9), (2, 1)), atol=1e-12)
    assert c.horizon == 44  # 0.9^44 < 1e-2 <= 0.9^43
    assert c.log10_bound_per_step == pytest.approx(np.log10(0.9), abs=1e-15)


def test_png_and_svg(tmp_path):
    curves = compute_decay_curves(
        families=["gaussian"], activations=["tanh"], scales=[1.0], T=20, hidden=8, seeds=2
    )
    fig = plot_decay(curves)
    save_figure(fig, tmp_path / "d.png")
    save_figure(fig, tmp_path / "d.svg")
    assert (tmp_path / "d.png").read_bytes()[:8] == PNG
    svg = (tmp_path / "d.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "log10" in svg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png", "d.svg"]  # no temp files


def test_eigenvalue_figure_reports_norm_and_radius(tmp_path):
    W = np.array([[0.5, 3.0], [0.0, 0.5]])  # ρ = 0.5, ‖W‖₂ ≈ 3.1
    fig = plot_eigenvalues(W)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "spectral radius ρ = 0.5" in labels
    assert any(lbl.startswith("spectral norm ‖W‖₂ = 3.08") for lbl in labels)


def test_bad_figure_paths(tmp_path):
    fig = plot_eigenvalues(np.eye(2))
    with pytest.raises(ConfigError, match=r"\.png or \.svg"):
        save_figure(fig, tmp_path / "f.pdf")
    with pytest.raises(ConfigError, match="does not exist"):
        save_figure(fig, tmp_path / "missing" / "f.png")


@pytest.mark.parametrize(
    "kind", ["vanishing-exploding", "decay", "eigenvalues", "spectrum", "lyapunov"]
)
def test_plot_command(tmp_path, kind):
    out = tmp_path / f"{kind}.png"
    res = CliRunner().invoke(
        main, ["plot", kind, "-o", str(out), "--T", "40", "--hidden", "8", "--seeds", "2"]
    )
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == PNG


def test_plot_options_on_commands(tmp_path):
    r = CliRunner()
    assert (
        r.invoke(
            main,
            [
                "bound",
                "--norm",
                "0.9",
                "--T",
                "30",
                "--hidden",
                "8",
                "--plot",
                str(tmp_path / "b.png"),
            ],
        ).exit_code
        == 0
    )
    assert (
        r.invoke(
            main,
            [
                "spectrum",
                "--norm",
                "0.9",
                "--T",
                "30",
                "--hidden",
                "8",
                "--plot",
                str(tmp_path / "s.svg"),
            ],
        ).exit_code
        == 0
    )
    assert (
        r.invoke(
            main,
            ["check", "linear-norm-bound", "--budget", "50", "--plot", str(tmp_path / "c.png")],
        ).exit_code
        == 0
    )
    assert {p.name for p in tmp_path.iterdir()} == {"b.png", "s.svg", "c.png"}
    bad = r.invoke(main, ["bound", "--norm", "0.9", "--plot", str(tmp_path / "x.gif")])
    assert bad.exit_code == 2 and "give a .png or .svg" in bad.output


def test_sweep_heatmap(tmp_path):
    table = tmp_path / "s.csv"
    table.write_text("hidden,T,log10_measured\n8,10,-1\n8,10,-3\n16,10,-4\n8,20,-5\n16,20,-9\n")
    out = tmp_path / "h.png"
    res = CliRunner().invoke(main, ["plot", "sweep", str(table), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == PNG
    res = CliRunner().invoke(
        main, ["plot", "sweep", str(table), "-o", str(out), "--value", "nope"]
    )
    assert res.exit_code == 1 and "no column 'nope'" in res.output
