r"""A symbolic RNN: matrices of SymPy symbols and the recurrence between them.

Conventions (DESIGN.md §1), for :math:`t = 1, \dots, T`:

.. math::

    z_t = W_{hh} h_{t-1} + W_{xh} x_t + b, \qquad h_t = \varphi(z_t), \qquad
    y_t = W_{hy} h_t.

Entries are plain real symbols with identifier names (so that they compile) and
textbook LaTeX names (through :class:`~gradscope.symbolic.latex.printing.RNNLatexPrinter`):
:math:`W_{hh} = (w_{ij})`, :math:`W_{xh} = (u_{ij})`, :math:`W_{hy} = (v_{ij})`,
:math:`b = (b_i)`, and :math:`h_{t,i}`, :math:`z_{t,i}`, :math:`x_{t,i}`,
:math:`\hat y_{t,i}` for component i of :math:`h_t`, :math:`z_t`, :math:`x_t`,
:math:`\hat y_t`.

Two kinds of state are available. The *named* states ``rnn.z[t-1]`` and
``rnn.h[t]`` are fresh symbols, tied to their definitions
(:meth:`SymbolicRNN.z_definition`): structured derivations are written in them.
The *explicit* states (:func:`explicit_states`) are the same quantities as
expressions of the parameters, h_0 and the inputs; they share subexpressions, but
their trees grow like nᵀ, so they are built only on request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import sympy  # type: ignore[import-untyped]

from gradscope.symbolic.functions import phi
from gradscope.symbolic.limits import check_sizes

__all__ = ["GRADIENT_NAMES", "SymbolicRNN", "explicit_states", "symbolic_rnn", "vector_symbols"]

#: The parameters a loss is differentiated by, in the order of every gradient listing.
GRADIENT_NAMES = ("W_hh", "W_xh", "b")

Matrix = Any  # sympy.ImmutableMatrix; sympy is untyped


def _index(i: int, j: int, wide: bool) -> str:
    return f"{i},{j}" if wide else f"{i}{j}"


def _symbol(name: str, latex: str, names: dict[Any, str]) -> Any:
    s = sympy.Symbol(name, real=True)
    names[s] = latex
    return s


def _matrix(letter: str, latex: str, rows: int, cols: int, names: dict[Any, str]) -> Matrix:
    wide = max(rows, cols) >= 10  # w_{1,10}, and then w_{1,2} too, never w_{12} beside it
    return sympy.ImmutableMatrix(
        rows,
        cols,
        [
            _symbol(
                f"{letter}_{i + 1}_{j + 1}", f"{latex}_{{{_index(i + 1, j + 1, wide)}}}", names
            )
            for i in range(rows)
            for j in range(cols)
        ],
    )


def vector_symbols(
    letter: str, latex: str, tag: int | str, size: int, names: dict[Any, str]
) -> Matrix:
    r"""A column of symbols ``letter_tag_i`` printed as ``latex_{tag,i}``.

    ``tag`` is a time index (an int) or a text tag such as ``"t"`` for a generic
    step; ``names`` receives the LaTeX name of each new symbol.

    Examples
    --------
    >>> names = {}
    >>> v = vector_symbols("h", "h", 3, 2, names)
    >>> v.T, [names[s] for s in v]
    (Matrix([[h_3_1, h_3_2]]), ['h_{3,1}', 'h_{3,2}'])
    """
    return sympy.ImmutableMatrix(
        [
            _symbol(f"{letter}_{tag}_{i + 1}", f"{latex}_{{{tag},{i + 1}}}", names)
            for i in range(size)
        ]
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolicRNN:
    r"""The symbols of an RNN with n hidden units, m inputs, p outputs and horizon T.

    Build one with :func:`symbolic_rnn`. Time-indexed fields are tuples indexed
    from 0: ``x[t - 1]`` is :math:`x_t`, ``z[t - 1]`` is :math:`z_t`, and
    ``h[t]`` is :math:`h_t` (``h[0]`` is :math:`h_0`, the same object as ``h0``).

    Attributes
    ----------
    hidden, input_size, output_size, T : int
        n, m, p and the horizon T.
    activation : str
        ``"tanh"``, ``"sigmoid"``, ``"relu"`` or ``"linear"``.
    W_hh : (n, n) sympy.ImmutableMatrix
    W_xh : (n, m) sympy.ImmutableMatrix
    b, h0 : (n, 1) sympy.ImmutableMatrix
    W_hy : (p, n) sympy.ImmutableMatrix
    x : tuple of (m, 1) sympy.ImmutableMatrix, length T
    targets : tuple of (p, 1) sympy.ImmutableMatrix, length T
        :math:`\hat y_t`.
    z : tuple of (n, 1) sympy.ImmutableMatrix, length T
        Named pre-activations.
    h : tuple of (n, 1) sympy.ImmutableMatrix, length T + 1
        Named states.
    names : mapping
        LaTeX name of every symbol above (read-only).
    """

    hidden: int
    input_size: int
    output_size: int
    T: int
    activation: str
    W_hh: Matrix = field(repr=False)
    W_xh: Matrix = field(repr=False)
    b: Matrix = field(repr=False)
    h0: Matrix = field(repr=False)
    W_hy: Matrix = field(repr=False)
    x: tuple[Matrix, ...] = field(repr=False)
    targets: tuple[Matrix, ...] = field(repr=False)
    z: tuple[Matrix, ...] = field(repr=False)
    h: tuple[Matrix, ...] = field(repr=False)
    names: Mapping[Any, str] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    def z_definition(self, t: int) -> Matrix:
        r""":math:`W_{hh} h_{t-1} + W_{xh} x_t + b` in the named :math:`h_{t-1}`, (n, 1)."""
        return _affine(self.W_hh, self.h[t - 1], self.W_xh, self.x[t - 1], self.b)

    def h_definition(self, t: int) -> Matrix:
        r""":math:`\varphi(z_t)` in the named :math:`z_t`, an (n, 1) matrix."""
        return self.z[t - 1].applyfunc(lambda e: phi(self.activation, e))

    def parameters(self) -> dict[str, Matrix]:
        """The inputs of a compiled function, by keyword: W_hh, W_xh, b, h0 and inputs.

        ``inputs`` is the (T, m) matrix whose row t - 1 is :math:`x_t^\\top`.
        """
        inputs = sympy.ImmutableMatrix.vstack(*(x.T for x in self.x))
        return {"W_hh": self.W_hh, "W_xh": self.W_xh, "b": self.b, "h0": self.h0, "inputs": inputs}

    def output_parameters(self) -> dict[str, Matrix]:
        """W_hy and the (T, p) ``targets`` whose row t - 1 is :math:`\\hat y_t^\\top`."""
        targets = sympy.ImmutableMatrix.vstack(*(y.T for y in self.targets))
        return {"W_hy": self.W_hy, "targets": targets}

    def to_dict(self) -> dict[str, Any]:
        """Sizes and activation, for JSON."""
        return {
            "hidden": self.hidden,
            "input_size": self.input_size,
            "output_size": self.output_size,
            "T": self.T,
            "activation": self.activation,
        }


def _affine(W: Matrix, h: Matrix, U: Matrix, x: Matrix, b: Matrix) -> Matrix:
    # Built entry by entry with Add: SymPy's Matrix product of deep expressions
    # (explicit states) goes through a slow generic domain.
    n, m = W.shape[0], U.shape[1]
    return sympy.ImmutableMatrix(
        [
            sympy.Add(
                *(W[i, k] * h[k] for k in range(n)), *(U[i, k] * x[k] for k in range(m)), b[i]
            )
            for i in range(n)
        ]
    )


def symbolic_rnn(
    *,
    hidden: int,
    T: int,
    activation: str = "tanh",
    input_size: int = 1,
    output_size: int = 1,
) -> SymbolicRNN:
    r"""The symbols of an RNN of the given sizes.

    Parameters
    ----------
    hidden : int
        n >= 1.
    T : int
        Horizon >= 1.
    activation : {"tanh", "sigmoid", "relu", "linear"}
    input_size, output_size : int
        m and p, default 1.

    Returns
    -------
    SymbolicRNN

    Raises
    ------
    ConfigError
        For a size below 1 or an unknown activation.
    DerivationError
        For sizes beyond :mod:`gradscope.symbolic.limits`.

    Examples
    --------
    >>> rnn = symbolic_rnn(hidden=2, T=3)
    >>> rnn.z_definition(1)[0]
    b_1 + h_0_1*w_1_1 + h_0_2*w_1_2 + u_1_1*x_1_1
    >>> rnn.names[rnn.W_hh[0, 1]], rnn.names[rnn.h[3][1]]
    ('w_{12}', 'h_{3,2}')
    """
    check_sizes(
        hidden=hidden,
        T=T,
        activation=activation,
        input_size=input_size,
        output_size=output_size,
        expand=False,
        what="jacobian",
    )
    n, m, p = hidden, input_size, output_size
    names: dict[Any, str] = {}
    W_hh = _matrix("w", "w", n, n, names)
    W_xh = _matrix("u", "u", n, m, names)
    W_hy = _matrix("v", "v", p, n, names)
    b = sympy.ImmutableMatrix([_symbol(f"b_{i + 1}", f"b_{{{i + 1}}}", names) for i in range(n)])
    h = tuple(vector_symbols("h", "h", t, n, names) for t in range(T + 1))
    return SymbolicRNN(
        hidden=n,
        input_size=m,
        output_size=p,
        T=T,
        activation=activation,
        W_hh=W_hh,
        W_xh=W_xh,
        b=b,
        h0=h[0],
        W_hy=W_hy,
        x=tuple(vector_symbols("x", "x", t, m, names) for t in range(1, T + 1)),
        targets=tuple(vector_symbols("yhat", r"\hat{y}", t, p, names) for t in range(1, T + 1)),
        z=tuple(vector_symbols("z", "z", t, n, names) for t in range(1, T + 1)),
        h=h,
        names=names,
    )


def explicit_states(rnn: SymbolicRNN, upto: int | None = None) -> tuple[Any, Any]:
    r"""The pre-activations and states as expressions of the parameters, h_0 and the inputs.

    Parameters
    ----------
    rnn : SymbolicRNN
    upto : int, optional
        Last step built; default T.

    Returns
    -------
    z, h : tuple of (n, 1) sympy.ImmutableMatrix
        ``z[t - 1]`` is :math:`z_t` and ``h[t]`` is :math:`h_t` (``h[0] = h_0``),
        with shared subexpressions: the tree of ``h[t]`` grows like nᵗ, so print or
        traverse them only through ``sympy.cse(..., order="none")``.

    Examples
    --------
    >>> rnn = symbolic_rnn(hidden=1, T=2, activation="linear")
    >>> z, h = explicit_states(rnn)
    >>> h[2][0].expand()
    b_1*w_1_1 + b_1 + h_0_1*w_1_1**2 + u_1_1*w_1_1*x_1_1 + u_1_1*x_2_1
    """
    upto = rnn.T if upto is None else upto
    zs: list[Any] = []
    hs: list[Any] = [rnn.h0]
    for t in range(1, upto + 1):
        zs.append(_affine(rnn.W_hh, hs[-1], rnn.W_xh, rnn.x[t - 1], rnn.b))
        hs.append(zs[-1].applyfunc(lambda e: phi(rnn.activation, e, evaluate=False)))
    return tuple(zs), tuple(hs)
