r"""The Jacobian :math:`\partial h_{end} / \partial h_{start}` of an RNN, in closed form.

Numerator layout (DESIGN.md §1): :math:`\partial h_t/\partial h_{t-1}` is n × n
with rows indexed by :math:`h_t`, and

.. math::

    \frac{\partial h_{end}}{\partial h_{start}} = J_{end} J_{end-1} \cdots J_{start+1},
    \qquad J_t = D_t W_{hh}, \qquad D_t = \operatorname{diag}(\varphi'(z_t)),

exactly ``end - start`` factors. Two forms:

* **structured** — the factors :math:`D_t W_{hh}` kept apart, each :math:`D_t`
  written in its named :math:`z_t, h_t` (O(T·n²) objects, any size up to
  :data:`~gradscope.symbolic.limits.MAX_STRUCTURED_SIZE`);
* **expanded** — one explicit n × n matrix of the parameters, h_0 and the
  inputs, with its common subexpressions (n·T up to
  :data:`~gradscope.symbolic.limits.MAX_EXPANDED_JACOBIAN`).

SymPy's own matrix calculus (``MatrixSymbol.diff``) is not used: in SymPy 1.14
it mixes layouts and turns :math:`W^k` into an elementwise power.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError
from gradscope.symbolic.compile import (
    bind_arguments,
    compile_assignments,
    cse,
    flat_symbols,
)
from gradscope.symbolic.functions import phi_prime, phi_prime_named
from gradscope.symbolic.limits import check_sizes
from gradscope.symbolic.rnn import SymbolicRNN, explicit_states, symbolic_rnn
from gradscope.symbolic.simplify import Simplification, jacobian_simplifications

__all__ = ["JacobianDerivation", "derive_jacobian", "multiply_out"]

Matrix = Any
FloatArray = NDArray[np.float64]


def multiply_out(factors: list[list[list[Any]]]) -> list[list[Any]]:
    """The product ``F[-1] @ ... @ F[0]`` of nested lists, entry by entry.

    Built with ``Add``/``Mul`` directly: SymPy's Matrix product routes deep
    expressions through a generic domain that is 20× slower here.
    """
    P = factors[0]
    for F in factors[1:]:
        n = len(F)
        P = [
            [sympy.Add(*(F[i][k] * P[k][j] for k in range(n))) for j in range(n)] for i in range(n)
        ]
    return P


@dataclass(frozen=True, slots=True, kw_only=True)
class JacobianDerivation:
    r"""A derived :math:`\partial h_{end}/\partial h_{start}`, immutable.

    Attributes
    ----------
    rnn : SymbolicRNN
        The symbols; ``rnn.T`` is ``end``.
    start, end : int
        The product has ``end - start`` factors.
    form : {"structured", "expanded"}
    derivatives : tuple of (n, 1) sympy.ImmutableMatrix
        :math:`\varphi'(z_t)` in the named :math:`z_t, h_t`, for
        ``t = start+1 .. end`` (entry ``j`` is step ``start + 1 + j``): the
        diagonal of :math:`D_t`.
    factors : tuple of (n, n) sympy.ImmutableMatrix
        :math:`J_t = D_t W_{hh}` in the same order.
    product : sympy.MatMul
        :math:`D_{end} W_{hh} \cdots D_{start+1} W_{hh}` of matrix symbols,
        unevaluated (how it is printed).
    matrix : (n, n) sympy.ImmutableMatrix or None
        Expanded form only: the explicit Jacobian. Its expression tree grows
        like nᵀ; print or traverse it through :attr:`cse`.
    cse : tuple or None
        Expanded form only: ``(replacements, reduced)`` from
        ``sympy.cse(..., order="none")``; ``reduced`` is the (n, n) matrix.
    simplifications : tuple of Simplification
        Exact rewriting steps (e.g. ``tanh' = 1 - h²``; linear ⇒ a matrix power).
    """

    rnn: SymbolicRNN
    start: int
    end: int
    form: str
    derivatives: tuple[Matrix, ...] = field(repr=False)
    factors: tuple[Matrix, ...] = field(repr=False)
    product: Any = field(repr=False)
    matrix: Matrix | None = field(default=None, repr=False)
    cse: tuple[tuple[tuple[Any, Any], ...], Matrix] | None = field(default=None, repr=False)
    simplifications: tuple[Simplification, ...] = field(default=(), repr=False)

    @property
    def symbols(self) -> dict[str, Matrix]:
        """The arguments of :meth:`to_function`: W_hh, W_xh, b, h0 and inputs (T × m)."""
        return self.rnn.parameters()

    def to_function(self) -> Callable[..., FloatArray]:
        r"""This form compiled into ``f(W_hh=, W_xh=, b=, h0=, inputs=) -> (n, n) ndarray``.

        ``inputs`` is (T, m) with row ``t - 1`` holding :math:`x_t`; ``b`` and
        ``h0`` default to zeros. The structured form evaluates its named
        definitions in order and multiplies the factors numerically; the
        expanded form evaluates the explicit matrix through its cse.

        Examples
        --------
        >>> import numpy as np
        >>> d = derive_jacobian(hidden=2, T=3, activation="linear")
        >>> f = d.to_function()
        >>> W = np.array([[0.0, 2.0], [0.5, 0.0]])
        >>> f(W_hh=W, W_xh=np.ones((2, 1)), inputs=np.ones((3, 1))).tolist()
        [[0.0, 2.0], [0.5, 0.0]]
        """
        blocks = self.symbols
        args = flat_symbols(blocks)
        n, steps = self.rnn.hidden, self.end - self.start
        if self.form == "expanded":
            replacements, reduced = self.cse  # type: ignore[misc]
            g = compile_assignments(args, replacements, list(reduced))

            def expanded(**arrays: ArrayLike | None) -> FloatArray:
                out = np.array(g(*bind_arguments(blocks, arrays)), dtype=np.float64)
                return out.reshape(n, n)

            return expanded
        g = compile_assignments(
            args, _forward_assignments(self.rnn, self.end), [e for F in self.factors for e in F]
        )

        def structured(**arrays: ArrayLike | None) -> FloatArray:
            values = np.array(g(*bind_arguments(blocks, arrays)), dtype=np.float64)
            P = np.eye(n)
            for F in values.reshape(steps, n, n):  # J_{start+1} first
                P = F @ P
            return P

        return structured

    def to_dict(self) -> dict[str, Any]:
        """What was derived, for JSON (the expressions as SymPy strings for small forms)."""
        return {
            **self.rnn.to_dict(),
            "start": self.start,
            "end": self.end,
            "factors": self.end - self.start,
            "form": self.form,
            "derivatives": [[str(e) for e in d] for d in self.derivatives],
            "cse_size": None if self.cse is None else len(self.cse[0]),
        }


def _forward_assignments(rnn: SymbolicRNN, end: int) -> list[tuple[Any, Any]]:
    """The named definitions z_t and h_t for t = 1..end, in order."""
    pairs: list[tuple[Any, Any]] = []
    for t in range(1, end + 1):
        pairs.extend(zip(rnn.z[t - 1], rnn.z_definition(t), strict=True))
        pairs.extend(zip(rnn.h[t], rnn.h_definition(t), strict=True))
    return pairs


def derive_jacobian(
    *,
    hidden: int,
    T: int,
    activation: str = "tanh",
    input_size: int = 1,
    start: int = 0,
    expand: bool = False,
) -> JacobianDerivation:
    r"""Derive :math:`\partial h_T / \partial h_{start}` in closed form.

    Parameters
    ----------
    hidden : int
        n.
    T : int
        The horizon: the end of the product, ``end = T``.
    activation : {"tanh", "sigmoid", "relu", "linear"}
    input_size : int
        m.
    start : int
        ``0 <= start < T``; the product has ``T - start`` factors.
    expand : bool
        False (default): the structured form. True: also the explicit matrix,
        limited to ``hidden * T <= 24``.

    Returns
    -------
    JacobianDerivation

    Raises
    ------
    ConfigError
        For a bad size, start or activation.
    DerivationError
        For sizes beyond the limits (:mod:`gradscope.symbolic.limits`); the message
        suggests the structured form.

    Examples
    --------
    A linear RNN's product is a matrix power, ∂h_3/∂h_0 = W_hh³:

    >>> import sympy
    >>> d = derive_jacobian(hidden=2, T=3, activation="linear", expand=True)
    >>> (d.matrix - d.rnn.W_hh**3).expand() == sympy.zeros(2, 2)
    True
    >>> d.product
    D_3*W_hh*D_2*W_hh*D_1*W_hh
    """
    check_sizes(
        hidden=hidden,
        T=T,
        activation=activation,
        input_size=input_size,
        output_size=1,
        expand=expand,
        what="jacobian",
    )
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < T:
        raise ConfigError(
            f"start must be an integer with 0 <= start < T = {T} (the product dh_T/dh_start "
            f"has T - start factors), got {start!r}"
        )
    rnn = symbolic_rnn(hidden=hidden, T=T, activation=activation, input_size=input_size)
    n = hidden
    W = rnn.W_hh
    steps = range(start + 1, T + 1)
    derivatives = tuple(
        sympy.ImmutableMatrix(
            [
                phi_prime_named(activation, z, h)
                for z, h in zip(rnn.z[t - 1], rnn.h[t], strict=True)
            ]
        )
        for t in steps
    )
    factors = tuple(
        sympy.ImmutableMatrix(n, n, lambda i, j, d=d: d[i] * W[i, j]) for d in derivatives
    )
    W_sym = sympy.MatrixSymbol("W_hh", n, n)
    product = sympy.MatMul(
        *(m for t in reversed(steps) for m in (sympy.MatrixSymbol(f"D_{t}", n, n), W_sym)),
        evaluate=False,
    )
    matrix = reduced = None
    if expand:
        zs, _ = explicit_states(rnn)
        explicit = [
            [
                [phi_prime(activation, zs[t - 1][i], evaluate=False) * W[i, j] for j in range(n)]
                for i in range(n)
            ]
            for t in steps
        ]
        matrix = sympy.ImmutableMatrix(multiply_out(explicit))
        replacements, entries = cse(list(matrix))
        reduced = (tuple(replacements), sympy.ImmutableMatrix(n, n, entries))
    return JacobianDerivation(
        rnn=rnn,
        start=start,
        end=T,
        form="expanded" if expand else "structured",
        derivatives=derivatives,
        factors=factors,
        product=product,
        matrix=matrix,
        cse=reduced,
        simplifications=jacobian_simplifications(activation, n, T - start),
    )
