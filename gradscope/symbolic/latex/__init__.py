r"""LaTeX of the symbolic derivations: a printer subclass, sections, documents.

Rendering sits above the derivation modules of :mod:`gradscope.symbolic` (which never
import it): :class:`~gradscope.symbolic.latex.printing.RNNLatexPrinter` holds the
notation, :mod:`~gradscope.symbolic.latex.sections` the parts of a Jacobian or
gradient derivation, :mod:`~gradscope.symbolic.latex.cells` an LSTM or GRU cell's,
and :mod:`~gradscope.symbolic.latex.document` the whole document that
``gradscope derive`` prints. The names below load (with SymPy) on first use, e.g.

>>> from gradscope.symbolic import derive_jacobian
>>> from gradscope.symbolic.latex import render_jacobian
>>> r"D_{2} W_{hh} D_{1} W_{hh}" in render_jacobian(derive_jacobian(hidden=2, T=2))
True
"""

from __future__ import annotations

from gradscope.lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "RNNLatexPrinter": "gradscope.symbolic.latex.printing",
    "diag_latex": "gradscope.symbolic.latex.printing",
    "latex": "gradscope.symbolic.latex.printing",
    "render_jacobian": "gradscope.symbolic.latex.sections",
    "render_gradient": "gradscope.symbolic.latex.sections",
    "render_cell_jacobian": "gradscope.symbolic.latex.cells",
    "render_document": "gradscope.symbolic.latex.document",
}

__all__ = [
    "RNNLatexPrinter",
    "diag_latex",
    "latex",
    "render_cell_jacobian",
    "render_document",
    "render_gradient",
    "render_jacobian",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
