r"""Exact identity checks for the deep, shared expressions of the expanded forms.

Two explicit expressions built from the same states — say the adjoint gradient
and SymPy's ``diff`` of the loss — are compared by mapping each state
:math:`\varphi(z_{t,i})` (and relu's :math:`H(z_{t,i})`) to a fresh symbol and
evaluating both sides in a polynomial ring over :math:`\mathbb{Q}`, memoised
over the expression DAG. Equal polynomials prove the identity: substituting the
states back cannot break it. This replaces ``sympy.expand``, which walks the
expression *tree* (exponential in T here) and took a minute where this takes
well under a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sympy  # type: ignore[import-untyped]
from sympy.polys.rings import PolyRing  # type: ignore[import-untyped]

from gradscope.errors import DerivationError

__all__ = ["polynomial_identity"]


def _free_symbols(exprs: Iterable[Any], atoms: Mapping[Any, Any]) -> list[Any]:
    seen: set[Any] = set()
    found: dict[Any, None] = {}
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if e in atoms:
            found.setdefault(atoms[e])
        elif e.is_Symbol:
            found.setdefault(e)
        else:
            stack.extend(e.args)
    return sorted(found, key=str)


def _evaluate(
    e: Any, ring: Any, gens: Mapping[Any, Any], atoms: Mapping[Any, Any], memo: dict[Any, Any]
) -> Any:
    hit = memo.get(e)
    if hit is not None:
        return hit
    if e in atoms:
        out = gens[atoms[e]]
    elif e.is_Symbol:
        out = gens[e]
    elif e.is_Rational:
        out = ring(ring.domain.convert(e))
    elif e.is_Add:
        out = ring.zero
        for a in e.args:
            out += _evaluate(a, ring, gens, atoms, memo)
    elif e.is_Mul:
        out = ring.one
        for a in e.args:
            out *= _evaluate(a, ring, gens, atoms, memo)
    elif e.is_Pow and e.exp.is_Integer and e.exp >= 0:
        out = _evaluate(e.base, ring, gens, atoms, memo) ** int(e.exp)
    else:
        raise DerivationError(f"not a polynomial in the given atoms: {type(e).__name__}")
    memo[e] = out
    return out


def polynomial_identity(
    pairs: Sequence[tuple[Any, Any]], atoms: Mapping[Any, Any] | None = None
) -> bool:
    """Whether ``a == b`` for every pair, as polynomials once ``atoms`` are replaced.

    Parameters
    ----------
    pairs : sequence of (expression, expression)
    atoms : mapping of sympy expression to sympy.Symbol, optional
        Subexpressions treated as independent variables (e.g. each explicit
        state ``tanh(z_t_i)`` to the named ``h_t_i``).

    Returns
    -------
    bool
        True proves every identity. False means the two sides differ as
        polynomials in the atoms (which, if the atoms are algebraically related,
        does not by itself prove they differ as functions).

    Raises
    ------
    DerivationError
        If an expression is not a polynomial in its symbols and the atoms.

    Examples
    --------
    >>> import sympy
    >>> x, h = sympy.symbols("x h")
    >>> a = (1 - sympy.tanh(x) ** 2) * (sympy.tanh(x) + 1)
    >>> b = 1 + sympy.tanh(x) - sympy.tanh(x) ** 2 - sympy.tanh(x) ** 3
    >>> polynomial_identity([(a, b)], {sympy.tanh(x): h})
    True
    """
    atoms = dict(atoms or {})
    exprs = [e for pair in pairs for e in pair]
    symbols = _free_symbols(exprs, atoms)
    if not symbols:
        return all(sympy.simplify(a - b) == 0 for a, b in pairs)
    ring = PolyRing(symbols, sympy.QQ)
    gens = dict(zip(symbols, ring.gens, strict=True))
    memo: dict[Any, Any] = {}
    return all(
        _evaluate(a, ring, gens, atoms, memo) == _evaluate(b, ring, gens, atoms, memo)
        for a, b in pairs
    )
