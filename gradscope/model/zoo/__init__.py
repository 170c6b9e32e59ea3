"""The zoo of published recurrent cells: each paper's cell, initialisation and defaults.

========================  ====================================================
name                      cell (module)
========================  ====================================================
``indrnn``                :class:`~gradscope.model.zoo.indrnn.IndRNNCell`
``antisymmetric``         :class:`~gradscope.model.zoo.antisymmetric.AntisymmetricCell`
``cornn``                 :class:`~gradscope.model.zoo.cornn.CoRNNCell`
``lipschitz``             :class:`~gradscope.model.zoo.lipschitz.LipschitzCell`
``mingru``                :class:`~gradscope.model.zoo.mingru.MinGRUCell`
``s6``                    :class:`~gradscope.model.zoo.s6.S6Cell`
``jordan``                :class:`~gradscope.model.zoo.jordan.JordanCell`
========================  ====================================================

Every cell is a frozen dataclass of read-only float64 arrays with ``NAME``,
``PAPER``, ``hidden_size``, ``input_size``, ``state_size``, ``defaults()`` and
``to_dict()``; :func:`zoo_cell` draws one with its paper's initialisation. The
forward passes and closed-form step Jacobians are in :mod:`gradscope.numeric.zoo`.
The modules are imported only when a cell is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from gradscope.errors import ConfigError
from gradscope.model.zoo._base import Hyper, Paper, check_positive_int
from gradscope.zoo_names import ZOO, ZOO_NAMES

__all__ = ["ZOO", "ZOO_NAMES", "Hyper", "Paper", "ZooCell", "zoo_cell", "zoo_class"]

#: Any zoo cell (each is a frozen dataclass; see the table above).
ZooCell = Any


def _module(name: str) -> Any:
    if name not in ZOO:
        raise ConfigError(f"unknown zoo cell {name!r}: choose one of {', '.join(ZOO_NAMES)}")
    return importlib.import_module(f"gradscope.model.zoo.{ZOO[name]}")


def zoo_class(name: str) -> type:
    """The cell class of the zoo cell ``name`` (ConfigError listing the names if unknown)."""
    cls: type = _module(name).CELL
    return cls


def zoo_cell(
    name: str, *, hidden: int = 64, inputs: int = 8, seed: int = 0, **hyper: Any
) -> ZooCell:
    """Draw the zoo cell ``name`` with its paper's initialisation and hyper-parameters.

    Parameters
    ----------
    name : str
        One of :data:`ZOO_NAMES`.
    hidden : int, default 64
        n, the hidden size (S6: the channels D; coRNN's state is 2n, S6's D·N).
    inputs : int, default 8
        m, the width of one input vector.
    seed : int, default 0
        The draw uses ``numpy.random.default_rng(SeedSequence(seed))``: the
        same seed gives the same cell.
    **hyper
        Overrides of the paper's hyper-parameters (``cell.defaults()`` names
        them and their sources).

    Raises
    ------
    ConfigError
        An unknown name, or an unknown or invalid hyper-parameter (the message
        lists the valid ones).

    Examples
    --------
    >>> cell = zoo_cell("indrnn", hidden=4, inputs=2, seed=1)
    >>> cell.NAME, cell.state_size, cell.defaults()["activation"]["value"]
    ('indrnn', 4, 'relu')
    """
    module = _module(name)
    cls = module.CELL
    unknown = sorted(set(hyper) - set(cls.HYPER))
    if unknown:
        raise ConfigError(
            f"{name} has no hyper-parameter {', '.join(map(repr, unknown))}: "
            f"valid ones are {', '.join(cls.HYPER)}"
        )
    hidden = check_positive_int(hidden, "hidden")
    inputs = check_positive_int(inputs, "inputs")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    values = {key: spec.default for key, spec in cls.HYPER.items()}
    values.update(hyper)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    return module.draw(hidden, inputs, rng, values)
