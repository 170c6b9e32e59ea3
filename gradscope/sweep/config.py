"""A sweep's TOML file, and how options override it.

The file uses the keys of :data:`~gradscope.sweep.grid.GRID_KEYS`::

    families = ["gaussian", "orthogonal"]
    norms = [0.9, 1.0]            # or radii = [...], not both
    hidden = [32, 64]
    T = [100, 1000]
    activations = ["tanh", "linear"]
    seeds = 5
    seed = 0
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gradscope.errors import ConfigError
from gradscope.sweep.grid import GRID_KEYS, SweepGrid

__all__ = ["load_config", "merge_settings"]

_MAX_CONFIG_BYTES = 2**20  # a sweep's TOML is a few lines; 1 MB is generous


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError(
                f"{path}: reading TOML on Python 3.10 needs tomli: pip install tomli"
            ) from None
    from gradscope.io import read_regular  # lazily: gradscope.io loads numpy

    raw = read_regular(path, what="sweep configuration", max_bytes=_MAX_CONFIG_BYTES)
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a sweep configuration") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text)") from None
    return data


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a sweep's TOML file; return its settings, unmerged.

    Every value is checked here (names, numbers, ranges, exactly one of
    ``norms``/``radii`` if either is present), so a mistake in the file is
    reported against the file.

    Raises
    ------
    ConfigError
        Naming the file: missing, unreadable, not TOML, unknown keys, bad values.
    """
    p = Path(path)
    data = _read_toml(p)
    unknown = sorted(set(data) - set(GRID_KEYS))
    if unknown:
        raise ConfigError(
            f"{p}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(GRID_KEYS)}"
        )
    if "norms" in data and "radii" in data:
        raise ConfigError(f"{p}: give norms or radii, not both")
    try:
        probe = {**data}
        if "norms" not in probe and "radii" not in probe:
            probe["norms"] = 1.0  # only to check the other values
        SweepGrid.from_mapping(probe)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    return data


def merge_settings(
    file_values: Mapping[str, Any], option_values: Mapping[str, Any]
) -> dict[str, Any]:
    """Options override the file; a scale given as an option replaces the file's scale.

    ``norms`` and ``radii`` are one setting: an option ``--radii`` replaces a
    file's ``norms`` (and vice versa). ``None`` option values are ignored.

    Examples
    --------
    >>> merge_settings({"norms": [0.9], "T": [100]}, {"radii": (1.0,), "T": None})
    {'T': [100], 'radii': (1.0,)}
    """
    options = {k: v for k, v in option_values.items() if v is not None}
    merged = dict(file_values)
    if "norms" in options or "radii" in options:
        merged.pop("norms", None)
        merged.pop("radii", None)
    merged.update(options)
    return merged
