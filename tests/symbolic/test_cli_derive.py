"""`gradscope derive`: output, atomic files, bad values, and that SymPy stays out of start-up."""

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from gradscope.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_derive_prints_a_latex_fragment():
    """Claim: `gradscope derive --hidden 2 --T 3` prints the derivation as a LaTeX fragment
    (breqn's dmath*), with the Jacobian product and the gradient recursion."""
    res = run("derive", "--hidden", "2", "--T", "3")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert r"\documentclass" not in out and r"\begin{dmath*}" in out
    assert r"D_{3} W_{hh} D_{2} W_{hh} D_{1} W_{hh}" in out
    assert r"\delta_{3,1} = " in out


def test_derive_standalone_what_and_activation():
    """Claim: --standalone makes a complete document; --what selects the parts; --activation
    and --expand reach the derivation."""
    res = run("derive", "--T", "2", "--standalone", "--what", "jacobian", "--activation", "relu")
    assert res.exit_code == 0
    out = res.stdout
    assert out.startswith(r"\documentclass") and out.rstrip().endswith(r"\end{document}")
    assert r"\usepackage{breqn}" in out and "gradient recursion" not in out
    assert r"{\mathbf{1}[z_{1,1} > 0]}" in out
    res = run("derive", "--T", "2", "--what", "gradient", "--expand")
    assert (
        res.exit_code == 0
        and "agree exactly" in res.stdout
        and "Jacobian product" not in (res.stdout)
    )


def test_output_file_is_written_atomically(tmp_path):
    """Claim: -o FILE writes the document (nothing on stdout, a note on stderr) and leaves no
    temporary file behind."""
    target = tmp_path / "bptt.tex"
    res = run("derive", "--hidden", "2", "--T", "3", "--standalone", "-o", str(target))
    assert res.exit_code == 0
    assert res.stdout == ""
    assert "wrote" in res.stderr
    assert target.read_text().startswith(r"\documentclass")
    assert [p.name for p in tmp_path.iterdir()] == ["bptt.tex"]


def test_failures_leave_an_existing_file_untouched(tmp_path, monkeypatch):
    """Claim: nothing is half-written: a refused derivation or a failing rename leaves the old
    file as it was and no temporary file."""
    target = tmp_path / "keep.tex"
    target.write_text("old")
    res = run("derive", "--hidden", "5", "--T", "5", "--expand", "-o", str(target))
    assert res.exit_code == 2 and target.read_text() == "old"  # too large: refused before work

    import gradscope.io

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gradscope.io.os, "replace", broken_replace)
    res = run("derive", "-o", str(target))
    assert res.exit_code == 1 and "cannot write" in res.output
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tex"]


def test_bad_values_refused_sizes_and_unwritable_outputs_exit_2(tmp_path):
    """Claim: --hidden 0, --T 0 or an unknown activation, an expanded form beyond its limit and
    an unwritable -o are all bad usage (exit 2, docs/cli.md "Exit codes"), each with one
    error line naming what would work."""
    for args in (["--hidden", "0"], ["--T", "0"], ["--activation", "softplus"]):
        res = run("derive", *args)
        assert res.exit_code == 2, args
    res = run("derive", "--hidden", "3", "--T", "9", "--expand", "--what", "jacobian")
    assert res.exit_code == 2
    errors = [ln for ln in res.output.strip().splitlines() if ln.startswith("Error")]
    assert len(errors) == 1 and "hidden*T <= 24" in errors[0] and "--T 8" in errors[0]
    res = run("derive", "--hidden", "3", "--T", "3", "--expand")
    assert res.exit_code == 2 and "gradient is limited to hidden*T <= 8" in res.output
    res = run("derive", "-o", str(tmp_path / "missing" / "x.tex"))
    assert res.exit_code == 2 and "does not exist" in res.output


def test_import_and_help_never_import_sympy():
    """Claim: `import gradscope` (and gradscope.symbolic), `gradscope --help` and
    `gradscope derive --help` never import SymPy; `derive` itself does."""
    code = (
        "import sys\n"
        "import gradscope, gradscope.symbolic\n"
        "from gradscope.cli import main\n"
        "for args in (['--help'], ['derive', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'sympy' not in sys.modules, 'sympy was imported'\n"
        "main(['derive', '--T', '1'], standalone_mode=False)\n"
        "assert 'sympy' in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_every_public_name_resolves():
    """Claim: gradscope.symbolic's and gradscope.symbolic.latex's explicit __all__ are
    complete and every name loads lazily; the derive_* functions and their records are
    public, and ``gradscope.symbolic.latex`` is the rendering package."""
    import gradscope.symbolic as symbolic
    import gradscope.symbolic.latex as latex

    for package in (symbolic, latex):
        for name in package.__all__:
            assert getattr(package, name) is not None, name
        assert sorted(package.__all__) == sorted(set(package.__all__))
    assert {"derive_jacobian", "derive_gradient", "derive_cell_jacobian"} <= set(symbolic.__all__)
    assert {"JacobianDerivation", "GradientDerivation", "CellJacobianDerivation"} <= set(
        symbolic.__all__
    )
    assert symbolic.latex is latex and callable(latex.latex)
