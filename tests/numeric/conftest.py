"""Fixtures of the numeric tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Products of n = 64–256 blocks run up to 20× slower with two BLAS threads on a
    busy 2-core machine (numpy's and scipy's pools alike)."""
    import scipy.linalg  # noqa: F401  (load scipy's OpenBLAS too, so that it is pinned)

    with threadpool_limits(1):
        yield
