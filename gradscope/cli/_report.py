"""``gradscope report`` and ``gradscope plot``: folders and figures."""

from __future__ import annotations

from typing import Any

import click

from gradscope.cli._base import (
    InputFile,
    _check_output,
    _check_plot_path,
    _figures,
    main,
)
from gradscope.cli.options import (
    T_option,
    activation_option,
    activations_option,
    budget_option,
    families_option,
    family_option,
    hidden_option,
    inputs_option,
    norm_option,
    radius_option,
    seed_option,
    seeds_option,
    weights_option,
)


@main.command()
@click.option(
    "-o",
    "--output",
    "outdir",
    type=click.Path(file_okay=False),
    default="gradscope-report",
    show_default=True,
    help="The report folder.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an earlier gradscope report in the folder: only files its "
    "gradscope-manifest.json lists, unchanged; anything else in it is refused.",
)
@weights_option(
    help="Analyse a user's RNN weights (.npz/.safetensors) instead of a generated one."
)
@inputs_option(help="(T, m) .npy inputs for --weights.")
@activation_option(help="φ of the analysed RNN.")
@norm_option(default=0.9, help="‖W_hh‖₂ of the bound table.")
@T_option(default=100)
@hidden_option(default=64)
@seeds_option()
@budget_option(help="Evaluations per claim.")
@seed_option()
def report(
    outdir: str,
    force: bool,
    weights: str | None,
    inputs: str | None,
    activation: str,
    norm: float,
    T: int,
    hidden: int,
    seeds: int,
    budget: int | None,
    seed: int,
) -> None:
    """One folder: index.html (offline), report.md, results.json and the figures.

    The bound table, the decay figure, the spectrum of a generated network (or
    of --weights), the claims' verdicts and a derivation excerpt, with the
    command that reproduces it, and gradscope-manifest.json (each file's
    name and SHA-256). Written atomically. A non-empty folder is refused;
    --force replaces only an earlier report whose files are all listed,
    unchanged, in its manifest, and never the current folder or one holding an
    input file.
    """
    if inputs and not weights:
        raise click.UsageError("--inputs goes with --weights")
    _check_output(outdir, "-o", folder=True, beside=True)  # unwritable: exit 2, before work
    from gradscope.errors import ConfigError
    from gradscope.io_folder import check_output_folder

    try:  # a folder the report may not replace is a location that cannot be used: exit 2
        check_output_folder(outdir, force=force, inputs=(weights, inputs))
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix("-o "), param_hint="'-o'") from None
    _figures()
    import shlex

    from gradscope.report.document import ReportSettings, build_report

    argv = [
        "gradscope",
        "report",
        "-o",
        outdir,
        "--seed",
        str(seed),
        "--norm",
        f"{norm:g}",
        "--T",
        str(T),
        "--hidden",
        str(hidden),
        "--seeds",
        str(seeds),
    ]
    for flag, value in (("--weights", weights), ("--inputs", inputs), ("--budget", budget)):
        if value is not None:
            argv += [flag, str(value)]
    if weights:
        argv += ["--activation", activation]
    settings = ReportSettings(
        seed=seed,
        norm=norm,
        T=T,
        hidden=hidden,
        seeds=seeds,
        weights=weights,
        inputs=inputs,
        activation=activation,
        claim_budget=budget,
        command=shlex.join(argv),
    )
    from gradscope.io_folder import TERMINATED_STATUS

    try:  # long work shows its progress on stderr (gradscope.progress), cleared at the end
        build_report(outdir, settings, force=force)
    except SystemExit as exc:
        if exc.code == TERMINATED_STATUS:
            click.echo(
                f"Error: stopped by SIGTERM; the unfinished report was removed (exit status "
                f"{TERMINATED_STATUS})",
                err=True,
            )
        raise
    click.echo(f"report written to {outdir}/index.html (also report.md, results.json)")


PLOT_KINDS = ("vanishing-exploding", "decay", "eigenvalues", "spectrum", "lyapunov", "sweep")


@main.command()
@click.argument("kind", type=click.Choice(PLOT_KINDS))
@click.argument("sweep_file", required=False, type=InputFile())
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    required=True,
    help="Figure file, .png or .svg.",
)
@family_option(default="gaussian")
@families_option(default="orthogonal", help="For decay.")
@activations_option(help="For decay.")
@norm_option(help="‖W_hh‖₂ (decay: also --norm-list).")
@radius_option(help="ρ(W_hh) instead of --norm.")
@hidden_option(default=64)
@T_option(default=100)
@seeds_option()
@activation_option(help="For spectrum, lyapunov.")
@click.option("--x", "x_key", default="hidden", show_default=True, help="Sweep: column on x.")
@click.option("--y", "y_key", default="T", show_default=True, help="Sweep: column on y.")
@click.option(
    "--value",
    "value_key",
    default="log10_measured",
    show_default=True,
    help="Sweep: the measured column to show (the median over the other settings).",
)
@seed_option()
def plot(
    kind: str,
    sweep_file: str | None,
    output: str,
    family: str,
    families: tuple[str, ...],
    activations: tuple[str, ...],
    norm: float | None,
    radius: float | None,
    hidden: int,
    T: int,
    seeds: int,
    activation: str,
    x_key: str,
    y_key: str,
    value_key: str,
    seed: int,
) -> None:
    """Draw one figure: vanishing-exploding, decay, eigenvalues, spectrum, lyapunov, sweep FILE.

    vanishing-exploding redraws the tutorial's picture from real numbers:
    orthogonal W_hh scaled to ‖W‖₂ = 0.9, 1.0, 1.1, linear and tanh, with the
    practical limit (the memory horizon at θ = 1e-2) computed, not drawn.
    """
    _check_plot_path_option(output)
    if norm is not None and radius is not None:
        raise click.UsageError("give at most one of --norm and --radius")
    if kind != "sweep" and sweep_file is not None:
        raise click.UsageError(f"plot {kind} takes no file argument")
    figures = _figures()
    if kind == "sweep":
        if sweep_file is None:
            raise click.UsageError("plot sweep needs the sweep's output file (CSV or JSON lines)")
        fig = _sweep_figure(sweep_file, x_key, y_key, value_key)
    elif kind in ("vanishing-exploding", "decay"):
        from gradscope.studies.decay import check_decay_work, compute_decay_curves
        from gradscope.studies.spectrum_report import MAX_SECONDS

        fams: tuple[str, ...]
        acts: tuple[str, ...]
        scales: tuple[float, ...]
        if kind == "vanishing-exploding":
            fams, acts, scales, n = (
                ("orthogonal",),
                ("linear", "tanh"),
                (0.9, 1.0, 1.1),
                min(hidden, 32),
            )
            scale_kind, title = "norm", "Vanishing vs exploding, redrawn from real numbers"
        else:
            scale_kind = "radius" if radius is not None else "norm"
            fams, acts, n, title = families, activations, hidden, None
            scales = (radius if radius is not None else (norm or 0.9),)
        check_decay_work(
            configurations=len(fams) * len(acts) * len(scales),
            nonlinear=len(fams) * len(scales) * sum(a != "linear" for a in acts),
            T=T,
            hidden=n,
            seeds=seeds,
            what=f"plot {kind}",
            max_seconds=MAX_SECONDS,
        )
        curves = compute_decay_curves(
            families=fams,
            activations=acts,
            scales=scales,
            scale_kind=scale_kind,
            T=T,
            hidden=n,
            seeds=seeds,
            seed=seed,
        )
        fig = figures.plot_decay(curves, title=title)
    else:
        fig = _network_figure(figures, kind, family, norm, radius, hidden, T, activation, seed)
    figures.save_figure(fig, output)
    click.echo(f"figure written to {output}")


def _check_network_work(kind: str, hidden: int, T: int) -> None:
    """Refuse, before any work, a network figure too large for memory or for 10 minutes."""
    from gradscope.studies.spectrum_report import (
        WorkEstimate,
        check_work,
        estimate_network_work,
        estimate_spectrum_work,
        largest_fitting,
    )

    def est(n: int, t: int) -> WorkEstimate:
        work = estimate_network_work(n)
        if kind == "eigenvalues":  # the figure's eigensolver costs about what scaling did
            return work.then(work)
        return work.then(estimate_spectrum_work(n, t, points=40 if kind == "spectrum" else 0))

    def fix(avail: int | None) -> str:
        if kind != "eigenvalues":
            t = largest_fitting(lambda v: est(hidden, v), T, available=avail)
            if t:
                return f"--T {t} fits (or a smaller --hidden)"
        n = largest_fitting(
            lambda v: est(v, 1 if kind == "eigenvalues" else T), hidden, available=avail
        )
        return f"--hidden {n} fits" if n else "reduce --hidden and --T"

    what = f"plot {kind} with n = {hidden}" + ("" if kind == "eigenvalues" else f", T = {T}")
    check_work(est(hidden, T), what=what, fix=fix)


def _network_figure(
    figures: Any,
    kind: str,
    family: str,
    norm: float | None,
    radius: float | None,
    hidden: int,
    T: int,
    activation: str,
    seed: int,
) -> Any:
    """The eigenvalue, spectrum or Lyapunov figure of one generated network."""
    from gradscope.init import instance_seed, random_inputs, random_rnn

    _check_network_work(kind, hidden, T)
    rnn = random_rnn(
        family,
        hidden,
        norm=None if radius is not None else (norm or 0.9),
        radius=radius,
        activation=activation,
        seed=instance_seed(seed, 0),
    )
    if kind == "eigenvalues":
        return figures.plot_eigenvalues(rnn.W_hh)
    x = random_inputs(T, rnn.input_size, seed=instance_seed(seed, 0))
    if kind == "spectrum":
        from gradscope.studies.spectrum_report import spectrum_over_time

        return figures.plot_spectrum_over_time(*spectrum_over_time(rnn, x))
    from gradscope.studies.spectrum_report import compute_spectrum_report

    return figures.plot_lyapunov(compute_spectrum_report(rnn, x, seed=seed))


def _sweep_figure(path: str, x_key: str, y_key: str, value_key: str) -> Any:
    """The heat map of a sweep table; a ``--value`` column without numbers is bad usage."""
    from gradscope.report.sweep_figure import numeric_columns, read_sweep_rows, sweep_heatmap

    rows = read_sweep_rows(path)  # a missing or malformed file: bad data (exit 1)
    if value_key not in rows[0]:  # a column the table lacks: its error names them (exit 1)
        return sweep_heatmap(path, x_key, y_key, value_key, rows=rows)
    numeric = numeric_columns(rows)
    if value_key not in numeric:
        raise click.BadParameter(
            f"column {value_key!r} of {path} holds no numbers to draw; numeric columns: "
            + (", ".join(numeric) or "none"),
            param_hint="'--value'",
        )
    return sweep_heatmap(path, x_key, y_key, value_key, rows=rows)


def _check_plot_path_option(path: str) -> None:
    try:
        _check_plot_path(path)
    except click.BadParameter as exc:
        exc.param_hint = "'--output'"
        raise
