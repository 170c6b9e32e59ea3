r"""The record of the top k singular triplets: :class:`TopSpectrumResult`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradscope.numeric.graded.bounds import json_errors
from gradscope.records import json_numbers

__all__ = ["TopSpectrumResult"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class TopSpectrumResult:
    r"""The top k singular triplets of :math:`P = \partial h_{end}/\partial h_{start}`.

    Attributes
    ----------
    log10_singular_values : (k,) ndarray
        :math:`\log_{10}\sigma_1 \ge \dots \ge \log_{10}\sigma_k`; ``-inf`` for an
        exact zero.
    log10_error : (k,) ndarray
        A bound on :math:`|\Delta\log_{10}\sigma_i|`: the passes' rounding (the
        graded engine's first-order model, times its safety factor) plus a
        residual bound from one extra pass,
        :math:`\operatorname{asinh}(f_i/2) \le \ln(1 + f_i)` with :math:`f_i` the
        relative residual of the top i Ritz pairs (see
        :func:`compute_top_spectrum`, Notes). It does not rest on the passes'
        convergence rate; it is probabilistic only in assuming that the random
        start missed no top direction. ``inf`` past a relative error of 1 (or
        where a residual overflows, or beside a zero that a flush or a fold
        made, not the data); NaN beside an exact zero.
    right_singular_vectors : (n, k) ndarray
        Column i is :math:`v_i`, unit: the direction of :math:`h_{start}` that
        :math:`P` amplifies by :math:`\sigma_i` (zero for an exact-zero σ).
    left_singular_vectors : (n, k) ndarray
        Column i is :math:`u_i = P v_i / \sigma_i`, a direction of :math:`h_{end}`.
    start, end : int
        The window: the product :math:`J_{end} \cdots J_{start+1}`.
    hidden : int
        n.
    block : int
        b, the number of vectors iterated (k plus oversampling).
    passes : int
        Forward and backward passes made (each applies all ``end - start`` steps),
        the residual pass included.
    converged : bool
        Whether the top k Ritz values settled within ``max_passes``.
    change : float
        The last pass's largest change of :math:`\ln\sigma_i`, i <= k, relative
        to :math:`1 + |\ln\sigma_i|` (−1 if there was only one pass).
    convergence_estimate : float
        The largest predicted error of :math:`\ln\sigma_i`, i <= k, in the same
        relative measure (see :func:`_assess`; −1 if unknown): an extrapolation
        of the linear rate, the stopping rule. A diagnostic only; the bound in
        ``log10_error`` does not use it. A large ``change`` with a tiny estimate
        means the block converged in one pass (a wide gap after σ_k).
    qr_count, longest_block : int
        QR factorisations over all passes, and the most steps between two.
    jacobi_sweeps : int
        One-sided Jacobi sweeps of the final b × b decomposition.
    seed : int
        Seed of the random starting block.
    block_sizes : tuple of int
        The vectors of every pass in order, the residual pass included (the
        default block shrinks to the measured gap; ``block`` is the first).
    """

    log10_singular_values: FloatArray
    log10_error: FloatArray
    right_singular_vectors: FloatArray
    left_singular_vectors: FloatArray
    start: int
    end: int
    hidden: int
    block: int
    passes: int
    converged: bool
    change: float
    convergence_estimate: float
    qr_count: int
    longest_block: int
    jacobi_sweeps: int
    seed: int
    block_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "log10_singular_values",
            "log10_error",
            "right_singular_vectors",
            "left_singular_vectors",
        ):
            arr = np.array(getattr(self, name), dtype=np.float64, copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def top(self) -> int:
        """k, the number of singular values computed."""
        return int(self.log10_singular_values.size)

    @property
    def steps(self) -> int:
        """The number of factors, ``end - start``."""
        return self.end - self.start

    def to_dict(self, *, vectors: bool = False) -> dict[str, Any]:
        """A JSON-safe dict (``-inf`` as None); the vectors only when asked, as k lists of n."""
        out: dict[str, Any] = {
            "product": f"dh_{self.end}/dh_{self.start}",
            "method": "matrix-free",
            "start": self.start,
            "end": self.end,
            "steps": self.steps,
            "hidden": self.hidden,
            "top": self.top,
            "log10_singular_values": json_numbers(self.log10_singular_values),
            "log10_error": json_errors(self.log10_error),
            "block": self.block,
            "passes": self.passes,
            "converged": self.converged,
            "change": self.change,
            "convergence_estimate": self.convergence_estimate,
            "qr_count": self.qr_count,
            "longest_block": self.longest_block,
            "jacobi_sweeps": self.jacobi_sweeps,
            "seed": self.seed,
            "block_sizes": list(self.block_sizes),
        }
        if vectors:
            out["right_singular_vectors"] = self.right_singular_vectors.T.tolist()
            out["left_singular_vectors"] = self.left_singular_vectors.T.tolist()
        return out
