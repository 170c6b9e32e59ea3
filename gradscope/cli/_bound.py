"""``gradscope bound``: the headline."""

from __future__ import annotations

import click

from gradscope.cli._base import (
    _check_plot_path,
    _core_budget,
    _emit_json,
    _figures,
    main,
)
from gradscope.cli.options import (
    T_option,
    activations_option,
    families_option,
    hidden_option,
    horizon_cap_option,
    input_scale_option,
    input_size_option,
    json_option,
    norm_option,
    plot_option,
    radius_option,
    seed_option,
    seeds_option,
)


@main.command()
@norm_option(help="Scale every W_hh to this spectral norm ‖W‖₂.")
@radius_option(help="Scale every W_hh to this spectral radius ρ(W) instead.")
@T_option(default=100, help="Horizon: the product ∂h_T/∂h_0 has T factors.")
@hidden_option(default=64, help="n.")
@seeds_option(help="Instances per family and activation.")
@seed_option()
@families_option(default="all", help="Weight families, comma-separated.")
@activations_option(help="Activations, comma-separated.")
@input_size_option(default=8, help="m, the input width; W_xh ~ N(0, 1/m).")
@input_scale_option(default=1.0, help="Inputs x_t ~ N(0, input_scale²).")
@horizon_cap_option(default=1000, help="Scan at most max(T, this) steps for the memory horizons.")
@plot_option()
@json_option()
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
        workers=_core_budget(),
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
