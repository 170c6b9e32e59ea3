r"""Counterexamples on a zoo cell: a file that replays from its JSON alone.

The tutorial's :class:`~gradscope.claims.base.Counterexample` is RNN-shaped
(``W_hh``, ``W_xh``, ``b``, an activation). A paper's claim is about its own
cell (IndRNN, AntisymmetricRNN, coRNN, …), so its counterexample carries a
``cell`` block instead: the zoo name, the cell's parameter arrays and its
hyper-parameters, from which the very cell is rebuilt::

    {"claim": ..., "note": ..., "seed": ..., "start": 0, "end": T,
     "cell": {"name": "indrnn", "parameters": {"W_ih": [[...]], ...},
              "hyper": {"activation": "relu"}},
     "s0": [...], "inputs": [[...], ...], <extra fields>, "observed": {...}}

Every field is checked when the file is read (one-line
:class:`~gradscope.errors.ConfigError` naming the field).
:func:`read_counterexample` picks the class from the presence of ``cell``, so
the tutorial's files read exactly as before.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradscope.claims.base import (
    Counterexample,
    FloatArray,
    _array,
    _bad,
    _check_run_fields,
    _jsonable,
    _text,
)
from gradscope.errors import ConfigError

__all__ = ["CellCounterexample", "build_cell", "cell_block", "read_counterexample"]


def _zoo() -> Any:
    import importlib

    return importlib.import_module("gradscope.model.zoo")  # (lazily: the papers' claims)


def _cell_class(name: str) -> Any:
    """The class of the zoo cell ``name`` (refused in one line when unknown)."""
    zoo = _zoo()
    if name not in zoo.ZOO_NAMES:
        raise ConfigError(
            f"counterexample field 'cell.name': unknown zoo cell {name!r}; choose from: "
            f"{', '.join(zoo.ZOO_NAMES)}"
        )
    return zoo.zoo_class(name)


def _kinds(cls: Any) -> tuple[tuple[str, ...], dict[str, str]]:
    """The cell class's array fields, and each other field's kind (int, float, str, mapping)."""
    arrays = tuple(cls.ARRAYS)
    kinds: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        if f.name in arrays:
            continue
        hint = str(f.type)
        kinds[f.name] = "mapping" if hint.startswith("Mapping") else hint
    return arrays, kinds


def cell_block(cell: Any) -> dict[str, Any]:
    """A zoo cell as a JSON ``cell`` block: its name, parameter arrays, hyper-parameters."""
    arrays, kinds = _kinds(type(cell))
    return {
        "name": cell.NAME,
        "parameters": {k: getattr(cell, k) for k in arrays},
        "hyper": {k: getattr(cell, k) for k in kinds},
    }


def _plain_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and bool(np.isfinite(float(value)))
    )


def _hyper_value(value: Any, key: str, kind: str) -> Any:
    name = f"cell.hyper.{key}"
    if kind == "str":
        return _text(value, name)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(name, "an integer", value)
        return value
    if kind == "mapping":
        if not isinstance(value, Mapping) or not all(
            isinstance(v, str) or _plain_number(v) for v in value.values()
        ):
            raise _bad(name, "an object of numbers or text", value)
        return dict(value)
    if not _plain_number(value):
        raise _bad(name, "a finite number", value)
    return float(value)


def _depth(value: Any) -> int:
    """How deeply lists nest along the first entries (the cell checks the shapes)."""
    depth = 0
    while isinstance(value, (list, tuple, np.ndarray)) and len(value):
        depth, value = depth + 1, value[0]
    return max(depth, 1)


def build_cell(block: Mapping[str, Any]) -> Any:
    """The zoo cell of a ``cell`` block, every field checked (one-line ConfigError)."""
    if not isinstance(block, Mapping):
        raise _bad("cell", "an object {name, parameters, hyper}", block)
    for key in ("name", "parameters", "hyper"):
        if key not in block:
            raise ConfigError(f"counterexample field 'cell' lacks {key!r}")
    name = _text(block["name"], "cell.name", "a zoo cell name (text)")
    cls = _cell_class(name)
    arrays, kinds = _kinds(cls)
    params, hyper = block["parameters"], block["hyper"]
    if not isinstance(params, Mapping):
        raise _bad("cell.parameters", "an object of arrays", params)
    if not isinstance(hyper, Mapping):
        raise _bad("cell.hyper", "an object of numbers or text", hyper)
    for part, given, expected in (
        ("parameters", params, set(arrays)),
        ("hyper", hyper, set(kinds)),
    ):
        if set(given) != expected:
            raise ConfigError(
                f"counterexample field 'cell.{part}' of a {name} cell must have exactly the "
                f"keys {', '.join(sorted(expected))}; got {', '.join(sorted(map(str, given)))}"
            )
    kwargs: dict[str, Any] = {}
    for key, value in params.items():
        kwargs[key] = _array(value, f"cell.parameters.{key}", [("d", None)] * _depth(value))
    for key, value in hyper.items():
        kwargs[key] = _hyper_value(value, key, kinds[key])
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"counterexample field 'cell': not a valid {name} cell: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"counterexample field 'cell': not a valid {name} cell: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class CellCounterexample:
    r"""A replayable instance on a zoo cell that contradicts a paper's claim.

    Attributes
    ----------
    claim : str
        The claim's id (one of the papers').
    cell : object
        The zoo cell (a frozen dataclass of :mod:`gradscope.model.zoo`).
    s0 : (state_size,) ndarray
        The initial state.
    inputs : (T, input_size) ndarray
    start, end : int
        The product :math:`\partial s_{end}/\partial s_{start}` (end − start factors
        :math:`J_t = \partial s_t/\partial s_{t-1}`).
    extra, observed : dict
        Claim-specific fields; the numbers that contradict the claim when found.
    note : str
    seed : int or None
    """

    claim: str
    cell: Any
    s0: FloatArray
    inputs: FloatArray
    start: int
    end: int
    extra: Mapping[str, Any] = field(default_factory=dict)
    observed: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    seed: int | None = None

    def __post_init__(self) -> None:
        from gradscope.claim_ids import PAPER_CLAIM_IDS

        claim = _text(self.claim, "claim", "a claim id (text)")
        if claim not in PAPER_CLAIM_IDS:
            raise ConfigError(
                f"counterexample field 'claim': {claim!r} is not a paper's claim with a cell "
                f"counterexample; choose from: {', '.join(PAPER_CLAIM_IDS)}"
            )
        cell = self.cell
        s0 = _array(self.s0, "s0", (("state_size", cell.state_size),))
        inputs = _array(self.inputs, "inputs", (("T", None), ("input_size", cell.input_size)))
        object.__setattr__(self, "s0", s0)
        object.__setattr__(self, "inputs", inputs)
        _check_run_fields(self, inputs.shape[0])
        if not isinstance(self.extra, Mapping):
            raise _bad("extra", "an object", self.extra)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "claim": self.claim,
            "note": self.note,
            "seed": self.seed,
            "start": self.start,
            "end": self.end,
            "cell": cell_block(self.cell),
            "s0": self.s0,
            "inputs": self.inputs,
        }
        out.update(self.extra)
        out["observed"] = dict(self.observed)
        return _jsonable(out)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellCounterexample:
        """Rebuild from :meth:`to_dict`'s output; every field validated (ConfigError)."""
        if not isinstance(data, Mapping):
            raise ConfigError("a counterexample must be a JSON object")
        core = ("claim", "cell", "s0", "inputs", "start", "end")
        missing = [k for k in core if k not in data]
        if missing:
            raise ConfigError(f"counterexample lacks field(s): {', '.join(missing)}")
        _text(data["claim"], "claim", "a claim id (text)")
        skip = {*core, "observed", "note", "seed"}
        observed = data.get("observed")
        return cls(
            claim=data["claim"],
            cell=build_cell(data["cell"]),
            s0=data["s0"],
            inputs=data["inputs"],
            start=data["start"],
            end=data["end"],
            extra={k: v for k, v in data.items() if k not in skip},
            observed={} if observed is None else observed,
            note=data.get("note", ""),
            seed=data.get("seed"),
        )


def read_counterexample(data: Any) -> Counterexample | CellCounterexample:
    """A counterexample from parsed JSON: on a zoo cell when it has ``cell``, else RNN-shaped."""
    if isinstance(data, Mapping) and "cell" in data:
        return CellCounterexample.from_dict(data)
    return Counterexample.from_dict(data)
