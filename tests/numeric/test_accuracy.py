"""The differential harness: no singular value is ever outside its reported error bound.

Hypothesis (DESIGN.md §5, the accuracy contract): every ``log10_error`` that
:func:`~gradscope.numeric.spectrum.compute_singular_values` reports bounds the
distance of its value from the exact product of the stored float64 step data,
and a value is reported as an exact zero (``-inf`` with a NaN bound) only when
the exact product has that zero. The references are exact (tests/numeric/harness.py:
integer products, mpmath at a precision chosen from the spread and confirmed at
1.5 times the digits, the exact rank).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradscope.numeric.spectrum import compute_lyapunov, compute_singular_values
from tests.numeric.harness import (
    Case,
    badly_scaled_case,
    gaussian_array_case,
    generate_cases,
    reference_log10_abs_det,
    reference_log10_singular_values,
    relu_dead_units_case,
    small_tanh_cases,
)

DEFAULT_CASES = 300
SLOW_CASES = 2000


def violations(case: Case) -> list[str]:
    """Every value of ``case`` outside its bound, or a zero claimed exact that is not."""
    got = compute_singular_values(case.steps())
    ref = reference_log10_singular_values(case)
    s, e, r = got.log10_singular_values, got.log10_error, ref.log10_sigma
    out = []
    for i in range(case.n):
        if math.isinf(e[i]):
            continue  # "not determined by the data": no claim to check
        if math.isnan(e[i]):
            ok = not np.isfinite(s[i]) and not np.isfinite(r[i])
        else:
            ok = bool(np.isfinite(r[i])) and abs(s[i] - r[i]) <= e[i] + ref.log10_error[i]
        if not ok:
            out.append(f"{case.name} σ_{i + 1}: {s[i]!r} ± {e[i]!r}, exact {r[i]!r}")
    return out


@pytest.mark.parametrize("start", range(0, DEFAULT_CASES, 50))
def test_no_value_outside_its_bound(start):
    """Hypothesis: |log10 σ_i − exact| <= log10_error_i on every generated case."""
    bad = [v for c in generate_cases(50, seed_list_start=start) for v in violations(c)]
    assert not bad, "\n".join(bad[:20])


@pytest.mark.slow
@pytest.mark.parametrize("start", range(DEFAULT_CASES, DEFAULT_CASES + SLOW_CASES, 250))
def test_no_value_outside_its_bound_slow(start):
    """The same hypothesis on 2000 more cases (seeds 300..2299)."""
    bad = [v for c in generate_cases(250, seed_list_start=start) for v in violations(c)]
    assert not bad, "\n".join(bad[:20])


def test_bounds_are_finite_and_small_where_the_data_allow():
    """Hypothesis: the bounds say something: on the benign families (gaussian, orthogonal,
    uniform) the largest value's bound is below 1e-7 decades."""
    for case in generate_cases(140):
        if case.family in ("gaussian", "orthogonal", "uniform"):
            got = compute_singular_values(case.steps())
            if np.isfinite(got.log10_singular_values[0]):  # not an exact zero (underflowed φ')
                assert got.log10_error[0] < 1e-7, (case.name, got.log10_error[0])


@pytest.mark.parametrize(
    "case",
    [relu_dead_units_case(), *small_tanh_cases(), badly_scaled_case()],
    ids=lambda c: c.name,
)
def test_the_issue_regressions_are_inside_their_bounds(case):
    """Regression (issue 14): ReLU with dead units, twelve small tanh RNNs, diag(1e250, 1)."""
    assert not violations(case)


def test_relu_dead_units_are_exact_zeros():
    got = compute_singular_values(relu_dead_units_case().steps())
    zero = ~np.isfinite(got.log10_singular_values)
    assert zero.sum() == 3 and np.all(np.isnan(got.log10_error[zero]))


def test_diag_1e250_1_reports_sigma_2_with_a_tiny_bound():
    got = compute_singular_values(badly_scaled_case().steps())
    assert got.log10_singular_values == pytest.approx([250.0, 0.0], abs=1e-12)
    # σ₂'s log scale is a sum of terms near ±575 (the block's common scale and its
    # row's peak), so its own rounding is about u · 575 per addition.
    assert np.all(got.log10_error < 1e-11)


@pytest.mark.slow
def test_gaussian_arrays_n64_keep_the_determinant_identity_within_their_bounds():
    """Regression (issue 14): Σ log10 σ_i of 4000 i.i.d. Gaussian 64 × 64 factors missed the
    exact Σ_t log10 |det A_t| by 1.6e-2 decades; the miss must lie within the summed bounds."""
    case = gaussian_array_case(n=64, T=4000)
    got = compute_singular_values(case.steps())
    miss = abs(float(got.log10_singular_values.sum()) - reference_log10_abs_det(case))
    assert miss <= float(got.log10_error.sum())


def test_lyapunov_errors_bound_the_rounding_against_a_qr_every_step():
    """Hypothesis: compute_lyapunov's bound covers the difference to the same QR iteration
    with a QR after every step (a different, more accurate partition of the same sums)."""
    from gradscope.numeric.graded import graded_product

    for case in generate_cases(70):
        if case.T < 10 or case.explicit:
            continue
        steps = case.steps()
        res = compute_lyapunov(steps)
        fine = graded_product(steps, 0, case.T, accumulate=False, cond_limit=1.0, max_block=1)
        ref = np.sort(fine.log_diag / fine.steps)[::-1]
        live = np.isfinite(res.exponents) & np.isfinite(ref) & np.isfinite(res.lyapunov_error)
        gap = np.abs(res.exponents[live] - ref[live])
        assert np.all(gap <= res.lyapunov_error[live] + 1e-13), case.name
