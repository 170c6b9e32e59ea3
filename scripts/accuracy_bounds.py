"""Print the distribution of the error bounds per family over the harness cases.

Usage: ``python scripts/accuracy_bounds.py [CASES] [--what spectrum|norm|top]``
(default 2300 cases of the whole spectrum; about two minutes).

* ``spectrum``: every singular value of :func:`compute_singular_values`;
* ``norm``: σ₁ of :func:`compute_spectral_norm` (the forward product behind
  ``bound``, the horizons and the claims), against σ₁ of the exact product;
* ``top``: the top min(3, n) values of :func:`compute_top_spectrum` (matrix-free);
* ``gated``: every singular value of random LSTM and GRU steps (hidden 3–6, T 10–60,
  gate coefficients as in ``tests/numeric/test_spectral_norm_error.py``, CASES of
  each), against the same steps evaluated in mpmath at 40 digits more than the
  spread (confirmed at 1.5 times that).

Bounds and actual errors are relative to max(1, |log10 σ|); "inf" counts the values
whose bound is undetermined and the zeros that are not provably exact (the NaN bounds
of exact zeros are left out); "≤1e-10" is the share of the finite-or-not bounds
within issue 15's tightness target, 1e-10 · max(1, |log10 σ|).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradscope.errors import NumericalError
from gradscope.numeric.matrixfree import compute_top_spectrum
from gradscope.numeric.products import compute_spectral_norm
from gradscope.numeric.spectrum import compute_singular_values
from tests.numeric.harness import (
    Case,
    generate_cases,
    reference_log10_norm,
    reference_log10_singular_values,
)


def _quantile(values: list[float], q: float) -> str:
    return f"{np.quantile(values, q):.1e}" if values else "–"


def _values(case: Case, what: str) -> list[tuple[float, float, float]] | None:
    """(value, bound, exact) per value, or None when the method refuses the case."""
    if what == "norm":
        try:
            got = compute_spectral_norm(case.steps())
        except NumericalError:  # a step overflows the forward product: refused
            return None
        return [(float(got.log10_norm), float(got.log10_error), reference_log10_norm(case)[0])]
    ref = reference_log10_singular_values(case).log10_sigma
    if what == "top":
        k = min(3, case.n)
        top = compute_top_spectrum(case.steps(), k=k, seed=0)
        return list(zip(top.log10_singular_values, top.log10_error, ref[:k], strict=True))
    got = compute_singular_values(case.steps())
    return list(zip(got.log10_singular_values, got.log10_error, ref, strict=True))


def _gated_cases(count: int) -> list[tuple[str, object, int]]:
    """(key, steps, T) of ``count`` random LSTM and ``count`` random GRU runs."""
    from gradscope.numeric.cells import GRUSteps, LSTMSteps

    out: list[tuple[str, object, int]] = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        hidden, T = int(rng.integers(3, 7)), int(rng.integers(10, 61))
        W = rng.standard_normal((4 * hidden, hidden))
        coef = np.concatenate(
            [rng.uniform(-0.3, 0.3, (T, 4 * hidden)), rng.uniform(0.5, 1.0, (T, 2 * hidden))],
            axis=1,
        )
        out.append(("lstm", LSTMSteps(W, coef), T))
        W = rng.standard_normal((3 * hidden, hidden))
        coef = np.concatenate(
            [rng.uniform(-0.3, 0.3, (T, 3 * hidden)), rng.uniform(0.0, 1.0, (T, hidden))], axis=1
        )
        out.append(("gru", GRUSteps(W, coef), T))
    return out


def _mp_log10_sigma(steps: object, T: int, dps: int) -> list[float]:
    """log10 σ_i of J_T ⋯ J_1, each J_t = steps.apply(t, I) evaluated in mpmath at ``dps``."""
    import mpmath as mp

    n = steps.n  # type: ignore[attr-defined]
    with mp.workdps(dps):
        eye = np.array([[mp.mpf(int(i == j)) for j in range(n)] for i in range(n)], dtype=object)
        P = eye
        for t in range(1, T + 1):
            P = steps.apply(t, eye).dot(P)  # type: ignore[attr-defined]
        sv = sorted(mp.svd_r(mp.matrix(P.tolist()), compute_uv=False), reverse=True)
        return [float(mp.log10(v)) for v in sv]


def main_gated(count: int) -> None:
    """The ``gated`` distribution: LSTM and GRU steps against mpmath."""
    rows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, steps, T in _gated_cases(count):
        got = compute_singular_values(steps)  # type: ignore[arg-type]
        finite = got.log10_singular_values[np.isfinite(got.log10_singular_values)]
        dps = 40 + int(finite.max() - finite.min())  # the spread, and 40 digits below it
        ref = _mp_log10_sigma(steps, T, dps)
        confirm = _mp_log10_sigma(steps, T, dps * 3 // 2)
        assert np.allclose(ref, confirm, rtol=0, atol=1e-12), "raise the precision"
        for s, e, r in zip(got.log10_singular_values, got.log10_error, ref, strict=True):
            scale = max(1.0, abs(s))
            rows[key].append((e / scale, abs(s - r) / scale))
    print(f"gated: {count} LSTM and {count} GRU runs against mpmath")
    print(
        f"{'cell':6s} {'values':>6s} {'≤1e-10':>7s} {'median bound':>12s} {'worst bound':>11s} "
        f"{'worst err':>9s} {'outside':>7s}"
    )
    for key, values in sorted(rows.items()):
        b = np.array([v[0] for v in values])
        err = np.array([v[1] for v in values])
        print(
            f"{key:6s} {b.size:6d} {np.mean(b <= 1e-10):7.1%} {np.median(b):12.1e} "
            f"{b.max():11.1e} {err.max():9.1e} {int(np.sum(err > b)):7d}"
        )


def main(count: int, what: str) -> None:
    bounds: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # values, inf, within
    refused = 0
    for case in generate_cases(count):
        rows = _values(case, what)
        if rows is None:
            refused += 1
            continue
        key = case.family if case.explicit else f"{case.family}/{case.activation}"
        for s, e, r in rows:
            if math.isnan(e):
                continue
            counts[key][0] += 1
            scale = max(1.0, abs(s)) if math.isfinite(s) else 1.0
            if math.isinf(e):
                counts[key][1] += 1
                continue
            counts[key][2] += e / scale <= 1e-10
            bounds[key].append(e / scale)
            if np.isfinite(r) and math.isfinite(s):
                errors[key].append(abs(s - r) / scale)
    print(f"{what}: {count} cases" + (f", {refused} refused" if refused else ""))
    print(
        f"{'family/activation':24s} {'values':>6s} {'inf':>5s} {'≤1e-10':>7s} "
        f"{'median bound':>12s} {'worst bound':>11s} {'median err':>10s} {'worst err':>9s}"
    )
    for key in sorted(counts):
        b, er = bounds[key], errors[key]
        n, inf, within = counts[key]
        print(
            f"{key:24s} {n:6d} {inf:5d} {within / n if n else 0:7.1%} "
            f"{_quantile(b, 0.5):>12s} {_quantile(b, 1.0):>11s} "
            f"{_quantile(er, 0.5):>10s} {_quantile(er, 1.0):>9s}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", type=int, default=2300)
    parser.add_argument("--what", choices=("spectrum", "norm", "top", "gated"), default="spectrum")
    args = parser.parse_args()
    if args.what == "gated":
        main_gated(args.cases)
    else:
        main(args.cases, args.what)
