"""The error bound of the σ₁ path: no ``log10_error`` of a spectral norm is ever exceeded.

Hypothesis (DESIGN.md §5, the accuracy contract, for
:func:`~gradscope.numeric.products.compute_spectral_norm`, the horizons' and the
bound's :func:`~gradscope.numeric.products.scan_product`): the reported bound
covers the distance of log10 σ₁ from the exact product of the stored float64
step data, and an exact zero (NaN bound) is reported only when the exact product
is zero. References: the exact integer product rounded to 40 and 60 digits and
an SVD in mpmath (:func:`tests.numeric.harness.reference_log10_norm`); for LSTM
and GRU steps, whose Jacobians are sums of gate terms, the same steps evaluated
in 60-digit mpmath arithmetic.
"""

from __future__ import annotations

import json
import math

import mpmath as mp
import numpy as np
import pytest
from click.testing import CliRunner

from gradscope.cli import main
from gradscope.errors import NumericalError
from gradscope.numeric.cells import GRUSteps, LSTMSteps
from gradscope.numeric.products import compute_spectral_norm, log10_product_norm, scan_product
from gradscope.numeric.spectrum import compute_singular_values
from gradscope.numeric.steps import RNNSteps, Steps, StreamSteps
from gradscope.studies.bound import compute_bound, judging_slack, rounding_tolerance
from tests.numeric.harness import Case, case_from_name, generate_cases, reference_log10_norm

DEFAULT_CASES = 300
SLOW_CASES = 2000


def outside(value: float, error: float, exact: float, exact_error: float) -> bool:
    """Whether a computed (value, bound) pair misses the exact value."""
    if math.isinf(error):
        return False  # "not determined by the data": no claim to check
    if math.isnan(error):
        return not (math.isinf(value) and math.isinf(exact))
    return not (math.isfinite(exact) and abs(value - exact) <= error + exact_error)


def violations(case: Case) -> list[str]:
    try:
        got = compute_spectral_norm(case.steps())
    except NumericalError:  # a single step's entries overflow the forward product: refused
        return []
    exact, exact_error = reference_log10_norm(case)
    v, e = float(got.log10_norm), float(got.log10_error)
    out = []
    if outside(v, e, exact, exact_error):
        out.append(f"{case.name}: {v!r} ± {e!r}, exact {exact!r}")
    if case.explicit:  # a stream is read once: the bound from the first pass alone
        stream = compute_spectral_norm(StreamSteps(case.J[t] for t in range(case.T)))
        vs, es = float(stream.log10_norm), float(stream.log10_error)
        looser = es >= e or math.isnan(e)  # an exact zero needs the second pass
        if vs != v or outside(vs, es, exact, exact_error) or not looser:
            out.append(f"{case.name} (stream): {vs!r} ± {es!r}, exact {exact!r}")
    return out


@pytest.mark.parametrize("start", range(0, DEFAULT_CASES, 100))
def test_no_spectral_norm_outside_its_bound(start):
    """Hypothesis: |log10 σ₁ − exact| <= log10_error on every generated case."""
    bad = [v for c in generate_cases(100, seed_list_start=start) for v in violations(c)]
    assert not bad, "\n".join(bad[:20])


@pytest.mark.slow
@pytest.mark.parametrize("start", range(DEFAULT_CASES, DEFAULT_CASES + SLOW_CASES, 250))
def test_no_spectral_norm_outside_its_bound_slow(start):
    """The same hypothesis on 2000 more cases (seeds 300..2299)."""
    bad = [v for c in generate_cases(250, seed_list_start=start) for v in violations(c)]
    assert not bad, "\n".join(bad[:20])


def _engines_disagree(case: Case) -> list[str]:
    """σ₁ from the σ₁ path against σ₁ from the graded engine, within both bounds."""
    try:
        norm = compute_spectral_norm(case.steps())
    except NumericalError:
        return []
    graded = compute_singular_values(case.steps())
    a, ea = float(norm.log10_norm), float(norm.log10_error)
    b, eb = float(graded.log10_singular_values[0]), float(graded.log10_error[0])
    if math.isinf(ea) or math.isinf(eb):
        return []  # one side says "not determined by the data"
    if math.isnan(ea) or math.isnan(eb):  # an exact zero on one side: both must say so
        same = math.isnan(ea) and math.isnan(eb) and math.isinf(a) and math.isinf(b)
        return [] if same else [f"{case.name}: {a!r} ± {ea!r} against graded {b!r} ± {eb!r}"]
    if abs(a - b) <= ea + eb:
        return []
    return [f"{case.name}: {a!r} ± {ea!r} against graded {b!r} ± {eb!r}"]


@pytest.mark.parametrize("start", range(0, DEFAULT_CASES, 100))
def test_the_sigma1_path_and_the_graded_engine_agree_within_their_bounds(start):
    """Hypothesis: the two engines behind σ₁ (the power product of ``products.py`` and the
    graded block loop) give the same log10 σ₁ within the sum of their error bounds, on the
    harness cases; an exact zero is one on both sides."""
    bad = [v for c in generate_cases(100, seed_list_start=start) for v in _engines_disagree(c)]
    assert not bad, "\n".join(bad[:20])


def test_the_bounds_are_small_on_benign_families():
    """Hypothesis: the bound says something: on gaussian, orthogonal and uniform W with
    tanh or linear steps it is below 1e-9 decades (it is about T n u, not a constant)."""
    cases = [
        c
        for c in generate_cases(300)
        if c.family in ("gaussian", "orthogonal", "uniform")
        and c.activation in ("tanh", "linear")
        and abs(c.scale_exponent) < 100
    ]
    assert len(cases) >= 20
    errors = [float(compute_spectral_norm(c.steps()).log10_error) for c in cases]
    assert max(errors) < 1e-9, max(errors)


def test_an_underflowed_product_is_not_an_exact_zero():
    """Regression: sigmoid steps with W ~ 1e-229 underflow the forward product to 0 at
    step 3, where the exact product is 10^-1502.6; the value is reported as undetermined
    (inf), never as an exact zero."""
    case = case_from_name("gaussian/sigmoid/n4/T6/e-229/x2/s1961")
    got = compute_spectral_norm(case.steps())
    exact, _ = reference_log10_norm(case)
    assert math.isfinite(exact) and exact < -1500
    assert got.log10_norm == -math.inf
    assert got.log10_error == math.inf


def test_an_exactly_zero_product_is_an_exact_zero():
    """Hypothesis: a step with every unit off (ReLU, z <= 0) makes the product exactly zero,
    and so do zero patterns alone (a nilpotent shift): the bound is NaN (JSON null)."""
    W = np.random.default_rng(0).standard_normal((4, 4))
    dphi = np.ones((10, 4))
    dphi[5] = 0.0
    got = compute_spectral_norm(RNNSteps(W, dphi))
    assert got.log10_norm == -math.inf and math.isnan(got.log10_error)
    shift = np.diag(np.full(3, 1.5), k=1)  # strictly upper triangular: shift**4 = 0
    got = compute_spectral_norm(RNNSteps(shift, np.full((6, 4), 0.7)))
    assert got.log10_norm == -math.inf and math.isnan(got.log10_error)


def _mp_product_log10_norm(steps: Steps, T: int, dps: int = 60) -> float:
    """log10 σ₁ of J_T ⋯ J_1 with each J_t = steps.apply(t, I) evaluated in mpmath."""
    n = steps.n
    with mp.workdps(dps):
        eye = np.array([[mp.mpf(int(i == j)) for j in range(n)] for i in range(n)], dtype=object)
        P = eye
        for t in range(1, T + 1):
            P = steps.apply(t, eye).dot(P)
        top = max(mp.svd_r(mp.matrix(P.tolist()), compute_uv=False))
        return float(mp.log10(top))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("seed", range(6))
def test_gated_steps_against_mpmath(kind, seed):
    """Hypothesis: the bound also covers steps whose apply sums several gate terms,
    against the same steps evaluated in 60-digit arithmetic."""
    rng = np.random.default_rng(seed)
    hidden, T = 3, 40
    if kind == "lstm":
        W = rng.standard_normal((4 * hidden, hidden))
        coef = np.concatenate(
            [rng.uniform(-0.3, 0.3, (T, 4 * hidden)), rng.uniform(0.5, 1.0, (T, 2 * hidden))],
            axis=1,
        )
        steps: Steps = LSTMSteps(W, coef)
    else:
        W = rng.standard_normal((3 * hidden, hidden))
        coef = np.concatenate(
            [rng.uniform(-0.3, 0.3, (T, 3 * hidden)), rng.uniform(0.0, 1.0, (T, hidden))], axis=1
        )
        steps = GRUSteps(W, coef)
    got = compute_spectral_norm(steps)
    exact = _mp_product_log10_norm(steps, T)
    assert abs(float(got.log10_norm) - exact) <= float(got.log10_error)
    assert float(got.log10_error) < 1e-10


def test_scan_and_batches_carry_the_same_bound_as_one_product():
    """Hypothesis: the bound of an entry does not depend on its batch or on the scan
    that computed it (the horizons drop finished entries after the norm is taken)."""
    cases = [
        c
        for c in generate_cases(300)
        if c.activation == "tanh" and c.family in ("gaussian", "orthogonal", "uniform")
    ]
    n = cases[0].n
    cases = [c for c in cases if c.n == n and c.T >= 20][:3]
    assert len(cases) >= 2
    T = min(c.T for c in cases)
    W = np.stack([c.W for c in cases])
    dphi = np.stack([c.dphi[:T] for c in cases])
    scan = scan_product(RNNSteps(W, dphi), norm_at=T // 2, thresholds=(1e-3,))
    for j, c in enumerate(cases):
        one = compute_spectral_norm(RNNSteps(c.W, c.dphi[:T]), end=T // 2)
        assert scan.log10_norm[j] == pytest.approx(one.log10_norm, abs=1e-12)
        assert scan.log10_error[j] == pytest.approx(one.log10_error, rel=1e-9)
        exact, exact_error = reference_log10_norm(c, 0, T // 2)
        assert not outside(scan.log10_norm[j], scan.log10_error[j], exact, exact_error)


def test_the_convenience_returns_the_same_value():
    J = np.random.default_rng(3).standard_normal((50, 5, 5))
    assert compute_spectral_norm(J).log10_norm == log10_product_norm(J)


def test_judging_slack_takes_the_smaller_valid_bound():
    """The a posteriori bound when it is smaller, the a priori tolerance otherwise; none
    for an exact zero."""
    tol = rounding_tolerance(100, 8)
    assert judging_slack(tol / 10, 100, 8) == tol / 10
    assert judging_slack(math.inf, 100, 8) == tol
    assert judging_slack(math.nan, 100, 8) == 0.0


def test_bound_rows_carry_errors_and_holds_for_an_exact_equality():
    """A scaled orthogonal linear W meets the bound exactly (‖W^T‖ = ‖W‖^T): the measured
    value may round above it, by less than its error, and the bound holds."""
    r = compute_bound(
        norm=0.9, T=100, hidden=16, seeds=2, families=["orthogonal"], activations=["linear"]
    )
    row = r.rows[0]
    for s in row.per_seed:
        assert 0 < s.log10_error < 1e-8
        assert abs(s.log10_measured - s.log10_bound) <= s.log10_error
        assert s.holds
    assert row.log10_error == row.per_seed[row.worst_seed].log10_error


def test_bound_json_and_table_show_the_errors():
    runner = CliRunner()
    args = ["bound", "--norm", "0.9", "--T", "30", "--hidden", "8", "--seeds", "2"]
    out = runner.invoke(main, [*args, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    for row in data["rows"]:
        errors = [s["log10_error"] for s in row["per_seed"]]
        assert all(isinstance(e, float) and 0 < e < 1e-8 for e in errors)
        assert row["log10_error"] in errors
    table = runner.invoke(main, args)
    assert table.exit_code == 0
    assert "error bounds: every log10 measured is within ±" in table.output
