"""Text renderings of results for the terminal."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from gradscope.report.analysis_text import layer_message
from gradscope.report.table import format_log10, format_table

if TYPE_CHECKING:
    from gradscope.claims.base import ClaimCheck
    from gradscope.numeric.lyapunov import LyapunovResult
    from gradscope.studies.analyze import Analysis
    from gradscope.studies.bound import BoundResult, BoundRow
    from gradscope.studies.spectrum_report import SpectrumReport

__all__ = [
    "render_analysis",
    "render_bound",
    "render_checks",
    "render_grouped_checks",
    "render_lyapunov",
    "render_spectrum",
]


def _threshold_label(threshold: float) -> str:
    if threshold == 2.0**-52:
        return "eps"
    return f"{threshold:g}"


def _horizon_cell(row: BoundRow, index: int) -> str:
    lo, hi, pred = row.horizon_range(index)
    cap = row.per_seed[0].horizons[index].cap
    if lo is None:
        measured = f">{cap}"
    elif hi is None:
        measured = f"{lo}–>{cap}"
    elif lo == hi:
        measured = str(lo)
    else:
        measured = f"{lo}–{hi}"
    bound = "never" if pred is None else f"{math.ceil(pred - 1e-9)}"
    return f"{measured} ({bound})"


def render_bound(result: BoundResult) -> str:
    """The ``gradscope bound`` table with a header that states what was measured."""
    s = result.settings
    scale = f"‖W‖₂ = {s.norm:g}" if s.norm is not None else f"ρ(W) = {s.radius:g}"
    header = (
        f"‖∂h_T/∂h_0‖₂ against the bound (γ‖W‖₂)^T, T = {s.T}, {scale}, n = {s.hidden}, "
        f"{s.seeds} seed{'s' if s.seeds != 1 else ''} (run seed {s.seed}); worst seed shown"
    )
    headers = ["family", "activation", "log10 measured", "log10 bound", "log10 ratio", "holds"]
    headers += [f"horizon {_threshold_label(t)} (bound)" for t in s.thresholds]
    rows = []
    for r in result.rows:
        cells = [
            r.family,
            r.activation,
            format_log10(r.log10_measured),
            format_log10(r.log10_bound),
            format_log10(r.log10_ratio),
            "yes" if r.holds else "NO",
        ]
        cells += [_horizon_cell(r, i) for i in range(len(s.thresholds))]
        rows.append(cells)
    footer = (
        "horizon θ: first k with ‖∂h_k/∂h_0‖₂ < θ over the seeds (the bound's "
        f"prediction ⌈log θ / log(γ‖W‖₂)⌉), scanned up to {max(s.T, s.horizon_cap)} steps; "
        f"holds: measured ≤ bound + the smaller of its error bound and {s.tolerance_log10:.1e} "
        "(rounding, in log10)"
    )
    errors = np.array([b.log10_error for r in result.rows for b in r.per_seed])
    finite = errors[~np.isnan(errors)]
    worst = float(finite.max()) if finite.size else 0.0
    footer += (
        "\nerror bounds: "
        + (
            "some measured norms are not determined by the data (error bound inf)"
            if math.isinf(worst)
            else f"every log10 measured is within ±{worst:.1e} of the exact product of its "
            "float64 Jacobians"
        )
        + " (first-order, computed while running; --json gives each)"
    )
    first = result.rows[0]
    python = (
        f"the same networks in Python (row 1: {first.family}, {first.activation}; "
        f"seed i = 0..{s.seeds - 1}; --json gives every row's): import gradscope; "
        + result.python(first)
    )
    return "\n".join(
        [
            header,
            "",
            format_table(headers, rows, align="ll" + "r" * (len(headers) - 2)),
            "",
            footer,
            python,
        ]
    )


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _checks_table(results: list[ClaimCheck], width: int, cert: dict[str, bool]) -> str:
    def verdict(r: ClaimCheck) -> str:
        return f"{r.verdict}, certified" if cert.get(r.id) else r.verdict

    rows = [
        [r.id, verdict(r), str(len(r.counterexamples)), _shorten(r.evidence, width)]
        for r in results
    ]
    return format_table(["claim", "verdict", "cex", "evidence"], rows, align="llrl")


_CHECKS_FOOTER = (
    "verdicts: holds / violated (a counterexample from two seeds) / holds-under (true under "
    "stated conditions); --json for the full evidence, --out DIR for replayable files"
)


def render_checks(
    results: list[ClaimCheck],
    *,
    width: int = 110,
    certified: dict[str, bool] | None = None,
) -> str:
    """The ``gradscope check`` verdict table: one line of evidence per claim.

    With ``certified`` (claim id → every counterexample proved in ball arithmetic),
    proved verdicts read e.g. ``violated, certified``.
    """
    table = _checks_table(results, width, certified or {})
    notes = [f"- {r.id}: {r.corrected}" for r in results if r.verdict != "holds" and r.corrected]
    return "\n".join([table, "", "corrected statements:", *notes, "", _CHECKS_FOOTER])


def render_grouped_checks(
    results: list[ClaimCheck],
    *,
    width: int = 110,
    certified: dict[str, bool] | None = None,
) -> str:
    """:func:`render_checks` with one table per source: the tutorial's claims, the papers'."""
    from gradscope.claim_ids import CLAIM_SOURCE, SOURCES

    titles = {"tutorial": "the tutorial's claims", "papers": "the papers' claims"}
    parts: list[str] = []
    for source in SOURCES:
        group = [r for r in results if CLAIM_SOURCE.get(r.id) == source]
        if group:
            parts += [f"{titles[source]}:", _checks_table(group, width, certified or {}), ""]
    notes = [f"- {r.id}: {r.corrected}" for r in results if r.verdict != "holds" and r.corrected]
    return "\n".join([*parts, "corrected statements:", *notes, "", _CHECKS_FOOTER])


def error_footer(log10_error: np.ndarray) -> str:
    """One line with the largest error bound of a spectrum (each is in the JSON)."""
    finite = log10_error[~np.isnan(log10_error)]
    worst = float(finite.max()) if finite.size else 0.0
    where = (
        "some values are not determined by the data (error bound inf)"
        if math.isinf(worst)
        else f"every log10 σ_i is within ±{worst:.1e} of the exact product of these float64 "
        "Jacobians"
    )
    return f"error bounds: {where} (first-order, computed while running; --json gives each)"


def render_spectrum(report: SpectrumReport, *, show: int = 12) -> str:
    """The ``gradscope spectrum`` table: the top and bottom of the spectrum, and a summary."""
    sp = report.spectrum
    s = sp.log10_singular_values
    lam = sp.lyapunov_exponents
    n = s.size
    k = sp.steps
    header = (
        f"singular values of ∂h_{sp.end}/∂h_{sp.start} ({k} factors), {report.source}, "
        f"{sp.activation}, n = {n}, T = {report.T}"
    )
    if n <= show:
        index = list(range(n))
    else:
        top = (show + 1) // 2
        index = [*range(top), -1, *range(n - (show - top), n)]
    rows = []
    for i in index:
        if i < 0:
            rows.append(["…", "…", "…"])
        else:
            rows.append([str(i + 1), format_log10(float(s[i])), f"{lam[i]:.6f}"])
    table = format_table(["i", "log10 σ_i", "λ_i (per step)"], rows, align="rrr")
    spread = f"{s[0] - s[-1]:.1f} decades" if np.isfinite(s[0]) and np.isfinite(s[-1]) else "∞"
    summary = [
        f"top: log10 σ₁ = {format_log10(float(s[0]))}; bound (γ‖W‖₂)^{k}: "
        f"{format_log10(report.log10_bound)} (γ = {report.gamma:g}, ‖W‖₂ = "
        f"{report.spectral_norm:.6g}, ρ(W) = {report.spectral_radius:.6g})",
        f"spread σ₁/σ_n: {spread}; a float64 SVD of the product would resolve "
        f"{report.float_resolvable} of {n}",
        "λ_i: Lyapunov exponents (natural log per step, QR method) — asymptotic rates, "
        "not the finite-T singular values",
    ]
    summary.append(error_footer(sp.log10_error))
    if report.python is not None:
        summary.append(f"the same network in Python: import gradscope; {report.python}")
    return "\n".join([header, "", table, "", *summary])


def render_lyapunov(result: LyapunovResult, *, show: int = 12) -> str:
    """The top k Lyapunov exponents of ``gradscope spectrum --lyapunov-top K``, a table."""
    assert result.standard_error is not None
    rows = [
        [str(i + 1), "−∞" if lam == -math.inf else f"{lam:.6f}", f"{se:.1e}", f"{err:.1e}"]
        for i, (lam, se, err) in enumerate(
            zip(result.exponents, result.standard_error, result.lyapunov_error, strict=True)
        )
    ][:show]
    more = (
        [f"(and {result.exponents.size - show} more: --json)"]
        if result.exponents.size > show
        else []
    )
    return "\n".join(
        [
            f"top {result.k} Lyapunov exponents over steps {result.start + result.warmup + 1}.."
            f"{result.end} (warm-up {result.warmup}; natural log per step, QR method, "
            f"{result.qr_count} QRs)",
            "",
            format_table(["i", "λ_i", "std. error", "rounding"], rows, align="rrrr"),
            *more,
            "std. error: batch means (statistical, as an estimate of the asymptotic rate); "
            "rounding: a bound against the same iteration in exact arithmetic",
        ]
    )


def _num(x: float | None) -> str:
    """A weight's norm or radius, 4 significant digits: ``0.9``, ``1.234``, ``1e+300``."""
    return "n/a" if x is None else f"{x:.4g}"


def _steps(x: float) -> str:
    """A predicted horizon in steps: one decimal, or 4 significant digits past a million."""
    return f"{x:.1f}" if abs(x) < 1e6 else f"{x:.4g}"


def render_analysis(result: Analysis, *, show: int = 6) -> str:
    """The analysis as text for a terminal: one block per layer."""
    lines = [f"{result.source}: {result.cell} ({result.format}), {result.num_layers} layer(s)"]
    if result.inputs is None:
        lines.append(f"inputs: none given — {result.T} steps of zeros (pass --inputs FILE.npy)")
    else:
        lines.append(f"inputs: {result.inputs}, T = {result.T}")
    for a in result.layers:
        d = a.to_dict()
        act = f", {a.activation}" if a.activation else ""
        lines += ["", f"layer {a.layer}: {a.cell}{act}, n = {a.hidden}, state {d['state']}"]
        s = [("−∞" if v is None else f"{v:.3f}") for v in d["log10_singular_values"]]
        shown = s if len(s) <= show else [*s[: show // 2], "…", *s[-(show - show // 2) :]]
        lines.append(f"  log10 σ(∂s_T/∂s_0), T = {a.T}: {' '.join(shown)}")
        lam = [("−∞" if v is None else f"{v:.4f}") for v in d["lyapunov_exponents"][:3]]
        lines.append(f"  Lyapunov exponents (ln/step, top 3): {' '.join(lam)}")
        back = ", ".join(
            f"k={k}: {'−∞' if v == -math.inf else f'{v:.2f}'}" for k, v in a.log10_norm_back
        )
        lines.append(f"  log10 ‖∂s_T/∂s_(T−k)‖₂: {back}")
        h = (
            f"{a.horizon} step{'s' if a.horizon != 1 else ''}"
            if a.horizon is not None
            else f"not reached within {a.T} steps"
        )
        lines.append(f"  memory horizon (first k with ‖∂s_T/∂s_(T−k)‖₂ < {a.threshold:g}): {h}")
        norms = ", ".join(f"‖{k}‖₂ = {_num(v)}" for k, v in a.block_norms)
        lines.append(f"  weights: {norms}")
        if a.cell == "rnn":
            b = d["bound"]
            pred = (
                f"{_steps(a.predicted_horizon)} steps"
                if a.predicted_horizon is not None
                else "none (γ‖W_hh‖₂ >= 1, no decay guaranteed)"
            )
            lb = "−∞" if b["log10_bound"] is None else f"{b['log10_bound']:.2f}"
            lines.append(
                f"  ρ(W_hh) = {_num(a.spectral_radius)}; bound T·log10(γ‖W_hh‖₂) = {lb} "
                f"({'holds' if b['holds'] else 'VIOLATED'}); bound's horizon: {pred}"
            )
        else:
            assert a.gate_mean is not None
            lines.append(
                f"  mean {'forget' if a.cell == 'lstm' else 'update'} gate {a.gate_mean[0]} = "
                f"{a.gate_mean[1]:.3f}; no (γ‖W‖)^T bound exists for gated cells"
            )
        lines.append(f"  verdict: {layer_message(a)}")
    return "\n".join(lines)
