"""``gradscope sweep``: many configurations, locally or on Dask."""

from __future__ import annotations

import sys
from typing import Any

import click

from gradscope.cli._base import (
    _emit_json,
    main,
)
from gradscope.cli.options import (
    activations_option,
    families_option,
    horizon_cap_option,
    input_scale_option,
    input_size_option,
    json_option,
    seed_option,
    seeds_option,
)


@main.command()
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="A TOML file with the same keys as these options (norms, radii, hidden, T, …); "
    "options given here override it.",
)
@families_option(default=None, help="Weight families, comma-separated [default: all].")
@click.option("--norms", metavar="LIST", help="Spectral norms ‖W‖₂ of W_hh, e.g. 0.9,1.0.")
@click.option("--radii", metavar="LIST", help="Spectral radii ρ(W) of W_hh instead of norms.")
@click.option("--hidden", metavar="LIST", help="Hidden sizes n, e.g. 32,64 [default: 64].")
@click.option("--T", "T", metavar="LIST", help="Horizons T of ∂h_T/∂h_0 [default: 100].")
@activations_option(default=None, help="Activations, comma-separated [default: tanh,linear].")
@seeds_option(
    default=None, help="Seeds per configuration, measured together as one batch [default: 5]."
)
@seed_option(
    default=None,
    help="Run seed; seed index i uses numpy.random.SeedSequence(seed).spawn(seeds)[i] "
    "[default: 0].",
)
@input_size_option(help="m [default: 8].")
@input_scale_option(help="Inputs x_t ~ N(0, input_scale²) [default: 1].")
@horizon_cap_option(help="Scan at most max(T, this) steps for memory horizons [default: 1000].")
@click.option(
    "--thresholds",
    metavar="LIST",
    help="Memory-horizon thresholds; 'eps' is machine epsilon [default: 0.01,eps].",
)
@click.option(
    "--out",
    metavar="FILE",
    help="Write the table to FILE (.csv or .jsonl, by suffix), appending as it goes; "
    "rows already in FILE are skipped, so an interrupted sweep resumes. One sweep at a "
    "time per FILE (it holds FILE.lock while it runs).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local worker processes, cores // jobs BLAS threads each; at most one per "
    "configuration still to measure, refused if they would not fit in free memory, and ended when "
    "the sweep ends or is killed.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 "
    "(pip install 'gradscope[distributed]'; gradscope must be installed on every worker).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr [default: only when stderr is a terminal].",
)
@json_option(
    help="Without --out: JSON lines on stdout instead of CSV. With --out: a JSON summary."
)
@click.pass_context
def sweep(
    ctx: click.Context,
    config_file: str | None,
    families: tuple[str, ...] | None,
    norms: str | None,
    radii: str | None,
    hidden: str | None,
    T: str | None,
    activations: tuple[str, ...] | None,
    seeds: int | None,
    seed: int | None,
    input_size: int | None,
    input_scale: float | None,
    horizon_cap: int | None,
    thresholds: str | None,
    out: str | None,
    jobs: int,
    scheduler: str | None,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Measure the bound over a grid of configurations × seeds; one tidy table out.

    The grid is families × norms (or radii) × hidden sizes × T × activations,
    each measured on --seeds seeds (one batch per configuration). One row per
    configuration and seed: every setting, then log10 ‖∂h_T/∂h_0‖₂, the bound
    T·log10(γ‖W‖₂), their difference, whether the bound holds, ‖W‖₂, and the
    memory horizons (measured and predicted) at each threshold. The numbers do
    not depend on --jobs, --scheduler, or on interruptions.

    \b
    Example:
      gradscope sweep --families gaussian,orthogonal --norms 0.9,1.0 \\
        --hidden 32,64 --T 100,1000 --activations tanh,linear --seeds 5 \\
        --out results.csv
    """

    from gradscope.errors import ConfigError
    from gradscope.sweep.config import load_config, merge_settings
    from gradscope.sweep.executors import TooManyJobsError
    from gradscope.sweep.grid import SweepGrid
    from gradscope.sweep.output import OutputPathError, output_format
    from gradscope.sweep.parse import parse_floats, parse_ints
    from gradscope.sweep.progress import TextProgress
    from gradscope.sweep.run import run_sweep

    options: dict[str, Any] = {
        "families": families,
        "activations": activations,
        "seeds": seeds,
        "seed": seed,
        "input_size": input_size,
        "input_scale": input_scale,
        "horizon_cap": horizon_cap,
    }
    for key, flag, text, parse in (
        ("norms", "--norms", norms, parse_floats),
        ("radii", "--radii", radii, parse_floats),
        ("hidden", "--hidden", hidden, parse_ints),
        ("T", "--T", T, parse_ints),
        ("thresholds", "--thresholds", thresholds, parse_floats),
    ):
        if text is not None:
            try:
                options[key] = parse(text, "")
                if key in ("norms", "radii"):  # [1e-300, 1e300]: an option out of range, exit 2
                    from gradscope.numeric.norms import check_scale

                    kind = "spectral norm" if key == "norms" else "spectral radius"
                    for value in options[key]:
                        check_scale(value, kind)
            except ConfigError as exc:
                raise click.BadParameter(str(exc), param_hint=flag) from None
    if norms is not None and radii is not None:
        raise click.UsageError("give --norms or --radii, not both")
    if scheduler is not None and jobs != 1:
        raise click.UsageError("give --jobs or --scheduler, not both")
    if out is not None:
        try:
            output_format(out)
        except OutputPathError as exc:
            raise click.BadParameter(str(exc), param_hint="--out") from None
    file_values = load_config(config_file) if config_file is not None else {}
    merged = merge_settings(file_values, options)
    if "norms" not in merged and "radii" not in merged:
        raise click.UsageError("give --norms or --radii (or norms/radii in the --config file)")
    grid = SweepGrid.from_mapping(merged)

    stderr = sys.stderr  # (click.get_text_stream is deprecated in some click releases)
    if progress is None:  # a bar on a terminal, unless the table itself is printed there
        progress = stderr.isatty() and (out is not None or not sys.stdout.isatty())
    bar = TextProgress(stderr) if progress else None

    def on_start(todo: int, skipped: int, dropped: bool) -> None:
        if dropped:
            click.echo(f"{out}: dropped an incomplete last line (an interrupted write)", err=True)
        if skipped:
            click.echo(f"{out}: {skipped} rows already there; measuring {todo}", err=True)

    try:
        summary = run_sweep(
            grid,
            out=out,
            fmt="jsonl" if as_json else "csv",
            jobs=jobs,
            scheduler=scheduler,
            emit=lambda text: click.echo(text, nl=False),
            progress=bar,
            on_start=on_start,
            on_warning=lambda message: click.echo(f"warning: {message}", err=True),
        )
    except OutputPathError as exc:
        raise click.BadParameter(str(exc), param_hint="--out") from None
    except TooManyJobsError as exc:
        raise click.BadParameter(str(exc), param_hint="--jobs") from None
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        where = f"; the rows finished so far are in {out}: rerun to resume" if out else ""
        click.echo(f"interrupted{where}", err=True)
        ctx.exit(130)
    if bar is not None:
        bar.close()
    if out is None:
        return
    if as_json:
        _emit_json(summary.to_dict())
    else:
        click.echo(
            f"wrote {summary.rows} rows to {out} ({summary.computed} measured now, "
            f"{summary.skipped} already there; {summary.mode}, {summary.seconds:.1f} s)"
        )
