"""The command-line options several commands share, each defined once (issue 17).

As in rasterio's ``rio/options.py``: a command decorates itself with these instead
of repeating ``click.option(...)``. Each function returns one ``click.option``
decorator (:func:`certify_options` two) with the option's flag, destination, type
and checks fixed; what differs between commands — the help text and the default —
is a keyword. A non-``None`` default is shown in ``--help``.

========================  ===================================================
option                    commands
========================  ===================================================
``--T``                   analyze, bound, derive, report, plot, spectrum
``--hidden``              bound, derive, report, plot, spectrum
``--seeds``               bound, report, plot, sweep
``--seed``                bound, check, report, plot, spectrum, sweep
``--activation``          analyze, derive, report, plot, spectrum
``--activations``         bound, plot, sweep
``--families``            bound, plot, sweep
``--family``              plot, spectrum
``--norm``, ``--radius``  bound, report, plot, spectrum (``--norm``)
``--input-size``          bound, derive, spectrum, sweep
``--input-scale``         bound, spectrum, sweep
``--horizon-cap``         bound, sweep
``--weights``             report, spectrum
``--inputs``              analyze, report, spectrum
``--budget``              check, report
``--certify``             check, replay (with ``--max-precision``)
``--plot``                analyze, bound, check, spectrum
``--json``                analyze, bound, check, replay, spectrum, sweep
========================  ===================================================

``sweep`` takes ``--T`` and ``--hidden`` as comma-separated lists (other options).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from gradscope.cli._base import (
    ACTIVATION_NAMES,
    FAMILY_NAMES,
    InputFile,
    NameList,
    NonNegativeFloat,
    ScaleFloat,
)

__all__ = [
    "T_option",
    "activation_option",
    "activations_option",
    "budget_option",
    "certify_options",
    "families_option",
    "family_option",
    "hidden_option",
    "horizon_cap_option",
    "input_scale_option",
    "input_size_option",
    "inputs_option",
    "json_option",
    "norm_option",
    "plot_option",
    "radius_option",
    "seed_option",
    "seeds_option",
    "weights_option",
]

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
"""What ``click.option(...)`` returns: it adds one parameter to a command function."""


def _option(*decls: str, default: Any = None, help: str | None = None, **attrs: Any) -> Decorator:
    """``click.option`` whose default, when given, is shown in ``--help``."""
    if default is not None:
        attrs.update(default=default, show_default=True)
    return click.option(*decls, help=help, **attrs)


def T_option(*, default: int | None = None, help: str | None = None) -> Decorator:
    """``--T``: the horizon, steps of the recurrence (an integer ≥ 1).

    Parameters
    ----------
    default : int, optional
        The command's default horizon; ``None`` for none (the command decides).
    help : str, optional
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``T`` to a command.
    """
    return _option("--T", "T", type=click.IntRange(min=1), default=default, help=help)


def hidden_option(*, default: int | None = None, help: str | None = None) -> Decorator:
    """``--hidden``: n, the number of hidden units (an integer ≥ 1).

    Parameters
    ----------
    default : int, optional
        The command's default n; ``None`` for none.
    help : str, optional
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``hidden`` to a command.
    """
    return _option("--hidden", type=click.IntRange(min=1), default=default, help=help)


def seeds_option(*, default: int | None = 5, help: str | None = None) -> Decorator:
    """``--seeds``: how many instances (seeds) to draw (an integer ≥ 1).

    Parameters
    ----------
    default : int or None, default 5
        The command's default; ``None`` for none (e.g. a config file decides).
    help : str, optional
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``seeds`` to a command.
    """
    return _option("--seeds", type=click.IntRange(min=1), default=default, help=help)


def seed_option(
    *,
    default: int | None = 0,
    help: str = "Run seed; instance i uses numpy.random.SeedSequence(seed).spawn(seeds)[i].",
) -> Decorator:
    """``--seed``: the run seed (an integer ≥ 0).

    Parameters
    ----------
    default : int or None, default 0
        The command's default; ``None`` for none.
    help : str, optional
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``seed`` to a command.
    """
    return _option("--seed", type=click.IntRange(min=0), default=default, help=help)


def activation_option(
    *,
    help: str,
    default: str | None = "tanh",
    choices: Sequence[str] = ACTIVATION_NAMES,
) -> Decorator:
    """``--activation``: the RNN's φ, one name.

    Parameters
    ----------
    help : str
        The command's help text.
    default : str or None, default "tanh"
        The command's default; ``None`` for none.
    choices : sequence of str, default all activations
        The names the command accepts.

    Returns
    -------
    Decorator
        Adds the parameter ``activation`` to a command.
    """
    return _option("--activation", type=click.Choice(choices), default=default, help=help)


def activations_option(*, help: str, default: str | None = "tanh,linear") -> Decorator:
    """``--activations``: activation names, comma-separated.

    Parameters
    ----------
    help : str
        The command's help text.
    default : str or None, default "tanh,linear"
        The command's default; ``None`` for none.

    Returns
    -------
    Decorator
        Adds the parameter ``activations`` to a command.
    """
    return _option("--activations", type=NameList(ACTIVATION_NAMES), default=default, help=help)


def families_option(*, help: str, default: str | None) -> Decorator:
    """``--families``: weight family names, comma-separated (or ``all``).

    Parameters
    ----------
    help : str
        The command's help text.
    default : str or None
        The command's default; ``None`` for none.

    Returns
    -------
    Decorator
        Adds the parameter ``families`` to a command.
    """
    return _option("--families", type=NameList(FAMILY_NAMES), default=default, help=help)


def family_option(*, default: str | None = None, help: str | None = None) -> Decorator:
    """``--family``: one weight family name.

    Parameters
    ----------
    default : str, optional
        The command's default; ``None`` for none.
    help : str, optional
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``family`` to a command.
    """
    return _option("--family", type=click.Choice(FAMILY_NAMES), default=default, help=help)


def norm_option(*, help: str, default: float | None = None) -> Decorator:
    """``--norm``: scale W_hh to this spectral norm ‖W‖₂ (finite, > 0).

    Parameters
    ----------
    help : str
        The command's help text.
    default : float, optional
        The command's default; ``None`` for none.

    Returns
    -------
    Decorator
        Adds the parameter ``norm`` to a command.
    """
    return _option("--norm", type=ScaleFloat(), default=default, help=help)


def radius_option(*, help: str) -> Decorator:
    """``--radius``: scale W_hh to this spectral radius ρ(W) (finite, > 0).

    Parameters
    ----------
    help : str
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``radius`` to a command.
    """
    return _option("--radius", type=ScaleFloat(), help=help)


def input_size_option(*, default: int | None = None, help: str) -> Decorator:
    """``--input-size``: m, the input width (an integer ≥ 1).

    Parameters
    ----------
    default : int, optional
        The command's default; ``None`` for none.
    help : str
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``input_size`` to a command.
    """
    return _option("--input-size", type=click.IntRange(min=1), default=default, help=help)


def input_scale_option(*, default: float | None = None, help: str) -> Decorator:
    """``--input-scale``: drawn inputs x_t ~ N(0, input_scale²) (finite, ≥ 0).

    Parameters
    ----------
    default : float, optional
        The command's default; ``None`` for none.
    help : str
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``input_scale`` to a command.
    """
    return _option("--input-scale", type=NonNegativeFloat(), default=default, help=help)


def horizon_cap_option(*, default: int | None = None, help: str) -> Decorator:
    """``--horizon-cap``: scan at most max(T, this) steps for memory horizons.

    Parameters
    ----------
    default : int, optional
        The command's default; ``None`` for none.
    help : str
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``horizon_cap`` to a command.
    """
    return _option("--horizon-cap", type=click.IntRange(min=1), default=default, help=help)


def weights_option(*, help: str) -> Decorator:
    """``--weights``: a user's RNN weights file, read (and refused) by the loaders.

    Parameters
    ----------
    help : str
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``weights`` to a command.
    """
    return _option("--weights", type=InputFile(), help=help)


def inputs_option(*, help: str) -> Decorator:
    """``--inputs``: a (T, m) .npy array of inputs, read (and refused) by the loaders.

    Parameters
    ----------
    help : str
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``inputs`` to a command.
    """
    return _option("--inputs", type=InputFile(), help=help)


def budget_option(*, help: str) -> Decorator:
    """``--budget``: evaluations per claim (an integer ≥ 1).

    Parameters
    ----------
    help : str
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``budget`` to a command.
    """
    return _option("--budget", type=click.IntRange(min=1), help=help)


def certify_options() -> Decorator:
    """``--certify`` and ``--max-precision``: prove counterexamples in ball arithmetic.

    Returns
    -------
    Decorator
        Adds the parameters ``certify`` and ``max_precision`` (in this order) to a
        command.
    """
    certify = click.option(
        "--certify",
        is_flag=True,
        help="Also prove each counterexample in ball arithmetic (python-flint, the certify "
        "extra): start at 64 bits, double until decided; say exactly what is proved.",
    )
    max_precision = _option(
        "--max-precision",
        type=click.IntRange(min=53),
        default=4096,
        help="With --certify: the most bits the ball arithmetic may use.",
    )

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        return certify(max_precision(f))

    return decorator


def json_option(*, help: str = "Print one JSON object on stdout instead of a table.") -> Decorator:
    """``--json``: a flag, JSON on stdout; the parameter is ``as_json``.

    Parameters
    ----------
    help : str, optional
        The command's help text.

    Returns
    -------
    Decorator
        Adds the parameter ``as_json`` to a command.
    """
    return click.option("--json", "as_json", is_flag=True, help=help)


def plot_option() -> Decorator:
    """``--plot FILE``: also write a figure; the parameter is ``plot_file``.

    Returns
    -------
    Decorator
        Adds the parameter ``plot_file`` to a command.
    """
    return click.option(
        "--plot",
        "plot_file",
        type=click.Path(dir_okay=False),
        help="Also write a figure (.png or .svg).",
    )
