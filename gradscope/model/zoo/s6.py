r"""A diagonal selective state-space step: Mamba's S6 (Gu & Dao 2023), its recurrence alone.

Algorithm 2 and eq. (2a), (4) of the paper, with the zero-order hold of A and
the simplified :math:`\bar B = \Delta B` of the authors' reference scan
(``selective_scan_ref``): for channels d = 1..D and state index k = 1..N,

.. math::

    u_t = W_{in} x_t, \quad
    \Delta_t = \operatorname{softplus}(W_\Delta u_t + b_\Delta), \quad
    B_t = W_B u_t, \quad C_t = W_C u_t,

    h_t[d, k] = \exp(\Delta_t[d] A[d, k])\, h_{t-1}[d, k] + \Delta_t[d] B_t[k] u_t[d],
    \qquad y_t[d] = \sum_k C_t[k] h_t[d, k],

:math:`A = -\exp(A_{\log})`. The state is h flattened row-major (index
``d * N + k``): ``state_size`` = D·N, ``hidden_size`` = D. Since Δ, B, C
depend on the input only, :math:`J_t = \operatorname{diag}(\exp(\Delta_t \otimes A))`:
diagonal, input-driven, every entry in (0, 1) — the "selection" that the
paper says lets the model keep or forget (its discussion of Δ: large Δ resets
the state, small Δ keeps it). Algorithm and equation numbers as in arXiv v1, from
memory: not re-checked against the PDF here.

Defaults, from the authors' ``Mamba`` module: N = ``d_state`` = 16;
S4D-real :math:`A_{\log}[d, k] = \log k`; ``dt_rank`` R = ⌈d_model/16⌉ with
``d_model`` = m, the block's input width (``in_proj`` maps m to D; D and m
are set independently here, where Mamba's ``expand = 2`` has D = 2m), so
:math:`W_\Delta` = ``dt_proj.weight`` (uniform ±R^{-1/2}, ``dt_scale`` 1) times
the Δ rows of ``x_proj`` (``nn.Linear(D, R)``: uniform ±D^{-1/2}); the bias
:math:`b_\Delta` is the inverse softplus of Δ drawn log-uniform in
[``dt_min``, ``dt_max``] = [0.001, 0.1] (floor 1e-4); :math:`W_B, W_C` the B and C
rows of ``x_proj``; :math:`W_{in}` the x-half of ``in_proj`` (``nn.Linear(m, D)``,
uniform ±m^{-1/2}, no bias). The block's convolution and output gate sit
outside the recurrence and are left out: they change the inputs u_t, not
:math:`\partial h_t / \partial h_{t-1}`.
"""

from __future__ import annotations

import math
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
    finite_float,
    frozen,
)

__all__ = ["CELL", "S6Cell", "draw"]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class S6Cell(ZooCellBase):
    r"""The S6 recurrence on a (D, N) state (module docstring).

    Parameters
    ----------
    A_log : (D, N) array_like
        :math:`A = -\exp(A_{\log})`.
    W_delta : (D, D) array_like
    b_delta : (D,) array_like
    W_B, W_C : (N, D) array_like
    W_in : (D, m) array_like
    init : mapping, optional
    """

    A_log: FloatArray
    W_delta: FloatArray
    b_delta: FloatArray
    W_B: FloatArray
    W_C: FloatArray
    W_in: FloatArray
    init: Mapping[str, Any] = field(default_factory=dict)

    NAME = "s6"
    PAPER = Paper(
        authors="Gu & Dao",
        year=2023,
        title="Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
        venue="arXiv preprint (COLM 2024)",
        arxiv="2312.00752",
    )
    HYPER: ClassVar[Mapping[str, Hyper]] = {
        "state_dim": Hyper(16, "Gu & Dao 2023, Mamba module: d_state = 16", "init"),
        "dt_min": Hyper(0.001, "Gu & Dao 2023, Mamba module: dt_min", "init"),
        "dt_max": Hyper(0.1, "Gu & Dao 2023, Mamba module: dt_max", "init"),
        "dt_init_floor": Hyper(1e-4, "Gu & Dao 2023, Mamba module: dt_init_floor", "init"),
        "dt_scale": Hyper(1.0, "Gu & Dao 2023, Mamba module: dt_scale (dt_init random)", "init"),
        "dt_rank": Hyper(
            "ceil(m/16)", "Gu & Dao 2023, Mamba module: dt_rank auto = ceil(d_model/16)", "init"
        ),
    }
    ARRAYS = ("A_log", "W_delta", "b_delta", "W_B", "W_C", "W_in")

    def __post_init__(self) -> None:
        A_log = np.asarray(self.A_log)
        if A_log.ndim != 2 or 0 in A_log.shape:
            raise ConfigError(f"A_log must be (D, N), got shape {A_log.shape}")
        D, N = A_log.shape
        W_in = np.asarray(self.W_in)
        if W_in.ndim != 2 or W_in.shape[0] != D or W_in.shape[1] == 0:
            raise ConfigError(f"W_in must be (D, m) = ({D}, m), got shape {W_in.shape}")
        object.__setattr__(self, "A_log", frozen(A_log, "A_log", (D, N)))
        object.__setattr__(self, "W_in", frozen(W_in, "W_in", W_in.shape))
        object.__setattr__(self, "W_delta", frozen(self.W_delta, "W_delta", (D, D)))
        object.__setattr__(self, "b_delta", frozen(self.b_delta, "b_delta", (D,)))
        object.__setattr__(self, "W_B", frozen(self.W_B, "W_B", (N, D)))
        object.__setattr__(self, "W_C", frozen(self.W_C, "W_C", (N, D)))
        object.__setattr__(self, "init", dict(self.init))

    @property
    def hidden_size(self) -> int:
        """D, the channels."""
        return int(self.A_log.shape[0])

    @property
    def state_dim(self) -> int:
        """N, the state per channel."""
        return int(self.A_log.shape[1])

    @property
    def input_size(self) -> int:
        """m, the width of one input vector (before ``W_in``)."""
        return int(self.W_in.shape[1])

    @property
    def state_size(self) -> int:
        """D·N: the state h is (D, N), flattened row-major."""
        return self.hidden_size * self.state_dim

    @property
    def A(self) -> FloatArray:
        """:math:`A = -\\exp(A_{\\log})`, (D, N)."""
        out: FloatArray = -np.exp(self.A_log)
        return out


def draw(hidden: int, inputs: int, rng: np.random.Generator, hyper: dict[str, Any]) -> S6Cell:
    """Draw an :class:`S6Cell` as the authors' ``Mamba`` module initialises it."""
    D = hidden
    N = check_positive_int(hyper["state_dim"], "state_dim")
    rank_spec = hyper["dt_rank"]
    R = (
        math.ceil(inputs / 16)
        if isinstance(rank_spec, str)
        else check_positive_int(rank_spec, "dt_rank")
    )
    dt_min, dt_max = (
        finite_float(hyper["dt_min"], "dt_min"),
        finite_float(hyper["dt_max"], "dt_max"),
    )
    if not 0 < dt_min <= dt_max:
        raise ConfigError(f"need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
    floor = finite_float(hyper["dt_init_floor"], "dt_init_floor")
    dt_scale = finite_float(hyper["dt_scale"], "dt_scale")
    W_in = rng.uniform(-1.0, 1.0, size=(D, inputs)) / math.sqrt(inputs)
    x_proj = rng.uniform(-1.0, 1.0, size=(R + 2 * N, D)) / math.sqrt(D)
    dt_proj = rng.uniform(-1.0, 1.0, size=(D, R)) * (dt_scale * R**-0.5)
    dt = np.exp(rng.uniform(math.log(dt_min), math.log(dt_max), size=D))
    dt = np.maximum(dt, floor)
    b_delta = dt + np.log(-np.expm1(-dt))  # inverse softplus
    A_log = np.log(np.broadcast_to(np.arange(1, N + 1, dtype=np.float64), (D, N)))
    return S6Cell(
        A_log=A_log,
        W_delta=dt_proj @ x_proj[:R],
        b_delta=b_delta,
        W_B=x_proj[R : R + N],
        W_C=x_proj[R + N :],
        W_in=W_in,
        init={
            "state_dim": N,
            "dt_min": dt_min,
            "dt_max": dt_max,
            "dt_init_floor": floor,
            "dt_scale": dt_scale,
            "dt_rank": rank_spec,
        },
    )


CELL = S6Cell
