r"""Closed-form Jacobians and BPTT gradients of small RNNs, derived with SymPy.

Everything here works with explicit matrices of symbols in numerator layout and
the conventions of DESIGN.md §1 (:math:`z_t = W_{hh} h_{t-1} + W_{xh} x_t + b`,
:math:`J_t = \operatorname{diag}(\varphi'(z_t)) W_{hh}`, exactly T − k factors in
:math:`\partial h_T/\partial h_k`). Results are frozen dataclasses holding the
SymPy objects, with ``.to_function()`` (a NumPy function that tests compare with
:mod:`gradscope.numeric`); the ``render_*`` functions of :mod:`gradscope.symbolic.latex`
(above the derivations, which never import it) turn them into LaTeX, and
``gradscope.symbolic.latex.latex`` prints one expression in the same notation.

Importing this package is cheap: the names below load on first use, and SymPy
is imported only then (``import gradscope`` never imports SymPy).

Examples
--------
>>> from gradscope.symbolic import derive_jacobian
>>> d = derive_jacobian(hidden=2, T=3, activation="tanh")
>>> d.product, d.derivatives[0].T
(D_3*W_hh*D_2*W_hh*D_1*W_hh, Matrix([[1 - h_1_1**2, 1 - h_1_2**2]]))
"""

from __future__ import annotations

import importlib
from typing import Any

from gradscope.lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "derive_jacobian": "gradscope.symbolic.jacobian",
    "JacobianDerivation": "gradscope.symbolic.jacobian",
    "derive_gradient": "gradscope.symbolic.gradient",
    "GradientDerivation": "gradscope.symbolic.gradient",
    "adjoint_equals_direct": "gradscope.symbolic.gradient",
    "derive_cell_jacobian": "gradscope.symbolic.cells",
    "CellJacobianDerivation": "gradscope.symbolic.cells",
    "symbolic_rnn": "gradscope.symbolic.rnn",
    "SymbolicRNN": "gradscope.symbolic.rnn",
    "explicit_states": "gradscope.symbolic.rnn",
    "Simplification": "gradscope.symbolic.simplify",
    "polynomial_identity": "gradscope.symbolic.proof",
    "check_sizes": "gradscope.symbolic.limits",
    "check_cell_sizes": "gradscope.symbolic.limits",
    "DerivationSizeError": "gradscope.symbolic.limits",
    "MAX_EXPANDED_JACOBIAN": "gradscope.symbolic.limits",
    "MAX_EXPANDED_GRADIENT": "gradscope.symbolic.limits",
    "MAX_STRUCTURED_SIZE": "gradscope.symbolic.limits",
    "RNNLatexPrinter": "gradscope.symbolic.latex.printing",
    "render_jacobian": "gradscope.symbolic.latex.sections",
    "render_gradient": "gradscope.symbolic.latex.sections",
    "render_cell_jacobian": "gradscope.symbolic.latex.cells",
    "render_document": "gradscope.symbolic.latex.document",
}

__all__ = [
    "MAX_EXPANDED_GRADIENT",
    "MAX_EXPANDED_JACOBIAN",
    "MAX_STRUCTURED_SIZE",
    "CellJacobianDerivation",
    "DerivationSizeError",
    "GradientDerivation",
    "JacobianDerivation",
    "RNNLatexPrinter",
    "Simplification",
    "SymbolicRNN",
    "adjoint_equals_direct",
    "check_cell_sizes",
    "check_sizes",
    "derive_cell_jacobian",
    "derive_gradient",
    "derive_jacobian",
    "explicit_states",
    "polynomial_identity",
    "render_cell_jacobian",
    "render_document",
    "render_gradient",
    "render_jacobian",
    "symbolic_rnn",
]

_lazy_getattr, __dir__ = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    if name == "latex":  # the rendering subpackage, loaded on first use
        return importlib.import_module("gradscope.symbolic.latex")
    return _lazy_getattr(name)
