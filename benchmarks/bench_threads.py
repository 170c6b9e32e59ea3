"""compute_singular_values against the naive product + SVD at default threads, one tree.

Run: ``python benchmarks/bench_threads.py TREE T OUT.npz`` (TREE: a gradscope checkout,
e.g. this worktree or main; run two trees alternately to compare). Prints the two
cases of bench_spectrum.py at n = 256 and saves the values and error bars to OUT.npz,
so two trees' results can be compared bit for bit.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    if sys.argv[1:] == ["--smoke"]:  # CI: this checkout, a short horizon, a scratch file
        import os
        import tempfile

        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        sys.argv[1:] = [here, "20", os.path.join(tempfile.mkdtemp(), "smoke.npz")]
    root, T, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sys.path[:0] = [root, root + "/benchmarks"]
    import numpy as np
    from bench_spectrum import case_steps, naive_log10

    import gradscope
    from gradscope.numeric.spectrum import compute_singular_values

    print(gradscope.__file__)
    out = {}
    for case in "ab":
        steps, _ = case_steps(case, 256, T)
        t0 = time.perf_counter()
        result = compute_singular_values(steps)
        t1 = time.perf_counter()
        naive_log10(steps)
        t2 = time.perf_counter()
        print(case, f"graded {t1 - t0:.2f} naive {t2 - t1:.2f} ratio {(t1 - t0) / (t2 - t1):.2f}")
        out[case] = np.asarray(result.log10_singular_values)
        out[case + "e"] = np.asarray(result.log10_error)
    np.savez(out_path, **out)


if __name__ == "__main__":
    main()
