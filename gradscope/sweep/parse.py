"""Parsing the values of a sweep's settings: name lists, number lists, integers.

Each parser accepts a comma-separated string (as typed after an option), a
single value, or a list (as written in TOML), and raises
:class:`~gradscope.errors.ConfigError` with a message that starts with
``what`` (empty: no prefix).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from gradscope.errors import ConfigError

__all__ = [
    "ACTIVATION_NAMES",
    "EPS",
    "FAMILY_NAMES",
    "parse_floats",
    "parse_int",
    "parse_ints",
    "parse_names",
    "parse_nonnegative",
]

# Kept in step with gradscope.init.FAMILIES and gradscope.model.ACTIVATIONS
# (a test checks), so that parsing a grid does not import numpy.
FAMILY_NAMES = ("gaussian", "orthogonal", "identity", "uniform", "non-normal")
ACTIVATION_NAMES = ("tanh", "sigmoid", "relu", "linear")
EPS = 2.220446049250313e-16  # numpy.finfo(numpy.float64).eps


def _prefix(what: str) -> str:
    return f"{what}: " if what else ""


def _items(value: str | Iterable[Any]) -> list[Any]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def parse_names(value: str | Iterable[str], known: Sequence[str], what: str) -> tuple[str, ...]:
    """Names from ``known`` (a comma-separated string or a list); ``all`` means every one.

    Raises
    ------
    ConfigError
        For an empty list, a non-string or an unknown name.

    Examples
    --------
    >>> parse_names("tanh, linear,tanh", ACTIVATION_NAMES, "activation")
    ('tanh', 'linear')
    """
    names = _items(value)
    if names == ["all"]:
        return tuple(known)
    if not names:
        raise ConfigError(f"give at least one {what}; choose from: {', '.join(known)}")
    for name in names:
        if not isinstance(name, str) or name not in known:
            raise ConfigError(f"unknown {what} {name!r}; choose from: {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def _number(item: Any, what: str) -> float:
    if isinstance(item, str) and item.strip().lower() == "eps":
        return EPS
    if isinstance(item, bool):
        raise ConfigError(f"{_prefix(what)}{item!r} is not a number")
    try:
        x = float(item)
    except (TypeError, ValueError):
        raise ConfigError(f"{_prefix(what)}{item!r} is not a number") from None
    if not (math.isfinite(x) and x > 0):
        raise ConfigError(f"{_prefix(what)}{item!r} must be a finite number > 0")
    return x


def parse_floats(value: str | float | Iterable[Any], what: str) -> tuple[float, ...]:
    """Finite positive numbers, from ``"0.9,1.0"``, a number or a list; ``eps`` is ε.

    Duplicates are dropped, order kept.

    Raises
    ------
    ConfigError
        For an empty list, a non-number, zero, a negative number, nan or inf.

    Examples
    --------
    >>> parse_floats("0.9, 1, 0.9", "norms")
    (0.9, 1.0)
    """
    items = _items(value) if not isinstance(value, (int, float)) else [value]
    if not items:
        raise ConfigError(f"{_prefix(what)}give at least one number")
    return tuple(dict.fromkeys(_number(v, what) for v in items))


def parse_int(item: Any, what: str, minimum: int) -> int:
    """One integer >= ``minimum`` (not a bool; a string of digits is accepted).

    Raises
    ------
    ConfigError
    """
    if isinstance(item, bool):
        raise ConfigError(f"{_prefix(what)}{item!r} is not an integer")
    if isinstance(item, str):
        try:
            item = int(item.strip())
        except ValueError:
            raise ConfigError(f"{_prefix(what)}{item!r} is not an integer") from None
    if not isinstance(item, int):
        raise ConfigError(f"{_prefix(what)}{item!r} is not an integer")
    if item < minimum:
        raise ConfigError(f"{_prefix(what)}{item} must be >= {minimum}")
    return item


def parse_ints(value: str | int | Iterable[Any], what: str, minimum: int = 1) -> tuple[int, ...]:
    """Integers ``>= minimum`` from ``"32,64"``, an integer or a list (duplicates dropped).

    Raises
    ------
    ConfigError

    Examples
    --------
    >>> parse_ints("100, 1000", "T")
    (100, 1000)
    """
    items = _items(value) if not isinstance(value, int) else [value]
    if not items:
        raise ConfigError(f"{_prefix(what)}give at least one integer")
    return tuple(dict.fromkeys(parse_int(v, what, minimum) for v in items))


def parse_nonnegative(value: Any, what: str) -> float:
    """One finite number >= 0.

    Raises
    ------
    ConfigError
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{_prefix(what)}{value!r} is not a number")
    try:
        x = float(value)
    except ValueError:
        raise ConfigError(f"{_prefix(what)}{value!r} is not a number") from None
    if not (math.isfinite(x) and x >= 0):
        raise ConfigError(f"{_prefix(what)}{value!r} must be a finite number >= 0")
    return x
