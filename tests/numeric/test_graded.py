"""The graded product and its kernels (numeric.graded, numeric.kernels) against references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.graded.blocks import graded_product
from gradscope.numeric.graded.factors import _log2_growth
from gradscope.numeric.graded.fold import _fold
from gradscope.numeric.graded.jacobi import _rounds, graded_log_singular_values
from gradscope.numeric.graded.kernels import (
    _exp_nonpositive,
    _householder,
    _qr_rows_sorted,
    _scipy_gemm,
    _scipy_triu_matmul,
    _triu_matmul,
)
from tests.numeric.harness import OnlyApply


@pytest.mark.parametrize("shape", [(40, 40), (40, 25), (25, 40), (7, 1)])
def test_reflectors_apply_the_same_q_as_the_explicit_factorisation(shape):
    """Hypothesis: ``M @ Q`` through the reflectors (ormqr) is M times numpy's explicit Q."""
    rng = np.random.default_rng(1)
    B = rng.standard_normal(shape) * np.logspace(0, -12, shape[0])[:, None]
    B[3] = 0.0  # an exactly zero row is left out of the factorisation
    Q, R = _qr_rows_sorted(B.copy())
    reflectors, R2 = _householder(B.copy())
    assert reflectors.shape == Q.shape
    np.testing.assert_allclose(np.triu(R2), R, rtol=0, atol=1e-14)  # below: reflectors
    np.testing.assert_allclose(reflectors.matrix(), Q, rtol=0, atol=1e-14)
    M = rng.standard_normal((9, shape[0]))
    np.testing.assert_allclose(reflectors.left_multiply(M), M @ Q, rtol=0, atol=1e-13)
    np.testing.assert_allclose(Q @ R, B, rtol=0, atol=1e-14)


def test_fold_reads_only_the_upper_trapezoid_of_r():
    """Hypothesis: what lies below R's diagonal (the reflectors) changes nothing."""
    rng = np.random.default_rng(5)
    R = rng.standard_normal((30, 30))
    ell = np.sort(rng.uniform(-900.0, 0.0, 30))[::-1]
    U = np.triu(rng.standard_normal((30, 30)))
    U /= np.linalg.norm(U, axis=1)[:, None]
    for a, b in zip(_fold(R, 0.5, ell, U), _fold(np.triu(R), 0.5, ell, U), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("order_a", ["C", "F"])
@pytest.mark.parametrize("order_b", ["C", "F"])
def test_scipy_gemm_is_the_matrix_product_in_every_layout(order_a, order_b):
    rng = np.random.default_rng(2)
    A = np.asarray(rng.standard_normal((13, 7)), order=order_a)
    B = np.asarray(rng.standard_normal((7, 11)), order=order_b)
    np.testing.assert_allclose(_scipy_gemm(A, B), A @ B, rtol=1e-14, atol=1e-14)
    view = rng.standard_normal((20, 20))[2:15, 3:10]  # neither C- nor Fortran-contiguous
    np.testing.assert_allclose(_scipy_gemm(view, B), view @ B, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("K", [200, 150])
def test_triangular_products_are_the_matrix_product(K):
    """Both kernels' ``C @ U`` (C upper trapezoidal, K × r) equal numpy's full product;
    scipy's reads only C's upper trapezoid, in either memory order."""
    rng = np.random.default_rng(3)
    raw = rng.standard_normal((K, 200))
    C = np.triu(raw)
    U = np.triu(rng.standard_normal((200, 230)))
    np.testing.assert_allclose(_triu_matmul(C, U), C @ U, rtol=0, atol=1e-12)
    for operand in (raw, np.asfortranarray(raw), C):
        np.testing.assert_allclose(_scipy_triu_matmul(operand, U), C @ U, rtol=0, atol=1e-12)


@given(
    n=st.integers(1, 12),
    r=st.integers(1, 12),
    low=st.floats(-30.0, 0.0),
    span=st.floats(0.0, 30.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_growth_bounds_hold_for_every_block(n, r, low, span, seed):
    """Hypothesis: log2(max|D W V| / max|V|) lies within the bounds _log2_growth gives."""
    r = min(r, n)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n, n)) @ np.diag(np.logspace(0, -rng.uniform(0, 6), n))
    d = 2.0 ** rng.uniform(low, low + span, n)
    V = rng.standard_normal((n, r)) * 10.0 ** rng.uniform(-5, 5, (n, r))
    lo, hi = _log2_growth(W, d.min(), d.max())
    ratio = math.log2(np.abs(d[:, None] * (W @ V)).max() / np.abs(V).max())
    assert lo - 1e-9 <= ratio <= hi + 1e-9


def test_growth_bounds_with_a_zero_scale_are_minus_infinity():
    lo, hi = _log2_growth(np.eye(3), 0.0, 1.0)
    assert lo == -math.inf and hi == pytest.approx(0.0)


def test_exp_nonpositive_is_exp_of_the_clipped_argument_and_exactly_zero_far_below():
    X = np.array([[-800.0, -700.5, -699.0], [-1.0, 0.0, 3.0]])
    expected = np.array([[0.0, 0.0, math.exp(-699.0)], [math.exp(-1.0), 1.0, 1.0]])
    _exp_nonpositive(X)
    np.testing.assert_array_equal(X, expected)


@given(st.integers(2, 40), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_rounds_cover_every_active_pair_once_with_disjoint_pairs(r, density, seed):
    rng = np.random.default_rng(seed)
    active = rng.random((r, r)) < density
    active |= active.T
    np.fill_diagonal(active, False)
    seen = []
    for i, j in _rounds(active):
        assert np.all(i < j)
        members = np.concatenate([i, j])
        assert members.size == np.unique(members).size  # disjoint within a round
        seen += list(zip(i.tolist(), j.tolist(), strict=True))
    expected = {(a, b) for a, b in zip(*np.nonzero(np.triu(active, 1)), strict=True)}
    assert len(seen) == len(set(seen)) and set(seen) == expected


def test_scipy_and_numpy_kernels_give_the_same_spectrum():
    """Hypothesis: the scipy loop (blocks, reflectors) and the numpy loop (a QR after
    every step) agree on a tanh spectrum spanning about 150 decades."""
    rng = np.random.default_rng(4)
    n, T = 24, 120
    rnn = RNN(
        W_hh=1.2 * rng.standard_normal((n, n)) / math.sqrt(n), W_xh=rng.standard_normal((n, 3))
    )
    steps = rnn_steps(rnn, rng.standard_normal((T, 3)))
    fast = graded_product(steps, 0, T, error_per_factor=1e-5)  # blocks of several steps
    plain = graded_product(OnlyApply(steps), 0, T)
    assert fast.qr_count < plain.qr_count == T
    assert fast.U is not None and plain.U is not None
    a = graded_log_singular_values(fast.log_scales, fast.U)[0] / math.log(10.0)
    b = graded_log_singular_values(plain.log_scales, plain.U)[0] / math.log(10.0)
    assert b[0] - b[-1] > 100
    np.testing.assert_allclose(a, b, rtol=1e-11, atol=0)


def test_grouped_r_factors_give_the_spectrum_of_one_fold_per_qr(monkeypatch):
    """Hypothesis: multiplying consecutive R in plain floats before folding them
    (``_Group``) changes no singular value beyond rounding, on a tanh spectrum
    spanning about 1300 decades (216 QRs, 11 folds)."""
    from gradscope.numeric.graded import blocks as graded

    rng = np.random.default_rng(6)
    n, T = 32, 300
    W = 1.5 * rng.standard_normal((n, n)) / math.sqrt(n)
    steps = rnn_steps(RNN(W_hh=W, W_xh=rng.standard_normal((n, 3))), rng.standard_normal((T, 3)))

    def spectrum() -> np.ndarray:
        product = graded_product(steps, 0, T)
        assert product.U is not None
        return graded_log_singular_values(product.log_scales, product.U)[0] / math.log(10.0)

    grouped = spectrum()
    monkeypatch.setattr(graded, "_GROUP_SPAN", math.inf)  # folded only by the row check
    unbounded = spectrum()
    monkeypatch.setattr(graded, "_GROUP_SPAN", 0.0)  # fold every R on its own
    alone = spectrum()
    assert alone[0] - alone[-1] > 1000
    np.testing.assert_allclose(grouped, alone, rtol=1e-12, atol=0)
    np.testing.assert_allclose(unbounded, alone, rtol=1e-12, atol=0)


def test_a_group_refuses_an_r_that_would_push_a_row_towards_underflow():
    """Hypothesis: _Group.push keeps every row's largest entry within 2**-700 of the
    largest, whatever the predicted condition numbers said; a lone R always fits."""
    from gradscope.numeric.graded.fold import _Group
    from gradscope.numeric.graded.kernels import _NUMPY

    R = np.diag([1.0, 2.0**-400])
    group = _Group()
    assert group.push(R, 0.0, 0.0, _NUMPY)
    assert not group.push(R, 0.0, 0.0, _NUMPY)  # the product's second row: 2**-800
    assert group.R is not None
    np.testing.assert_array_equal(group.R * math.exp(group.log_scale), R)  # left as it was
    lone = _Group()
    assert lone.push(np.diag([1.0, 2.0**-900]), 0.0, 0.0, _NUMPY)


def test_marks_give_the_spectrum_of_every_leading_product():
    """Hypothesis: one pass with ``marks`` keeps, at each t, the graded factor of
    J_t ⋯ J_1: its singular values are those of a separate product ending at t, to
    the method's accuracy (the two close their blocks at other steps)."""
    from gradscope.numeric.spectrum import log10_singular_values
    from gradscope.studies.spectrum_report import spectrum_over_time

    rng = np.random.default_rng(7)
    n, T = 20, 240
    rnn = RNN(
        W_hh=1.3 * rng.standard_normal((n, n)) / math.sqrt(n), W_xh=rng.standard_normal((n, 2))
    )
    x = rng.standard_normal((T, 2))
    ts, values = spectrum_over_time(rnn, x, points=9)
    assert ts.tolist() == [1, 31, 61, 91, 120, 150, 180, 210, 240]
    steps = rnn_steps(rnn, x)
    for t, row in zip(ts, values, strict=True):
        separate = log10_singular_values(steps, end=int(t))
        np.testing.assert_allclose(row, separate, rtol=1e-9, atol=1e-12)
    assert values[-1][0] - values[-1][-1] > 400  # the spectrum spans hundreds of decades


@pytest.mark.parametrize(
    "kwargs", [{"marks": [0]}, {"marks": [241]}, {"marks": [5], "accumulate": False}]
)
def test_marks_outside_the_window_are_refused(kwargs):
    from gradscope.errors import ConfigError

    rng = np.random.default_rng(8)
    steps = rnn_steps(
        RNN(W_hh=rng.standard_normal((3, 3)), W_xh=np.ones((3, 1))), np.ones((240, 1))
    )
    with pytest.raises(ConfigError, match="marks"):
        graded_product(steps, 0, 240, **kwargs)


def test_marks_beyond_the_end_of_a_stream_are_refused():
    from gradscope.errors import ConfigError
    from gradscope.numeric.steps import as_steps

    stream = as_steps(np.eye(3) * 0.5 for _ in range(10))
    with pytest.raises(ConfigError, match="before marks"):
        graded_product(stream, 0, None, marks=[5, 12])
