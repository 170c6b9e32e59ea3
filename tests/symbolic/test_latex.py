"""LaTeX: the printer's notation, the document's content, and pdflatex compiling it."""

import os
import re
import shutil
import subprocess

import pytest
import sympy
from sympy.printing.latex import LatexPrinter

from gradscope.symbolic import (
    RNNLatexPrinter,
    derive_gradient,
    derive_jacobian,
    render_document,
    render_gradient,
    render_jacobian,
)
from gradscope.symbolic.functions import ReLU, Sigmoid
from gradscope.symbolic.latex import latex
from tests.symbolic import ACTIVATIONS

TEX_PACKAGES = "texlive-latex-base texlive-latex-recommended"


def _pdflatex(tex, tmp_path):
    """Compile ``tex``; returns the log. Fails in CI when pdflatex is missing, skips locally."""
    exe = shutil.which("pdflatex")
    if exe is None:
        message = f"pdflatex is not installed (apt-get install {TEX_PACKAGES})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    (tmp_path / "doc.tex").write_text(tex)
    proc = subprocess.run(
        [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
    return log


COMPILE_CASES = [
    dict(hidden=2, T=3, activation="tanh"),
    dict(hidden=2, T=4, activation="sigmoid", expand=True, input_size=2, output_size=2),
    dict(hidden=3, T=4, activation="relu", what="jacobian", expand=True),
    dict(hidden=1, T=5, activation="linear", expand=True, input_size=2, output_size=2),
    dict(hidden=4, T=3, activation="relu"),
    dict(hidden=8, T=50, activation="tanh", what="jacobian"),
    dict(hidden=2, T=6, what="jacobian", expand=True, max_expression_chars=40),
]


@pytest.mark.parametrize("case", COMPILE_CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_standalone_document_compiles_without_overfull_lines(case, tmp_path):
    """Claim: `gradscope derive --standalone` output compiles with pdflatex (amsmath + breqn)
    for several sizes and activations, and breqn breaks every long expression: no line
    sticks out of the text block (no overfull hbox)."""
    log = _pdflatex(render_document(standalone=True, **case), tmp_path)
    assert "Overfull \\hbox" not in log


def test_printer_notation():
    """Claim: the notation is a LatexPrinter subclass: textbook names, σ and relu, the
    indicator for relu' (braced so breqn never breaks at its '>'), ⊤ for a transpose and
    ^{T} only for a power, and plain parentheses (which breqn can break inside) where the
    printer chooses them."""
    d = derive_jacobian(hidden=2, T=3)
    printer = RNNLatexPrinter(d.rnn.names)
    assert printer.doprint(d.rnn.W_hh[0, 1] * d.rnn.h[3][1]) == "h_{3,2} w_{12}"
    z = sympy.Symbol("z")
    assert latex(Sigmoid(z)) == r"\sigma(z)"
    assert latex(ReLU(z) ** 2) == r"\operatorname{relu}(z)^{2}"
    assert latex(sympy.Heaviside(z, 0)) == r"{\mathbf{1}[z > 0]}"
    assert latex(sympy.tanh(z + 1) ** 2) == r"\tanh^{2}(z + 1)"
    W = sympy.MatrixSymbol("W_hh", 2, 2)
    assert latex(W.T) == r"W_{hh}^{\top}" and latex(W**3) == r"W_{hh}^{3}"
    assert latex((z + 1) ** 2) == "(z + 1)^{2}"  # SymPy's own Mul printing keeps \left( \right)
    assert isinstance(printer, LatexPrinter)


def test_wide_matrices_index_with_commas_throughout():
    """Claim: with n >= 10 every entry of W_hh is written w_{i,j} (w_{1,2} beside w_{1,10}),
    so no index is ambiguous."""
    names = derive_jacobian(hidden=10, T=1).rnn.names
    assert {names[s] for s in derive_jacobian(hidden=10, T=1).rnn.W_hh[:1, :]} >= {"w_{1,2}"}
    rnn = derive_jacobian(hidden=10, T=1).rnn
    assert rnn.names[rnn.W_hh[0, 1]] == "w_{1,2}" and rnn.names[rnn.W_hh[0, 9]] == "w_{1,10}"


def _envs_balanced(tex):
    begins = re.findall(r"\\begin\{([a-z*]+)\}", tex)
    ends = re.findall(r"\\end\{([a-z*]+)\}", tex)
    return sorted(begins) == sorted(ends)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_document_states_conventions_recurrence_jacobians_bound_and_gradients(activation):
    """Claim: the handout has the conventions (numerator layout, T − k factors), the model,
    the unrolled recurrence, each step's Jacobian, the product with T factors, the bound
    (γ‖W‖)^{T−k} with this activation's γ, and the BPTT recursion with weight sharing."""
    tex = render_document(hidden=2, T=3, activation=activation)
    assert _envs_balanced(tex) and r"\documentclass" not in tex
    for text in (
        "numerator",
        "exactly $T - k$ factors",
        "The unrolled recurrence",
        "Step Jacobians",
        r"J_{t} = D_{t} W_{hh}",
        r"\frac{\partial h_{3}}{\partial h_{0}} = J_{3} \cdots J_{1} = "
        r"D_{3} W_{hh} D_{2} W_{hh} D_{1} W_{hh}",
        r"\left(\gamma \|W_{hh}\|_{2}\right)^{T-k}",
        r"\delta_{t} = D_{t}",
        "weight sharing",
        r"\frac{\partial L}{\partial w_{12}} = ",
    ):
        assert text in tex, text
    gamma = {"tanh": "1", "sigmoid": r"\frac{1}{4}", "relu": "1", "linear": "1"}[activation]
    assert rf"\gamma = \sup_z |\varphi'(z)| = {gamma}" in tex
    simplified = {
        "tanh": "1 - h^{2}",
        "sigmoid": r"h \left(1 - h\right)",
        "relu": r"{\mathbf{1}[z > 0]}",
        "linear": r"W_{hh}^{3}",
    }[activation]
    assert simplified in tex


def test_simplification_statements_are_plain_text():
    """Claim: the prose of every simplification prints as it is in LaTeX text mode."""
    for activation in ACTIVATIONS:
        for s in derive_jacobian(hidden=2, T=3, activation=activation).simplifications:
            assert not set(s.statement) & set("_^$%&#{}<>\\"), s.statement


def test_long_products_are_abbreviated_and_counted():
    """Claim: a long product is printed D_T W D_{T−1} W ⋯ D_1 W with its factor count, so the
    line stays short; every D_t is still listed."""
    tex = render_jacobian(derive_jacobian(hidden=2, T=10))
    assert r"D_{10} W_{hh} D_{9} W_{hh} \cdots D_{1} W_{hh}" in tex
    assert "$10 - 0 = 10$ factors" in tex
    assert all(f"D_{{{t}}} = " in tex for t in range(1, 11))


def test_oversized_expanded_form_falls_back_with_a_note():
    """Claim: an expanded expression longer than the cap is not printed; a note points to the
    structured form, which is printed in full."""
    tex = render_document(hidden=2, T=6, what="jacobian", expand=True, max_expression_chars=40)
    assert "too long to print" in tex and "c_{0} = " not in tex
    assert r"D_{6} = \operatorname{diag}(1 - h_{6,1}^{2}, 1 - h_{6,2}^{2})" in tex
    full = render_document(hidden=2, T=6, what="jacobian", expand=True)
    assert "c_{0} = " in full and "too long" not in full


def test_expanded_gradient_document_reports_the_direct_check():
    """Claim: with --expand the gradient section says that SymPy's direct differentiation
    agrees exactly with the recursion (the check is run, not asserted in prose)."""
    tex = render_gradient(derive_gradient(hidden=2, T=2, expand=True))
    assert "agree exactly" in tex and r"\frac{\partial L}{\partial b_{1}} = " in tex
