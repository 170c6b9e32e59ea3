r"""What a claim check is made of: claims, verdicts, counterexamples, budgets.

A :class:`Claim` carries the tutorial's statement (its words and LaTeX), the
setting it is read in (which product, which norm, which activation, which
indices), a ``check`` that searches for evidence within a budget counted in
evaluations (so a verdict is reproducible byte for byte), and a ``replay`` that
recomputes a counterexample from its JSON alone.

Verdicts (DESIGN.md §4):

``holds``
    No counterexample within the budget, and the evidence supports the claim.
``violated``
    False as written: a counterexample in the claim's own setting, found from
    at least two different seeds.
``holds-under``
    True under conditions the tutorial does not state; the conditions are
    given, with a counterexample to the unconditional reading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError, GradscopeError
from gradscope.model import RNN, get_activation

__all__ = [
    "VERDICTS",
    "Budget",
    "BudgetExhaustedError",
    "Claim",
    "ClaimCheck",
    "Counterexample",
    "Replay",
    "search_each_seed",
]

FloatArray = NDArray[np.float64]
_R = TypeVar("_R")
VERDICTS = ("holds", "violated", "holds-under")


class BudgetExhaustedError(GradscopeError):
    """Raised inside a search when its evaluation budget is spent."""


class Budget:
    """A count of evaluations (one product norm, one gradient, one forward pass …).

    Searches call :meth:`spend` before each evaluation; when the budget is spent
    they stop with :class:`BudgetExhaustedError`. Counting evaluations instead of
    seconds makes every verdict reproducible byte for byte.
    """

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ConfigError(f"the budget must be at least 1 evaluation, got {total}")
        self.total = int(total)
        self.used = 0

    @property
    def left(self) -> int:
        return self.total - self.used

    def spend(self, n: int = 1) -> None:
        if self.used + n > self.total:
            raise BudgetExhaustedError(f"budget of {self.total} evaluations spent")
        self.used += n

    def share(self, fraction: float) -> Budget:
        """A sub-budget of ``fraction`` of what is left (at least 1), charged to this one."""
        sub = _SubBudget(self, max(1, int(self.left * fraction)))
        return sub


def search_each_seed(
    budget: Budget, seeds: Sequence[int], search: Callable[[Budget, int], _R]
) -> list[_R]:
    """Run ``search(sub_budget, seed)`` for every seed, sharing the budget evenly.

    Each seed gets an equal share of what is left when its turn comes, so the
    last seed also uses what earlier ones did not spend.
    """
    return [search(budget.share(1.0 / (len(seeds) - k)), s) for k, s in enumerate(seeds)]


class _SubBudget(Budget):
    def __init__(self, parent: Budget, total: int) -> None:
        super().__init__(total)
        self._parent = parent

    def spend(self, n: int = 1) -> None:
        super().spend(n)
        self._parent.spend(n)


def _array(value: Any, name: str, ndim: int) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        raise ConfigError(f"counterexample field {name!r} must be {ndim}-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"counterexample field {name!r} contains NaN or Inf")
    arr = arr.copy()
    arr.flags.writeable = False
    return arr


def _jsonable(value: Any) -> Any:
    """Arrays to lists; non-finite floats to None (DESIGN.md §3); recursively."""
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Counterexample:
    r"""A self-contained, replayable instance that contradicts a claim.

    Attributes
    ----------
    claim : str
        The claim's id.
    activation : str
    W_hh, W_xh, b, h0, inputs : ndarray
        The RNN, its initial state and its (T, m) inputs.
    start, end : int
        The product :math:`\partial h_{end}/\partial h_{start}` (DESIGN.md §1
        indexing: end − start factors).
    extra : dict
        Claim-specific fields (``W_hy`` and ``targets``, a truncation length,
        a gradient and θ, …), JSON values.
    observed : dict
        The numbers that contradict the claim, as computed when found.
    note : str
        One line: what the example shows.
    seed : int or None
        The search seed that found it.
    """

    claim: str
    activation: str
    W_hh: FloatArray
    W_xh: FloatArray
    b: FloatArray
    h0: FloatArray
    inputs: FloatArray
    start: int
    end: int
    extra: Mapping[str, Any] = field(default_factory=dict)
    observed: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    seed: int | None = None

    def __post_init__(self) -> None:
        for name, ndim in (("W_hh", 2), ("W_xh", 2), ("b", 1), ("h0", 1), ("inputs", 2)):
            object.__setattr__(self, name, _array(getattr(self, name), name, ndim))
        get_activation(self.activation)
        T = self.inputs.shape[0]
        if not 0 <= self.start < self.end <= T:
            raise ConfigError(
                f"counterexample needs 0 <= start < end <= T = {T}, "
                f"got start={self.start}, end={self.end}"
            )

    @property
    def rnn(self) -> RNN:
        """The RNN of the counterexample (validated on construction)."""
        act = get_activation(self.activation)
        return RNN(W_hh=self.W_hh, W_xh=self.W_xh, b=self.b, activation=act)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "claim": self.claim,
            "note": self.note,
            "seed": self.seed,
            "activation": self.activation,
            "start": self.start,
            "end": self.end,
            "W_hh": self.W_hh,
            "W_xh": self.W_xh,
            "b": self.b,
            "h0": self.h0,
            "inputs": self.inputs,
        }
        out.update(self.extra)
        out["observed"] = dict(self.observed)
        return _jsonable(out)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counterexample:
        """Rebuild from :meth:`to_dict`'s output (e.g. parsed JSON); validated."""
        if not isinstance(data, Mapping):
            raise ConfigError("a counterexample must be a JSON object")
        core = ("claim", "activation", "W_hh", "W_xh", "b", "h0", "inputs", "start", "end")
        missing = [k for k in core if k not in data]
        if missing:
            raise ConfigError(f"counterexample lacks field(s): {', '.join(missing)}")
        skip = {*core, "observed", "note", "seed"}
        try:
            return cls(
                claim=str(data["claim"]),
                activation=str(data["activation"]),
                W_hh=data["W_hh"],
                W_xh=data["W_xh"],
                b=data["b"],
                h0=data["h0"],
                inputs=data["inputs"],
                start=int(data["start"]),
                end=int(data["end"]),
                extra={k: v for k, v in data.items() if k not in skip},
                observed=dict(data.get("observed") or {}),
                note=str(data.get("note", "")),
                seed=None if data.get("seed") is None else int(data["seed"]),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"malformed counterexample: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    """A counterexample recomputed from scratch.

    Attributes
    ----------
    claim : str
    observed : dict
        The numbers recomputed now.
    contradicts : bool
        Whether they still contradict the claim.
    message : str
        One line for a person.
    """

    claim: str
    observed: Mapping[str, Any]
    contradicts: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(  # type: ignore[no-any-return]
            {
                "claim": self.claim,
                "contradicts": self.contradicts,
                "message": self.message,
                "observed": dict(self.observed),
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimCheck:
    """The verdict on one claim, with its evidence.

    Attributes
    ----------
    id, statement, latex, setting : str
        The claim, in the tutorial's words and LaTeX, and how it was read.
    verdict : {"holds", "violated", "holds-under"}
    evidence : str
        One line of evidence in numbers.
    numbers : dict
        The evidence's numbers.
    conditions : str or None
        For ``holds-under``: when it holds.
    corrected : str or None
        The corrected statement, where the verdict is not ``holds``.
    source : str or None
        Where the correction comes from.
    counterexamples : tuple of Counterexample
    evaluations : int
        Evaluations spent (the budget is counted, so the verdict is reproducible).
    seeds : tuple of int
        The search seeds used.
    tolerance : str
        How "holds" was judged in floating point.
    """

    id: str
    statement: str
    latex: str
    setting: str
    verdict: str
    evidence: str
    numbers: Mapping[str, Any]
    conditions: str | None
    corrected: str | None
    source: str | None
    counterexamples: tuple[Counterexample, ...]
    evaluations: int
    seeds: tuple[int, ...]
    tolerance: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(  # type: ignore[no-any-return]
            {
                "id": self.id,
                "verdict": self.verdict,
                "statement": self.statement,
                "latex": self.latex,
                "setting": self.setting,
                "evidence": self.evidence,
                "numbers": dict(self.numbers),
                "conditions": self.conditions,
                "corrected": self.corrected,
                "source": self.source,
                "tolerance": self.tolerance,
                "evaluations": self.evaluations,
                "seeds": list(self.seeds),
                "counterexamples": [c.to_dict() for c in self.counterexamples],
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """A claim of the tutorial: its words, its setting, how to check and replay it."""

    id: str
    statement: str
    latex: str
    setting: str
    check: Callable[[Budget, Sequence[int]], ClaimCheck] = field(repr=False)
    replay: Callable[[Counterexample], Replay] = field(repr=False)
    default_budget: int = 2000
