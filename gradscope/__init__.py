"""gradscope: derive, measure and check how gradients travel backwards through RNNs.

Importing the package is cheap: the names below are loaded on first use
(a module ``__getattr__``), so ``import gradscope`` does not import numpy.

Conventions (DESIGN.md §1): ``z_t = W_hh h_{t-1} + W_xh x_t + b``,
``h_t = φ(z_t)``, ``J_t = diag(φ'(z_t)) W_hh`` and
``∂h_T/∂h_k = J_T ⋯ J_{k+1}`` (exactly T − k factors); norms are spectral.
"""

from __future__ import annotations

from gradscope.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # the model types
    "Activation": "gradscope.model",
    "RNN": "gradscope.model",
    "LSTMCell": "gradscope.model",
    "GRUCell": "gradscope.model",
    "get_activation": "gradscope.model",
    # weights: drawn, or a user's file (never unpickled)
    "recurrent_weights": "gradscope.init",
    "random_rnn": "gradscope.init",
    "random_inputs": "gradscope.init",
    "instance_seed": "gradscope.init",
    "load_rnn": "gradscope.io",
    "load_array": "gradscope.io",
    "load_layers": "gradscope.io_cells",
    # the numeric layer: steps, products, spectra, gradients
    "forward": "gradscope.numeric.forward",
    "rnn_steps": "gradscope.numeric.forward",
    "lstm_steps": "gradscope.numeric.cells",
    "gru_steps": "gradscope.numeric.cells",
    "log10_product_norm": "gradscope.numeric.products",
    "compute_spectral_norm": "gradscope.numeric.products",
    "SpectralNorm": "gradscope.numeric.products",
    "log10_norm_trajectory": "gradscope.numeric.products",
    "log10_singular_values": "gradscope.numeric.spectrum",
    "lyapunov_exponents": "gradscope.numeric.lyapunov",
    "compute_spectrum": "gradscope.numeric.spectrum",
    "compute_singular_values": "gradscope.numeric.spectrum",
    "compute_lyapunov": "gradscope.numeric.lyapunov",
    "compute_top_spectrum": "gradscope.numeric.matrixfree",
    "LyapunovResult": "gradscope.numeric.lyapunov",
    "SpectrumResult": "gradscope.numeric.spectrum",
    "bptt_gradient": "gradscope.numeric.gradient",
    # any PyTorch cell (torch is imported on first use)
    "torch_steps": "gradscope.torch",
    "TorchSteps": "gradscope.torch",
    # the symbolic layer (SymPy is imported on first use)
    "derive_jacobian": "gradscope.symbolic",
    "derive_gradient": "gradscope.symbolic",
    "derive_cell_jacobian": "gradscope.symbolic",
    # studies and claims
    "compute_bound": "gradscope.studies.bound",
    "analyze_module": "gradscope.studies.analyze_module",
    "BoundResult": "gradscope.studies.bound",
    "check_claim": "gradscope.claims",
    "check_claims": "gradscope.claims",
    "replay": "gradscope.claims",
    # errors
    "GradscopeError": "gradscope.errors",
    "ConfigError": "gradscope.errors",
    "NumericalError": "gradscope.errors",
    "DerivationError": "gradscope.errors",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
