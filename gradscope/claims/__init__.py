"""The tutorial's claims and the papers', each judged by a program (DESIGN.md §4).

>>> from gradscope.claims import CLAIM_IDS, PAPER_CLAIM_IDS
>>> len(CLAIM_IDS), "jordan-block-law" in PAPER_CLAIM_IDS
(9, True)
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from gradscope.claim_ids import (
    ALL_CLAIM_IDS,
    CLAIM_IDS,
    CLAIM_MODULES,
    CLAIM_SOURCE,
    PAPER_CLAIM_IDS,
    SOURCES,
    ids_of_source,
)
from gradscope.claims.base import (
    VERDICTS,
    Budget,
    Claim,
    ClaimCheck,
    Counterexample,
    Replay,
)
from gradscope.claims.cell_counterexample import CellCounterexample, read_counterexample
from gradscope.errors import ConfigError, NumericalError, SizeError

__all__ = [
    "ALL_CLAIM_IDS",
    "CLAIM_IDS",
    "CLAIM_SOURCE",
    "MAX_CHECK_SECONDS",
    "PAPER_CLAIM_IDS",
    "SOURCES",
    "VERDICTS",
    "Budget",
    "CellCounterexample",
    "Claim",
    "ClaimCheck",
    "Counterexample",
    "Replay",
    "check_budget",
    "check_claim",
    "check_claims",
    "estimate_check_seconds",
    "get_claim",
    "read_counterexample",
    "replay",
    "select_claims",
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
            f"unknown claim {claim_id!r}; choose from: {', '.join(ALL_CLAIM_IDS)}"
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


def select_claims(claim_ids: Sequence[str] | None = None, source: str | None = None) -> list[str]:
    """The ids to check: ``claim_ids`` (each of ``source`` when it is given), or all of ``source``.

    Without ids, ``source`` defaults to ``tutorial`` (the nine claims of the
    seed, as before the papers' claims existed); ``all`` is the tutorial's then
    the papers'.

    Raises
    ------
    ConfigError
        For an unknown source or id, or an id of another source than ``source``.

    Examples
    --------
    >>> select_claims(source="papers")[0]
    'jordan-block-law'
    """
    if source is not None and source not in (*SOURCES, "all"):
        raise ConfigError(f"unknown source {source!r}; choose from: tutorial, papers, all")
    if not claim_ids:
        return list(ids_of_source(source or "tutorial"))
    for claim_id in claim_ids:
        get_claim(claim_id)  # an unknown id: the ConfigError naming the known
        if source not in (None, "all") and CLAIM_SOURCE[claim_id] != source:
            raise ConfigError(
                f"claim {claim_id!r} is one of the {CLAIM_SOURCE[claim_id]}' claims, not of "
                f"--source {source}; drop the id or use --source {CLAIM_SOURCE[claim_id]} or all"
            )
    return list(claim_ids)


def check_claims(
    claim_ids: Sequence[str] | None = None,
    *,
    budget: int | None = None,
    seed: int = 0,
    source: str | None = None,
) -> list[ClaimCheck]:
    """Judge several claims (default: the tutorial's nine, in the tutorial's order).

    ``source`` (``tutorial``, ``papers`` or ``all``) picks a group when no ids
    are given, and must agree with the ids when both are (:func:`select_claims`).
    Unknown ids and a budget too large for all of them together
    (:func:`check_budget`) are refused before any work.
    """
    ids = select_claims(claim_ids, source)
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


def replay(counterexample: Counterexample | CellCounterexample) -> Replay:
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
