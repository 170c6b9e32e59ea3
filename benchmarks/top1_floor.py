r"""The floor of matrix-free top-1 at n = 2048: what the spectrum's gap lets any block size do.

``python benchmarks/top1_floor.py --T 200 1000`` builds the case of
``bench_matrixfree.py --cli`` (W_hh ~ N(0, 1/n), tanh, the CLI's drawn inputs, seed 0),
measures in this process

* the fixed costs of ``spectrum --top 1`` besides the passes: the forward pass and the
  bound column's ‖W‖₂ (:func:`gradscope.numeric.norms.spectral_norm_certified`, beside
  the squaring bound it replaced, :func:`~gradscope.numeric.norms.spectral_norm_upper`);
* one pass of the graded block loop (forward and transposed) for b = 1, 2, 4, 8, 16, 32;
* the top 24 singular values of ∂h_T/∂h_0 (a converged run on 48 vectors),

and prints, for each b, the passes that b vectors need to bring σ₁'s Ritz value to the
method's stopping rule (error ratio :math:`(\sigma_{b+1}/\sigma_1)^2` per pass, down to
``rtol = 1e-13``; then one residual pass on one vector), their cost, and the smallest
total: a floor under the method whatever its block-size rule, beside the dense product's
time (measured by ``bench_matrixfree.py --cli``). Default threads; pools printed.
Not a CI benchmark (minutes); ``--smoke`` runs n = 256, T = 50.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradscope.init import instance_seed, random_inputs
from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.graded.blocks import block_loop
from gradscope.numeric.graded.factors import thin_block_condition
from gradscope.numeric.matrixfree import compute_top_spectrum
from gradscope.numeric.matrixfree.passes import MF_COND_LIMIT, MF_ERROR_PER_FACTOR
from gradscope.numeric.norms import spectral_norm_certified, spectral_norm_upper

RTOL = 1e-13
BLOCKS = (1, 2, 4, 8, 16, 32)


def pools() -> str:
    try:
        import threadpoolctl
    except ImportError:
        return "threadpoolctl not installed"
    info = threadpoolctl.threadpool_info()
    return ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in info)


def one_pass(steps, T: int, b: int, forward: bool) -> float:
    """Seconds for one pass of the block loop on b vectors, as compute_top_spectrum runs it."""
    n = steps.n
    V = np.linalg.qr(np.random.default_rng(1).standard_normal((n, b)))[0]
    bound, predicted = thin_block_condition(steps.W_hh, b)
    kw = {"log_kappa": bound, "predicted_log_kappa": predicted}
    factors = steps.factors(0, T, **kw) if forward else steps.transposed_factors(0, T, **kw)
    t0 = time.perf_counter()
    block_loop(
        factors,
        n,
        V,
        cond_limit=MF_COND_LIMIT,
        max_block=64 if b > 1 else 1 << 62,
        error_per_factor=MF_ERROR_PER_FACTOR,
        leading=1,
    )
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--smoke", action="store_true", help="n = 256, T = 50, seconds")
    args = parser.parse_args()
    n, m = (256, 8) if args.smoke else (2048, 8)
    horizons = [50] if args.smoke else args.T
    rng = np.random.default_rng(0)  # the weights of bench_matrixfree.py --cli
    W = rng.standard_normal((n, n)) / math.sqrt(n)
    rnn = RNN(W_hh=W, W_xh=rng.standard_normal((n, m)) / math.sqrt(m), activation="tanh")
    t0 = time.perf_counter()
    squaring = spectral_norm_upper(W, rtol=1e-3)[0]
    squaring_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    upper, lower = spectral_norm_certified(W)
    norm_s = time.perf_counter() - t0
    print(f"n = {n}; pools: {pools()}")
    print(f"‖W‖₂ upper bound (bound column): Lanczos + Cholesky certificate {norm_s:.2f} s "
          f"({upper:.10f}, Lanczos {lower:.10f}); squaring bound {squaring_s:.2f} s "
          f"({squaring:.10f}); ratio {squaring_s / norm_s:.1f}")  # fmt: skip
    for T in horizons:
        x = random_inputs(T, m, seed=instance_seed(0, 0), scale=1.0)
        t0 = time.perf_counter()
        steps = rnn_steps(rnn, x, None)
        forward_s = time.perf_counter() - t0
        one_pass(steps, T, 2, True)  # warm up: the kernels' first call imports them
        cost = {b: one_pass(steps, T, b, True) + one_pass(steps, T, b, False) for b in BLOCKS}
        top = compute_top_spectrum(steps, 24, block=48, max_passes=80)
        ln_sigma = top.log10_singular_values * math.log(10.0)
        gaps = ", ".join(f"b={b}: {ln_sigma[0] - ln_sigma[b]:.3f}" for b in BLOCKS if b < 24)
        print(f"\nT = {T}: forward {forward_s:.2f} s; top 24 converged {top.converged}; "
              f"ln σ₁ − ln σ_(b+1): {gaps}")  # fmt: skip
        need = math.log(1.0 / (RTOL * (1.0 + abs(ln_sigma[0]))))
        best = math.inf
        for b in BLOCKS:
            if b >= 24:
                continue
            gap = ln_sigma[0] - ln_sigma[b]
            passes = max(1, math.ceil(need / (2.0 * gap))) if gap > 0 else math.inf
            per_pass = cost[b] / 2.0
            total = passes * per_pass + cost[1] / 2.0  # + the residual pass on one vector
            best = min(best, total)
            print(f"  b = {b:2d}: one pass {per_pass:.3f} s, passes {passes}, "
                  f"passes + residual {total:.2f} s")  # fmt: skip
        floor = best + forward_s + norm_s
        print(f"  floor: {best:.2f} s of passes + forward + ‖W‖₂ = {floor:.2f} s in process "
              "(a whole process adds its imports and the file's load)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
