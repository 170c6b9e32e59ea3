r"""The driver: :func:`compute_top_spectrum`, subspace iteration in graded form over the steps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError
from gradscope.numeric.graded.blocks import MAX_BLOCK, block_loop
from gradscope.numeric.graded.factors import thin_block_condition
from gradscope.numeric.graded.jacobi import graded_log_singular_values, graded_svd
from gradscope.numeric.matrixfree.convergence import _assess
from gradscope.numeric.matrixfree.passes import (
    MF_COND_LIMIT,
    MF_ERROR_PER_FACTOR,
    _Pass,
    _residual_errors,
    _rounding,
    _top,
    _top_errors,
)
from gradscope.numeric.matrixfree.result import TopSpectrumResult
from gradscope.numeric.matrixfree.sizes import default_block, shrunk_block
from gradscope.numeric.steps import ConstantSteps, RNNSteps, Steps, as_steps, check_range
from gradscope.progress import task as progress_task

__all__ = ["compute_top_spectrum", "log10_top_singular_values"]

FloatArray = NDArray[np.float64]
LN10 = math.log(10.0)


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
        b, vectors iterated, ``k <= b <= n``, fixed. Default: :func:`default_block`
        to start, and after each pass the b' <= b that the measured gap makes
        cheapest (:func:`~gradscope.numeric.matrixfree.sizes.shrunk_block`).
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
    adapt = block is None  # the default block shrinks to the measured gap
    b = default_block(k, n) if block is None else _check_int(block, "block", k, n)
    seed = _check_int(seed, "seed", 0)
    max_passes = _check_int(max_passes, "max_passes", 2)
    if not (isinstance(rtol, float | int) and 0.0 < rtol < 1.0):
        raise ConfigError(f"rtol must be in (0, 1), got {rtol!r}")
    if not cond_limit > 1.0:
        raise ConfigError(f"cond_limit must be > 1, got {cond_limit!r}")
    # The weights' condition seeds each block's prediction: no n × n factorisation for
    # large n, where the blocks' measured amplification corrects a nominal prediction.
    condition: dict[str, float | None] = {}
    if isinstance(steps, RNNSteps | ConstantSteps):
        bound, predicted = thin_block_condition(
            steps.W_hh if isinstance(steps, RNNSteps) else steps.W, b
        )
        condition = {"log_kappa": bound, "predicted_log_kappa": predicted}

    rng = np.random.default_rng(seed)
    V = np.linalg.qr(rng.standard_normal((n, b)))[0]
    history: list[FloatArray] = []  # the top k Ritz values (ln σ) of every pass
    sizes: list[int] = []  # the vectors of every pass
    qr_count = longest = 0
    converged = False
    change = error = math.inf
    passes = 0
    last: _Pass | None = None
    V_in = V

    def run_pass(V_in: FloatArray, forward: bool) -> _Pass:
        """One pass of P (forward) or Pᵀ on V_in: the graded engine's block loop."""
        factors = (
            steps.factors(start, end_, **condition)
            if forward
            else steps.transposed_factors(start, end_, **condition)
        )
        sizes.append(V_in.shape[1])
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
        log_sigma, _ = graded_log_singular_values(last.log_scales, last.U)
        history.append(_top(log_sigma, k))
        V = last.Q
        if adapt and V.shape[1] > k + 1:
            # The measured gap makes a smaller block cheaper: go on with the top b'
            # Ritz vectors of the output side (subspace iteration restarted on them).
            bb = shrunk_block(log_sigma[: V.shape[1]], k, rtol)
            if bb < V.shape[1]:
                V = last.Q @ graded_svd(last.log_scales, last.U)[1][:, :bb]
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
        block_sizes=tuple(sizes),
    )


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
