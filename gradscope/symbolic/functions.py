r"""The activations :math:`\varphi` as SymPy functions, with exact derivatives.

``tanh`` is SymPy's own (its derivative is :math:`1 - \tanh^2`). ``sigmoid`` and
``relu`` are small :class:`sympy.Function` subclasses whose ``fdiff`` gives the
derivative the rest of gradscope uses, so SymPy's ``diff`` and the adjoint
recursion agree term by term:

* :math:`\sigma'(z) = \sigma(z)\,(1 - \sigma(z))`;
* :math:`\operatorname{relu}'(z) = H(z)` with :math:`H(0) = 0`, as in PyTorch
  (DESIGN.md §1), i.e. ``Heaviside(z, 0)``; compiled to ``numpy.heaviside(z, 0)``,
  so the value at 0 holds in compiled functions too.

Both compile to NumPy through ``_numpycode`` (the sigmoid as
``exp(-logaddexp(0, -z))``, which neither overflows nor cancels).
"""

from __future__ import annotations

from typing import Any

import sympy  # type: ignore[import-untyped]

__all__ = ["GAMMA", "ReLU", "Sigmoid", "phi", "phi_prime", "phi_prime_named"]

#: γ = sup |φ'| of each activation (DESIGN.md §1), exact.
GAMMA: dict[str, sympy.Expr] = {
    "tanh": sympy.Integer(1),
    "sigmoid": sympy.Rational(1, 4),
    "relu": sympy.Integer(1),
    "linear": sympy.Integer(1),
}


class Sigmoid(sympy.Function):  # type: ignore[misc]  # sympy is untyped
    r"""The logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})`.

    Examples
    --------
    >>> import sympy
    >>> z = sympy.Symbol("z", real=True)
    >>> Sigmoid(z).diff(z)
    (1 - Sigmoid(z))*Sigmoid(z)
    >>> Sigmoid(0)
    1/2
    """

    @classmethod
    def eval(cls, z: Any) -> Any:
        if z.is_Number:
            return 1 / (1 + sympy.exp(-z))
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        if argindex != 1:
            raise sympy.ArgumentIndexError(self, argindex)
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, z: Any, **kwargs: Any) -> Any:
        return 1 / (1 + sympy.exp(-z))

    def _numpycode(self, printer: Any) -> str:
        z = printer._print(self.args[0])
        exp = printer._module_format(printer._module + ".exp")
        logaddexp = printer._module_format(printer._module + ".logaddexp")
        return f"{exp}(-{logaddexp}(0, -({z})))"


class ReLU(sympy.Function):  # type: ignore[misc]  # sympy is untyped
    r"""The rectifier :math:`\operatorname{relu}(z) = \max(z, 0)`, with relu'(0) = 0.

    Examples
    --------
    >>> import sympy
    >>> z = sympy.Symbol("z", real=True)
    >>> ReLU(z).diff(z)
    Heaviside(z, 0)
    >>> ReLU(-2), ReLU(3)
    (0, 3)
    """

    @classmethod
    def eval(cls, z: Any) -> Any:
        if z.is_Number:
            return sympy.Max(z, 0)
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        if argindex != 1:
            raise sympy.ArgumentIndexError(self, argindex)
        return sympy.Heaviside(self.args[0], 0)

    def _eval_rewrite_as_Max(self, z: Any, **kwargs: Any) -> Any:
        return sympy.Max(z, 0)

    def _numpycode(self, printer: Any) -> str:
        z = printer._print(self.args[0])
        maximum = printer._module_format(printer._module + ".maximum")
        return f"{maximum}({z}, 0.0)"


def phi(name: str, z: Any, *, evaluate: bool = True) -> Any:
    r""":math:`\varphi(z)` for the activation ``name``.

    ``evaluate=False`` skips SymPy's automatic simplification, whose assumption
    queries walk a deep argument (the explicit states) again and again.

    Examples
    --------
    >>> import sympy
    >>> z = sympy.Symbol("z")
    >>> phi("tanh", z), phi("linear", z)
    (tanh(z), z)
    """
    if name == "tanh":
        return sympy.tanh(z, evaluate=evaluate)
    if name == "sigmoid":
        return Sigmoid(z, evaluate=evaluate)
    if name == "relu":
        return ReLU(z, evaluate=evaluate)
    return z


def phi_prime(name: str, z: Any, *, evaluate: bool = True) -> Any:
    r""":math:`\varphi'(z)` as an expression of ``z``, equal to ``diff(phi(name, z), z)``.

    Examples
    --------
    >>> import sympy
    >>> z = sympy.Symbol("z")
    >>> phi_prime("tanh", z)
    1 - tanh(z)**2
    """
    # The same expressions SymPy's diff produces (a test checks it), built directly
    # so that a deep, shared argument is never traversed.
    if name == "linear":
        return sympy.Integer(1)
    if name == "tanh":
        return 1 - sympy.tanh(z, evaluate=evaluate) ** 2
    if name == "sigmoid":
        s = Sigmoid(z, evaluate=evaluate)
        return s * (1 - s)
    return sympy.Heaviside(z, 0, evaluate=evaluate)


def phi_prime_named(name: str, z: Any, h: Any) -> Any:
    r""":math:`\varphi'(z)` written with the named output :math:`h = \varphi(z)` where it can be.

    ``tanh' = 1 - h²``, ``sigmoid' = h (1 - h)``, ``relu' = H(z)`` (H(0) = 0) and
    ``linear' = 1``: the form a textbook writes, and what the structured
    derivations use.

    Examples
    --------
    >>> import sympy
    >>> z, h = sympy.symbols("z h")
    >>> phi_prime_named("tanh", z, h), phi_prime_named("sigmoid", z, h)
    (1 - h**2, h*(1 - h))
    """
    if name == "tanh":
        return 1 - h**2
    if name == "sigmoid":
        return h * (1 - h)
    if name == "relu":
        return sympy.Heaviside(z, 0)
    return sympy.Integer(1)
