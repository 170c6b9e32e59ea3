"""Matrix-free top-1 of a tanh RNN: torch_steps (autograd) against the closed-form RNNSteps.

Run: ``python benchmarks/bench_torch_steps.py [--hidden N] [--T T] [--repeat R] [--smoke]``

The case (issue 19): N = 1024 tanh units, W_hh entries N(0, 1/N) (gain 1),
m = 4 inputs x_t ~ N(0, 1), W_xh ~ N(0, 1/m), b = 0, h_0 = 0, T = 1000; the
top singular value of ∂h_T/∂h_0 by
:func:`gradscope.numeric.matrixfree.compute_top_spectrum` (k = 1, seed 0).

*closed form* is the run's :class:`~gradscope.numeric.steps.RNNSteps` (W_hh and
φ'(z_t); the engine's row-scaled factors of one matrix). *torch* is
:func:`gradscope.torch.torch_steps` on an ``nn.RNNCell`` holding the same
weights: the forward pass through the cell, then every ``J_t V`` by ``jvp`` and
``J_tᵀ U`` by ``vjp``, batched over the block's columns with ``vmap``. Same
process, default threads (numpy's and torch's pools are printed). The time of
the torch route is split into the forward pass, the time inside
``apply``/``apply_transpose`` (jvp/vjp) and the rest (the engine: QR, Jacobi,
bookkeeping). Timings are the best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


def case(n: int, T: int, seed: int = 0) -> tuple[Any, Any, Any]:
    """The RNN, its inputs and an nn.RNNCell with the same weights."""
    import torch

    from gradscope.model import RNN

    rng = np.random.default_rng(seed)
    m = 4
    W = rng.standard_normal((n, n)) / np.sqrt(n)
    W_xh = rng.standard_normal((n, m)) / np.sqrt(m)
    rnn = RNN(W_hh=W, W_xh=W_xh, b=np.zeros(n), activation="tanh")
    x = rng.standard_normal((T, m))
    cell = torch.nn.RNNCell(m, n).double()
    with torch.no_grad():
        cell.weight_hh.copy_(torch.from_numpy(W))
        cell.weight_ih.copy_(torch.from_numpy(W_xh))
        cell.bias_hh.zero_()
        cell.bias_ih.zero_()
    return rnn, x, cell


def timed_torch(cell: Any, x: np.ndarray, n: int) -> tuple[Any, dict[str, float]]:
    """torch_steps + compute_top_spectrum, with the time inside jvp/vjp counted."""
    import torch

    from gradscope.numeric.matrixfree import compute_top_spectrum
    from gradscope.torch import torch_steps

    t0 = time.perf_counter()
    steps = torch_steps(cell, torch.from_numpy(x), torch.zeros(n, dtype=torch.float64))
    forward = time.perf_counter() - t0
    spent = {"jvp": 0.0, "vjp": 0.0}
    calls = {"jvp": 0, "vjp": 0}
    apply, apply_t = steps.apply, steps.apply_transpose

    def jvp(t: int, V: np.ndarray) -> np.ndarray:
        s = time.perf_counter()
        out = apply(t, V)
        spent["jvp"] += time.perf_counter() - s
        calls["jvp"] += 1
        return out

    def vjp(t: int, U: np.ndarray) -> np.ndarray:
        s = time.perf_counter()
        out = apply_t(t, U)
        spent["vjp"] += time.perf_counter() - s
        calls["vjp"] += 1
        return out

    steps.apply, steps.apply_transpose = jvp, vjp  # type: ignore[method-assign]
    t0 = time.perf_counter()
    result = compute_top_spectrum(steps, 1, seed=0)
    total = time.perf_counter() - t0
    times = {
        "forward": forward,
        "jvp": spent["jvp"],
        "vjp": spent["vjp"],
        "engine": total - spent["jvp"] - spent["vjp"],
        "top1": total,
        "jvp_calls": float(calls["jvp"]),
        "vjp_calls": float(calls["vjp"]),
        "notes": float(len(steps.notes)),
    }
    return result, times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--T", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a tiny case, one round (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.hidden, args.T, args.repeat = 32, 50, 1

    import threadpoolctl
    import torch

    from gradscope.numeric.forward import rnn_steps
    from gradscope.numeric.matrixfree import compute_top_spectrum

    n, T = args.hidden, args.T
    rnn, x, cell = case(n, T)
    print(f"case: tanh RNN, N = {n}, gain 1, T = {T}, top 1 of dh_T/dh_0, matrix-free")
    best_c = best_cf = np.inf
    best: dict[str, float] | None = None
    ours = ref = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        steps = rnn_steps(rnn, x)
        cf = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = compute_top_spectrum(steps, 1, seed=0)
        closed = time.perf_counter() - t0
        if closed < best_c:
            best_c, best_cf = closed, cf
        ours, times = timed_torch(cell, x, n)
        if best is None or times["top1"] + times["forward"] < best["top1"] + best["forward"]:
            best = times
    assert ours is not None and ref is not None and best is not None
    diff = float(abs(ours.log10_singular_values[0] - ref.log10_singular_values[0]))
    torch_total = best["forward"] + best["top1"]
    print(
        f"closed form (RNNSteps): forward {best_cf:.3f} s, top-1 {best_c:.3f} s "
        f"(passes {ref.passes}, block {ref.block})"
    )
    print(
        f"torch_steps: forward {best['forward']:.3f} s, top-1 {best['top1']:.3f} s "
        f"(passes {ours.passes}, block {ours.block})"
    )
    print(
        f"  inside jvp {best['jvp']:.3f} s ({int(best['jvp_calls'])} calls), "
        f"vjp {best['vjp']:.3f} s ({int(best['vjp_calls'])} calls), "
        f"engine (QR, Jacobi, rest) {best['engine']:.3f} s; vmap fallbacks: {int(best['notes'])}"
    )
    print(f"ratio torch/closed form, top-1: {best['top1'] / best_c:.2f}")
    print(f"ratio torch/closed form, forward + top-1: {torch_total / (best_cf + best_c):.2f}")
    print(
        f"log10 sigma_1: closed {ref.log10_singular_values[0]:.12f}, "
        f"torch {ours.log10_singular_values[0]:.12f}, difference {diff:.2e} "
        f"(error bars {ref.log10_error[0]:.1e}, {ours.log10_error[0]:.1e})"
    )
    print(
        f"torch threads: intra-op {torch.get_num_threads()}, "
        f"inter-op {torch.get_num_interop_threads()}"
    )
    print(f"threadpools: {threadpoolctl.threadpool_info()}")


if __name__ == "__main__":
    main()
