"""``gradscope check`` and ``gradscope replay``: the tutorial's claims."""

from __future__ import annotations

import sys
from typing import Any

import click

from gradscope.cli._base import (
    _certify_options,
    _check_plot_path,
    _emit_json,
    _figures,
    _json_option,
    _plot_option,
    _seed_option,
    main,
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
    if out:
        from gradscope.io_folder import check_can_write

        check_can_write(out, what="--out", folder=True)  # before the searches, not after
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
    from gradscope.io import parse_json, read_regular

    raw = read_regular(file, what="counterexample", max_bytes=64 * 2**20)
    data = parse_json(raw, file, what="JSON counterexample")
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
