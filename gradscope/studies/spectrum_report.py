r"""The spectrum of one run beside its bound: what ``gradscope spectrum`` shows.

Combines :func:`~gradscope.numeric.spectrum.compute_spectrum` (every singular
value of :math:`\partial h_{end}/\partial h_{start}`, exact in log10, and the
Lyapunov exponents) with the weight facts (‖W_hh‖₂, ρ(W_hh)) and the bound
:math:`(\gamma\|W_{hh}\|_2)^{end-start}`. With ``top=k`` only the k largest
values are computed, by the graded full spectrum or, for large n, by
:func:`~gradscope.numeric.matrixfree.compute_top_spectrum`, which never forms
the product and also gives the top singular vectors. With ``certify=True`` each
value also gets a proved interval against the exact product of the stored
float64 step data (:func:`~gradscope.numeric.enclose.enclose_log10_singular_values`,
python-flint; small n only).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from gradscope.model import RNN
from gradscope.numeric.norms import spectral_norm, spectral_radius
from gradscope.numeric.spectrum import SpectrumResult, compute_spectrum
from gradscope.records import json_number
from gradscope.studies.bound import judging_slack, log10_norm_bound

if TYPE_CHECKING:
    from gradscope.numeric.enclose import SpectrumEnclosure
    from gradscope.numeric.lyapunov import LyapunovResult
    from gradscope.numeric.matrixfree import TopSpectrumResult

__all__ = [
    "MAX_SECONDS",
    "SpectrumReport",
    "WorkEstimate",
    "check_work",
    "compute_spectrum_report",
    "estimate_network_work",
    "estimate_spectrum_work",
    "float64_resolvable",
    "largest_fitting",
]

# A float64 SVD of the formed product resolves singular values down to about
# eps·σ₁: log10(2^-52) ≈ −15.65 decades below the top.
FLOAT_DECADES = -math.log10(2.0**-52)


def float64_resolvable(log10_singular_values: np.ndarray) -> int:
    """How many σ_i lie within float64's reach of σ₁ (what a float SVD gets right).

    Parameters
    ----------
    log10_singular_values : ndarray
        log10 σ_i in descending order; an exact zero is −inf.

    Returns
    -------
    int
        The number of values at most :data:`FLOAT_DECADES` below the first; 0 if the
        first is −inf (the product is exactly zero).
    """
    s = log10_singular_values
    return int(np.sum(s >= s[0] - FLOAT_DECADES)) if math.isfinite(s[0]) else 0


LYAPUNOV_NOTE = (
    "top k Lyapunov exponents, natural log per step, by k columns of the QR method after "
    "the warm-up: asymptotic rates, not finite-T singular values; lyapunov_error bounds "
    "the rounding, standard_error (batch means) the statistical spread"
)

#: Work a command estimates to take longer than this (seconds) is refused before it starts.
MAX_SECONDS = 600.0

# Rates of today's engine on the development machine (one BLAS thread, 2 busy
# cores), measured in seconds; the estimates below are good to a factor of about 3
# (a faster machine only makes the refusals cautious). Memory is counted exactly
# in float64 arrays, and tests hold it against tracemalloc's peak.
_LOOP = 1.5e-4  # one step of a Python loop over the steps
_ENTRY = 1e-4  # one small LAPACK call per batch entry and step
_N2 = 1.5e-8  # per n² of one entry's step (scaling, flushing)
_PRODUCT_N3 = 4.2e-10  # per n³: a matrix product and a norm (an SVD) per step
_GRADED_STEP = 9e-4  # one step of the graded engine (its bookkeeping), plus
_GRADED_N2 = 5e-8  # per n² and
_GRADED_N3 = 6.5e-10  # per n³ (a product and a QR)
_JACOBI_N3 = 4e-8  # per n³: the one-sided Jacobi SVD of a graded factor
_GENERATE_N3 = 2e-9  # per n³: drawing W_hh and scaling it (a QR and an SVD or eigensolver)


@dataclass(frozen=True, slots=True)
class WorkEstimate:
    """Estimated peak memory (bytes) and run time (seconds) of a computation."""

    bytes: float
    seconds: float

    def then(self, other: WorkEstimate) -> WorkEstimate:
        """This work followed by ``other``: the larger peak, the summed time."""
        return WorkEstimate(max(self.bytes, other.bytes), self.seconds + other.seconds)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    if seconds < 1e6 * 86400 * 365:
        return f"{seconds / 86400:.3g} days"
    return f"{seconds / (86400 * 365):.1e} years"


def _fits(est: WorkEstimate, available: int | None, max_seconds: float) -> bool:
    memory_ok = available is None or est.bytes <= available // 2
    return memory_ok and est.seconds <= max_seconds


def largest_fitting(
    estimate: Callable[[int], WorkEstimate],
    high: int,
    *,
    available: int | None,
    max_seconds: float = MAX_SECONDS,
) -> int:
    """The largest v in 1..``high`` whose ``estimate(v)`` fits (work grows with v); 0 if none.

    Examples
    --------
    >>> largest_fitting(lambda t: WorkEstimate(0, 0.5 * t), 10**9, available=None)
    1200
    """
    if not _fits(estimate(1), available, max_seconds):
        return 0
    lo, hi = 1, max(1, int(high))
    while lo < hi:  # estimate(lo) fits
        mid = (lo + hi + 1) // 2
        if _fits(estimate(mid), available, max_seconds):
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_work(
    est: WorkEstimate,
    *,
    what: str,
    fix: Callable[[int | None], str],
    available: int | None = None,
    max_seconds: float = MAX_SECONDS,
) -> None:
    """Refuse, before any work, a computation that would not fit in memory or in time.

    Half the available memory is allowed (like
    :func:`~gradscope.studies.bound.check_bound_memory`), and ``max_seconds``.

    Parameters
    ----------
    est : WorkEstimate
    what : str
        The request, for the message (``"plot decay with --T 100000000 …"``).
    fix : callable
        Given the available bytes, the setting that would fit (called only to refuse).
    available : int, optional
        Bytes available (default: :func:`~gradscope.machine.available_memory`).
    max_seconds : float
        The longest run allowed (``math.inf``: memory only).

    Raises
    ------
    SizeError
        With both estimates, the limit exceeded, and ``fix``'s setting.
    """
    from gradscope.errors import SizeError
    from gradscope.machine import available_memory
    from gradscope.numeric.matrixfree.sizes import _gb

    avail = available_memory() if available is None else available
    if _fits(est, avail, max_seconds):
        return
    memory = f"about {_gb(est.bytes)} of memory"
    if avail is not None and est.bytes > avail // 2:
        memory += f" ({_gb(avail)} available, half allowed)"
    time = f"about {_duration(est.seconds)}"
    if est.seconds > max_seconds:
        time += f" (estimated; at most {_duration(max_seconds)} allowed)"
    raise SizeError(f"{what} needs {memory} and {time}: {fix(avail)}")


def estimate_network_work(n: int, *, input_size: int = 8, count: int = 1) -> WorkEstimate:
    """Generating ``count`` networks of n units (:func:`gradscope.init.random_rnn`).

    Drawing ``W_hh`` and scaling it to a norm or radius works on about 4 n × n
    arrays (the draw, its QR or SVD, the eigensolver's workspace) at O(n³).
    """
    n, m = int(n), int(input_size)
    return WorkEstimate(
        8.0 * (4 * n * n + n * m + n) + 8.0 * (count - 1) * (n * n + n * m + n),
        count * (_GENERATE_N3 * n**3 + _LOOP),
    )


def estimate_spectrum_work(n: int, T: int, *, points: int = 0) -> WorkEstimate:
    """The graded spectrum of ∂h_T/∂h_0 for an n-unit RNN (:func:`compute_spectrum_report`).

    Memory as :func:`~gradscope.numeric.matrixfree.estimate_memory` (the forward
    pass's 3 T n floats and about 19 n × n arrays) and the forward pass's input
    drive and temporaries (3 T n more, measured), plus, with ``points`` > 0
    (:func:`spectrum_over_time`), an n × n factor and n values kept at each of
    ``points`` times and their singular values. Time: T graded steps and one
    Jacobi SVD per value of t computed (1, or ``points`` + 1).
    """
    from gradscope.numeric.matrixfree import estimate_memory

    n, T = int(n), int(T)
    marks = min(points, T)
    nbytes = estimate_memory(n, T, method="graded") + 8.0 * (3 * T * n + marks * (n * n + 2 * n))
    step = _LOOP + _GRADED_STEP + _GRADED_N2 * n * n + _GRADED_N3 * n**3
    seconds = T * step + (1 + marks) * _JACOBI_N3 * n**3
    return WorkEstimate(nbytes, seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpectrumReport:
    """A spectrum with its bound and settings (see :func:`compute_spectrum_report`).

    ``spectrum`` holds every singular value, or only the top ``top`` of them;
    ``matrix_free`` is the matrix-free result (with the singular vectors) when
    that method was used, and then ``spectral_radius`` is None (it would need
    an O(n³) eigensolver). ``enclosure`` holds the proved intervals of every
    log10 σ_i when the report was certified (all n of them, also with ``top``).
    ``lyapunov`` holds the top k Lyapunov exponents when they were asked for
    (``lyapunov_top``); with ``top`` the spectrum itself reports none.
    """

    spectrum: SpectrumResult
    spectral_norm: float
    spectral_radius: float | None
    gamma: float
    log10_bound: float
    source: str
    input_size: int
    T: int
    input_scale: float | None
    method: str = "graded"
    top: int | None = None
    matrix_free: TopSpectrumResult | None = None
    python: str | None = None
    enclosure: SpectrumEnclosure | None = None
    lyapunov: LyapunovResult | None = None

    @property
    def float_resolvable(self) -> int:
        """How many σ_i lie within float64's reach of σ₁ (what a float SVD gets right)."""
        return float64_resolvable(self.spectrum.log10_singular_values)

    def to_dict(self, *, vectors: bool = False) -> dict[str, Any]:
        """A JSON-safe dict; ``vectors`` adds the top singular vectors (matrix-free only)."""
        sp = self.spectrum.to_dict()
        diagnostics = {
            k: sp[k]
            for k in ("qr_count", "longest_block", "jacobi_sweeps", "worst_block_condition")
        }
        mf = self.matrix_free
        if mf is not None:
            diagnostics.update(
                block=mf.block,
                passes=mf.passes,
                converged=mf.converged,
                change=mf.change,
                convergence_estimate=mf.convergence_estimate,
            )
        out = {
            "method": self.method,
            "top": self.top,
            "product": sp["product"],
            "log10_singular_values": sp["log10_singular_values"],
            "log10_error": sp["log10_error"],
            **self._certified(len(sp["log10_singular_values"])),
            # the whole spectrum's exponents (all n, QR method, no warm-up); with top they
            # would be the first pass's unconverged estimates, and are left out
            **(
                {}
                if self.top is not None
                else {
                    "lyapunov_exponents": sp["lyapunov_exponents"],
                    "lyapunov_note": "natural log per step, QR method: asymptotic rates, "
                    "not finite-T singular values",
                }
            ),
            **(
                {}
                if self.lyapunov is None
                else {"lyapunov": {**self.lyapunov.to_dict(history=True), "note": LYAPUNOV_NOTE}}
            ),
            "bound": {
                "log10_bound": json_number(self.log10_bound),
                "formula": "(end - start) * log10(gamma * ||W_hh||_2)",
                "gamma": self.gamma,
                "spectral_norm": self.spectral_norm,
                "spectral_radius": self.spectral_radius,
                "holds": bool(
                    sp["log10_singular_values"][0] is None
                    or self.spectrum.log10_singular_values[0]
                    <= self.log10_bound
                    + judging_slack(
                        float(self.spectrum.log10_error[0]),
                        self.spectrum.steps,
                        self.spectrum.hidden,
                    )
                ),
            },
            "float64_svd_resolves": self.float_resolvable,
            "settings": {
                "source": self.source,
                "activation": self.spectrum.activation,
                "hidden": self.spectrum.hidden,
                "input_size": self.input_size,
                "T": self.T,
                "start": self.spectrum.start,
                "end": self.spectrum.end,
                "seed": self.spectrum.seed,
                "input_scale": self.input_scale,
                "python": self.python,
            },
            "diagnostics": diagnostics,
        }
        if vectors and mf is not None:
            out["right_singular_vectors"] = mf.right_singular_vectors.T.tolist()
            out["left_singular_vectors"] = mf.left_singular_vectors.T.tolist()
            out["vectors_note"] = (
                "right_singular_vectors[i] = v_i, the direction of h_start that reaches "
                "h_end amplified by sigma_i; left_singular_vectors[i] = u_i = P v_i / sigma_i"
            )
        return out

    def _certified(self, count: int) -> dict[str, Any]:
        """``log10_enclosure`` (one ``[lo, hi]`` or None per value shown) and its provenance."""
        enc = self.enclosure
        if enc is None:
            return {}
        details = enc.to_dict()
        return {
            "log10_enclosure": details.pop("log10_enclosure")[:count],
            "certificate": {
                "statement": "log10_enclosure[i] = [lo, hi] proves lo <= log10 sigma_i <= hi "
                "for the exact product of the stored float64 step data (null: sigma_i = 0 "
                "exactly)",
                **details,
            },
        }


def compute_spectrum_report(
    rnn: RNN,
    inputs: ArrayLike,
    h0: ArrayLike | None = None,
    *,
    start: int = 0,
    end: int | None = None,
    seed: int | None = None,
    source: str = "",
    input_scale: float | None = None,
    top: int | None = None,
    method: str = "graded",
    python: str | None = None,
    certify: bool = False,
    max_bits: int | None = None,
    lyapunov_top: int | None = None,
    warmup: int = 0,
) -> SpectrumReport:
    """The spectrum of ∂h_end/∂h_start with the bound and the weights' norm and radius.

    Parameters
    ----------
    top : int, optional
        Only the k = ``top`` largest singular values (default: all n).
    method : {"graded", "matrix-free", "auto"}
        ``graded``: the exact full spectrum (:func:`compute_spectrum`), cut to
        ``top``; ``matrix-free``: :func:`~gradscope.numeric.matrixfree.compute_top_spectrum`
        (needs ``top``; ‖W_hh‖₂ by the same method, ρ(W_hh) not computed);
        ``auto``: :func:`~gradscope.numeric.matrixfree.choose_method`.
    python : str, optional
        For a generated network: the Python lines that rebuild it and its
        inputs (:func:`gradscope.init.reproduce_instance`), recorded in the
        settings.
    certify : bool, optional
        Also enclose every log10 σ_i rigorously
        (:func:`~gradscope.numeric.enclose.enclose_log10_singular_values`; needs
        python-flint and the graded method). Done first, so that a product too
        large to enclose is refused before the spectrum is computed.
    max_bits : int, optional
        With ``certify``: the size limit passed on (default: the one for this n).
    lyapunov_top : int, optional
        Also the top k Lyapunov exponents over the same window
        (:func:`~gradscope.numeric.lyapunov.compute_lyapunov`, k columns from the
        identity, no Jacobian formed), after ``warmup`` steps.
    warmup : int
        Steps after ``start`` left out of the Lyapunov average (with ``lyapunov_top``).

    Raises
    ------
    ConfigError
        Bad settings; with ``certify``, the matrix-free method, a missing
        python-flint, or (:class:`~gradscope.numeric.enclose.EnclosureSizeError`)
        a product over ``max_bits``.
    """
    from gradscope.errors import ConfigError
    from gradscope.numeric.matrixfree import choose_method

    x = np.asarray(inputs, dtype=np.float64)
    method = choose_method(method, rnn.hidden_size, top)
    if top is not None and not 1 <= top <= rnn.hidden_size:
        raise ConfigError(f"top must be in 1..n = {rnn.hidden_size}, got {top}")
    enclosure: SpectrumEnclosure | None = None
    if certify:
        if method == "matrix-free":
            raise ConfigError(
                "certified enclosures need the formed product: use method='graded' "
                "(the matrix-free method never forms it)"
            )
        from gradscope.numeric.enclose import enclose_log10_singular_values
        from gradscope.numeric.forward import rnn_steps

        enclosure = enclose_log10_singular_values(
            rnn_steps(rnn, x, h0), start=start, end=end, max_bits=max_bits
        )
    elif max_bits is not None:
        raise ConfigError("max_bits limits a certified enclosure: it needs certify=True")
    mf: TopSpectrumResult | None = None
    radius: float | None
    if method == "matrix-free":
        if top is None:
            raise ConfigError("the matrix-free method computes the top k values: give top=k")
        result, mf = _matrix_free_spectrum(rnn, x, h0, start=start, end=end, seed=seed, top=top)
        norm, radius = _matrix_free_norm(rnn.W_hh), None
    else:
        result = compute_spectrum(rnn, x, h0, start=start, end=end, seed=seed)
        if top is not None:
            result = replace(
                result,
                log10_singular_values=result.log10_singular_values[:top],
                log10_error=result.log10_error[:top],
                lyapunov_exponents=result.lyapunov_exponents[:top],
            )
        norm, radius = spectral_norm(rnn.W_hh), spectral_radius(rnn.W_hh)
    bound = log10_norm_bound(result.steps, rnn.activation.gamma, norm)
    lyapunov: LyapunovResult | None = None
    if lyapunov_top is not None:
        from gradscope.numeric.forward import rnn_steps
        from gradscope.numeric.lyapunov import compute_lyapunov

        lyapunov = compute_lyapunov(
            rnn_steps(rnn, x, h0), start=start, end=end, warmup=warmup, k=lyapunov_top
        )
    elif warmup:
        raise ConfigError("warmup goes with the Lyapunov exponents: give lyapunov_top=k")
    return SpectrumReport(
        spectrum=result,
        spectral_norm=norm,
        spectral_radius=radius,
        gamma=rnn.activation.gamma,
        log10_bound=bound,
        source=source,
        input_size=rnn.input_size,
        T=int(x.shape[0]),
        input_scale=input_scale,
        method=method,
        top=top,
        matrix_free=mf,
        python=python,
        enclosure=enclosure,
        lyapunov=lyapunov,
    )


def _matrix_free_spectrum(
    rnn: RNN,
    x: np.ndarray,
    h0: ArrayLike | None,
    *,
    start: int,
    end: int | None,
    seed: int | None,
    top: int,
) -> tuple[SpectrumResult, TopSpectrumResult]:
    from gradscope.numeric.forward import rnn_steps
    from gradscope.numeric.matrixfree import compute_top_spectrum

    steps = rnn_steps(rnn, x, h0)
    mf = compute_top_spectrum(steps, top, start=start, end=end, seed=seed or 0)
    result = SpectrumResult(
        log10_singular_values=mf.log10_singular_values,
        log10_error=mf.log10_error,
        # not reported (SpectrumReport.to_dict): the matrix-free pass gives no converged
        # exponents; lyapunov_top computes them (compute_lyapunov)
        lyapunov_exponents=np.full(top, np.nan),
        start=mf.start,
        end=mf.end,
        hidden=rnn.hidden_size,
        activation=rnn.activation.name,
        seed=seed,
        qr_count=mf.qr_count,
        longest_block=mf.longest_block,
        jacobi_sweeps=mf.jacobi_sweeps,
    )
    return result, mf


def _matrix_free_norm(W: np.ndarray) -> float:
    r"""‖W‖₂ for the bound column: exact up to n = 512, above an upper bound without an SVD.

    The bound :math:`(\gamma\|W\|_2)^T` needs ‖W‖₂ from above: a Ritz value
    (what an iteration on W gives) is a lower bound.
    :func:`~gradscope.numeric.norms.spectral_norm_certified` proves a Lanczos
    value from above by one Cholesky factorisation, within about 1e-7 of the value.
    """
    from gradscope.numeric.norms import EXACT_NORM_MAX, spectral_norm_certified

    if W.shape[0] <= EXACT_NORM_MAX:
        return spectral_norm(W)
    return spectral_norm_certified(W)[0]


def spectrum_over_time(
    rnn: RNN,
    inputs: ArrayLike,
    h0: ArrayLike | None = None,
    *,
    points: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    r"""log10 σ_i(∂h_t/∂h_0) for about ``points`` values of t from 1 to T.

    Returns
    -------
    ts : (k,) int ndarray
    log10_sv : (k, n) ndarray
        Row j: every singular value of :math:`\partial h_{t_j}/\partial h_0`,
        descending, exact in log10.
    """
    from gradscope.numeric.forward import rnn_steps
    from gradscope.numeric.graded.blocks import graded_product
    from gradscope.numeric.graded.jacobi import graded_log_singular_values

    steps = rnn_steps(rnn, inputs, h0)
    ts = np.unique(np.linspace(1, steps.T, min(points, steps.T)).round().astype(int))
    # One pass over the steps, keeping the graded factor at every t (not one pass per t).
    product = graded_product(steps, 0, steps.T, marks=ts.tolist())
    values = np.stack(
        [graded_log_singular_values(ell, U)[0] / math.log(10.0) for _, ell, U in product.marked]
    )
    return ts, values
