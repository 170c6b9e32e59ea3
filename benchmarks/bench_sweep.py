"""Batched seeds against a loop, and a 2-worker sweep against 1 worker.

Run: ``python benchmarks/bench_sweep.py [--repeat N] [--smoke]``

Targets (issue 5, "Many seeds and configurations"):

1. 64 seeds of one configuration — gaussian W_hh scaled to ‖W‖₂ = 1.0, tanh,
   n = 64, T = 1000 (horizon cap 1000, inputs N(0, 1), m = 8) — measured by one
   batched ``measure_instances`` call at least 3× faster than by 64 calls of one
   instance each; the two give the same bits.
2. A sweep on 2 worker processes (``jobs=2``, loky) at least 1.7× faster than on
   1 (serial, in-process) over the same grid (about 10–30 s serially); the two
   output files are byte-identical. Worker start-up is included in the timing.

BLAS runs on one thread everywhere: this process is pinned with threadpoolctl,
the sweep pins every unit of work, and loky starts its workers with
OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = … = 1 (``inner_max_num_threads=1``);
the workers' thread counts are read back and printed. Each measurement is
repeated ``--repeat`` times, interleaved, and the minimum is reported (the
machine's load average is printed: other processes slow the 2-worker run most).

Beside target 1 it times the floor of any exact batched scan: the stacked
products ``diag(φ') W P`` alone, with nothing else (no forward pass, norms or
horizons), which bounds how far batching can beat the loop. Here (2 cores) the
floor already caps the ratio near 2.9×: the target needs less arithmetic than
the exact product, not less overhead.

The script also reports, for information, whether measuring configurations
in one mixed batch would change any number compared with one batch per
configuration (the sweep's choice), at ordinary and at extreme scales.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

PY = sys.version.split()[0]


def _worker_blas_threads() -> list[int]:
    import numpy  # noqa: F401  (load OpenBLAS before asking)
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def _busy_loop() -> None:
    x = 0
    for i in range(10_000_000):
        x += i


def free_cores() -> float:
    """About how many cores are free: 2 × (time of one busy loop / time of two at once)."""
    from multiprocessing import get_context

    ctx = get_context("spawn")
    times = []
    for k in (1, 2):
        procs = [ctx.Process(target=_busy_loop) for _ in range(k)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        times.append(time.perf_counter() - t0)
    return min(2.0, 2.0 * times[0] / times[1])


def _bits(rows: list) -> list[str]:
    return [repr(r.to_dict()) for r in rows]


def _timed(f):
    w, c = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - w, time.process_time() - c


def bench_batching(n: int, T: int, seeds: int, repeat: int) -> tuple[float, ...]:
    """(batched wall, looped wall, batched CPU, looped CPU), each the minimum over rounds."""
    from gradscope.studies.bound import Instance, measure_instances

    specs = [Instance(family="gaussian", seed=0, index=i, norm=1.0) for i in range(seeds)]
    kwargs = {"activation": "tanh", "T": T, "hidden": n, "horizon_cap": T}
    times: list[list[float]] = [[], [], [], []]
    for _ in range(repeat):
        b, bw, bc = _timed(lambda: measure_instances(specs, **kwargs))
        loop, lw, lc = _timed(lambda: [measure_instances([s], **kwargs)[0] for s in specs])
        for bucket, value in zip(times, (bw, lw, bc, lc), strict=True):
            bucket.append(value)
        if _bits(b) != _bits(loop):
            raise SystemExit("batched and looped measurements differ")
    return tuple(min(t) for t in times)


def sweep_grid(smoke: bool):  # -> SweepGrid
    from gradscope.sweep.grid import SweepGrid

    if smoke:
        return SweepGrid.from_mapping(
            {"families": "gaussian,orthogonal", "norms": "0.9,1.0", "hidden": 16, "T": 100,
             "activations": "tanh,linear", "seeds": 4, "horizon_cap": 100}
        )  # fmt: skip
    return SweepGrid.from_mapping(
        {"families": "gaussian,orthogonal,non-normal", "norms": "0.9,1.0,1.1", "hidden": "32,64",
         "T": "300,1000", "activations": "tanh,linear", "seeds": 16, "horizon_cap": 1000}
    )  # fmt: skip


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_workers(grid, repeat: int, folder: Path) -> tuple[float, float, float, float]:
    """(1-worker wall, 2-worker wall, 1-worker CPU, 2 workers' CPU) of the fastest rounds."""
    from gradscope.sweep.run import run_sweep

    one, two = [], []
    for r in range(repeat):
        out = folder / f"jobs1_{r}.csv"
        _, wall, cpu = _timed(lambda: run_sweep(grid, out=out, jobs=1))  # noqa: B023
        one.append((wall, cpu))
        before = _children_cpu()
        t0 = time.perf_counter()
        run_sweep(grid, out=folder / f"jobs2_{r}.csv", jobs=2)
        wall = time.perf_counter() - t0
        _shutdown_loky()  # reaps the workers (their CPU time), and the next run starts afresh
        two.append((wall, _children_cpu() - before))
        if (folder / f"jobs1_{r}.csv").read_bytes() != (folder / f"jobs2_{r}.csv").read_bytes():
            raise SystemExit("1-worker and 2-worker sweeps wrote different files")
    (w1, c1), (w2, c2) = min(one), min(two)
    return w1, w2, c1, c2


def _shutdown_loky() -> None:
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def composition_check() -> tuple[int, int, int, int]:
    """Rows that change when configurations share a batch: (ordinary, of, extreme, of)."""
    from gradscope.studies.bound import Instance, measure_instances

    out = []
    for norms in ((0.5, 0.9, 1.2), (0.001, 1000.0, 0.9)):
        specs = [
            Instance(family=f, seed=3, index=i, norm=v)
            for f in ("gaussian", "non-normal")
            for v in norms
            for i in range(3)
        ]
        kwargs = {"activation": "tanh", "T": 100, "hidden": 7, "horizon_cap": 120}
        mixed = _bits(measure_instances(specs, **kwargs))
        separate: list[str] = []
        for k in range(0, len(specs), 3):
            separate += _bits(measure_instances(specs[k : k + 3], **kwargs))
        out += [sum(a != b for a, b in zip(mixed, separate, strict=True)), len(specs)]
    return out[0], out[1], out[2], out[3]


def bench_floor(n: int, T: int, seeds: int, repeat: int) -> tuple[float, float]:
    """(stacked products alone, products and row scalings): the work any exact batched scan does.

    ``P_t = diag(φ'_t) W P_{t-1}`` for every seed at once, with the power-of-two
    rescaling the scan does every 8 steps and nothing else: no forward pass, no
    norms, no horizons. Its time bounds the batched scan from below, so
    ``looped / floor`` bounds the ratio any batched implementation of the exact
    product can reach.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    W = rng.standard_normal((seeds, n, n)) / np.sqrt(n)
    d = rng.uniform(0.1, 1.0, (T, seeds, n, 1))

    def run(scale: bool) -> float:
        M = np.broadcast_to(np.eye(n), (seeds, n, n)).copy()
        start = time.perf_counter()
        for k in range(T):
            M = W @ M
            if scale:
                M *= d[k]
            if k % 8 == 7:
                M = np.ldexp(M, -np.frexp(np.abs(M).max(axis=(1, 2)))[1][:, None, None])
        return time.perf_counter() - start

    return min(run(False) for _ in range(repeat)), min(run(True) for _ in range(repeat))


def report_batching(smoke: bool, repeat: int, failed: list[str]) -> None:
    n, T, seeds = (16, 100, 8) if smoke else (64, 1000, 64)
    tb, tl, cb, cl = bench_batching(n, T, seeds, repeat)
    r1 = tl / tb
    print(f"\n(1) {seeds} seeds, gaussian ‖W‖₂ = 1.0, tanh, n = {n}, T = {T}, min of {repeat}:")
    print(f"    batched, one measure_instances call  {tb:8.3f} s wall  {cb:8.3f} s CPU")
    print(f"    looped, {seeds} calls of one instance     {tl:8.3f} s wall  {cl:8.3f} s CPU")
    print(f"    ratio looped / batched = {r1:.2f} wall, {cl / cb:.2f} CPU  (target >= 3)")
    products, scaled = bench_floor(n, T, seeds, repeat)
    print(f"    floor: the {seeds} stacked products alone {products:8.3f} s (ratio at most "
          f"{tl / products:.2f}); with the row scalings φ' {scaled:8.3f} s (at most "
          f"{tl / scaled:.2f})")  # fmt: skip
    if r1 < 3:
        failed.append("batched vs looped")
    if not smoke:
        for small in (16, 32):
            sb, sl, _, _ = bench_batching(small, T, seeds, repeat)
            print(f"    for reference, n = {small}: batched {sb:.3f} s, looped {sl:.3f} s, "
                  f"ratio {sl / sb:.2f}")  # fmt: skip


def report_workers(smoke: bool, repeat: int, failed: list[str]) -> None:
    g = sweep_grid(smoke)
    with tempfile.TemporaryDirectory() as folder:
        t1, t2, c1, c2 = bench_workers(g, repeat, Path(folder))
    r2 = t1 / t2
    print(f"\n(2) sweep of {len(g.configurations())} configurations × {g.seeds} seeds = "
          f"{g.rows} rows: families {','.join(g.families)} × norms {g.scales} × hidden "
          f"{g.hidden} × T {g.T} × {','.join(g.activations)}, horizon cap "
          f"{g.horizon_cap}; min of {repeat}:")  # fmt: skip
    print(f"    1 worker (serial)        {t1:8.3f} s wall  {c1:8.3f} s CPU")
    print(f"    2 workers (jobs=2, loky) {t2:8.3f} s wall  {c2:8.3f} s CPU in the workers "
          "(start-up included)")  # fmt: skip
    print(f"    ratio 1 / 2 workers = {r2:.2f}  (target >= 1.7); output files identical")
    if r2 < 1.7:
        failed.append("2 workers vs 1")


def report_composition() -> None:
    same, of, extreme, of_extreme = composition_check()
    print("\n(info) rows changed by measuring configurations in one mixed batch instead of "
          "one batch each:")  # fmt: skip
    print(f"    ordinary norms 0.5, 0.9, 1.2:        {same} of {of}")
    print(f"    extreme norms 0.001, 1000, 0.9:      {extreme} of {of_extreme}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no targets checked")
    parser.add_argument("--only", choices=["batching", "workers"], help="run one target only")
    args = parser.parse_args()
    repeat = 1 if args.smoke else args.repeat

    import numpy as np
    from joblib import Parallel, delayed, parallel_config
    from threadpoolctl import threadpool_info, threadpool_limits

    blas = [f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
            for i in threadpool_info() if i["user_api"] == "blas"]  # fmt: skip
    print(f"python {PY}, numpy {np.__version__}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; BLAS: {', '.join(blas)}")  # fmt: skip
    with parallel_config(backend="loky", inner_max_num_threads=1):
        workers = Parallel(n_jobs=2)(delayed(_worker_blas_threads)() for _ in range(2))
    _shutdown_loky()
    print(f"BLAS threads: this process pinned to 1 (threadpoolctl); loky workers report {workers}")
    print(f"free cores (two busy loops against one): about {free_cores():.1f} of {os.cpu_count()}")

    failed: list[str] = []
    with threadpool_limits(limits=1, user_api="blas"):
        if args.only != "workers":
            report_batching(args.smoke, repeat, failed)
        if args.only != "batching":
            report_workers(args.smoke, repeat, failed)
        if args.only is None:
            report_composition()
    print(f"\nload average now {os.getloadavg()[0]:.2f}")
    if args.smoke:
        return 0
    if failed:
        print(f"targets missed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
