r"""The top k singular values and vectors of a Jacobian product, without forming it.

For :math:`P = \partial h_{end}/\partial h_{start} = J_{end} \cdots J_{start+1}`
(``end - start`` factors, DESIGN.md §1) the product is never formed. It is
applied to a block of b orthonormal vectors by a *forward tangent pass*,
:math:`V \mapsto J_t V` for ``t = start+1 … end``, and its transpose by a
*backward pass*, :math:`U \mapsto J_t^\top U` for ``t = end … start+1`` — the
backward pass of BPTT itself. Memory is O(n² + T n + n b) (``W_hh``, the
derivatives :math:`\varphi'(z_t)` and the block) instead of the O(n²) work
arrays and O(T n³) time of a dense product; at n = 2048 a (T, n, n) array of
the Jacobians for T = 1000 would be 33.5 GB and is never built.

**Orthogonal iteration in graded form.** Forward and backward passes alternate
(subspace iteration on :math:`P^\top P`, Golub & Van Loan, *Matrix
Computations*, 4th ed., §7.3.2 and §8.2.4), each pass re-orthonormalising the
block by Householder QR with sorted rows every few steps: a pass *is* the
graded engine's block loop (:func:`~gradscope.numeric.graded.blocks.block_loop`,
the discrete QR method, Stewart, *ETNA* 3, 1995) started from ``V`` instead of
the identity, over the factors ``Steps.factors`` (forward) or
``Steps.transposed_factors`` (backward) give. A pass from a basis ``V`` (n × b) gives

.. math::  P V = Q \operatorname{diag}(e^{\ell}) U

with ``Q`` orthonormal, ``ℓ`` natural-log row scales and ``U`` (b × b) upper
triangular with unit rows, so nothing under- or overflows however many
decades the values span, and each column keeps its own relative accuracy:
the block is factorised before its (measured) condition number passes
``cond_limit``, so a value 1e-30 or 1e-3000 below σ₁ is not swamped by it.
The singular values of the b × b graded factor are the *Ritz values* of the
pass (Rayleigh–Ritz on the pair of subspaces), computed to high relative
accuracy by one-sided Jacobi in log-scaled form
(:func:`~gradscope.numeric.graded.jacobi.graded_log_singular_values`; Demmel &
Veselić 1992). The next pass starts from ``Q``.

Methods on :math:`P^\top P` itself (LOBPCG, Knyazev 2001; ``eigsh``) square
the spread of the values and cannot resolve :math:`\sigma_k/\sigma_1` below
about 1e-8; this iteration never forms :math:`P^\top P` and gets every σ_i to a
small *relative* error.

**Convergence.** With a block of b vectors (default ``max(16, 2k)``: for
memory-bound products 16 vectors cost little more than 4), the subspace error
of the i-th direction shrinks by :math:`\sigma_{b+1}/\sigma_i` per pass and the
Ritz values' by its square, :math:`q_i`. Pass h changes :math:`\ln\sigma_i` by
``c_h`` (relative to :math:`1 + |\ln\sigma_i|`), about the error of pass h − 1,
so the error left is about ``c_h q / (1 − q)``, with ``q`` the larger of the
observed ratio ``c_h / c_{h−1}`` and ``4 (σ_b/σ_i)^2`` from the block's own Ritz
values (:func:`_assess`). Passes stop when that is below ``rtol`` for each of
the top k (or ``c_h <= rtol``, or the change stopped shrinking at rounding
level). When one more pass should be enough, it is made on the k Ritz vectors
only — as accurate for the top k as a full pass, and cheaper — and accepted if
its own prediction is below ``rtol``. A well-separated top 1 thus takes two
passes on the block and one on a single vector. For one vector (b = 1) a
block's amplification is 1, so only ``max_block`` and the scale (kept as an
exact power of two) close it. The blocks of a pass budget the error of the top
k directions only (``leading``), at ``MF_ERROR_PER_FACTOR`` per factor.

**Error bound.** Each value's ``log10_error`` is the passes' rounding plus an
a-posteriori residual bound (:func:`_residual_errors`), not the extrapolated
rate above, which only decides when to stop: one more pass of the other
operator on the k Ritz vectors measures how far the Ritz pairs are from
singular triplets of ``P``, relative to each σ_i, so the bound holds whether or
not the passes converged (Jordan blocks converge algebraically, not linearly).
It is probabilistic in one respect only: it assumes the random start did not
miss a top direction (see :func:`compute_top_spectrum`, Notes).

**Singular vectors.** The last pass's graded factor is decomposed with its
singular vectors (the same one-sided Jacobi, rotations accumulated); the
Ritz vectors :math:`u_i = Q x_i`, :math:`v_i = V y_i` (forward pass) or with
the roles swapped (backward pass) are the top singular vectors of ``P``:
:math:`v_i` is a direction of :math:`h_{start}` that still reaches
:math:`h_{end}`, amplified by :math:`\sigma_i`, and :math:`u_i` where it lands.

The package's modules: :mod:`~gradscope.numeric.matrixfree.top` (the driver),
:mod:`~gradscope.numeric.matrixfree.passes` (one pass and its error bounds),
:mod:`~gradscope.numeric.matrixfree.convergence` (the stopping rule),
:mod:`~gradscope.numeric.matrixfree.result` (the record) and
:mod:`~gradscope.numeric.matrixfree.sizes` (memory and method).
"""

from __future__ import annotations

from gradscope.numeric.matrixfree.passes import MF_COND_LIMIT
from gradscope.numeric.matrixfree.result import TopSpectrumResult
from gradscope.numeric.matrixfree.sizes import (
    METHODS,
    check_memory,
    choose_method,
    estimate_memory,
)
from gradscope.numeric.matrixfree.top import compute_top_spectrum, log10_top_singular_values

__all__ = [
    "METHODS",
    "MF_COND_LIMIT",
    "TopSpectrumResult",
    "check_memory",
    "choose_method",
    "compute_top_spectrum",
    "estimate_memory",
    "log10_top_singular_values",
]
