"""The model types: what a recurrent network *is*, below every algorithm on it.

* :mod:`~gradscope.model.activations` — the activations φ, φ′ and γ, by name;
* :mod:`~gradscope.model.rnn` — :class:`RNN`, a vanilla RNN's parameters;
* :mod:`~gradscope.model.cells` — :class:`LSTMCell` and :class:`GRUCell`;
* :mod:`~gradscope.model.layers` — :class:`LayerWeights`, one layer as PyTorch stores it.

Every record is frozen: its arrays are float64 copies made read-only.
"""

from __future__ import annotations

from gradscope.model.activations import ACTIVATIONS, Activation, get_activation
from gradscope.model.cells import GRUCell, LSTMCell
from gradscope.model.layers import LayerWeights
from gradscope.model.rnn import RNN

__all__ = [
    "ACTIVATIONS",
    "RNN",
    "Activation",
    "GRUCell",
    "LSTMCell",
    "LayerWeights",
    "get_activation",
]
