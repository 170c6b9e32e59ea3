r"""Lyapunov exponents by the discrete QR method: all n, or the top k, with two error bars.

:func:`compute_lyapunov` runs k orthonormal columns (all n by default) through
the steps with the graded engine's one loop
(:func:`~gradscope.numeric.graded.blocks.block_loop`): a QR only when a block's
measured condition would pass the engine's limit (the re-orthonormalisation
interval is chosen by the engine, not by the caller), and the exponents are
:math:`\lambda_i = \frac1A \sum \log|R_{ii}|` over the ``A`` steps after the
warm-up. The k columns are applied to the steps as a block (an RNN's
:math:`\operatorname{diag}(\varphi'_t) W_{hh}` as ``W_hh @ Q`` and a row
scaling): no Jacobian is formed, O(T n² k) in all.

Two error bars, for two questions: ``lyapunov_error`` bounds the *rounding*
(this iteration in exact arithmetic on the same float64 steps), and
``standard_error`` estimates the *statistical* spread of a finite-T estimate of
the asymptotic rate (batch means).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradscope import progress
from gradscope.errors import ConfigError
from gradscope.numeric.graded.blocks import COND_LIMIT, MAX_BLOCK, PER_FACTOR_ERROR, block_loop
from gradscope.numeric.graded.bounds import SAFETY, json_errors, sorted_errors
from gradscope.numeric.graded.factors import thin_block_condition
from gradscope.numeric.steps import (
    ConstantSteps,
    JacobiansLike,
    RNNSteps,
    Steps,
    unbatched_steps,
)
from gradscope.records import json_numbers

__all__ = [
    "BASES",
    "BATCHES",
    "CHECKPOINTS",
    "KCOLUMN_ERROR_PER_FACTOR",
    "MIN_BATCHES",
    "LyapunovResult",
    "compute_lyapunov",
    "lyapunov_exponents",
]

FloatArray = NDArray[np.float64]

#: The start bases: the first k columns of the identity (the classic loop), or a seeded
#: random orthonormal n × k block.
BASES = ("identity", "random")
#: Batches of the batch-means standard error.
BATCHES = 20
#: Batches that must form (a batch closes at the first QR past its share of the steps)
#: for the standard error to be given; fewer give NaN.
MIN_BATCHES = 10
#: The per-factor error budget of a k-column run (the whole identity keeps the graded
#: product's 1e-13, bit for bit): the exponents' rounding bound is the blocks' errors
#: over the averaged steps, so this keeps it near 1e-10 nats per step at worst, while
#: at n = 1024 the 1e-13 budget (below the model's 3 u n = 3.4e-13 for one factor)
#: allows no block longer than one step (a QR every step, 2.5x the plain loop's time).
KCOLUMN_ERROR_PER_FACTOR = 1e-10
#: Most rows of ``history`` (one more for the last step).
CHECKPOINTS = 100


def _check_warmup(warmup: int, start: int, end: int | None) -> int:
    if isinstance(warmup, bool) or not isinstance(warmup, int | np.integer) or warmup < 0:
        raise ConfigError(f"warmup must be a non-negative integer, got {warmup!r}")
    if end is not None and warmup >= end - start:
        raise ConfigError(
            f"warmup={warmup} leaves no steps to average: the window start={start}, "
            f"end={end} has {end - start} factors"
        )
    return int(warmup)


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ConfigError(f"k must be an integer or None, got {k!r}")
    if not 1 <= k <= n:
        raise ConfigError(f"k must be in 1..n = {n}, got {k}")
    return int(k)


def _start_basis(basis: str, seed: int | None, n: int, k: int) -> FloatArray | None:
    """The n × k start block (None: the whole identity, the graded product's own start)."""
    if basis not in BASES:
        raise ConfigError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
    if basis == "identity":
        if seed is not None:
            raise ConfigError("seed goes with basis='random' (the identity draws nothing)")
        return None if k == n else np.eye(n)[:, :k]
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    V: FloatArray = np.linalg.qr(np.random.default_rng(int(seed)).standard_normal((n, k)))[0]
    return V


@dataclass(frozen=True, slots=True, kw_only=True)
class LyapunovResult:
    r"""QR-method Lyapunov exponents of :math:`J_{end} \cdots J_{start+1}`, with their error.

    Attributes
    ----------
    exponents : (k,) ndarray
        :math:`\lambda_1 \ge \dots \ge \lambda_k`, natural log per step;
        ``-inf`` for a direction lost to an exact rank deficiency.
    lyapunov_error : (k,) ndarray
        A bound on the rounding error of each exponent (natural log per step)
        for the start basis used, against the same QR iteration in exact
        arithmetic on the stored float64 Jacobians: the engine's per-direction
        bound (as for the singular values) over the averaged steps, times
        :data:`SAFETY`. NaN beside an exact ``-inf``. It says nothing of how far
        a finite-T estimate is from the asymptotic rate.
    standard_error : (k,) ndarray
        A statistical standard error of each exponent as an estimate of the
        asymptotic rate, by batch means: the averaged steps are cut into
        :data:`BATCHES` batches (each closing at the first QR at or past its
        share of the steps), with batch means :math:`m_j` over :math:`L_j`
        steps, :math:`\hat\lambda = \sum L_j m_j / \sum L_j` and
        :math:`\mathrm{SE}^2 = \sum_j (L_j/\bar L)^2 (m_j - \hat\lambda)^2 / (B(B-1))`.
        Valid when the batches are long beside the correlation time of
        :math:`\log|R_{ii}|`. A k-column run caps its blocks at a batch's share
        of the steps, so every batch forms; the whole-identity default keeps the
        graded product's blocks (bit for bit), and long blocks can merge
        batches. NaN when fewer than :data:`MIN_BATCHES` batches form (too few
        steps or blocks) and beside a ``-inf``.
    history : (c, k) ndarray
        Running estimates (each row sorted descending) at ``history_steps``: the
        sums so far over the averaged steps so far, at the first QR at or after
        each of about :data:`CHECKPOINTS` evenly spaced steps, and at the end
        (the last row is ``exponents``).
    history_steps : (c,) int ndarray
        The step t (``start < t <= end``) of each row of ``history``.
    k : int
        Directions followed (n for the whole spectrum).
    basis : str
        ``"identity"`` (its first k columns) or ``"random"``.
    seed : int or None
        The random basis's seed (None for the identity).
    start, end, warmup : int
        The window and the steps after ``start`` left out of the average.
    averaged_steps : int
        ``end - start - warmup``.
    qr_count, longest_block : int
    unit : str
        ``"natural log per step"``.
    """

    exponents: FloatArray
    lyapunov_error: FloatArray
    start: int
    end: int
    warmup: int
    averaged_steps: int
    qr_count: int
    longest_block: int
    standard_error: FloatArray | None = None
    history: FloatArray | None = None
    history_steps: NDArray[np.int64] | None = None
    k: int | None = None
    basis: str = "identity"
    seed: int | None = None
    unit: str = "natural log per step"

    def __post_init__(self) -> None:
        size = np.shape(self.exponents)[0]
        if self.k is None:
            object.__setattr__(self, "k", int(size))
        if self.standard_error is None:
            object.__setattr__(self, "standard_error", np.full(size, np.nan))
        if self.history is None:
            object.__setattr__(self, "history", np.zeros((0, size)))
        if self.history_steps is None:
            object.__setattr__(self, "history_steps", np.zeros(0, dtype=np.int64))
        for name in ("exponents", "lyapunov_error", "standard_error", "history"):
            arr = np.array(getattr(self, name), dtype=np.float64, copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        t = np.array(self.history_steps, dtype=np.int64, copy=True)
        t.flags.writeable = False
        object.__setattr__(self, "history_steps", t)

    def to_dict(self, *, history: bool = False) -> dict[str, Any]:
        """A JSON-safe dict (``-inf`` as None; errors as :func:`json_errors`).

        ``history`` adds ``history`` (rows of running estimates) and
        ``history_steps``: off by default, as they hold about 100 k numbers.
        """
        assert self.standard_error is not None and self.history is not None
        out: dict[str, Any] = {
            "product": f"dh_{self.end}/dh_{self.start}",
            "start": self.start,
            "end": self.end,
            "warmup": self.warmup,
            "averaged_steps": self.averaged_steps,
            "unit": self.unit,
            "k": self.k,
            "basis": self.basis,
            "seed": self.seed,
            "exponents": json_numbers(self.exponents),
            "lyapunov_error": json_errors(self.lyapunov_error),
            "standard_error": json_errors(self.standard_error),
            "standard_error_note": f"batch means over {BATCHES} batches of the averaged "
            "steps (statistical); lyapunov_error bounds the rounding only",
            "qr_count": self.qr_count,
            "longest_block": self.longest_block,
        }
        if history:
            assert self.history_steps is not None
            out["history_steps"] = [int(t) for t in self.history_steps]
            out["history"] = [json_numbers(row) for row in self.history]
        return out


class _Recorder:
    """What :func:`block_loop` reports after each QR: the history rows and batch sums."""

    def __init__(self, start: int, warmup: int, end: int | None, k: int) -> None:
        self.boundary = start + warmup
        self.k = k
        averaged = None if end is None else end - self.boundary
        self.checkpoints = (
            []
            if averaged is None
            else sorted(
                {
                    self.boundary + max(1, round(averaged * (i + 1) / CHECKPOINTS))
                    for i in range(CHECKPOINTS)
                }
            )
        )
        self.batch_ends = (
            []
            if averaged is None
            else [
                self.boundary + max(1, round(averaged * (j + 1) / BATCHES)) for j in range(BATCHES)
            ]
        )
        self.rows: list[FloatArray] = []
        self.steps: list[int] = []
        self.sums: list[tuple[int, FloatArray]] = []  # (t, Σ log|R_ii| so far) at each batch end
        self.last: tuple[int, FloatArray] | None = None

    def _padded(self, log_diag: FloatArray) -> FloatArray:
        out = np.full(self.k, -np.inf)
        out[: log_diag.size] = log_diag[: self.k]
        return out

    def __call__(self, t: int, log_diag: FloatArray) -> None:
        if t <= self.boundary:
            return
        self.last = (t, log_diag)
        if self.checkpoints and t >= self.checkpoints[0]:
            sums = self._padded(log_diag)
            with np.errstate(invalid="ignore"):
                self.rows.append(np.sort(sums / (t - self.boundary))[::-1])
            self.steps.append(t)
            while self.checkpoints and self.checkpoints[0] <= t:
                self.checkpoints.pop(0)
        if self.batch_ends and t >= self.batch_ends[0]:
            self.sums.append((t, self._padded(log_diag)))
            while self.batch_ends and self.batch_ends[0] <= t:
                self.batch_ends.pop(0)

    def history(self, exponents: FloatArray, end: int) -> tuple[FloatArray, NDArray[np.int64]]:
        rows, steps = list(self.rows), list(self.steps)
        if steps and steps[-1] == end:
            rows.pop()
            steps.pop()
        rows.append(exponents)
        steps.append(end)
        return np.array(rows).reshape(len(rows), self.k), np.array(steps, dtype=np.int64)

    def standard_error(self, order: NDArray[np.intp]) -> FloatArray:
        """The batch-means standard error of each direction, in the order ``order``."""
        marks = [(self.boundary, np.zeros(self.k)), *self.sums]
        if len(marks) - 1 < MIN_BATCHES:
            return np.full(self.k, np.nan)
        lengths = np.array([b[0] - a[0] for a, b in itertools.pairwise(marks)], float)
        with np.errstate(invalid="ignore"):
            totals = np.array([b[1] - a[1] for a, b in itertools.pairwise(marks)])
            means = totals / lengths[:, None]
            overall = totals.sum(axis=0) / lengths.sum()
            weights = (lengths / lengths.mean())[:, None] ** 2
            B = lengths.size
            se = np.sqrt((weights * (means - overall) ** 2).sum(axis=0) / (B * (B - 1)))
        se = np.where(np.isfinite(overall), se, np.nan)
        out: FloatArray = se[order]
        return out


def compute_lyapunov(
    jacobians: JacobiansLike,
    *,
    start: int = 0,
    end: int | None = None,
    warmup: int = 0,
    k: int | None = None,
    basis: str = "identity",
    seed: int | None = None,
) -> LyapunovResult:
    r"""Lyapunov exponents by the discrete QR method, with rounding bounds and standard errors.

    The record behind :func:`lyapunov_exponents` (same arguments, same values).

    Parameters
    ----------
    jacobians : (T, n, n) array_like, iterable of (n, n) arrays, or Steps
        :math:`J_1, \dots, J_T`; a :class:`~gradscope.numeric.steps.RNNSteps`
        is applied as ``W_hh @ Q`` and a row scaling (no Jacobian is formed).
    start, end : int, optional
        The window, as in :func:`~gradscope.numeric.spectrum.log10_singular_values`.
    warmup : int, optional
        Steps after ``start`` that orient ``Q`` but are left out of the average.
    k : int, optional
        Directions followed, ``1 <= k <= n`` (default None: all n, the result
        of the whole-spectrum loop bit for bit).
    basis : {"identity", "random"}
        The start block: the first k columns of the identity (the classic
        loop), or a random orthonormal n × k block (the Q of a QR of a standard
        normal n × k draw, ``numpy.random.default_rng(seed)``).
    seed : int, optional
        With ``basis="random"``: the seed (default 0). Not allowed with the identity.

    Returns
    -------
    LyapunovResult

    Raises
    ------
    ConfigError
        As :func:`lyapunov_exponents`, and for ``k`` outside 1..n, an unknown
        ``basis``, or a ``seed`` with the identity.

    Notes
    -----
    The re-orthonormalisation interval is the engine's rule: a block of steps
    is closed (a QR) when its predicted amplification of rounding would pass
    ``1e10`` or its error the per-factor budget (``1e-13`` for all n from the
    identity, as the graded product; :data:`KCOLUMN_ERROR_PER_FACTOR`, 1e-10,
    for k columns or a random basis), and a block measured over it is redone
    shorter (at most 64 steps between two QRs). In exact arithmetic the
    exponents do not depend on where the QRs fall; ``lyapunov_error`` is the
    bound for the QRs made.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[2.0, 1.0], [0.0, 0.5]])
    >>> result = compute_lyapunov(np.stack([W] * 200), warmup=20)
    >>> np.round(result.exponents, 6).tolist(), bool(result.lyapunov_error.max() < 1e-4)
    ([0.693147, -0.693147], True)
    >>> np.round(compute_lyapunov(np.stack([W] * 200), warmup=20, k=1).exponents, 6).tolist()
    [0.693147]
    """
    steps, start, end = unbatched_steps(jacobians, start, end)
    warmup = _check_warmup(warmup, start, end)
    n = steps.n
    k_ = n if k is None else _check_k(k, n)
    V = _start_basis(basis, seed, n, k_)
    recorder = _Recorder(start, warmup, end, k_)
    factors = steps.factors(start, end, **_condition(steps, V))
    with progress.task("Lyapunov exponents", 0 if end is None else end - start) as bar:
        product = block_loop(
            factors,
            n,
            V,
            start=start,
            accumulate=False,
            warmup=warmup,
            cond_limit=COND_LIMIT,
            max_block=MAX_BLOCK if V is None else _batch_cap(start, warmup, end),
            error_per_factor=PER_FACTOR_ERROR if V is None else KCOLUMN_ERROR_PER_FACTOR,
            keep_bytes=8 * n * n if steps.T is None else 0,  # a stream's factor: its matrix
            advance=bar.advance,
            on_block=recorder,
        )
    assert product.log_error is not None
    rates = product.log_diag / product.averaged_steps
    exponents = np.sort(rates)[::-1]
    order = np.argsort(rates, kind="stable")[::-1]
    per_row = np.zeros(rates.size)  # rows past the last R are directions lost exactly
    per_row[: product.log_error.size] = product.log_error[: rates.size]
    total = SAFETY * sorted_errors(exponents, rates, per_row)
    total[total > 1.0] = np.inf  # past a relative error of 1 the first-order bound says nothing
    errors = total / product.averaged_steps
    errors[~np.isfinite(exponents)] = np.nan if product.zeros_exact else np.inf
    last = start + product.steps
    history, history_steps = recorder.history(exponents, last)
    return LyapunovResult(
        exponents=exponents,
        lyapunov_error=errors,
        standard_error=recorder.standard_error(order),
        history=history,
        history_steps=history_steps,
        k=k_,
        basis=basis,
        seed=None if basis == "identity" else (0 if seed is None else int(seed)),
        start=start,
        end=last,
        warmup=warmup,
        averaged_steps=product.averaged_steps,
        qr_count=product.qr_count,
        longest_block=product.longest_block,
    )


def _batch_cap(start: int, warmup: int, end: int | None) -> int:
    """Most steps per block of a k-column run: a batch's share of the averaged steps, so that
    every one of the :data:`BATCHES` batches ends on its own QR (at most ``MAX_BLOCK``)."""
    if end is None:
        return MAX_BLOCK
    return max(1, min(MAX_BLOCK, (end - start - warmup) // BATCHES))


def _condition(steps: Steps, V: FloatArray | None) -> dict[str, float | None]:
    """What a k-column run seeds its blocks' prediction with (``Steps.factors``' keywords).

    Nothing (the factors take κ(W) from an SVD) for the whole identity, as the
    graded product does; for k < n columns of an RNN, the matrix-free method's
    :func:`~gradscope.numeric.graded.factors.thin_block_condition` (no O(n³)
    factorisation at large n), which the blocks' measured conditions correct.
    """
    if V is None or not isinstance(steps, RNNSteps | ConstantSteps):
        return {}
    bound, predicted = thin_block_condition(
        steps.W_hh if isinstance(steps, RNNSteps) else steps.W, V.shape[1]
    )
    return {"log_kappa": bound, "predicted_log_kappa": predicted}


def lyapunov_exponents(
    jacobians: JacobiansLike,
    *,
    start: int = 0,
    end: int | None = None,
    warmup: int = 0,
    k: int | None = None,
    basis: str = "identity",
    seed: int | None = None,
) -> FloatArray:
    r"""Lyapunov exponents (natural log per step, descending) by QR re-orthonormalisation.

    :math:`\lambda_i \approx \frac{1}{end - start - warmup} \sum_t \log|R^{(t)}_{ii}|`
    where :math:`J_t Q_{t-1} = Q_t R^{(t)}` (the discrete QR method of Benettin
    et al. 1980), summed over the steps after the first ``warmup``; with ``k``,
    only the top k, from k columns (O(T n² k) for an RNN).

    These are estimates of *asymptotic* rates: for i.i.d. or ergodic steps
    :math:`\lambda_i = \lim_{T\to\infty} \frac1T \log\sigma_i(J_T \cdots J_1)`.
    They are **not** the finite-T singular values: use
    :func:`~gradscope.numeric.spectrum.log10_singular_values` for those (at
    finite T the two differ by O(1/T) terms, and a transient can make them
    differ a lot).

    Parameters
    ----------
    jacobians : (T, n, n) array_like, iterable of (n, n) arrays, or Steps
    start, end : int, optional
        The window, as in :func:`~gradscope.numeric.spectrum.log10_singular_values`.
    warmup : int, optional
        Steps after ``start`` that orient ``Q`` but are left out of the average
        (default 0), to drop the transient of the first factors.
    k, basis, seed
        As :func:`compute_lyapunov`: the top k only (default all n), from the
        identity's first k columns or a seeded random orthonormal block.

    Returns
    -------
    (k,) ndarray
        :math:`\lambda_1 \ge \dots \ge \lambda_k`, per step, natural log;
        ``-inf`` for a direction lost to an exact rank deficiency.

    Raises
    ------
    ConfigError
        As :func:`~gradscope.numeric.spectrum.log10_singular_values`, if
        ``warmup`` is negative or leaves no steps to average, and as
        :func:`compute_lyapunov`.

    Examples
    --------
    For a constant Jacobian the exponents are the logs of the eigenvalue
    moduli, here 2 and 1/2:

    >>> import numpy as np
    >>> W = np.array([[2.0, 1.0], [0.0, 0.5]])
    >>> np.round(lyapunov_exponents(np.stack([W] * 200), warmup=20), 6).tolist()
    [0.693147, -0.693147]
    """
    result = compute_lyapunov(
        jacobians, start=start, end=end, warmup=warmup, k=k, basis=basis, seed=seed
    )
    return result.exponents.copy()
