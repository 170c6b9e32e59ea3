r"""LaTeX of a PyTorch LSTM or GRU cell derivation (:mod:`gradscope.symbolic.cells`).

The cell's equations, a generic step's Jacobian :math:`J_t` in named gate values,
the product of ``T - start`` factors and its explicit entries through their common
subexpressions. Every expression goes through
:class:`~gradscope.symbolic.latex.printing.RNNLatexPrinter`; display maths is
``breqn``'s ``dmath*``.
"""

from __future__ import annotations

from gradscope.symbolic.cells import CellJacobianDerivation
from gradscope.symbolic.latex.printing import RNNLatexPrinter
from gradscope.symbolic.latex.sections import dmath

__all__ = ["MAX_EXPLICIT_CHARS", "render_cell_jacobian"]

#: Longest explicit section printed, in LaTeX characters.
MAX_EXPLICIT_CHARS = 20_000


def render_cell_jacobian(d: CellJacobianDerivation) -> str:
    r"""A cell derivation as a LaTeX fragment (``amsmath``, ``breqn``'s ``dmath*``).

    The cell's equations, a generic step's Jacobian in named gate values, the
    product of ``T - start`` factors, and the explicit entries through their
    common subexpressions when they are short enough to read (at most
    :data:`MAX_EXPLICIT_CHARS` characters; a note otherwise).

    Parameters
    ----------
    d : CellJacobianDerivation
        From :func:`~gradscope.symbolic.cells.derive_cell_jacobian`.

    Returns
    -------
    str

    Examples
    --------
    >>> from gradscope.symbolic.cells import derive_cell_jacobian
    >>> tex = render_cell_jacobian(derive_cell_jacobian(cell="lstm", hidden=1, T=1))
    >>> r"\frac{\partial c_{t,1}}{\partial c_{t-1,1}} = f_{t,1}" in tex
    True
    """
    printer = RNNLatexPrinter(d.names)
    S = d.state_size
    lstm = d.cell == "lstm"
    title = "LSTM" if lstm else "GRU"
    out = [f"\\subsection*{{The {title} cell (PyTorch's equations)}}\n"]
    if lstm:
        out.append(
            "Gates stacked $(i, f, g, o)$; $u^{(i)}_{kl}$ is entry $(k, l)$ of $W_{ii}$, "
            "$w^{(i)}_{kj}$ of $W_{hi}$, $b^{(ii)}_k$ and $b^{(hi)}_k$ of the two biases. "
            "The state is $s_t = (h_t, c_t)$, $h$ first.\n"
        )
    else:
        out.append(
            "Gates stacked $(r, z, n)$; $u^{(r)}_{kl}$ is entry $(k, l)$ of $W_{ir}$, "
            "$w^{(r)}_{kj}$ of $W_{hr}$; $b^{(hn)}$ sits inside the reset product. "
            "The state is $s_t = h_t$.\n"
        )
    for sym, expr in d.step_definitions:
        out.append(dmath(f"{printer.doprint(sym)} = {printer.doprint(expr)}"))
    if lstm:
        out.append(dmath("h_{t,k} = o_{t,k} \\tanh(c_{t,k})"))
    else:
        out.append(dmath("h_{t,k} = (1 - z_{t,k})\\, n_{t,k} + z_{t,k}\\, h_{t-1,k}"))
    out.append("\\subsection*{Step Jacobian}\n")
    out.append(
        "SymPy differentiates the step; in the named gate values, "
        "$J_t = \\partial s_t/\\partial s_{t-1}$ has the entries (row: component of "
        "$s_t$, numerator layout):\n"
    )
    labels = [printer.doprint(s) for s in d.step_state]
    prev = [printer.doprint(s) for s in d.step_previous]
    for i in range(S):
        for j in range(S):
            entry = printer.doprint(d.step_jacobian[i, j])
            out.append(dmath(f"\\frac{{\\partial {labels[i]}}}{{\\partial {prev[j]}}} = {entry}"))
    k = d.T - d.start
    out.append("\\subsection*{The product}\n")
    out.append(
        f"The Jacobian of $s_{{{d.T}}}$ with respect to $s_{{{d.start}}}$ has exactly "
        f"${d.T} - {d.start} = {k}$ factors, one per step:\n"
    )
    product = " ".join(f"J_{{{t}}}" for t in range(d.T, d.start, -1))
    out.append(dmath(f"\\frac{{\\partial s_{{{d.T}}}}}{{\\partial s_{{{d.start}}}}} = {product}"))
    replacements, reduced = d.cse
    blocks = [f"{printer.doprint(c)} = {printer.doprint(e)}" for c, e in replacements]
    row = [f"s_{{{d.T},{i + 1}}}" for i in range(S)]
    col = [f"s_{{{d.start},{j + 1}}}" for j in range(S)]
    blocks += [
        f"\\frac{{\\partial {row[i]}}}{{\\partial {col[j]}}} = {printer.doprint(reduced[i, j])}"
        for i in range(S)
        for j in range(S)
    ]
    total = sum(len(b) for b in blocks)
    out.append("\\subsection*{The product, explicit}\n")
    if total > MAX_EXPLICIT_CHARS:
        out.append(
            f"\\noindent\\emph{{The explicit entries take {total} characters of LaTeX, more "
            f"than the cap of {MAX_EXPLICIT_CHARS}; the product of the step Jacobians above is "
            "exact and equal to them.}\n\n"
        )
    else:
        out.append(
            "\\noindent In the parameters, inputs and initial state, with the common "
            "subexpressions $c_k$ (SymPy's \\texttt{cse}; "
            + ("$s = (h, c)$" if lstm else "$s = h$")
            + "):\n"
        )
        out.extend(dmath(b) for b in blocks)
    return "".join(out)
