r"""coRNN (Rusch & Mishra 2021): a damped, driven oscillator network, discretised IMEX.

Eq. (3) of the paper, the implicit-explicit (IMEX) discretisation of
:math:`y'' = \sigma(W y + \mathcal{W} y' + V u + b) - \gamma y - \epsilon y'`:

.. math::

    z_n = z_{n-1} + \Delta t\, \sigma(W y_{n-1} + \mathcal{W} z_{n-1} + V u_n + b)
          - \Delta t\, \gamma\, y_{n-1} - \Delta t\, \epsilon\, z_{n-1}, \qquad
    y_n = y_{n-1} + \Delta t\, z_n,

with σ = tanh (the authors' ``coRNNCell.forward`` updates z first, then y from
the new z, as here). The state is :math:`s_n = (y_n, z_n)`, y first: ``state_size`` = 2n.
With :math:`d_n = \tanh'(a_n)`, :math:`Z_y = \Delta t(\operatorname{diag}(d_n) W - \gamma I)`
and :math:`Z_z = (1 - \Delta t\,\epsilon) I + \Delta t \operatorname{diag}(d_n) \mathcal{W}`,

.. math::

    J_n = \begin{pmatrix} I + \Delta t Z_y & \Delta t Z_z \\ Z_y & Z_z \end{pmatrix}.

The paper's claims (its §3 propositions; numbers not re-checked here): the
hidden states stay bounded and the gradients neither explode nor, to leading
order, vanish.

Defaults: Δt = 0.042, γ = 2.7, ε = 4.7, the defaults of the authors'
sequential-MNIST script (``sMNIST/sMNIST_task.py``). The
weights are PyTorch's ``nn.Linear`` initialisation of the authors' single
layer on ``[u, z, y]``: every entry of :math:`V, \mathcal{W}, W, b` uniform in
:math:`\pm 1/\sqrt{m + 2n}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from gradscope.errors import ConfigError
from gradscope.model.zoo._base import FloatArray, Hyper, Paper, ZooCellBase, finite_float, frozen

__all__ = ["CELL", "CoRNNCell", "draw"]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CoRNNCell(ZooCellBase):
    r"""The coRNN step on the state (y, z), eq. (3) of the paper.

    Parameters
    ----------
    W : (n, n) array_like
        Weights on y.
    W_z : (n, n) array_like
        Weights on z (the paper's :math:`\mathcal{W}`).
    V : (n, m) array_like
        Input weights.
    b : (n,) array_like
    dt, gamma, eps : float
    init : mapping, optional
    """

    W: FloatArray
    W_z: FloatArray
    V: FloatArray
    b: FloatArray
    dt: float
    gamma: float
    eps: float
    init: Mapping[str, Any] = field(default_factory=dict)

    NAME = "cornn"
    PAPER = Paper(
        authors="Rusch & Mishra",
        year=2021,
        title="Coupled Oscillatory Recurrent Neural Network (coRNN): An accurate and "
        "(gradient) stable architecture for learning long time dependencies",
        venue="ICLR 2021",
        arxiv="2010.00951",
    )
    HYPER: ClassVar[Mapping[str, Hyper]] = {
        "dt": Hyper(0.042, "Rusch & Mishra 2021, authors' sMNIST script default"),
        "gamma": Hyper(2.7, "Rusch & Mishra 2021, authors' sMNIST script default"),
        "eps": Hyper(4.7, "Rusch & Mishra 2021, authors' sMNIST script default"),
        "weight_bound": Hyper(
            "1/sqrt(m+2n)",
            "Rusch & Mishra 2021 code: nn.Linear(m + 2n, n) default init, U(±1/sqrt(m+2n))",
            "init",
        ),
    }
    ARRAYS = ("W", "W_z", "V", "b")

    def __post_init__(self) -> None:
        V = np.asarray(self.V)
        if V.ndim != 2 or 0 in V.shape:
            raise ConfigError(f"V must be (n, m), got shape {V.shape}")
        n = V.shape[0]
        object.__setattr__(self, "V", frozen(V, "V", V.shape))
        object.__setattr__(self, "W", frozen(self.W, "W", (n, n)))
        object.__setattr__(self, "W_z", frozen(self.W_z, "W_z", (n, n)))
        object.__setattr__(self, "b", frozen(self.b, "b", (n,)))
        for name in ("dt", "gamma", "eps"):
            object.__setattr__(self, name, finite_float(getattr(self, name), name))
        object.__setattr__(self, "init", dict(self.init))

    @property
    def hidden_size(self) -> int:
        """n, the number of oscillators."""
        return int(self.V.shape[0])

    @property
    def input_size(self) -> int:
        """m, the width of one input vector."""
        return int(self.V.shape[1])

    @property
    def state_size(self) -> int:
        """2n: the state is (y, z), y first."""
        return 2 * self.hidden_size


def draw(hidden: int, inputs: int, rng: np.random.Generator, hyper: dict[str, Any]) -> CoRNNCell:
    """Draw a :class:`CoRNNCell` with the authors' initialisation."""
    bound_spec = hyper["weight_bound"]
    if isinstance(bound_spec, str):
        bound = 1.0 / float(np.sqrt(inputs + 2 * hidden))
    else:
        bound = finite_float(bound_spec, "weight_bound")

    def U(*shape: int) -> FloatArray:
        out: FloatArray = rng.uniform(-bound, bound, size=shape)
        return out

    return CoRNNCell(
        W=U(hidden, hidden),
        W_z=U(hidden, hidden),
        V=U(hidden, inputs),
        b=U(hidden),
        dt=hyper["dt"],
        gamma=hyper["gamma"],
        eps=hyper["eps"],
        init={"weight_bound": bound_spec},
    )


CELL = CoRNNCell
