"""The tutorial's claims, each judged by a program (DESIGN.md §4).

>>> from gradscope.claims import CLAIM_IDS
>>> len(CLAIM_IDS)
9
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from gradscope.claims.base import (
    VERDICTS,
    Budget,
    Claim,
    ClaimCheck,
    Counterexample,
    Replay,
)
from gradscope.errors import ConfigError

__all__ = [
    "CLAIM_IDS",
    "VERDICTS",
    "Budget",
    "Claim",
    "ClaimCheck",
    "Counterexample",
    "Replay",
    "check_claim",
    "check_claims",
    "get_claim",
    "replay",
]

# id -> module (one module per claim), in the tutorial's order
_MODULES = {
    "weight-sharing": "weight_sharing",
    "jacobian-product": "jacobian_product",
    "eigenvalue-criterion": "eigenvalue_criterion",
    "linear-norm-bound": "linear_norm_bound",
    "orthogonal-preserves-norm": "orthogonal_preserves_norm",
    "clipping-direction": "clipping_direction",
    "memory-horizon": "memory_horizon",
    "truncated-bptt": "truncated_bptt",
    "tanh-saturation": "tanh_saturation",
}
CLAIM_IDS: tuple[str, ...] = tuple(_MODULES)


def get_claim(claim_id: str) -> Claim:
    """The :class:`Claim` with this id.

    Raises
    ------
    ConfigError
        For an unknown id.
    """
    try:
        module = _MODULES[claim_id]
    except KeyError:
        raise ConfigError(
            f"unknown claim {claim_id!r}; choose from: {', '.join(CLAIM_IDS)}"
        ) from None
    claim: Claim = importlib.import_module(f"gradscope.claims.{module}").CLAIM
    return claim


def check_claim(claim_id: str, *, budget: int | None = None, seed: int = 0) -> ClaimCheck:
    """Judge one claim within ``budget`` evaluations, from seeds ``seed`` and ``seed + 1``.

    Every ``violated`` verdict must be found from both seeds.
    """
    claim = get_claim(claim_id)
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    return claim.check(Budget(budget or claim.default_budget), (seed, seed + 1))


def check_claims(
    claim_ids: Sequence[str] | None = None, *, budget: int | None = None, seed: int = 0
) -> list[ClaimCheck]:
    """Judge several claims (default: all nine, in the tutorial's order)."""
    ids = list(claim_ids) if claim_ids else list(CLAIM_IDS)
    for claim_id in ids:
        get_claim(claim_id)  # fail on an unknown id before any work
    return [check_claim(c, budget=budget, seed=seed) for c in ids]


def replay(counterexample: Counterexample) -> Replay:
    """Recompute a counterexample from scratch with its claim's own replay."""
    return get_claim(counterexample.claim).replay(counterexample)
