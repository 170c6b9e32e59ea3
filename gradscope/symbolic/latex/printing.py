r"""gradscope's LaTeX notation, as a SymPy :class:`~sympy.printing.latex.LatexPrinter`.

The notation is a printer, not string surgery on SymPy's output:

* every symbol of a :class:`~gradscope.symbolic.rnn.SymbolicRNN` prints under
  its textbook name (``w_1_2`` as :math:`w_{12}`, ``h_3_1`` as :math:`h_{3,1}`);
* :math:`\sigma(z)` and :math:`\operatorname{relu}(z)` for the activations;
* plain parentheses rather than ``\left( \right)``, so that ``breqn`` can break
  long expressions inside them;
* the Heaviside step with :math:`H(0) = 0` as the indicator
  :math:`\mathbf{1}[z > 0]`;
* a transpose as :math:`A^\top`, so that :math:`W_{hh}^{T}` always means a
  power (the horizon T), never a transpose;
* matrices as ``pmatrix``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sympy  # type: ignore[import-untyped]
from sympy.printing.latex import LatexPrinter  # type: ignore[import-untyped]

__all__ = ["RNNLatexPrinter", "diag_latex", "latex"]


def _power(tex: str, exp: str | None) -> str:
    return tex if exp is None else tex + "^{" + exp + "}"


class RNNLatexPrinter(LatexPrinter):  # type: ignore[misc]  # sympy is untyped
    r"""LaTeX in gradscope's notation.

    Parameters
    ----------
    names : mapping of sympy.Symbol to str, optional
        LaTeX of individual symbols (a :class:`SymbolicRNN`'s ``names``).
    **settings
        Further :class:`~sympy.printing.latex.LatexPrinter` settings.

    Examples
    --------
    >>> import sympy
    >>> from gradscope.symbolic.functions import ReLU, Sigmoid
    >>> z = sympy.Symbol("z_1_1")
    >>> p = RNNLatexPrinter({z: "z_{1,1}"})
    >>> p.doprint(Sigmoid(z) * ReLU(z))
    '\\operatorname{relu}(z_{1,1}) \\sigma(z_{1,1})'
    >>> p.doprint(sympy.Heaviside(z, 0))
    '{\\mathbf{1}[z_{1,1} > 0]}'
    >>> W = sympy.MatrixSymbol("W_hh", 2, 2)
    >>> p.doprint(W.T), p.doprint(W**3)
    ('W_{hh}^{\\top}', 'W_{hh}^{3}')
    """

    printmethod = "_gradscope_latex"

    def __init__(self, names: Mapping[Any, str] | None = None, **settings: Any) -> None:
        settings.setdefault("mat_str", "pmatrix")
        settings.setdefault("mat_delim", "")
        merged = dict(settings.pop("symbol_names", {}))
        merged.update(names or {})
        super().__init__({"symbol_names": merged, **settings})

    # Plain delimiters, not \left( \right): breqn can break a line inside them (it sizes
    # them itself), never inside a \left ... \right group.
    def _add_parens(self, s: str) -> str:
        return "(" + s + ")"

    def _add_parens_lspace(self, s: str) -> str:
        return "( " + s + ")"

    def _print_tanh(self, expr: Any, exp: str | None = None) -> str:
        name = r"\tanh" if exp is None else r"\tanh^{" + exp + "}"
        return name + "(" + str(self._print(expr.args[0])) + ")"

    def _print_Sigmoid(self, expr: Any, exp: str | None = None) -> str:
        return _power(r"\sigma(" + str(self._print(expr.args[0])) + ")", exp)

    def _print_ReLU(self, expr: Any, exp: str | None = None) -> str:
        return _power(r"\operatorname{relu}(" + str(self._print(expr.args[0])) + ")", exp)

    def _print_Heaviside(self, expr: Any, exp: str | None = None) -> str:
        # Every Heaviside gradscope builds has H(0) = 0: the indicator of z > 0.
        arg, *h0 = expr.args
        if h0 and h0[0] != 0:
            return str(super()._print_Heaviside(expr, exp))
        # braced: breqn must not break the line at this ">"
        return _power(r"{\mathbf{1}[" + str(self._print(arg)) + " > 0]}", exp)

    def _print_Transpose(self, expr: Any) -> str:
        mat = expr.arg
        s = str(self._print(mat))
        if not isinstance(mat, sympy.MatrixSymbol) or "^" in s:
            s = "(" + s + ")"
        return s + r"^{\top}"


def latex(expr: Any, names: Mapping[Any, str] | None = None, **settings: Any) -> str:
    r"""``expr`` as LaTeX through :class:`RNNLatexPrinter`.

    Examples
    --------
    >>> import sympy
    >>> h = sympy.Symbol("h_2_1")
    >>> latex(1 - h**2, {h: "h_{2,1}"})
    '1 - h_{2,1}^{2}'
    """
    return str(RNNLatexPrinter(names, **settings).doprint(expr))


def diag_latex(entries: Iterable[Any], printer: RNNLatexPrinter) -> str:
    r"""``\operatorname{diag}(e_1, \dots, e_n)`` of expressions printed by ``printer``.

    Examples
    --------
    >>> import sympy
    >>> a, b = sympy.symbols("a b")
    >>> diag_latex([1 - a**2, b], RNNLatexPrinter())
    '\\operatorname{diag}(1 - a^{2}, b)'
    """
    inner = ", ".join(printer.doprint(e) for e in entries)
    return r"\operatorname{diag}(" + inner + ")"
