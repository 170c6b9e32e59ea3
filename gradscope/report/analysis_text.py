"""The verdicts of ``gradscope analyze`` in words, and the JSON record that carries them."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradscope.studies.analyze import Analysis, LayerAnalysis

__all__ = ["analysis_json", "inputs_note", "layer_message"]


def _pow10(log10_value: float) -> str:
    return "0 exactly" if log10_value == -math.inf else f"10^{log10_value:.1f}"


def layer_message(layer: LayerAnalysis) -> str:
    """The verdict of one analysed layer as a sentence (it names the CLI's flags).

    Parameters
    ----------
    layer : LayerAnalysis
        One layer of :func:`gradscope.studies.analyze.compute_analysis`.

    Returns
    -------
    str
        Why the layer forgets, keeps or explodes, and what to try next.
    """
    T, horizon, theta = layer.T, layer.horizon, layer.threshold
    norms = dict(layer.log10_norm_back)
    top = norms[T]
    at100 = (
        f" 100 steps back: ‖∂s_T/∂s_(T−100)‖₂ = {_pow10(norms[100])}."
        if 100 in norms
        else f" (The run has only {T} steps: give --inputs with at least 100 rows to look "
        "100 steps back.)"
    )
    if layer.verdict == "forgets":
        return (
            f"Forgets after about {horizon} steps: ‖∂s_T/∂s_(T−{horizon})‖₂ < {theta:g}, so a "
            f"loss at the end sends almost no gradient to inputs more than {horizon} steps "
            "old: it can hardly learn dependencies longer than that." + at100
        )
    if layer.verdict == "explodes":
        return (
            f"Explodes: ‖∂s_T/∂s_0‖₂ = {_pow10(top)} over {T} steps, so small changes early "
            "on are amplified at the end; expect unstable gradients (clip them)."
            + (at100 if T != 100 else "")
        )
    return (
        f"Keeps gradient over all {T} steps: ‖∂s_T/∂s_0‖₂ = {_pow10(top)} stays above "
        f"{theta:g}, no vanishing within this run; a longer --inputs shows where it forgets."
        + (at100 if T != 100 else "")
    )


def inputs_note(result: Analysis) -> str:
    """Which inputs drove the analysis, and what to pass when they were zeros.

    Parameters
    ----------
    result : Analysis

    Returns
    -------
    str
        A sentence for the ``"inputs"`` record of ``analyze --json``.
    """
    if result.inputs is not None:
        return f"inputs from {result.inputs}"
    return (
        f"no --inputs given: {result.T} steps of zero inputs (the state is driven by "
        "the biases alone); pass --inputs for the sequences the model really sees"
    )


def analysis_json(result: Analysis) -> dict[str, Any]:
    """The JSON that ``gradscope analyze --json`` prints: the envelope, the record, the prose.

    Parameters
    ----------
    result : Analysis

    Returns
    -------
    dict
        ``{"command": "analyze", **result.to_dict()}``, the inputs with a
        ``"note"`` (:func:`inputs_note`), each layer with its ``"message"``
        (:func:`layer_message`) after its ``"verdict"``.
    """
    record = result.to_dict()
    record["inputs"] = {**record["inputs"], "note": inputs_note(result)}
    layers = []
    for layer, d in zip(result.layers, record["layers"], strict=True):
        out: dict[str, Any] = {}
        for key, value in d.items():
            out[key] = value
            if key == "verdict":
                out["message"] = layer_message(layer)
        layers.append(out)
    return {"command": "analyze", **{**record, "layers": layers}}
