"""Shared pieces of the command line: option types, options, the group, exit codes.

Heavy modules (numpy included) are imported inside the commands, so
``gradscope --help`` costs little more than importing click. Exit codes
(DESIGN.md §3): 2 for bad usage (click's usage errors), 1 for bad data or a
failed run (a :class:`~gradscope.errors.GradscopeError`), 0 otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import click

from gradscope import __version__
from gradscope.errors import GradscopeError, SizeError

FAMILY_NAMES = ("gaussian", "orthogonal", "identity", "uniform", "non-normal")
ACTIVATION_NAMES = ("tanh", "sigmoid", "relu", "linear")


class PositiveFloat(click.ParamType):  # type: ignore[type-arg]
    """A finite float > 0 (rejects nan and inf, which click's FloatRange lets through)."""

    name = "number > 0"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(x) and x > 0):
            self.fail(f"{value!r} must be a finite number > 0", param, ctx)
        return x


class ScaleFloat(PositiveFloat):
    """A target spectral norm or radius, in ``gradscope.init.SCALE_RANGE`` (1e-300 … 1e300)."""

    name = "number in [1e-300, 1e300]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        x = super().convert(value, param, ctx)
        if not 1e-300 <= x <= 1e300:
            self.fail(
                f"{value!r} is outside [1e-300, 1e300]: a W_hh scaled further has lost its digits",
                param,
                ctx,
            )
        return x


class NonNegativeFloat(click.ParamType):  # type: ignore[type-arg]
    """A finite float >= 0."""

    name = "number >= 0"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(x) and x >= 0):
            self.fail(f"{value!r} must be a finite number >= 0", param, ctx)
        return x


class NameList(click.ParamType):  # type: ignore[type-arg]
    """A comma-separated list of names from a fixed set; ``all`` means every one."""

    name = "list"

    def __init__(self, choices: Sequence[str]) -> None:
        self.choices = tuple(choices)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + ",".join(self.choices) + "|all]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        names = [v.strip() for v in str(value).split(",") if v.strip()]
        if names == ["all"]:
            return self.choices
        if not names:
            self.fail("give at least one name", param, ctx)
        for name in names:
            if name not in self.choices:
                self.fail(f"{name!r} is not one of {', '.join(self.choices)}, all", param, ctx)
        return tuple(dict.fromkeys(names))


class GradscopeGroup(click.Group):
    """Turns gradscope's own errors into one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SizeError as exc:  # too large for this machine: bad usage, exit 2
            raise click.UsageError(str(exc)) from None
        except GradscopeError as exc:
            raise click.ClickException(str(exc)) from None
        except MemoryError:
            raise click.ClickException(
                "out of memory: reduce --hidden or --T, or use fewer seeds"
            ) from None


def _emit_json(payload: dict[str, Any]) -> None:
    """JSON alone on stdout; a NaN or infinity here is a bug, so refuse it."""
    click.echo(json.dumps(payload, indent=2, allow_nan=False))


def _seed_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Run seed; instance i uses numpy.random.SeedSequence(seed).spawn(seeds)[i].",
    )(f)


def _certify_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--max-precision",
        type=click.IntRange(min=53),
        default=4096,
        show_default=True,
        help="With --certify: the most bits the ball arithmetic may use.",
    )(f)
    return click.option(
        "--certify",
        is_flag=True,
        help="Also prove each counterexample in ball arithmetic (python-flint, the certify "
        "extra): start at 64 bits, double until decided; say exactly what is proved.",
    )(f)


def _json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON object on stdout instead of a table.",
    )(f)


def _plot_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--plot",
        "plot_file",
        type=click.Path(dir_okay=False),
        help="Also write a figure (.png or .svg).",
    )(f)


def _figures() -> Any:
    """The figures module, or one clear line when matplotlib is missing."""
    try:
        from gradscope.report import figures
    except ImportError:
        raise GradscopeError(
            "figures need matplotlib, which gradscope depends on but cannot import here: "
            "reinstall it (python3 -m pip install --force-reinstall matplotlib)"
        ) from None
    return figures


def _check_plot_path(path: str | None) -> None:
    """Refuse a bad figure path before any work is done."""
    if path is None:
        return
    import os

    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".svg"):
        raise click.BadParameter(f"{path}: give a .png or .svg file", param_hint="'--plot'")
    from gradscope.errors import ConfigError
    from gradscope.io_folder import check_can_write

    try:  # the folder exists, the name fits, a file can be created there
        check_can_write(path, what="")
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="'--plot'") from None


_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _set_blas_threads(threads: int | None) -> None:
    """Fix the BLAS thread count before numpy is imported (it reads these variables once).

    Default: 1, unless the user set one of the variables. gradscope's work is many
    small and medium matrix products; one thread is as fast for those, and a busy
    machine does not make a spinning second thread stall them (measured here:
    n = 256, T = 1000 took 5 s on one thread, 150 s on two beside other work).
    """
    import os

    if threads is None and any(v in os.environ for v in _THREAD_VARIABLES):
        return
    for var in _THREAD_VARIABLES:
        os.environ[var] = str(threads or 1)


@click.group(cls=GradscopeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gradscope")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="BLAS threads (default 1 unless OPENBLAS_NUM_THREADS or OMP_NUM_THREADS is set).",
)
def main(threads: int | None) -> None:
    """gradscope: how gradients travel backwards through recurrent networks.

    Conventions: z_t = W_hh h_{t-1} + W_xh x_t + b, h_t = φ(z_t),
    J_t = diag(φ'(z_t)) W_hh, and ∂h_T/∂h_k = J_T ⋯ J_{k+1} (T − k factors).
    Norms are spectral (largest singular value); log10 values never underflow.
    """
    _set_blas_threads(threads)
