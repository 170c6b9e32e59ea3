r"""Step Jacobians of PyTorch's LSTM and GRU cells, derived with SymPy for tiny sizes.

The cells are PyTorch's exactly (one layer; gates stacked as (i, f, g, o) for the
LSTM and (r, z, n) for the GRU, ``b_hn`` inside the GRU's reset product; see
:mod:`gradscope.numeric.cells`). Every weight, bias, input and initial-state entry
is its own real symbol, named after PyTorch's blocks (:math:`W_{hi}` is
``weight_hh[0:n]``):

==================  =========================  ====================================
PyTorch array       symbol (identifier)        LaTeX
==================  =========================  ====================================
``weight_ih``       ``u_i_1_1`` …              :math:`u^{(i)}_{11}`, entry (1, 1) of W_ii
``weight_hh``       ``w_i_1_1`` …              :math:`w^{(i)}_{11}`, entry (1, 1) of W_hi
``bias_ih``         ``bi_i_1`` …               :math:`b^{(ii)}_{1}`
``bias_hh``         ``bh_i_1`` …               :math:`b^{(hi)}_{1}`
``inputs``          ``x_1_1`` …                :math:`x_{1,1}` (x_t is row t − 1)
``h0``, ``c0``      ``h_0_1``, ``c_0_1`` …     :math:`h_{0,1}`, :math:`c_{0,1}`
==================  =========================  ====================================

How the Jacobian is derived: the cell's one-step map :math:`s_t = F(s_{t-1}, x_t)`
is written in *named* previous-state symbols, SymPy differentiates it
(``Matrix.jacobian``: its own ``diff``, with :math:`\sigma' = \sigma(1-\sigma)` and
:math:`\tanh' = 1 - \tanh^2`, nothing taken from :mod:`gradscope.numeric`), and the
chain rule multiplies the factors out after the explicit states
:math:`s_{t-1}(\theta, x, s_0)` are substituted:

.. math::

    \frac{\partial s_T}{\partial s_{start}} = J_T J_{T-1} \cdots J_{start+1},
    \qquad J_t = \frac{\partial s_t}{\partial s_{t-1}},

exactly ``T - start`` factors, numerator layout, the LSTM state
:math:`s = (h, c)` with h first (2n values), the GRU state :math:`s = h`.

Size limits (checked before any SymPy work, by
:func:`~gradscope.symbolic.limits.check_cell_sizes`). The
explicit entries nest every earlier state inside sigmoids and tanh. They are built
without SymPy's automatic evaluation (whose assumption queries walk the expression
*tree*, exponential in T: n = 2, T = 6 took 170 s that way) and compiled through
common-subexpression elimination, so the cost is linear in T and grows with n
through the step's own derivative. Measured on one core, derive + compile + LaTeX:
n = 4, T = 4, m = 3 in about 2.3 s (LSTM) and 1.8 s (GRU); n = 1, T = 16 in under
1 s. Hence ``hidden <= MAX_CELL_HIDDEN`` (4), ``hidden * T <= MAX_CELL_SIZE`` (16),
``input_size <= MAX_CELL_INPUT`` (3), for both cells (:mod:`gradscope.symbolic.limits`).
Larger cells belong to
:mod:`gradscope.numeric.cells`, which computes the same Jacobians in floating point at
any size (a test checks that the two agree).

The explicit :attr:`CellJacobianDerivation.matrix` is a DAG whose *tree* is
exponential in T: print, compare or traverse it only through its
:attr:`~CellJacobianDerivation.cse` (as
:func:`~gradscope.symbolic.latex.cells.render_cell_jacobian` and
:meth:`~CellJacobianDerivation.to_function` do); for T = 1 it is in SymPy's ordinary
evaluated form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import sympy  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray

from gradscope.symbolic.compile import bind_arguments, compile_assignments, cse, flat_symbols
from gradscope.symbolic.functions import Sigmoid
from gradscope.symbolic.limits import check_cell_sizes

__all__ = [
    "CELL_GATES",
    "CellJacobianDerivation",
    "derive_cell_jacobian",
]

Matrix = Any  # sympy.ImmutableMatrix; sympy is untyped
FloatArray = NDArray[np.float64]

#: Gate order of each cell, as PyTorch stacks the rows of its weights.
CELL_GATES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
)

# Arguments of the compiled function that may be omitted (zeros, as in PyTorch).
_OPTIONAL = ("bias_ih", "bias_hh", "h0", "c0")
# --------------------------------------------------------------------------- symbols


def _symbol(name: str, latex: str, names: dict[Any, str]) -> Any:
    s = sympy.Symbol(name, real=True)
    names[s] = latex
    return s


def _column(
    letter: str, latex: str, tag: str, tag_latex: str, size: int, names: dict[Any, str]
) -> Matrix:
    return sympy.ImmutableMatrix(
        [
            _symbol(f"{letter}_{tag}_{k + 1}", f"{latex}_{{{tag_latex},{k + 1}}}", names)
            for k in range(size)
        ]
    )


def _gate_rows(
    letter: str,
    latex: str,
    block: str,
    gates: Sequence[str],
    n: int,
    cols: int,
    names: dict[Any, str],
) -> Matrix:
    """A (G n, cols) matrix of symbols stacked gate by gate, or a (G n, 1) vector if cols == 0.

    Entry (k, j) of gate ``g`` is ``{letter}_{g}_{k}_{j}``, printed
    ``{latex}^{({block}g)}_{kj}``: :math:`w^{(i)}_{12}` (``latex="w"``, ``block=""``) or
    :math:`b^{(hi)}_{1}` (``latex="b"``, ``block="h"``).
    """
    rows = []
    for gate in gates:
        head = f"{latex}^{{({block}{gate})}}"
        for k in range(n):
            if cols == 0:
                tex = f"{head}_{{{k + 1}}}"
                rows.append([_symbol(f"{letter}_{gate}_{k + 1}", tex, names)])
                continue
            rows.append(
                [
                    _symbol(
                        f"{letter}_{gate}_{k + 1}_{j + 1}", f"{head}_{{{k + 1}{j + 1}}}", names
                    )
                    for j in range(cols)
                ]
            )
    return sympy.ImmutableMatrix(rows)


# --------------------------------------------------------------------------- one step


def _affine(W: Matrix, v: Sequence[Any], row: int) -> Any:
    return sympy.Add(*(W[row, j] * v[j] for j in range(W.shape[1])))


def _lstm_step(
    P: Mapping[str, Matrix], x: Sequence[Any], h: Sequence[Any], c: Sequence[Any], n: int
) -> tuple[dict[str, list[Any]], list[Any], list[Any]]:
    """PyTorch's LSTM step: the gate values (by name), h_t and c_t as expressions."""
    a = [
        _affine(P["weight_ih"], x, r)
        + P["bias_ih"][r]
        + _affine(P["weight_hh"], h, r)
        + P["bias_hh"][r]
        for r in range(4 * n)
    ]
    i = [Sigmoid(a[k]) for k in range(n)]
    f = [Sigmoid(a[n + k]) for k in range(n)]
    g = [sympy.tanh(a[2 * n + k]) for k in range(n)]
    o = [Sigmoid(a[3 * n + k]) for k in range(n)]
    c_new = [f[k] * c[k] + i[k] * g[k] for k in range(n)]
    h_new = [o[k] * sympy.tanh(c_new[k]) for k in range(n)]
    return {"i": i, "f": f, "g": g, "o": o}, h_new, c_new


def _gru_step(
    P: Mapping[str, Matrix], x: Sequence[Any], h: Sequence[Any], n: int
) -> tuple[dict[str, list[Any]], list[Any]]:
    """PyTorch's GRU step (b_hn inside the reset product): gate values and h_t."""
    gx = [_affine(P["weight_ih"], x, r) + P["bias_ih"][r] for r in range(3 * n)]
    gh = [_affine(P["weight_hh"], h, r) + P["bias_hh"][r] for r in range(3 * n)]
    r_ = [Sigmoid(gx[k] + gh[k]) for k in range(n)]
    z = [Sigmoid(gx[n + k] + gh[n + k]) for k in range(n)]
    new = [sympy.tanh(gx[2 * n + k] + r_[k] * gh[2 * n + k]) for k in range(n)]
    h_new = [(1 - z[k]) * new[k] + z[k] * h[k] for k in range(n)]
    return {"r": r_, "z": z, "n": new}, h_new


@dataclass(frozen=True, slots=True)
class _Step:
    """One step written in named previous-state symbols ``prev``."""

    prev: list[Any]  # the named s_{t-1} (h first, then c for the LSTM)
    gates: dict[str, list[Any]]  # gate values as expressions of prev
    out: list[Any]  # s_t as expressions of prev
    jacobian: Matrix  # ∂s_t/∂s_{t-1}, by SymPy's diff, in prev


def _step(cell: str, P: Mapping[str, Matrix], x: Sequence[Any], prev: list[Any], n: int) -> _Step:
    if cell == "lstm":
        gates, h_new, c_new = _lstm_step(P, x, prev[:n], prev[n:], n)
        out = [*h_new, *c_new]
    else:
        gates, out = _gru_step(P, x, prev, n)
    J = sympy.ImmutableMatrix(out).jacobian(sympy.ImmutableMatrix(prev))
    return _Step(prev=prev, gates=gates, out=out, jacobian=sympy.ImmutableMatrix(J))


def _named(step: _Step, gate_symbols: Mapping[str, Sequence[Any]], c_new: Sequence[Any]) -> Matrix:
    """The step Jacobian written in named gate values (and, for the LSTM, named c_t).

    ``xreplace`` works top-down, so ``tanh(c_t)``'s argument is replaced whole before
    the gates inside it.
    """
    rules: dict[Any, Any] = {}
    n = len(c_new)
    if c_new:
        for k in range(n):
            rules[step.out[n + k]] = c_new[k]
    for name, values in step.gates.items():
        for expr, sym in zip(values, gate_symbols[name], strict=True):
            rules[expr] = sym
    return step.jacobian.xreplace(rules)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True, kw_only=True)
class CellJacobianDerivation:
    r"""A derived :math:`\partial s_T / \partial s_{start}` of an LSTM or GRU cell, immutable.

    Attributes
    ----------
    cell : {"lstm", "gru"}
    hidden, input_size, T, start : int
        n, m, the horizon (the end of the product) and its start; ``T - start`` factors.
    parameters : mapping of str to sympy.ImmutableMatrix
        The symbols, by the keyword of :meth:`to_function`: ``weight_ih`` (G n, m),
        ``weight_hh`` (G n, n), ``bias_ih``, ``bias_hh``, ``h0``, ``c0`` (columns;
        ``c0`` for the LSTM only) and ``inputs`` (T, m), row t − 1 holding
        :math:`x_t`. G = 4 for the LSTM, 3 for the GRU.
    step_jacobian : (S, S) sympy.ImmutableMatrix
        A generic step's :math:`J_t` in named values: the gates
        :math:`i_{t,k}, f_{t,k}, g_{t,k}, o_{t,k}` and :math:`c_{t,k}` (LSTM) or
        :math:`r_{t,k}, z_{t,k}, n_{t,k}` (GRU), the previous state and the weights.
    step_definitions : tuple of (sympy.Symbol, expression)
        What each named value of ``step_jacobian`` stands for.
    step_state, step_previous : tuple of sympy.Symbol
        The generic step's :math:`s_t` and :math:`s_{t-1}` (h first, then c for the
        LSTM), named like every other symbol (:math:`h_{t,k}`, :math:`h_{t-1,k}`):
        the rows and the columns of ``step_jacobian``.
    factors : tuple of (S, S) sympy.ImmutableMatrix
        :math:`J_{start+1}, \dots, J_T`, each in that step's named values
        (``i_{t,k}`` …).
    matrix : (S, S) sympy.ImmutableMatrix
        The explicit Jacobian: an expression of the parameters, inputs and initial
        state alone. Its expression *tree* is large (print or traverse it through
        :attr:`cse`).
    cse : tuple
        ``(replacements, reduced)`` from ``sympy.cse(..., order="none")``; ``reduced``
        is the (S, S) matrix.
    names : mapping
        LaTeX name of every symbol above.
    """

    cell: str
    hidden: int
    input_size: int
    T: int
    start: int
    parameters: Mapping[str, Matrix] = field(repr=False)
    step_jacobian: Matrix = field(repr=False)
    step_definitions: tuple[tuple[Any, Any], ...] = field(repr=False)
    step_state: tuple[Any, ...] = field(repr=False, compare=False)
    step_previous: tuple[Any, ...] = field(repr=False, compare=False)
    factors: tuple[Matrix, ...] = field(repr=False)
    matrix: Matrix = field(repr=False, compare=False)
    cse: tuple[tuple[tuple[Any, Any], ...], Matrix] = field(repr=False, compare=False)
    names: Mapping[Any, str] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    @property
    def state_size(self) -> int:
        """S: 2n for the LSTM (h, then c), n for the GRU."""
        return 2 * self.hidden if self.cell == "lstm" else self.hidden

    @property
    def state_labels(self) -> tuple[str, ...]:
        """Row (and column) labels of the Jacobian: ``h1, …, hn`` then ``c1, …, cn``."""
        labels = tuple(f"h{k + 1}" for k in range(self.hidden))
        if self.cell == "lstm":
            labels += tuple(f"c{k + 1}" for k in range(self.hidden))
        return labels

    def to_function(self) -> Callable[..., FloatArray]:
        r"""The explicit Jacobian compiled into a NumPy function of PyTorch-layout arrays.

        Returns
        -------
        callable
            ``f(weight_ih=, weight_hh=, bias_ih=, bias_hh=, inputs=, h0=, c0=)``
            returning the (S, S) ndarray :math:`\partial s_T/\partial s_{start}`
            (for the LSTM, rows and columns h first, then c). The arrays are as in
            ``nn.LSTM``/``nn.GRU``'s ``weight_ih_l0`` (G n, m), ``weight_hh_l0``
            (G n, n), ``bias_ih_l0``, ``bias_hh_l0`` (G n,); ``inputs`` is (T, m);
            ``h0``, ``c0`` are (n,). Biases and initial states default to zeros;
            ``c0`` is refused for a GRU.

        Examples
        --------
        A one-unit LSTM with zero weights has every gate at 1/2 and g = 0, so
        c_1 = c_0/2 and h_1 = tanh(c_1)/2: from c_0 = 0, ∂c_1/∂c_0 = f = 1/2,
        ∂h_1/∂c_0 = o·tanh'(0)·f = 1/4, and h_0 has no effect (first column 0):

        >>> import numpy as np
        >>> d = derive_cell_jacobian(cell="lstm", hidden=1, T=1)
        >>> J = d.to_function()(weight_ih=np.zeros((4, 1)), weight_hh=np.zeros((4, 1)),
        ...                     inputs=np.zeros((1, 1)))
        >>> J.tolist()
        [[0.0, 0.25], [0.0, 0.5]]
        """
        blocks = dict(self.parameters)
        args = flat_symbols(blocks)
        replacements, reduced = self.cse
        g = compile_assignments(args, replacements, list(reduced))
        S = self.state_size

        def jacobian(**arrays: ArrayLike | None) -> FloatArray:
            values = bind_arguments(blocks, arrays, optional=_OPTIONAL)
            out = np.array(g(*values), dtype=np.float64)
            return out.reshape(S, S)

        return jacobian

    def to_dict(self) -> dict[str, Any]:
        """What was derived, for JSON."""
        return {
            "cell": self.cell,
            "hidden": self.hidden,
            "input_size": self.input_size,
            "T": self.T,
            "start": self.start,
            "factors": self.T - self.start,
            "state": "(h, c), h first" if self.cell == "lstm" else "h",
            "state_size": self.state_size,
            "product": f"ds_{self.T}/ds_{self.start} = J_{self.T} ... J_{self.start + 1}",
            "cse_size": len(self.cse[0]),
        }


# --------------------------------------------------------------------------- derivation


def _substitute(expr: Any, rules: Mapping[Any, Any], memo: dict[Any, Any]) -> Any:
    """``expr`` with symbols replaced by (deep) expressions, rebuilt without evaluation.

    SymPy's evaluation of a product or function of a deep argument asks assumption
    queries (is it real? zero? ...) that walk its *tree*, exponential in T here;
    ``evaluate=False`` skips them. ``memo`` makes the walk linear in the DAG.
    """
    if expr in rules:
        return rules[expr]
    if not expr.args:
        return expr
    done = memo.get(expr)
    if done is None:
        args = [_substitute(a, rules, memo) for a in expr.args]
        done = expr.func(*args, evaluate=False) if args != list(expr.args) else expr
        memo[expr] = done
    return done


def _multiply(factors: Sequence[Matrix]) -> list[list[Any]]:
    """``F[-1] ⋯ F[0]`` entry by entry, unevaluated, skipping exact zeros and ones."""
    S = factors[0].shape[0]
    P = [[factors[0][i, j] for j in range(S)] for i in range(S)]
    for F in factors[1:]:
        Q = []
        for i in range(S):
            row = []
            for j in range(S):
                terms = []
                for k in range(S):
                    a, b = F[i, k], P[k][j]
                    if a == 0 or b == 0:
                        continue
                    terms.append(b if a == 1 else a if b == 1 else sympy.Mul(a, b, evaluate=False))
                row.append(
                    sympy.Integer(0)
                    if not terms
                    else terms[0]
                    if len(terms) == 1
                    else sympy.Add(*terms, evaluate=False)
                )
            Q.append(row)
        P = Q
    return P


def _named_values(
    cell: str, tag: str, tag_latex: str, n: int, names: dict[Any, str]
) -> tuple[dict[str, list[Any]], list[Any]]:
    gates = {
        gate: list(_column(gate, gate, tag, tag_latex, n, names)) for gate in CELL_GATES[cell]
    }
    c_new = list(_column("c", "c", tag, tag_latex, n, names)) if cell == "lstm" else []
    return gates, c_new


def _state_symbols(
    cell: str, tag: str, tag_latex: str, n: int, names: dict[Any, str]
) -> list[Any]:
    h = list(_column("h", "h", tag, tag_latex, n, names))
    return h + list(_column("c", "c", tag, tag_latex, n, names)) if cell == "lstm" else h


def derive_cell_jacobian(
    *, cell: str, hidden: int, input_size: int = 1, T: int = 1, start: int = 0
) -> CellJacobianDerivation:
    r"""Derive :math:`\partial s_T / \partial s_{start}` of PyTorch's LSTM or GRU cell.

    Parameters
    ----------
    cell : {"lstm", "gru"}
    hidden : int
        n, at most :data:`~gradscope.symbolic.limits.MAX_CELL_HIDDEN` (4); the state s is
        (h, c) for the LSTM (2n values, h first), h for the GRU.
    input_size : int
        m, at most :data:`~gradscope.symbolic.limits.MAX_CELL_INPUT` (3).
    T : int
        The end of the product; ``hidden * T <= MAX_CELL_SIZE`` (16).
    start : int
        ``0 <= start < T``; the product has ``T - start`` factors.

    Returns
    -------
    CellJacobianDerivation

    Raises
    ------
    ConfigError
        For an unknown cell, a size below 1 or a bad ``start``.
    DerivationError
        For sizes beyond the limits, before any SymPy work starts.

    Examples
    --------
    The LSTM's cell path: :math:`\partial c_t/\partial c_{t-1} = \operatorname{diag}(f_t)`,
    exactly, in every step's named values:

    >>> d = derive_cell_jacobian(cell="lstm", hidden=1, T=2)
    >>> d.factors[1][1, 1]
    f_2_1
    >>> d.state_labels
    ('h1', 'c1')
    """
    check_cell_sizes(cell=cell, hidden=hidden, input_size=input_size, T=T, start=start)
    n, m = hidden, input_size
    gates = CELL_GATES[cell]
    names: dict[Any, str] = {}
    P = {
        "weight_ih": _gate_rows("u", "u", "", gates, n, m, names),
        "weight_hh": _gate_rows("w", "w", "", gates, n, n, names),
        "bias_ih": _gate_rows("bi", "b", "i", gates, n, 0, names),
        "bias_hh": _gate_rows("bh", "b", "h", gates, n, 0, names),
    }
    xs = [list(_column("x", "x", str(t), str(t), m, names)) for t in range(1, T + 1)]
    P["inputs"] = sympy.ImmutableMatrix([[*x] for x in xs])
    s0 = _state_symbols(cell, "0", "0", n, names)
    P["h0"] = sympy.ImmutableMatrix(s0[:n])
    if cell == "lstm":
        P["c0"] = sympy.ImmutableMatrix(s0[n:])

    # A generic step t, for the LaTeX: named s_{t-1}, x_t and gate values.
    current = _state_symbols(cell, "t", "t", n, names)
    prev = _state_symbols(cell, "tm1", "t-1", n, names)
    x_t = list(_column("x", "x", "t", "t", m, names))
    generic = _step(cell, P, x_t, prev, n)
    gate_t, c_t = _named_values(cell, "t", "t", n, names)
    step_jacobian = _named(generic, gate_t, c_t)
    definitions: list[tuple[Any, Any]] = []
    for name in gates:
        for sym, expr in zip(gate_t[name], generic.gates[name], strict=True):
            definitions.append((sym, _named_gate(expr, gate_t, generic)))
    for k, sym in enumerate(c_t):
        definitions.append((sym, generic.out[n + k].xreplace(_gate_rules(generic, gate_t))))

    # The run: named factors for the LaTeX, explicit ones for the matrix.
    # Step 1's previous state is s_0 itself: its factor stays in SymPy's evaluated form.
    explicit: list[Any] = list(s0)
    named_factors: list[Matrix] = []
    explicit_factors: list[Matrix] = []
    memo: dict[Any, Any] = {}
    for t in range(1, T + 1):
        prev_t = _state_symbols(cell, str(t - 1), str(t - 1), n, names)
        step = _step(cell, P, xs[t - 1], prev_t, n)
        at_prev = {} if t == 1 else dict(zip(prev_t, explicit, strict=True))
        if t > start:
            gate_s, c_s = _named_values(cell, str(t), str(t), n, names)
            named_factors.append(_named(step, gate_s, c_s))
            J = step.jacobian
            explicit_factors.append(
                sympy.ImmutableMatrix(*J.shape, [_substitute(e, at_prev, memo) for e in J])
            )
        explicit = [_substitute(e, at_prev, memo) for e in step.out]
    S = len(s0)
    matrix = sympy.ImmutableMatrix(_multiply(explicit_factors))
    replacements, entries = cse(list(matrix), prefix="q")
    return CellJacobianDerivation(
        cell=cell,
        hidden=n,
        input_size=m,
        T=T,
        start=start,
        parameters=P,
        step_jacobian=step_jacobian,
        step_definitions=tuple(definitions),
        step_state=tuple(current),
        step_previous=tuple(prev),
        factors=tuple(named_factors),
        matrix=matrix,
        cse=(tuple(replacements), sympy.ImmutableMatrix(S, S, entries)),
        names=names,
    )


def _gate_rules(step: _Step, gate_symbols: Mapping[str, Sequence[Any]]) -> dict[Any, Any]:
    return {
        expr: sym
        for name, values in step.gates.items()
        for expr, sym in zip(values, gate_symbols[name], strict=True)
    }


def _named_gate(expr: Any, gate_symbols: Mapping[str, Sequence[Any]], step: _Step) -> Any:
    """A gate's definition with the *other* gates it contains named (the GRU's r in n)."""
    rules = _gate_rules(step, gate_symbols)
    rules.pop(expr, None)
    return expr.func(*(a.xreplace(rules) for a in expr.args))
