r"""LaTeX derivations a teacher could hand out: ``gradscope derive``.

A document states its conventions, the model, the unrolled recurrence, each
step's Jacobian, the product :math:`\partial h_T/\partial h_k` (structured, and
expanded on request), the bound :math:`(\gamma\|W_{hh}\|_2)^{T-k}` and the BPTT
gradient recursion (the derivation's own parts come from
:mod:`gradscope.symbolic.latex.sections`). Display maths uses ``breqn``'s ``dmath*``,
which breaks long sums across lines. A standalone document needs the Debian
packages ``texlive-latex-base`` and ``texlive-latex-recommended`` (``breqn.sty``
is in the latter); its fonts are the Computer Modern Type 1 fonts of
``texlive-base`` (no ``fontenc`` T1, which would need METAFONT bitmaps).
"""

from __future__ import annotations

from typing import Any

from gradscope.symbolic.functions import GAMMA
from gradscope.symbolic.latex.printing import RNNLatexPrinter
from gradscope.symbolic.latex.sections import (
    MAX_EXPANDED_CHARS,
    MAX_EXPRESSION_CHARS,
    MAX_LISTED,
    PHI_LATEX,
    dmath,
    gather,
    render_gradient,
    render_jacobian,
)

__all__ = ["render_document"]


def _model_latex(rnn: Any, printer: RNNLatexPrinter) -> str:
    n, m, p, T = rnn.hidden, rnn.input_size, rnn.output_size, rnn.T
    act = rnn.activation
    out = ["\\section*{Conventions}\n"]
    out.append(
        f"A vanilla RNN with $n = {n}$ hidden units, $m = {m}$ inputs, $p = {p}$ outputs and "
        f"horizon $T = {T}$; activation $\\varphi = {PHI_LATEX[act]}$"
        + (", with $\\operatorname{relu}'(0) = 0$ as in PyTorch" if act == "relu" else "")
        + ". The weights are $W_{hh} = (w_{ij})$ ($n \\times n$), $W_{xh} = (u_{ij})$ "
        "($n \\times m$), $W_{hy} = (v_{ij})$ ($p \\times n$) and $b = (b_i)$; "
        "$h_{t,i}$, $z_{t,i}$, $x_{t,i}$ and $\\hat{y}_{t,i}$ are the $i$-th components of "
        "$h_t$, $z_t$, $x_t$ and the target $\\hat{y}_t$. Jacobians are in numerator "
        "layout: $\\partial h_t / \\partial h_{t-1}$ is $n \\times n$ with row $i$ belonging "
        "to $h_{t,i}$. The product $\\partial h_T / \\partial h_k = J_T \\cdots J_{k+1}$ has "
        "exactly $T - k$ factors. $A^{\\top}$ is a transpose and $W_{hh}^{k}$ a matrix power. "
        "Norms are spectral: $\\|A\\|_2$ is the largest singular value.\n"
    )
    out.append("\\section*{The model}\n")
    out.append(
        gather(
            r"z_{t} = W_{hh} h_{t-1} + W_{xh} x_{t} + b, \quad h_{t} = \varphi(z_{t}), \quad "
            r"y_{t} = W_{hy} h_{t} \qquad (t = 1, \ldots, T)",
            r"L = \sum_{t=1}^{T} \frac{1}{2} \left\| y_{t} - \hat{y}_{t} \right\|^{2}",
        )
    )
    out.append("\\subsection*{The unrolled recurrence}\n")
    if T * n <= MAX_LISTED:
        phi_def = f"$h_{{t,i}} = {PHI_LATEX[act]}(z_{{t,i}})$"
        out.append(f"For $t = 1, \\ldots, {T}$, each followed by {phi_def}:\n")
        for t in range(1, T + 1):
            for i in range(n):
                z, zdef = rnn.z[t - 1][i], rnn.z_definition(t)[i]
                out.append(dmath(f"{printer.doprint(z)} = {printer.doprint(zdef)}"))
    else:
        out.append(
            f"For each $t = 1, \\ldots, {T}$ and $i = 1, \\ldots, {n}$ "
            f"({T * n} pairs, not listed one by one):\n"
        )
        out.append(
            dmath(
                r"z_{t,i} = \sum_{j=1}^{n} w_{ij} h_{t-1,j} + \sum_{j=1}^{m} u_{ij} x_{t,j}"
                r" + b_{i}, \quad h_{t,i} = \varphi(z_{t,i})"
            )
        )
    return "".join(out)


def _bound_latex(activation: str, T: int, start: int, printer: RNNLatexPrinter) -> str:
    gamma = printer.doprint(GAMMA[activation])
    k = T - start
    out = ["\\section*{The bound}\n"]
    out.append(
        "Since $\\|D_t\\|_2 = \\max_i |\\varphi'(z_{t,i})| \\le \\gamma$ with "
        f"$\\gamma = \\sup_z |\\varphi'(z)| = {gamma}$ for ${PHI_LATEX[activation]}$, "
        "submultiplicativity of the spectral norm gives, counting the factors:\n"
    )
    out.append(
        dmath(
            r"\left\| \frac{\partial h_{T}}{\partial h_{k}} \right\|_{2} \le \prod_{t=k+1}^{T} "
            r"\|D_{t}\|_{2} \|W_{hh}\|_{2} \le \left(\gamma \|W_{hh}\|_{2}\right)^{T-k}"
        )
    )
    out.append(
        f"\\noindent Here $T - k = {T} - {start} = {k}$: the exponent is the number of factors. "
        "For a linear RNN ($D_t = I$) the bound is attained when $W_{hh}$ is a scaled "
        "orthogonal matrix, and it says nothing about growth when $\\gamma\\|W_{hh}\\|_2 > 1$.\n"
    )
    return "".join(out)


def render_document(
    *,
    hidden: int,
    T: int,
    activation: str = "tanh",
    what: str = "all",
    expand: bool = False,
    input_size: int = 1,
    output_size: int = 1,
    start: int = 0,
    standalone: bool = False,
    max_expression_chars: int = MAX_EXPRESSION_CHARS,
    max_expanded_chars: int = MAX_EXPANDED_CHARS,
) -> str:
    r"""A LaTeX derivation of the Jacobian product and/or the BPTT gradients.

    Parameters
    ----------
    hidden, T, activation, input_size, output_size, start, expand
        As for :func:`~gradscope.symbolic.jacobian.derive_jacobian` and
        :func:`~gradscope.symbolic.gradient.derive_gradient`.
    what : {"jacobian", "gradient", "all"}
    standalone : bool
        A complete document (``article`` with ``amsmath`` and ``breqn``) rather
        than a fragment to ``\input``.
    max_expression_chars, max_expanded_chars : int
        Caps on printed expanded forms (see the module docstring).

    Returns
    -------
    str

    Raises
    ------
    ConfigError, DerivationError
        For bad sizes or sizes beyond the limits (:mod:`gradscope.symbolic.limits`).

    Examples
    --------
    >>> tex = render_document(hidden=2, T=3, what="jacobian")
    >>> "D_{3} W_{hh} D_{2} W_{hh} D_{1} W_{hh}" in tex
    True
    """
    from gradscope.errors import ConfigError
    from gradscope.symbolic.gradient import derive_gradient
    from gradscope.symbolic.jacobian import derive_jacobian

    if what not in ("jacobian", "gradient", "all"):
        raise ConfigError(f"what must be 'jacobian', 'gradient' or 'all', got {what!r}")
    caps = {"max_expression_chars": max_expression_chars, "max_expanded_chars": max_expanded_chars}
    jac = grad = None
    if what in ("jacobian", "all"):
        jac = derive_jacobian(
            hidden=hidden,
            T=T,
            activation=activation,
            input_size=input_size,
            start=start,
            expand=expand,
        )
    if what in ("gradient", "all"):
        grad = derive_gradient(
            hidden=hidden,
            T=T,
            activation=activation,
            input_size=input_size,
            output_size=output_size,
            expand=expand,
        )
    rnn = jac.rnn if jac is not None else grad.rnn  # type: ignore[union-attr]
    printer = RNNLatexPrinter(rnn.names)
    body = [_model_latex(rnn, printer)]
    if jac is not None:
        body.append("\\section*{Backwards through time: the Jacobian product}\n")
        body.append(render_jacobian(jac, **caps))
        body.append(_bound_latex(activation, T, start, printer))
    if grad is not None:
        body.append("\\section*{Backpropagation through time: the gradients}\n")
        body.append(render_gradient(grad, **caps))
    text = "".join(body)
    if not standalone:
        return text
    title = f"Gradients through a {hidden}-unit {activation} RNN, T = {T}"
    return (
        "\\documentclass[11pt]{article}\n"
        "\\usepackage{amsmath}\n"
        "\\usepackage{amssymb}\n"
        "\\usepackage{breqn}\n"
        "\\allowdisplaybreaks\n"
        f"\\title{{{title}}}\n"
        "\\author{gradscope derive}\n"
        "\\date{}\n"
        "\\begin{document}\n"
        "\\maketitle\n" + text + "\\end{document}\n"
    )
