"""Shared pieces of the command line: option types, the group, exit codes (options: options.py).

Heavy modules (numpy included) are imported inside the commands, so
``gradscope --help`` costs little more than importing click. Exit codes
(docs/cli.md, "Exit codes"): 2 for bad usage — click's usage errors, a
request too large for this machine (:class:`~gradscope.errors.SizeError`) and
an output location that cannot be written (:func:`_check_output`, before any
work); 1 for bad data or a failed run (any other
:class:`~gradscope.errors.GradscopeError`, out of memory); 0 otherwise. Input
files are never checked by click (:class:`InputFile`): the loaders refuse a
missing file, a folder or a pipe as bad data, exit 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
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
    """A target spectral norm or radius, in ``numeric.norms.SCALE_RANGE`` (1e-300 … 1e300)."""

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


class InputFile(click.ParamType):  # type: ignore[type-arg]
    """A path to a file gradscope reads, passed on unchecked.

    click's ``Path(exists=True, dir_okay=False)`` would refuse a missing file or a
    folder as bad usage (exit 2); the loaders refuse them, and a pipe or a device,
    as bad data (exit 1, docs/cli.md), so the table holds for every input.
    """

    name = "file"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value)


#: Options whose smaller values need less memory, in the order a message names them.
_SIZE_OPTIONS = ("--hidden", "--T", "--seeds", "--top", "--budget", "--lyapunov-top")


def _out_of_memory_message(command: click.Command | None) -> str:
    """What to do when memory ran out, in the words of the command that ran."""
    name = f"gradscope {command.name}" if command is not None else "gradscope"
    have: set[str] = set()
    if command is not None:
        for param in command.params:
            have.update(getattr(param, "opts", ()))
    sizes = [opt for opt in _SIZE_OPTIONS if opt in have]
    hint = (
        "reduce " + ", ".join(sizes[:-1]) + (" or " if len(sizes) > 1 else "") + sizes[-1]
        if sizes
        else "its input is too large for this machine: use a smaller one"
    )
    return f"{name} ran out of memory despite its size estimate: {hint}, or free memory"


class GradscopeGroup(click.Group):
    """Turns gradscope's own errors into one line and the exit code docs/cli.md gives.

    A :class:`~gradscope.errors.SizeError` (too large, refused before work) is bad
    usage, exit 2; any other :class:`~gradscope.errors.GradscopeError` and running
    out of memory despite the estimate are exit 1.
    """

    def invoke(self, ctx: click.Context) -> Any:
        # the command's own words, for its default BLAS threads (read before numpy loads)
        ctx.meta["gradscope.argv"] = [*getattr(ctx, "_protected_args", ()), *ctx.args]
        try:
            return super().invoke(ctx)
        except SizeError as exc:  # too large for this machine: bad usage, exit 2
            raise click.UsageError(str(exc)) from None
        except GradscopeError as exc:
            raise click.ClickException(str(exc)) from None
        except MemoryError:
            name = ctx.invoked_subcommand
            command = self.get_command(ctx, name) if name else None
            raise click.ClickException(_out_of_memory_message(command)) from None


def _emit_json(payload: dict[str, Any]) -> None:
    """JSON alone on stdout; a NaN or infinity here is a bug, so refuse it.

    The BLAS threads of the run go into its ``settings`` (where it has them) as
    ``blas_threads``: the same seed and the same ``--threads`` give the same bytes.
    """
    settings = payload.get("settings")
    if isinstance(settings, dict) and "blas_threads" not in settings:
        payload = {**payload, "settings": {**settings, "blas_threads": _THREADS[0]}}
    click.echo(json.dumps(payload, indent=2, allow_nan=False))


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


def _check_output(
    path: str | None, option: str, *, folder: bool = False, beside: bool = False
) -> None:
    """Refuse, before any work, an output location that cannot be written: exit 2.

    An empty name, a missing folder, a read-only one, a path under a file,
    ``/proc`` or a name past the file system's limit are bad usage of the
    option (docs/cli.md, "Exit codes"), so the library's
    :class:`~gradscope.errors.ConfigError` becomes click's ``BadParameter``.

    Parameters
    ----------
    path : str or None
        The location; ``None`` (option not given) is accepted.
    option : str
        The option, for the message (e.g. ``"--out"``).
    folder, beside : bool
        As for :func:`gradscope.io_folder.check_can_write`.

    Raises
    ------
    click.BadParameter
    """
    if path is None:
        return
    if path == "":
        raise click.BadParameter(
            "an empty name; give a file or folder name", param_hint=f"'{option}'"
        )
    from gradscope.errors import ConfigError
    from gradscope.io_folder import check_can_write

    try:  # the name fits, the folder exists, a file can be created there
        check_can_write(path, what="", folder=folder, beside=beside)
    except ConfigError as exc:  # (click names the option itself)
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None


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

#: The BLAS threads this run set (or found in the environment), for the JSON
#: settings (:func:`_emit_json`); None before :func:`_set_blas_threads`.
_THREADS: list[int | None] = [None]
#: The threads a command may run at once: ``--threads`` or the user's variable if set,
#: else None (the usable cores); bound's activations run side by side within it.
_CORE_BUDGET: list[int | None] = [None]


def _core_budget() -> int:
    """The threads a command may keep busy at once (``--threads``, or the usable cores)."""
    from gradscope.machine import usable_cores

    return _CORE_BUDGET[0] or usable_cores()


def _default_threads(argv: Sequence[str]) -> int:
    """The BLAS threads a command gets without ``--threads``, measured per method.

    Measured on the development machine (2 cores shared with other sessions'
    work, so the slow runs are a second thread spinning beside other processes:
    OpenBLAS threads busy-wait; whole process, seconds, issue 18):

    ==============================================  ============  =============
    command                                         --threads 1   --threads 2
    ==============================================  ============  =============
    spectrum --top 1, weights file, n 2048, T 200    15.6, 16.7    41.5, 12.6
    spectrum (graded), n 256, T 1000                 8.7, 8.8      25.5, 336.8
    spectrum (graded), n 512, T 300                  45.3, 16.3    165.8, 240.2
    bound --norm 0.9 --T 100                         0.93, 0.83    0.89, 0.97
    check linear-norm-bound                          3.00, 3.08    2.94, 3.02
    ==============================================  ============  =============

    so matrix-free top-k (``--top``) gets the usable cores
    (:func:`gradscope.machine.usable_cores`: ``os.sched_getaffinity`` lowered to
    the cgroup quota) and a sweep too (its workers share them out, cores // jobs:
    gradscope.sweep); everything else, one thread: ``bound`` and ``check`` gain
    nothing from a second thread, and the graded spectrum loses whole factors
    with it on a busy machine (the issue's own figures, on an idle one, have
    two threads 1.4x faster for ``--top 1``: 8.75 s against 6.11 s).
    """
    from gradscope.machine import usable_cores

    words = list(argv)
    command = words[0] if words else None
    top = any(w == "--top" or w.startswith("--top=") for w in words[1:])
    if command == "sweep" or (command == "spectrum" and top):
        return usable_cores()
    return 1


def _set_blas_threads(threads: int | None, argv: Sequence[str] = ()) -> None:
    """Fix the BLAS thread count before numpy is imported (it reads these variables once).

    ``--threads N`` sets N; without it a variable the user set
    (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) is
    respected, and otherwise the command's default (:func:`_default_threads`).
    The count is kept for the JSON settings, and an explicit one also bounds
    the threads a command runs at once (:func:`_core_budget`).
    """
    import os

    if threads is None:
        for var in _THREAD_VARIABLES:
            if var in os.environ:
                try:
                    _THREADS[0] = _CORE_BUDGET[0] = max(1, int(os.environ[var]))
                except ValueError:
                    _THREADS[0] = _CORE_BUDGET[0] = None
                return
        _CORE_BUDGET[0] = None
        threads = _default_threads(argv)
    else:
        _CORE_BUDGET[0] = threads
    _THREADS[0] = threads
    for var in _THREAD_VARIABLES:
        os.environ[var] = str(threads)


@click.group(cls=GradscopeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gradscope")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="BLAS threads (default: the usable cores for spectrum --top and sweep, 1 "
    "otherwise, unless OPENBLAS_NUM_THREADS or OMP_NUM_THREADS is set); also the most "
    "activations bound measures at once (default: the usable cores). "
    "Recorded in the JSON settings.",
)
def main(threads: int | None) -> None:
    """gradscope: how gradients travel backwards through recurrent networks.

    Conventions: z_t = W_hh h_{t-1} + W_xh x_t + b, h_t = φ(z_t),
    J_t = diag(φ'(z_t)) W_hh, and ∂h_T/∂h_k = J_T ⋯ J_{k+1} (T − k factors).
    Norms are spectral (largest singular value); log10 values never underflow.
    """
    _set_blas_threads(threads, click.get_current_context().meta.get("gradscope.argv", ()))
    import os
    import sys

    from gradscope import progress

    if sys.stderr.isatty() or os.environ.get("GRADSCOPE_PROGRESS") == "1":
        # Long work draws one line on stderr, cleared when it ends (before any error).
        click.get_current_context().with_resource(progress.enabled(sys.stderr))
