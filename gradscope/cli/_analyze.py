"""``gradscope analyze``: trained PyTorch RNN, LSTM and GRU weights."""

from __future__ import annotations

from typing import Any

import click

from gradscope.cli._base import (
    InputFile,
    PositiveFloat,
    _check_plot_path,
    _emit_json,
    _figures,
    main,
)
from gradscope.cli.options import (
    T_option,
    activation_option,
    inputs_option,
    json_option,
    plot_option,
)


@main.command()
@click.argument("weights", type=InputFile(), required=False)
@click.option(
    "--cell",
    "cell_spec",
    metavar="PACKAGE.MODULE:FACTORY",
    help="Instead of WEIGHTS: the user's own PyTorch cell, FACTORY() returning "
    "cell(x, h) -> h_next (the current folder is on the import path), with --inputs and --h0.",
)
@click.option(
    "--h0",
    "h0_file",
    type=InputFile(),
    help="With --cell: the initial state as an (n,) .npy array.",
)
@click.option(
    "--weights",
    "cell_weights",
    type=InputFile(),
    help="With --cell: a state dict (.safetensors, .npz) loaded with "
    "load_state_dict(strict=True), never unpickled.",
)
@inputs_option(
    help="Layer 0's inputs as a (T, m) .npy array. Without it: --T steps of zero inputs."
)
@T_option(help="Steps of zero inputs when no --inputs is given [default: 100].")
@click.option("--layer", type=click.IntRange(min=0), help="Analyse only layer K [default: all].")
@activation_option(
    choices=("tanh", "relu"),
    default=None,
    help="φ of nn.RNN weights, which the state dict does not record [default: tanh].",
)
@click.option(
    "--threshold",
    type=PositiveFloat(),
    default=0.01,
    show_default=True,
    help="θ of the memory horizon: the first k with ‖∂s_T/∂s_(T−k)‖₂ < θ.",
)
@plot_option()
@json_option()
def analyze(
    weights: str | None,
    cell_spec: str | None,
    h0_file: str | None,
    cell_weights: str | None,
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
    from gradscope.io_cells import load_layers
    from gradscope.report.text import render_analysis
    from gradscope.studies.analyze import DEFAULT_T, check_analysis_work, compute_analysis
    from gradscope.studies.spectrum_report import MAX_SECONDS

    _check_plot_path(plot_file)
    if not threshold < 1:
        raise click.BadParameter(f"{threshold:g} must be below 1", param_hint="'--threshold'")
    if cell_spec is not None:
        extra = [
            name
            for name, v in (("WEIGHTS", weights), ("--T", T), ("--layer", layer),
                            ("--activation", activation), ("--plot", plot_file))
            if v is not None
        ]  # fmt: skip
        if extra:
            raise click.UsageError(
                f"{', '.join(extra)} cannot be combined with --cell "
                "(its weights go in --weights, its run in --inputs and --h0)"
            )
        from gradscope.cli._cell import cell_analyze

        cell_analyze(
            spec=cell_spec,
            weights=cell_weights,
            inputs=inputs,
            h0_file=h0_file,
            threshold=threshold,
            as_json=as_json,
        )
        return
    if weights is None:
        raise click.UsageError(
            "Missing argument 'WEIGHTS' (a state dict file), or --cell package.module:factory"
        )
    if h0_file is not None or cell_weights is not None:
        raise click.UsageError("--h0 and --weights go with --cell; WEIGHTS runs from zeros")
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
    save_figure = None if plot_file is None else _figures().save_figure  # before any work
    x: Any = None
    rows = None if inputs is None else _declared_rows(inputs)
    if rows is None and inputs is not None:  # no trustworthy header: read it to know T
        x = _load_inputs(inputs, T)
        rows = int(x.shape[0])
    if T is not None and rows is not None and T != rows:
        raise click.BadParameter(
            f"{T} disagrees with the {rows} rows of {inputs}", param_hint="'--T'"
        )
    steps = rows if rows is not None else (T or DEFAULT_T)
    check_analysis_work(  # memory and time, from the sizes alone: before reading the inputs
        loaded,
        steps,
        None if layer is None else [layer],
        curves=plot_file is not None,
        inputs=inputs,
        max_seconds=MAX_SECONDS,
    )
    if inputs is not None and x is None:
        x = _load_inputs(inputs, T)
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
        from gradscope.report.analysis_figure import plot_memory_curves
        from gradscope.studies.memory import compute_memory_curves

        assert save_figure is not None

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
        from gradscope.report.analysis_text import analysis_json

        _emit_json(analysis_json(result))
    else:
        click.echo(render_analysis(result))


def _load_inputs(path: str, T: int | None) -> Any:
    """The (T, m) inputs, read and checked (bad data: exit 1)."""
    from gradscope.errors import ConfigError
    from gradscope.io import load_array

    x = load_array(path, name="inputs", ndim=2)
    if x.shape[0] < 1:
        raise ConfigError(f"{path}: holds no steps; inputs need at least one row (T >= 1)")
    if T is not None and T != x.shape[0]:
        raise click.BadParameter(
            f"{T} disagrees with the {x.shape[0]} rows of {path}", param_hint="'--T'"
        )
    return x


def _declared_rows(path: str) -> int | None:
    """The rows an ``.npy`` file's header declares, when the file really holds them.

    Read from the header alone, so that a run too large is refused before a big
    file is loaded. None when the header cannot be read or does not match the
    file's size (then loading the file names the problem, as bad data).
    """
    import os

    import numpy as np

    from gradscope.errors import ConfigError
    from gradscope.io import open_regular

    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            version = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(fh)
            start = fh.tell()
    except (ConfigError, ValueError, OSError, EOFError, TypeError):
        return None
    if len(shape) != 2 or dtype.hasobject:
        return None
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    return int(shape[0]) if shape[0] >= 1 and start + declared <= size else None
