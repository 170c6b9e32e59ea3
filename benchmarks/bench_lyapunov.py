"""Top-k Lyapunov exponents of a chaotic tanh RNN: gradscope against a plain numpy QR loop.

Run: ``python benchmarks/bench_lyapunov.py [--hidden N] [--T T] [--warmup W] [--k K]
[--repeat R] [--basis identity|random]``

The case (issue 18): N = 1024 tanh units, W_hh entries N(0, g²/N) with gain
g = 2 (chaotic), h_0 ~ N(0, 1), m = 4 inputs x_t ~ N(0, 0.01²), W_xh ~ N(0, 1/m),
T = 1500 steps, the first 300 a warm-up; the top 8 exponents.

*gradscope* is :func:`gradscope.numeric.lyapunov.compute_lyapunov` with
``k=8`` on the run's :class:`~gradscope.numeric.steps.RNNSteps` (no Jacobian
is formed; the engine chooses when to re-orthonormalise). *plain* is the loop
people write: ``Q = diag(φ'(z_t)) (W_hh @ Q)``, ``Q, R = numpy.linalg.qr(Q)``
after *every* step, Σ log|R_ii| after the warm-up, on the same φ'(z_t) (taken
from the same RNNSteps) and the same start basis. Both run in this process at
the default threads (printed: ``threadpoolctl.threadpool_info()``); the forward
pass is done once, outside both timings. Target: gradscope at most 1.3× plain,
agreeing to 1e-9 nats per step. Timings are the best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def case(n: int, T: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """The chaotic run's steps (gradscope's forward pass)."""
    from gradscope.model import RNN
    from gradscope.numeric.forward import rnn_steps

    rng = np.random.default_rng(seed)
    m = 4
    W = rng.standard_normal((n, n)) * (2.0 / np.sqrt(n))
    W_xh = rng.standard_normal((n, m)) / np.sqrt(m)
    rnn = RNN(W_hh=W, W_xh=W_xh, b=np.zeros(n), activation="tanh")
    x = 0.01 * rng.standard_normal((T, m))
    h0 = rng.standard_normal(n)
    return rnn_steps(rnn, x, h0)


def plain(W: np.ndarray, dphi: np.ndarray, Q: np.ndarray, warmup: int) -> np.ndarray:
    """The textbook loop: a QR after every step; the top-k exponents, descending."""
    sums = np.zeros(Q.shape[1])
    for t in range(dphi.shape[0]):
        Q = W @ Q
        Q *= dphi[t][:, None]
        Q, R = np.linalg.qr(Q)
        if t >= warmup:
            sums += np.log(np.abs(np.diagonal(R)))
    out: np.ndarray = np.sort(sums / (dphi.shape[0] - warmup))[::-1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--T", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--basis", choices=("identity", "random"), default="identity")
    parser.add_argument("--smoke", action="store_true", help="a tiny case, one round (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.hidden, args.T, args.warmup, args.k, args.repeat = 32, 60, 10, 4, 1

    import threadpoolctl

    from gradscope.numeric.lyapunov import compute_lyapunov

    steps = case(args.hidden, args.T)
    n, k = steps.n, args.k
    if args.basis == "identity":
        V = np.eye(n)[:, :k]
        seed = None
    else:
        seed = 0
        V = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, k)))[0]
    print(
        f"case: tanh RNN, N = {n}, gain 2, T = {args.T}, warm-up {args.warmup}, "
        f"top {k}, basis {args.basis}"
    )
    best_g = best_p = np.inf
    ours = ref = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ours = compute_lyapunov(steps, k=k, warmup=args.warmup, basis=args.basis, seed=seed)
        best_g = min(best_g, time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = plain(steps.W_hh, np.asarray(steps.dphi), V.copy(), args.warmup)
        best_p = min(best_p, time.perf_counter() - t0)
    assert ours is not None and ref is not None
    diff = float(np.max(np.abs(ours.exponents - ref)))
    print(f"gradscope: {best_g:.3f} s (QRs {ours.qr_count}, longest block {ours.longest_block})")
    print(f"plain numpy, QR every step: {best_p:.3f} s")
    print(f"ratio gradscope/plain: {best_g / best_p:.3f} (target <= 1.3)")
    print(f"largest difference: {diff:.3e} nats per step (target <= 1e-9)")
    print(f"exponents: {np.round(ours.exponents, 6).tolist()}")
    print(f"rounding bound (max): {float(np.max(ours.lyapunov_error)):.2e}")
    print(f"standard error: {np.round(ours.standard_error, 5).tolist()}")
    # after the runs, so that the pools loaded on the way (scipy's) are listed too
    print(f"threadpools: {threadpoolctl.threadpool_info()}")


if __name__ == "__main__":
    main()
