"""What every zoo cell shares: frozen arrays, hyper-parameters with their sources, citations."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError
from gradscope.model.cells import _frozen

__all__ = [
    "Hyper",
    "Paper",
    "ZooCellBase",
    "check_positive_int",
    "finite_float",
    "frozen",
    "json_value",
    "scale_value",
]

FloatArray = NDArray[np.float64]


#: A read-only float64 copy of a value, checked to have a shape and finite entries: the
#: check LSTM and GRU parameters go through (:mod:`gradscope.model.cells`).
frozen = _frozen


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1, or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def finite_float(value: Any, name: str) -> float:
    """``value`` as a finite float, or ConfigError."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(out):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return out


def scale_value(value: Any, name: str, width: int) -> float:
    """A scale given as a number, or as the string ``"1/sqrt(m)"`` (and kin): ``1/sqrt(width)``."""
    if isinstance(value, str) and value.startswith("1/sqrt("):
        return 1.0 / float(np.sqrt(width))
    return finite_float(value, name)


def json_value(value: Any) -> Any:
    """A JSON-safe copy: arrays to nested lists, numpy scalars to Python numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True, slots=True)
class Paper:
    """A citation: authors, year, title, venue and arXiv id (None for a book)."""

    authors: str
    year: int
    title: str
    venue: str
    arxiv: str | None

    def to_dict(self) -> dict[str, Any]:
        """The citation as JSON-safe fields."""
        return {
            "authors": self.authors,
            "year": self.year,
            "title": self.title,
            "venue": self.venue,
            "arxiv": self.arxiv,
        }

    def short(self) -> str:
        """``Authors (year)``, for a table."""
        return f"{self.authors} ({self.year})"


@dataclass(frozen=True, slots=True)
class Hyper:
    """One hyper-parameter: its paper default and where that default comes from.

    ``kind`` is ``"cell"`` for a field of the cell (used by every step) or
    ``"init"`` for a parameter of the initialisation only (used by
    :func:`~gradscope.model.zoo.zoo_cell`).
    """

    default: Any
    source: str
    kind: str = "cell"


class ZooCellBase:
    """Mixin of the zoo cells: :meth:`defaults` and :meth:`to_dict` from ``HYPER``."""

    __slots__ = ()

    NAME: ClassVar[str] = ""
    PAPER: ClassVar[Paper]
    HYPER: ClassVar[Mapping[str, Hyper]] = {}
    ARRAYS: ClassVar[tuple[str, ...]] = ()

    init: Mapping[str, Any]

    def _hyper_value(self, name: str, spec: Hyper) -> Any:
        if spec.kind == "cell":
            return json_value(getattr(self, name))
        return json_value(self.init.get(name))

    def defaults(self) -> dict[str, Any]:
        """The hyper-parameters this instance uses, each ``{"value", "source"}`` (JSON-safe).

        A value that differs from the paper's default says so; an
        initialisation parameter is None when the cell was not drawn by
        :func:`~gradscope.model.zoo.zoo_cell` (its weights were given).
        """
        out: dict[str, Any] = {}
        for name, spec in self.HYPER.items():
            value = self._hyper_value(name, spec)
            if value is None and spec.kind == "init":
                source = "not drawn by zoo_cell: the weights were given"
            elif _same(value, spec.default):
                source = spec.source
            else:
                source = f"set by the caller (paper default {spec.default!r}: {spec.source})"
            out[name] = {"value": value, "source": source, "kind": spec.kind}
        return out

    def to_dict(self) -> dict[str, Any]:
        """NAME, PAPER, sizes, defaults and every parameter array as JSON-safe values."""
        sizes = {
            "hidden_size": self.hidden_size,  # type: ignore[attr-defined]
            "input_size": self.input_size,  # type: ignore[attr-defined]
            "state_size": self.state_size,  # type: ignore[attr-defined]
        }
        return {
            "cell": self.NAME,
            "paper": self.PAPER.to_dict(),
            **sizes,
            "defaults": self.defaults(),
            "parameters": {name: json_value(getattr(self, name)) for name in self.ARRAYS},
        }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, float(b), rel_tol=1e-15, abs_tol=0.0)
    return bool(a == b)
