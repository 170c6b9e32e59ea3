r"""Search tools shared by the claim checks, every evaluation charged to a budget.

* :func:`evaluate` — log10 :math:`\|\partial h_{end}/\partial h_{start}\|_2` of one
  run, exactly (one evaluation).
* :func:`adversarial_inputs` — maximise or minimise that number over the input
  sequence by a (1+λ) evolution strategy with step-size adaptation (the 1/5th
  success rule), starting from random inputs; deterministic given its seed.
* :func:`structured_weights` — the structured cases random draws miss: scaled
  orthogonal, identity, and non-normal matrices with given eigenvalues and a
  large norm.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gradscope.claims.base import Budget, BudgetExhaustedError, Counterexample
from gradscope.init import recurrent_weights
from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.graded.bounds import json_error
from gradscope.numeric.norms import spectral_norm, spectral_radius
from gradscope.numeric.products import (
    SpectralNorm,
    compute_spectral_norm,
    log10_norm_trajectory,
    log10_product_norm,
)

__all__ = [
    "Search",
    "adversarial_inputs",
    "counterexample",
    "evaluate",
    "measured_norm_of",
    "observed_norm",
    "structured_weights",
    "surely_above",
    "surely_below",
    "weight_facts",
]

FloatArray = NDArray[np.float64]


def evaluate(
    budget: Budget,
    rnn: RNN,
    inputs: FloatArray,
    h0: FloatArray | None = None,
    *,
    start: int = 0,
    end: int | None = None,
) -> float:
    r"""log10 :math:`\|\partial h_{end}/\partial h_{start}\|_2`, charged as one evaluation."""
    budget.spend()
    return float(log10_product_norm(rnn_steps(rnn, inputs, h0), start=start, end=end))


def measured_norm_of(cex: Counterexample) -> SpectralNorm:
    r"""log10 :math:`\|\partial h_{end}/\partial h_{start}\|_2` of a counterexample's run,
    with the bound on its error that the product computed."""
    steps = rnn_steps(cex.rnn, cex.inputs, cex.h0)
    return compute_spectral_norm(steps, start=cex.start, end=cex.end)


def _error(m: SpectralNorm) -> float:
    err = float(m.log10_error)
    return 0.0 if math.isnan(err) else err  # NaN: an exact zero, no error


def surely_above(m: SpectralNorm, level: float) -> bool:
    """The exact norm is above ``level`` (log10) whatever the rounding (False if undetermined)."""
    return float(m.log10_norm) - _error(m) > level


def surely_below(m: SpectralNorm, level: float) -> bool:
    """The exact norm is below ``level`` (log10) whatever the rounding (False if undetermined)."""
    return float(m.log10_norm) + _error(m) < level


def observed_norm(m: SpectralNorm) -> dict[str, float | str | None]:
    """A measured norm and its error bound, for a replay's ``observed`` (JSON-safe)."""
    return {"log10_norm": float(m.log10_norm), "log10_error": json_error(float(m.log10_error))}


def trajectory(
    budget: Budget, rnn: RNN, inputs: FloatArray, h0: FloatArray | None = None
) -> FloatArray:
    r"""log10 :math:`\|\partial h_t/\partial h_0\|_2` for t = 1..T, charged as one evaluation."""
    budget.spend()
    out: FloatArray = log10_norm_trajectory(rnn_steps(rnn, inputs, h0))
    return out


def weight_facts(W: FloatArray) -> dict[str, float]:
    """Spectral norm and spectral radius of W (both reported, never confused)."""
    return {"spectral_norm": spectral_norm(W), "spectral_radius": spectral_radius(W)}


@dataclass(frozen=True, slots=True)
class Search:
    """The best inputs an adversarial search found."""

    inputs: FloatArray
    value: float
    evaluations: int


def adversarial_inputs(
    budget: Budget,
    rnn: RNN,
    T: int,
    *,
    maximise: bool,
    rng: np.random.Generator,
    h0: FloatArray | None = None,
    start: int = 0,
    scale: float = 1.0,
    offspring: int = 4,
    generations: int = 40,
) -> Search:
    r"""Inputs that make log10 :math:`\|\partial h_T/\partial h_{start}\|_2` large or small.

    A (1+λ) evolution strategy: each generation perturbs the best inputs so far
    by Gaussian noise of step size ``sigma`` and keeps the best child if it
    improves; ``sigma`` grows on success and shrinks on failure. Stops after
    ``generations`` or when the budget is spent, returning the best found.
    """
    sign = 1.0 if maximise else -1.0
    best_x = scale * rng.standard_normal((T, rnn.input_size))
    used = 0
    try:
        best = sign * evaluate(budget, rnn, best_x, h0, start=start)
        used += 1
        sigma = 0.5 * max(scale, 1e-3)
        for _ in range(generations):
            improved = False
            for _ in range(offspring):
                child = best_x + sigma * rng.standard_normal(best_x.shape)
                value = sign * evaluate(budget, rnn, child, h0, start=start)
                used += 1
                if value > best:
                    best, best_x, improved = value, child, True
            sigma *= 1.5 if improved else 0.7
    except BudgetExhaustedError:
        pass
    return Search(inputs=best_x, value=sign * best if used else math.nan, evaluations=used)


def structured_weights(
    n: int, rng: np.random.Generator, *, scales: tuple[float, ...] = (0.5, 0.9, 1.0, 1.1)
) -> Iterator[tuple[str, FloatArray]]:
    """Scaled orthogonal, identity and non-normal matrices (norm and radius scalings)."""
    for s in scales:
        seed = int(rng.integers(2**32))
        yield f"orthogonal, ‖W‖₂ = {s}", recurrent_weights("orthogonal", n, norm=s, seed=seed)
        yield f"identity, ‖W‖₂ = {s}", recurrent_weights("identity", n, norm=s, seed=seed)
        yield (
            f"non-normal, ρ(W) = {s}",
            recurrent_weights("non-normal", n, radius=s, seed=seed),
        )


def counterexample(
    claim: str,
    rnn: RNN,
    inputs: FloatArray,
    *,
    h0: FloatArray | None = None,
    start: int,
    end: int,
    observed: Mapping[str, object],
    note: str,
    seed: int,
    extra: Mapping[str, object] | None = None,
) -> Counterexample:
    """Package a finding as a replayable :class:`Counterexample`."""
    return Counterexample(
        claim=claim,
        activation=rnn.activation.name,
        W_hh=rnn.W_hh,
        W_xh=rnn.W_xh,
        b=rnn.b,
        h0=np.zeros(rnn.hidden_size) if h0 is None else h0,
        inputs=inputs,
        start=start,
        end=end,
        extra=extra or {},
        observed=observed,
        note=note,
        seed=seed,
    )
