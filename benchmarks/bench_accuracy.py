"""How far gradscope's singular values are from the exact ones: the differential harness.

Run: ``python benchmarks/bench_accuracy.py [--cases N] [--smoke] [--threads N]``

For each case of ``tests/numeric/harness.py`` (``generate_cases(N)``: W_hh
families × activations and explicit arrays, n = 2–12, T up to 1000, entries
scaled by 1e-300 to 1e300, saturating input spikes, rank-deficient products),
``gradscope.log10_singular_values(case.steps())`` is compared with the
reference: log10 σ_i of the exact product of the same stored float64 step data,
in mpmath at a precision chosen from the spread and confirmed at 1.5 × it
(``reference_log10_singular_values``). Printed per family × activation:

* cases, and values compared (both finite);
* median and worst |Δ log10 σ_i|, and the same relative to max(1, |log10 σ_i|);
* false zeros: gradscope's −inf where the reference is finite; false finite:
  gradscope finite where the reference is an exact zero (exact rank of the
  integer product); errors: gradscope raised.

Then the four regressions of issue 14, each with gradscope's value and the
reference: the ReLU run with a dead unit (σ₂), the 12 small tanh runs (worst
|Δ| and the smallest σ), the n = 64 Gaussian arrays (Σ log10 σ_i against the
exact Σ_t log10|det J_t|; T = 4000, or 400 with ``--smoke``), and diag(1e250, 1).

``--smoke``: 40 cases and the short n = 64 run, well under a minute; exits 0
whatever the numbers (CI runs every benchmark so; it does not judge accuracy).
The full run also exits 0: accuracy is judged by the tests, once the error
bounds exist. BLAS is pinned to ``--threads`` threads (default 1) with
threadpoolctl, and the pools are printed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.linalg  # noqa: F401  (loaded before pinning: gradscope's graded loop uses its BLAS)
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradscope
from tests.numeric import harness


def compare(ours: np.ndarray, ref: np.ndarray) -> dict[str, object]:
    """|Δ| and relative |Δ| of the values finite in both, and the zero mismatches."""
    both = np.isfinite(ours) & np.isfinite(ref)
    delta = np.abs(ours[both] - ref[both])
    return {
        "delta": delta,
        "rel": delta / np.maximum(1.0, np.abs(ref[both])),
        "false_zero": int(np.sum(np.isneginf(ours) & np.isfinite(ref))),
        "false_finite": int(np.sum(np.isfinite(ours) & np.isneginf(ref))),
    }


def fmt(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.1e}"


def table(rows: dict[tuple[str, str], list[dict[str, object]]], errors: dict) -> None:
    head = (
        f"{'family':21s} {'activation':10s} {'cases':>5s} {'values':>6s} {'med |Δ|':>8s} "
        f"{'worst |Δ|':>9s} {'med rel':>8s} {'worst rel':>9s} {'false 0':>7s} "
        f"{'false fin':>9s} {'errors':>6s}  worst case"
    )
    print(head)
    print("-" * len(head))
    keys = sorted(set(rows) | set(errors))
    totals: dict[str, list] = defaultdict(list)
    for key in keys:
        results = rows.get(key, [])
        delta = np.concatenate([r["delta"] for r in results]) if results else np.zeros(0)
        rel = np.concatenate([r["rel"] for r in results]) if results else np.zeros(0)
        worst_case = max(results, key=lambda r: r["worst"], default=None)
        fz = sum(r["false_zero"] for r in results)
        ff = sum(r["false_finite"] for r in results)
        err = len(errors.get(key, []))
        med = float(np.median(delta)) if delta.size else math.nan
        worst = float(delta.max()) if delta.size else math.nan
        medr = float(np.median(rel)) if rel.size else math.nan
        worstr = float(rel.max()) if rel.size else math.nan
        print(
            f"{key[0]:21s} {key[1]:10s} {len(results) + err:5d} {delta.size:6d} {fmt(med):>8s} "
            f"{fmt(worst):>9s} {fmt(medr):>8s} {fmt(worstr):>9s} {fz:7d} {ff:9d} {err:6d}  "
            f"{worst_case['name'] if worst_case and worst_case['worst'] > 0 else ''}"
        )
        for name, value in (("delta", delta), ("rel", rel)):
            totals[name].append(value)
        totals["fz"].append(fz)
        totals["ff"].append(ff)
        totals["err"].append(err)
        totals["cases"].append(len(results) + err)
    delta, rel = np.concatenate(totals["delta"]), np.concatenate(totals["rel"])
    print("-" * len(head))
    print(
        f"{'all':21s} {'':10s} {sum(totals['cases']):5d} {delta.size:6d} "
        f"{fmt(float(np.median(delta))):>8s} {fmt(float(delta.max())):>9s} "
        f"{fmt(float(np.median(rel))):>8s} {fmt(float(rel.max())):>9s} {sum(totals['fz']):7d} "
        f"{sum(totals['ff']):9d} {sum(totals['err']):6d}"
    )
    for thr in (1e-8, 1e-6, 1e-3, 1.0):
        print(f"  values with |Δ| > {thr:g}: {int(np.sum(delta > thr))} of {delta.size}")


def gs_values(case: harness.Case) -> np.ndarray:
    return np.asarray(gradscope.log10_singular_values(case.steps()))


def regressions(n64_T: int) -> None:
    print("\nRegressions of issue 14 (gradscope vs the exact reference):")
    c = harness.relu_dead_units_case()
    ref = harness.reference_log10_singular_values(c)
    g = gs_values(c)
    print(
        f"  {c.name} (n 6, T 40, one spike, a dead unit; exact rank {ref.rank}): "
        f"log10 σ₂ {g[1]:.8f} vs {ref.log10_sigma[1]:.8f} "
        f"(Δ {abs(g[1] - ref.log10_sigma[1]):.1e}); "
        f"zeros {int(np.sum(np.isneginf(g)))} vs {int(np.sum(np.isneginf(ref.log10_sigma)))}"
    )
    off = 0
    for c in harness.small_tanh_cases():
        ref = harness.reference_log10_singular_values(c)
        g = gs_values(c)
        d = compare(g, ref.log10_sigma)["delta"]
        worst = float(d.max()) if d.size else math.nan
        off += worst > 1e-6
        print(
            f"  {c.name:28s} n {c.n}, {c.family:10s} ‖W‖₂ {np.linalg.norm(c.W, 2):.3f}: "
            f"smallest log10 σ {g[-1]:.8f} vs {ref.log10_sigma[-1]:.8f}; worst |Δ| {fmt(worst)}"
        )
    print(f"    {off} of 12 small tanh runs have a value off by more than 1e-6 decades")
    c = harness.gaussian_array_case(64, n64_T)
    t0 = time.perf_counter()
    g = gs_values(c)
    t_gs = time.perf_counter() - t0
    t0 = time.perf_counter()
    det = harness.reference_log10_abs_det(c)
    t_det = time.perf_counter() - t0
    total = harness.sum_log10(g)
    print(
        f"  {c.name} (explicit N(0, 1/n) steps): Σ log10 σ_i {total:.10f} vs exact "
        f"Σ_t log10|det J_t| {det:.10f}: Δ {abs(total - det):.2e} decades "
        f"({abs(total - det) * math.log(10):.2e} in ln); spectrum {g[0]:.2f} … {g[-1]:.2f} "
        f"[gradscope {t_gs:.1f} s, det reference {t_det:.1f} s]"
    )
    c = harness.badly_scaled_case()
    ref = harness.reference_log10_singular_values(c)
    g = gs_values(c)
    print(
        f"  {c.name} (diag(1e250, 1), one linear step): log10 σ = {g.tolist()} vs "
        f"{ref.log10_sigma.tolist()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300, help="generated cases (default 300)")
    parser.add_argument("--smoke", action="store_true", help="40 cases, n = 64 at T = 400")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args()
    count = 40 if args.smoke else args.cases
    n64_T = 400 if args.smoke else 4000
    t_start = time.perf_counter()
    with threadpool_limits(args.threads):
        pools = ", ".join(
            f"{Path(p['filepath']).name.split('-')[0]} {p['num_threads']}"
            for p in threadpool_info()
        )
        print(
            f"python {sys.version.split()[0]}, numpy {np.__version__}, gradscope "
            f"{gradscope.__version__}; BLAS pools: {pools}"
        )
        print(
            f"{count} generated cases (seeds 0..{count - 1}), "
            f"harness root seed {harness.ROOT_SEED}\n"
        )
        rows: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
        errors: dict[tuple[str, str], list[str]] = defaultdict(list)
        t_ref = t_gs = 0.0
        worst_all: list[tuple[float, str, str]] = []
        max_dps = (0, "")
        for case in harness.generate_cases(count):
            key = (case.family, case.activation)
            t0 = time.perf_counter()
            ref = harness.reference_log10_singular_values(case)
            t_ref += time.perf_counter() - t0
            max_dps = max(max_dps, (ref.confirm_dps, case.name))
            t0 = time.perf_counter()
            try:
                g = gs_values(case)
            except Exception as exc:  # a failure is a result here, counted and named
                errors[key].append(f"{case.name}: {type(exc).__name__}: {exc}")
                continue
            finally:
                t_gs += time.perf_counter() - t0
            r = compare(g, ref.log10_sigma)
            r["name"] = case.name
            r["worst"] = float(r["delta"].max()) if r["delta"].size else 0.0
            rows[key].append(r)
            if r["worst"] > 1e-6 or r["false_zero"] or r["false_finite"]:
                worst_all.append(
                    (
                        r["worst"],
                        case.name,
                        f"|Δ| {r['worst']:.2e}, false 0 {r['false_zero']}, false finite "
                        f"{r['false_finite']}; σ from {ref.log10_sigma[0]:.2f}",
                    )
                )
        table(rows, errors)
        print(
            f"\nreferences {t_ref:.1f} s (highest precision: {max_dps[0]} digits, {max_dps[1]}); "
            f"gradscope {t_gs:.1f} s"
        )
        for key, msgs in errors.items():
            for m in msgs:
                print(f"  error [{key[0]}/{key[1]}] {m}")
        if worst_all:
            print("cases off by more than 1e-6 decades or with a zero mismatch, worst first:")
            for _, name, text in sorted(worst_all, reverse=True)[:25]:
                print(f"  {name:48s} {text}")
            if len(worst_all) > 25:
                print(f"  … and {len(worst_all) - 25} more")
        regressions(n64_T)
    print(f"\ntotal {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
