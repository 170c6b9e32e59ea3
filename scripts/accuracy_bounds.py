"""Print the distribution of the error bounds per family over the harness cases.

Usage: ``python scripts/accuracy_bounds.py [CASES]`` (default 2300; about two minutes).

Bounds and actual errors are relative to max(1, |log10 σ|); "inf" counts the values
whose bound is undetermined and the zeros that are not provably exact (the NaN bounds
of exact zeros are left out).
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradscope.numeric.spectrum import compute_singular_values
from tests.numeric.harness import generate_cases, reference_log10_singular_values


def _quantile(values: list[float], q: float) -> str:
    return f"{np.quantile(values, q):.1e}" if values else "–"


def main(count: int) -> None:
    bounds: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # values, undetermined
    for case in generate_cases(count):
        got = compute_singular_values(case.steps())
        ref = reference_log10_singular_values(case).log10_sigma
        key = case.family if case.explicit else f"{case.family}/{case.activation}"
        for s, e, r in zip(got.log10_singular_values, got.log10_error, ref, strict=True):
            if math.isnan(e):
                continue
            counts[key][0] += 1
            if math.isinf(e):
                counts[key][1] += 1
                continue
            scale = max(1.0, abs(s))
            bounds[key].append(e / scale)
            if np.isfinite(r):
                errors[key].append(abs(s - r) / scale)
    print(
        f"{'family/activation':24s} {'values':>6s} {'inf':>5s} {'median bound':>12s} "
        f"{'worst bound':>11s} {'median err':>10s} {'worst err':>9s}"
    )
    for key in sorted(counts):
        b, er = bounds[key], errors[key]
        print(
            f"{key:24s} {counts[key][0]:6d} {counts[key][1]:5d} {_quantile(b, 0.5):>12s} "
            f"{_quantile(b, 1.0):>11s} {_quantile(er, 0.5):>10s} {_quantile(er, 1.0):>9s}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2300)
