"""The whole singular spectrum of ∂h_T/∂h_0: gradscope's graded QR against the naive product.

Run: ``python benchmarks/bench_spectrum.py [--smoke] [--repeat N] [--threads N]``

Two fixed cases (issue 3), n = 256 hidden units, T = 1000 steps, m = 4 inputs
x_t ~ N(0, 1), W_xh ~ N(0, 1/m), b = 0, h_0 = 0, tanh:

(a) ``gaussian`` W (entries N(0, 1/n)) scaled to spectral radius 1;
(b) Haar orthogonal W scaled to ‖W‖₂ = 0.9.

Weights and inputs come from ``gradscope.init`` (``random_rnn``/``random_inputs``,
seed 0).

Last, for information: ``spectrum_over_time`` (the spectra of every leading
product J_t ⋯ J_1 at about 20 points, in one pass) against one product per point.

*naive* multiplies the float64 Jacobians (renormalising by a power of two every
8 steps, so the product stays in range) and calls ``numpy.linalg.svd``: it resolves the
values within ~16 decades of σ₁ and returns rounding noise below. *graded* is
:func:`gradscope.numeric.spectrum.log10_singular_values`. Targets: graded within
4× of naive's time for (a), within 2× for (b). A run with a looser block rule
(``error_per_factor=1e-6`` and ``cond_limit=1e12`` instead of the defaults 1e-13
and 1e10: issue 15's measured rule redoes a block whose first-order error
passes ``k · error_per_factor``) is shown beside it: fewer QR factorisations,
larger (still small) errors. The targets are issue 3's, set before blocks were
measured; at n = 256 the default rule's measured amplification allows no block
longer than one step, so the graded method costs what a QR after every step
does (issue 15 chose accuracy; speed is issue 18's).

Accuracy, two references, stated with each line:

* full size: the same graded method with a QR after *every* step
  (``cond_limit=1``, the classic discrete QR method: no block error at all); it
  is itself checked against mpmath in ``tests/numeric/test_spectrum.py``;
* a smaller analogous case (n = 12, T = 150, same families): the exact product
  of the same float64 Jacobians in integer arithmetic, SVD in mpmath.

"within 1e-8" counts σ_i with |log10 σ − ref| <= 1e-8 |ref| (the relative-in-log
criterion of the tests); "rel σ 1e-8" the stricter |σ/σ_ref − 1| <= 1e-8.

Times are the minimum over ``--repeat`` interleaved rounds. Each side runs at its
default threads (issue 18: what a user gets in a plain process; gradscope limits
the pools inside its own loop, :mod:`gradscope.threads`), and a second column
has every pool pinned to one thread (threadpoolctl, the peers' fair comparison).
``--threads N`` pins every pool to N for the whole run instead. The pools are
printed, and graded's error bar (the largest ``log10_error`` of
``compute_singular_values``) beside its time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import scipy.linalg  # noqa: F401  (loaded before pinning: gradscope's graded loop uses its BLAS)
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.graded import (
    graded_log_singular_values,
    graded_product,
)
from gradscope.numeric.spectrum import compute_singular_values, log10_singular_values
from gradscope.numeric.steps import RNNSteps

LN10 = math.log(10.0)
FAST_LIMIT = 1e12  # shown beside the defaults to show the trade-off ...
FAST_PER_FACTOR = 1e-6  # ... with this error_per_factor


def case_run(case: str, n: int, T: int, m: int = 4, seed: int = 0) -> tuple[RNN, np.ndarray]:
    """The case's RNN (``gradscope.init``) and its inputs."""
    from gradscope.init import random_inputs, random_rnn

    family, scale = ("gaussian", {"radius": 1.0}) if case == "a" else ("orthogonal", {"norm": 0.9})
    rnn = random_rnn(family, n, input_size=m, seed=seed, **scale)  # type: ignore[arg-type]
    return rnn, random_inputs(T, m, seed=seed)


def case_steps(case: str, n: int, T: int, m: int = 4, seed: int = 0) -> tuple[RNNSteps, str]:
    """The run's Jacobians, and where its weights came from."""
    return rnn_steps(*case_run(case, n, T, m, seed)), "gradscope.init"


def naive_log10(steps: RNNSteps) -> np.ndarray:
    """log10 σ from the float64 product (exact power-of-two renormalisation) and numpy SVD."""
    P, e = np.eye(steps.n), 0
    for t in range(1, steps.T + 1):
        P = steps.apply(t, P)
        if t % 8 == 0:
            peak = float(np.abs(P).max())
            if peak == 0.0:
                break
            shift = math.frexp(peak)[1]
            P, e = np.ldexp(P, -shift), e + shift
    s = np.linalg.svd(P, compute_uv=False)
    with np.errstate(divide="ignore"):
        out: np.ndarray = np.log10(s) + e * math.log10(2.0)
    return out


def every_step_log10(steps: RNNSteps) -> np.ndarray:
    """The reference at full size: QR after every step."""
    product = graded_product(steps, 0, steps.T, cond_limit=1.0, max_block=1)
    assert product.U is not None
    return graded_log_singular_values(product.log_scales, product.U)[0] / LN10


def graded_log10(
    steps: RNNSteps, cond_limit: float, error_per_factor: float = 1e-13
) -> np.ndarray:
    """The graded method with another bound on the blocks' condition number."""
    product = graded_product(
        steps, 0, steps.T, cond_limit=cond_limit, error_per_factor=error_per_factor
    )
    assert product.U is not None
    return graded_log_singular_values(product.log_scales, product.U)[0] / LN10


def mp_log10(steps: RNNSteps) -> np.ndarray:
    """log10 σ of the exact product of the float64 Jacobians, SVD in mpmath."""
    import mpmath as mp

    n = steps.n
    P, E = np.eye(n, dtype=np.int64).astype(object), 0
    bound = 0.0
    for t in range(1, steps.T + 1):
        M = steps.matrix(t)
        rows = np.abs(M).max(axis=1)
        bound += math.log10(rows.max() / rows.min()) + math.log10(
            np.linalg.cond(M / rows[:, None])
        )
        mant, ex = np.frexp(M)
        ints, ex = np.ldexp(mant, 53).astype(np.int64), ex - 53
        low = int(ex[ints != 0].min())
        N = np.empty((n, n), dtype=object)
        for idx in np.ndindex(n, n):
            N[idx] = int(ints[idx]) << int(ex[idx] - low) if ints[idx] else 0
        P, E = N.dot(P), E + low
    with mp.workdps(int(bound) + 40):  # > log10 κ(P): every σ resolved
        A = mp.matrix([[mp.ldexp(mp.mpf(int(x)), E) for x in row] for row in P])
        S = mp.svd_r(A, compute_uv=False)
        return np.array(sorted((float(mp.log10(s)) for s in S), reverse=True))


def accuracy(values: np.ndarray, ref: np.ndarray) -> tuple[int, int]:
    """(#σ within 1e-8 relative in log10, #σ within 1e-8 relative in σ)."""
    with np.errstate(invalid="ignore"):
        err = np.abs(values - ref)
        err[~np.isfinite(err)] = np.inf
    in_log = int(np.sum(err <= 1e-8 * np.abs(ref)))
    in_sigma = int(np.sum(err * LN10 <= 1e-8))
    return in_log, in_sigma


def best_time(fn: Callable[[], np.ndarray], repeat: int) -> tuple[float, np.ndarray]:
    best, out = math.inf, np.empty(0)
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def over_time(n: int, T: int, points: int) -> None:
    """``spectrum_over_time`` (one pass, the graded factor kept at each t) against one
    product per point, on case (b)'s weights (no target; shown for ``--plot``)."""
    from gradscope.studies.spectrum_report import spectrum_over_time

    rnn, x = case_run("b", n, T)
    steps = rnn_steps(rnn, x)
    start = time.perf_counter()
    ts, values = spectrum_over_time(rnn, x, points=points)
    t_pass = time.perf_counter() - start
    start = time.perf_counter()
    separate = np.stack([log10_singular_values(steps, end=int(t)) for t in ts])
    t_each = time.perf_counter() - start
    worst = float(np.max(np.abs(values - separate) / np.abs(separate)))
    print(
        f"spectrum over time, case (b) at n = {n}, T = {T}, {len(ts)} points: one pass "
        f"{t_pass:.2f} s, one product per point {t_each:.2f} s ({t_each / t_pass:.1f}x); "
        f"largest difference {worst:.1e} of |log10 σ|\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds; no targets")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--threads", type=int, default=None, help="pin every BLAS pool to N (default: as it is)"
    )
    args = parser.parse_args()
    n, T = (32, 60) if args.smoke else (256, 1000)
    n_small, T_small = (6, 40) if args.smoke else (12, 150)
    repeat = 1 if args.smoke else args.repeat
    targets = {"a": 3.0, "b": 2.0}  # issue 18
    names = {"a": "gaussian W, ρ(W) = 1, tanh", "b": "Haar orthogonal W, ‖W‖₂ = 0.9, tanh"}

    pinned = threadpool_limits(args.threads) if args.threads else nullcontext()
    with pinned:
        pools = ", ".join(
            f"{Path(p['filepath']).parent.name}/{Path(p['filepath']).name.split('-')[0]} "
            f"{p['num_threads']}"
            for p in threadpool_info()
        )
        print(f"python {sys.version.split()[0]}, numpy {np.__version__}; BLAS pools: {pools}")
        print(f"n = {n}, T = {T}, m = 4; times: best of {repeat} interleaved rounds\n")
        ok = True
        for case in ("a", "b"):
            steps, source = case_steps(case, n, T)
            t_naive = t_graded = t_fast = t_naive1 = t_graded1 = math.inf
            for _ in range(repeat):  # interleaved, so load drift hits all of them alike
                tn, naive = best_time(lambda s=steps: naive_log10(s), 1)
                tg, graded = best_time(lambda s=steps: log10_singular_values(s), 1)
                with threadpool_limits(1):
                    tn1, _ = best_time(lambda s=steps: naive_log10(s), 1)
                    tg1, _ = best_time(lambda s=steps: log10_singular_values(s), 1)
                tf, fast = best_time(
                    lambda s=steps: graded_log10(s, FAST_LIMIT, FAST_PER_FACTOR), 1
                )
                t_naive, t_graded, t_fast = min(t_naive, tn), min(t_graded, tg), min(t_fast, tf)
                t_naive1, t_graded1 = min(t_naive1, tn1), min(t_graded1, tg1)
            error_bar = float(np.nanmax(compute_singular_values(steps).log10_error))
            t_ref, ref = best_time(lambda s=steps: every_step_log10(s), 1)
            product = graded_product(steps, 0, T)
            ratio = t_graded / t_naive
            print(f"({case}) {names[case]}   [weights and inputs: {source}, seed 0]")
            print(f"  spectrum: log10 σ from {ref[0]:.2f} down to {ref[-1]:.2f}")
            print("           default threads   all pools 1 thread")
            print(f"  naive  {t_naive:9.3f} s   {t_naive1:9.3f} s")
            print(
                f"  graded {t_graded:9.3f} s   {t_graded1:9.3f} s   ratio {ratio:.2f} / "
                f"{t_graded1 / t_naive1:.2f}  (target <= {targets[case]:g})"
                f"   [{product.qr_count} QR, longest block {product.longest_block} steps; "
                f"log10_error max {error_bar:.1e}]"
            )
            print(
                f"  graded, looser rule: {t_fast:6.3f} s   "
                f"ratio {t_fast / t_naive:.2f}   (faster, less accurate setting)"
            )
            print(f"  QR every step {t_ref:6.3f} s   (the full-size reference)")
            for label, values in (("naive ", naive), ("graded", graded), ("looser", fast)):
                in_log, in_sigma = accuracy(values, ref)
                worst = np.max(np.abs(values - ref))
                print(
                    f"  {label} vs QR-every-step: {in_log:3d}/{n} within 1e-8 (log10), "
                    f"{in_sigma:3d}/{n} within rel σ 1e-8; max |Δlog10 σ| = {worst:.2e}"
                )
            small, _ = case_steps(case, n_small, T_small, seed=1)
            exact = mp_log10(small)
            print(f"  mpmath, n = {n_small}, T = {T_small} ({exact[0]:.1f} to {exact[-1]:.1f}):")
            for label, values in (
                ("naive ", naive_log10(small)),
                ("graded", log10_singular_values(small)),
            ):
                in_log, in_sigma = accuracy(values, exact)
                print(
                    f"  {label} vs mpmath: {in_log:3d}/{n_small} within 1e-8 (log10), "
                    f"{in_sigma:3d}/{n_small} within rel σ 1e-8; "
                    f"max |Δlog10 σ| = {np.max(np.abs(values - exact)):.2e}"
                )
            print()
            ok &= ratio <= targets[case]
        over_time(*((24, 60, 6) if args.smoke else (128, 500, 20)))
    if args.smoke:
        return 0
    print("all targets met" if ok else "a target was NOT met (see the ratios above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
