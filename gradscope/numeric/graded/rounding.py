r"""The graded engine's error model: what each block and each fold adds to the bound.

The block loop (:mod:`~gradscope.numeric.graded.blocks`) charges every block the
rounding of forming it and of its QR (:func:`_block_error`, by columns and by
rows, :func:`_column_grading`, :func:`_row_grading`, with the magnitudes it was
formed from, :func:`_magnitude`), what underflow may have taken
(:func:`_underflow`), and every fold its coupling (:func:`_coupling_error`).
These are first-order models held against exact references
(tests/numeric/test_accuracy.py), documented in docs/guide/accuracy.md.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from gradscope.numeric.graded.bounds import UNIT_ROUNDOFF
from gradscope.numeric.graded.factors import LN2, Apply, RowScaled
from gradscope.numeric.graded.kernels import _cond_row_equilibrated, _Reflectors

__all__: list[str] = []  # internal to gradscope.numeric.graded

FloatArray = NDArray[np.float64]


def _block_error(
    R: FloatArray,
    n: int,
    factors: int,
    flushed: float,
    Q: FloatArray | _Reflectors | None = None,
    size: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, float, FloatArray | None]:
    r"""The error one block adds to each direction (natural log): reported, and by columns.

    The block's rounding (``factors`` products, the QR, the group product) is a
    backward error of u n per factor, which moves row j of ``R`` by a relative
    u n (k + 2) a_j; the flushes change a row by ``flushed`` relative to itself;
    and a row-wise relative change of ``R`` moves the singular values by at most
    that times its row-equilibrated condition κ̃. Two models of a_j:

    * **by columns** (Householder QR's normwise backward error per column): a
      column's error moves ``R[j, j]`` by its column grading
      (:func:`_column_grading`), which is large when the columns have turned
      towards the top direction, and also when a row of the block is far below
      the others (a saturated unit: up to 1e149 in the harness);
    * **by rows** (Householder QR with sorted rows is row-wise backward stable,
      Cox & Higham 1998, and a product of factors has errors bounded by the
      product of their magnitudes, row by row): row j of :math:`Q^T \Delta B`
      is at most :math:`\sum_i |Q_{ij}|\, m_i` times u n (k + 2)
      (:func:`_row_grading`; ``size`` is m), about 1–30 however far the rows lie
      apart. Not available (``size`` None) once a factor is known only through
      ``apply``.

    Both hold, so the reported error takes the smaller; it is computed only when
    the column grading passes ``_ROW_WISE_FROM`` (it costs ``Q``). Block lengths
    are measured by the column model, which also keeps a block's rows within
    reach of each other (longer blocks would flush a saturated direction
    whole). A model, calibrated against exact references
    (tests/numeric/test_accuracy.py), not a theorem.

    Returns
    -------
    added : (K,) ndarray
        The error the block adds to each direction, as reported.
    by_columns : (K,) ndarray
        The same by the column model alone (what the block length is measured by).
    kappa : float
        κ̃ of ``R``.
    Q : ndarray or None
        ``Q`` formed, when the row model needed it (the next block is multiplied
        onto it by a matrix product instead of onto the reflectors: it costs no
        more).
    """
    kappa = _cond_row_equilibrated(R)
    scale = UNIT_ROUNDOFF * n * (factors + 2)
    T = np.triu(R)
    grading = _column_grading(T)
    flush = math.sqrt(n) * flushed
    by_columns: FloatArray = (scale * grading + flush) * kappa
    if Q is None or size is None or not float(grading.max(initial=1.0)) > _ROW_WISE_FROM:
        return by_columns, by_columns, kappa, None
    Qm = Q.matrix() if isinstance(Q, _Reflectors) else Q
    by_rows = (scale * _row_grading(Qm, size, T) + flush) * kappa
    return np.minimum(by_columns, by_rows), by_columns, kappa, Qm


_ROW_WISE_FROM = 64.0  # column grading past which the row model is computed too


def _row_norms(X: FloatArray) -> FloatArray:
    """The 2-norms of the rows of ``X``, without under- or overflow (each row scaled by its
    largest entry first)."""
    peak = np.abs(X).max(axis=1) if X.size else np.zeros(X.shape[0])
    S = X / np.where(peak > 0.0, peak, 1.0)[:, None]
    norms: FloatArray = peak * np.sqrt(np.einsum("ij,ij->i", S, S))
    return norms


def _row_grading(Q: FloatArray, size: FloatArray, T: FloatArray) -> FloatArray:
    r"""For each row j of ``T``: :math:`\sum_i |Q_{ij}|\, m_i / \|T_{j,:}\|_2`.

    ``B = Q T`` is the block (``T`` its triangular factor) and ``m`` (``size``)
    bounds the row norms of the magnitudes it was formed from,
    :math:`|F_k| \cdots |F_1| |Q_{prev}|` (:func:`_magnitude`; at least
    ``‖B_i‖``). Forming ``B`` and its sorted-row QR leave a backward error
    :math:`\Delta B` whose row i is about u n (k + 2) m_i (Householder QR
    with sorted rows is row-wise backward stable, Cox & Higham 1998, up to a
    growth factor that is modest in practice), which changes row j of ``T`` by
    at most that times this, relative to itself. A row far below the others
    meets only itself in ``Q`` (the QR of a row-graded matrix has
    :math:`|Q_{ij}| \lesssim \|B_j\| / \|B_i\|` below the diagonal), so this
    stays small where the column grading is huge; ``inf`` for a zero row of
    ``T``.
    """
    weight = np.abs(Q).T @ size
    rho = _row_norms(T)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out: FloatArray = np.where(rho > 0.0, weight / rho, np.inf)
    return out


def _column_grading(T: FloatArray) -> FloatArray:
    """For each row j of the upper trapezoidal ``T``: ‖T[:, j]‖₂ / |T[j, j]|.

    Column j of the block is ``Q T[:, j]``; a rounding error relative to that
    column's size moves ``T[j, j]`` (the block's growth in direction j, once the
    columns before it are removed) by this factor more. It is 1 for a
    triangular block without coupling and grows to σ₁/σ_j of the block when
    every column has turned towards the top direction.
    """
    K = T.shape[0]
    diag = np.abs(np.diagonal(T)[:K])
    live = diag > 0.0
    S = T[:, :K] / np.where(live, diag, 1.0)  # column j relative to |R_jj|: no underflow
    return np.where(live, np.sqrt(np.einsum("ij,ij->j", S, S)), np.inf)


def _coupling_error(R: FloatArray, ell: FloatArray, factors: int) -> FloatArray:
    r"""The error a fold of ``R`` onto ``diag(e^ℓ) U`` adds to each new row (natural log).

    Row i of :math:`R\,\operatorname{diag}(e^\ell)` weighs entry k by
    :math:`e^{\ell_k}`. While the directions are ordered (each weight below
    those before it) the rounding of ``R`` moves the row by no more than the
    block's own charge (its column grading and κ̃, :func:`_block_error`), and
    nothing is added here. When a smaller direction comes first (units of a
    diagonal W crossing over) the larger one's rounding swamps it by a factor
    a_i; as for the blocks, two models of that rounding hold and the smaller
    factor is used:

    * by columns, entries of about :math:`u\,\|R_{:,k}\|`:
      :math:`a_i = \max_{k > i} \|R_{:,k}\| e^{\ell_k} / (\|R_{:,i}\| e^{\ell_i})`;
    * by rows, entries of about :math:`u\,\|R_{i,:}\|` (sorted-row QR, and
      products of graded triangles, err relative to each row):
      :math:`a_i = \|R_{i,:}\| \max_{k > i} e^{\ell_k} / \max_{k \ge i} |R_{ik}| e^{\ell_k}`,
      counted only where some :math:`\ell_k > \ell_i` (k > i) crosses.

    Returns :math:`u\,r\,(\text{factors} + 2)\,a_i\,\tilde\kappa(R)`, with
    ``inf`` beyond float range.
    """
    T = np.triu(R)
    K = T.shape[0]
    if K == 0:
        return np.zeros(0)
    with np.errstate(divide="ignore"):
        log_col = np.log(np.sqrt(np.einsum("ij,ij->j", T, T))) + ell
        log_entries = np.log(np.abs(T[:, : ell.size])) + ell  # -inf where R is 0
        log_rho = np.log(_row_norms(T))
    # a_i over the later columns only: the column's own grading is charged per block
    later = np.append(np.maximum.accumulate(log_col[::-1])[::-1][1:], -np.inf)[:K]
    later_ell = np.append(np.maximum.accumulate(ell[::-1])[::-1][1:], -np.inf)[:K]
    crossing = later_ell > ell[:K]
    with np.errstate(invalid="ignore"):
        log_peak = log_entries.max(axis=1)
        log_row = np.where(crossing & np.isfinite(log_peak), log_rho + later_ell - log_peak, 0.0)
        log_a = np.where(np.isfinite(log_col[:K]), later - log_col[:K], 0.0)
        log_a = np.minimum(log_a, np.where(crossing, log_row, 0.0))
        amplification = np.where(log_a > 0.0, np.exp(np.minimum(log_a, 700.0)), 0.0)
    amplification[log_a > 700.0] = np.inf
    scale = UNIT_ROUNDOFF * T.shape[1] * (factors + 2) * _cond_row_equilibrated(R)
    with np.errstate(invalid="ignore", over="ignore"):  # κ̃ = inf with no coupling: 0
        out: FloatArray = np.where(amplification > 0.0, scale * amplification, 0.0)
    return out


def _underflow(B: FloatArray, n: int) -> float:
    """The relative change of a row of ``B`` that underflow may have made in its last product.

    Each entry of a product loses at most (n + 1) half-subnormals, 2⁻¹⁰⁷⁵ each
    (products and sums below 2⁻¹⁰²²); relative to a row's largest entry that is
    negligible beside u unless the row is below 2⁻⁹⁶⁹ (1e-292), which a step whose
    entries are all tiny (W ~ 1e-246 times φ' ~ 1e-70) produces before the block
    can be rescaled.
    """
    rows = np.abs(B).max(axis=1) if B.size else np.zeros(0)
    live = rows[rows > 0.0]
    if not live.size or float(live.min()) >= 2.0**-969:
        return 0.0
    return (n + 1) * math.sqrt(n) * (2.0**-1074 / float(live.min()))  # 2⁻¹⁰⁷⁵ rounds to 0


def _magnitude(
    apply: Apply,
    magnitude: tuple[FloatArray, float] | None,
    last: list[tuple[FloatArray, FloatArray]],
) -> tuple[FloatArray, float] | None:
    """``(x', λ')`` with :math:`e^{λ'} x' = |F| e^{λ} x` (``F`` the factor): the magnitudes
    the block's entries are formed from, row by row (:func:`block_loop`).

    ``x'`` is kept at peak 1 by powers of two. ``last`` holds the last ``(M, |M|)``,
    reused while the same ``M`` comes again (an RNN's ``W_hh``). None for a factor
    known only through ``apply``.
    """
    if magnitude is None or not isinstance(apply, RowScaled):
        return None
    x: FloatArray | None
    x, lam = magnitude
    if apply.M is not None:
        if not (last and last[0][0] is apply.M):
            last[:] = [(apply.M, np.abs(apply.M))]
        x, lam = _to_unit(last[0][1] @ x, lam)  # before the row scale: as _apply
    if apply.scale is not None and x is not None:
        x, lam = _to_unit(x * np.abs(apply.scale), lam)
    return None if x is None else (x, lam)


def _to_unit(x: FloatArray, lam: float) -> tuple[FloatArray | None, float]:
    """``e^λ x`` with ``x``'s peak brought to [1/2, 1) by a power of two (None: not finite)."""
    peak = float(x.max()) if x.size else 0.0
    if peak == 0.0:
        return x, lam
    if not peak < math.inf:
        return None, lam
    e = math.frexp(peak)[1]
    return np.ldexp(x, -e), lam + e * LN2


def _in_scale(magnitude: tuple[FloatArray, float], beta: float) -> FloatArray | None:
    """The magnitudes ``e^λ x`` in the block's units (the block is ``e^β B``), or None
    beyond float range."""
    x, lam = magnitude
    with np.errstate(over="ignore"):
        out: FloatArray = x * math.exp(min(lam - beta, 700.0))
    return out if lam - beta < 700.0 else None
