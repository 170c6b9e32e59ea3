"""``spectral_norm_upper`` and ``spectral_norm_certified``: never below ‖W‖₂, and close to it.

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
from gradscope.numeric import norms
from gradscope.numeric.norms import spectral_norm_certified, spectral_norm_upper


def _mp_norm_at(W: np.ndarray, digits: int) -> mp.mpf:
    with mp.workdps(digits):
        s = mp.svd_r(mp.matrix(W.tolist()), compute_uv=False)
        return max(s[i] for i in range(s.rows))


def _mp_norm(W: np.ndarray) -> mp.mpf:
    """‖W‖₂ at 40 digits, confirmed at 60 (the entries are floats: exact in both)."""
    value = _mp_norm_at(W, 40)
    assert abs(_mp_norm_at(W, 60) - value) <= value * mp.mpf(10) ** -35
    return value


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
    assert spectral_norm_certified(np.zeros((3, 3))) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("W", "rtol"),
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), 1e-3),
        (np.array([[np.inf]]), 1e-3),
        (np.zeros((0, 3)), 1e-3),
        (np.eye(2), 0.0),
    ],
)
@pytest.mark.parametrize("function", [spectral_norm_upper, spectral_norm_certified])
def test_bad_input(W: np.ndarray, rtol: float, function: object) -> None:
    with pytest.raises(ConfigError):
        function(W, rtol=rtol)  # type: ignore[operator]


@pytest.mark.parametrize(("name", "W"), _cases(), ids=[c[0] for c in _cases()])
def test_certified_bound_holds_against_mpmath(name: str, W: np.ndarray) -> None:
    upper, lower = spectral_norm_certified(W)
    exact = _mp_norm(W)
    assert mp.mpf(upper) >= exact, (name, upper, exact)
    assert lower <= upper
    assert mp.mpf(upper) <= exact * (1 + mp.mpf(1e-6)), (name, upper, exact)


def _random_matrix(rng: np.random.Generator) -> np.ndarray:
    m, n = (int(k) for k in rng.integers(1, 13, size=2))
    kind = int(rng.integers(4))
    X = rng.standard_normal((m, n)) * 10.0 ** rng.uniform(-8, 8)
    if kind == 1:  # non-normal: strictly upper triangular part dominates
        X = np.triu(X, 1) * 30.0 + X
    elif kind == 2:  # nearly tied top singular values
        U, _, Vt = np.linalg.svd(X, full_matrices=False)
        s = np.ones(min(m, n))
        s[1:] -= 10.0 ** rng.uniform(-12, -1, size=s.size - 1)
        X = (U * s) @ Vt
    elif kind == 3:  # rank one plus a little
        X = np.outer(rng.standard_normal(m), rng.standard_normal(n)) + 1e-6 * X
    return X


@pytest.mark.parametrize("seed", range(40))
def test_certified_bound_on_random_matrices(seed: int) -> None:
    W = _random_matrix(np.random.default_rng([20, seed]))
    upper, _ = spectral_norm_certified(W)
    exact = _mp_norm(W)
    assert exact <= mp.mpf(upper) <= exact * (1 + mp.mpf(1e-6)), (W.shape, upper, exact)


@pytest.mark.parametrize(
    ("guess", "path"),
    [
        (0.25, "fallback"),
        (1.0 - 1e-3, "fallback"),
        (1.0 - 1e-6, "certificate"),
        (1.0, "certificate"),
    ],
)
def test_a_wrong_lanczos_guess_is_refuted_not_returned(
    monkeypatch: pytest.MonkeyPatch, guess: float, path: str
) -> None:
    """The certificate, not Lanczos, carries the bound: a guess below λ₁(WᵀW) by more
    than the retry's margin (1e-4) must be refuted and the squaring bound used."""
    W = np.random.default_rng(7).standard_normal((40, 40)) / np.sqrt(40)
    exact = _mp_norm(W)
    lam = float(exact) ** 2
    calls: list[int] = []

    def fake_lanczos(Ws: np.ndarray, *, steps: int, rtol: float) -> tuple[float, float]:
        scale = float(np.abs(W).max())
        ratio = (float(np.abs(Ws).max()) / scale) ** 2  # Ws is W times a power of two
        return guess * lam * ratio, 0.0

    def spy(W: np.ndarray, **kw: float) -> tuple[float, float]:
        calls.append(1)
        return spectral_norm_upper(W, **kw)

    monkeypatch.setattr(norms, "_lanczos_top", fake_lanczos)
    monkeypatch.setattr(norms, "spectral_norm_upper", spy)
    upper, _ = norms.spectral_norm_certified(W)
    assert mp.mpf(upper) >= exact
    assert bool(calls) == (path == "fallback")


def test_certified_close_to_the_norm_at_n_600() -> None:
    W = np.random.default_rng(3).standard_normal((600, 600)) / np.sqrt(600)
    upper, lower = spectral_norm_certified(W)
    s1 = float(np.linalg.svd(W, compute_uv=False)[0])
    assert s1 * (1.0 + 1e-12) <= upper <= s1 * (1.0 + 1e-6)  # far above LAPACK's error
    assert abs(lower / s1 - 1.0) <= 1e-9


def test_report_bound_column_uses_an_upper_bound() -> None:
    from gradscope.studies.spectrum_report import _matrix_free_norm

    W = np.random.default_rng(5).standard_normal((700, 700)) / np.sqrt(700)
    s1 = float(np.linalg.svd(W, compute_uv=False)[0])
    value = _matrix_free_norm(W)
    assert s1 * (1.0 + 1e-12) <= value <= s1 * (1.0 + 1e-6)
    small = W[:100, :100]
    assert _matrix_free_norm(small) == float(np.linalg.svd(small, compute_uv=False)[0])
