"""``gradscope derive``: closed forms as LaTeX."""

from __future__ import annotations

import click

from gradscope.cli._base import (
    _check_output,
    main,
)
from gradscope.cli.options import (
    T_option,
    activation_option,
    hidden_option,
    input_size_option,
)


@main.command()
@hidden_option(default=2, help="n, hidden units.")
@T_option(default=3, help="Horizon: the product ∂h_T/∂h_0 has T factors.")
@activation_option(help="φ; relu'(0) = 0 as in PyTorch.")
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
    help="Also the fully explicit forms (hidden·T ≤ 24 for the Jacobian; hidden·T ≤ 8 "
    "and --input-size, --output-size ≤ 2 for gradients).",
)
@click.option(
    "--standalone", is_flag=True, help="A complete document for pdflatex (amsmath, breqn)."
)
@input_size_option(default=1, help="m.")
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
    Sizes beyond the documented limits (hidden ≤ 16, hidden²·T ≤ 4000, T ≤ 200;
    --expand as above) are refused up front, exit 2, naming sizes that fit; every
    allowed derivation takes a few seconds.

    Example: gradscope derive --hidden 2 --T 3 --standalone -o bptt.tex
    """
    from gradscope.symbolic.latex.document import render_document
    from gradscope.symbolic.limits import check_sizes

    for kind in ("jacobian", "gradient") if what == "all" else (what,):  # both, up front
        check_sizes(
            hidden=hidden,
            T=T,
            activation=activation,
            input_size=input_size,
            output_size=output_size,
            expand=expand,
            what=kind,
        )
    _check_output(output, "--output")  # unwritable: exit 2, before the derivation
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
