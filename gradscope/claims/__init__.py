"""The tutorial's claims, each judged by a program (DESIGN.md §4).

>>> from gradscope.claims import CLAIM_IDS
>>> len(CLAIM_IDS)
9
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from gradscope.claim_ids import CLAIM_IDS, CLAIM_MODULES
from gradscope.claims.base import (
    VERDICTS,
    Budget,
    Claim,
    ClaimCheck,
    Counterexample,
    Replay,
)
from gradscope.errors import ConfigError, NumericalError, SizeError

__all__ = [
    "CLAIM_IDS",
    "MAX_CHECK_SECONDS",
    "VERDICTS",
    "Budget",
    "Claim",
    "ClaimCheck",
    "Counterexample",
    "Replay",
    "check_budget",
    "check_claim",
    "check_claims",
    "estimate_check_seconds",
    "get_claim",
    "replay",
]

_MODULES = CLAIM_MODULES  # id -> module (one module per claim)


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


#: The longest claim check gradscope starts, in seconds (estimated before any work).
MAX_CHECK_SECONDS = 600.0


def estimate_check_seconds(claim_ids: Sequence[str] | None, budget: int | None) -> float:
    """A generous estimate of the seconds :func:`check_claims` takes, before any work.

    Each claim's evaluations (``budget``, or its default) times its
    ``seconds_per_evaluation``, summed.

    Raises
    ------
    ConfigError
        For an unknown id.

    Examples
    --------
    >>> estimate_check_seconds(["linear-norm-bound"], 1000) == 1000 * get_claim(
    ...     "linear-norm-bound").seconds_per_evaluation
    True
    """
    claims = [get_claim(c) for c in (claim_ids or CLAIM_IDS)]
    return math.fsum((budget or c.default_budget) * c.seconds_per_evaluation for c in claims)


def _duration(seconds: float) -> str:
    if seconds > 1000 * 365.25 * 86400:
        return "more than 1,000 years"
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= 2 * size:
            return f"about {seconds / size:,.0f} {unit}"
    return f"about {seconds / 60:.0f} minutes"


def _count(n: int) -> str:
    """An integer for a message, also one with thousands of digits (str() refuses those)."""
    if n < 10**15:
        return f"{n:,}"
    return f"about 10^{int(n.bit_length() * math.log10(2))}"


def check_budget(claim_ids: Sequence[str] | None = None, budget: int | None = None) -> None:
    """Refuse, before any work, a budget whose check would run past :data:`MAX_CHECK_SECONDS`.

    Raises
    ------
    SizeError
        Naming the estimate and the largest ``--budget`` that fits.
    ConfigError
        For an unknown id or a budget below 1.
    """
    if budget is not None and budget < 1:
        raise ConfigError(f"the budget must be at least 1 evaluation, got {budget}")
    ids = list(claim_ids or CLAIM_IDS)
    seconds = estimate_check_seconds(ids, None if budget is None else min(budget, 10**30))
    if budget is None or seconds <= MAX_CHECK_SECONDS:
        return
    per_unit = estimate_check_seconds(ids, 1)
    fits = int(MAX_CHECK_SECONDS / per_unit)
    what = f"{len(ids)} claims" if len(ids) > 1 else ids[0]
    raise SizeError(
        f"--budget {_count(budget)} evaluations per claim ({what}) would take "
        f"{_duration(seconds)} here, over the limit of {MAX_CHECK_SECONDS / 60:.0f} minutes: "
        f"use --budget {fits} or less"
    )


def check_claim(claim_id: str, *, budget: int | None = None, seed: int = 0) -> ClaimCheck:
    """Judge one claim within ``budget`` evaluations, from seeds ``seed`` and ``seed + 1``.

    Every ``violated`` verdict must be found from both seeds.

    Raises
    ------
    SizeError
        Before any work, for a budget that would run past :data:`MAX_CHECK_SECONDS`.
    """
    claim = get_claim(claim_id)
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    check_budget([claim_id], budget)
    return claim.check(Budget(budget or claim.default_budget), (seed, seed + 1))


def check_claims(
    claim_ids: Sequence[str] | None = None, *, budget: int | None = None, seed: int = 0
) -> list[ClaimCheck]:
    """Judge several claims (default: all nine, in the tutorial's order).

    Unknown ids and a budget too large for all of them together
    (:func:`check_budget`) are refused before any work.
    """
    ids = list(claim_ids) if claim_ids else list(CLAIM_IDS)
    check_budget(ids, budget)  # also fails on an unknown id
    return [check_claim(c, budget=budget, seed=seed) for c in ids]


def _first_nan(value: Any, key: str, allowed: frozenset[str]) -> str | None:
    """The key path of the first NaN in a replay's observed numbers, outside ``allowed``."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if str(k) in allowed:
                continue
            found = _first_nan(v, f"{key}.{k}" if key else str(k), allowed)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _first_nan(v, f"{key}[{i}]", allowed)
            if found is not None:
                return found
    elif isinstance(value, float) or type(value).__module__ == "numpy":
        try:
            if math.isnan(float(value)):
                return key
        except (TypeError, ValueError):
            return None
    return None


def replay(counterexample: Counterexample) -> Replay:
    """Recompute a counterexample from scratch with its claim's own replay.

    Raises
    ------
    NumericalError
        When a recomputed number is NaN (its fields overflow float64 in the
        claim's computation: an altered file); no verdict is given then.
    """
    import numpy as np

    claim = get_claim(counterexample.claim)
    with np.errstate(all="ignore"):  # a NaN is refused below, in one line, not warned about
        result = claim.replay(counterexample)
    bad = _first_nan(result.observed, "", claim.may_be_nan)
    if bad is not None:
        raise NumericalError(
            f"replay of a {claim.id} counterexample: the recomputed {bad} is NaN (its numbers "
            "overflow float64 in this claim's computation), so it neither contradicts nor "
            "supports the claim; the file was altered or is not one gradscope check wrote"
        )
    return result
