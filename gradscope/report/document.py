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
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope import progress
from gradscope.io_folder import (
    check_output_folder,
    install_folder,
    make_staging_folder,
    terminate_cleanly,
    write_manifest,
)

if TYPE_CHECKING:
    from gradscope.model import RNN
    from gradscope.studies.spectrum_report import WorkEstimate

__all__ = ["ReportSettings", "build_report", "check_report_work", "estimate_report_work"]


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
    zoo: bool = True
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


def _bound_work(s: ReportSettings, hidden: int, T: int) -> WorkEstimate:
    """The bound table's part: every family, tanh and linear, ``seeds`` instances each.

    Memory from :func:`~gradscope.studies.bound.estimate_bound_memory`. Time: the
    scan runs to T, and on to the machine-epsilon horizon the bound predicts (at
    most the horizon cap of 1000 steps); per step a product of every instance.
    """
    from gradscope.init import FAMILIES
    from gradscope.studies.bound import (
        DEFAULT_ACTIVATIONS,
        DEFAULT_HORIZON_CAP,
        EPS,
        estimate_bound_memory,
    )
    from gradscope.studies.spectrum_report import _LOOP, _N2, WorkEstimate

    batch = len(FAMILIES) * s.seeds
    cap = max(T, DEFAULT_HORIZON_CAP)
    nbytes = max(estimate_bound_memory(batch, hidden, 8, cap, T, a) for a in DEFAULT_ACTIVATIONS)
    reach = math.log(EPS) / math.log(s.norm) if s.norm < 1 else math.inf
    steps = max(T, min(DEFAULT_HORIZON_CAP, reach))
    per_step = _LOOP + batch * (1.5e-4 + _N2 * hidden**2 + 7e-11 * hidden**3)
    return WorkEstimate(float(nbytes), len(DEFAULT_ACTIVATIONS) * steps * per_step)


def estimate_report_work(
    s: ReportSettings, *, hidden: int | None = None, T: int | None = None, steps: int | None = None
) -> WorkEstimate:
    """Peak memory and time of a report: its parts one after the other.

    Parameters
    ----------
    s : ReportSettings
    hidden, T : int, optional
        Instead of ``s.hidden`` and ``s.T`` (to find settings that fit).
    steps : int, optional
        Rows of the spectrum's inputs (a user's ``--inputs``); default
        ``max(T, 300)``.
    """
    from gradscope.studies.decay import estimate_decay_work
    from gradscope.studies.spectrum_report import estimate_network_work, estimate_spectrum_work

    n = s.hidden if hidden is None else hidden
    T = s.T if T is None else T
    spectrum_T = max(T, 300) if steps is None else steps
    work = _bound_work(s, n, T).then(
        estimate_decay_work(configurations=6, nonlinear=3, T=T, hidden=min(n, 32), seeds=s.seeds)
    )
    network = estimate_network_work(n)  # drawing W_hh; the eigenvalue figure costs as much
    if s.weights is None:
        work = work.then(network)
    work = work.then(estimate_spectrum_work(n, spectrum_T))
    work = work.then(estimate_spectrum_work(n, spectrum_T, points=30)).then(network)
    if s.claims:
        from gradscope.claims import ALL_CLAIM_IDS, estimate_check_seconds

        seconds = estimate_check_seconds(list(ALL_CLAIM_IDS), s.claim_budget)
        work = work.then(type(work)(0.0, seconds))
    return work


def check_report_work(
    s: ReportSettings, *, hidden: int | None = None, steps: int | None = None
) -> None:
    """Refuse, before any work, a report that would not fit in memory or in 10 minutes.

    Parameters
    ----------
    s : ReportSettings
    hidden : int, optional
        n of the user's weights (default: ``s.hidden``, a generated network).
    steps : int, optional
        Rows of the user's inputs.

    Raises
    ------
    SizeError
        With the estimates and the ``--T``, ``--hidden`` or ``--seeds`` that fits
        (a too large ``--budget`` is named by
        :func:`gradscope.claims.check_budget`).
    """
    from gradscope.studies.spectrum_report import check_work, largest_fitting

    if s.claims:
        from gradscope.claims import ALL_CLAIM_IDS, check_budget

        check_budget(list(ALL_CLAIM_IDS), s.claim_budget)  # both groups: the report shows both
    n = s.hidden if hidden is None else hidden

    def fix(avail: int | None) -> str:
        t = largest_fitting(
            lambda v: estimate_report_work(s, hidden=n, T=v, steps=steps), s.T, available=avail
        )
        if t and t < s.T:
            return f"--T {t} fits"
        if s.weights is None:
            h = largest_fitting(
                lambda v: estimate_report_work(s, hidden=v, steps=steps), n, available=avail
            )
            if h:
                return f"--hidden {h} fits"
        k = largest_fitting(
            lambda v: estimate_report_work(replace(s, seeds=v), hidden=n, steps=steps),
            s.seeds,
            available=avail,
        )
        if k and k < s.seeds:
            return f"--seeds {k} fits"
        return "use smaller --T, --hidden, --seeds or --budget"

    what = f"report with n = {n}, T = {s.T}, {s.seeds} seed(s)" + (
        f", {steps} input steps" if steps is not None else ""
    )
    check_work(estimate_report_work(s, hidden=n, steps=steps), what=what, fix=fix)


def _load_network(s: ReportSettings) -> tuple[RNN, Any] | None:
    """A user's network and inputs (``--weights``, ``--inputs``), read and checked; or None."""
    if not s.weights:
        return None
    from gradscope.io import load_array, load_rnn

    rnn = load_rnn(s.weights, activation=s.activation).rnn
    x = load_array(s.inputs, name="inputs", ndim=2) if s.inputs else None
    return rnn, x


def build_report(outdir: str, settings: ReportSettings, *, force: bool = False) -> dict[str, Any]:
    """Compute everything, write the report folder atomically, return ``results.json``'s data.

    Every check comes first: the folder, the weights and inputs files, and the
    estimated memory and time (:func:`check_report_work`). The report is built
    in a staging folder beside ``outdir``, removed on any failure and on SIGTERM
    (the process then exits with status 143,
    :data:`~gradscope.io_folder.TERMINATED_STATUS`); one left by a killed
    process is removed by the next report into the same parent
    (:func:`~gradscope.io_folder.remove_stale_staging`).

    Raises
    ------
    ConfigError
        For a target that :func:`gradscope.io_folder.check_output_folder`
        refuses (a non-empty folder without ``force``; with ``force``, one
        holding anything gradscope did not write there unchanged; the current
        folder; one containing an input file), or bad weights/inputs files.
    SizeError
        For a report too large for memory or for 10 minutes.
    """
    from gradscope.report import figures
    from gradscope.report.table import format_log10

    check_output_folder(outdir, force=force, inputs=(settings.weights, settings.inputs))
    network = _load_network(settings)
    if network is None:
        check_report_work(settings)
    else:
        rnn, x = network
        steps = settings.T if x is None else int(x.shape[0])
        check_report_work(settings, hidden=rnn.hidden_size, steps=steps)
    with terminate_cleanly():
        tmp = make_staging_folder(outdir)
        try:
            results = _fill(tmp, settings, figures, format_log10, network)
            write_manifest(tmp)
            install_folder(tmp, outdir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return results


#: The report's parts, for its progress line.
_PARTS = 5


def _fill(
    tmp: str, s: ReportSettings, figures: Any, fmt: Any, network: tuple[RNN, Any] | None
) -> dict[str, Any]:
    with progress.task("report", _PARTS) as task:
        return _fill_parts(tmp, s, figures, fmt, network, task)


def _fill_parts(
    tmp: str,
    s: ReportSettings,
    figures: Any,
    fmt: Any,
    network: tuple[RNN, Any] | None,
    task: progress.Task,
) -> dict[str, Any]:
    from gradscope.init import instance_seed, random_inputs, random_rnn, reproduce_instance
    from gradscope.studies.bound import compute_bound
    from gradscope.studies.decay import compute_decay_curves
    from gradscope.studies.spectrum_report import compute_spectrum_report, spectrum_over_time

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
    results["bound"] = {"command": "bound", **bound.to_dict()}
    task.advance()
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
    task.advance()
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
    if network is not None:
        rnn, given = network
        x = (
            given
            if given is not None
            else random_inputs(s.T, rnn.input_size, seed=instance_seed(s.seed, 0))
        )
        source = s.weights or ""
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
    results["spectrum"] = {"command": "spectrum", **spec.to_dict()}
    task.advance()
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
    task.advance()

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
        papers = check_claims(budget=s.claim_budget, seed=s.seed, source="papers")
        results["paper_claims"] = [c.to_dict() for c in papers]
        doc.heading("The papers' claims")
        doc.para(
            "The published cells' own statements about their gradients or Jacobians (on the "
            "zoo's cells), judged like the tutorial's (gradscope check --source papers)."
        )
        doc.table(
            ["claim", "verdict", "evidence"], [[c.id, c.verdict, c.evidence] for c in papers]
        )
        for c in papers:
            if c.corrected:
                doc.para(f"{c.id} — corrected: {c.corrected} (source: {c.source})")
    task.advance()

    # the zoo of published cells (gradscope.report.zoo_section)
    if s.zoo:
        from gradscope.report.zoo_section import add_zoo_section

        add_zoo_section(doc, results, fmt, s.seed)

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
        from gradscope.symbolic import derive_jacobian, render_jacobian
    except ImportError:
        return None
    result = derive_jacobian(hidden=2, T=2, activation="tanh", input_size=1)
    text: str = render_jacobian(result)
    return text if len(text) < 4000 else text[:4000] + "\n…"
