"""``gradscope spectrum``: exact spectra of generated or users' weights."""

from __future__ import annotations

from typing import Any

import click

from gradscope.cli._base import (
    InputFile,
    _check_plot_path,
    _emit_json,
    _figures,
    main,
)
from gradscope.cli.options import (
    T_option,
    activation_option,
    family_option,
    hidden_option,
    input_scale_option,
    input_size_option,
    inputs_option,
    json_option,
    norm_option,
    plot_option,
    radius_option,
    seed_option,
    weights_option,
)


@main.command()
@weights_option(
    help="A user's weights: .npz or "
    ".safetensors with W_hh, W_xh, b or PyTorch nn.RNN's weight_hh_l0, weight_ih_l0, "
    "bias_ih_l0, bias_hh_l0."
)
@inputs_option(help="Inputs as a (T, m) .npy array; T comes from it.")
@click.option(
    "--h0",
    "h0_file",
    type=InputFile(),
    help="Initial state as an (n,) .npy array (default zeros).",
)
@family_option(help="Generated W_hh family (default gaussian).")
@norm_option(help="Generated W_hh: spectral norm ‖W‖₂.")
@radius_option(help="Generated W_hh: spectral radius ρ(W).")
@hidden_option(help="Generated: n (default 64).")
@input_size_option(help="Generated: m (default 8).")
@T_option(help="Steps (default 100; with --inputs, taken from the file and checked against this).")
@activation_option(help="φ (PyTorch state dicts do not record it).")
@input_scale_option(
    default=1.0, help="Drawn inputs x_t ~ N(0, input_scale²) when no --inputs is given."
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
    "--lyapunov-top",
    "lyapunov_top",
    type=int,
    metavar="K",
    help="Also the top K Lyapunov exponents (natural log per step) by K columns of the QR "
    "method, never forming a Jacobian (O(T n² K)), with a rounding bound and a "
    "batch-means standard error; --json adds their running estimates (history).",
)
@click.option(
    "--warmup",
    type=int,
    metavar="W",
    help="With --lyapunov-top: steps after --start that orient the K columns but are left "
    "out of the average (default 0).",
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
@click.option(
    "--certify",
    is_flag=True,
    help="Also prove an interval for every log10 σ_i against the exact product of the "
    "stored float64 step data (python-flint, the certify extra; exact integer arithmetic, "
    "so small n only: a product too large is refused before any work, with a window that "
    "fits).",
)
@click.option(
    "--max-bits",
    type=click.IntRange(min=1),
    help="With --certify: the most bits an integer entry of the exact product may have "
    "(estimated before the work; default: seconds of work for this n).",
)
@click.option(
    "--cell",
    "cell_spec",
    metavar="NAME|PACKAGE.MODULE:FACTORY",
    help="A published cell of the zoo by NAME (indrnn, antisymmetric, cornn, lipschitz, "
    "mingru, s6, jordan: its paper's initialisation from --seed, with --hidden, "
    "--input-size, --T; inputs x_t ~ N(0, 1), s_0 = 0), or the user's own PyTorch cell: "
    "FACTORY() returns cell(x, h) -> h_next (the current "
    "folder is on the import path); with --inputs, --h0 and optionally --weights, a state "
    "dict loaded with load_state_dict(strict=True), never unpickled.",
)
@seed_option()
@plot_option()
@json_option()
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
    lyapunov_top: int | None,
    warmup: int | None,
    method: str,
    vectors: bool,
    certify: bool,
    max_bits: int | None,
    cell_spec: str | None,
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

    \b
    Examples:
      gradscope spectrum --family orthogonal --norm 0.9 --T 1000
      gradscope spectrum --hidden 2048 --radius 1 --T 1000 --top 8
      gradscope spectrum --hidden 6 --norm 1.1 --T 300 --certify
      gradscope spectrum --hidden 1024 --radius 2 --T 1500 --top 1 --lyapunov-top 8 --warmup 300
    """
    from gradscope.errors import ConfigError
    from gradscope.numeric.matrixfree import check_memory, choose_method

    if cell_spec is not None and ":" not in cell_spec:
        from gradscope.cli._zoo import check_zoo_name, zoo_spectrum

        check_zoo_name(cell_spec)
        _refuse_with_cell(
            family=family, norm=norm, radius=radius, certify=certify, vectors=vectors,
            plot=plot_file, warmup=warmup, weights=weights, inputs=inputs, h0=h0_file,
            reason="a zoo cell draws its paper's weights and N(0, 1) inputs from --seed",
        )  # fmt: skip
        zoo_spectrum(
            name=cell_spec, hidden=hidden, input_size=input_size, T=T, top=top,
            lyapunov_top=lyapunov_top, seed=seed, as_json=as_json, show=show,
        )  # fmt: skip
        return
    if cell_spec is not None:
        _refuse_with_cell(
            family=family, norm=norm, radius=radius, hidden=hidden, input_size=input_size,
            T=T, certify=certify, vectors=vectors, plot=plot_file, warmup=warmup,
        )  # fmt: skip
        from gradscope.cli._cell import cell_spectrum

        cell_spectrum(
            spec=cell_spec,
            weights=weights,
            inputs=inputs,
            h0_file=h0_file,
            top=top,
            lyapunov_top=lyapunov_top,
            seed=seed,
            as_json=as_json,
        )
        return
    if vectors and top is None:
        raise click.UsageError("--vectors gives the top K singular vectors: add --top K")
    if method == "matrix-free" and top is None:
        raise click.UsageError(
            "--method matrix-free computes the top K singular values: add --top K "
            "(or use --method graded for all of them)"
        )
    if vectors and method == "graded":
        raise click.UsageError("--vectors needs --method matrix-free (or auto)")
    if warmup is not None and lyapunov_top is None:
        raise click.UsageError(
            "--warmup leaves steps out of the Lyapunov average: add --lyapunov-top K"
        )
    if lyapunov_top is not None and lyapunov_top < 1:
        raise click.BadParameter(
            f"{lyapunov_top} exponents: ask for at least 1", param_hint="'--lyapunov-top'"
        )
    if warmup is not None and warmup < 0:
        raise click.BadParameter(f"{warmup} is negative", param_hint="'--warmup'")
    if max_bits is not None and not certify:
        raise click.UsageError("--max-bits limits the exact product of --certify: add --certify")
    if certify and (vectors or method == "matrix-free"):
        raise click.UsageError(
            "--certify encloses the singular values of the formed product, which the "
            "matrix-free method never forms: use --method graded"
            + (" and drop --vectors" if vectors else "")
        )

    def resolve_method(n: int, T_: int) -> str:
        """auto → a method; refuse, before any work, a size that would not fit in memory."""
        if top is not None and top > n:
            raise click.BadParameter(f"{top} is more than n = {n} values", param_hint="'--top'")
        chosen = "matrix-free" if vectors else choose_method(method, n, top)
        if certify and chosen == "matrix-free":
            raise click.UsageError(
                f"--certify needs the graded method, and --top {top} with n = {n} chooses "
                "the matrix-free one: add --method graded"
            )
        try:
            check_memory(n, T_, method=chosen, top=top)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        if chosen == "graded":  # the whole spectrum: O(T n³) steps and an O(n³) Jacobi SVD
            from gradscope.studies.spectrum_report import (
                check_work,
                estimate_spectrum_work,
                largest_fitting,
            )

            def fix(avail: int | None) -> str:
                fits = largest_fitting(lambda t: estimate_spectrum_work(n, t), T_, available=avail)
                longer = f"--T {fits} fits, or " if fits >= 1 else ""
                return f"{longer}ask for the top values only (--top K, matrix-free)"

            check_work(
                estimate_spectrum_work(n, T_),
                what=f"the whole spectrum of n = {n} over T = {T_} step{'s' if T_ != 1 else ''}",
                fix=fix,
            )
        return chosen

    from gradscope.init import instance_seed, random_inputs, random_rnn, reproduce_instance
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
        python = None
        loaded = load_rnn(weights, activation=activation)
        rnn, source = loaded.rnn, f"{weights} ({loaded.convention} names)"
    else:
        if inputs is not None or h0_file is not None:
            raise click.UsageError("--inputs and --h0 go with --weights")
        if (norm is None) == (radius is None):
            raise click.UsageError("generated weights need exactly one of --norm and --radius")
        resolve_method(hidden or 64, T or 100)
        generated: dict[str, Any] = {
            "family": family or "gaussian",
            "hidden": hidden or 64,
            "norm": norm,
            "radius": radius,
            "activation": activation,
            "input_size": input_size or 8,
        }
        rnn = random_rnn(**generated, seed=instance_seed(seed, 0))
        python = reproduce_instance(**generated, T=T or 100, input_scale=input_scale, seed=seed)
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
    if lyapunov_top is not None:
        if lyapunov_top > rnn.hidden_size:
            raise click.BadParameter(
                f"{lyapunov_top} is more than n = {rnn.hidden_size} exponents",
                param_hint="'--lyapunov-top'",
            )
        window = (end if end is not None else steps) - start
        if (warmup or 0) >= window:
            raise click.BadParameter(
                f"{warmup} leaves no steps to average: the window --start {start} to --end "
                f"{end if end is not None else steps} has {window} factors",
                param_hint="'--warmup'",
            )

    from gradscope.numeric.enclose import EnclosureSizeError
    from gradscope.studies.spectrum_report import compute_spectrum_report

    try:
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
            python=python,
            certify=certify,
            max_bits=max_bits,
            lyapunov_top=lyapunov_top,
            warmup=warmup or 0,
        )
    except EnclosureSizeError as exc:
        raise click.UsageError(_size_message(exc, end if end is not None else steps)) from None
    mf = report.matrix_free
    if mf is not None and not mf.converged:
        click.echo(
            f"warning: the top {top} values had not settled after {mf.passes} passes "
            f"(last relative change {mf.change:.1e})",
            err=True,
        )
    if plot_file:
        figures = _figures()
        from gradscope.studies.spectrum_report import spectrum_over_time

        ts, values = spectrum_over_time(rnn, x[: end or steps], h0)
        figures.save_figure(figures.plot_spectrum_over_time(ts, values), plot_file)
    if as_json:
        _emit_json({"command": "spectrum", **report.to_dict(vectors=vectors)})
    elif top is None:
        from gradscope.report.text import render_spectrum

        click.echo(render_spectrum(report, show=show))
        if report.enclosure is not None:
            click.echo("\n".join(["", *_enclosure_lines(report, show=show)]))
    else:
        import numpy as np

        from gradscope.report.table import format_log10, format_table
        from gradscope.report.text import error_footer

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
                    error_footer(sp.log10_error),
                    *(
                        [f"the same network in Python: import gradscope; {report.python}"]
                        if report.python
                        else []
                    ),
                    *(
                        ["", *_enclosure_lines(report, show=min(top, show), top_only=True)]
                        if report.enclosure is not None
                        else []
                    ),
                ]
            )
        )
    if not as_json and report.lyapunov is not None:
        from gradscope.report.text import render_lyapunov

        click.echo("\n" + render_lyapunov(report.lyapunov, show=show))


def _size_message(exc: Any, end: int) -> str:
    """The library's size refusal in the command's words (--start, --max-bits)."""
    if exc.fitting_start is None:
        shorter = "not even one factor fits: use a smaller --hidden"
    else:
        shorter = (
            f"certify a shorter window, --start {exc.fitting_start} "
            f"(the last {end - exc.fitting_start} factors)"
        )
    return (
        f"--certify: the exact product would have integer entries of about "
        f"{exc.estimated_bits:,} bits, over the limit of {exc.max_bits:,} for this n "
        f"(seconds of exact arithmetic; the cost grows faster than linearly): {shorter}, "
        f"or pass --max-bits {exc.estimated_bits} to try anyway"
    )


def _enclosure_lines(report: Any, *, show: int, top_only: bool = False) -> list[str]:
    """The certified intervals of the rows the table shows, and what they prove."""
    from gradscope.report.table import format_table

    enc = report.enclosure
    count = report.spectrum.log10_singular_values.size
    if top_only or count <= show:
        index = list(range(min(count, show)))
    else:
        head = (show + 1) // 2
        index = [*range(head), -1, *range(count - (show - head), count)]

    def bound(x: float) -> str:
        return "−∞" if x == -float("inf") else repr(float(x))

    rows = [
        ["…", "…", "…"]
        if i < 0
        else [str(i + 1), bound(enc.log10_lower[i]), bound(enc.log10_upper[i])]
        for i in index
    ]
    zeros = enc.hidden - enc.rank
    return [
        "certified (--certify): lower <= log10 σ_i <= upper, proved for the exact product of "
        "the stored float64 step data (python-flint)",
        format_table(["i", "lower", "upper"], rows, align="rrr"),
        f"exact rank {enc.rank} of {enc.hidden}"
        + (f" ({zeros} σ_i exactly 0: −∞)" if zeros else "")
        + f"; roots of charpoly(NᵀN) at {enc.precision_bits} bits, product entries of "
        f"{enc.product_bits:,} bits",
    ]


def _refuse_with_cell(
    *, reason: str = "the cell, --inputs and --h0 define the run", **given: Any
) -> None:
    """Options of generated or RNN weights that a user's (or zoo) cell does not take: exit 2."""
    names = [f"--{k.replace('_', '-')}" for k, v in given.items() if v not in (None, False)]
    if names:
        raise click.UsageError(f"{', '.join(names)} cannot be combined with --cell ({reason})")
