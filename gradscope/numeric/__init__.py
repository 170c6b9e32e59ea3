r"""Algorithms on arrays and :class:`~gradscope.numeric.steps.Steps`: arrays in, records out.

numeric imports nothing above :mod:`gradscope.model` (no io, init, studies, claims,
report or cli). Its modules:

* :mod:`~gradscope.numeric.norms` — spectral norm and radius, scaling to an exact one;
* :mod:`~gradscope.numeric.steps` — the step Jacobians :math:`J_t` as a sequence
  (arrays, constant, an RNN's ``W_hh`` and :math:`\varphi'(z_t)`, streams);
* :mod:`~gradscope.numeric.forward` — the forward pass and its steps (its function
  ``forward`` is not listed here: the name is the module's);
* :mod:`~gradscope.numeric.cells` — LSTM and GRU forward passes and steps;
* :mod:`~gradscope.numeric.products` — log10 norms of Jacobian products, memory horizons;
* :mod:`~gradscope.numeric.spectrum` — every singular value (the graded engine);
* :mod:`~gradscope.numeric.lyapunov` — the Lyapunov exponents, all n or the top k;
* :mod:`~gradscope.numeric.matrixfree` — the top k singular triplets, matrix-free;
* :mod:`~gradscope.numeric.enclose` — rigorous enclosures (python-flint, lazily);
* :mod:`~gradscope.numeric.gradient` — BPTT gradients;
* :mod:`~gradscope.numeric.graded` — the graded engine itself (blocks, factors,
  Jacobi, kernels, bounds).

The names below are imported on first use (a module ``__getattr__``, as in
:mod:`gradscope.numeric.graded`), so ``import gradscope.numeric`` loads no numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradscope.lazy import lazy_exports

if TYPE_CHECKING:
    from gradscope.numeric.cells import (
        GRUSteps,
        LSTMSteps,
        gru_forward,
        gru_steps,
        lstm_forward,
        lstm_steps,
    )
    from gradscope.numeric.enclose import (
        SpectrumEnclosure,
        enclose_log10_singular_values,
    )
    from gradscope.numeric.forward import (
        Trajectory,
        forward_arrays,
        rnn_steps,
    )
    from gradscope.numeric.gradient import (
        Gradients,
        bptt_gradient,
        loss,
    )
    from gradscope.numeric.lyapunov import LyapunovResult, compute_lyapunov, lyapunov_exponents
    from gradscope.numeric.matrixfree import (
        TopSpectrumResult,
        compute_top_spectrum,
        log10_top_singular_values,
    )
    from gradscope.numeric.norms import (
        SCALE_RANGE,
        check_scale,
        scale_to_norm,
        scale_to_radius,
        spectral_norm,
        spectral_radius,
    )
    from gradscope.numeric.products import (
        HorizonScan,
        SpectralNorm,
        compute_spectral_norm,
        log10_norm_trajectory,
        log10_product_norm,
        scan_product,
    )
    from gradscope.numeric.spectrum import (
        SpectrumResult,
        compute_singular_values,
        compute_spectrum,
        log10_singular_values,
    )
    from gradscope.numeric.steps import (
        ArraySteps,
        ConstantSteps,
        RNNSteps,
        Steps,
        StreamSteps,
        as_steps,
    )

_HOME = {
    "ArraySteps": ".steps",
    "ConstantSteps": ".steps",
    "RNNSteps": ".steps",
    "Steps": ".steps",
    "StreamSteps": ".steps",
    "as_steps": ".steps",
    "Trajectory": ".forward",
    "forward_arrays": ".forward",
    "rnn_steps": ".forward",
    "HorizonScan": ".products",
    "SpectralNorm": ".products",
    "compute_spectral_norm": ".products",
    "log10_norm_trajectory": ".products",
    "log10_product_norm": ".products",
    "scan_product": ".products",
    "LyapunovResult": ".lyapunov",
    "SpectrumResult": ".spectrum",
    "compute_lyapunov": ".lyapunov",
    "compute_singular_values": ".spectrum",
    "compute_spectrum": ".spectrum",
    "log10_singular_values": ".spectrum",
    "lyapunov_exponents": ".lyapunov",
    "TopSpectrumResult": ".matrixfree",
    "compute_top_spectrum": ".matrixfree",
    "log10_top_singular_values": ".matrixfree",
    "Gradients": ".gradient",
    "bptt_gradient": ".gradient",
    "loss": ".gradient",
    "GRUSteps": ".cells",
    "LSTMSteps": ".cells",
    "gru_forward": ".cells",
    "gru_steps": ".cells",
    "lstm_forward": ".cells",
    "lstm_steps": ".cells",
    "SpectrumEnclosure": ".enclose",
    "enclose_log10_singular_values": ".enclose",
    "SCALE_RANGE": ".norms",
    "check_scale": ".norms",
    "scale_to_norm": ".norms",
    "scale_to_radius": ".norms",
    "spectral_norm": ".norms",
    "spectral_radius": ".norms",
}

__all__ = [
    "SCALE_RANGE",
    "ArraySteps",
    "ConstantSteps",
    "GRUSteps",
    "Gradients",
    "HorizonScan",
    "LSTMSteps",
    "LyapunovResult",
    "RNNSteps",
    "SpectralNorm",
    "SpectrumEnclosure",
    "SpectrumResult",
    "Steps",
    "StreamSteps",
    "TopSpectrumResult",
    "Trajectory",
    "as_steps",
    "bptt_gradient",
    "check_scale",
    "compute_lyapunov",
    "compute_singular_values",
    "compute_spectral_norm",
    "compute_spectrum",
    "compute_top_spectrum",
    "enclose_log10_singular_values",
    "forward_arrays",
    "gru_forward",
    "gru_steps",
    "log10_norm_trajectory",
    "log10_product_norm",
    "log10_singular_values",
    "log10_top_singular_values",
    "loss",
    "lstm_forward",
    "lstm_steps",
    "lyapunov_exponents",
    "rnn_steps",
    "scale_to_norm",
    "scale_to_radius",
    "scan_product",
    "spectral_norm",
    "spectral_radius",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOME)
