"""``spectral_norm_upper``: never below ‖W‖₂, and close to it.

References: the largest singular value in 40-digit mpmath (``mp.svd_r``) for
small matrices, LAPACK's SVD (relative error about n ε) beside a margin far
above it for larger ones. The bound must hold also where an iteration on
matrix-vector products would see only a lower value: equal top singular
values, a top singular vector orthogonal to every easy start, entries near
float64's range ends.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from gradscope.errors import ConfigError
from gradscope.numeric.norms import spectral_norm_upper


def _mp_norm(W: np.ndarray) -> mp.mpf:
    with mp.workdps(40):
        s = mp.svd_r(mp.matrix(W.tolist()), compute_uv=False)
        return max(s[i] for i in range(s.rows))


def _cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(18)
    q1, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    q2, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    tied = q1 @ np.diag([3.0, 3.0, 3.0, 1.0, 0.5, 0.1, 0.0, 0.0]) @ q2.T
    hidden = np.diag([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0 + 1e-9])
    return [
        ("gaussian", rng.standard_normal((9, 9)) / 3.0),
        ("rectangular", rng.standard_normal((5, 11))),
        ("tied top three", tied),
        ("one direction 1e-9 above the rest", hidden),
        ("huge", rng.standard_normal((6, 6)) * 1e250),
        ("tiny", rng.standard_normal((6, 6)) * 1e-300),
        ("graded", np.diag(10.0 ** np.arange(0, 160, 20.0)) @ rng.standard_normal((8, 8))),
        ("rank one", np.outer(rng.standard_normal(7), rng.standard_normal(7))),
    ]


@pytest.mark.parametrize(("name", "W"), _cases(), ids=[c[0] for c in _cases()])
@pytest.mark.parametrize("squarings", [0, 1, 3, 10])
def test_upper_bound_holds_against_mpmath(name: str, W: np.ndarray, squarings: int) -> None:
    upper, lower = spectral_norm_upper(W, rtol=1e-12, max_squarings=squarings)
    exact = _mp_norm(W)
    assert mp.mpf(upper) >= exact, (name, upper, exact)
    assert lower <= upper
    # The bound is within rank^(2^-(j+2)) of the value (j squarings made).
    rank = min(W.shape)
    assert mp.mpf(upper) <= exact * mp.mpf(rank) ** (mp.mpf(2) ** -(squarings + 2)) * (1 + 1e-9)


def test_close_to_the_norm_for_a_random_weight_matrix() -> None:
    W = np.random.default_rng(3).standard_normal((600, 600)) / np.sqrt(600)
    upper, lower = spectral_norm_upper(W, rtol=1e-3)
    s1 = float(np.linalg.svd(W, compute_uv=False)[0])
    assert upper >= s1 * (1.0 + 1e-12)  # far above LAPACK's error
    assert upper <= s1 * (1.0 + 2e-3)
    assert lower <= s1 * (1.0 + 1e-12)
    assert upper <= lower * (1.0 + 1e-3)


def test_zero_matrix() -> None:
    assert spectral_norm_upper(np.zeros((3, 3))) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("W", "rtol"),
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), 1e-3),
        (np.array([[np.inf]]), 1e-3),
        (np.zeros((0, 3)), 1e-3),
        (np.eye(2), 0.0),
    ],
)
def test_bad_input(W: np.ndarray, rtol: float) -> None:
    with pytest.raises(ConfigError):
        spectral_norm_upper(W, rtol=rtol)


def test_report_bound_column_uses_an_upper_bound() -> None:
    from gradscope.studies.spectrum_report import _matrix_free_norm

    W = np.random.default_rng(5).standard_normal((700, 700)) / np.sqrt(700)
    s1 = float(np.linalg.svd(W, compute_uv=False)[0])
    value = _matrix_free_norm(W)
    assert s1 * (1.0 + 1e-12) <= value <= s1 * (1.0 + 2e-3)
    small = W[:100, :100]
    assert _matrix_free_norm(small) == float(np.linalg.svd(small, compute_uv=False)[0])
