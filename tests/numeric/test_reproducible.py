"""The same input gives the same bytes, whatever the memory layout of the call.

LAPACK's condition estimator (``dtrcon``) sums with BLAS kernels whose order follows
the alignment of its work arrays, so one R gave 1.0 or 1.0000000000000002 from one
call to the next, and a block-length decision at that boundary turned one input into
different results (3 or 100 QR factorisations for the same diagonal steps). The
estimate is now rounded to 30 bits (``kernels._steady``).
"""

from __future__ import annotations

import numpy as np

from gradscope.numeric.graded.kernels import _cond_row_equilibrated
from gradscope.numeric.spectrum import compute_singular_values
from gradscope.numeric.zoo import DiagonalSteps


def _shifting_allocations(count: int) -> list[np.ndarray]:
    """Arrays of odd sizes kept alive, so later allocations land at other offsets."""
    return [np.empty(7 * i + 3) for i in range(count)]


def test_condition_estimate_does_not_depend_on_memory_layout() -> None:
    rng = np.random.default_rng(0)
    matrices = [np.eye(64), np.diag(rng.uniform(0.5, 1.0, 256)), np.triu(rng.random((40, 40)))]
    for R in matrices:
        keep, seen = [], set()
        for i in range(300):
            keep += _shifting_allocations(i % 5)
            seen.add(_cond_row_equilibrated(np.array(R, order="C")))
        assert len(seen) == 1, seen


def test_spectrum_of_diagonal_steps_is_byte_identical_across_calls() -> None:
    rng = np.random.default_rng(1)
    steps = DiagonalSteps(np.exp(-rng.uniform(0.0, 0.2, size=(100, 256))))
    keep, seen = [], set()
    for i in range(12):
        keep += _shifting_allocations(i)
        result = compute_singular_values(steps)
        seen.add((result.log10_singular_values.tobytes(), result.log10_error.tobytes()))
    assert len(seen) == 1
    # and the values are right: a diagonal product's singular values are its |entries|
    exact = np.sort(np.log10(np.abs(np.prod(steps.d, axis=0))))[::-1]
    assert np.max(np.abs(result.log10_singular_values - exact)) <= 1e-12
