r"""minGRU (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024): a GRU whose gates ignore h.

The minGRU of "Were RNNs All We Needed?" (§3; the sequential form):

.. math::

    z_t = \sigma(W_z x_t + b_z), \qquad \tilde h_t = W_h x_t + b_h, \qquad
    h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t,

so :math:`J_t = \operatorname{diag}(1 - z_t)` depends on the inputs only: the
paper's point that the recurrence is a parallel scan, and that the gradient
through time is a product of input-driven diagonal gates in (0, 1).

Defaults: the paper specifies ``Linear_dh`` layers and no special
initialisation, so PyTorch's ``nn.Linear`` default is the paper's: every
entry of :math:`W_z, b_z, W_h, b_h` uniform in :math:`\pm 1/\sqrt{m}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from gradscope.errors import ConfigError
from gradscope.model.zoo._base import FloatArray, Hyper, Paper, ZooCellBase, frozen, scale_value

__all__ = ["CELL", "MinGRUCell", "draw"]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class MinGRUCell(ZooCellBase):
    r"""``h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t``, gates from ``x_t`` only.

    Parameters
    ----------
    W_z, W_h : (n, m) array_like
    b_z, b_h : (n,) array_like
    init : mapping, optional
    """

    W_z: FloatArray
    b_z: FloatArray
    W_h: FloatArray
    b_h: FloatArray
    init: Mapping[str, Any] = field(default_factory=dict)

    NAME = "mingru"
    PAPER = Paper(
        authors="Feng, Tung, Ahmed, Bengio & Hajimirsadeghi",
        year=2024,
        title="Were RNNs All We Needed?",
        venue="arXiv preprint",
        arxiv="2410.01201",
    )
    HYPER: ClassVar[Mapping[str, Hyper]] = {
        "weight_bound": Hyper(
            "1/sqrt(m)",
            "Feng et al. 2024: Linear layers, PyTorch's default U(±1/sqrt(m))",
            "init",
        ),
    }
    ARRAYS = ("W_z", "b_z", "W_h", "b_h")

    def __post_init__(self) -> None:
        W = np.asarray(self.W_z)
        if W.ndim != 2 or 0 in W.shape:
            raise ConfigError(f"W_z must be (n, m), got shape {W.shape}")
        n = W.shape[0]
        object.__setattr__(self, "W_z", frozen(W, "W_z", W.shape))
        object.__setattr__(self, "W_h", frozen(self.W_h, "W_h", W.shape))
        object.__setattr__(self, "b_z", frozen(self.b_z, "b_z", (n,)))
        object.__setattr__(self, "b_h", frozen(self.b_h, "b_h", (n,)))
        object.__setattr__(self, "init", dict(self.init))

    @property
    def hidden_size(self) -> int:
        """n, the number of units."""
        return int(self.W_z.shape[0])

    @property
    def input_size(self) -> int:
        """m, the width of one input vector."""
        return int(self.W_z.shape[1])

    @property
    def state_size(self) -> int:
        """n: the state is h."""
        return self.hidden_size


def draw(hidden: int, inputs: int, rng: np.random.Generator, hyper: dict[str, Any]) -> MinGRUCell:
    """Draw a :class:`MinGRUCell` with PyTorch's ``nn.Linear`` initialisation."""
    spec = hyper["weight_bound"]
    bound = scale_value(spec, "weight_bound", inputs)

    def U(*shape: int) -> FloatArray:
        out: FloatArray = rng.uniform(-bound, bound, size=shape)
        return out

    return MinGRUCell(
        W_z=U(hidden, inputs), b_z=U(hidden), W_h=U(hidden, inputs), b_h=U(hidden),
        init={"weight_bound": spec},
    )  # fmt: skip


CELL = MinGRUCell
