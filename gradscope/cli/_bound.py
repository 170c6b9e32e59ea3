"""``gradscope bound``: the headline."""

from __future__ import annotations

import click

from gradscope.cli._base import (
    ACTIVATION_NAMES,
    FAMILY_NAMES,
    NameList,
    NonNegativeFloat,
    ScaleFloat,
    _check_plot_path,
    _emit_json,
    _figures,
    _json_option,
    _plot_option,
    _seed_option,
    main,
)


@main.command()
@click.option("--norm", type=ScaleFloat(), help="Scale every W_hh to this spectral norm ‖W‖₂.")
@click.option(
    "--radius", type=ScaleFloat(), help="Scale every W_hh to this spectral radius ρ(W) instead."
)
@click.option(
    "--T",
    "T",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Horizon: the product ∂h_T/∂h_0 has T factors.",
)
@click.option("--hidden", type=click.IntRange(min=1), default=64, show_default=True, help="n.")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Instances per family and activation.",
)
@_seed_option
@click.option(
    "--families",
    type=NameList(FAMILY_NAMES),
    default="all",
    show_default=True,
    help="Weight families, comma-separated.",
)
@click.option(
    "--activations",
    type=NameList(ACTIVATION_NAMES),
    default="tanh,linear",
    show_default=True,
    help="Activations, comma-separated.",
)
@click.option(
    "--input-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="m, the input width; W_xh ~ N(0, 1/m).",
)
@click.option(
    "--input-scale",
    type=NonNegativeFloat(),
    default=1.0,
    show_default=True,
    help="Inputs x_t ~ N(0, input_scale²).",
)
@click.option(
    "--horizon-cap",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Scan at most max(T, this) steps for the memory horizons.",
)
@_plot_option
@_json_option
def bound(
    norm: float | None,
    radius: float | None,
    T: int,
    hidden: int,
    seeds: int,
    seed: int,
    families: tuple[str, ...],
    activations: tuple[str, ...],
    input_size: int,
    input_scale: float,
    horizon_cap: int,
    plot_file: str | None,
    as_json: bool,
) -> None:
    """Measured ‖∂h_T/∂h_0‖₂ beside the bound (γ‖W‖₂)^T.

    For each weight family scaled to --norm (or --radius) and each activation,
    over --seeds seeds: the measured log10 norm, the bound T·log10(γ‖W‖₂), their
    difference, whether the bound holds, and the memory horizons at 1e-2 and at
    machine epsilon (the first k with ‖∂h_k/∂h_0‖₂ below the threshold) beside
    the bound's prediction.

    Example: gradscope bound --norm 0.9 --T 100
    """
    if (norm is None) == (radius is None):
        raise click.UsageError("give exactly one of --norm and --radius")
    _check_plot_path(plot_file)
    from gradscope.studies.bound import compute_bound

    result = compute_bound(
        norm=norm,
        radius=radius,
        T=T,
        hidden=hidden,
        seeds=seeds,
        seed=seed,
        families=families,
        activations=activations,
        input_size=input_size,
        input_scale=input_scale,
        horizon_cap=horizon_cap,
    )
    if plot_file:
        figures = _figures()
        from gradscope.studies.decay import compute_decay_curves

        curves = compute_decay_curves(
            families=families,
            activations=activations,
            scales=[norm if norm is not None else radius],  # type: ignore[list-item]
            scale_kind="norm" if norm is not None else "radius",
            T=T,
            hidden=hidden,
            seeds=seeds,
            seed=seed,
            input_size=input_size,
            input_scale=input_scale,
        )
        figures.save_figure(figures.plot_decay(curves), plot_file)
    if as_json:
        _emit_json({"command": "bound", **result.to_dict()})
    else:
        from gradscope.report.text import render_bound

        click.echo(render_bound(result))
