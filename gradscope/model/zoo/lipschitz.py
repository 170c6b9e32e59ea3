r"""Lipschitz RNN (Erichson, Azencot, Queiruga, Hodgkinson & Mahoney 2021).

The continuous-time unit with the paper's β-parametrisation (§3; equation
numbers are not quoted: not re-checked against the PDF here):

.. math::

    \dot h = A_\beta h + \tanh(W_\beta h + U x + b), \qquad
    A_\beta = (1-\beta)(M_A + M_A^\top) + \beta (M_A - M_A^\top) - \gamma_A I,

and :math:`W_\beta` the same with :math:`M_W, \gamma_W`; discretised by forward
Euler as in the authors' ``LipschitzRNN`` model
(``h + eps * h A + eps * tanh(h W + z)``),
:math:`h_t = h_{t-1} + \epsilon A_\beta h_{t-1} + \epsilon \tanh(W_\beta h_{t-1} + U x_t + b)`,
so

.. math::

    J_t = I + \epsilon A_\beta + \epsilon \operatorname{diag}(\tanh'(a_t)) W_\beta.

The paper's claim (its stability theorem): with β < 1 the symmetric parts are
negative-definite enough to make the ODE (and its Euler step for small ε)
Lipschitz with a bounded constant: no exploding gradient.

Defaults: β = 0.75, γ_A = γ_W = 0.001, ε = 0.03, the paper's and authors'
README's ordered pixel-MNIST setting (a single γ for both). :math:`M_A, M_W`:
entries :math:`N(0, (\sigma/n)^2)` with σ = 6, the ``init_std`` default of the
authors' ``driver.py`` (their ``gaussian_init_`` draws std ``init_std / n``);
U Xavier-normal (:math:`N(0, 2/(n + m))`), b = 0, as the authors' encoder.
The authors' code multiplies row vectors (``h @ A``); this module follows the
paper's column convention ``A h``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from gradscope.errors import ConfigError
from gradscope.model.zoo._base import FloatArray, Hyper, Paper, ZooCellBase, finite_float, frozen

__all__ = ["CELL", "LipschitzCell", "draw"]


def beta_matrix(M: FloatArray, beta: float, gamma: float) -> FloatArray:
    r""":math:`(1-\beta)(M + M^\top) + \beta(M - M^\top) - \gamma I`."""
    out: FloatArray = (1.0 - beta) * (M + M.T) + beta * (M - M.T) - gamma * np.eye(M.shape[0])
    return out


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LipschitzCell(ZooCellBase):
    r"""``h_t = h_{t-1} + ε A_β h_{t-1} + ε tanh(W_β h_{t-1} + U x_t + b)``.

    Parameters
    ----------
    M_A, M_W : (n, n) array_like
    U : (n, m) array_like
    b : (n,) array_like
    beta, gamma_A, gamma_W, eps : float
    init : mapping, optional
    """

    M_A: FloatArray
    M_W: FloatArray
    U: FloatArray
    b: FloatArray
    beta: float
    gamma_A: float
    gamma_W: float
    eps: float
    init: Mapping[str, Any] = field(default_factory=dict)

    NAME = "lipschitz"
    PAPER = Paper(
        authors="Erichson, Azencot, Queiruga, Hodgkinson & Mahoney",
        year=2021,
        title="Lipschitz Recurrent Neural Networks",
        venue="ICLR 2021",
        arxiv="2006.12070",
    )
    HYPER: ClassVar[Mapping[str, Hyper]] = {
        "beta": Hyper(0.75, "Erichson et al. 2021, pixel-MNIST setting (authors' README)"),
        "gamma_A": Hyper(0.001, "Erichson et al. 2021, pixel-MNIST setting (one γ for both)"),
        "gamma_W": Hyper(0.001, "Erichson et al. 2021, pixel-MNIST setting (one γ for both)"),
        "eps": Hyper(0.03, "Erichson et al. 2021, pixel-MNIST setting (authors' README)"),
        "init_std": Hyper(
            6.0, "Erichson et al. 2021 code: driver.py init_std, M ~ N(0, (init_std/n)^2)", "init"
        ),
    }
    ARRAYS = ("M_A", "M_W", "U", "b")

    def __post_init__(self) -> None:
        U = np.asarray(self.U)
        if U.ndim != 2 or 0 in U.shape:
            raise ConfigError(f"U must be (n, m), got shape {U.shape}")
        n = U.shape[0]
        object.__setattr__(self, "U", frozen(U, "U", U.shape))
        object.__setattr__(self, "M_A", frozen(self.M_A, "M_A", (n, n)))
        object.__setattr__(self, "M_W", frozen(self.M_W, "M_W", (n, n)))
        object.__setattr__(self, "b", frozen(self.b, "b", (n,)))
        for name in ("beta", "gamma_A", "gamma_W", "eps"):
            object.__setattr__(self, name, finite_float(getattr(self, name), name))
        object.__setattr__(self, "init", dict(self.init))

    @property
    def hidden_size(self) -> int:
        """n, the number of units."""
        return int(self.U.shape[0])

    @property
    def input_size(self) -> int:
        """m, the width of one input vector."""
        return int(self.U.shape[1])

    @property
    def state_size(self) -> int:
        """n: the state is h."""
        return self.hidden_size

    @property
    def A_beta(self) -> FloatArray:
        """:math:`A_\\beta`, the β-parametrised linear part."""
        return beta_matrix(self.M_A, self.beta, self.gamma_A)

    @property
    def W_beta(self) -> FloatArray:
        """:math:`W_\\beta`, the β-parametrised matrix inside tanh."""
        return beta_matrix(self.M_W, self.beta, self.gamma_W)


def draw(
    hidden: int, inputs: int, rng: np.random.Generator, hyper: dict[str, Any]
) -> LipschitzCell:
    """Draw a :class:`LipschitzCell` with the authors' initialisation."""
    std = finite_float(hyper["init_std"], "init_std") / hidden
    M_A = rng.standard_normal((hidden, hidden)) * std
    M_W = rng.standard_normal((hidden, hidden)) * std
    U = rng.standard_normal((hidden, inputs)) * np.sqrt(2.0 / (hidden + inputs))
    return LipschitzCell(
        M_A=M_A,
        M_W=M_W,
        U=U,
        b=np.zeros(hidden),
        beta=hyper["beta"],
        gamma_A=hyper["gamma_A"],
        gamma_W=hyper["gamma_W"],
        eps=hyper["eps"],
        init={"init_std": float(hyper["init_std"])},
    )


CELL = LipschitzCell
