r"""Memory and method for the top k: the block size, the memory estimate and check, ``auto``."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from gradscope import machine
from gradscope.errors import ConfigError

FloatArray = NDArray[np.float64]

__all__ = [
    "AUTO_CROSSOVER",
    "METHODS",
    "check_memory",
    "choose_method",
    "default_block",
    "estimate_memory",
    "shrunk_block",
]

#: ``--method`` choices of ``gradscope spectrum``.
METHODS = ("auto", "graded", "matrix-free")
#: From this hidden size on ``auto`` uses the matrix-free method for ``--top K``.
#: Measured here (one thread, T = 1000, Gaussian W, tanh): graded full spectrum
#: vs matrix-free top 8: n = 64: 0.16 s vs 0.08 s; n = 128: 0.86 s vs 0.13 s;
#: n = 256: 3.5 s vs 0.34 s; n = 512: 48 s vs 2.4 s. Below n = 128 both take
#: well under a second and the graded method gives every value at no extra cost.
AUTO_CROSSOVER = 128


def default_block(k: int, n: int) -> int:
    r"""b = max(16, 2k) vectors (at most n) for the top k.

    The i-th value converges by :math:`(\sigma_{b+1}/\sigma_i)^2` per pass, and a
    pass costs about as much for 16 vectors as for 4 (memory-bound products):
    at n = 2048, T = 1000 (Gaussian W, tanh) one pass took 1.6 s for b = 1,
    3.7 s for b = 8, 4.7 s for b = 16, 8.9 s for b = 32, and b = 16 needed 3
    passes for the top 1 where b = 1 needed 23.
    """
    return min(n, max(16, 2 * k))


#: A pass's cost for b vectors, relative: W @ V with b columns at n = 2048 took
#: 0.6 ms for b = 1 and 2.1–2.3 ms for b = 16 here, about 0.5 + 0.1 b ms.
_COST_PER_VECTOR = 0.2


def shrunk_block(ritz: FloatArray, k: int, rtol: float) -> int:
    r"""The block for the remaining passes, from the last pass's Ritz values (natural logs).

    With b vectors the top k converge by :math:`q_b = (\sigma_{b+1}/\sigma_k)^2`
    per pass, so about :math:`p_b = \ln(1/\text{rtol}) / (2 (\ln\sigma_k -
    \ln\sigma_{b+1}))` more passes are needed, each costing about
    :math:`1 + 0.2 b` (:data:`_COST_PER_VECTOR`). ``ritz`` holds the b values of
    the current block; :math:`\sigma_{b'+1}` for b' < b is estimated by Ritz
    value b' + 1 (an estimate of the rate, not of any bound: the error bounds come
    from the residual pass whatever the block). Returns the b' in k + 1..b that
    minimises :math:`\lceil p_{b'} \rceil (1 + 0.2 b')` if that costs at most 1/1.25
    of what b would, else b itself (the block is never grown; also when the gaps are not
    measured: b <= k + 1, or a value not finite).
    """
    b = ritz.size
    if b <= k + 1 or not np.all(np.isfinite(ritz)):
        return b
    need = math.log(1.0 / rtol)
    best, best_cost = b, math.inf
    for bb in range(k + 1, b):  # σ_{bb+1} is Ritz value bb (0-based), measured
        gap = float(ritz[k - 1] - ritz[bb])
        cost = _passes(need, gap) * (1.0 + _COST_PER_VECTOR * bb)
        if cost < best_cost:
            best, best_cost = bb, cost
    # The last value σ_b has no measured successor: keep b unless a smaller block is
    # cheaper than b would be with the gap to σ_b itself (a lower bound on its rate).
    gap_b = float(ritz[k - 1] - ritz[b - 1])
    keep = _passes(need, gap_b) * (1.0 + _COST_PER_VECTOR * b)
    return best if 1.25 * best_cost <= keep else b  # a margin: Ritz gaps run wide


def _passes(need: float, gap: float) -> float:
    """Whole passes to gain ``need`` in ln at the rate ``e^(-2 gap)`` (at least one)."""
    return float(max(1, math.ceil(need / (2.0 * gap)))) if gap > 0.0 else math.inf


def estimate_memory(n: int, T: int, *, method: str, top: int | None = None) -> int:
    r"""Bytes that ``gradscope spectrum`` needs for ``∂h_T/∂h_0`` of an n-unit RNN.

    The forward pass keeps ``h``, ``z`` and :math:`\varphi'(z)` (3 T n floats)
    and ``W_hh`` (n²). The graded full spectrum works on about 14 n × n arrays
    (the running factor, its QR, the folded ``U``, the Jacobi iterates); the
    matrix-free method on a C-ordered copy of ``W_hh.T``, the bound column's
    certificate for ‖W_hh‖₂ (a scaled copy, :math:`W_{hh}^\top W_{hh}` and its
    Cholesky factor, :func:`~gradscope.numeric.norms.spectral_norm_certified`;
    together 3 n², as many as its fallback's squarings) and a
    few n × b blocks. Generated
    weights also need an eigen- or singular value decomposition (about 4 n²)
    for their scaling.

    Parameters
    ----------
    n, T : int
    method : {"graded", "matrix-free"}
    top : int, optional
        k (matrix-free; default 1).

    Returns
    -------
    int
        Estimated peak bytes (float64).
    """
    common = 3 * T * n + 5 * n * n
    if method == "graded":
        floats = common + 14 * n * n
    elif method == "matrix-free":
        b = default_block(top or 1, n)
        floats = common + 3 * n * n + 16 * n * b
    else:
        raise ConfigError(f"method must be 'graded' or 'matrix-free', got {method!r}")
    return 8 * floats


def _gb(nbytes: float) -> str:
    """``nbytes`` in GB for a message, also an integer beyond float range (a --T of 10**400)."""
    if isinstance(nbytes, int) and nbytes >= 10**300:
        return f"1e{len(str(nbytes)) - 10} GB"
    return f"{nbytes / 1e9:.3g} GB"


def check_memory(
    n: int, T: int, *, method: str, top: int | None = None, available: int | None = None
) -> None:
    """Refuse, before any work, a size that would not fit in memory.

    Parameters
    ----------
    n, T, method, top
        As :func:`estimate_memory`.
    available : int, optional
        Bytes available (default: :func:`~gradscope.machine.available_memory`; no check
        if unknown).

    Raises
    ------
    ConfigError
        With the estimate, what is available, and the option that would fit
        (``--method matrix-free --top K``), or what to reduce.
    """
    avail = machine.available_memory() if available is None else available
    if avail is None:
        return
    need = estimate_memory(n, T, method=method, top=top)
    if need <= 0.8 * avail:
        return
    what = f"n = {n}, T = {T} with --method {method}" + (
        f" --top {top}" if top is not None else ""
    )
    message = f"{what} needs about {_gb(need)}, but only {_gb(avail)} is available"
    if method == "graded":
        alt = estimate_memory(n, T, method="matrix-free", top=top or 1)
        if alt <= 0.8 * avail:
            raise ConfigError(
                f"{message} (the full spectrum works on about 14 n × n arrays); "
                f"--method matrix-free --top {top or 1} needs about {_gb(alt)} "
                "and fits: it never forms the product"
            )
    raise ConfigError(
        f"{message} (W_hh is n × n and the forward pass keeps 3 T n floats); "
        "reduce --hidden or --T"
    )


def choose_method(method: str, n: int, top: int | None) -> str:
    """Resolve ``auto``: the graded full spectrum for the whole spectrum or small n.

    ``auto`` picks ``matrix-free`` when only the top k values are asked for,
    n >= 128 (:data:`AUTO_CROSSOVER`) and the block of :func:`default_block`
    vectors is at most n / 4; otherwise ``graded``.
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method != "auto":
        return method
    if top is not None and n >= AUTO_CROSSOVER and 4 * default_block(top, n) <= n:
        return "matrix-free"
    return "graded"
