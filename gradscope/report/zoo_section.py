"""The report's zoo table: each published cell at a small size, with its paper and defaults.

One row per cell of :data:`gradscope.zoo_names.ZOO_NAMES` from
:func:`gradscope.studies.zoo.zoo_table` (hidden 16, m = 8, T = 100, the
report's seed; inputs x_t ~ N(0, 1), s_0 = 0): log10 ‖∂s_T/∂s_0‖₂ and log10
σ_min of the whole spectrum, each with its error bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ZOO_HEADERS", "add_zoo_section", "defaults_text", "zoo_cells_text"]

#: The table's columns.
ZOO_HEADERS = (
    "cell",
    "paper",
    "defaults",
    "state n",
    "log10 ‖∂s_T/∂s_0‖₂",
    "log10 σ_min",
)


def defaults_text(defaults: dict[str, Any]) -> str:
    """``key=value`` for each default, comma-separated (the sources are in results.json)."""
    return ", ".join(f"{key}={entry['value']}" for key, entry in defaults.items())


def _with_error(value: float | None, error: float | None, fmt: Callable[[Any], str]) -> str:
    text = fmt(value)
    if value is None:
        return text  # log10 of an exact zero has no error bar
    if error is None:
        return f"{text} (no error bound)"  # the engine's bound is infinite
    return f"{text} ± {error:.1e}"


def zoo_cells_text(rows: list[dict[str, Any]], fmt: Callable[[Any], str]) -> list[list[str]]:
    """The table's cells as text, one list per zoo cell."""
    out = []
    for r in rows:
        paper = r["paper"]
        arxiv = f", arXiv:{paper['arxiv']}" if paper["arxiv"] else ""
        out.append(
            [
                r["cell"],
                f"{paper['authors']} ({paper['year']}){arxiv}",
                defaults_text(r["defaults"]),
                str(r["state_size"]),
                _with_error(r["log10_norm"], r["log10_norm_error"], fmt),
                _with_error(r["log10_sigma_min"], r["log10_sigma_min_error"], fmt),
            ]
        )
    return out


def add_zoo_section(
    doc: Any, results: dict[str, Any], fmt: Callable[[Any], str], seed: int
) -> None:
    """Compute the zoo table, put it in ``results["zoo"]`` and add its section to ``doc``."""
    from gradscope.studies.zoo import INPUTS_NOTE, TABLE_SIZE, zoo_table

    rows = zoo_table(seed=seed)
    size = {**TABLE_SIZE, "seed": seed}
    results["zoo"] = {"settings": size, "inputs": INPUTS_NOTE, "rows": rows}
    doc.heading("The zoo of published cells")
    doc.para(
        f"Each cell with its paper's initialisation and defaults (hidden {size['hidden']}, "
        f"m = {size['inputs']}, T = {size['T']}, seed {seed}; {INPUTS_NOTE}). −∞: the "
        "product is exactly zero (for the ReLU IndRNN, every unit was off at some step). "
        "Any row: gradscope spectrum --cell NAME --hidden "
        f"{size['hidden']} --T {size['T']} --seed {seed}."
    )
    doc.table(list(ZOO_HEADERS), zoo_cells_text(rows, fmt))
