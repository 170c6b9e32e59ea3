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
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError
from gradscope.numeric.graded.blocks import MAX_BLOCK, GradedProduct, block_loop
from gradscope.numeric.graded.bounds import (
    SAFETY,
    UNIT_ROUNDOFF,
    json_errors,
    log10_bounds,
    sorted_errors,
)
from gradscope.numeric.graded.factors import _log_cond
from gradscope.numeric.graded.jacobi import (
    graded_log_singular_values,
    graded_singular_values,
    graded_svd,
)
from gradscope.numeric.steps import ConstantSteps, RNNSteps, Steps, as_steps, check_range
from gradscope.progress import task as progress_task

__all__ = [
    "METHODS",
    "MF_COND_LIMIT",
    "TopSpectrumResult",
    "available_memory",
    "check_memory",
    "choose_method",
    "compute_top_spectrum",
    "estimate_memory",
    "log10_top_singular_values",
]

FloatArray = NDArray[np.float64]
LN10 = math.log(10.0)

#: Bound on the measured condition number of one block of steps. Lower than the
#: full spectrum's 1e10: a QR of n × b costs little beside the steps themselves.
MF_COND_LIMIT = 1e8
#: The per-factor error budget of a pass's blocks, for the top k directions only. Looser
#: than the full spectrum's 1e-13: the values reported carry an a-posteriori residual
#: bound (_residual_errors), so the budget only has to keep the passes from stalling.
#: Measured on the harness (tests/numeric/test_matrixfree_accuracy.py, 440 cases): at
#: 1e-12 … 1e-9 a tanh Jordan block's passes stall 5.5 decades off (bounds inf); at 1e-8
#: every value lies inside its bound; n = 512, T = 1000, top 1: 1.4 s (2.6 s before).
MF_ERROR_PER_FACTOR = 1e-8
#: ``--method`` choices of ``gradscope spectrum``.
METHODS = ("auto", "graded", "matrix-free")
#: From this hidden size on ``auto`` uses the matrix-free method for ``--top K``.
#: Measured here (one thread, T = 1000, Gaussian W, tanh): graded full spectrum
#: vs matrix-free top 8: n = 64: 0.16 s vs 0.08 s; n = 128: 0.86 s vs 0.13 s;
#: n = 256: 3.5 s vs 0.34 s; n = 512: 48 s vs 2.4 s. Below n = 128 both take
#: well under a second and the graded method gives every value at no extra cost.
AUTO_CROSSOVER = 128
_MAX_SWEEPS = 60


# --- the result -------------------------------------------------------------------


def _json_floats(values: FloatArray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


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
    lyapunov_exponents : (k,) ndarray
        QR-method estimates (natural log per step) from the first forward pass,
        started from a random orthonormal block: asymptotic rates, not
        singular values.
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
    """

    log10_singular_values: FloatArray
    log10_error: FloatArray
    right_singular_vectors: FloatArray
    left_singular_vectors: FloatArray
    lyapunov_exponents: FloatArray
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

    def __post_init__(self) -> None:
        for name in (
            "log10_singular_values",
            "log10_error",
            "right_singular_vectors",
            "left_singular_vectors",
            "lyapunov_exponents",
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
            "log10_singular_values": _json_floats(self.log10_singular_values),
            "log10_error": json_errors(self.log10_error),
            "lyapunov_exponents": _json_floats(self.lyapunov_exponents),
            "block": self.block,
            "passes": self.passes,
            "converged": self.converged,
            "change": self.change,
            "convergence_estimate": self.convergence_estimate,
            "qr_count": self.qr_count,
            "longest_block": self.longest_block,
            "jacobi_sweeps": self.jacobi_sweeps,
            "seed": self.seed,
        }
        if vectors:
            out["right_singular_vectors"] = self.right_singular_vectors.T.tolist()
            out["left_singular_vectors"] = self.left_singular_vectors.T.tolist()
        return out


# --- one pass ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pass:
    """``X V = Q diag(e^ℓ) U`` for the pass's operator X (P or Pᵀ) and input basis V."""

    Q: FloatArray  # (n, K) orthonormal
    log_scales: FloatArray  # (K,)
    U: FloatArray  # (K, b), upper trapezoidal, unit rows
    log_diag: FloatArray  # (b,) Σ log |R_ii|, the QR-method sums
    qr_count: int
    longest: int
    log_error: FloatArray  # (K,) first-order rounding error of each direction (natural log)
    lost: bool  # did a flush or a fold drop a nonzero row (a zero that is not exact)?
    factors: int  # factors applied (each may move the block's scale into the log)

    @classmethod
    def of(cls, p: GradedProduct) -> _Pass:
        """The pass that the block loop made."""
        assert p.Q is not None and p.U is not None and p.log_error is not None
        return cls(
            p.Q,
            p.log_scales,
            p.U,
            p.log_diag,
            p.qr_count,
            p.longest_block,
            p.log_error,
            not p.zeros_exact,
            p.factors,
        )


# --- the condition bound a pass starts from ---------------------------------------


def _log_cond_bound(W: FloatArray) -> float:
    r"""An upper bound on :math:`\log\kappa_2(W)`, in O(n³) but cheaply for large n.

    Exact (an SVD) up to n = 256; above, :math:`\kappa_2 \le n\,\kappa_1` with
    :math:`\kappa_1 = \|W\|_1 \|W^{-1}\|_1` from one inverse (4× cheaper than the
    SVD). The blocks' measured conditions correct a loose bound
    (:func:`~gradscope.numeric.graded.blocks.block_loop`).
    """
    n = W.shape[-1]
    if n <= 256:
        return _log_cond(W)
    try:
        inv = np.linalg.inv(W)
    except np.linalg.LinAlgError:
        return math.inf
    k1 = float(np.abs(W).sum(axis=0).max()) * float(np.abs(inv).sum(axis=0).max())
    return math.log(k1) + math.log(n) if math.isfinite(k1) and k1 > 0 else math.inf


# --- memory and method --------------------------------------------------------------


def available_memory() -> int | None:
    """Bytes a new allocation of this process can get, or None if unknown.

    The least of the machine's free memory (Linux ``MemAvailable``), what this
    process's cgroup still allows (``memory.max`` less ``memory.current``, cgroup
    v2) and what its address-space limit (``ulimit -v``, ``RLIMIT_AS``) leaves
    beside what it has mapped: a limit the estimate ignored made LAPACK fail
    inside an allocation (``init_gesdd failed init``) instead of a refusal.
    """
    candidates = [m for m in (_meminfo_available(), _cgroup_room(), _address_room()) if m]
    if candidates:
        return min(candidates)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """``memory.max − memory.current`` of this process's cgroup (v2), or None."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            path = next((ln[3:].strip() for ln in f if ln.startswith("0::")), None)
        if path is None:
            return None
        folder = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(folder, "memory.max"), encoding="ascii") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(folder, "memory.current"), encoding="ascii") as f:
            current = int(f.read().strip())
        return max(int(limit) - current, 1)
    except (OSError, ValueError):
        return None


def _address_room() -> int | None:
    """What ``RLIMIT_AS`` leaves beside this process's mapped memory (``VmSize``), or None."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status", encoding="ascii") as f:
            size = next((int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmSize:")), 0)
        return max(int(soft) - size, 1)
    except (ImportError, OSError, ValueError):
        return None


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
        Bytes available (default: :func:`available_memory`; no check if unknown).

    Raises
    ------
    ConfigError
        With the estimate, what is available, and the option that would fit
        (``--method matrix-free --top K``), or what to reduce.
    """
    avail = available_memory() if available is None else available
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


# --- the driver -------------------------------------------------------------------


def _check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return int(value)


def compute_top_spectrum(
    jacobians: Steps | ArrayLike,
    k: int = 1,
    *,
    start: int = 0,
    end: int | None = None,
    block: int | None = None,
    seed: int = 0,
    rtol: float = 1e-13,
    max_passes: int = 60,
    cond_limit: float = MF_COND_LIMIT,
    max_block: int = MAX_BLOCK,
) -> TopSpectrumResult:
    r"""The top k singular values and vectors of :math:`J_{end} \cdots J_{start+1}`, matrix-free.

    Parameters
    ----------
    jacobians : Steps or (T, n, n) array_like
        :math:`J_1, \dots, J_T`, with random access (a
        :class:`~gradscope.numeric.steps.RNNSteps` keeps only ``W_hh`` and
        :math:`\varphi'(z_t)`). A one-shot stream cannot be passed twice.
    k : int
        How many singular values, ``1 <= k <= n``.
    start, end : int, optional
        The window (default: the whole run, :math:`\partial h_T/\partial h_0`).
    block : int, optional
        b, vectors iterated, ``k <= b <= n`` (default :func:`default_block`).
    seed : int
        Seed of the random orthonormal starting block (same seed, same result).
    rtol : float
        Stop when two passes' top k Ritz values agree to
        ``rtol (1 + |ln σ_i|)`` in :math:`\ln\sigma_i`.
    max_passes : int
        Most forward plus backward passes of the iteration (``converged`` is
        False if reached); the residual pass comes on top.
    cond_limit, max_block
        Bound on a block's measured condition number, and most steps per block.

    Returns
    -------
    TopSpectrumResult

    Raises
    ------
    ConfigError
        For a stream, batch dimensions, ``k`` or ``block`` out of range, or a
        window outside ``0 <= start < end <= T``.
    NumericalError
        If a block overflows (a Jacobian beyond float64's range), or the final
        Jacobi does not converge.

    See Also
    --------
    gradscope.numeric.spectrum.log10_singular_values : every σ_i, by the dense graded method.

    Notes
    -----
    Cost per pass: ``end - start`` products of ``W_hh`` with an n × b block and
    about one QR of n × b per block of steps, O(T n² b) instead of the dense
    product's O(T n³). At n = 2048, T = 1000 here (one BLAS thread) a pass on 16
    vectors takes about 4.5 s; the top 1 took 11.9 s and the top 8 19.2 s, the
    dense product and its SVD 218 s (``benchmarks/bench_matrixfree.py``).

    **The error bound.** Let the last pass of the iteration (by X = P, or Pᵀ with
    the roles of u and v swapped) have Ritz pairs :math:`X B = A \hat\Sigma`,
    :math:`\hat\Sigma = \operatorname{diag}(\hat\sigma_1 \ge \dots \ge
    \hat\sigma_k)`, A and B with orthonormal columns. One more pass, of
    :math:`X^\top` on the k columns of A, gives the residual
    :math:`R = X^\top A - B\hat\Sigma`; it is orthogonal to B, since
    :math:`B^\top X^\top A = \hat\Sigma`. In orthonormal completions of A and B,

    .. math::  [A\ A_\perp]^\top X\, [B\ B_\perp]
               = \begin{pmatrix} \hat\Sigma & \hat\Sigma F \\ 0 & C \end{pmatrix}
               = \begin{pmatrix} \hat\Sigma & 0 \\ 0 & C \end{pmatrix}
                 \begin{pmatrix} I & F \\ 0 & I \end{pmatrix},
               \qquad F = \hat\Sigma^{-1} R^\top B_\perp,

    with :math:`\|F\|_2 = \|R\hat\Sigma^{-1}\|_2 = f`. A multiplicative
    perturbation moves every singular value by at most the factor
    :math:`\|M\| = \|M^{-1}\| = (f + \sqrt{f^2 + 4})/2` of the right factor M
    (:math:`\sigma_j(DM) \le \sigma_j(D)\|M\|`; Horn & Johnson, *Topics in
    Matrix Analysis*, Thm 3.3.16; Eisenstat & Ipsen, SIAM J. Numer. Anal. 32,
    1995), so :math:`|\ln\sigma_j(P) - \ln\sigma_j(\operatorname{diag}(\hat\Sigma,
    C))| \le \operatorname{asinh}(f/2) \le \ln(1 + f)` for every j. Applied to
    the top i pairs alone, value i gets :math:`\operatorname{asinh}(f_i/2)`,
    :math:`f_i` the residual norm of pairs 1..i (:func:`_residual_errors`). It is
    the relative form of the Kahan–Parlett residual bound for the augmented
    matrix :math:`[[0, P], [P^\top, 0]]` (Parlett, *The Symmetric Eigenvalue
    Problem*, Thm 11.5.1, which gives :math:`\|R\|_2/\sqrt 2` in absolute terms);
    the relative form is what values spanning hundreds of decades need.

    It makes :math:`\sigma_i(P)` close to :math:`\hat\sigma_i` itself, and not to
    a smaller value, when C (P on the directions the pairs leave out) has no
    singular value above :math:`\hat\sigma_i`: when the iteration missed no top
    direction. That is not checked: it fails only if the start was so nearly
    orthogonal to a top singular vector that the passes had not yet brought it
    out, for a Gaussian start (its component along any fixed unit vector is
    N(0, 1/n)) an unlikely event but not an impossible one, and more likely the
    smaller the gap below that singular value. The bound is in this sense
    probabilistic; it does not
    rest on the convergence rate, and holds also when ``converged`` is False.
    ``log10_error`` adds the rounding of the passes (the relation
    :math:`X B = A\hat\Sigma` holds to that), and the distance of
    :math:`\hat\sigma_i` from the singular values of :math:`X^\top A` that the
    residual pass gives (:math:`\hat\sigma_i \le \sigma'_i \le \hat\sigma_i
    \sqrt{1 + f_i^2}` in exact arithmetic; more means the relation held less
    well than the rounding model says, and is charged in full).

    The residual pass costs one pass on k vectors (not b). When the iteration
    ends with its check pass on the k Ritz vectors (``one more pass should be
    enough``), that pass is the residual pass and costs nothing extra; its values
    are then the ones reported, with the distance to the prior values and the
    prior pass's rounding added to their bound.

    Examples
    --------
    Ten thousand steps of 0.9 times a rotation: every σ is
    :math:`0.9^{10000} \approx 10^{-457.57}`, far below float64's range.

    >>> import math
    >>> import numpy as np
    >>> from gradscope.numeric.steps import ConstantSteps
    >>> c, s = math.cos(0.3), math.sin(0.3)
    >>> W = 0.9 * np.array([[c, -s], [s, c]])
    >>> result = compute_top_spectrum(ConstantSteps(W, 10000), 1)
    >>> round(float(result.log10_singular_values[0]), 4), round(10000 * math.log10(0.9), 4)
    (-457.5749, -457.5749)
    """
    if not isinstance(jacobians, Steps) and not isinstance(jacobians, np.ndarray):
        jacobians = np.asarray(jacobians, dtype=np.float64)
    steps = as_steps(jacobians)
    if steps.T is None:
        raise ConfigError(
            "the matrix-free method passes over the Jacobians forwards and backwards "
            "several times: give a (T, n, n) array or Steps, not a one-shot stream"
        )
    if steps.batch_shape != ():
        raise ConfigError(
            f"one product at a time: these Jacobians carry batch dimensions "
            f"{steps.batch_shape}; loop over the batch and call once per entry"
        )
    start, end_ = check_range(start, end, steps.T)
    assert end_ is not None
    n = steps.n
    k = _check_int(k, "k", 1, n)
    b = default_block(k, n) if block is None else _check_int(block, "block", k, n)
    seed = _check_int(seed, "seed", 0)
    max_passes = _check_int(max_passes, "max_passes", 2)
    if not (isinstance(rtol, float | int) and 0.0 < rtol < 1.0):
        raise ConfigError(f"rtol must be in (0, 1), got {rtol!r}")
    if not cond_limit > 1.0:
        raise ConfigError(f"cond_limit must be > 1, got {cond_limit!r}")
    # The weights' condition seeds each block's prediction (a bound, cheaper than an SVD
    # for large n); one vector needs none (its block's condition is 1).
    log_kappa: float | None = None
    if isinstance(steps, RNNSteps | ConstantSteps):
        log_kappa = (
            0.0
            if b == 1
            else _log_cond_bound(steps.W_hh if isinstance(steps, RNNSteps) else steps.W)
        )

    rng = np.random.default_rng(seed)
    V = np.linalg.qr(rng.standard_normal((n, b)))[0]
    history: list[FloatArray] = []  # the top k Ritz values (ln σ) of every pass
    lyapunov = np.full(k, -np.inf)
    qr_count = longest = 0
    converged = False
    change = error = math.inf
    passes = 0
    last: _Pass | None = None
    V_in = V

    def run_pass(V_in: FloatArray, forward: bool) -> _Pass:
        """One pass of P (forward) or Pᵀ on V_in: the graded engine's block loop."""
        factors = (
            steps.factors(start, end_, log_kappa=log_kappa)
            if forward
            else steps.transposed_factors(start, end_, log_kappa=log_kappa)
        )
        label = f"matrix-free pass {passes + 1} ({'forward' if forward else 'backward'})"
        with progress_task(label, end_ - start) as bar:
            return _Pass.of(
                block_loop(
                    factors,
                    n,
                    V_in,
                    start=start,
                    cond_limit=cond_limit,
                    max_block=max_block if V_in.shape[1] > 1 else 1 << 62,
                    error_per_factor=MF_ERROR_PER_FACTOR,
                    leading=k,  # the guard vectors beyond the top k need no per-factor budget
                    advance=bar.advance,
                )
            )

    forward = True  # the direction of the next full pass
    # (pass, its input, the residual pass on its k output-side Ritz vectors, whether the
    # values reported are the residual pass's own)
    residual_pass: tuple[_Pass, FloatArray, _Pass, bool] | None = None
    while passes < max_passes:
        V_in = V
        last = run_pass(V_in, forward)
        passes += 1
        qr_count += last.qr_count
        longest = max(longest, last.longest)
        if passes == 1:
            lam = np.full(b, -np.inf)
            lam[: last.log_diag.size] = np.sort(last.log_diag / (end_ - start))[::-1]
            lyapunov = lam[:k]
        log_sigma, _ = graded_log_singular_values(last.log_scales, last.U)
        history.append(_top(log_sigma, k))
        V = last.Q
        forward = not forward
        smallest = float(log_sigma[V.shape[1] - 1]) if V.shape[1] else -math.inf
        progress = _assess(history, smallest, rtol)
        change, error = progress.change, progress.error
        if progress.converged or V.shape[1] == 0:
            converged = True
            break
        if progress.one_more and b > k and passes < max_passes:
            # The last pass on the k Ritz vectors of this one only (a k-column block
            # costs less than b): as accurate for the top k as a full pass would be,
            # and the residual pass of this one's Ritz pairs (_residual_errors).
            _, Xg, _, _ = graded_svd(last.log_scales, last.U)
            ritz = last.Q @ Xg[:, :k]
            check = run_pass(ritz, forward)
            passes += 1
            qr_count += check.qr_count
            longest = max(longest, check.longest)
            values, _ = graded_log_singular_values(check.log_scales, check.U)
            final = _assess([*history, _top(values, k)], smallest, rtol)
            if final.converged and ritz.shape[1] == k:
                residual_pass = (last, V_in, check, True)
                last, V_in = check, ritz
                converged, change, error = True, final.change, final.error
                forward = not forward
                break
    forward = not forward  # the direction of the last pass made (the one reported)
    assert last is not None
    if residual_pass is None and last.Q.shape[1] > 0:
        # The residual pass: the other operator on the k Ritz vectors of the output side.
        _, Xg, _, _ = graded_svd(last.log_scales, last.U)
        check = run_pass(last.Q @ Xg[:, :k], not forward)
        passes += 1
        qr_count += check.qr_count
        longest = max(longest, check.longest)
        residual_pass = (last, V_in, check, False)
    log10_error = np.full(k, np.nan)
    log_sigma_all, Xg, Yg, sweeps = graded_svd(last.log_scales, last.U)
    # Forward pass: P V_in = Q G, so u = Q x and v = V_in y. Backward: Pᵀ V_in = Q G,
    # so V_inᵀ P Q = Gᵀ: u = V_in y and v = Q x.
    a_vectors = last.Q @ Xg  # (n, r), the pass's output side
    b_vectors = V_in @ Yg  # (n, r), its input side
    left, right = (a_vectors, b_vectors) if forward else (b_vectors, a_vectors)
    r = log_sigma_all.size
    values = np.full(k, -np.inf)
    U_out = np.zeros((n, k))
    V_out = np.zeros((n, k))
    m = min(k, r)
    values[:m] = log_sigma_all[:m]
    if residual_pass is None:  # the product is exactly zero
        log10_error = _top_errors(last, values, None)
    else:
        prior, prior_in, check, reported = residual_pass
        prior_errors = _residual_errors(prior, prior_in, check, k)
        prior_sigma = _top(graded_log_singular_values(prior.log_scales, prior.U)[0], k)
        check_sigma = _top(graded_log_singular_values(check.log_scales, check.U)[0], k)
        with np.errstate(invalid="ignore"):
            moved = np.abs(check_sigma - prior_sigma)
            moved = np.where(np.isnan(moved), 0.0, moved)  # −inf beside −inf
            prior_errors = prior_errors + moved
            if reported:  # the values are the residual pass's: the prior's rounding too
                prior_errors = prior_errors + _rounding(prior, prior_sigma)
            else:  # ``moved`` is measured with the residual pass's own rounding
                prior_errors = prior_errors + _rounding(check, check_sigma)
        log10_error = _top_errors(last, values, prior_errors)
    live = np.isfinite(values[:m])
    U_out[:, :m] = np.where(live, left[:, :m], 0.0)
    V_out[:, :m] = np.where(live, right[:, :m], 0.0)
    return TopSpectrumResult(
        log10_singular_values=values / LN10,
        log10_error=log10_error,
        right_singular_vectors=V_out,
        left_singular_vectors=U_out,
        lyapunov_exponents=lyapunov,
        start=start,
        end=end_,
        hidden=n,
        block=b,
        passes=passes,
        converged=converged,
        change=float(change) if math.isfinite(change) else -1.0,
        convergence_estimate=float(error) if math.isfinite(error) else -1.0,
        qr_count=qr_count,
        longest_block=longest,
        jacobi_sweeps=sweeps,
        seed=seed,
    )


def _rounding(p: _Pass, values: FloatArray) -> FloatArray:
    r"""The rounding of pass ``p`` in each of the values ``values`` (natural logs).

    The engine's per-direction first-order model, the final b × b reduction, and
    the sums that carry :math:`\ln\sigma` itself, :math:`u|\ln\sigma|` for each
    rounding of the running log scale: three per fold, one per factor (the
    block's power-of-two rescaling; a pass on one vector at 1e92 per step
    rescales after every step), times :data:`SAFETY`; NaN beside an exact zero.
    """
    reduction = graded_singular_values(p.log_scales, p.U).log_error
    sums = UNIT_ROUNDOFF * (3 * (p.qr_count + 1) + p.factors) * np.abs(values)
    with np.errstate(invalid="ignore"):
        per_value = sorted_errors(values, p.log_scales, p.log_error) + reduction + sums
    out: FloatArray = SAFETY * per_value
    return out


def _residual_errors(prior: _Pass, prior_in: FloatArray, check: _Pass, k: int) -> FloatArray:
    r"""Natural-log bounds on the top k values of pass ``prior`` from its Ritz pairs' residual.

    ``prior`` maps ``prior_in`` (n × b, orthonormal) by X (P or Pᵀ) to
    ``Q diag(e^ℓ) U``; with that graded factor's SVD ``X̂ diag(σ̂) Ŷᵀ`` the Ritz
    pairs are :math:`a_i = Q\hat x_i` (output side) and
    :math:`b_i = V_{in}\hat y_i`, so :math:`X B = A \operatorname{diag}(\hat\sigma)`
    by construction (up to the pass's rounding). ``check`` is the pass of
    :math:`X^\top` on :math:`A` (m = min(k, rank) columns),
    :math:`X^\top A = Q_c \operatorname{diag}(e^{\ell_c}) U_c`. The residual
    :math:`R = X^\top A - B \operatorname{diag}(\hat\sigma)`, projected off
    :math:`B` and scaled column by column by :math:`1/\hat\sigma_i`, is

    .. math::  S = (Q_c - B B^\top Q_c)\,
               \operatorname{diag}(e^{\ell_c}) U_c \operatorname{diag}(\hat\sigma)^{-1},

    formed with the scales :math:`e^{\ell_c - \ln\hat\sigma_i}` combined before
    they are taken out of log scale, so nothing under- or overflows while the
    column is within 1e300 of :math:`\hat\sigma_i` (beyond, the residual is
    ``inf``). Value i gets :math:`\operatorname{asinh}(f_i / 2)`,
    :math:`f_i = \|S_{:, 1..i}\|_F \ge \|S_{:, 1..i}\|_2` (the theorem:
    :func:`compute_top_spectrum`, Notes). NaN beside an exact zero. The
    projection keeps the float64 vectors' own error, about ε along the top
    directions, from counting as residual to first order: what is left of it
    is about :math:`\varepsilon^2\sigma_1/\sigma_i`, so a value more than about
    30 decades below σ₁ can get an ``inf`` bound.
    """
    prior_sigma, _, Yp, _ = graded_svd(prior.log_scales, prior.U)
    m = min(k, prior_sigma.size)
    out = np.full(k, np.nan)
    if m == 0:
        return out
    sigma = prior_sigma[:m]
    live = np.isfinite(sigma)
    B = prior_in @ Yp[:, :m]  # (n, m), the input side of the prior pass's Ritz pairs
    Qc = check.Q
    C = Qc - B @ (B.T @ Qc)  # the residual pass's output basis off the span of B
    K = check.U.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        scale = check.log_scales[:K, None] - np.where(live, sigma, 0.0)[None, :]
        coeffs = np.where(check.U[:, :m] != 0.0, np.exp(scale) * check.U[:, :m], 0.0)
        S = C @ coeffs  # (n, m): column i is (I − B Bᵀ) Xᵀ a_i / σ̂_i
        sq = np.where(live, np.einsum("ij,ij->j", S, S), 0.0)
    sq = np.where(np.isnan(sq), np.inf, sq)
    out[:m] = np.where(live, np.arcsinh(np.sqrt(np.cumsum(sq)) / 2.0), np.nan)
    return out


def _top_errors(last: _Pass, values: FloatArray, prior: FloatArray | None) -> FloatArray:
    """log10 error bounds of the top k values (natural logs ``values``) of pass ``last``.

    The last pass's rounding (:func:`_rounding`) plus ``prior``, the residual
    bound from the Ritz pairs of the pass before (:func:`_residual_errors`;
    None: there was no such pass, the product is exactly zero). A value whose
    bound is NaN while it is not an exact zero gets ``inf``. A zero is exact
    (NaN) only beyond the rows of the pass's block (it shrank where a factor had
    fewer nonzero rows than the block has columns: a structural bound on the
    rank) and if no flush or fold dropped a nonzero row; any other zero gets
    ``inf``.
    """
    total = _rounding(last, values)
    if prior is not None:
        with np.errstate(invalid="ignore"):
            total = total + np.where(np.isnan(prior) & np.isfinite(values), np.inf, prior)
    out = log10_bounds(total, values)
    # A zero is exact where the block shrank (a factor's zero rows bound the rank
    # exactly), not where a row of the pass's factor vanished inside it.
    zero = ~np.isfinite(values)
    structural = np.arange(values.size) >= last.U.shape[0]
    out[zero] = np.where(structural[zero] & (not last.lost), np.nan, np.inf)
    return out


def _top(log_sigma: FloatArray, k: int) -> FloatArray:
    """The first k values, padded with −inf (the block shrinks when the product loses rank)."""
    out = np.full(k, -np.inf)
    out[: min(k, log_sigma.size)] = log_sigma[:k]
    return out


@dataclass(frozen=True, slots=True)
class _Progress:
    """What the last pass says about convergence (see :func:`_assess`)."""

    converged: bool
    change: float  # largest relative change of the top k in the last pass
    error: float  # largest predicted relative error of the top k
    one_more: bool  # one more pass should be enough: make it on the k Ritz vectors only


def _assess(history: list[FloatArray], log_sigma_b: float, rtol: float) -> _Progress:
    r"""Have the top k Ritz values converged, and will one more pass do?

    ``c_h = |ln σ_i^{(h)} − ln σ_i^{(h−1)}| / (1 + |ln σ_i^{(h)}|)`` estimates the
    error of pass h − 1. Subspace iteration converges linearly, by
    :math:`q_i = (\sigma_{b+1}/\sigma_i)^2` per pass, so the error left after
    pass h is about ``c_h q / (1 − q)``. ``q_i`` is taken as the larger of the
    observed ratio ``c_h / c_{h−1}`` (from the third pass on) and
    ``4 (σ_b / σ_i)^2`` from the block's own smallest Ritz value (the first pass
    starts far from the asymptotic rate, so the observed ratio alone can be too
    hopeful). Converged: for each of the top k, ``c_h <= rtol``, or the
    predicted error is below ``rtol``, or the change stopped shrinking
    (observed ratio >= 1/2) at rounding level (``c_h <= 1e3 rtol``). Exact zeros
    agree with exact zeros. ``one_more``: the error predicted after one more pass,
    ``c_h q^2 / (1 − q)``, is below ``rtol`` for every value not yet converged.
    """
    if len(history) < 2:
        return _Progress(converged=False, change=math.inf, error=math.inf, one_more=False)
    change = _relative_change(history[-1], history[-2])
    worst = float(change.max()) if change.size else 0.0
    last = history[-1]
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.where(np.isfinite(last), log_sigma_b - last, -np.inf)
        q = np.minimum(4.0 * np.exp(2.0 * np.minimum(gap, 0.0)), 1.0)
    noise = np.zeros(change.shape, dtype=bool)
    if len(history) >= 3:
        before = _relative_change(history[-2], history[-3])
        with np.errstate(divide="ignore", invalid="ignore"):
            observed = np.where(before > 0.0, change / before, np.where(change > 0.0, 1.0, 0.0))
        q = np.maximum(q, np.minimum(observed, 1.0))
        noise = (observed >= 0.5) & (change <= 1e3 * rtol)
    with np.errstate(divide="ignore", invalid="ignore"):
        predicted = np.where(q < 1.0, change * q / (1.0 - q), np.inf)
        predicted = np.where(change == 0.0, 0.0, predicted)
    done = (change <= rtol) | (predicted <= rtol) | noise
    error = np.minimum(predicted, np.where(noise | (change <= rtol), change, np.inf))
    return _Progress(
        converged=bool(done.all()),
        change=worst,
        error=float(error.max()) if error.size else 0.0,
        one_more=bool(np.all(np.where(done, 0.0, predicted * q) <= rtol)),
    )


def _relative_change(current: FloatArray, previous: FloatArray) -> FloatArray:
    """``|Δ ln σ_i| / (1 + |ln σ_i|)`` per value; two exact zeros agree (0), one is inf."""
    fc, fp = np.isfinite(current), np.isfinite(previous)
    out = np.full(current.shape, np.inf)
    both = fc & fp
    out[both] = np.abs(current[both] - previous[both]) / (1.0 + np.abs(current[both]))
    out[~fc & ~fp] = 0.0
    return out


def log10_top_singular_values(
    jacobians: Steps | ArrayLike, k: int = 1, *, start: int = 0, end: int | None = None
) -> FloatArray:
    r"""log10 of the top k singular values of :math:`J_{end} \cdots J_{start+1}`, matrix-free.

    Shorthand for ``compute_top_spectrum(...).log10_singular_values``.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.diag([0.5, 0.25, 0.125])
    >>> log10_top_singular_values(np.stack([W] * 1000), 2).round(4).tolist()
    [-301.03, -602.06]
    """
    out: FloatArray = compute_top_spectrum(
        jacobians, k, start=start, end=end
    ).log10_singular_values.copy()
    return out
