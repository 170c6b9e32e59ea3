r"""AntisymmetricRNN (Chang, Chen, Haber & Chi 2019): a forward-Euler step of a stable ODE.

The paper's ungated AntisymmetricRNN (§4; equation numbers not re-checked
against the PDF here):

.. math::

    h_t = h_{t-1} + \epsilon \tanh\big((W - W^\top - \gamma I) h_{t-1} + V x_t + b\big),

so :math:`J_t = I + \epsilon \operatorname{diag}(\tanh'(a_t)) (W - W^\top - \gamma I)`.
The paper's claim: the eigenvalues of :math:`W - W^\top` are
imaginary, the ODE is neither exploding nor vanishing, and the diffusion γ
keeps forward Euler stable.

Defaults (Appendix C, "Experimental details"): input weights
:math:`V \sim N(0, 1/m)`, recurrent :math:`W \sim N(0, \sigma_w^2/n)`, biases
0. The paper tunes :math:`\sigma_w \in \{0, 1, 2, 4, 8, 16\}`,
:math:`\epsilon \in \{0.01, 0.1, 1\}` and γ over a grid, and gives no single
default: gradscope takes σ_w = 1, ε = 0.01 and γ = 0.01 (points of those
grids; override any).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from gradscope.errors import ConfigError
from gradscope.model.zoo._base import (
    FloatArray,
    Hyper,
    Paper,
    ZooCellBase,
    finite_float,
    frozen,
    scale_value,
)

__all__ = ["CELL", "AntisymmetricCell", "draw"]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class AntisymmetricCell(ZooCellBase):
    r"""``h_t = h_{t-1} + ε tanh((W - Wᵀ - γI) h_{t-1} + V x_t + b)``.

    Parameters
    ----------
    W : (n, n) array_like
    V : (n, m) array_like
    b : (n,) array_like
    gamma, eps : float
        Diffusion γ and step size ε.
    init : mapping, optional
    """

    W: FloatArray
    V: FloatArray
    b: FloatArray
    gamma: float
    eps: float
    init: Mapping[str, Any] = field(default_factory=dict)

    NAME = "antisymmetric"
    PAPER = Paper(
        authors="Chang, Chen, Haber & Chi",
        year=2019,
        title="AntisymmetricRNN: A Dynamical System View on Recurrent Neural Networks",
        venue="ICLR 2019",
        arxiv="1902.09689",
    )
    HYPER: ClassVar[Mapping[str, Hyper]] = {
        "gamma": Hyper(
            0.01, "Chang et al. 2019 App. C tune γ on a grid; 0.01 chosen by gradscope"
        ),
        "eps": Hyper(0.01, "Chang et al. 2019 App. C: ε in {0.01, 0.1, 1}; 0.01 chosen"),
        "sigma_w": Hyper(
            1.0,
            "Chang et al. 2019 App. C: W ~ N(0, σ_w²/n), σ_w in {0,1,2,4,8,16}; 1 chosen",
            "init",
        ),
        "input_std": Hyper("1/sqrt(m)", "Chang et al. 2019 App. C: V ~ N(0, 1/m), b = 0", "init"),
    }
    ARRAYS = ("W", "V", "b")

    def __post_init__(self) -> None:
        V = np.asarray(self.V)
        if V.ndim != 2 or 0 in V.shape:
            raise ConfigError(f"V must be (n, m), got shape {V.shape}")
        n = V.shape[0]
        object.__setattr__(self, "V", frozen(V, "V", V.shape))
        object.__setattr__(self, "W", frozen(self.W, "W", (n, n)))
        object.__setattr__(self, "b", frozen(self.b, "b", (n,)))
        object.__setattr__(self, "gamma", finite_float(self.gamma, "gamma"))
        object.__setattr__(self, "eps", finite_float(self.eps, "eps"))
        object.__setattr__(self, "init", dict(self.init))

    @property
    def hidden_size(self) -> int:
        """n, the number of units."""
        return int(self.V.shape[0])

    @property
    def input_size(self) -> int:
        """m, the width of one input vector."""
        return int(self.V.shape[1])

    @property
    def state_size(self) -> int:
        """n: the state is h."""
        return self.hidden_size

    @property
    def M(self) -> FloatArray:
        """The recurrent matrix :math:`W - W^\\top - \\gamma I`."""
        out: FloatArray = self.W - self.W.T - self.gamma * np.eye(self.hidden_size)
        return out


def draw(
    hidden: int, inputs: int, rng: np.random.Generator, hyper: dict[str, Any]
) -> AntisymmetricCell:
    """Draw an :class:`AntisymmetricCell` with the paper's initialisation."""
    sigma = finite_float(hyper["sigma_w"], "sigma_w")
    W = rng.standard_normal((hidden, hidden)) * (sigma / np.sqrt(hidden))
    std = hyper["input_std"]
    V = rng.standard_normal((hidden, inputs)) * scale_value(std, "input_std", inputs)
    return AntisymmetricCell(
        W=W,
        V=V,
        b=np.zeros(hidden),
        gamma=hyper["gamma"],
        eps=hyper["eps"],
        init={"sigma_w": sigma, "input_std": std},
    )


CELL = AntisymmetricCell
