"""``gradscope check`` and ``gradscope replay``: the tutorial's claims and the papers'."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import click

from gradscope.claim_ids import ALL_CLAIM_IDS, CLAIM_SOURCE, SOURCES
from gradscope.cli._base import (
    InputFile,
    _check_output,
    _check_plot_path,
    _emit_json,
    _figures,
    main,
)
from gradscope.cli.options import (
    budget_option,
    certify_options,
    json_option,
    plot_option,
    seed_option,
)


@main.command()
@click.argument("claim_ids", nargs=-1, type=click.Choice(ALL_CLAIM_IDS), metavar="[ID]...")
@click.option(
    "--source",
    type=click.Choice(["tutorial", "papers", "all"]),
    default=None,
    help="Which group: the tutorial's claims, the papers' (the zoo's published cells), or "
    "all. Default: the group of the IDs given, or tutorial without IDs.",
)
@budget_option(
    help="Evaluations per claim (default: each claim's own; verdicts are reproducible)."
)
@seed_option()
@click.option(
    "--out",
    type=click.Path(file_okay=False, writable=True),
    help="Write each counterexample as DIR/<claim>-<k>.json (replay with gradscope replay).",
)
@plot_option()
@certify_options()
@json_option()
def check(
    claim_ids: tuple[str, ...],
    source: str | None,
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
    a budget counted in evaluations, and judged. Claims are grouped by source:
    the tutorial's nine and the papers' (the published cells' own statements
    about their gradients or Jacobians).

    Without IDs, --source picks the group; its default is the tutorial's nine,
    because that is what a bare ``gradscope check`` has always meant (DESIGN.md
    §3: every claim of the seed): its verdicts, JSON and running time stay as
    they were for scripts that run it, and the papers' claims, which build zoo
    cells and cost more, are asked for by name or with --source papers|all
    (``gradscope report`` shows both groups). An ID of another group than
    --source is bad usage (exit 2).
    """
    from gradscope.claims import check_budget, check_claim, select_claims
    from gradscope.claims.base import Counterexample
    from gradscope.errors import ConfigError

    try:
        ids = select_claims(claim_ids, source)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    check_budget(ids, budget)  # a budget of hours is refused before the searches (exit 2)
    _check_plot_path(plot_file)
    _check_output(out, "--out", folder=True)  # before the searches, not after (exit 2)
    if certify:
        from gradscope.claims._balls import flint_module

        flint_module()  # python-flint missing: one line now, not after the whole run
    show_progress = sys.stderr.isatty()
    results = []
    for claim_id in ids:
        if show_progress:
            click.echo(f"checking {claim_id} …", err=True)
        results.append(check_claim(claim_id, budget=budget, seed=seed))
    if plot_file:
        figures = _figures()
        from gradscope.numeric.forward import rnn_steps
        from gradscope.numeric.products import log10_norm_trajectory

        trajectories = {}
        for r in results:
            if r.counterexamples and isinstance(r.counterexamples[0], Counterexample):
                c = r.counterexamples[0]
                steps = rnn_steps(c.rnn, c.inputs[: c.end], c.h0)
                trajectories[r.id] = log10_norm_trajectory(steps, start=c.start, end=c.end)
        figures.save_figure(figures.plot_claims(results, trajectories), plot_file)
    written: list[str] = []
    removed: list[str] = []
    if out:
        written, removed = _write_counterexamples(out, results)
        if removed and as_json:
            click.echo(_removed_line(out, removed), err=True)
    certificates: dict[str, list[Any]] = {}
    if certify:
        from gradscope.claims import get_claim
        from gradscope.claims.certify import certify_counterexample

        for r in results:
            if get_claim(r.id).certify is None:  # a paper's claim without ball arithmetic
                certificates[r.id] = []
                continue
            if show_progress and r.counterexamples:
                click.echo(f"certifying {r.id} …", err=True)
            certificates[r.id] = [
                certify_counterexample(c, max_precision=max_precision)
                for c in r.counterexamples
                if isinstance(c, Counterexample)
            ]
    proved = {k: bool(cs) and all(c.certified for c in cs) for k, cs in certificates.items()}
    if as_json:
        claims = [r.to_dict() for r in results]
        if certify:
            for d in claims:
                d["certificates"] = [c.to_dict() for c in certificates[d["id"]]]
                d["certified"] = proved[d["id"]]
        payload: dict[str, Any] = {
            "command": "check",
            "seed": seed,
            "settings": {"seed": seed},
            "claims": claims,
        }
        if source is not None or any(CLAIM_SOURCE[i] != "tutorial" for i in ids):
            payload["settings"]["source"] = source
            payload["sources"] = _grouped(ids)
        _emit_json(payload)
        return
    from gradscope.report.text import render_checks, render_grouped_checks

    if all(CLAIM_SOURCE[i] == "tutorial" for i in ids):
        click.echo(render_checks(results, certified=proved))
    else:
        click.echo(render_grouped_checks(results, certified=proved))
    if certify:
        total = sum(len(cs) for cs in certificates.values())
        count = sum(c.certified for cs in certificates.values() for c in cs)
        click.echo(f"\ncertificates (ball arithmetic): {count} of {total} counterexamples proved")
        skipped = [r.id for r in results if r.counterexamples and get_claim(r.id).certify is None]
        if skipped:
            click.echo(f"not attempted (no ball-arithmetic criterion yet): {', '.join(skipped)}")
        for claim_id, cs in certificates.items():
            for n, c in enumerate(cs):
                status = "certified" if c.certified else "NOT certified"
                click.echo(f"- {claim_id}-{n}: {status} at {c.precision_bits} bits: {c.statement}")
    if written:
        click.echo(f"\n{len(written)} counterexample files written to {out}")
    if removed and out:
        click.echo(_removed_line(out, removed))


def _grouped(ids: Sequence[str]) -> dict[str, list[str]]:
    """The checked ids by source, in report order (the tutorial's, then the papers')."""
    out: dict[str, list[str]] = {source: [] for source in SOURCES}
    for claim_id in ids:
        out[CLAIM_SOURCE[claim_id]].append(claim_id)
    return {k: v for k, v in out.items() if v}


#: The names ``check --out`` gives its files: ``<claim>-<k>.json``.
_COUNTEREXAMPLE_NAME = re.compile(r"^(?P<claim>[a-z]+(?:-[a-z]+)*)-(?:0|[1-9][0-9]*)\.json$")


def _write_counterexamples(out: str, results: Sequence[Any]) -> tuple[list[str], list[str]]:
    """Write ``DIR/<claim>-<k>.json`` for each counterexample; drop this run's claims' stale ones.

    A file named ``<claim>-<k>.json`` for a claim checked now but not written now
    is left from an earlier run (another seed or budget found more examples)
    and would replay as if this run had found it: it is removed. Only plain
    files of exactly that name are touched; everything else in the folder,
    and the files of claims not checked now, stay.

    Returns
    -------
    written : list of str
        Paths written.
    removed : list of str
        Names removed, sorted.
    """
    from gradscope.io import write_atomic

    os.makedirs(out, exist_ok=True)
    written: list[str] = []
    for r in results:
        for k, cex in enumerate(r.counterexamples):
            path = os.path.join(out, f"{r.id}-{k}.json")
            write_atomic(path, cex.to_json() + "\n")
            written.append(path)
    checked = {r.id for r in results}
    kept = {os.path.basename(p) for p in written}
    removed: list[str] = []
    with os.scandir(out) as entries:
        for entry in entries:
            match = _COUNTEREXAMPLE_NAME.match(entry.name)
            if (
                match is not None
                and match["claim"] in checked
                and entry.name not in kept
                and entry.is_file(follow_symlinks=False)
            ):
                os.unlink(entry.path)
                removed.append(entry.name)
    return written, sorted(removed)


def _removed_line(out: str, removed: Sequence[str]) -> str:
    shown = ", ".join(removed[:4]) + (f", … ({len(removed) - 4} more)" if len(removed) > 4 else "")
    return (
        f"removed {len(removed)} stale counterexample file(s) of an earlier run from {out} "
        f"(this run did not find them): {shown}"
    )


@main.command()
@click.argument("file", type=InputFile())
@certify_options()
@json_option()
def replay(file: str, certify: bool, max_precision: int, as_json: bool) -> None:
    """Recompute a counterexample from its JSON file and show what it shows.

    Every field is checked first (a missing, mistyped or out-of-range one is
    refused in one line, exit 1), and a recomputed NaN gives no verdict.
    """
    from gradscope.claims import read_counterexample
    from gradscope.claims import replay as replay_counterexample
    from gradscope.io import parse_json, read_regular

    if certify:
        from gradscope.claims._balls import flint_module

        flint_module()
    raw = read_regular(file, what="counterexample", max_bytes=64 * 2**20)
    data = parse_json(raw, file, what="JSON counterexample")
    cex = read_counterexample(data)
    result = replay_counterexample(cex)
    _check_recorded(file, cex.observed, result.observed)
    cert = None
    if certify:
        from gradscope.claims.base import Counterexample
        from gradscope.claims.certify import certify_counterexample
        from gradscope.errors import ConfigError

        if not isinstance(cex, Counterexample):
            raise ConfigError(f"no certificate is implemented for {cex.claim!r}")
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


def _check_recorded(file: str, recorded: Any, recomputed: Any) -> None:
    """Refuse a counterexample whose data no longer give the numbers it records.

    A file written by ``gradscope check`` records what its data gave
    (``observed``); a replay recomputes them from the same data, so a number
    that moved by more than rounding means the data were changed afterwards
    (or written by a gradscope that computed differently): bad data, exit 1.
    """
    import math

    from gradscope.errors import ConfigError

    slack = recomputed.get("log10_error", 0.0)
    slack = float(slack) if isinstance(slack, int | float) and math.isfinite(slack) else 0.0
    for key in sorted(set(recorded) & set(recomputed)):
        a, b = recorded[key], recomputed[key]
        if isinstance(a, bool) or not isinstance(a, int | float) or not isinstance(b, int | float):
            continue
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        if abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b)) + slack:
            raise ConfigError(
                f"{file}: records {key} = {a:.12g}, but its data give {b:.12g}: the file was "
                "changed after gradscope wrote it (or by another version); write a fresh one "
                "with gradscope check --out"
            )
