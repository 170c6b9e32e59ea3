r"""The activations φ, their derivatives φ′ and γ = sup|φ′|, by name.

The recurrence (DESIGN.md §1), for :math:`t = 1, \dots, T`:

.. math::

    z_t = W_{hh} h_{t-1} + W_{xh} x_t + b, \qquad h_t = \varphi(z_t),

with ``W_hh`` of shape (n, n), ``W_xh`` of shape (n, m) and ``b`` of shape (n,).
The step Jacobian is :math:`J_t = \partial h_t / \partial h_{t-1} =
\operatorname{diag}(\varphi'(z_t))\, W_{hh}`, and :math:`\gamma = \sup|\varphi'|`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]

FloatArray = NDArray[np.float64]

# The smallest positive normal float64. Derivatives below it are flushed to zero so
# that no subnormal number ever reaches BLAS (DESIGN.md §5; subnormal arithmetic is
# two orders of magnitude slower) and the flush is documented where it happens.
_TINY = float(np.finfo(np.float64).tiny)


def _sech2(z: FloatArray) -> FloatArray:
    """``sech(z)**2 = 1 - tanh(z)**2``, accurate to a few ulps for every ``z``.

    ``1 - tanh(z)**2`` loses all relative accuracy once ``tanh(z)`` rounds to 1
    (|z| > 19); ``4 e / (1 + e)**2`` with ``e = exp(-2|z|)`` does not, and it
    never overflows. Values below the smallest normal float64 are returned as 0.
    """
    with np.errstate(over="ignore"):  # -2|z| = -inf past 1e308: exp gives 0, exactly right
        e = np.exp(-2.0 * np.abs(z))
    out = 4.0 * e / (1.0 + e) ** 2
    return np.where(out < _TINY, 0.0, out)


def _tanh(z: FloatArray) -> FloatArray:
    return np.tanh(z)


def _sigmoid(z: FloatArray) -> FloatArray:
    # exp(-|z|) never overflows, and neither branch cancels: full relative
    # accuracy for every z (0.5 * (1 + tanh(z/2)) loses it for z << 0).
    e = np.exp(-np.abs(z))
    return np.where(z >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_prime(z: FloatArray) -> FloatArray:
    # s (1 - s) = sech(z/2)**2 / 4, without the cancellation in 1 - s.
    return 0.25 * _sech2(0.5 * z)


def _relu(z: FloatArray) -> FloatArray:
    return np.maximum(z, 0.0)


def _relu_prime(z: FloatArray) -> FloatArray:
    # relu'(0) = 0, as in PyTorch (DESIGN.md §1).
    return (z > 0.0).astype(np.float64)


def _linear(z: FloatArray) -> FloatArray:
    return np.array(z, dtype=np.float64, copy=True)


def _linear_prime(z: FloatArray) -> FloatArray:
    return np.ones_like(z, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Activation:
    r"""An elementwise activation :math:`\varphi` with its derivative and :math:`\gamma`.

    Attributes
    ----------
    name : str
        One of ``"tanh"``, ``"sigmoid"``, ``"relu"``, ``"linear"``.
    gamma : float
        :math:`\gamma = \sup_z |\varphi'(z)|`, the constant of the bound
        :math:`\|\partial h_T/\partial h_k\|_2 \le (\gamma \|W_{hh}\|_2)^{T-k}`.

    Examples
    --------
    >>> from gradscope.model import get_activation
    >>> act = get_activation("sigmoid")
    >>> act.gamma, float(act.derivative(0.0))
    (0.25, 0.25)
    """

    name: str
    gamma: float
    _phi: Callable[[FloatArray], FloatArray] = field(repr=False)
    _dphi: Callable[[FloatArray], FloatArray] = field(repr=False)

    def __call__(self, z: ArrayLike) -> FloatArray:
        r""":math:`\varphi(z)`, elementwise."""
        return self._phi(np.asarray(z, dtype=np.float64))

    def derivative(self, z: ArrayLike) -> FloatArray:
        r""":math:`\varphi'(z)`, elementwise.

        Computed without cancellation (``tanh' = sech²``), so it keeps full
        relative accuracy in saturation; values below the smallest normal
        float64 (about 2.2e-308) are returned as exactly 0.
        """
        return self._dphi(np.asarray(z, dtype=np.float64))


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(name="tanh", gamma=1.0, _phi=_tanh, _dphi=_sech2),
        Activation(name="sigmoid", gamma=0.25, _phi=_sigmoid, _dphi=_sigmoid_prime),
        Activation(name="relu", gamma=1.0, _phi=_relu, _dphi=_relu_prime),
        Activation(name="linear", gamma=1.0, _phi=_linear, _dphi=_linear_prime),
    )
}


def get_activation(name: str | Activation) -> Activation:
    """Look an activation up by name.

    Parameters
    ----------
    name : str or Activation
        ``"tanh"``, ``"sigmoid"``, ``"relu"`` or ``"linear"``; an
        :class:`Activation` is returned unchanged.

    Raises
    ------
    ConfigError
        If the name is unknown.
    """
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        known = ", ".join(ACTIVATIONS)
        raise ConfigError(f"unknown activation {name!r}; choose one of: {known}") from None
