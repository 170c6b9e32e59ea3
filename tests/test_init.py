"""Weight families: exact scaling, the constructions they promise, seeding."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradscope.errors import ConfigError
from gradscope.init import (
    FAMILIES,
    _non_normal,
    _normal_block_eigenvalues,
    instance_seed,
    random_inputs,
    random_rnn,
    recurrent_weights,
)
from gradscope.numeric.norms import scale_to_radius, spectral_norm, spectral_radius

families = st.sampled_from(sorted(FAMILIES))


@given(families, st.integers(1, 40), st.floats(0.05, 3.0), st.integers(0, 2**32))
def test_scaled_to_exact_spectral_norm(family, n, norm, seed):
    W = recurrent_weights(family, n, norm=norm, seed=seed)
    # independent check: the largest eigenvalue of WᵀW
    top = np.sqrt(np.linalg.eigvalsh(W.T @ W)[-1])
    assert top == pytest.approx(norm, rel=1e-12)


@given(families, st.integers(1, 40), st.floats(0.05, 3.0), st.integers(0, 2**32))
def test_scaled_to_exact_spectral_radius(family, n, radius, seed):
    W = recurrent_weights(family, n, radius=radius, seed=seed)
    assert spectral_radius(W) == pytest.approx(radius, rel=1e-10)


def test_orthogonal_is_orthogonal_and_haar():
    n = 8
    Q = recurrent_weights("orthogonal", n, norm=1.0, seed=0)
    np.testing.assert_allclose(Q.T @ Q, np.eye(n), atol=1e-14)
    # Haar measure: E[Q_ij] = 0 and E[Q_ij^2] = 1/n. Without the sign fix the
    # diagonal of Q from numpy's QR is biased (its mean is clearly nonzero).
    draws = np.stack([recurrent_weights("orthogonal", n, norm=1.0, seed=s) for s in range(4000)])
    diag = np.diagonal(draws, axis1=1, axis2=2)
    assert abs(diag.mean()) < 4 * np.sqrt(1 / n / diag.size)
    assert (draws**2).mean() == pytest.approx(1 / n, rel=1e-12)  # rows are unit vectors
    assert (diag**2).mean() == pytest.approx(1 / n, rel=0.05)


def test_gaussian_and_uniform_entries():
    """Unscaled draws: N(0, 1/n) and PyTorch's U(−1/√n, 1/√n)."""
    n = 400
    G = FAMILIES["gaussian"](n, np.random.default_rng(1))
    assert G.mean() == pytest.approx(0.0, abs=4 / n / np.sqrt(1))
    assert G.var() * n == pytest.approx(1.0, rel=0.02)
    U = FAMILIES["uniform"](n, np.random.default_rng(2))
    assert np.abs(U).max() < 1 / np.sqrt(n)
    assert np.abs(U).max() > 0.999 / np.sqrt(n)
    assert U.var() * 3 * n == pytest.approx(1.0, rel=0.02)
    # circular law: ρ ≈ 1 for N(0, 1/n); quarter-circle law: ‖G‖₂ ≈ 2
    assert spectral_radius(G) == pytest.approx(1.0, rel=0.1)
    assert spectral_norm(G) == pytest.approx(2.0, rel=0.05)


def test_non_normal_keeps_the_normal_eigenvalues_with_a_larger_norm():
    n = 12
    rng = np.random.default_rng(5)
    W = _non_normal(n, rng)
    B = _normal_block_eigenvalues(n, np.random.default_rng(5))
    expected = np.sort_complex(np.linalg.eigvals(B))
    got = np.sort_complex(np.linalg.eigvals(W))
    np.testing.assert_allclose(got, expected, atol=1e-10)
    assert spectral_norm(W) > 1.5 * spectral_radius(W)
    # ... so transient growth shows: ‖W^k‖ exceeds 1 for some k although ρ(W) < 1
    Wr = scale_to_radius(W, 0.9)
    norms = [spectral_norm(np.linalg.matrix_power(Wr, k)) for k in range(1, 6)]
    assert max(norms) > 1.0


def test_identity_family():
    W = recurrent_weights("identity", 5, norm=0.7, seed=0)
    np.testing.assert_array_equal(W, 0.7 * np.eye(5))


def test_same_seed_same_weights_and_spawn_rule():
    a = random_rnn("gaussian", 10, norm=0.9, seed=instance_seed(7, 3))
    b = random_rnn("gaussian", 10, norm=0.9, seed=np.random.SeedSequence(7).spawn(5)[3])
    np.testing.assert_array_equal(a.W_hh, b.W_hh)
    np.testing.assert_array_equal(a.W_xh, b.W_xh)
    c = random_rnn("gaussian", 10, norm=0.9, seed=instance_seed(7, 2))
    assert not np.array_equal(a.W_hh, c.W_hh)
    # inputs: prefix-stable, and shared by every family of the same seed
    x1 = random_inputs(5, 3, seed=instance_seed(7, 3))
    x2 = random_inputs(50, 3, seed=instance_seed(7, 3))
    np.testing.assert_array_equal(x1, x2[:5])


def test_bad_arguments():
    with pytest.raises(ConfigError, match="exactly one"):
        recurrent_weights("gaussian", 4)
    with pytest.raises(ConfigError, match="exactly one"):
        recurrent_weights("gaussian", 4, norm=1.0, radius=1.0)
    with pytest.raises(ConfigError, match="unknown family"):
        recurrent_weights("hadamard", 4, norm=1.0)
    with pytest.raises(ConfigError, match="must lie in"):
        recurrent_weights("gaussian", 4, norm=-1.0)
    with pytest.raises(ConfigError, match="must lie in"):
        recurrent_weights("gaussian", 4, norm=float("nan"))
    with pytest.raises(ConfigError, match="hidden size"):
        recurrent_weights("gaussian", 0, norm=1.0)
    with pytest.raises(ConfigError, match="nilpotent"):
        scale_to_radius(np.triu(np.ones((3, 3)), 1), 1.0)
