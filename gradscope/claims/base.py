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
from gradscope.records import json_number

__all__ = [
    "VERDICTS",
    "Budget",
    "BudgetExhaustedError",
    "Claim",
    "ClaimCheck",
    "Counterexample",
    "Part",
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


def _shown(value: Any) -> str:
    """A field's value in a message: short, and safe for integers of any size."""
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        n = int(value)
        return (
            str(n)
            if abs(n) < 10**15
            else f"an integer of about {n.bit_length() * 0.30103:.0f} digits"
        )
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "…"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "a list"
    return type(value).__name__


def _bad(name: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"counterexample field {name!r} must be {expected}, got {_shown(value)}")


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _integer(value: Any, name: str, expected: str, low: int, high: int | None = None) -> int:
    """An integer in [low, high] (not a bool, not a float such as 1.0 or 1.7)."""
    if not _is_integer(value) or value < low or (high is not None and value > high):
        raise _bad(name, expected, value)
    return int(value)


def _number(value: Any, name: str, expected: str) -> float:
    """A finite number > 0 (not a bool, not text)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise _bad(name, expected, value)
    try:
        x = float(value)
    except OverflowError:  # an integer past float64's range
        raise _bad(name, expected, value) from None
    if not (math.isfinite(x) and x > 0):
        raise _bad(name, expected, value)
    return x


def _text(value: Any, name: str, expected: str = "text") -> str:
    if not isinstance(value, str):
        raise _bad(name, expected, value)
    return value


def _numbers_only(value: Any, name: str) -> None:
    """Every leaf of a nested list is a JSON number (numpy would read true as 1, "1" as 1)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, float, np.number)):
            raise ConfigError(
                f"counterexample field {name!r} must hold numbers only, got {_shown(item)} in it"
            )


def _array(value: Any, name: str, shape: Sequence[tuple[str, int | None]]) -> FloatArray:
    """A finite float64 array of the given shape; each axis is (symbol, size or None)."""
    want = "(" + ", ".join(sym for sym, _ in shape) + ("," if len(shape) == 1 else "") + ")"
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise ConfigError(
                f"counterexample field {name!r} must hold numbers, got {value.dtype}"
            )
    elif isinstance(value, (list, tuple)):
        _numbers_only(value, name)
    else:
        raise _bad(name, f"a {len(shape)}-D array {want} of numbers", value)
    try:
        arr = np.array(value, dtype=np.float64)
    except (ValueError, OverflowError):  # ragged, or an integer past float64's range
        raise ConfigError(
            f"counterexample field {name!r} must be a rectangular {len(shape)}-D array {want} "
            "of float64 numbers"
        ) from None
    if arr.ndim != len(shape) or 0 in arr.shape:
        raise ConfigError(
            f"counterexample field {name!r} must be a non-empty {len(shape)}-D array {want}, "
            f"got shape {arr.shape}"
        )
    for axis, (_, size) in enumerate(shape):
        if size is not None and arr.shape[axis] != size:
            sizes = ", ".join(str(n) if n is not None else sym for sym, n in shape)
            raise ConfigError(
                f"counterexample field {name!r} must have shape {want} = ({sizes}"
                f"{',' if len(shape) == 1 else ''}), got {arr.shape}"
            )
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"counterexample field {name!r} contains NaN or Inf")
    arr.flags.writeable = False
    return arr


#: Extra fields each claim's replay needs (DESIGN.md §4); the rest are optional.
REQUIRED_EXTRA: Mapping[str, tuple[str, ...]] = {
    "weight-sharing": ("W_hy", "targets"),
    "clipping-direction": ("W_hy", "targets", "theta"),
    "truncated-bptt": ("W_hy", "targets"),
}
_TEXT_EXTRA = ("reading", "case", "scheme", "gradient", "norm")


def _check_run_fields(record: Any, T: int) -> None:
    """A counterexample's window, seed, note and observed numbers, checked and set.

    ``0 <= start < end <= T`` for a run of T steps; ``seed`` null or an integer >= 0;
    ``note`` text; ``observed`` an object. Shared by both kinds of counterexample file.
    """
    where = f"a step index with 0 <= start < end <= T = {T}"
    start = _integer(record.start, "start", f"an integer, {where}", 0, T - 1)
    end = _integer(record.end, "end", f"an integer, {where}", 1, T)
    if not start < end:
        raise ConfigError(
            f"counterexample needs 0 <= start < end <= T = {T}, got start={start}, end={end}"
        )
    object.__setattr__(record, "start", start)
    object.__setattr__(record, "end", end)
    if record.seed is not None:
        object.__setattr__(
            record, "seed", _integer(record.seed, "seed", "null or an integer >= 0", 0)
        )
    _text(record.note, "note")
    if not isinstance(record.observed, Mapping):
        raise _bad("observed", "an object", record.observed)


def _check_extra(claim: str, extra: Mapping[str, Any], n: int, end: int) -> dict[str, Any]:
    """The extra fields, each checked for type and range (arrays converted, read-only)."""
    if not isinstance(extra, Mapping):
        raise _bad("extra", "an object", extra)
    missing = [k for k in REQUIRED_EXTRA.get(claim, ()) if k not in extra]
    if missing:
        raise ConfigError(
            f"a {claim} counterexample lacks field(s): {', '.join(missing)} (its replay "
            "needs them)"
        )
    out = dict(extra)
    if "W_hy" in out:
        out["W_hy"] = _array(out["W_hy"], "W_hy", (("p", None), ("n", n)))
    if "targets" in out:
        p = out["W_hy"].shape[0] if "W_hy" in out else None
        targets = _array(out["targets"], "targets", (("T", None), ("p", p)))
        if targets.shape[0] < end:
            raise ConfigError(
                f"counterexample field 'targets' must have a row for each of the end = {end} "
                f"steps, got {targets.shape[0]}"
            )
        out["targets"] = targets
    if "theta" in out:
        out["theta"] = _number(out["theta"], "theta", "a clipping threshold θ > 0 (a number)")
    if "truncation" in out:
        out["truncation"] = _integer(out["truncation"], "truncation", "an integer K >= 1", 1)
    for key in _TEXT_EXTRA:
        if key in out:
            _text(out[key], key)
    return out


def _jsonable(value: Any) -> Any:
    """Arrays to lists; non-finite floats to None (DESIGN.md §3); recursively."""
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return json_number(value)
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
        """Every field checked for type and range, in this one place (JSON or not)."""
        from gradscope.claim_ids import ALL_CLAIM_IDS

        claim = _text(self.claim, "claim", "a claim id (text)")
        if claim not in ALL_CLAIM_IDS:
            raise ConfigError(
                f"counterexample field 'claim': unknown claim {claim!r}; "
                f"choose from: {', '.join(ALL_CLAIM_IDS)}"
            )
        get_activation(_text(self.activation, "activation", "an activation name (text)"))
        W_hh = _array(self.W_hh, "W_hh", (("n", None), ("n", None)))
        n = W_hh.shape[0]
        if W_hh.shape != (n, n):
            raise ConfigError(
                f"counterexample field 'W_hh' must be square (n, n), got {W_hh.shape}"
            )
        W_xh = _array(self.W_xh, "W_xh", (("n", n), ("m", None)))
        m = W_xh.shape[1]
        arrays = {
            "W_hh": W_hh,
            "W_xh": W_xh,
            "b": _array(self.b, "b", (("n", n),)),
            "h0": _array(self.h0, "h0", (("n", n),)),
            "inputs": _array(self.inputs, "inputs", (("T", None), ("m", m))),
        }
        for name, arr in arrays.items():
            object.__setattr__(self, name, arr)
        _check_run_fields(self, arrays["inputs"].shape[0])
        object.__setattr__(self, "extra", _check_extra(claim, self.extra, n, self.end))

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
        """Rebuild from :meth:`to_dict`'s output (e.g. parsed JSON); validated.

        Values are taken as they are (``"start": 1.7``, ``true`` or ``"1"`` is
        refused, never rounded); :meth:`__post_init__` checks every field.

        Raises
        ------
        ConfigError
            Naming the first field that is missing or wrong, and what it must be.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("a counterexample must be a JSON object")
        core = ("claim", "activation", "W_hh", "W_xh", "b", "h0", "inputs", "start", "end")
        missing = [k for k in core if k not in data]
        if missing:
            raise ConfigError(f"counterexample lacks field(s): {', '.join(missing)}")
        skip = {*core, "observed", "note", "seed"}
        observed = data.get("observed")
        return cls(
            claim=data["claim"],
            activation=data["activation"],
            W_hh=data["W_hh"],
            W_xh=data["W_xh"],
            b=data["b"],
            h0=data["h0"],
            inputs=data["inputs"],
            start=data["start"],
            end=data["end"],
            extra={k: v for k, v in data.items() if k not in skip},
            observed={} if observed is None else observed,
            note=data.get("note", ""),
            seed=data.get("seed"),
        )


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
    counterexamples : tuple of Counterexample or CellCounterexample
        RNN-shaped (the tutorial's), or on a zoo cell (the papers').
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
    counterexamples: tuple[Any, ...]  # Counterexample | CellCounterexample (no import cycle)
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


@dataclass(frozen=True)
class Part:
    """One claim's certification at one precision: True proved, False disproved, None undecided.

    Attributes
    ----------
    result : bool or None
        True when the counterexample is proved to contradict the claim, False when
        the opposite is proved (or nothing can be), None when undecided at this precision.
    statement : str
        One line: exactly what was proved — or why nothing was.
    enclosures : dict of str to (float, float)
        Proved intervals, endpoints rounded outward.
    details : dict
        Counts and settings behind the statement.
    computed : bool
        False when no ball arithmetic was done (the precision is then reported as 0).
    """

    result: bool | None
    statement: str
    enclosures: dict[str, tuple[float, float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    computed: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """A claim of the tutorial: its words, its setting, how to check and replay it.

    Attributes
    ----------
    id, statement, latex, setting : str
    check : callable
        ``check(budget, seeds)`` → :class:`ClaimCheck`.
    replay : callable
        ``replay(counterexample)`` → :class:`Replay` (a :class:`Counterexample`, or a
        :class:`~gradscope.claims.cell_counterexample.CellCounterexample` for a
        paper's claim on a zoo cell).
    certify : callable or None
        ``certify(counterexample, bits)`` → :class:`Part`: the replay's criterion
        in ball arithmetic at ``bits`` of precision
        (:func:`gradscope.claims.certify.certify_counterexample` drives it).
    default_budget : int
        Evaluations when no budget is given.
    seconds_per_evaluation : float
        A generous estimate of one evaluation's cost (measured on a busy 2-core
        machine, rounded up), so a budget is refused before work when it would
        run for longer than :data:`gradscope.claims.MAX_CHECK_SECONDS`.
    may_be_nan : frozenset of str
        Keys of a replay's ``observed`` that may be NaN by design; any other NaN
        means the counterexample was altered, and the replay is refused.
    """

    id: str
    statement: str
    latex: str
    setting: str
    check: Callable[[Budget, Sequence[int]], ClaimCheck] = field(repr=False)
    replay: Callable[[Any], Replay] = field(repr=False)
    certify: Callable[[Counterexample, int], Part] | None = field(default=None, repr=False)
    default_budget: int = 2000
    seconds_per_evaluation: float = 0.01
    may_be_nan: frozenset[str] = frozenset()
