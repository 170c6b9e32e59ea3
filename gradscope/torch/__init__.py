r"""Step Jacobians of any PyTorch cell ``cell(x, h) -> h_next``, through ``torch.func``.

PyTorch is an optional dependency, imported only when a function here runs:
``import gradscope.torch`` does not import it.

:func:`torch_steps` turns a user's own recurrent cell (an ``nn.Module`` or a
plain function, PyTorch's argument order as in ``nn.RNNCell(input, hx)``)
into a :class:`~gradscope.numeric.steps.Steps`, so that singular values,
Lyapunov exponents, their error bars and memory horizons accept it
unchanged; the bound :math:`(\gamma \|W\|)^T` needs a ``W`` and a ``γ`` and is
not applicable to it.
"""

from __future__ import annotations

from gradscope.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "TorchSteps": "gradscope.torch.steps",
    "torch_steps": "gradscope.torch.steps",
    "DENSE_LIMIT": "gradscope.torch.steps",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
