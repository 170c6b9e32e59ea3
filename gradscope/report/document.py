"""``gradscope report``: one folder with figures, Markdown, offline HTML and JSON.

The folder holds ``index.html`` (no external resources: images beside it),
``report.md``, ``results.json`` (the same numbers, from the results'
``to_dict()``), the figures and ``gradscope-manifest.json`` (the name and hash
of every file written). It is built in a temporary folder beside the target
and moved into place at the end, so a failed run leaves nothing half-written.
A non-empty target is refused, and ``force`` replaces only an earlier report
whose manifest lists every file in it unchanged (:mod:`gradscope.io_folder`).
"""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradscope.io_folder import (
    check_output_folder,
    install_folder,
    make_staging_folder,
    write_manifest,
)

__all__ = ["ReportSettings", "build_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSettings:
    """What a report contains and how it was made (recorded in the report)."""

    seed: int = 0
    norm: float = 0.9
    T: int = 100
    hidden: int = 64
    seeds: int = 5
    weights: str | None = None
    inputs: str | None = None
    activation: str = "tanh"
    claims: bool = True
    claim_budget: int | None = None
    command: str = "gradscope report"
    derivation: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def _table_md(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    line = "| " + " | ".join(headers) + " |"
    rule = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join([line, rule, *body])


def _table_html(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Doc:
    """Builds the Markdown and the HTML side by side from the same pieces."""

    def __init__(self, title: str) -> None:
        self.md = [f"# {title}", ""]
        self.html = [f"<h1>{html.escape(title)}</h1>"]

    def heading(self, text: str) -> None:
        self.md += [f"## {text}", ""]
        self.html.append(f"<h2>{html.escape(text)}</h2>")

    def para(self, text: str) -> None:
        self.md += [text, ""]
        self.html.append(f"<p>{html.escape(text)}</p>")

    def code(self, text: str) -> None:
        self.md += ["```text", text, "```", ""]
        self.html.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.md += [_table_md(headers, rows), ""]
        self.html.append(_table_html(headers, rows))

    def figure(self, filename: str, caption: str) -> None:
        self.md += [f"![{caption}]({filename})", "", f"*{caption}*", ""]
        self.html.append(
            f'<figure><img src="{html.escape(filename)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def render_html(self, title: str) -> str:
        style = (
            "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;"
            "padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0;"
            "font-size:14px}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}"
            "th{background:#eee}img{max-width:100%}pre{background:#f6f6f6;padding:8px;"
            "overflow-x:auto}figcaption{font-size:13px;color:#555}"
        )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(self.html)
            + "\n</body></html>\n"
        )


def build_report(outdir: str, settings: ReportSettings, *, force: bool = False) -> dict[str, Any]:
    """Compute everything, write the report folder atomically, return ``results.json``'s data.

    Raises
    ------
    ConfigError
        For a target that :func:`gradscope.io_folder.check_output_folder`
        refuses (a non-empty folder without ``force``; with ``force``, one
        holding anything gradscope did not write there unchanged; the current
        folder; one containing an input file), or bad weights/inputs files.
    """
    from gradscope.report import figures
    from gradscope.report.table import format_log10

    check_output_folder(outdir, force=force, inputs=(settings.weights, settings.inputs))
    tmp = make_staging_folder(outdir)
    try:
        results = _fill(tmp, settings, figures, format_log10)
        write_manifest(tmp)
        install_folder(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results


def _fill(tmp: str, s: ReportSettings, figures: Any, fmt: Any) -> dict[str, Any]:
    from gradscope.init import instance_seed, random_inputs, random_rnn, reproduce_instance
    from gradscope.numeric.bound import compute_bound
    from gradscope.numeric.decay import compute_decay_curves
    from gradscope.numeric.spectrum_report import compute_spectrum_report, spectrum_over_time

    doc = _Doc("gradscope report")
    results: dict[str, Any] = {"command": s.command, "seed": s.seed}
    doc.para(
        "How gradients travel backwards through recurrent networks: measured exactly (in "
        "log10, without underflow), beside the bound (γ‖W_hh‖₂)^T, with the tutorial's claims "
        "judged by search. Conventions: z_t = W_hh h_{t-1} + W_xh x_t + b, h_t = φ(z_t), "
        "J_t = diag(φ'(z_t)) W_hh, ∂h_T/∂h_k = J_T ⋯ J_{k+1} (T − k factors); norms are "
        "spectral."
    )
    doc.heading("Reproduce")
    doc.code(s.command)
    doc.heading("Setup")
    doc.table(
        ["setting", "value"],
        [
            ["seed", str(s.seed)],
            ["‖W_hh‖₂ (generated)", f"{s.norm:g}"],
            ["T", str(s.T)],
            ["hidden n", str(s.hidden)],
            ["seeds", str(s.seeds)],
            ["weights", s.weights or "generated"],
            ["inputs", s.inputs or "x_t ~ N(0, 1)"],
        ],
    )

    # 1. the bound table and the decay figure
    bound = compute_bound(norm=s.norm, T=s.T, hidden=s.hidden, seeds=s.seeds, seed=s.seed)
    results["bound"] = bound.to_dict()
    doc.heading(f"The bound at ‖W_hh‖₂ = {s.norm:g}, T = {s.T}")
    doc.para(
        "Seed i of a row (i = 0 … seeds − 1) in Python, e.g. the first row: "
        + bound.python(bound.rows[0])
    )
    doc.table(
        ["family", "activation", "log10 measured", "log10 bound", "log10 ratio", "holds"],
        [
            [
                r.family,
                r.activation,
                fmt(r.log10_measured),
                fmt(r.log10_bound),
                fmt(r.log10_ratio),
                "yes" if r.holds else "NO",
            ]
            for r in bound.rows
        ],
    )
    curves = compute_decay_curves(
        families=["orthogonal"],
        activations=["linear", "tanh"],
        scales=[0.9, 1.0, 1.1],
        T=s.T,
        hidden=min(s.hidden, 32),
        seeds=s.seeds,
        seed=s.seed,
    )
    results["decay"] = [c.to_dict() for c in curves]
    figures.save_figure(
        figures.plot_decay(curves, title="Vanishing vs exploding, redrawn from real numbers"),
        os.path.join(tmp, "decay.png"),
    )
    doc.figure(
        "decay.png",
        "log10 ‖∂h_t/∂h_0‖₂ for orthogonal W_hh scaled to 0.9, 1.0, 1.1; "
        "dashed: the bound; ▼: the measured memory horizon at θ = 1e-2",
    )

    # 2. spectra: a user's weights, or a generated network
    if s.weights:
        from gradscope.io import load_array, load_rnn

        rnn = load_rnn(s.weights, activation=s.activation).rnn
        x = (
            load_array(s.inputs, name="inputs", ndim=2)
            if s.inputs
            else random_inputs(s.T, rnn.input_size, seed=instance_seed(s.seed, 0))
        )
        source = s.weights
        python = None
    else:
        rnn = random_rnn(
            "gaussian",
            s.hidden,
            radius=1.0,
            activation=s.activation,
            seed=instance_seed(s.seed, 0),
        )
        x = random_inputs(max(s.T, 300), rnn.input_size, seed=instance_seed(s.seed, 0))
        source = "generated gaussian W_hh, ρ(W) = 1"
        python = reproduce_instance(
            "gaussian",
            s.hidden,
            radius=1.0,
            activation=s.activation,
            T=x.shape[0],
            seed=s.seed,
        )
    spec = compute_spectrum_report(rnn, x, seed=s.seed, source=source, python=python)
    results["spectrum"] = spec.to_dict()
    sv = spec.spectrum.log10_singular_values
    doc.heading(f"Spectrum of ∂h_{spec.spectrum.end}/∂h_0 ({source})")
    if python is not None:
        doc.para("The same network and inputs in Python:")
        doc.code(f"import gradscope\n{python.replace('; ', chr(10))}")
    doc.para(
        f"Every singular value, exact: log10 σ₁ = {fmt(float(sv[0]))}, log10 σ_n = "
        f"{fmt(float(sv[-1]))}; the bound gives {fmt(spec.log10_bound)}. A float64 SVD of "
        f"the product would resolve {spec.float_resolvable} of {sv.size} values."
    )
    ts, values = spectrum_over_time(rnn, x, points=30)
    figures.save_figure(
        figures.plot_spectrum_over_time(ts, values), os.path.join(tmp, "spectrum.png")
    )
    doc.figure("spectrum.png", "log10 σ_i(∂h_t/∂h_0) for every i against t")
    figures.save_figure(figures.plot_lyapunov(spec), os.path.join(tmp, "lyapunov.png"))
    doc.figure("lyapunov.png", "finite-T singular values per step beside the Lyapunov exponents")
    figures.save_figure(figures.plot_eigenvalues(rnn.W_hh), os.path.join(tmp, "eigenvalues.png"))
    doc.figure("eigenvalues.png", "eigenvalues of W_hh; the spectral norm and radius differ")

    # 3. the claims
    if s.claims:
        from gradscope.claims import check_claims

        checks = check_claims(budget=s.claim_budget, seed=s.seed)
        results["claims"] = [c.to_dict() for c in checks]
        doc.heading("The tutorial's claims")
        doc.table(
            ["claim", "verdict", "evidence"], [[c.id, c.verdict, c.evidence] for c in checks]
        )
        for c in checks:
            if c.corrected:
                doc.para(f"{c.id} — corrected: {c.corrected} (source: {c.source})")
        figures.save_figure(figures.plot_claims(checks), os.path.join(tmp, "claims.png"))
        doc.figure("claims.png", "verdicts")

    # 4. a derivation excerpt
    if s.derivation:
        excerpt = _derivation_excerpt()
        if excerpt:
            results["derivation_excerpt"] = excerpt
            doc.heading("Derivation excerpt (n = 2, T = 2, tanh)")
            doc.code(excerpt)

    with open(os.path.join(tmp, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1, allow_nan=False, default=_json_default)
        fh.write("\n")
    with open(os.path.join(tmp, "report.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(doc.md))
    with open(os.path.join(tmp, "index.html"), "w", encoding="utf-8") as fh:
        fh.write(doc.render_html("gradscope report"))
    return results


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _derivation_excerpt() -> str | None:
    """The symbolic layer's Jacobian of a tiny tanh RNN as LaTeX, if that layer is present."""
    try:
        from gradscope.symbolic import derive_jacobian
    except ImportError:
        return None
    result = derive_jacobian(hidden=2, T=2, activation="tanh", input_size=1)
    text: str = result.latex()
    return text if len(text) < 4000 else text[:4000] + "\n…"
