"""References shared by the numeric tests: exact products of float64 Jacobians and test systems.

Every reference here is independent of gradscope: integer arithmetic for the
exact product of the float64 matrices, and test matrices built from numpy's
random generator.
"""

from __future__ import annotations

import math

import numpy as np

# Absolute floor of the log10 tolerance, for values near log10 σ = 0: 1e-11 in
# log10 is a relative 2.3e-11 in σ, a hundred times the ~T ε ≈ 1e-13 that the
# rounding of a few hundred float64 factors already puts on any method.
FLOOR = 1e-11


def exact_product(J: np.ndarray) -> tuple[np.ndarray, int]:
    """``J[-1] @ ... @ J[0]`` exactly: an integer matrix (Python ints) times ``2**E``."""
    n = J.shape[-1]
    P = np.eye(n, dtype=np.int64).astype(object)
    E = 0
    for M in J:
        mant, ex = np.frexp(M)
        ints = np.ldexp(mant, 53).astype(np.int64)  # M = ints * 2**(ex - 53), exactly
        ex = ex - 53
        low = int(ex[ints != 0].min()) if np.any(ints) else 0
        N = np.empty(M.shape, dtype=object)
        for idx in np.ndindex(M.shape):
            N[idx] = int(ints[idx]) << int(ex[idx] - low) if ints[idx] else 0
        P = N.dot(P)
        E += low
    return P, E


def exact_rank(P: np.ndarray) -> int:
    """Rank of an integer matrix (fraction-free Gaussian elimination): σ_i = 0 beyond it."""
    A = [list(row) for row in P]
    rows, cols = len(A), len(A[0])
    rank, prev = 0, 1
    for c in range(cols):
        pivot = next((r for r in range(rank, rows) if A[r][c] != 0), None)
        if pivot is None:
            continue
        A[rank], A[pivot] = A[pivot], A[rank]
        for r in range(rank + 1, rows):
            for j in range(c + 1, cols):
                A[r][j] = (A[r][j] * A[rank][c] - A[rank][j] * A[r][c]) // prev
            A[r][c] = 0
        prev = A[rank][c]
        rank += 1
    return rank


def assert_log10_close(ours: np.ndarray, ref: np.ndarray, rel: float) -> None:
    """|log10 σ − ref| <= rel·|ref| + FLOOR for every σ (relative in log, as the spec)."""
    err = np.abs(ours - ref)
    bound = rel * np.abs(ref) + FLOOR
    worst = int(np.argmax(err / bound))
    assert np.all(err <= bound), (
        f"σ_{worst + 1}: log10 {ours[worst]!r} vs reference {ref[worst]!r} "
        f"(error {err[worst]:.3g} > {bound[worst]:.3g})"
    )


def non_normal_W(n: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """``scale · Q (D + N) Qᵀ``: eigenvalues D in (−0.9, 0.9), strong upper part N."""
    inner = np.triu(rng.standard_normal((n, n)) * 3.0 / math.sqrt(n), 1)
    inner += np.diag(rng.uniform(-0.9, 0.9, n))
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return scale * (Q @ inner @ Q.T)
