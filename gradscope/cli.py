"""The ``gradscope`` command line: parse, call the layers, print.

Heavy modules (numpy included) are imported inside the commands, so
``gradscope --help`` costs little more than importing click. Exit codes
(DESIGN.md §3): 2 for bad usage (click's usage errors), 1 for bad data or a
failed run (a :class:`~gradscope.errors.GradscopeError`), 0 otherwise.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from gradscope import __version__
from gradscope.errors import GradscopeError

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


def _json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON object on stdout instead of a table.",
    )(f)


@click.group(cls=GradscopeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gradscope")
def main() -> None:
    """gradscope: how gradients travel backwards through recurrent networks.

    Conventions: z_t = W_hh h_{t-1} + W_xh x_t + b, h_t = φ(z_t),
    J_t = diag(φ'(z_t)) W_hh, and ∂h_T/∂h_k = J_T ⋯ J_{k+1} (T − k factors).
    Norms are spectral (largest singular value); log10 values never underflow.
    """


@main.command()
@click.option("--norm", type=PositiveFloat(), help="Scale every W_hh to this spectral norm ‖W‖₂.")
@click.option(
    "--radius", type=PositiveFloat(), help="Scale every W_hh to this spectral radius ρ(W) instead."
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
    from gradscope.numeric.bound import compute_bound

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
    if as_json:
        _emit_json(result.to_dict())
    else:
        from gradscope.report.text import render_bound

        click.echo(render_bound(result))


CLAIM_NAMES = (
    "weight-sharing",
    "jacobian-product",
    "eigenvalue-criterion",
    "linear-norm-bound",
    "orthogonal-preserves-norm",
    "clipping-direction",
    "memory-horizon",
    "truncated-bptt",
    "tanh-saturation",
)


@main.command()
@click.argument("claim_ids", nargs=-1, type=click.Choice(CLAIM_NAMES), metavar="[ID]...")
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    help="Evaluations per claim (default: each claim's own; verdicts are reproducible).",
)
@_seed_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, writable=True),
    help="Write each counterexample as DIR/<claim>-<k>.json (replay with gradscope replay).",
)
@_json_option
def check(
    claim_ids: tuple[str, ...], budget: int | None, seed: int, out: str | None, as_json: bool
) -> None:
    """Judge the tutorial's claims: holds, violated or holds-under, with evidence.

    Each claim is read literally (which product, which norm, which indices),
    searched for counterexamples from two seeds (--seed and --seed + 1) within
    a budget counted in evaluations, and judged. Without IDs, all nine.
    """
    from gradscope.claims import CLAIM_IDS, check_claim

    show_progress = sys.stderr.isatty()
    results = []
    for claim_id in claim_ids or CLAIM_IDS:
        if show_progress:
            click.echo(f"checking {claim_id} …", err=True)
        results.append(check_claim(claim_id, budget=budget, seed=seed))
    written: list[str] = []
    if out:
        import os

        from gradscope.io import write_atomic

        os.makedirs(out, exist_ok=True)
        for r in results:
            for k, cex in enumerate(r.counterexamples):
                path = os.path.join(out, f"{r.id}-{k}.json")
                write_atomic(path, cex.to_json() + "\n")
                written.append(path)
    if as_json:
        _emit_json({"command": "check", "seed": seed, "claims": [r.to_dict() for r in results]})
        return
    from gradscope.report.text import render_checks

    click.echo(render_checks(results))
    if written:
        click.echo(f"\n{len(written)} counterexample files written to {out}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_json_option
def replay(file: str, as_json: bool) -> None:
    """Recompute a counterexample from its JSON file and show what it shows."""
    from gradscope.claims import Counterexample
    from gradscope.claims import replay as replay_counterexample
    from gradscope.errors import ConfigError

    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{file}: not a readable JSON counterexample ({exc})") from None
    result = replay_counterexample(Counterexample.from_dict(data))
    if as_json:
        _emit_json(result.to_dict())
    else:
        verdict = "contradicts" if result.contradicts else "does NOT contradict"
        click.echo(f"{result.claim}: {result.message}")
        click.echo(f"recomputed from scratch: this example {verdict} the claim")
