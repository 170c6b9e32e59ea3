"""A user's own recurrent cell, written as a user would: an nn.Module in its own file.

``h_next = (1 - a) h + a tanh(W h + U x + b)``, a leaky tanh cell with a learned
``a`` squashed into (0, 1). Loaded in the tests with ``--cell``.
"""

import torch
from torch import nn


class LeakyCell(nn.Module):
    def __init__(self, input_size: int = 3, hidden_size: int = 5) -> None:
        super().__init__()
        self.W = nn.Linear(hidden_size, hidden_size, bias=False)
        self.U = nn.Linear(input_size, hidden_size)
        self.leak = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a = torch.sigmoid(self.leak)
        return (1 - a) * h + a * torch.tanh(self.W(h) + self.U(x))


def make_cell() -> LeakyCell:
    torch.manual_seed(1234)
    return LeakyCell()


def not_a_cell() -> int:
    return 42


def wrong_shape() -> nn.Module:
    class Wrong(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.W = nn.Linear(5, 4)

        def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.W(h))

    return Wrong()
