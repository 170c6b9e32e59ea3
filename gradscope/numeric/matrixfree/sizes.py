r"""Memory and method for the top k: the block size, the memory estimate and check, ``auto``."""

from __future__ import annotations

from gradscope import machine
from gradscope.errors import ConfigError

__all__ = [
    "AUTO_CROSSOVER",
    "METHODS",
    "check_memory",
    "choose_method",
    "default_block",
    "estimate_memory",
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


def estimate_memory(n: int, T: int, *, method: str, top: int | None = None) -> int:
    r"""Bytes that ``gradscope spectrum`` needs for ``∂h_T/∂h_0`` of an n-unit RNN.

    The forward pass keeps ``h``, ``z`` and :math:`\varphi'(z)` (3 T n floats)
    and ``W_hh`` (n²). The graded full spectrum works on about 14 n × n arrays
    (the running factor, its QR, the folded ``U``, the Jacobi iterates); the
    matrix-free method on a C-ordered copy of ``W_hh.T`` and an inverse of
    ``W_hh`` for its condition bound (3 n²) and a few n × b blocks. Generated
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
