r"""BPTT gradients of :math:`L = \sum_t \tfrac12 \|y_t - \hat y_t\|^2`, two ways.

With :math:`\delta_t = \partial L / \partial z_t` and
:math:`D_t = \operatorname{diag}(\varphi'(z_t))` (DESIGN.md §1), the **adjoint
recursion** runs backwards from T:

.. math::

    \delta_T = D_T W_{hy}^\top (y_T - \hat y_T), \qquad
    \delta_t = D_t \bigl(W_{hy}^\top (y_t - \hat y_t) + W_{hh}^\top \delta_{t+1}\bigr),

and, because the same weights act at every step (weight sharing), each
gradient is a sum of per-step contributions:

.. math::

    \frac{\partial L}{\partial W_{hh}} = \sum_t \delta_t h_{t-1}^\top, \quad
    \frac{\partial L}{\partial W_{xh}} = \sum_t \delta_t x_t^\top, \quad
    \frac{\partial L}{\partial b} = \sum_t \delta_t.

The **structured** form keeps :math:`\delta_t` as named symbols defined by the
recursion. The **expanded** form (``hidden * T <= 8``) also writes every
gradient explicitly, and differentiates the explicit L directly with SymPy's
``diff`` (:attr:`GradientDerivation.direct`), so that
:func:`adjoint_equals_direct` can show the two agree — the weight-sharing claim
made concrete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import sympy  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import DerivationError
from gradscope.symbolic.compile import bind_arguments, compile_assignments, cse, flat_symbols
from gradscope.symbolic.functions import phi_prime, phi_prime_named
from gradscope.symbolic.jacobian import _forward_assignments
from gradscope.symbolic.limits import check_sizes
from gradscope.symbolic.proof import polynomial_identity
from gradscope.symbolic.rnn import (
    GRADIENT_NAMES,
    SymbolicRNN,
    explicit_states,
    symbolic_rnn,
    vector_symbols,
)

__all__ = ["GRADIENT_NAMES", "GradientDerivation", "adjoint_equals_direct", "derive_gradient"]

Matrix = Any
FloatArray = NDArray[np.float64]

#: The parameters whose gradients are derived, in order.


@dataclass(frozen=True, slots=True, kw_only=True)
class GradientDerivation:
    r"""Derived BPTT gradients of L with respect to :math:`W_{hh}`, :math:`W_{xh}` and b.

    Attributes
    ----------
    rnn : SymbolicRNN
    form : {"structured", "expanded"}
    loss : sympy.Expr
        L in the named states :math:`h_t`.
    delta_symbols : tuple of (n, 1) sympy.ImmutableMatrix
        The named :math:`\delta_t`, ``delta_symbols[t - 1]``.
    deltas : tuple of (n, 1) sympy.ImmutableMatrix
        Their definitions by the adjoint recursion, in the named
        :math:`z_t, h_t` and :math:`\delta_{t+1}`.
    gradients : mapping of str to sympy.ImmutableMatrix
        ``"W_hh"`` (n, n), ``"W_xh"`` (n, m), ``"b"`` (n, 1): the sums over t, in
        the named :math:`\delta_t`, :math:`h_{t-1}`, :math:`x_t`.
    names : mapping
        LaTeX names of every symbol (the RNN's and the :math:`\delta_{t,i}`).
    adjoint, direct : mapping of str to sympy.ImmutableMatrix, or None
        Expanded form only: the gradients as explicit expressions of the
        parameters, by the adjoint recursion and by SymPy's ``diff`` of the
        explicit L. Their trees grow like nᵀ: traverse them through :attr:`cse`.
    cse : tuple or None
        Expanded form only: ``(replacements, reduced)`` of the explicit adjoint
        gradients, ``reduced`` a mapping like :attr:`gradients`.
    explicit : tuple or None
        Expanded form only: the explicit states ``(z, h)`` of
        :func:`~gradscope.symbolic.rnn.explicit_states` that both explicit forms
        are built from (what :func:`adjoint_equals_direct` abstracts).
    agrees_with_direct : bool or None
        Expanded form only: :func:`adjoint_equals_direct`, proven when the
        derivation was made (what its LaTeX reports); None for the structured form.

    Mappings are read-only views; the result never changes.
    """

    rnn: SymbolicRNN
    form: str
    loss: Any = field(repr=False)
    delta_symbols: tuple[Matrix, ...] = field(repr=False)
    deltas: tuple[Matrix, ...] = field(repr=False)
    gradients: Mapping[str, Matrix] = field(repr=False)
    names: Mapping[Any, str] = field(repr=False, compare=False)
    adjoint: Mapping[str, Matrix] | None = field(default=None, repr=False)
    direct: Mapping[str, Matrix] | None = field(default=None, repr=False)
    cse: tuple[tuple[tuple[Any, Any], ...], Mapping[str, Matrix]] | None = field(
        default=None, repr=False
    )
    explicit: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)
    agrees_with_direct: bool | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # read-only views: the result never changes after construction
        for name in ("gradients", "names", "adjoint", "direct"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, MappingProxyType(dict(value)))
        if self.cse is not None:
            object.__setattr__(self, "cse", (self.cse[0], MappingProxyType(dict(self.cse[1]))))

    @property
    def symbols(self) -> dict[str, Matrix]:
        """Arguments of :meth:`to_function`: W_hh, W_xh, b, h0, inputs, W_hy, targets."""
        return {**self.rnn.parameters(), **self.rnn.output_parameters()}

    def to_function(self, method: str = "adjoint") -> Callable[..., dict[str, FloatArray]]:
        r"""Compile into ``f(W_hh=, W_xh=, b=, h0=, inputs=, W_hy=, targets=) -> dict``.

        ``inputs`` is (T, m) and ``targets`` (T, p), row ``t - 1`` for step t;
        ``b`` and ``h0`` default to zeros. The result maps ``"W_hh"``,
        ``"W_xh"``, ``"b"`` to arrays of shapes (n, n), (n, m), (n,).

        Parameters
        ----------
        method : {"adjoint", "direct"}
            ``"adjoint"``: the recursion (structured: evaluated through its named
            definitions; expanded: the explicit expressions). ``"direct"``
            (expanded form only): SymPy's derivative of the explicit loss.

        Raises
        ------
        DerivationError
            For ``method="direct"`` on the structured form.

        Examples
        --------
        One unit, one step, linear: L = ½(v(w h0 + u x + b) - ŷ)², ∂L/∂b = v(y - ŷ):

        >>> import numpy as np
        >>> f = derive_gradient(hidden=1, T=1, activation="linear").to_function()
        >>> g = f(W_hh=[[2.0]], W_xh=[[1.0]], b=[0.5], h0=[1.0], inputs=[[1.0]],
        ...       W_hy=[[3.0]], targets=[[1.0]])
        >>> float(g["b"][0]), 3.0 * (3.0 * 3.5 - 1.0)
        (28.5, 28.5)
        """
        if method not in ("adjoint", "direct"):
            raise DerivationError(f"method must be 'adjoint' or 'direct', got {method!r}")
        blocks = self.symbols
        args = flat_symbols(blocks)
        shapes = {k: self.gradients[k].shape for k in GRADIENT_NAMES}
        if method == "direct":
            if self.direct is None:
                raise DerivationError(
                    "direct differentiation needs the explicit loss: derive with expand=True "
                    "(limited to hidden*T <= 8)"
                )
            replacements, reduced = cse([e for k in GRADIENT_NAMES for e in self.direct[k]])
            g = compile_assignments(args, replacements, reduced)
        elif self.cse is not None:
            pairs, out = self.cse
            g = compile_assignments(args, pairs, [e for k in GRADIENT_NAMES for e in out[k]])
        else:
            steps = _forward_assignments(self.rnn, self.rnn.T)
            for t in range(self.rnn.T, 0, -1):
                steps.extend(zip(self.delta_symbols[t - 1], self.deltas[t - 1], strict=True))
            outputs = [e for k in GRADIENT_NAMES for e in self.gradients[k]]
            g = compile_assignments(args, steps, outputs)

        def gradient(**arrays: ArrayLike | None) -> dict[str, FloatArray]:
            flat = np.array(g(*bind_arguments(blocks, arrays)), dtype=np.float64)
            out: dict[str, FloatArray] = {}
            offset = 0
            for k in GRADIENT_NAMES:
                rows, cols = shapes[k]
                size = rows * cols
                block = flat[offset : offset + size]
                out[k] = block.copy() if k == "b" else block.reshape(rows, cols)
                offset += size
            return out

        return gradient

    def to_dict(self) -> dict[str, Any]:
        """What was derived, for JSON."""
        return {
            **self.rnn.to_dict(),
            "form": self.form,
            "deltas": [[str(e) for e in d] for d in self.deltas],
            "gradients": {k: [str(e) for e in v] for k, v in self.gradients.items()},
        }


def _matvec_T(A: Matrix, v: Any) -> list[Any]:
    """``A.T @ v`` entry by entry (v a sequence)."""
    rows, cols = A.shape
    return [sympy.Add(*(A[k, i] * v[k] for k in range(rows))) for i in range(cols)]


def _adjoint(rnn: SymbolicRNN, hs: Any, ds: Any, deltas_next: Any) -> list[list[Any]]:
    """δ_t for t = 1..T from states ``hs[t]``, derivatives ``ds[t-1]``.

    ``deltas_next(t, computed)`` gives the δ_{t+1} used in δ_t: a named symbol
    (structured) or the already computed expression (expanded).
    """
    T = rnn.T
    out: list[list[Any]] = [[] for _ in range(T)]
    for t in range(T, 0, -1):
        err = [
            sympy.Add(
                *(rnn.W_hy[i, k] * hs[t][k] for k in range(rnn.hidden)), -rnn.targets[t - 1][i]
            )
            for i in range(rnn.output_size)
        ]
        g = _matvec_T(rnn.W_hy, err)
        if t < T:
            back = _matvec_T(rnn.W_hh, deltas_next(t + 1, out))
            g = [a + c for a, c in zip(g, back, strict=True)]
        out[t - 1] = [d * e for d, e in zip(ds[t - 1], g, strict=True)]
    return out


def _sums(rnn: SymbolicRNN, deltas: Any, hs: Any) -> dict[str, Matrix]:
    n, m, T = rnn.hidden, rnn.input_size, rnn.T
    rng = range(1, T + 1)
    return {
        "W_hh": sympy.ImmutableMatrix(
            n, n, lambda i, j: sympy.Add(*(deltas[t - 1][i] * hs[t - 1][j] for t in rng))
        ),
        "W_xh": sympy.ImmutableMatrix(
            n, m, lambda i, j: sympy.Add(*(deltas[t - 1][i] * rnn.x[t - 1][j] for t in rng))
        ),
        "b": sympy.ImmutableMatrix(n, 1, lambda i, j: sympy.Add(*(deltas[t - 1][i] for t in rng))),
    }


def _loss(rnn: SymbolicRNN, hs: Any) -> Any:
    terms = []
    for t in range(1, rnn.T + 1):
        for i in range(rnn.output_size):
            e = sympy.Add(
                *(rnn.W_hy[i, k] * hs[t][k] for k in range(rnn.hidden)), -rnn.targets[t - 1][i]
            )
            terms.append(e**2 / 2)
    return sympy.Add(*terms)


def derive_gradient(
    *,
    hidden: int,
    T: int,
    activation: str = "tanh",
    input_size: int = 1,
    output_size: int = 1,
    expand: bool = False,
) -> GradientDerivation:
    r"""Derive the BPTT gradients of :math:`L = \sum_{t=1}^T \tfrac12\|W_{hy}h_t - \hat y_t\|^2`.

    Parameters
    ----------
    hidden, T : int
        n and the horizon.
    activation : {"tanh", "sigmoid", "relu", "linear"}
    input_size, output_size : int
        m and p.
    expand : bool
        Also derive the explicit gradients, by the recursion and by SymPy's
        ``diff`` of the explicit loss (``hidden * T <= 8``).

    Returns
    -------
    GradientDerivation

    Raises
    ------
    ConfigError, DerivationError
        As for :func:`~gradscope.symbolic.jacobian.derive_jacobian`.

    Examples
    --------
    Weight sharing: the gradient is a sum of one term per step.

    >>> d = derive_gradient(hidden=1, T=2)
    >>> d.gradients["W_hh"][0]
    delta_1_1*h_0_1 + delta_2_1*h_1_1
    >>> d.deltas[1][0]
    v_1_1*(1 - h_2_1**2)*(h_2_1*v_1_1 - yhat_2_1)
    """
    check_sizes(
        hidden=hidden,
        T=T,
        activation=activation,
        input_size=input_size,
        output_size=output_size,
        expand=expand,
        what="gradient",
    )
    rnn = symbolic_rnn(
        hidden=hidden, T=T, activation=activation, input_size=input_size, output_size=output_size
    )
    names = dict(rnn.names)
    delta_symbols = tuple(
        vector_symbols("delta", r"\delta", t, hidden, names) for t in range(1, T + 1)
    )
    d_named = [
        [phi_prime_named(activation, z, h) for z, h in zip(rnn.z[t - 1], rnn.h[t], strict=True)]
        for t in range(1, T + 1)
    ]
    deltas = _adjoint(rnn, rnn.h, d_named, lambda t, _: list(delta_symbols[t - 1]))
    gradients = _sums(rnn, delta_symbols, rnn.h)
    adjoint = direct = reduced = explicit = None
    if expand:
        zs, hs = explicit_states(rnn)
        explicit = (zs, hs)
        d_expl = [
            [phi_prime(activation, z, evaluate=False) for z in zs[t - 1]] for t in range(1, T + 1)
        ]
        adjoint = _sums(rnn, _adjoint(rnn, hs, d_expl, lambda t, out: out[t - 1]), hs)
        L = _loss(rnn, hs)
        params = {"W_hh": rnn.W_hh, "W_xh": rnn.W_xh, "b": rnn.b}
        direct = {k: P.applyfunc(L.diff) for k, P in params.items()}
        flat = [e for k in GRADIENT_NAMES for e in adjoint[k]]
        replacements, entries = cse(flat)
        out: dict[str, Matrix] = {}
        offset = 0
        for k in GRADIENT_NAMES:
            rows, cols = adjoint[k].shape
            out[k] = sympy.ImmutableMatrix(rows, cols, entries[offset : offset + rows * cols])
            offset += rows * cols
        reduced = (tuple(replacements), out)
    derivation = GradientDerivation(
        rnn=rnn,
        form="expanded" if expand else "structured",
        loss=_loss(rnn, rnn.h),
        delta_symbols=delta_symbols,
        deltas=tuple(sympy.ImmutableMatrix(d) for d in deltas),
        gradients=gradients,
        names=names,
        adjoint=adjoint,
        direct=direct,
        cse=reduced,
        explicit=explicit,
    )
    if not expand:
        return derivation
    # the proof belongs to the derivation (0.1 s at the largest expanded size): its LaTeX
    # only reports it
    return dataclasses.replace(derivation, agrees_with_direct=adjoint_equals_direct(derivation))


def adjoint_equals_direct(derivation: GradientDerivation) -> bool:
    r"""Whether the adjoint gradients equal SymPy's direct derivatives, exactly.

    Both sides are explicit expressions in which every state appears as the same
    subexpression :math:`\varphi(z_t)` (and, for relu, :math:`H(z_t)`). With
    those as independent variables each side is a polynomial, and equal
    polynomials prove the identity (:func:`~gradscope.symbolic.proof.polynomial_identity`).
    For a linear RNN both sides are polynomials in the parameters already.

    Raises
    ------
    DerivationError
        If the derivation is not expanded.

    Examples
    --------
    >>> adjoint_equals_direct(derive_gradient(hidden=2, T=2, expand=True))
    True
    """
    if derivation.adjoint is None or derivation.direct is None or derivation.explicit is None:
        raise DerivationError("the symbolic comparison needs derive_gradient(..., expand=True)")
    rnn = derivation.rnn
    zs, hs = derivation.explicit
    atoms: dict[Any, Any] = {}
    if rnn.activation != "linear":
        for t in range(1, rnn.T + 1):
            for i in range(rnn.hidden):
                atoms[hs[t][i]] = rnn.h[t][i]
                if rnn.activation == "relu":
                    step = sympy.Heaviside(zs[t - 1][i], 0, evaluate=False)
                    atoms[step] = sympy.Symbol(f"H_{t}_{i + 1}", real=True)
    pairs = [
        (a, b)
        for k in GRADIENT_NAMES
        for a, b in zip(derivation.adjoint[k], derivation.direct[k], strict=True)
    ]
    return polynomial_identity(pairs, atoms)
