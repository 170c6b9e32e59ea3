r"""How far back a user's trained RNN, LSTM or GRU carries gradient: ``gradscope analyze``.

For each layer, run on given inputs from a zero initial state (layer k > 0 driven
by the outputs h_1..h_T of layer k − 1), gradscope measures the layer's state
Jacobian :math:`\partial s_T / \partial s_0` (s = h for ``nn.RNN`` and ``nn.GRU``;
s = (h, c), h first, for ``nn.LSTM``):

* every singular value, exact in log10, and the QR-method Lyapunov exponents;
* the memory horizon at its end (DESIGN.md §1): the first k with
  :math:`\|\partial s_T / \partial s_{T-k}\|_2 < \theta`, or "not reached within
  T steps", found matrix-free from :math:`J_T^\top, J_{T-1}^\top, \dots`;
* the spectral norms of the recurrent weight blocks; for ``nn.RNN`` also ρ(W_hh)
  and the bound :math:`(\gamma\|W_{hh}\|_2)^T`. Gated cells have no such bound
  (the cell or update path carries gradient through the gates, not through a
  weight norm), and the result says so rather than invent one;
* a verdict in words.

What it measures is *sensitivity along these inputs*: how much a change in the
state k steps before the end moves the final state, hence how much gradient from
a loss at the end reaches back k steps. It is not a measure of what the model
stores, and other inputs can give other horizons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope import progress
from gradscope.errors import ConfigError
from gradscope.io_cells import LoadedLayers
from gradscope.model import RNN, GRUCell, LayerWeights, LSTMCell, get_activation
from gradscope.numeric.cells import (
    gru_forward,
    gru_steps,
    lstm_forward,
    lstm_steps,
)
from gradscope.numeric.forward import forward, rnn_steps
from gradscope.numeric.graded.bounds import json_errors
from gradscope.numeric.norms import spectral_norm, spectral_radius
from gradscope.numeric.products import scan_product
from gradscope.numeric.spectrum import compute_singular_values
from gradscope.numeric.steps import Steps
from gradscope.records import json_number
from gradscope.studies.bound import judging_slack, log10_norm_bound
from gradscope.studies.spectrum_report import (
    _GRADED_N2,
    _GRADED_N3,
    _GRADED_STEP,
    _JACOBI_N3,
    _LOOP,
    _N2,
    _PRODUCT_N3,
    WorkEstimate,
    check_work,
    float64_resolvable,
    largest_fitting,
)

__all__ = [
    "DEFAULT_T",
    "Analysis",
    "LayerAnalysis",
    "check_analysis_work",
    "compute_analysis",
    "estimate_analysis_work",
    "layer_model",
    "layer_steps",
    "spectrum_fields",
]

FloatArray = NDArray[np.float64]
#: Steps of zero inputs used when no inputs are given.
DEFAULT_T = 100
#: Distances k at which ‖∂s_T/∂s_{T−k}‖₂ is always reported (those ≤ T, and T itself).
BACK = (1, 10, 100)
LN10 = math.log(10.0)
_BLOCK_NAMES = {
    "rnn": ("W_hh",),
    "lstm": ("W_hi", "W_hf", "W_hg", "W_ho"),
    "gru": ("W_hr", "W_hz", "W_hn"),
}


def _log10_norms_from_end(end: Steps, ks: Sequence[int]) -> tuple[tuple[int, float], ...]:
    r""":math:`\log_{10}\|\partial s_T/\partial s_{T-k}\|_2` for every k in ``ks``, in one pass.

    The running product is rescaled by an exact power of two after every step and its
    entries below ``2**-600`` of the largest are set to zero, so nothing underflows and
    no subnormal number reaches BLAS (DESIGN.md §5).
    """
    M, e = np.eye(end.n), 0
    out: list[tuple[int, float]] = []
    wanted = set(ks)
    with progress.task("norms from the end", max(ks)) as task:
        for j in range(1, max(ks) + 1):
            M = end.apply(j, M)
            task.advance()
            peak = float(np.max(np.abs(M)))
            if peak == 0.0:  # exactly zero from here on
                return (*out, *((k, -math.inf) for k in ks if k >= j))
            shift = math.frexp(peak)[1]
            M = np.ldexp(M, -shift)
            e += shift
            M[np.abs(M) < 2.0**-600] = 0.0
            if j in wanted:
                top = float(np.linalg.svd(M, compute_uv=False)[0])
                out.append((j, math.log10(top) + e * math.log10(2.0)))
    return tuple(out)


def _readonly(arr: ArrayLike) -> FloatArray:
    out = np.array(arr, dtype=np.float64, copy=True)
    out.flags.writeable = False
    return out


def spectrum_fields(record: Any) -> dict[str, Any]:
    """The JSON of an analysis's spectrum and memory horizon (a layer's or a cell's).

    ``record`` has ``T``, ``log10_singular_values``, ``log10_error``,
    ``lyapunov_exponents``, ``threshold``, ``horizon`` and ``log10_norm_back``.
    """
    return {
        "product": f"ds_{record.T}/ds_0",
        "T": record.T,
        "log10_singular_values": [json_number(v) for v in record.log10_singular_values],
        "log10_error": json_errors(record.log10_error),
        "lyapunov_exponents": [json_number(v) for v in record.lyapunov_exponents],
        "memory_horizon": {
            "definition": "first k with ||ds_T/ds_(T-k)||_2 < threshold",
            "threshold": record.threshold,
            "steps": record.horizon,
            "reached": record.horizon is not None,
            "searched": record.T,
        },
        "log10_norm_back": [
            {"k": k, "log10_norm": json_number(v)} for k, v in record.log10_norm_back
        ],
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerAnalysis:
    r"""What :func:`compute_analysis` found for one layer.

    Attributes
    ----------
    layer : int
    cell : {"rnn", "lstm", "gru"}
    hidden, input_size, state_size : int
        n, m and the size of s (2n for an LSTM).
    activation : str or None
        φ of an ``nn.RNN`` layer; None for gated cells.
    T : int
        Steps run: the product :math:`\partial s_T / \partial s_0` has T factors.
    log10_singular_values : (state_size,) ndarray
        Descending; ``-inf`` for an exact zero.
    log10_error : (state_size,) ndarray
        Their error bounds (:func:`~gradscope.numeric.spectrum.compute_singular_values`).
    lyapunov_exponents : (state_size,) ndarray
        Natural log per step, descending.
    threshold : float
        θ of the memory horizon.
    horizon : int or None
        First k with :math:`\|\partial s_T/\partial s_{T-k}\|_2 < θ`; None if not within T.
    log10_norm_back : tuple of (int, float)
        :math:`(k, \log_{10}\|\partial s_T/\partial s_{T-k}\|_2)` for k in 1, 10, 100, T.
    block_norms : tuple of (str, float)
        Spectral norm of each recurrent weight block (``W_hh``; ``W_hi`` … ``W_ho``;
        ``W_hr`` … ``W_hn``).
    spectral_radius, gamma, log10_bound, predicted_horizon : float or None
        ``nn.RNN`` only: ρ(W_hh), γ, :math:`T\log_{10}(\gamma\|W_{hh}\|_2)`, and the
        bound's horizon :math:`\log\theta / \log(\gamma\|W_{hh}\|_2)` (None if γ‖W‖ >= 1).
    gate_mean : tuple of (str, float) or None
        Mean forget gate f (LSTM) or update gate z (GRU) over the run.
    verdict : str
        ``"forgets"``, ``"keeps"`` or ``"explodes"``.
    qr_count : int
    """

    layer: int
    cell: str
    hidden: int
    input_size: int
    state_size: int
    activation: str | None
    T: int
    log10_singular_values: FloatArray
    log10_error: FloatArray
    lyapunov_exponents: FloatArray
    threshold: float
    horizon: int | None
    log10_norm_back: tuple[tuple[int, float], ...]
    block_norms: tuple[tuple[str, float], ...]
    spectral_radius: float | None
    gamma: float | None
    log10_bound: float | None
    predicted_horizon: float | None
    gate_mean: tuple[str, float] | None
    verdict: str
    qr_count: int

    def __post_init__(self) -> None:
        for name in ("log10_singular_values", "log10_error", "lyapunov_exponents"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    @property
    def float_resolvable(self) -> int:
        """How many σ_i a float64 SVD of the formed product would get right."""
        return float64_resolvable(self.log10_singular_values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (exact zeros, log10 = −inf, as None)."""
        bound: dict[str, Any] | None = None
        if self.cell == "rnn":
            assert self.log10_bound is not None
            top = self.log10_singular_values[0]
            bound = {
                "formula": "T * log10(gamma * ||W_hh||_2) >= log10 ||ds_T/ds_0||_2",
                "gamma": self.gamma,
                "log10_bound": json_number(self.log10_bound),
                "holds": bool(
                    not math.isfinite(top)
                    or top
                    <= self.log10_bound
                    + judging_slack(float(self.log10_error[0]), self.T, self.hidden)
                ),
                "predicted_horizon": self.predicted_horizon,
            }
        return {
            "layer": self.layer,
            "cell": self.cell,
            "hidden": self.hidden,
            "input_size": self.input_size,
            "state": "h" if self.cell != "lstm" else "(h, c), h first",
            "state_size": self.state_size,
            "activation": self.activation,
            **spectrum_fields(self),
            "weights": {
                "spectral_norms": dict(self.block_norms),
                "spectral_radius": self.spectral_radius,
            },
            "bound": bound,
            "bound_note": None
            if bound is not None
            else "no (gamma ||W||)^T bound exists for gated cells: gradient also flows "
            "through the gates (the cell state for an LSTM, the update gate for a GRU), "
            "so the weight norms alone do not limit it",
            "gate_mean": None
            if self.gate_mean is None
            else {
                "gate": self.gate_mean[0],
                "meaning": "forget gate (share of c kept per step)"
                if self.cell == "lstm"
                else "update gate (share of h kept per step)",
                "mean": self.gate_mean[1],
            },
            "float64_svd_resolves": self.float_resolvable,
            "verdict": self.verdict,
            "diagnostics": {"qr_count": self.qr_count},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """Every analysed layer of one weights file, with the inputs used."""

    source: str
    format: str
    cell: str
    num_layers: int
    T: int
    inputs: str | None
    threshold: float
    layers: tuple[LayerAnalysis, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.source,
            "format": self.format,
            "cell": self.cell,
            "num_layers": self.num_layers,
            "inputs": {
                "path": self.inputs,
                "T": self.T,
                "zeros": self.inputs is None,
            },
            "initial_state": "zeros",
            "threshold": self.threshold,
            "lyapunov_note": "natural log per step, QR method: asymptotic rates, not finite-T "
            "singular values",
            "layers": [layer.to_dict() for layer in self.layers],
        }


def layer_model(w: LayerWeights, activation: str) -> RNN | LSTMCell | GRUCell:
    if w.cell == "rnn":
        return RNN(
            W_hh=w.W_hh, W_xh=w.W_ih, b=w.b_ih + w.b_hh, activation=get_activation(activation)
        )
    cls = LSTMCell if w.cell == "lstm" else GRUCell
    return cls(W_ih=w.W_ih, W_hh=w.W_hh, b_ih=w.b_ih, b_hh=w.b_hh)


def layer_steps(model: RNN | LSTMCell | GRUCell, x: FloatArray) -> tuple[Steps, FloatArray]:
    """The step Jacobians of one layer's run from zero, and its outputs h_1..h_T (T, n)."""
    if isinstance(model, RNN):
        return rnn_steps(model, x), forward(model, x).h[1:]
    if isinstance(model, LSTMCell):
        return lstm_steps(model, x), lstm_forward(model, x).h[1:]
    return gru_steps(model, x), gru_forward(model, x).h[1:]


def _verdict(
    T: int, horizon: int | None, back: tuple[tuple[int, float], ...], theta: float
) -> str:
    """The verdict: ``forgets`` (a horizon), ``explodes`` (‖∂s_T/∂s_0‖₂ > 1/θ) or ``keeps``."""
    if horizon is not None:
        return "forgets"
    if dict(back)[T] > -math.log10(theta):
        return "explodes"
    return "keeps"


def _analyze_layer(
    w: LayerWeights, model: RNN | LSTMCell | GRUCell, steps: Steps, theta: float
) -> LayerAnalysis:
    T = int(steps.T or 0)
    spectrum = compute_singular_values(steps, end=T)
    s, lyap = spectrum.log10_singular_values, spectrum.lyapunov_exponents
    end = steps.reversed_transposed()
    scan = scan_product(end, norm_at=1, thresholds=(theta,), cap=T)
    found = int(scan.horizons[0])
    ks = sorted({k for k in BACK if k <= T} | {T})
    back = _log10_norms_from_end(end, ks)
    n = w.hidden_size
    names = _BLOCK_NAMES[w.cell]
    blocks = tuple(
        (name, spectral_norm(w.W_hh[j * n : (j + 1) * n])) for j, name in enumerate(names)
    )
    radius = gamma = log_bound = predicted = None
    gate_mean = None
    if isinstance(model, RNN):
        radius, gamma = spectral_radius(model.W_hh), model.activation.gamma
        gn = gamma * blocks[0][1]
        log_bound = log10_norm_bound(T, gamma, blocks[0][1])
        predicted = math.log(theta) / math.log(gn) if 0 < gn < 1 else None
    else:
        coef = steps.coef  # type: ignore[attr-defined]
        lo = 4 * n if w.cell == "lstm" else 3 * n
        gate_mean = ("f" if w.cell == "lstm" else "z", float(np.mean(coef[:, lo : lo + n])))
    horizon = found if found > 0 else None
    verdict = _verdict(T, horizon, back, theta)
    return LayerAnalysis(
        layer=w.index,
        cell=w.cell,
        hidden=n,
        input_size=w.input_size,
        state_size=steps.n,
        activation=model.activation.name if isinstance(model, RNN) else None,
        T=T,
        log10_singular_values=s,
        log10_error=spectrum.log10_error,
        lyapunov_exponents=lyap,
        threshold=theta,
        horizon=horizon,
        log10_norm_back=back,
        block_norms=blocks,
        spectral_radius=radius,
        gamma=gamma,
        log10_bound=log_bound,
        predicted_horizon=predicted,
        gate_mean=gate_mean,
        verdict=verdict,
        qr_count=spectrum.qr_count,
    )


def _run_inputs(
    loaded: LoadedLayers,
    inputs: ArrayLike | None,
    T: int | None,
    layers: Sequence[int] | None,
    activation: str,
    threshold: float,
) -> tuple[FloatArray, list[int]]:
    """Validate the settings of a run over a file's layers; the inputs and layer indices."""
    if not (isinstance(threshold, float | int) and 0 < threshold < 1):
        raise ConfigError(f"threshold must be in (0, 1), got {threshold!r}")
    if activation not in ("tanh", "relu"):
        raise ConfigError(f"nn.RNN's activation is tanh or relu, got {activation!r}")
    m = loaded.layers[0].input_size
    if inputs is None:
        steps_T = DEFAULT_T if T is None else int(T)
        if steps_T < 1:
            raise ConfigError(f"T must be >= 1, got {steps_T}")
        x = np.zeros((steps_T, m))
    else:
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != m:
            raise ConfigError(
                f"inputs have shape {x.shape}; layer 0 reads (T, {m}) with T >= 1 "
                f"(its weight_ih is {loaded.layers[0].W_ih.shape})"
            )
        if not np.all(np.isfinite(x)):
            raise ConfigError("inputs contain NaN or Inf; give finite inputs")
    count = len(loaded.layers)
    wanted = sorted(set(range(count) if layers is None else layers))
    bad = [k for k in wanted if not 0 <= k < count]
    if bad:
        raise ConfigError(f"layer {bad[0]} does not exist: the file has {count} (0..{count - 1})")
    return x, wanted


#: Floats per step and unit that a layer's run keeps (trajectory, step data, temporaries).
_RUN_FLOATS = {"rnn": 6, "lstm": 20, "gru": 14}


def estimate_analysis_work(
    loaded: LoadedLayers,
    T: int,
    layers: Sequence[int] | None = None,
    *,
    curves: bool = False,
    analysis: bool = True,
) -> WorkEstimate:
    r"""Peak memory and time of :func:`compute_analysis` (and, with ``curves``, of
    :func:`compute_memory_curves`) on T steps, from the layers' sizes alone.

    Every layer up to the last one wanted is run (T steps, with its step data: 6,
    20 or 14 floats per step and unit for RNN, LSTM, GRU, temporaries included).
    A wanted layer's state of size N (n, or 2n for an LSTM) then costs the graded
    spectrum (about 19 N × N arrays, T steps of a product and a QR, a Jacobi SVD)
    and two passes from the end (T products); a memory curve, T products with an
    SVD each.

    Parameters
    ----------
    loaded : LoadedLayers
    T : int
        Steps of the run (rows of the inputs).
    layers : sequence of int, optional
        The layers reported (default: all).
    curves, analysis : bool
        Count the memory curves; count the analysis.
    """
    T = int(T)
    count = len(loaded.layers)
    wanted = set(range(count) if layers is None else layers)
    last = max(wanted) if wanted else count - 1
    nbytes, seconds = 0.0, 0.0
    x_floats = T * loaded.layers[0].input_size
    for w in loaded.layers[: last + 1]:
        n = w.hidden_size
        N = 2 * n if w.cell == "lstm" else n
        run = T * n * _RUN_FLOATS[w.cell] + x_floats + w.W_hh.size + w.W_ih.size
        seconds += T * (_LOOP + _N2 * n * n)
        if w.index in wanted:
            work = 0.0
            if analysis:
                step = _GRADED_STEP + _GRADED_N2 * N * N + (_GRADED_N3 + 3e-10) * N**3
                work += T * (_LOOP + step)
                work += _JACOBI_N3 * N**3
            if curves:
                work += T * (_LOOP + _N2 * N * N + (_PRODUCT_N3 + 1e-10) * N**3)
            seconds += work
            nbytes = max(nbytes, 8.0 * (run + 19 * N * N))
        nbytes = max(nbytes, 8.0 * run)
        x_floats = T * n  # the next layer reads this one's outputs
    return WorkEstimate(nbytes, seconds)


def check_analysis_work(
    loaded: LoadedLayers,
    T: int,
    layers: Sequence[int] | None = None,
    *,
    curves: bool = False,
    analysis: bool = True,
    inputs: str | None = None,
    available: int | None = None,
    max_seconds: float = math.inf,
) -> None:
    """Refuse, before any work, an analysis that would not fit in memory (or time).

    Parameters
    ----------
    loaded, T, layers, curves, analysis
        As :func:`estimate_analysis_work`.
    inputs : str, optional
        The inputs file, for the message (the fix is then a shorter one).
    available : int, optional
        Bytes available (default: measured).
    max_seconds : float
        The longest run allowed (the command line: 10 minutes).

    Raises
    ------
    SizeError
        With the estimates and the number of steps that would fit.
    """

    def est(t: int) -> WorkEstimate:
        return estimate_analysis_work(loaded, t, layers, curves=curves, analysis=analysis)

    def fix(avail: int | None) -> str:
        t = largest_fitting(est, T, available=avail, max_seconds=max_seconds)
        if not t:
            one = est(1)
            return (
                f"even 1 step needs about {one.bytes / 1e9:.3g} GB and {one.seconds / 60:.0f} min "
                "(the SVD of an n × n factor is O(n³)): analyse a smaller network"
                + (" or one --layer" if len(loaded.layers) > 1 else "")
            )
        if inputs is not None:
            return f"the first {t} rows of {inputs} fit (or analyse one --layer)"
        return f"--T {t} fits (or analyse one --layer)"

    sizes = sorted({w.hidden_size for w in loaded.layers})
    what = (
        f"analyze of {loaded.path} ({loaded.cell}, n = {', '.join(map(str, sizes))}) "
        f"over {T} steps" + (" with --plot" if curves else "")
    )
    check_work(est(T), what=what, fix=fix, available=available, max_seconds=max_seconds)


def compute_analysis(
    loaded: LoadedLayers,
    inputs: ArrayLike | None = None,
    *,
    T: int | None = None,
    layers: Sequence[int] | None = None,
    activation: str = "tanh",
    threshold: float = 1e-2,
    inputs_name: str | None = None,
) -> Analysis:
    r"""Spectrum, Lyapunov exponents, memory horizon and a verdict for each layer.

    Parameters
    ----------
    loaded : LoadedLayers
        From :func:`gradscope.io_cells.load_layers`.
    inputs : (T, m) array_like, optional
        Layer 0's inputs. Without them, ``T`` (default :data:`DEFAULT_T` = 100) steps
        of zeros are used, and the result says so.
    T : int, optional
        Steps of zero inputs (only without ``inputs``).
    layers : sequence of int, optional
        Which layers to report (default all); lower layers are still run to drive them.
    activation : {"tanh", "relu"}
        φ of ``nn.RNN`` layers (a state dict does not record it).
    threshold : float
        θ of the memory horizon, in (0, 1).
    inputs_name : str, optional
        Where ``inputs`` came from, recorded in the result.

    Returns
    -------
    Analysis

    Raises
    ------
    ConfigError
        For inputs of the wrong width, NaN, a layer that does not exist, or θ outside (0, 1).

    Examples
    --------
    A one-unit linear-like RNN with w = 0.5 halves the gradient at every step, so
    it falls below 0.01 after 7 steps (0.5**7 = 0.0078):

    >>> import numpy as np
    >>> from gradscope.io_cells import layers_from_arrays
    >>> w = layers_from_arrays({"weight_hh_l0": [[0.5]], "weight_ih_l0": [[1.0]]})
    >>> compute_analysis(w, T=20).layers[0].horizon
    7
    """
    x, wanted = _run_inputs(loaded, inputs, T, layers, activation, threshold)
    check_analysis_work(loaded, int(x.shape[0]), wanted, max_seconds=math.inf)  # memory
    results = []
    run = loaded.layers[: wanted[-1] + 1]
    with progress.task("analyze: layers", len(run)) as task:
        for w in run:
            model = layer_model(w, activation)
            steps, outputs = layer_steps(model, x)
            if w.index in wanted:
                results.append(_analyze_layer(w, model, steps, float(threshold)))
            x = outputs
            task.advance()
    return Analysis(
        source=loaded.path,
        format=loaded.format,
        cell=loaded.cell,
        num_layers=len(loaded.layers),
        T=int(x.shape[0]),
        inputs=inputs_name if inputs is not None else None,
        threshold=float(threshold),
        layers=tuple(results),
    )


# --------------------------------------------------------------------------- memory curves
