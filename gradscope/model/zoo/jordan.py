r"""A linear recurrence whose matrix holds a Jordan block: eigenvalues that do not tell norms.

.. math::

    s_t = A s_{t-1} + B x_t, \qquad
    A = J_m(\rho) \oplus \operatorname{diag}(\lambda_1, \dots, \lambda_{n-m}),

:math:`J_m(\rho)` the m × m Jordan block (ρ on the diagonal, 1 on the
superdiagonal). Every eigenvalue of A has modulus at most ρ < 1, yet
:math:`(J_m(\rho)^k)_{1,m} = \binom{k}{m-1} \rho^{k-m+1}` grows like
:math:`k^{m-1}` before it decays: the transient growth of non-normal matrices
(Trefethen & Embree, *Spectra and Pseudospectra*, 2005, ch. 14-16), a
counterexample to reading gradient decay off the spectral radius.

No paper fixes defaults; gradscope chooses: m = 4 (a visible transient:
the peak of ``C(k, 3) 0.9^(k-3)`` is about 60 near k = 28), ρ = 0.9 (below 1,
as a "vanishing" criterion would require), the other eigenvalues drawn
uniformly in [-0.5, 0.5] (well separated from the block) and
:math:`B_{ij} \sim N(0, 1/m_{in})`. The Jacobian is :math:`J_t = A` for every t.
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
    check_positive_int,
    frozen,
    scale_value,
)

__all__ = ["CELL", "JordanCell", "draw", "jordan_block"]


def jordan_block(m: int, rho: float) -> FloatArray:
    """The m × m Jordan block J_m(ρ): ρ on the diagonal, 1 on the superdiagonal."""
    return rho * np.eye(m) + np.eye(m, k=1)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class JordanCell(ZooCellBase):
    r"""``s_t = A s_{t-1} + B x_t`` with :math:`A = J_m(\rho) \oplus \operatorname{diag}(others)`.

    Parameters
    ----------
    m : int
        Size of the Jordan block (1 <= m <= n).
    rho : float
        Its eigenvalue.
    others : (n - m,) array_like
        The diagonal block's entries.
    B : (n, m_in) array_like
        Input weights.
    init : mapping, optional
        The initialisation parameters :func:`~gradscope.model.zoo.zoo_cell` used.
    """

    m: int
    rho: float
    others: FloatArray
    B: FloatArray
    init: Mapping[str, Any] = field(default_factory=dict)

    NAME = "jordan"
    PAPER = Paper(
        authors="Trefethen & Embree",
        year=2005,
        title="Spectra and Pseudospectra: The Behavior of Nonnormal Matrices and Operators",
        venue="Princeton University Press (book; chapters 14-16 on transient growth)",
        arxiv=None,
    )
    HYPER: ClassVar[Mapping[str, Hyper]] = {
        "m": Hyper(4, "chosen by gradscope (no paper default): a visible transient"),
        "rho": Hyper(0.9, "chosen by gradscope: an eigenvalue below 1"),
        "others_max": Hyper(0.5, "chosen by gradscope: others ~ U(-0.5, 0.5)", "init"),
        "input_std": Hyper("1/sqrt(m_in)", "chosen by gradscope: B ~ N(0, 1/m_in)", "init"),
    }
    ARRAYS = ("others", "B")

    def __post_init__(self) -> None:
        m = check_positive_int(self.m, "m")
        B = np.asarray(self.B)
        if B.ndim != 2 or B.shape[0] < m or B.shape[1] == 0:
            raise ConfigError(f"B must be (n, m_in) with n >= m = {m}, got shape {B.shape}")
        n = B.shape[0]
        rho = float(self.rho)
        if not np.isfinite(rho):
            raise ConfigError(f"rho must be finite, got {self.rho!r}")
        object.__setattr__(self, "m", m)
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "B", frozen(B, "B", B.shape))
        object.__setattr__(self, "others", frozen(self.others, "others", (n - m,)))
        object.__setattr__(self, "init", dict(self.init))

    @property
    def hidden_size(self) -> int:
        """n, the state's size."""
        return int(self.B.shape[0])

    @property
    def input_size(self) -> int:
        """m_in, the width of one input vector."""
        return int(self.B.shape[1])

    @property
    def state_size(self) -> int:
        """n: the state is s."""
        return self.hidden_size

    @property
    def A(self) -> FloatArray:
        """The recurrent matrix, :math:`J_m(\\rho) \\oplus \\operatorname{diag}(others)`."""
        n, m = self.hidden_size, self.m
        A = np.zeros((n, n))
        A[:m, :m] = jordan_block(m, self.rho)
        A[m:, m:] = np.diag(self.others)
        return A


def draw(hidden: int, inputs: int, rng: np.random.Generator, hyper: dict[str, Any]) -> JordanCell:
    """Draw a :class:`JordanCell` (see the module docstring for the defaults)."""
    m = check_positive_int(hyper["m"], "m")
    if m > hidden:
        raise ConfigError(f"the Jordan block m = {m} does not fit hidden = {hidden}: lower m")
    top = float(hyper["others_max"])
    others = rng.uniform(-top, top, size=hidden - m)
    std = hyper["input_std"]
    scale = scale_value(std, "input_std", inputs)
    B = rng.standard_normal((hidden, inputs)) * scale
    return JordanCell(
        m=m,
        rho=float(hyper["rho"]),
        others=others,
        B=B,
        init={"others_max": top, "input_std": std},
    )


CELL = JordanCell
