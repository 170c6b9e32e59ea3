"""``gradscope spectrum --cell NAME``: a published cell of the zoo, with its paper's defaults.

A ``--cell`` value without ``:`` names a zoo cell (DESIGN.md §3); the run is
:func:`gradscope.studies.zoo.zoo_run`'s: the paper's initialisation drawn from
``--seed``, inputs x_t ~ N(0, 1) of width ``--input-size`` (default 8),
s_0 = 0. The table and the JSON name the cell, its paper and every default.
"""

from __future__ import annotations

from typing import Any

import click

from gradscope.cli._base import _emit_json
from gradscope.zoo_names import ZOO_NAMES

__all__ = ["check_zoo_name", "zoo_spectrum"]


def check_zoo_name(name: str) -> None:
    """Exit 2, listing the zoo's names, unless ``name`` is one of them."""
    if name not in ZOO_NAMES:
        raise click.BadParameter(
            f"{name!r} is not a zoo cell: choose one of {', '.join(ZOO_NAMES)}, "
            f"or name your own as package.module:factory",
            param_hint="'--cell'",
        )


def _state_size(name: str, hidden: int) -> int:
    """The state's size before anything is drawn (coRNN 2n; S6 n·16 at its default N)."""
    from gradscope.model.zoo import zoo_class

    if name == "cornn":
        return 2 * hidden
    if name == "s6":
        hyper: Any = getattr(zoo_class("s6"), "HYPER")  # noqa: B009
        return hidden * int(hyper["state_dim"].default)
    return hidden


def zoo_spectrum(
    *,
    name: str,
    hidden: int | None,
    input_size: int | None,
    T: int | None,
    top: int | None,
    lyapunov_top: int | None,
    seed: int,
    as_json: bool,
    show: int = 12,
) -> None:
    """Every singular value of ∂s_T/∂s_0 of a zoo cell (or the top K, matrix-free)."""
    from gradscope.cli._cell import _check_size

    check_zoo_name(name)
    hidden = 64 if hidden is None else hidden
    m = 8 if input_size is None else input_size
    T = 100 if T is None else T
    n = _state_size(name, hidden)
    for value, opt in ((top, "--top"), (lyapunov_top, "--lyapunov-top")):
        if value is not None and not 1 <= value <= n:
            raise click.BadParameter(f"{value} is not in 1..n = {n}", param_hint=f"'{opt}'")
    _check_size(n, T, top)

    from gradscope.numeric.lyapunov import compute_lyapunov
    from gradscope.numeric.matrixfree import compute_top_spectrum
    from gradscope.numeric.spectrum import compute_singular_values
    from gradscope.records import json_number
    from gradscope.studies.zoo import zoo_header, zoo_run

    run = zoo_run(name, hidden=hidden, inputs=m, T=T, seed=seed)
    steps = run.steps
    if top is None:
        full = compute_singular_values(steps)
        method, values, errors = "graded", full.log10_singular_values, full.log10_error
    else:
        part = compute_top_spectrum(steps, top, seed=seed)
        method, values, errors = "matrix-free", part.log10_singular_values, part.log10_error
    record: dict[str, Any] = {
        "command": "spectrum",
        **zoo_header(run),
        "method": method,
        "log10_singular_values": [json_number(v) for v in values],
        "log10_error": [json_number(v) for v in errors],
    }
    if lyapunov_top is not None:
        ly = compute_lyapunov(steps, k=lyapunov_top)
        record["lyapunov_top"] = {
            "k": lyapunov_top,
            "exponents": [json_number(v) for v in ly.exponents],
            "lyapunov_error": [json_number(v) for v in ly.lyapunov_error],
            "unit": ly.unit,
        }
    if as_json:
        _emit_json(record)
        return
    _print(record, values, errors, show)


def _print(record: dict[str, Any], values: Any, errors: Any, show: int) -> None:
    paper = record["paper"]
    arxiv = f", arXiv:{paper['arxiv']}" if paper["arxiv"] else ""
    click.echo(
        f"cell {record['cell']}: {paper['authors']} ({paper['year']}), "
        f"{paper['title']}, {paper['venue']}{arxiv}"
    )
    click.echo(
        f"state size n = {record['state_size']} (hidden {record['hidden_size']}, inputs "
        f"m = {record['input_size']}), T = {record['T']}, seed {record['seed']}, "
        f"∂s_T/∂s_0 ({record['method']})"
    )
    click.echo(f"inputs: {record['inputs']}")
    click.echo("defaults:")
    for key, entry in record["defaults"].items():
        click.echo(f"  {key} = {entry['value']}  ({entry['source']})")
    count = len(values)
    rows = list(range(count)) if count <= show else [
        *range((show + 1) // 2), *range(count - show // 2, count)
    ]  # fmt: skip
    for j, i in enumerate(rows):
        if j and i != rows[j - 1] + 1:
            click.echo(f"  … ({i - rows[j - 1] - 1} more)")
        click.echo(f"  log10 σ_{i + 1} = {values[i]:.12g}  (± {errors[i]:.1e})")
    if "lyapunov_top" in record:
        ly = record["lyapunov_top"]
        for i, (v, e) in enumerate(zip(ly["exponents"], ly["lyapunov_error"], strict=True), 1):
            shown = "-inf" if v is None else f"{v:.10g}"
            click.echo(f"  λ_{i} = {shown}  (± {e if e is None else f'{e:.1e}'}, {ly['unit']})")
