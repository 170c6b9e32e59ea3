r"""Exact simplifications, kept as checkable chains of equal expressions.

A :class:`Simplification` is what a lecture writes as a line of equalities,
e.g. :math:`\tanh'(z) = 1 - \tanh^2(z) = 1 - h^2` (where :math:`h = \tanh z`),
or for a linear RNN :math:`D_t = I \Rightarrow \partial h_T/\partial h_0 =
W_{hh}^T` (a matrix *power*; transposes are written :math:`A^\top`). Each chain
can be checked by SymPy (:meth:`Simplification.check`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import sympy  # type: ignore[import-untyped]

from gradscope.symbolic.functions import ReLU, Sigmoid, phi, phi_prime

__all__ = ["Simplification", "jacobian_simplifications"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Simplification:
    r"""A chain of expressions, each equal to the next.

    Attributes
    ----------
    statement : str
        The step in words: plain text without LaTeX's special characters
        (``_ ^ $ % & # { } < > \``), so that it prints as it is.
    chain : tuple of sympy expressions
        ``chain[0] = chain[1] = ...``; may contain unevaluated derivatives and
        matrix expressions.
    where : tuple of (symbol, expression)
        Definitions the chain uses, e.g. ``(h, tanh(z))``.

    Examples
    --------
    >>> s = jacobian_simplifications("tanh", 2, 3)[0]
    >>> s.chain
    (Derivative(tanh(z), z), 1 - tanh(z)**2, 1 - h**2)
    >>> s.check()
    True
    """

    statement: str
    chain: tuple[Any, ...]
    where: tuple[tuple[Any, Any], ...] = ()

    def check(self) -> bool:
        """Whether every link holds exactly (SymPy, after substituting ``where``)."""
        subs = dict(self.where)
        values = [_value(e.xreplace(subs)) for e in self.chain]
        return all(_equal(a, b) for a, b in itertools.pairwise(values))

    def to_dict(self) -> dict[str, Any]:
        """The chain as SymPy strings, for JSON."""
        return {
            "statement": self.statement,
            "chain": [str(e) for e in self.chain],
            "where": [[str(a), str(b)] for a, b in self.where],
        }


def _value(e: Any) -> Any:
    e = e.doit()
    return e.as_explicit() if isinstance(e, sympy.MatrixExpr) else e


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, sympy.MatrixBase) or isinstance(b, sympy.MatrixBase):
        diff = (sympy.Matrix(a) - sympy.Matrix(b)).applyfunc(sympy.expand)
        return bool(diff.is_zero_matrix)
    return bool(sympy.simplify(a - b) == 0)


def jacobian_simplifications(activation: str, n: int, factors: int) -> tuple[Simplification, ...]:
    r"""The exact steps behind :math:`D_t` for ``activation`` (and the linear power).

    Parameters
    ----------
    activation : str
    n : int
        Hidden size (for the matrix identity of the linear case).
    factors : int
        Number of factors ``k`` of the product :math:`\partial h_{s+k}/\partial h_s`.

    Returns
    -------
    tuple of Simplification
    """
    z = sympy.Symbol("z", real=True)
    h = sympy.Symbol("h", real=True)
    f = phi(activation, z)
    d = sympy.Derivative(f, z)
    if activation == "tanh":
        return (
            Simplification(
                statement="the derivative of tanh, written in the state h = tanh(z)",
                chain=(d, phi_prime("tanh", z), 1 - h**2),
                where=((h, sympy.tanh(z)),),
            ),
        )
    if activation == "sigmoid":
        s = Sigmoid(z)
        return (
            Simplification(
                statement="the derivative of the sigmoid, written in the state h = sigma(z)",
                chain=(d, s * (1 - s), h * (1 - h)),
                where=((h, s),),
            ),
        )
    if activation == "relu":
        return (
            Simplification(
                statement=("the derivative of relu is 1 for a positive argument and 0 otherwise"),
                chain=(sympy.Derivative(ReLU(z), z), sympy.Heaviside(z, 0)),
            ),
            Simplification(
                statement="so relu'(0) = 0, as in PyTorch",
                chain=(sympy.Heaviside(0, 0), sympy.Integer(0)),
            ),
        )
    W = sympy.MatrixSymbol("W_hh", n, n)
    Ds = [sympy.MatrixSymbol(f"D_{t}", n, n) for t in range(factors, 0, -1)]
    product = sympy.MatMul(*(m for D in Ds for m in (D, W)), evaluate=False)
    identity = sympy.Identity(n)
    return (
        Simplification(
            statement="the activation is the identity, so every diagonal factor D is the identity",
            chain=(d, sympy.Integer(1)),
        ),
        Simplification(
            statement="hence the product of T - k factors is a matrix power",
            chain=(product, sympy.MatPow(W, factors)),
            where=tuple((D, identity) for D in Ds),
        ),
    )
