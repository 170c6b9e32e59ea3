r"""The whole singular spectrum of a Jacobian product, exact over any number of decades.

For :math:`P = \partial h_{end} / \partial h_{start} = J_{end} \cdots J_{start+1}`
(``end - start`` factors, DESIGN.md §1), :func:`log10_singular_values` returns
:math:`\log_{10} \sigma_i(P)` for *every* i, each to high relative accuracy,
even when the spectrum spans thousands of decades and lies far below float64's
range (``0.9**10000 ≈ 1e-458`` comes out as −457.57). Forming ``P`` in floating
point and calling an SVD resolves only the values within ~16 decades of the
largest; the rest come out as rounding noise.

How (details in :mod:`gradscope.numeric.graded`): the product is kept in
graded form ``Q diag(e^ℓ) U`` by the discrete QR method — Householder QR (rows
sorted) of a block of steps applied to an orthonormal ``Q``, the block closed
when its predicted condition number would pass ``1e10`` — with the row scales
``ℓ`` kept as logarithms; the singular values of ``diag(e^ℓ) U`` then come from
one-sided Jacobi in log-scaled form, which gives every singular value to a small
relative error (Demmel & Veselić 1992; Stewart 1995).

:func:`~gradscope.numeric.lyapunov.lyapunov_exponents` gives the QR-method
estimates of the Lyapunov exponents, which are *asymptotic rates*, not finite-T
singular values. It lives in :mod:`gradscope.numeric.lyapunov` (with
:func:`~gradscope.numeric.lyapunov.compute_lyapunov` and
:class:`~gradscope.numeric.lyapunov.LyapunovResult`: all n or the top k) and is
re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError
from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.graded.blocks import GradedProduct, graded_product
from gradscope.numeric.graded.bounds import SAFETY, json_errors, log10_bounds, sorted_errors
from gradscope.numeric.graded.jacobi import graded_singular_values
from gradscope.numeric.lyapunov import LyapunovResult, compute_lyapunov, lyapunov_exponents
from gradscope.numeric.steps import JacobiansLike, Steps, check_range, unbatched_steps
from gradscope.records import json_number, json_numbers

__all__ = [
    "SAFETY",
    "LyapunovResult",
    "SpectrumResult",
    "compute_lyapunov",
    "compute_singular_values",
    "compute_spectrum",
    "json_errors",
    "log10_singular_values",
    "lyapunov_exponents",
]


FloatArray = NDArray[np.float64]
LN10 = math.log(10.0)


def log10_singular_values(
    jacobians: JacobiansLike, *, start: int = 0, end: int | None = None
) -> FloatArray:
    r"""All singular values of :math:`J_{end} \cdots J_{start+1}`, as log10, descending.

    Parameters
    ----------
    jacobians : (T, n, n) array_like, iterable of (n, n) arrays, or Steps
        :math:`J_1, \dots, J_T` (``jacobians[t - 1]`` is :math:`J_t`). An
        iterable is read once, in order, and never stored whole.
    start : int, optional
        The product starts after step ``start`` (default 0).
    end : int, optional
        The last factor is :math:`J_{end}` (default: the last step, T).

    Returns
    -------
    (n,) ndarray
        :math:`\log_{10}\sigma_1 \ge \dots \ge \log_{10}\sigma_n` of
        :math:`\partial h_{end}/\partial h_{start}`. An exactly zero singular
        value is ``-inf`` (e.g. when a step has an exactly zero row, as a ReLU
        unit with :math:`z = 0`, or φ' below 2.2e-308, gives); a product that is
        singular only through cancellation gives tiny values at rounding level.

    Raises
    ------
    ConfigError
        For a bad shape, an empty sequence, NaN/Inf, batch dimensions, or a
        window outside ``0 <= start < end <= T``.
    NumericalError
        If a Jacobian is so large that one block overflows float64.

    See Also
    --------
    gradscope.numeric.lyapunov.lyapunov_exponents : the asymptotic growth rates instead.
    compute_spectrum : the same for an RNN run, with diagnostics.

    Notes
    -----
    Every value carries a small *relative* error in log σ, however small σ is:
    in the reference tests (mpmath on the exact product of the same float64
    Jacobians, spectra spanning 700–1700 decades) at most about 1e-10 of
    |log10 σ| (a few 1e-8 absolute); for n = 256, T = 1000 about 3e-10 of it
    (under 1e-6 absolute over 2300 decades). The error comes from the QR blocks
    (about ε times a block's condition number each) and grows with their
    number; a plain SVD of the float product has an absolute error of about
    1e-16 σ₁ instead, useless below the 16th decade.

    Examples
    --------
    Ten thousand steps of :math:`0.9 \times` a rotation: every σ is
    :math:`0.9^{10000} \approx 10^{-457.57}`, far below float64's 1e-308.

    >>> import math
    >>> import numpy as np
    >>> c, s = math.cos(0.3), math.sin(0.3)
    >>> rotation = 0.9 * np.array([[c, -s], [s, c]])
    >>> values = log10_singular_values(rotation for _ in range(10000))
    >>> np.round(values, 4).tolist(), round(10000 * math.log10(0.9), 4)
    ([-457.5749, -457.5749], -457.5749)
    """
    return compute_singular_values(jacobians, start=start, end=end).log10_singular_values.copy()


def _log10_errors(product: GradedProduct, log_sigma: FloatArray, reduction: float) -> FloatArray:
    """log10 error bounds of the singular values ``log_sigma`` (natural logs, descending).

    The block loop's per-direction errors plus the reduction's (Jacobi), times
    :data:`SAFETY`; NaN beside an exact zero, ``inf`` beside a zero that a flush
    or fold made (not exact).
    """
    assert product.log_error is not None
    per_direction = sorted_errors(log_sigma, product.log_scales, product.log_error)
    total = SAFETY * (per_direction + reduction + product.log_sum_error)
    errors = log10_bounds(total, log_sigma)
    zero = ~np.isfinite(log_sigma)
    # Exact zeros are the rows that were exactly zero (and directions never
    # reached); a zero that Jacobi or a flush made is not one.
    structural = log_sigma.size - int(np.count_nonzero(np.isfinite(product.log_scales)))
    exact = product.zeros_exact and int(np.count_nonzero(zero)) <= structural
    # As many values proven nonzero (finite bounds) as the data's zeros allow: the rest
    # are exact zeros, whatever was flushed on the way.
    proven = int(np.count_nonzero(np.isfinite(errors) & ~zero))
    exact |= product.rank_bound is not None and proven >= product.rank_bound
    errors[zero] = np.nan if exact else np.inf
    return errors


@dataclass(frozen=True, slots=True, kw_only=True)
class SpectrumResult:
    r"""The singular spectrum of :math:`\partial h_{end}/\partial h_{start}` for one RNN run.

    Attributes
    ----------
    log10_singular_values : (n,) ndarray
        :math:`\log_{10}\sigma_i`, descending; ``-inf`` for exact zeros.
    log10_error : (n,) ndarray
        A bound on :math:`|\Delta \log_{10}\sigma_i|` against the exact product
        of the stored float64 step data: first order, computed from what the
        engine measured (see "How exact is exact"), times :data:`SAFETY`. NaN
        beside an exact zero; ``inf`` where the data do not determine the value.
    lyapunov_exponents : (n,) ndarray
        QR-method exponent estimates over the same window, natural log per
        step, descending (asymptotic rates, not singular values).
    start, end : int
        The window: the product :math:`J_{end} \cdots J_{start+1}`.
    hidden : int
        n, the number of hidden units (the Jacobians' size).
    activation : str or None
        φ of the RNN run; None for Jacobians given directly.
    seed : int or None
        The seed that generated the run, if the caller gave it (recorded for
        replay; the computation itself draws nothing).
    qr_count : int
        QR factorisations (re-orthonormalisations) used.
    longest_block : int
        Most steps multiplied between two factorisations.
    jacobi_sweeps : int
        One-sided Jacobi sweeps of the final SVD.
    worst_block_condition : float
        The largest row-equilibrated condition number of a block's ``R``.
    """

    log10_singular_values: FloatArray
    log10_error: FloatArray
    lyapunov_exponents: FloatArray
    start: int
    end: int
    hidden: int
    activation: str | None
    seed: int | None
    qr_count: int
    longest_block: int
    jacobi_sweeps: int
    worst_block_condition: float = 1.0

    def __post_init__(self) -> None:
        if np.shape(self.log10_error) != np.shape(self.log10_singular_values):
            raise ConfigError("log10_error must have one entry per singular value")
        for name in ("log10_singular_values", "log10_error", "lyapunov_exponents"):
            arr = np.array(getattr(self, name), dtype=np.float64, copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def steps(self) -> int:
        """The number of factors, ``end - start``."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: arrays as lists, ``-inf`` (an exact zero) as None."""
        return {
            "product": f"dh_{self.end}/dh_{self.start}",
            "start": self.start,
            "end": self.end,
            "steps": self.steps,
            "hidden": self.hidden,
            "activation": self.activation,
            "seed": self.seed,
            "log10_singular_values": json_numbers(self.log10_singular_values),
            "log10_error": json_errors(self.log10_error),
            "lyapunov_exponents": json_numbers(self.lyapunov_exponents),
            "qr_count": self.qr_count,
            "longest_block": self.longest_block,
            "jacobi_sweeps": self.jacobi_sweeps,
            "worst_block_condition": json_number(self.worst_block_condition),
        }

    @property
    def max_log10_error(self) -> float:
        """The largest finite-value bound (``inf`` if any value is undetermined; 0 if none)."""
        e = self.log10_error[~np.isnan(self.log10_error)]
        return float(e.max()) if e.size else 0.0


def compute_spectrum(
    rnn: RNN,
    inputs: ArrayLike,
    h0: ArrayLike | None = None,
    *,
    start: int = 0,
    end: int | None = None,
    seed: int | None = None,
) -> SpectrumResult:
    r"""Singular values and Lyapunov exponents of :math:`\partial h_{end}/\partial h_{start}`.

    Parameters
    ----------
    rnn : RNN
    inputs : (T, m) array_like
        ``inputs[t - 1]`` is x_t.
    h0 : (n,) array_like, optional
        Initial state; zeros by default.
    start, end : int, optional
        The window (default: the whole run, ``∂h_T/∂h_0``).
    seed : int, optional
        The seed that generated ``rnn`` and ``inputs``, recorded in the result.

    Returns
    -------
    SpectrumResult

    Raises
    ------
    ConfigError
        If ``rnn`` is not an :class:`~gradscope.model.RNN`, the inputs are
        malformed, or the window is outside ``0 <= start < end <= T``.

    Examples
    --------
    A linear RNN with ``W = 0.5 I`` halves every direction at every step:

    >>> import numpy as np
    >>> from gradscope.model import RNN
    >>> rnn = RNN(W_hh=0.5 * np.eye(3), W_xh=np.ones((3, 1)), activation="linear")
    >>> result = compute_spectrum(rnn, np.zeros((2000, 1)))
    >>> np.round(result.log10_singular_values, 3).tolist()
    [-602.06, -602.06, -602.06]
    """
    if not isinstance(rnn, RNN):
        raise ConfigError(f"rnn must be a gradscope.model.RNN, got {type(rnn).__name__}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise ConfigError(f"seed must be an integer or None, got {seed!r}")
    steps = rnn_steps(rnn, inputs, h0)
    start, end_ = check_range(start, end, steps.T)
    assert end_ is not None
    return _spectrum(
        steps,
        start,
        end_,
        activation=rnn.activation.name,
        seed=None if seed is None else int(seed),
    )


def _spectrum(
    steps: Steps, start: int, end: int | None, *, activation: str | None, seed: int | None
) -> SpectrumResult:
    """The graded product, its singular values and their error bounds, as a record."""
    product = graded_product(steps, start, end)
    assert product.U is not None
    values = graded_singular_values(product.log_scales, product.U)
    return SpectrumResult(
        log10_singular_values=values.log_sigma / LN10,
        log10_error=_log10_errors(product, values.log_sigma, values.log_error),
        lyapunov_exponents=np.sort(product.log_diag / product.steps)[::-1],
        start=start,
        end=start + product.steps,
        hidden=steps.n,
        activation=activation,
        seed=seed,
        qr_count=product.qr_count,
        longest_block=product.longest_block,
        jacobi_sweeps=values.sweeps,
        worst_block_condition=product.worst_block_cond,
    )


def compute_singular_values(
    jacobians: JacobiansLike, *, start: int = 0, end: int | None = None
) -> SpectrumResult:
    r"""Every singular value of :math:`J_{end} \cdots J_{start+1}` in log10, with its error bound.

    The record behind :func:`log10_singular_values` (same arguments, same
    values): ``log10_error[i]`` bounds :math:`|\Delta\log_{10}\sigma_i|`
    against the exact product of the given float64 Jacobians, a first-order
    bound from what the engine measured while it ran (each block's
    row-equilibrated condition and grading, the number of factors, the unit
    roundoff; see "How exact is exact" in the docs), times :data:`SAFETY`.

    Returns
    -------
    SpectrumResult
        With ``activation`` and ``seed`` None.

    Raises
    ------
    ConfigError, NumericalError
        As :func:`log10_singular_values`.

    Examples
    --------
    Powers of a diagonal matrix: the singular values are exact powers, and the
    bounds are tiny beside them.

    >>> import numpy as np
    >>> result = compute_singular_values(np.broadcast_to(np.diag([0.5, 0.25]), (1000, 2, 2)))
    >>> np.round(result.log10_singular_values, 6).tolist()
    [-301.029996, -602.059991]
    >>> bool(result.log10_error.max() < 1e-9)
    True
    """
    steps, start, end = unbatched_steps(jacobians, start, end)
    return _spectrum(steps, start, end, activation=None, seed=None)
