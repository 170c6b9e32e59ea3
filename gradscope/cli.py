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
        help="Also write a figure (.png or .svg; needs matplotlib: gradscope[plot]).",
    )(f)


def _figures() -> Any:
    """The figures module, or one clear line when matplotlib is missing."""
    try:
        from gradscope.report import figures
    except ImportError:
        raise GradscopeError("figures need matplotlib: pip install 'gradscope[plot]'") from None
    return figures


def _check_plot_path(path: str | None) -> None:
    """Refuse a bad figure path before any work is done."""
    if path is None:
        return
    import os

    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".svg"):
        raise click.BadParameter(f"{path}: give a .png or .svg file", param_hint="'--plot'")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise click.BadParameter(
            f"{path}: the folder {folder} does not exist", param_hint="'--plot'"
        )


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
    if plot_file:
        figures = _figures()
        from gradscope.numeric.decay import compute_decay_curves

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
        _emit_json(result.to_dict())
    else:
        from gradscope.report.text import render_bound

        click.echo(render_bound(result))


@main.command()
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    help="A user's weights: .npz or "
    ".safetensors with W_hh, W_xh, b or PyTorch nn.RNN's weight_hh_l0, weight_ih_l0, "
    "bias_ih_l0, bias_hh_l0.",
)
@click.option(
    "--inputs",
    type=click.Path(dir_okay=False),
    help="Inputs as a (T, m) .npy array; T comes from it.",
)
@click.option(
    "--h0",
    "h0_file",
    type=click.Path(dir_okay=False),
    help="Initial state as an (n,) .npy array (default zeros).",
)
@click.option(
    "--family", type=click.Choice(FAMILY_NAMES), help="Generated W_hh family (default gaussian)."
)
@click.option("--norm", type=PositiveFloat(), help="Generated W_hh: spectral norm ‖W‖₂.")
@click.option("--radius", type=PositiveFloat(), help="Generated W_hh: spectral radius ρ(W).")
@click.option("--hidden", type=click.IntRange(min=1), help="Generated: n (default 64).")
@click.option("--input-size", type=click.IntRange(min=1), help="Generated: m (default 8).")
@click.option(
    "--T",
    "T",
    type=click.IntRange(min=1),
    help="Steps (default 100; with --inputs, taken from the file and checked against this).",
)
@click.option(
    "--activation",
    type=click.Choice(ACTIVATION_NAMES),
    default="tanh",
    show_default=True,
    help="φ (PyTorch state dicts do not record it).",
)
@click.option(
    "--input-scale",
    type=NonNegativeFloat(),
    default=1.0,
    show_default=True,
    help="Drawn inputs x_t ~ N(0, input_scale²) when no --inputs is given.",
)
@click.option(
    "--start", type=click.IntRange(min=0), default=0, show_default=True, help="k of ∂h_end/∂h_k."
)
@click.option("--end", type=click.IntRange(min=1), help="end of ∂h_end/∂h_k (default T).")
@click.option(
    "--show",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="Rows of the table (the top and the bottom of the spectrum).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    help="Compute only the K largest singular values (default: all n).",
)
@click.option(
    "--method",
    type=click.Choice(("auto", "graded", "matrix-free")),
    default="auto",
    show_default=True,
    help="graded: the exact full spectrum (O(T n³)); matrix-free: the top K by forward "
    "and backward passes over a block of vectors, never forming the product (O(T n² K)); "
    "auto: matrix-free for --top K when n >= 128 and K <= n / 8.",
)
@click.option(
    "--vectors",
    is_flag=True,
    help="With --top and --json: also the top singular vectors (v_i: directions of "
    "h_start that still reach h_end; u_i: where they land). Uses the matrix-free method.",
)
@_seed_option
@_plot_option
@_json_option
def spectrum(
    weights: str | None,
    inputs: str | None,
    h0_file: str | None,
    family: str | None,
    norm: float | None,
    radius: float | None,
    hidden: int | None,
    input_size: int | None,
    T: int | None,
    activation: str,
    input_scale: float,
    start: int,
    end: int | None,
    show: int,
    top: int | None,
    method: str,
    vectors: bool,
    seed: int,
    plot_file: str | None,
    as_json: bool,
) -> None:
    """Every singular value of ∂h_end/∂h_start in log10, exact, and the Lyapunov exponents.

    Generated weights (--family, --norm or --radius, --hidden, --T) or a user's
    own (--weights FILE with --inputs FILE.npy). The whole spectrum is exact
    even where it spans hundreds of decades (a float SVD of the product
    resolves only about 16 of them). --top K computes only the K largest, also
    for large n (matrix-free: the product is never formed), each still exact
    relative to its own size even 1e-30 below σ₁.

    Example: gradscope spectrum --family orthogonal --norm 0.9 --T 1000
    Example: gradscope spectrum --hidden 2048 --radius 1 --T 1000 --top 8
    """
    from gradscope.errors import ConfigError
    from gradscope.numeric.matrixfree import check_memory, choose_method

    if vectors and top is None:
        raise click.UsageError("--vectors gives the top K singular vectors: add --top K")
    if method == "matrix-free" and top is None:
        raise click.UsageError(
            "--method matrix-free computes the top K singular values: add --top K "
            "(or use --method graded for all of them)"
        )
    if vectors and method == "graded":
        raise click.UsageError("--vectors needs --method matrix-free (or auto)")

    def resolve_method(n: int, T_: int) -> str:
        """auto → a method; refuse, before any work, a size that would not fit in memory."""
        if top is not None and top > n:
            raise click.BadParameter(f"{top} is more than n = {n} values", param_hint="'--top'")
        chosen = "matrix-free" if vectors else choose_method(method, n, top)
        try:
            check_memory(n, T_, method=chosen, top=top)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        return chosen

    from gradscope.init import instance_seed, random_inputs, random_rnn
    from gradscope.io import load_array, load_rnn

    if weights is not None:
        given = [
            name
            for name, v in (
                ("--family", family),
                ("--norm", norm),
                ("--radius", radius),
                ("--hidden", hidden),
                ("--input-size", input_size),
            )
            if v is not None
        ]
        if given:
            raise click.UsageError(
                f"{', '.join(given)} describe generated weights; "
                "they cannot be combined with --weights"
            )
        loaded = load_rnn(weights, activation=activation)
        rnn, source = loaded.rnn, f"{weights} ({loaded.convention} names)"
    else:
        if inputs is not None or h0_file is not None:
            raise click.UsageError("--inputs and --h0 go with --weights")
        if (norm is None) == (radius is None):
            raise click.UsageError("generated weights need exactly one of --norm and --radius")
        resolve_method(hidden or 64, T or 100)
        rnn = random_rnn(
            family or "gaussian",
            hidden or 64,
            norm=norm,
            radius=radius,
            activation=activation,
            input_size=input_size or 8,
            seed=instance_seed(seed, 0),
        )
        source = f"generated: {family or 'gaussian'}, " + (
            f"‖W‖₂ = {norm:g}" if norm is not None else f"ρ(W) = {radius:g}"
        )
    if inputs is not None:
        x = load_array(inputs, name="inputs", ndim=2)
        if x.shape[0] < 1:
            from gradscope.errors import ConfigError

            raise ConfigError(f"{inputs}: holds no steps; inputs need at least one row (T >= 1)")
        if T is not None and T != x.shape[0]:
            raise click.BadParameter(
                f"{T} disagrees with the {x.shape[0]} rows of {inputs}", param_hint="'--T'"
            )
    else:
        x = random_inputs(T or 100, rnn.input_size, seed=instance_seed(seed, 0), scale=input_scale)
    h0 = None if h0_file is None else load_array(h0_file, name="h0", ndim=1)
    _check_plot_path(plot_file)
    steps = x.shape[0]
    if end is not None and end > steps:
        raise click.BadParameter(f"{end} is past the last step T = {steps}", param_hint="'--end'")
    if start >= (end if end is not None else steps):
        raise click.BadParameter(
            f"--start {start} must be smaller than --end {end if end is not None else steps} "
            "(the product ∂h_end/∂h_start has end − start factors)",
            param_hint="'--start'",
        )

    chosen = resolve_method(rnn.hidden_size, steps)

    from gradscope.numeric.spectrum_report import compute_spectrum_report

    report = compute_spectrum_report(
        rnn,
        x,
        h0,
        start=start,
        end=end,
        seed=seed,
        source=source,
        input_scale=None if inputs is not None else input_scale,
        top=top,
        method=chosen,
    )
    mf = report.matrix_free
    if mf is not None and not mf.converged:
        click.echo(
            f"warning: the top {top} values had not settled after {mf.passes} passes "
            f"(last relative change {mf.change:.1e})",
            err=True,
        )
    if plot_file:
        figures = _figures()
        from gradscope.numeric.spectrum_report import spectrum_over_time

        ts, values = spectrum_over_time(rnn, x[: end or steps], h0)
        figures.save_figure(figures.plot_spectrum_over_time(ts, values), plot_file)
    if as_json:
        _emit_json(report.to_dict(vectors=vectors))
    elif top is None:
        from gradscope.report.text import render_spectrum

        click.echo(render_spectrum(report, show=show))
    else:
        import numpy as np

        from gradscope.report.table import format_log10, format_table

        sp = report.spectrum
        s = sp.log10_singular_values
        rows = []
        for i in range(min(top, show)):
            row = [str(i + 1), format_log10(float(s[i])), format_log10(float(s[i] - s[0]))]
            if mf is not None:  # the units of h_start that weigh most in v_i
                v = mf.right_singular_vectors[:, i]
                lead = np.argsort(-np.abs(v), kind="stable")[:3]
                row.append(", ".join(f"{j + 1}:{v[j]:+.2f}" for j in lead))
            rows.append(row)
        heads = ["i", "log10 σ_i", "log10 σ_i/σ₁"] + (["v_i: largest units"] if mf else [])
        more = [f"(and {top - show} more: --show {top} or --json)"] if top > show else []
        click.echo(
            "\n".join(
                [
                    f"top {top} singular values of ∂h_{sp.end}/∂h_{sp.start} "
                    f"({sp.steps} factors), {source}, {sp.activation}, n = {sp.hidden}, "
                    f"T = {steps}; method: {report.method}",
                    "",
                    format_table(heads, rows, align="rrr" + ("l" if mf else "")),
                    *more,
                    "",
                    f"bound (γ‖W‖₂)^{sp.steps}: {format_log10(report.log10_bound)} "
                    f"(γ = {report.gamma:g}, ‖W‖₂ = {report.spectral_norm:.6g}); each σ_i is "
                    "exact relative to its own size, however far below σ₁",
                ]
            )
        )


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
@_plot_option
@_certify_options
@_json_option
def check(
    claim_ids: tuple[str, ...],
    budget: int | None,
    seed: int,
    out: str | None,
    plot_file: str | None,
    certify: bool,
    max_precision: int,
    as_json: bool,
) -> None:
    """Judge the tutorial's claims: holds, violated or holds-under, with evidence.

    Each claim is read literally (which product, which norm, which indices),
    searched for counterexamples from two seeds (--seed and --seed + 1) within
    a budget counted in evaluations, and judged. Without IDs, all nine.
    """
    from gradscope.claims import CLAIM_IDS, check_claim

    _check_plot_path(plot_file)
    show_progress = sys.stderr.isatty()
    results = []
    for claim_id in claim_ids or CLAIM_IDS:
        if show_progress:
            click.echo(f"checking {claim_id} …", err=True)
        results.append(check_claim(claim_id, budget=budget, seed=seed))
    if plot_file:
        figures = _figures()
        from gradscope.numeric.forward import rnn_steps
        from gradscope.numeric.products import log10_norm_trajectory

        trajectories = {}
        for r in results:
            if r.counterexamples:
                c = r.counterexamples[0]
                steps = rnn_steps(c.rnn, c.inputs[: c.end], c.h0)
                trajectories[r.id] = log10_norm_trajectory(steps, start=c.start, end=c.end)
        figures.save_figure(figures.plot_claims(results, trajectories), plot_file)
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
    certificates: dict[str, list[Any]] = {}
    if certify:
        from gradscope.claims.certify import certify_counterexample

        for r in results:
            if show_progress and r.counterexamples:
                click.echo(f"certifying {r.id} …", err=True)
            certificates[r.id] = [
                certify_counterexample(c, max_precision=max_precision) for c in r.counterexamples
            ]
    proved = {k: bool(cs) and all(c.certified for c in cs) for k, cs in certificates.items()}
    if as_json:
        claims = [r.to_dict() for r in results]
        if certify:
            for d in claims:
                d["certificates"] = [c.to_dict() for c in certificates[d["id"]]]
                d["certified"] = proved[d["id"]]
        _emit_json({"command": "check", "seed": seed, "claims": claims})
        return
    from gradscope.report.text import render_checks

    click.echo(render_checks(results, certified=proved))
    if certify:
        total = sum(len(cs) for cs in certificates.values())
        count = sum(c.certified for cs in certificates.values() for c in cs)
        click.echo(f"\ncertificates (ball arithmetic): {count} of {total} counterexamples proved")
        for claim_id, cs in certificates.items():
            for n, c in enumerate(cs):
                status = "certified" if c.certified else "NOT certified"
                click.echo(f"- {claim_id}-{n}: {status} at {c.precision_bits} bits: {c.statement}")
    if written:
        click.echo(f"\n{len(written)} counterexample files written to {out}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_certify_options
@_json_option
def replay(file: str, certify: bool, max_precision: int, as_json: bool) -> None:
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
    cex = Counterexample.from_dict(data)
    result = replay_counterexample(cex)
    cert = None
    if certify:
        from gradscope.claims.certify import certify_counterexample

        cert = certify_counterexample(cex, max_precision=max_precision)
    if as_json:
        payload = result.to_dict()
        if cert is not None:
            payload["certificate"] = cert.to_dict()
        _emit_json(payload)
    else:
        verdict = "contradicts" if result.contradicts else "does NOT contradict"
        click.echo(f"{result.claim}: {result.message}")
        click.echo(f"recomputed from scratch: this example {verdict} the claim")
        if cert is not None:
            status = "certified" if cert.certified else "NOT certified"
            click.echo(f"ball arithmetic, {cert.precision_bits} bits: {status}: {cert.statement}")


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
@click.option("--force", is_flag=True, help="Replace a non-empty report folder.")
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    help="Analyse a user's RNN weights (.npz/.safetensors) instead of a generated one.",
)
@click.option(
    "--inputs", type=click.Path(dir_okay=False), help="(T, m) .npy inputs for --weights."
)
@click.option(
    "--activation",
    type=click.Choice(ACTIVATION_NAMES),
    default="tanh",
    show_default=True,
    help="φ of the analysed RNN.",
)
@click.option(
    "--norm",
    type=PositiveFloat(),
    default=0.9,
    show_default=True,
    help="‖W_hh‖₂ of the bound table.",
)
@click.option("--T", "T", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--hidden", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--budget", type=click.IntRange(min=1), help="Evaluations per claim.")
@_seed_option
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
    command that reproduces it. Written atomically.
    """
    if inputs and not weights:
        raise click.UsageError("--inputs goes with --weights")
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
        command=shlex.join([*argv, "--force"]),
    )
    if sys.stderr.isatty():
        click.echo("computing the report (about half a minute) …", err=True)
    build_report(outdir, settings, force=force)
    click.echo(f"report written to {outdir}/index.html (also report.md, results.json)")


PLOT_KINDS = ("vanishing-exploding", "decay", "eigenvalues", "spectrum", "lyapunov", "sweep")


@main.command()
@click.argument("kind", type=click.Choice(PLOT_KINDS))
@click.argument("sweep_file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    required=True,
    help="Figure file, .png or .svg.",
)
@click.option("--family", type=click.Choice(FAMILY_NAMES), default="gaussian", show_default=True)
@click.option(
    "--families",
    type=NameList(FAMILY_NAMES),
    default="orthogonal",
    show_default=True,
    help="For decay.",
)
@click.option(
    "--activations",
    type=NameList(ACTIVATION_NAMES),
    default="tanh,linear",
    show_default=True,
    help="For decay.",
)
@click.option("--norm", type=PositiveFloat(), help="‖W_hh‖₂ (decay: also --norm-list).")
@click.option("--radius", type=PositiveFloat(), help="ρ(W_hh) instead of --norm.")
@click.option("--hidden", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--T", "T", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--activation",
    type=click.Choice(ACTIVATION_NAMES),
    default="tanh",
    show_default=True,
    help="For spectrum, lyapunov.",
)
@click.option("--x", "x_key", default="hidden", show_default=True, help="Sweep: column on x.")
@click.option("--y", "y_key", default="T", show_default=True, help="Sweep: column on y.")
@click.option(
    "--value",
    "value_key",
    default="log10_measured",
    show_default=True,
    help="Sweep: the measured column to show (the median over the other settings).",
)
@_seed_option
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
    figures = _figures()
    from gradscope.init import instance_seed, random_inputs, random_rnn

    if kind == "sweep":
        if sweep_file is None:
            raise click.UsageError("plot sweep needs the sweep's output file (CSV or JSON lines)")
        from gradscope.report.sweep_figure import sweep_heatmap

        fig = sweep_heatmap(sweep_file, x_key, y_key, value_key)
    elif sweep_file is not None:
        raise click.UsageError(f"plot {kind} takes no file argument")
    elif kind in ("vanishing-exploding", "decay"):
        from gradscope.numeric.decay import compute_decay_curves

        if kind == "vanishing-exploding":
            curves = compute_decay_curves(
                families=["orthogonal"],
                activations=["linear", "tanh"],
                scales=[0.9, 1.0, 1.1],
                T=T,
                hidden=min(hidden, 32),
                seeds=seeds,
                seed=seed,
            )
            title = "Vanishing vs exploding, redrawn from real numbers"
        else:
            scale_kind = "radius" if radius is not None else "norm"
            value = radius if radius is not None else (norm or 0.9)
            curves = compute_decay_curves(
                families=families,
                activations=activations,
                scales=[value],
                scale_kind=scale_kind,
                T=T,
                hidden=hidden,
                seeds=seeds,
                seed=seed,
            )
            title = None
        fig = figures.plot_decay(curves, title=title)
    else:
        if norm is not None and radius is not None:
            raise click.UsageError("give at most one of --norm and --radius")
        rnn = random_rnn(
            family,
            hidden,
            norm=None if radius is not None else (norm or 0.9),
            radius=radius,
            activation=activation,
            seed=instance_seed(seed, 0),
        )
        if kind == "eigenvalues":
            fig = figures.plot_eigenvalues(rnn.W_hh)
        else:
            x = random_inputs(T, rnn.input_size, seed=instance_seed(seed, 0))
            if kind == "spectrum":
                from gradscope.numeric.spectrum_report import spectrum_over_time

                fig = figures.plot_spectrum_over_time(*spectrum_over_time(rnn, x))
            else:
                from gradscope.numeric.spectrum_report import compute_spectrum_report

                fig = figures.plot_lyapunov(compute_spectrum_report(rnn, x, seed=seed))
    figures.save_figure(fig, output)
    click.echo(f"figure written to {output}")


def _check_plot_path_option(path: str) -> None:
    try:
        _check_plot_path(path)
    except click.BadParameter as exc:
        exc.param_hint = "'--output'"
        raise


@main.command()
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="A TOML file with the same keys as these options (norms, radii, hidden, T, …); "
    "options given here override it.",
)
@click.option(
    "--families",
    type=NameList(FAMILY_NAMES),
    default=None,
    help="Weight families, comma-separated [default: all].",
)
@click.option("--norms", metavar="LIST", help="Spectral norms ‖W‖₂ of W_hh, e.g. 0.9,1.0.")
@click.option("--radii", metavar="LIST", help="Spectral radii ρ(W) of W_hh instead of norms.")
@click.option("--hidden", metavar="LIST", help="Hidden sizes n, e.g. 32,64 [default: 64].")
@click.option("--T", "T", metavar="LIST", help="Horizons T of ∂h_T/∂h_0 [default: 100].")
@click.option(
    "--activations",
    type=NameList(ACTIVATION_NAMES),
    default=None,
    help="Activations, comma-separated [default: tanh,linear].",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=None,
    help="Seeds per configuration, measured together as one batch [default: 5].",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Run seed; seed index i uses numpy.random.SeedSequence(seed).spawn(seeds)[i] "
    "[default: 0].",
)
@click.option("--input-size", type=click.IntRange(min=1), default=None, help="m [default: 8].")
@click.option(
    "--input-scale",
    type=NonNegativeFloat(),
    default=None,
    help="Inputs x_t ~ N(0, input_scale²) [default: 1].",
)
@click.option(
    "--horizon-cap",
    type=click.IntRange(min=1),
    default=None,
    help="Scan at most max(T, this) steps for memory horizons [default: 1000].",
)
@click.option(
    "--thresholds",
    metavar="LIST",
    help="Memory-horizon thresholds; 'eps' is machine epsilon [default: 0.01,eps].",
)
@click.option(
    "--out",
    metavar="FILE",
    help="Write the table to FILE (.csv or .jsonl, by suffix), appending as it goes; "
    "rows already in FILE are skipped, so an interrupted sweep resumes.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local worker processes (joblib/loky), one BLAS thread each.",
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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Without --out: JSON lines on stdout instead of CSV. With --out: a JSON summary.",
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
    import sys

    from gradscope.errors import ConfigError
    from gradscope.sweep.config import load_config, merge_settings
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

    stderr = click.get_text_stream("stderr")
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
        )
    except OutputPathError as exc:
        raise click.BadParameter(str(exc), param_hint="--out") from None
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


@main.command()
@click.option(
    "--hidden", type=click.IntRange(min=1), default=2, show_default=True, help="n, hidden units."
)
@click.option(
    "--T",
    "T",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Horizon: the product ∂h_T/∂h_0 has T factors.",
)
@click.option(
    "--activation",
    type=click.Choice(ACTIVATION_NAMES),
    default="tanh",
    show_default=True,
    help="φ; relu'(0) = 0 as in PyTorch.",
)
@click.option(
    "--what",
    type=click.Choice(("jacobian", "gradient", "all")),
    default="all",
    show_default=True,
    help="The Jacobian product, the BPTT gradients, or both.",
)
@click.option(
    "--expand",
    is_flag=True,
    help="Also the fully explicit forms (hidden·T ≤ 24 for the Jacobian, ≤ 8 for gradients).",
)
@click.option(
    "--standalone", is_flag=True, help="A complete document for pdflatex (amsmath, breqn)."
)
@click.option("--input-size", type=click.IntRange(min=1), default=1, show_default=True, help="m.")
@click.option("--output-size", type=click.IntRange(min=1), default=1, show_default=True, help="p.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the LaTeX to FILE (atomically) instead of stdout.",
)
def derive(
    hidden: int,
    T: int,
    activation: str,
    what: str,
    expand: bool,
    standalone: bool,
    input_size: int,
    output_size: int,
    output: str | None,
) -> None:
    """Closed-form Jacobians and BPTT gradients as LaTeX, derived with SymPy.

    A derivation a teacher could hand out: conventions, the model, the unrolled
    recurrence, each step's Jacobian D_t W_hh, the product ∂h_T/∂h_0 (T factors),
    the bound (γ‖W_hh‖₂)^T and the gradient recursion with weight sharing.
    Sizes beyond the documented limits are refused up front.

    Example: gradscope derive --hidden 2 --T 3 --standalone -o bptt.tex
    """
    from gradscope.symbolic.document import render_document

    text = render_document(
        hidden=hidden,
        T=T,
        activation=activation,
        what=what,
        expand=expand,
        input_size=input_size,
        output_size=output_size,
        standalone=standalone,
    )
    if output is None:
        click.echo(text, nl=False)
        return
    from gradscope.io import write_atomic

    try:
        write_atomic(output, text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output} ({len(text)} characters of LaTeX)", err=True)


@main.command()
@click.argument("weights", type=click.Path(dir_okay=False))
@click.option(
    "--inputs",
    type=click.Path(dir_okay=False),
    help="Layer 0's inputs as a (T, m) .npy array. Without it: --T steps of zero inputs.",
)
@click.option(
    "--T",
    "T",
    type=click.IntRange(min=1),
    help="Steps of zero inputs when no --inputs is given [default: 100].",
)
@click.option("--layer", type=click.IntRange(min=0), help="Analyse only layer K [default: all].")
@click.option(
    "--activation",
    type=click.Choice(("tanh", "relu")),
    help="φ of nn.RNN weights, which the state dict does not record [default: tanh].",
)
@click.option(
    "--threshold",
    type=PositiveFloat(),
    default=0.01,
    show_default=True,
    help="θ of the memory horizon: the first k with ‖∂s_T/∂s_(T−k)‖₂ < θ.",
)
@_plot_option
@_json_option
def analyze(
    weights: str,
    inputs: str | None,
    T: int | None,
    layer: int | None,
    activation: str | None,
    threshold: float,
    plot_file: str | None,
    as_json: bool,
) -> None:
    """Will a trained nn.RNN, nn.LSTM or nn.GRU remember k steps back? Measure it.

    WEIGHTS is a state dict: .safetensors, .npz, or a torch.save file (.pt; needs
    torch, and is only ever loaded with weights_only=True). The cell and the
    layers are recognised from the keys and shapes. Each layer is run from a
    zero state on --inputs (layer k > 0 on layer k − 1's outputs); for its state
    s (h, or (h, c) for an LSTM): every singular value of ∂s_T/∂s_0 in log10,
    the Lyapunov exponents, the memory horizon at the end, the recurrent
    weights' spectral norms (for nn.RNN also ρ and the bound (γ‖W_hh‖₂)^T) and a
    verdict. Without --inputs, 100 (or --T) steps of zero inputs are used, and
    the output says so. --plot FILE also draws, per layer, log10 ‖∂s_T/∂s_(T−k)‖₂
    against k = 1..T with the threshold θ and each memory horizon marked.

    Example: gradscope analyze lstm.safetensors --inputs x.npy --plot memory.png
    """
    from gradscope.errors import ConfigError
    from gradscope.io import load_array
    from gradscope.io_cells import load_layers
    from gradscope.numeric.analyze import compute_analysis
    from gradscope.report.text import render_analysis

    _check_plot_path(plot_file)
    if not threshold < 1:
        raise click.BadParameter(f"{threshold:g} must be below 1", param_hint="'--threshold'")
    loaded = load_layers(weights)
    if activation is not None and loaded.cell != "rnn":
        raise click.UsageError(
            f"--activation applies to nn.RNN weights only; {weights} holds "
            f"nn.{loaded.cell.upper()} layers, whose activations are fixed (sigmoid gates, tanh)"
        )
    count = len(loaded.layers)
    if layer is not None and layer >= count:
        raise click.BadParameter(
            f"{layer} is not a layer of {weights}, which has {count} (0..{count - 1})",
            param_hint="'--layer'",
        )
    x: Any = None
    if inputs is not None:
        x = load_array(inputs, name="inputs", ndim=2)
        if x.shape[0] < 1:
            raise ConfigError(f"{inputs}: holds no steps; inputs need at least one row (T >= 1)")
        if T is not None and T != x.shape[0]:
            raise click.BadParameter(
                f"{T} disagrees with the {x.shape[0]} rows of {inputs}", param_hint="'--T'"
            )
    result = compute_analysis(
        loaded,
        x,
        T=T,
        layers=None if layer is None else [layer],
        activation=activation or "tanh",
        threshold=threshold,
        inputs_name=inputs,
    )
    if plot_file is not None:
        from gradscope.numeric.analyze import compute_memory_curves

        save_figure = _figures().save_figure  # one clear line if matplotlib is missing
        from gradscope.report.analysis_figure import plot_memory_curves

        curves = compute_memory_curves(
            loaded,
            x,
            T=T,
            layers=None if layer is None else [layer],
            activation=activation or "tanh",
            threshold=threshold,
        )
        save_figure(plot_memory_curves(curves), plot_file)
        click.echo(f"wrote {plot_file}", err=True)
    if as_json:
        _emit_json(result.to_dict())
    else:
        click.echo(render_analysis(result))
