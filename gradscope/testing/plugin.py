"""gradscope's pytest plugin: ``--gradscope-seed`` and seed fixtures.

Registered as a ``pytest11`` entry point, so it loads in every pytest run where
gradscope is installed; it imports nothing heavy until a fixture is used.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["gradscope_rng", "gradscope_seed", "pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradscope")
    group.addoption(
        "--gradscope-seed",
        type=int,
        default=0,
        help="seed for gradscope's fixtures (default 0; the same seed gives the same cases)",
    )


@pytest.fixture
def gradscope_seed(request: pytest.FixtureRequest) -> int:
    """The run's seed, from ``--gradscope-seed`` (default 0)."""
    return int(request.config.getoption("--gradscope-seed"))


@pytest.fixture
def gradscope_rng(gradscope_seed: int) -> Any:
    """A ``numpy.random.Generator`` seeded with ``--gradscope-seed``."""
    import numpy as np

    return np.random.default_rng(gradscope_seed)
