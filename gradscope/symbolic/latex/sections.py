r"""LaTeX of a derivation's own parts: step Jacobians, the product, the gradient recursion.

:func:`render_jacobian` and :func:`render_gradient` render a
:class:`~gradscope.symbolic.jacobian.JacobianDerivation` and a
:class:`~gradscope.symbolic.gradient.GradientDerivation`;
:func:`~gradscope.symbolic.latex.document.render_document` assembles them. Display
maths is ``breqn``'s ``dmath*`` (it breaks long sums across lines; ``amsmath``'s
``multline`` does not break by itself), short equations ``gather*``, matrices
``equation*``. Every derived expression goes through
:class:`~gradscope.symbolic.latex.printing.RNNLatexPrinter`.

An expanded expression longer than ``max_expression_chars`` printed characters, or
an expanded section longer than ``max_expanded_chars``, is replaced by a note that
points to the structured form, which is exact at any size. Long lists (every
:math:`D_t`, :math:`\delta_{t,i}`, gradient entry) give way to their generic
componentwise formula beyond a fixed count, so that printing stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sympy  # type: ignore[import-untyped]

from gradscope.symbolic.functions import phi_prime_named
from gradscope.symbolic.latex.printing import RNNLatexPrinter, diag_latex
from gradscope.symbolic.rnn import GRADIENT_NAMES

__all__ = [
    "MAX_EXPANDED_CHARS",
    "MAX_EXPRESSION_CHARS",
    "MAX_LISTED",
    "PHI_LATEX",
    "dmath",
    "gather",
    "render_gradient",
    "render_jacobian",
]

#: Longest single expanded expression printed, in LaTeX characters.
MAX_EXPRESSION_CHARS = 4000
#: Longest expanded section printed, in LaTeX characters.
MAX_EXPANDED_CHARS = 80_000
#: Beyond this many entries (T·n for z_t, δ_t; T·n for the D_t; terms of the gradient
#: sums) a list is replaced by its generic componentwise formula, so that a document
#: stays readable and quick to print at any allowed size.
MAX_LISTED = 64
_MAX_DIAG_LISTED = 512
_MAX_GRADIENT_TERMS = 512

PHI_LATEX = {
    "tanh": r"\tanh",
    "sigmoid": r"\sigma",
    "relu": r"\operatorname{relu}",
    "linear": r"\operatorname{id}",
}


def dmath(tex: str) -> str:
    """One display equation that breqn may break across lines (``dmath*``)."""
    return "\\begin{dmath*}\n" + tex + "\n\\end{dmath*}\n"


def gather(*lines: str) -> str:
    """Short equations, centred one per line (amsmath ``gather*``; never broken)."""
    return "\\begin{gather*}\n" + " \\\\\n".join(lines) + "\n\\end{gather*}\n"


def _equation(tex: str) -> str:
    return "\\begin{equation*}\n" + tex + "\n\\end{equation*}\n"


def _partial(num: str, den: str) -> str:
    return r"\frac{\partial " + num + r"}{\partial " + den + "}"


def _product_latex(d: Any, printer: RNNLatexPrinter) -> str:
    k = d.end - d.start
    args = d.product.args
    if k <= 6:
        body = printer.doprint(d.product)
    else:  # D_T W D_{T-1} W \cdots D_{k+1} W: keep the line short
        head = printer.doprint(sympy.MatMul(*args[:4], evaluate=False))
        tail = printer.doprint(sympy.MatMul(*args[-2:], evaluate=False))
        body = head + r" \cdots " + tail
    lhs = _partial(f"h_{{{d.end}}}", f"h_{{{d.start}}}")
    return dmath(f"{lhs} = J_{{{d.end}}} \\cdots J_{{{d.start + 1}}} = {body}")


def _simplifications_latex(steps: Iterable[Any], printer: RNNLatexPrinter) -> str:
    out = []
    for s in steps:
        chain = " = ".join(printer.doprint(e) for e in s.chain)
        where = ", ".join(f"{printer.doprint(a)} = {printer.doprint(b)}" for a, b in s.where)
        note = f"\\quad\\text{{where }} {where}" if where and len(s.where) <= 2 else ""
        out.append(
            f"\\noindent {s.statement[0].upper()}{s.statement[1:]}:\n" + dmath(chain + note)
        )
    return "".join(out)


def _expanded_latex(
    lhs: Sequence[str],
    replacements: Sequence[tuple[Any, Any]],
    entries: Sequence[Any],
    printer: RNNLatexPrinter,
    max_expression_chars: int,
    max_expanded_chars: int,
) -> str:
    """cse definitions and entries, each in its own dmath*, or a note if too long."""
    blocks = [f"{printer.doprint(c)} = {printer.doprint(e)}" for c, e in replacements]
    blocks += [f"{name} = {printer.doprint(e)}" for name, e in zip(lhs, entries, strict=True)]
    longest = max(len(b) for b in blocks)
    total = sum(len(b) for b in blocks)
    if longest > max_expression_chars or total > max_expanded_chars:
        return (
            "\\noindent\\emph{The expanded form is too long to print "
            f"({total} characters of LaTeX, the longest expression {longest}; the caps are "
            f"{max_expanded_chars} and {max_expression_chars}). The structured form above "
            "is exact and equal to it.}\n\n"
        )
    intro = (
        "\\noindent With the common subexpressions $c_k$ below (SymPy's \\texttt{cse}), "
        "the fully explicit form is:\n"
    )
    return intro + "".join(dmath(b) for b in blocks)


def render_jacobian(
    d: Any,
    *,
    max_expression_chars: int = MAX_EXPRESSION_CHARS,
    max_expanded_chars: int = MAX_EXPANDED_CHARS,
) -> str:
    r"""The step Jacobians and the product of a :class:`JacobianDerivation`, as LaTeX.

    Examples
    --------
    >>> from gradscope.symbolic import derive_jacobian
    >>> tex = render_jacobian(derive_jacobian(hidden=2, T=2))
    >>> r"D_{2} = \operatorname{diag}(1 - h_{2,1}^{2}, 1 - h_{2,2}^{2})" in tex
    True
    """
    rnn = d.rnn
    n = rnn.hidden
    names = dict(rnn.names)
    zt = [sympy.Symbol(f"z_t_{i + 1}", real=True) for i in range(n)]
    ht = [sympy.Symbol(f"h_t_{i + 1}", real=True) for i in range(n)]
    for i in range(n):
        names[zt[i]], names[ht[i]] = f"z_{{t,{i + 1}}}", f"h_{{t,{i + 1}}}"
    printer = RNNLatexPrinter(names)
    generic = [phi_prime_named(rnn.activation, z, h) for z, h in zip(zt, ht, strict=True)]
    out = ["\\subsection*{Step Jacobians}\n"]
    out.append(
        "Each step contributes $J_t = \\partial h_t / \\partial h_{t-1} = D_t W_{hh}$ with "
        "$D_t = \\operatorname{diag}(\\varphi'(z_t))$, an $n \\times n$ matrix whose row $i$ "
        "belongs to $h_{t,i}$ (numerator layout).\n"
    )
    out.append(_simplifications_latex(d.simplifications[:1], printer))
    out.append(dmath(f"D_{{t}} = {diag_latex(generic, printer)}"))
    if n <= 3:  # wider matrices overflow the line
        J = sympy.ImmutableMatrix(n, n, lambda i, j: generic[i] * rnn.W_hh[i, j])
        out.append(_equation(f"J_{{t}} = D_{{t}} W_{{hh}} = {printer.doprint(J)}"))
    else:
        out.append(dmath(r"(J_{t})_{ij} = \varphi'(z_{t,i})\, w_{ij}"))
    out.append("\\subsection*{The product}\n")
    k = d.end - d.start
    out.append(
        f"The Jacobian of $h_{{{d.end}}}$ with respect to $h_{{{d.start}}}$ has exactly "
        f"${d.end} - {d.start} = {k}$ factors, one per step:\n"
    )
    out.append(_product_latex(d, printer))
    if k * n <= _MAX_DIAG_LISTED:
        out.append("\\noindent where\n")
        for t, deriv in zip(range(d.start + 1, d.end + 1), d.derivatives, strict=True):
            out.append(dmath(f"D_{{{t}}} = {diag_latex(deriv, printer)}"))
    else:
        out.append(
            f"\\noindent where each $D_t$ ($t = {d.start + 1}, \\ldots, {d.end}$) has the form "
            f"above ({k * n} diagonal entries, not listed one by one).\n\n"
        )
    if rnn.activation == "linear":
        out.append(_simplifications_latex(d.simplifications[1:], printer))
    if d.form == "expanded":
        replacements, reduced = d.cse
        lhs = [
            r"\left("
            + _partial(f"h_{{{d.end}}}", f"h_{{{d.start}}}")
            + r"\right)"
            + f"_{{{i + 1}{',' if n >= 10 else ''}{j + 1}}}"
            for i in range(n)
            for j in range(n)
        ]
        out.append("\\subsection*{The product, expanded}\n")
        out.append(
            _expanded_latex(
                lhs, replacements, list(reduced), printer, max_expression_chars, max_expanded_chars
            )
        )
    return "".join(out)


def render_gradient(
    d: Any,
    *,
    max_expression_chars: int = MAX_EXPRESSION_CHARS,
    max_expanded_chars: int = MAX_EXPANDED_CHARS,
) -> str:
    r"""The adjoint recursion and the gradients of a :class:`GradientDerivation`, as LaTeX.

    Examples
    --------
    >>> from gradscope.symbolic import derive_gradient
    >>> tex = render_gradient(derive_gradient(hidden=1, T=2))
    >>> r"\frac{\partial L}{\partial w_{11}} = \delta_{1,1} h_{0,1} + \delta_{2,1} h_{1,1}" in tex
    True
    """
    rnn = d.rnn
    T, n = rnn.T, rnn.hidden
    printer = RNNLatexPrinter(d.names)
    out = ["\\subsection*{The gradient recursion}\n"]
    out.append(
        "With $\\delta_t = \\partial L / \\partial z_t$ (a column), backpropagation through "
        "time runs backwards from $t = T$:\n"
    )
    out.append(
        gather(
            r"\delta_{T} = D_{T} W_{hy}^{\top} (y_{T} - \hat{y}_{T}),",
            r"\delta_{t} = D_{t} \left(W_{hy}^{\top} (y_{t} - \hat{y}_{t}) "
            r"+ W_{hh}^{\top} \delta_{t+1}\right) \quad (t = T - 1, \ldots, 1)",
        )
    )
    out.append(
        "\\noindent Componentwise, with $y_{t} = W_{hy} h_{t}$ and the derivatives written as "
        "above:\n"
    )
    if T * n <= MAX_LISTED:
        for t in range(T, 0, -1):
            for i in range(n):
                sym, val = d.delta_symbols[t - 1][i], d.deltas[t - 1][i]
                out.append(dmath(f"{printer.doprint(sym)} = {printer.doprint(val)}"))
    else:
        out.append(
            dmath(
                r"\delta_{t,i} = \varphi'(z_{t,i}) \left(\sum_{j=1}^{p} v_{ji} "
                r"(y_{t,j} - \hat{y}_{t,j}) + \sum_{j=1}^{n} w_{ji} \delta_{t+1,j}\right)"
                r" \quad (\delta_{T+1} = 0)"
            )
        )
    out.append("\\subsection*{The gradients: one term per step}\n")
    out.append(
        "The same weights act at every step (weight sharing), so each gradient is the sum of "
        "the contributions of the $T$ steps:\n"
    )
    out.append(
        gather(
            r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta_{t} h_{t-1}^{\top}, "
            r"\quad \frac{\partial L}{\partial W_{xh}} = \sum_{t=1}^{T} \delta_{t} x_{t}^{\top}, "
            r"\quad \frac{\partial L}{\partial b} = \sum_{t=1}^{T} \delta_{t}",
        )
    )
    if n * (n + rnn.input_size + 1) * T <= _MAX_GRADIENT_TERMS:
        for key in GRADIENT_NAMES:
            G = d.gradients[key]
            for i in range(G.shape[0]):
                for j in range(G.shape[1]):
                    param = printer.doprint(rnn.parameters()[key][i, j])
                    lhs = _partial("L", param)
                    out.append(dmath(f"{lhs} = {printer.doprint(G[i, j])}"))
    else:
        out.append(
            gather(
                r"\frac{\partial L}{\partial w_{ij}} = \sum_{t=1}^{T} \delta_{t,i} h_{t-1,j}, "
                r"\quad \frac{\partial L}{\partial u_{ij}} = \sum_{t=1}^{T} \delta_{t,i} x_{t,j}, "
                r"\quad \frac{\partial L}{\partial b_{i}} = \sum_{t=1}^{T} \delta_{t,i}",
            )
        )
    if d.form == "expanded":
        verdict = "agree exactly" if d.agrees_with_direct else "DISAGREE"
        out.append("\\subsection*{Checked against direct differentiation}\n")
        out.append(
            "SymPy differentiated the explicit loss $L$ directly with respect to every entry "
            f"of $W_{{hh}}$, $W_{{xh}}$ and $b$; the results and the recursion above {verdict} "
            "(an identity of polynomials in the parameters and the states $h_{t,i}$).\n\n"
        )
        replacements, reduced = d.cse
        names: list[str] = []
        entries: list[Any] = []
        for key in GRADIENT_NAMES:
            G = reduced[key]
            for i in range(G.shape[0]):
                for j in range(G.shape[1]):
                    param = printer.doprint(rnn.parameters()[key][i, j])
                    names.append(_partial("L", param))
                    entries.append(G[i, j])
        out.append("\\subsection*{The gradients, expanded}\n")
        out.append(
            _expanded_latex(
                names, replacements, entries, printer, max_expression_chars, max_expanded_chars
            )
        )
    return "".join(out)
