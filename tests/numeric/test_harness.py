"""Tests of the differential harness itself (``tests/numeric/harness.py``, issue 14).

The harness's references judge gradscope, so they are checked here first, and
only against facts that do not come from the reference code: closed forms
(diagonal and scaled exactly-orthogonal products, Jordan-block powers, the 2 × 2
singular values by hand formula from an exact ``fractions.Fraction`` product),
the pure-Python integer product and rank of ``tests/numeric/__init__.py``, the
rigorous python-flint route, numpy's ``slogdet`` where it is accurate, and the
determinant identity Σ log10 σ_i = Σ_t log10 |det J_t|. Then: the cases are
reproducible byte for byte (also in a fresh process), and the generator covers
what issue 14 asks for.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from fractions import Fraction
from functools import cache
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradscope.init import FAMILIES
from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.steps import ArraySteps, RNNSteps
from tests.numeric import exact_product as pure_exact_product
from tests.numeric import exact_rank as pure_exact_rank
from tests.numeric import harness

DEFAULT_COUNT = 300  # cases whose references the default run computes
SLOW_COUNT = 2000  # cases of the slow run
ULP = 2.0**-52
REPO = Path(__file__).resolve().parents[2]

derandomized = settings(derandomize=True, deadline=None, max_examples=30)


@cache
def case(seed: int) -> harness.Case:
    return harness.make_case(seed)


@cache
def reference(seed: int) -> harness.ReferenceSpectrum:
    """In-memory only (DESIGN: nothing cached on disk): shared by the tests below."""
    return harness.reference_log10_singular_values(case(seed))


def assert_within(ref: harness.ReferenceSpectrum, exact: list[float], slack: float = 0.0) -> None:
    """Every reference value within its claimed error (+ float64 rounding) of ``exact``."""
    exact_arr = np.array(exact, dtype=float)
    assert ref.log10_sigma.shape == exact_arr.shape
    zero = np.isneginf(exact_arr)
    np.testing.assert_array_equal(np.isneginf(ref.log10_sigma), zero)
    got, want = ref.log10_sigma[~zero], exact_arr[~zero]
    tol = ref.log10_error[~zero] + 2 * ULP * np.abs(want) + 1e-300 + slack
    bad = np.abs(got - want) > tol
    assert not bad.any(), (
        f"reference {got[bad]} vs exact {want[bad]} (claimed {ref.log10_error[~zero][bad]})"
    )


def rnn_case(W: np.ndarray, dphi: np.ndarray, name: str = "test") -> harness.Case:
    T, n = dphi.shape
    return harness.Case(
        name=name, family="test", activation="test", n=n, T=T, seed=0, dphi=dphi, W=W
    )


def array_case(J: np.ndarray, name: str = "test") -> harness.Case:
    T, n, _ = J.shape
    return harness.Case(name=name, family="test", activation="explicit", n=n, T=T, seed=0, J=J)


# --- the Case object -----------------------------------------------------------------


def test_steps_hold_exactly_the_case_arrays() -> None:
    """Case.steps() hands gradscope the very arrays the reference multiplies."""
    for seed in range(len(harness.COMBOS)):
        c = case(seed)
        steps = c.steps()
        if c.explicit:
            assert isinstance(steps, ArraySteps)
            assert steps.jacobians is c.J
        else:
            assert isinstance(steps, RNNSteps)
            assert steps.W_hh is c.W and steps.dphi is c.dphi
            t = 1 + seed % c.T
            np.testing.assert_array_equal(steps.matrix(t), c.dphi[t - 1][:, None] * c.W)
        for a in (c.dphi, c.W, c.J):
            assert a is None or (not a.flags.writeable and a.dtype == np.float64)


def test_rnn_cases_store_the_steps_of_rnn_steps() -> None:
    """An RNN case's dphi and W are rnn_steps' own arrays (regression constructors)."""
    rnn = RNN(W_hh=np.diag([1e250, 1.0]), W_xh=np.ones((2, 1)), activation="linear")
    steps = rnn_steps(rnn, np.zeros((1, 1)))
    c = harness.badly_scaled_case()
    assert c.W.tobytes() == steps.W_hh.tobytes() and c.dphi.tobytes() == steps.dphi.tobytes()


def test_case_rejects_bad_data() -> None:
    with pytest.raises(ValueError, match="finite"):
        rnn_case(np.array([[np.inf]]), np.ones((1, 1)))
    with pytest.raises(ValueError, match="either"):
        harness.Case(
            name="x",
            family="x",
            activation="x",
            n=1,
            T=1,
            seed=0,
            J=np.ones((1, 1, 1)),
            W=np.ones((1, 1)),
        )


# --- closed forms ----------------------------------------------------------------------


def diagonal_exact(w: list[float], d: list[float], T: int) -> list[float]:
    """σ of (diag(d) diag(w))^T: |d_i w_i|^T, in log10 (d_i w_i exact at 200 bits)."""
    with mp.workprec(200):
        out = [
            T * float(mp.log10(abs(mp.mpf(a) * mp.mpf(b)))) if a and b else -math.inf
            for a, b in zip(d, w, strict=True)
        ]
    return sorted(out, reverse=True)


@pytest.mark.parametrize(
    ("w", "d", "T"),
    [
        ([0.9, 0.5, 2.0], [1.0, 1.0, 1.0], 10),
        ([1e300, 1.0, 1e-300], [0.25, 1.0, 0.125], 7),
        ([0.7, -1.3, 1e-5, 3.0], [0.3, 1e-200, 0.9, 0.0], 12),  # σ₁/σ₃ = 1e2400
        ([0.999, 1.001], [1.0, 1.0], 1000),
    ],
)
def test_diagonal_W_with_constant_dphi_is_a_power(w, d, T) -> None:
    """Hypothesis: W = diag(w), dphi_t = d for all t gives σ = {|d_i w_i|^T} exactly."""
    c = rnn_case(np.diag(w), np.tile(d, (T, 1)))
    assert_within(harness.reference_log10_singular_values(c), diagonal_exact(w, d, T))


def _diagonal_data(n: int, T: int) -> st.SearchStrategy:
    e = max(1, 1500 // T)  # entries 1e±e: the spectrum spans up to 3000 decades
    return st.tuples(
        st.lists(st.floats(0.1, 10.0), min_size=n, max_size=n),
        st.lists(st.integers(-e, e), min_size=n, max_size=n),
        st.lists(st.floats(1e-3, 1.0), min_size=n, max_size=n),
        st.just(T),
    )


@derandomized
@given(st.tuples(st.integers(2, 6), st.integers(1, 300)).flatmap(lambda nT: _diagonal_data(*nT)))
def test_diagonal_closed_form_over_many_decades(data) -> None:
    mant, exps, d, T = data
    w = [m * 10.0**k for m, k in zip(mant, exps, strict=True)]
    c = rnn_case(np.diag(w), np.tile(d, (T, 1)))
    assert_within(harness.reference_log10_singular_values(c), diagonal_exact(w, d, T))


def exactly_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A float64 matrix that is orthogonal *exactly*: signed permutations, and H₄/2 ⊗ them."""

    def signed_perm(m: int) -> np.ndarray:
        return np.eye(m)[rng.permutation(m)] * rng.choice([-1.0, 1.0], m)

    if n % 4 == 0 and rng.random() < 0.7:
        H4 = 0.5 * np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1.0]])
        return signed_perm(n) @ np.kron(H4, signed_perm(n // 4)) @ signed_perm(n)
    return signed_perm(n)


@pytest.mark.parametrize(
    ("n", "c", "T"), [(4, 0.9, 1000), (8, 1.1, 300), (3, 1e-300, 40), (12, 1e300, 30), (2, 0.5, 1)]
)
def test_scaled_orthogonal_linear_rnn_has_all_sigma_c_to_the_T(n, c, T) -> None:
    """Hypothesis: a linear RNN with W = cQ (Q exactly orthogonal) has every σ = |c|^T."""
    Q = exactly_orthogonal(n, np.random.default_rng(n))
    assert np.array_equal(Q.T @ Q, np.eye(n))
    rnn = RNN(W_hh=c * Q, W_xh=np.ones((n, 1)), activation="linear")
    steps = rnn_steps(rnn, np.zeros((T, 1)))
    hc = rnn_case(steps.W_hh, steps.dphi)
    with mp.workdps(40):
        exact = float(T * mp.log10(mp.mpf(c)))
    assert_within(harness.reference_log10_singular_values(hc), [exact] * n)


def test_product_of_scaled_exact_orthogonal_arrays() -> None:
    """Explicit J_t = c_t Q_t (Q_t exactly orthogonal, c_t spanning 1e±300): σ = Π|c_t|."""
    rng = np.random.default_rng(3)
    n, T = 8, 60
    cs = rng.uniform(0.5, 2.0, T) * 10.0 ** rng.integers(-300, 300, T)
    J = np.stack([cs[t] * exactly_orthogonal(n, rng) for t in range(T)])
    with mp.workdps(40):
        exact = float(mp.fsum(mp.log10(abs(mp.mpf(x))) for x in cs))
    assert_within(harness.reference_log10_singular_values(array_case(J)), [exact] * n)


@pytest.mark.parametrize(("lam", "n", "T"), [(0.9, 3, 5), (-1.01, 6, 40), (0.5, 5, 200)])
def test_jordan_block_power_against_binomial_entries(lam, n, T) -> None:
    """Hypothesis: (λI + N)^T has entries C(T, k) λ^(T−k) on the k-th superdiagonal.

    The exact product is compared entry by entry as rationals; the σ of the
    reference with an mpmath SVD of the closed-form matrix (formed without the
    harness's product) at more digits.
    """
    W = lam * np.eye(n) + np.eye(n, k=1)
    c = rnn_case(W, np.ones((T, n)))
    N, E = harness.exact_product(c)
    lam_q = Fraction(lam)
    closed = [
        [
            math.comb(T, j - i) * lam_q ** (T - (j - i)) if 0 <= j - i <= T else Fraction(0)
            for j in range(n)
        ]
        for i in range(n)
    ]
    scale = Fraction(2) ** E
    entries = N.entries()
    for i in range(n):
        for j in range(n):
            assert Fraction(int(entries[i * n + j])) * scale == closed[i][j]
    ref = harness.reference_log10_singular_values(c)
    with mp.workdps(ref.confirm_dps + 30):
        A = mp.matrix([[mp.mpf(x.numerator) / x.denominator for x in row] for row in closed])
        S = sorted(mp.svd_r(A, compute_uv=False), reverse=True)
        exact = [float(mp.log10(s)) for s in S]
    assert_within(ref, exact)


def two_by_two_exact(factors: list[np.ndarray]) -> list[float]:
    """σ of a 2 × 2 product by hand: σ₁² = (S + √((S − 2|D|)(S + 2|D|)))/2, σ₂ = |D|/σ₁.

    S = ‖P‖_F², D = det P, from P multiplied exactly in Fractions (no flint):
    S − 2|D| = (σ₁ − σ₂)² is an exact rational, so nothing cancels.
    """
    P = [[Fraction(1), Fraction(0)], [Fraction(0), Fraction(1)]]
    for M in factors:
        F = [[Fraction(float(v)) for v in row] for row in M]
        P = [[F[i][0] * P[0][j] + F[i][1] * P[1][j] for j in range(2)] for i in range(2)]
    S = sum(x * x for row in P for x in row)
    D = abs(P[0][0] * P[1][1] - P[0][1] * P[1][0])
    if S == 0:
        return [-math.inf, -math.inf]

    def mpq(q: Fraction) -> mp.mpf:
        return mp.mpf(q.numerator) / q.denominator

    with mp.workdps(60):
        s1 = mp.sqrt((mpq(S) + mp.sqrt(mpq((S - 2 * D) * (S + 2 * D)))) / 2)
        out = [float(mp.log10(s1))]
        out.append(float(mp.log10(mpq(D) / s1)) if D else -math.inf)
    return out


@derandomized
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from([0.0, 1.0]) | st.floats(-4.0, 4.0), min_size=4, max_size=4),
            st.integers(-300, 300),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_two_by_two_products_against_the_hand_formula(factors) -> None:
    mats = [np.array(v).reshape(2, 2) * 10.0**k for v, k in factors]
    mats = [M for M in mats if np.all(np.isfinite(M))]
    if not mats:
        return
    ref = harness.reference_log10_singular_values(array_case(np.stack(mats)))
    assert_within(ref, two_by_two_exact(mats))


def test_badly_scaled_regression_is_1e250_and_1() -> None:
    ref = harness.reference_log10_singular_values(harness.badly_scaled_case())
    assert_within(ref, [250.0, 0.0])
    assert ref.log10_sigma[1] == 0.0


# --- against the pure-Python integer product and rank ----------------------------------


def exact_float_jacobians(c: harness.Case) -> np.ndarray | None:
    """The Jacobians as float64 when dphi * W is exact (explicit, 0/1 dphi), else None."""
    if c.explicit:
        return c.J
    if np.all((c.dphi == 0.0) | (c.dphi == 1.0)):
        return np.stack([c.float_jacobian(t) for t in range(1, c.T + 1)])
    return None


def test_exact_product_and_rank_match_pure_python_integers() -> None:
    """The flint product and rank agree with tests/numeric's pure-Python ones, exactly."""
    checked = 0
    for seed in range(DEFAULT_COUNT):
        c = case(seed)
        J = exact_float_jacobians(c)
        if J is None or c.n * c.T > 150:
            continue
        N, E = harness.exact_product(c)
        P, F = pure_exact_product(J)
        ours = [Fraction(int(v)) * Fraction(2) ** E for v in N.entries()]
        theirs = [Fraction(int(v)) * Fraction(2) ** F for v in P.ravel()]
        assert ours == theirs, c.name
        assert harness.exact_rank(c) == pure_exact_rank(P), c.name
        checked += 1
    assert checked >= 30


def test_rnn_exact_product_uses_dphi_times_W_exactly() -> None:
    """diag(dphi) W exactly, not the float64-rounded dphi * W: against Fractions."""
    rng = np.random.default_rng(5)
    n, T = 4, 6
    W = rng.standard_normal((n, n))
    dphi = rng.uniform(0.1, 1.0, (T, n)) * 10.0 ** rng.integers(-200, 0, (T, n))
    c = rnn_case(W, dphi)
    P = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    for t in range(T):
        J = [
            [Fraction(float(dphi[t, i])) * Fraction(float(W[i, j])) for j in range(n)]
            for i in range(n)
        ]
        P = [[sum(J[i][k] * P[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
    N, E = harness.exact_product(c)
    ours = [Fraction(int(v)) * Fraction(2) ** E for v in N.entries()]
    assert ours == [x for row in P for x in row]
    rounded = [Fraction(float(v)) for v in pure_product_of(c)]
    assert rounded != ours  # the rounded product differs: the harness must not use it


def pure_product_of(c: harness.Case) -> list[float]:
    P, F = pure_exact_product(np.stack([c.float_jacobian(t) for t in range(1, c.T + 1)]))
    return [float(Fraction(int(v)) * Fraction(2) ** F) for v in P.ravel()]


def test_exact_zeros() -> None:
    """Exactly nilpotent W (T >= n): P = 0; a zero column of W: one σ exactly 0."""
    n = 5
    W = np.triu(np.random.default_rng(1).standard_normal((n, n)), 1)
    ref = harness.reference_log10_singular_values(rnn_case(W, np.full((n, n), 0.7)))
    assert np.all(np.isneginf(ref.log10_sigma)) and ref.rank == 0
    ref = harness.reference_log10_singular_values(rnn_case(W, np.full((n - 1, n), 0.7)))
    assert ref.rank == 1  # n − 1 strictly upper triangular factors leave one entry
    W = np.random.default_rng(2).standard_normal((n, n))
    W[:, 2] = 0.0
    ref = harness.reference_log10_singular_values(rnn_case(W, np.full((30, n), 0.9)))
    assert ref.rank == n - 1 and np.isneginf(ref.log10_sigma[-1])
    assert np.all(np.isfinite(ref.log10_sigma[:-1]))


# --- mpmath against the rigorous flint route --------------------------------------------


def assert_inside_enclosures(c: harness.Case) -> None:
    ref = harness.reference_log10_singular_values(c)
    boxes = harness.flint_log10_singular_values(c)
    for v, err, (lo, hi) in zip(ref.log10_sigma, ref.log10_error, boxes, strict=True):
        if lo == -math.inf and hi == -math.inf:
            assert v == -math.inf, c.name
            continue
        pad = err + 2 * ULP * abs(v) + 1e-300
        assert lo - pad <= v <= hi + pad, (c.name, v, lo, hi)


def test_mpmath_reference_inside_flint_enclosures() -> None:
    """On every small generated case, each mpmath value (±its claim) is inside flint's ball."""
    small = [s for s in range(DEFAULT_COUNT) if case(s).n * case(s).T <= 240]
    assert len(small) >= 100
    for seed in small:
        assert_inside_enclosures(case(seed))


@pytest.mark.slow
def test_mpmath_reference_inside_flint_enclosures_larger() -> None:
    for seed in range(DEFAULT_COUNT, 3 * DEFAULT_COUNT):
        if case(seed).n * case(seed).T <= 3000:
            assert_inside_enclosures(case(seed))
    for c in [harness.relu_dead_units_case(), *harness.small_tanh_cases()[:3]]:
        assert_inside_enclosures(c)


def test_regression_relu_case_against_flint() -> None:
    """The ReLU regression: a unit dead after the spike, σ₂ = 10**-11.15648, three exact 0."""
    c = harness.relu_dead_units_case()
    assert np.any(np.all(c.dphi[1:] == 0.0, axis=0))
    assert_inside_enclosures(c)
    ref = harness.reference_log10_singular_values(c)
    assert ref.rank == 3 and abs(ref.log10_sigma[1] + 11.156479) < 1e-6


# --- the determinant identity -------------------------------------------------------------


def assert_determinant_identity(seed: int) -> None:
    c, ref = case(seed), reference(seed)
    det = harness.reference_log10_abs_det(c)
    if ref.rank < c.n:
        assert det == -math.inf, c.name
        return
    assert math.isfinite(det), c.name
    total = math.fsum(ref.log10_sigma)
    tol = float(np.sum(ref.log10_error + 2 * ULP * np.abs(ref.log10_sigma))) + 4 * ULP * abs(det)
    assert abs(total - det) <= tol + 1e-300, (c.name, total, det)


def test_determinant_identity_on_generated_cases() -> None:
    """Σ log10 σ_i = Σ_t log10|det J_t| on every default case (and singular ⇔ det = 0).

    The determinants are computed without any SVD (exact/ball determinants of each
    step), the rank by modular and exact elimination: two independent routes.
    """
    for seed in range(DEFAULT_COUNT):
        assert_determinant_identity(seed)


@pytest.mark.slow
def test_determinant_identity_on_the_slow_run() -> None:
    for seed in range(SLOW_COUNT):
        assert_determinant_identity(seed)


def test_log10_abs_det_against_numpy_slogdet() -> None:
    """At n = 64 (explicit Gaussian steps, well conditioned): numpy's slogdet to 1e-10."""
    c = harness.gaussian_array_case(64, 40)
    ours = harness.reference_log10_abs_det(c)
    numpy_sum = sum(np.linalg.slogdet(c.J[t])[1] for t in range(c.T)) / math.log(10)
    assert abs(ours - numpy_sum) <= 1e-10 * max(1.0, abs(ours))
    scaled = array_case(c.J * 1e-300)  # below float64 for slogdet's product: the log is exact
    assert abs(harness.reference_log10_abs_det(scaled) - (ours - 300 * 64 * 40)) <= 1e-9


def test_log10_abs_det_of_rnn_steps() -> None:
    """det(diag(d) W) = Π d_i · det W: against numpy for a small, well-scaled run."""
    c = next(
        case(s)
        for s in range(DEFAULT_COUNT)
        if not case(s).explicit and case(s).scale_exponent == 0 and np.all(case(s).dphi > 1e-3)
    )
    want = sum(np.linalg.slogdet(c.float_jacobian(t))[1] for t in range(1, c.T + 1))
    assert abs(harness.reference_log10_abs_det(c) - want / math.log(10)) <= 1e-9 * max(
        1, abs(want)
    )


@pytest.mark.slow
def test_log10_abs_det_large_regression_case() -> None:
    c = harness.gaussian_array_case(64, 400)
    ours = harness.reference_log10_abs_det(c)
    numpy_sum = sum(np.linalg.slogdet(c.J[t])[1] for t in range(c.T)) / math.log(10)
    assert abs(ours - numpy_sum) <= 1e-10 * abs(ours)


# --- the reference checks itself ------------------------------------------------------


def full_rank_seeds(count: int) -> list[int]:
    """The first ``count`` generated cases with a nonsingular product and T >= 20."""
    seeds = (s for s in range(DEFAULT_COUNT) if case(s).T >= 20 and reference(s).rank == case(s).n)
    return [next(seeds) for _ in range(count)]


def test_more_digits_agree_within_the_claims() -> None:
    for seed in full_rank_seeds(5):
        base, more = (
            reference(seed),
            harness.reference_log10_singular_values(case(seed), digits=40),
        )
        assert more.dps > base.dps
        fin = np.isfinite(base.log10_sigma)
        np.testing.assert_array_equal(fin, np.isfinite(more.log10_sigma))
        diff = np.abs(base.log10_sigma[fin] - more.log10_sigma[fin])
        assert np.all(diff <= base.log10_error[fin] + 2 * ULP * np.abs(base.log10_sigma[fin]))


def test_disagreeing_confirmation_raises(monkeypatch) -> None:
    """A confirmation run that moves a value beyond the first run's claim is an error."""
    real = harness._svd_run
    calls = []

    def shaken(N, E, rank, dps):
        logs, errs, beyond = real(N, E, rank, dps)
        calls.append(dps)
        if len(calls) > 1:
            logs = [v + mp.mpf("1e-12") for v in logs]
        return logs, errs, beyond

    monkeypatch.setattr(harness, "_svd_run", shaken)
    with pytest.raises(harness.ReferenceCheckError, match="moved"):
        harness.reference_log10_singular_values(case(full_rank_seeds(1)[0]))


def test_precision_follows_the_spread() -> None:
    """The working digits exceed the spread log10(σ₁/σ_rank) (else small σ are noise)."""
    for seed in range(0, DEFAULT_COUNT, 7):
        ref = reference(seed)
        if ref.rank:
            spread = ref.log10_sigma[0] - ref.log10_sigma[ref.rank - 1]
            assert ref.dps > spread + 20 and ref.confirm_dps >= 1.5 * ref.dps


# --- reproducibility ----------------------------------------------------------------


def test_same_seed_same_bytes() -> None:
    for seed in range(2 * len(harness.COMBOS)):
        a, b = harness.make_case(seed), harness.make_case(seed)
        assert a.name == b.name and a.data_bytes() == b.data_bytes()
        again = harness.case_from_name(a.name)
        assert again.data_bytes() == a.data_bytes() and again.name == a.name
    assert [c.name for c in harness.generate_cases(10, seed_list_start=5)] == [
        c.name for c in harness.generate_cases(15)[5:]
    ]


def test_regression_cases_by_name() -> None:
    for c in harness.regression_cases(n64_T=20):
        again = harness.case_from_name(c.name)
        assert again.data_bytes() == c.data_bytes()
    with pytest.raises(ValueError, match="no case"):
        harness.case_from_name("gaussian/tanh/n2/T1/e+0/x0/s3")


def _digests(seeds: range) -> list[str]:
    return [hashlib.sha256(harness.make_case(s).data_bytes()).hexdigest() for s in seeds]


def test_same_bytes_in_a_fresh_process() -> None:
    """No state of this process (hash seeds, import order) enters the data."""
    code = (
        "import hashlib; from tests.numeric import harness; "
        "print(' '.join(hashlib.sha256(harness.make_case(s).data_bytes()).hexdigest() "
        "for s in range(35)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == _digests(range(35))


# --- coverage -----------------------------------------------------------------------


def test_generated_cases_cover_the_issue() -> None:
    cases = [case(s) for s in range(DEFAULT_COUNT)]
    kinds = {(c.family, c.activation) for c in cases}
    assert kinds == set(harness.COMBOS)
    assert set(FAMILIES) <= set(harness.W_FAMILIES)
    for family in (*harness.W_FAMILIES, *harness.ARRAY_FAMILIES):
        assert any(c.family == family for c in cases)
    assert {c.n for c in cases} == set(range(2, 13))
    Ts = [c.T for c in cases]
    assert min(Ts) == 1 and max(Ts) >= 600 and np.median(Ts) <= 60
    ks = [c.scale_exponent for c in cases]
    assert min(ks) <= -250 and max(ks) >= 250 and any(0 < abs(k) <= 30 for k in ks)
    sizes = [np.abs(c.J if c.explicit else c.W) for c in cases]
    assert max(a.max() for a in sizes) >= 1e250
    assert min(a[a > 0].min() for a in sizes) <= 1e-250
    for act in ("tanh", "sigmoid", "relu", "linear"):
        assert any(c.spikes and c.activation == act for c in cases), act
    relu = [c for c in cases if c.activation == "relu"]
    assert any(np.any(np.all(c.dphi == 0.0, axis=0)) for c in relu)  # a unit dead throughout
    saturated = [c for c in cases if c.activation in ("tanh", "sigmoid") and c.spikes]
    assert any(c.dphi.min() < 1e-30 for c in saturated)
    # rank-deficient products (exact zeros) from every source the issue names
    deficient = {(c.family, c.activation) for c in cases if harness.exact_rank(c) < c.n}
    for family in ("nilpotent", "rank-deficient", "rank-deficient-array"):
        assert any(f == family for f, _ in deficient), family
    assert any(a == "relu" for _, a in deficient)


def test_regression_cases_match_the_issue() -> None:
    relu = harness.relu_dead_units_case()
    assert (relu.n, relu.T, relu.activation, relu.spikes) == (6, 40, "relu", 1)
    tanh = harness.small_tanh_cases()
    assert len(tanh) == 12 and {c.n for c in tanh} == {4, 5, 6} and {c.T for c in tanh} == {300}
    assert {c.family for c in tanh} == {"gaussian", "orthogonal"}
    for c in tanh:
        assert 1.1 - 1e-12 <= np.linalg.norm(c.W, 2) <= 1.2 + 1e-12
    g = harness.gaussian_array_case(64, 30)
    assert g.J.shape == (30, 64, 64) and g.explicit
    b = harness.badly_scaled_case()
    np.testing.assert_array_equal(b.W, np.diag([1e250, 1.0]))
    assert b.T == 1 and b.activation == "linear"


@pytest.mark.slow
def test_slow_run_covers_long_products() -> None:
    cases = [case(s) for s in range(SLOW_COUNT)]
    assert max(c.T for c in cases) >= 990
    assert sum(c.T > 300 for c in cases) >= 40
