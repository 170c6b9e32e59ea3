r"""Compiling symbolic results into NumPy functions (through ``sympy.lambdify``).

Two shapes of input are compiled the same way, as straight-line code:

* a **structured** form is a sequence of named assignments
  (:math:`z_{t,i} = \dots`, :math:`h_{t,i} = \varphi(z_{t,i})`,
  :math:`\delta_{t,i} = \dots`) followed by outputs written in the named symbols;
* an **expanded** form is passed through common-subexpression elimination
  first, with ``order="none"``: SymPy's default canonical ordering walks the
  expression *tree*, which grows like nᵀ for these DAGs (n = 2, T = 14 took 19 s
  where ``order="none"`` takes milliseconds).

Either way ``lambdify`` sees only the short reduced expressions, never a deep tree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np
import sympy  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError

__all__ = ["bind_arguments", "compile_assignments", "cse", "flat_symbols"]

Pairs = Sequence[tuple[Any, Any]]


def cse(exprs: Sequence[Any], prefix: str = "c") -> tuple[list[tuple[Any, Any]], list[Any]]:
    """Common subexpressions of ``exprs`` without canonical ordering (linear in the DAG).

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> cse([sympy.tanh(x + 1) ** 2, sympy.tanh(x + 1)])
    ([(c0, tanh(x + 1))], [c0**2, c0])
    """
    symbols = sympy.numbered_symbols(prefix, real=True)
    replacements, reduced = sympy.cse(list(exprs), symbols=symbols, order="none")
    return list(replacements), list(reduced)


def compile_assignments(
    args: Sequence[Any], assignments: Pairs, outputs: Sequence[Any]
) -> Callable[..., list[Any]]:
    """Compile ``outputs`` after the straight-line ``assignments`` into a NumPy function.

    Parameters
    ----------
    args : sequence of sympy.Symbol
        Positional arguments of the compiled function.
    assignments : sequence of (sympy.Symbol, expression)
        Evaluated in order; each may use the arguments and earlier targets.
    outputs : sequence of expressions
        What the function returns, as a list.

    Examples
    --------
    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> f = compile_assignments([x], [(y, x + 1)], [y**2, y])
    >>> f(2.0)
    [9.0, 3.0]
    """
    pairs = list(assignments)
    reduced = list(outputs)
    f = sympy.lambdify(
        list(args), reduced, modules="numpy", cse=lambda _: (pairs, reduced), docstring_limit=0
    )
    return f  # type: ignore[no-any-return]


def flat_symbols(blocks: Mapping[str, Any]) -> list[Any]:
    """The symbols of named matrices, concatenated in row-major order."""
    return [s for mat in blocks.values() for s in mat]


def bind_arguments(
    blocks: Mapping[str, Any],
    values: Mapping[str, ArrayLike | None],
    *,
    optional: Collection[str] = ("b", "h0"),
) -> list[float]:
    """Check arrays against the named symbol matrices and flatten them in the same order.

    An ``optional`` matrix with one column (a vector such as ``b``) takes a 1-D array;
    any other takes a 2-D array of the matrix's shape. A missing optional argument
    (None) is zero, as in :func:`gradscope.numeric.forward.forward` (``b`` and ``h0``)
    and PyTorch's cells (their biases and initial states).

    Parameters
    ----------
    blocks : mapping of str to sympy.ImmutableMatrix
        The symbols, by argument name, in the order of the compiled function.
    values : mapping of str to array_like or None
        The arrays, by the same names.
    optional : collection of str
        The names that may be omitted.

    Returns
    -------
    list of float
        The entries of every array, row-major, block after block.

    Raises
    ------
    ConfigError
        For a missing or unknown argument, a wrong shape, or a non-finite value.
    """
    unknown = set(values) - set(blocks)
    if unknown:
        raise ConfigError(
            f"unknown argument(s) {', '.join(sorted(unknown))}; expected {', '.join(blocks)}"
        )
    out: list[float] = []
    for name, mat in blocks.items():
        rows, cols = mat.shape
        shape = (rows,) if cols == 1 and name in optional else (rows, cols)
        value = values.get(name)
        if value is None:
            if name not in optional:
                raise ConfigError(f"missing argument {name}: an array of shape {shape}")
            arr: NDArray[np.float64] = np.zeros(shape)
        else:
            arr = np.asarray(value, dtype=np.float64)
        if arr.shape != shape:
            raise ConfigError(f"{name} must have shape {shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"{name} contains NaN or Inf")
        out.extend(arr.ravel().tolist())
    return out
