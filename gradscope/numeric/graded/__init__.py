r"""The graded engine: Jacobian products kept as ``Q diag(e^ℓ) U``, and their singular
values to high relative accuracy.

One engine behind :mod:`gradscope.numeric.spectrum`, the Lyapunov exponents, the
memory curves and the matrix-free subspace iteration
(:mod:`gradscope.numeric.matrixfree`):

* :mod:`~gradscope.numeric.graded.factors` — the factors of a product, as every
  :class:`~gradscope.numeric.steps.Steps` gives them (``Steps.factors``,
  ``Steps.transposed_factors``), each with a bound on its log-condition;
* :mod:`~gradscope.numeric.graded.blocks` — the one block loop
  (:func:`block_loop`: blocks measured and redone shorter when over budget, QR,
  folding, flushes and zeros accounted for) and :func:`graded_product`;
* :mod:`~gradscope.numeric.graded.rounding` — the error model: what each block
  and each fold adds to the bound;
* :mod:`~gradscope.numeric.graded.fold` — the representation ``diag(e^ℓ) U``:
  tidying a block, folding ``R`` factors into it, grouping them;
* :mod:`~gradscope.numeric.graded.jacobi` — singular values (and vectors) of
  ``diag(e^ℓ) U`` by one-sided Jacobi in log-scaled form;
* :mod:`~gradscope.numeric.graded.kernels` — the BLAS and LAPACK kernels, one
  library per loop, and the block's QR;
* :mod:`~gradscope.numeric.graded.bounds` — the unit roundoff, the safety factor
  and the formatting of error bounds.

The names below are imported on first use: ``steps.py`` imports ``factors``, which
must not pull in the loop (that would be an import cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradscope.lazy import lazy_exports

if TYPE_CHECKING:
    from gradscope.numeric.graded.blocks import (
        COND_LIMIT,
        MAX_BLOCK,
        PER_FACTOR_ERROR,
        GradedProduct,
        block_loop,
        graded_product,
    )
    from gradscope.numeric.graded.bounds import (
        SAFETY,
        UNIT_ROUNDOFF,
        json_error,
        json_errors,
        log10_bounds,
        sorted_errors,
    )
    from gradscope.numeric.graded.jacobi import (
        GradedValues,
        graded_log_singular_values,
        graded_singular_values,
        graded_svd,
    )

_HOME = {
    "COND_LIMIT": ".blocks",
    "MAX_BLOCK": ".blocks",
    "PER_FACTOR_ERROR": ".blocks",
    "GradedProduct": ".blocks",
    "block_loop": ".blocks",
    "graded_product": ".blocks",
    "SAFETY": ".bounds",
    "UNIT_ROUNDOFF": ".bounds",
    "json_error": ".bounds",
    "json_errors": ".bounds",
    "log10_bounds": ".bounds",
    "sorted_errors": ".bounds",
    "GradedValues": ".jacobi",
    "graded_log_singular_values": ".jacobi",
    "graded_singular_values": ".jacobi",
    "graded_svd": ".jacobi",
}

__all__ = [
    "COND_LIMIT",
    "MAX_BLOCK",
    "PER_FACTOR_ERROR",
    "SAFETY",
    "UNIT_ROUNDOFF",
    "GradedProduct",
    "GradedValues",
    "block_loop",
    "graded_log_singular_values",
    "graded_product",
    "graded_singular_values",
    "graded_svd",
    "json_error",
    "json_errors",
    "log10_bounds",
    "sorted_errors",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOME)
