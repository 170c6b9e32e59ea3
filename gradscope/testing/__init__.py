r"""Helpers for users' own tests: assertions whose failures show the numbers.

>>> import numpy as np
>>> from gradscope.model import RNN
>>> rnn = RNN(W_hh=0.5 * np.eye(2), W_xh=np.ones((2, 1)), activation="linear")
>>> assert_bound_holds(rnn, np.zeros((30, 1)))  # ‖∂h_30/∂h_0‖₂ = 0.5^30 ≤ (1·0.5)^30
>>> assert_vanishes(rnn, np.zeros((30, 1)), below=1e-6)

Hypothesis strategies live in :mod:`gradscope.testing.strategies` (imported on
demand, since they need hypothesis), and a pytest plugin
(:mod:`gradscope.testing.plugin`, registered as a ``pytest11`` entry point)
adds a ``--gradscope-seed`` option and ``gradscope_seed`` / ``gradscope_rng``
fixtures.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from gradscope.claims import ClaimCheck, check_claim
from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.norms import spectral_norm
from gradscope.numeric.products import log10_product_norm
from gradscope.studies.bound import log10_norm_bound, rounding_tolerance

__all__ = ["assert_bound_holds", "assert_claim", "assert_vanishes"]


def assert_bound_holds(
    rnn: RNN,
    inputs: ArrayLike,
    h0: ArrayLike | None = None,
    *,
    start: int = 0,
    end: int | None = None,
) -> None:
    r"""Assert :math:`\|\partial h_e/\partial h_k\|_2 \le (\gamma\|W_{hh}\|_2)^{e-k}`.

    Judged in log10 with the rounding tolerance of
    :func:`gradscope.studies.bound.rounding_tolerance`.

    Raises
    ------
    AssertionError
        With the measured value, the bound and their difference.
    """
    x = np.asarray(inputs, dtype=np.float64)
    stop = x.shape[0] if end is None else end
    measured = float(log10_product_norm(rnn_steps(rnn, x, h0), start=start, end=stop))
    bound = log10_norm_bound(stop - start, rnn.activation.gamma, spectral_norm(rnn.W_hh))
    tol = rounding_tolerance(stop - start, rnn.hidden_size)
    if not measured <= bound + tol:
        raise AssertionError(
            f"bound violated: log10 ‖∂h_{stop}/∂h_{start}‖₂ = {measured:.12g} > "
            f"(T−k)·log10(γ‖W_hh‖₂) = {bound:.12g} (excess {measured - bound:.3g}, "
            f"tolerance {tol:.1e})"
        )


def assert_vanishes(
    rnn: RNN,
    inputs: ArrayLike,
    h0: ArrayLike | None = None,
    *,
    below: float = 1e-2,
    start: int = 0,
    end: int | None = None,
) -> None:
    r"""Assert :math:`\|\partial h_{end}/\partial h_{start}\|_2 < ` ``below``.

    Raises
    ------
    AssertionError
        With the measured log10 norm.
    """
    measured = float(log10_product_norm(rnn_steps(rnn, inputs, h0), start=start, end=end))
    if not measured < math.log10(below):
        raise AssertionError(
            f"gradient does not vanish: log10 ‖∂h_end/∂h_{start}‖₂ = {measured:.6g} ≥ "
            f"log10({below:g}) = {math.log10(below):.6g}"
        )


def assert_claim(
    claim_id: str, verdict: str | None = None, *, budget: int | None = None, seed: int = 0
) -> ClaimCheck:
    """Judge a claim and assert its verdict (default: assert that it holds).

    Returns the :class:`~gradscope.claims.ClaimCheck` so a test can look at the
    evidence and counterexamples.

    Raises
    ------
    AssertionError
        With the verdict, the evidence and the first counterexample's note.
    """
    expected = verdict or "holds"
    result = check_claim(claim_id, budget=budget, seed=seed)
    if result.verdict != expected:
        first = result.counterexamples[0].note if result.counterexamples else "none"
        raise AssertionError(
            f"claim {claim_id!r}: verdict {result.verdict!r}, expected {expected!r}; "
            f"evidence: {result.evidence}; first counterexample: {first}"
        )
    return result
