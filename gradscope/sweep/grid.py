r"""The grid of a sweep: families × scales × hidden sizes × horizons × activations × seeds.

A sweep's settings come from options, a TOML file, or both (options override
the file). :class:`SweepGrid` holds them, validated, and expands them into
:class:`Configuration` s in a fixed order: family (outermost), scale, hidden,
T, activation; each configuration is measured on seeds ``0 … seeds − 1``
(seed i uses ``numpy.random.SeedSequence(seed).spawn(seeds)[i]``).

A TOML file (:mod:`gradscope.sweep.config`) uses the keys of :data:`GRID_KEYS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gradscope.errors import ConfigError
from gradscope.sweep.parse import (
    ACTIVATION_NAMES,
    EPS,
    FAMILY_NAMES,
    parse_floats,
    parse_int,
    parse_ints,
    parse_names,
    parse_nonnegative,
)

__all__ = ["GRID_KEYS", "Configuration", "SweepGrid"]

DEFAULT_THRESHOLDS = (1e-2, EPS)
DEFAULT_HORIZON_CAP = 1000

#: Every key a TOML file (or :meth:`SweepGrid.from_mapping`) may set.
GRID_KEYS = (
    "families",
    "norms",
    "radii",
    "hidden",
    "T",
    "activations",
    "seeds",
    "seed",
    "input_size",
    "input_scale",
    "horizon_cap",
    "thresholds",
)
_DEFAULTS: dict[str, Any] = {
    "families": FAMILY_NAMES,
    "hidden": (64,),
    "T": (100,),
    "activations": ("tanh", "linear"),
    "seeds": 5,
    "seed": 0,
    "input_size": 8,
    "input_scale": 1.0,
    "horizon_cap": DEFAULT_HORIZON_CAP,
    "thresholds": DEFAULT_THRESHOLDS,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Configuration:
    """One point of the grid; its rows are seeds ``0 … seeds − 1`` of the sweep.

    Attributes
    ----------
    index : int
        Position in the grid's order.
    family, activation : str
    scale_kind : {"norm", "radius"}
        Whether ``W_hh`` is scaled to spectral norm ‖W‖₂ or spectral radius ρ(W).
    scale : float
    hidden, T : int
    """

    index: int
    family: str
    scale_kind: str
    scale: float
    hidden: int
    T: int
    activation: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepGrid:
    r"""Validated settings of a sweep.

    Attributes
    ----------
    families, activations : tuple of str
    scale_kind : {"norm", "radius"}
    scales : tuple of float
        Target spectral norms (or radii) of ``W_hh``.
    hidden, T : tuple of int
        Hidden sizes n and horizons (the product :math:`\partial h_T/\partial h_0`).
    seeds : int
        Instances per configuration; seed i of run seed S is
        ``SeedSequence(S).spawn(seeds)[i]``.
    seed : int
        The run seed S.
    input_size, input_scale, horizon_cap, thresholds
        As for :func:`gradscope.studies.bound.measure_instances`.

    Raises
    ------
    ConfigError
        For any invalid or empty setting.

    Examples
    --------
    >>> g = SweepGrid(families=("gaussian", "orthogonal"), scale_kind="norm",
    ...               scales=(0.9, 1.0), hidden=(32,), T=(100, 1000),
    ...               activations=("tanh",), seeds=5, seed=0)
    >>> len(g.configurations()), g.rows
    (8, 40)
    """

    families: tuple[str, ...]
    scale_kind: str
    scales: tuple[float, ...]
    hidden: tuple[int, ...]
    T: tuple[int, ...]
    activations: tuple[str, ...]
    seeds: int
    seed: int
    input_size: int = 8
    input_scale: float = 1.0
    horizon_cap: int = DEFAULT_HORIZON_CAP
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS

    def __post_init__(self) -> None:
        if self.scale_kind not in ("norm", "radius"):
            raise ConfigError(f"scale_kind must be 'norm' or 'radius', got {self.scale_kind!r}")
        parse_names(self.families, FAMILY_NAMES, "family")
        parse_names(self.activations, ACTIVATION_NAMES, "activation")
        from gradscope.numeric.norms import check_scale  # lazily: it loads numpy

        for scale in parse_floats(self.scales, "norms" if self.scale_kind == "norm" else "radii"):
            check_scale(scale, f"spectral {self.scale_kind}")
        parse_ints(self.hidden, "hidden")
        parse_ints(self.T, "T")
        parse_floats(self.thresholds, "thresholds")
        for name, minimum in (("seeds", 1), ("seed", 0), ("input_size", 1), ("horizon_cap", 1)):
            parse_int(getattr(self, name), name, minimum)
        if isinstance(self.input_scale, str):
            raise ConfigError(f"input_scale: {self.input_scale!r} is not a number")
        parse_nonnegative(self.input_scale, "input_scale")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SweepGrid:
        """Build a grid from raw values (strings, numbers or lists), filling in defaults.

        Exactly one of ``norms`` and ``radii`` must be given.

        Raises
        ------
        ConfigError
        """
        unknown = sorted(set(values) - set(GRID_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(unknown)}; known: {', '.join(GRID_KEYS)}"
            )
        if ("norms" in values) == ("radii" in values):
            raise ConfigError(
                "give exactly one of norms (spectral norms) and radii (spectral radii)"
            )
        v = {**_DEFAULTS, **values}
        kind, key = ("norm", "norms") if "norms" in values else ("radius", "radii")
        return cls(
            families=parse_names(v["families"], FAMILY_NAMES, "family"),
            scale_kind=kind,
            scales=parse_floats(v[key], key),
            hidden=parse_ints(v["hidden"], "hidden"),
            T=parse_ints(v["T"], "T"),
            activations=parse_names(v["activations"], ACTIVATION_NAMES, "activation"),
            seeds=parse_int(v["seeds"], "seeds", 1),
            seed=parse_int(v["seed"], "seed", 0),
            input_size=parse_int(v["input_size"], "input_size", 1),
            input_scale=parse_nonnegative(v["input_scale"], "input_scale"),
            horizon_cap=parse_int(v["horizon_cap"], "horizon_cap", 1),
            thresholds=parse_floats(v["thresholds"], "thresholds"),
        )

    def configurations(self) -> tuple[Configuration, ...]:
        """Every configuration, in grid order (family, scale, hidden, T, activation)."""
        out: list[Configuration] = []
        for family in self.families:
            for scale in self.scales:
                for hidden in self.hidden:
                    for T in self.T:
                        for activation in self.activations:
                            out.append(
                                Configuration(
                                    index=len(out),
                                    family=family,
                                    scale_kind=self.scale_kind,
                                    scale=scale,
                                    hidden=hidden,
                                    T=T,
                                    activation=activation,
                                )
                            )
        return tuple(out)

    @property
    def rows(self) -> int:
        """Rows of the table: configurations × seeds."""
        return (
            len(self.families)
            * len(self.scales)
            * len(self.hidden)
            * len(self.T)
            * len(self.activations)
            * self.seeds
        )

    def to_dict(self) -> dict[str, Any]:
        """The settings, for JSON (the same keys as a TOML file)."""
        return {
            "families": list(self.families),
            "norms" if self.scale_kind == "norm" else "radii": list(self.scales),
            "hidden": list(self.hidden),
            "T": list(self.T),
            "activations": list(self.activations),
            "seeds": self.seeds,
            "seed": self.seed,
            "seed_rule": "seed index i uses numpy.random.SeedSequence(seed).spawn(seeds)[i]",
            "input_size": self.input_size,
            "input_scale": self.input_scale,
            "horizon_cap": self.horizon_cap,
            "thresholds": list(self.thresholds),
        }
