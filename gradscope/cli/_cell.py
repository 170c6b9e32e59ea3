"""``--cell package.module:factory``: the user's own PyTorch cell on ``spectrum`` and ``analyze``.

The convention of uvicorn and gunicorn: the user names their own code
explicitly, and the current folder is on the import path. ``factory`` is
called with no arguments and must return a callable ``cell(x, h) -> h_next``
(an ``nn.Module`` or a function). Weights stay data: ``--weights`` is read by
gradscope's safe loaders (never unpickled) and loaded with
``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from gradscope.cli._base import _emit_json
from gradscope.errors import ConfigError

__all__ = ["cell_analyze", "cell_spectrum", "load_cell"]

_HINT = "'--cell'"


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_cell(spec: str, weights: str | None) -> Any:
    """Import ``package.module:factory``, call the factory, load ``weights`` into the result.

    Raises
    ------
    click.BadParameter
        The spec is malformed, the module cannot be imported, the attribute is
        missing, or the factory does not return a callable (bad usage, exit 2).
    ConfigError
        The weights do not match the cell (bad data, exit 1).
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise click.BadParameter(
            f"{spec!r} is not package.module:factory (e.g. my_cells:make_cell)", param_hint=_HINT
        )
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's module: any failure to import is one line
        raise click.BadParameter(
            f"cannot import {module_name!r} (from {cwd} and the import path): {_one_line(err)}",
            param_hint=_HINT,
        ) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise click.BadParameter(
                f"module {module_name!r} has no attribute {attr!r}", param_hint=_HINT
            )
        target = getattr(target, part)
    if not callable(target):
        raise click.BadParameter(
            f"{spec} is a {type(target).__name__}, not a factory: name a function or class "
            f"that returns the cell when called with no arguments",
            param_hint=_HINT,
        )
    try:
        cell = target()
    except Exception as err:
        raise click.BadParameter(
            f"{spec}() failed: {_one_line(err)} (it is called with no arguments)",
            param_hint=_HINT,
        ) from None
    if not callable(cell):
        raise click.BadParameter(
            f"{spec}() returned a {type(cell).__name__}, not a cell: it must return an "
            f"nn.Module or a function cell(x, h) -> h_next",
            param_hint=_HINT,
        )
    if weights is not None:
        _load_weights(cell, weights, spec)
    return cell


def _load_weights(cell: Any, path: str, spec: str) -> None:
    import torch

    from gradscope.io import read_arrays

    if not isinstance(cell, torch.nn.Module):
        raise click.BadParameter(
            f"--weights loads a state dict into an nn.Module; {spec}() returned a "
            f"{type(cell).__name__}",
            param_hint="'--weights'",
        )
    arrays = read_arrays(path)
    state = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    try:
        cell.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())
        raise ConfigError(f"{path}: the weights do not match {spec}(): {detail}") from None


def _inputs(inputs: str | None, h0_file: str | None) -> tuple[Any, Any]:
    from gradscope.io import load_array

    if inputs is None or h0_file is None:
        raise click.UsageError(
            "--cell needs --inputs X.npy (T rows, one per step) and --h0 H0.npy (the state)"
        )
    x = load_array(inputs, name="inputs", ndim=2)
    if x.shape[0] < 1:
        raise ConfigError(f"{inputs}: holds no steps; inputs need at least one row (T >= 1)")
    h0 = load_array(h0_file, name="h0", ndim=1)
    return x, h0


def _check_size(n: int, T: int, top: int | None, *, command: str = "spectrum") -> None:
    """Refuse, before the cell is imported or run, a spectrum that would not fit (exit 2).

    The whole spectrum (``top`` None) is the graded engine's O(T n³) work on
    :math:`J_t` formed by ``jacrev`` (n reverse passes a step, on top); the top K
    need only the matrix-free method's memory.
    """
    from gradscope.numeric.matrixfree import check_memory
    from gradscope.studies.spectrum_report import (
        check_work,
        estimate_spectrum_work,
        largest_fitting,
    )

    method = "graded" if top is None else "matrix-free"
    try:
        check_memory(n, T, method=method, top=top)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if top is None:

        def fix(avail: int | None) -> str:
            fits = largest_fitting(lambda t: estimate_spectrum_work(n, t), T, available=avail)
            shorter = f"inputs of {fits} rows fit, or " if fits >= 1 else ""
            top_only = (
                "--top K" if command == "spectrum" else "gradscope spectrum --cell … --top K"
            )
            return f"{shorter}ask for the top values only ({top_only}, matrix-free)"

        check_work(
            estimate_spectrum_work(n, T),
            what=f"the whole spectrum of a state of size {n} over T = {T} steps",
            fix=fix,
        )


def _header(spec: str, weights: str | None, inputs: str, h0: str) -> dict[str, Any]:
    return {"cell": spec, "weights": weights, "inputs": inputs, "h0": h0}


def cell_spectrum(
    *,
    spec: str,
    weights: str | None,
    inputs: str | None,
    h0_file: str | None,
    top: int | None,
    lyapunov_top: int | None,
    seed: int,
    as_json: bool,
) -> None:
    """``gradscope spectrum --cell …``: singular values (all, or the top K matrix-free)."""
    from gradscope.numeric.lyapunov import compute_lyapunov
    from gradscope.numeric.matrixfree import compute_top_spectrum
    from gradscope.numeric.spectrum import compute_singular_values
    from gradscope.records import json_number
    from gradscope.studies.analyze_module import BOUND_NOTE
    from gradscope.torch import torch_steps

    x, h0 = _inputs(inputs, h0_file)
    n = int(h0.size)  # the state's size, before the cell runs (a cell's own check follows)
    for value, name in ((top, "--top"), (lyapunov_top, "--lyapunov-top")):
        if value is not None and not 1 <= value <= n:
            raise click.BadParameter(f"{value} is not in 1..n = {n}", param_hint=f"'{name}'")
    _check_size(n, int(x.shape[0]), top)
    cell = load_cell(spec, weights)
    steps = torch_steps(cell, x, h0)
    exponents: dict[str, Any] = {}
    if top is None:
        full = compute_singular_values(steps)
        method, values, errors = "graded", full.log10_singular_values, full.log10_error
        # the whole spectrum's QR-method exponents (no warm-up); the top K have none
        # (their first pass is no estimate): --lyapunov-top computes them
        exponents = {"lyapunov_exponents": [json_number(v) for v in full.lyapunov_exponents]}
    else:
        part = compute_top_spectrum(steps, top, seed=seed)
        method, values, errors = "matrix-free", part.log10_singular_values, part.log10_error
    record: dict[str, Any] = {
        "command": "spectrum",
        **_header(spec, weights, str(inputs), str(h0_file)),
        "state_size": n,
        "T": steps.T,
        "product": f"ds_{steps.T}/ds_0",
        "method": method,
        "log10_singular_values": [json_number(v) for v in values],
        "log10_error": [json_number(v) for v in errors],
        **exponents,
        "bound": None,
        "bound_note": BOUND_NOTE,
    }
    if lyapunov_top is not None:
        ly = compute_lyapunov(steps, k=lyapunov_top)
        record["lyapunov_top"] = {
            "k": lyapunov_top,
            "exponents": [json_number(v) for v in ly.exponents],
            "lyapunov_error": [json_number(v) for v in ly.lyapunov_error],
            "unit": ly.unit,
        }
    record["diagnostics"] = {"notes": list(steps.notes)}
    if as_json:
        _emit_json(record)
        return
    click.echo(f"cell {spec}: state size n = {n}, T = {steps.T}, ∂s_T/∂s_0 ({method})")
    for i, (v, e) in enumerate(zip(values, errors, strict=True), start=1):
        click.echo(f"  log10 σ_{i} = {v:.12g}  (± {e:.1e})")
    click.echo(f"bound (γ‖W‖)^T: {BOUND_NOTE}")
    for note in steps.notes:
        click.echo(f"note: {note}", err=True)


def cell_analyze(
    *,
    spec: str,
    weights: str | None,
    inputs: str | None,
    h0_file: str | None,
    threshold: float,
    as_json: bool,
) -> None:
    """``gradscope analyze --cell …``: spectrum, Lyapunov, memory horizon and verdict."""
    from gradscope.studies.analyze_module import analyze_cell

    x, h0 = _inputs(inputs, h0_file)
    _check_size(int(h0.size), int(x.shape[0]), None, command="analyze")
    cell = load_cell(spec, weights)
    result = analyze_cell(cell, x, h0, threshold=threshold, name=spec)
    record = {"command": "analyze", **_header(spec, weights, str(inputs), str(h0_file))}
    record.update(result.to_dict())
    if as_json:
        _emit_json(record)
        return
    horizon = (
        f"{result.horizon} steps"
        if result.horizon is not None
        else f"not reached within {result.T} steps"
    )
    click.echo(f"cell {spec}: state size n = {result.state_size}, T = {result.T}")
    click.echo(f"  log10 ‖∂s_T/∂s_0‖₂ = {result.log10_singular_values[0]:.6g}")
    click.echo(f"  memory horizon at θ = {result.threshold:g}: {horizon}")
    click.echo(f"  verdict: {result.verdict}")
    click.echo(f"  bound (γ‖W‖)^T: {record['bound_note']}")
