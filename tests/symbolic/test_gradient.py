"""The derived BPTT gradients: adjoint recursion = direct differentiation = references."""

import dataclasses
import functools

import numpy as np
import pytest
import sympy

from gradscope.errors import DerivationError
from gradscope.symbolic import adjoint_equals_direct, derive_gradient, render_gradient
from gradscope.symbolic.functions import phi_prime
from gradscope.symbolic.gradient import _adjoint, _sums
from tests.symbolic import (
    ACTIVATIONS,
    HAVE_TORCH,
    fd_gradient,
    max_error,
    min_abs_z,
    numeric_loss,
    random_problem,
    stencil,
    torch_gradient,
)

NAMES = ("W_hh", "W_xh", "b")


REFERENCES = ["finite-differences"] + (["torch"] if HAVE_TORCH else [])


def _reference(backend, arrays, activation):
    if backend == "torch":
        return torch_gradient(arrays, activation)
    return fd_gradient(arrays, activation)


# (n, T, m, p, seed) with no |z_{t,i}| within 0.05 of relu's kink
CASES = [(2, 3, 2, 1, 2), (2, 4, 2, 2, 2), (4, 6, 2, 2, 2)]


@functools.cache
def _derived(n, T, activation, m, p, expand):
    """One derivation shared by the tests that use it (results are frozen)."""
    return derive_gradient(
        hidden=n, T=T, activation=activation, input_size=m, output_size=p, expand=expand
    )


@functools.cache
def _compiled(n, T, activation, m, p, expand, method):
    return _derived(n, T, activation, m, p, expand).to_function(method)


# (n, T, m, p, seed, form, method): the expanded forms only where hidden*T <= 8
GRADIENT_CASES = [
    (*case, form, method)
    for case in CASES
    for form, method in (
        ("structured", "adjoint"),
        ("expanded", "adjoint"),
        ("expanded", "direct"),
    )
    if form == "structured" or case[0] * case[1] <= 8
]


@pytest.mark.parametrize("backend", REFERENCES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("n", "T", "m", "p", "seed", "form", "method"), GRADIENT_CASES)
def test_gradient_equals_references(n, T, m, p, seed, form, method, activation, backend):
    """Claim: every form — the structured recursion, the explicit recursion and SymPy's direct
    derivative of the explicit L (where hidden*T <= 8) — compiled, gives ∂L/∂W_hh, ∂L/∂W_xh
    and ∂L/∂b of L = Σ_t ½‖W_hy h_t − ŷ_t‖² to 1e-10 against finite differences and torch
    autograd (when installed)."""
    expand = form == "expanded"
    arrays = random_problem(n, T, m, p, seed=seed)
    if activation == "relu":
        assert min_abs_z(arrays, activation) > 0.05
    got = _compiled(n, T, activation, m, p, expand, method)(**arrays)
    want = _reference(backend, arrays, activation)
    for k in NAMES:
        assert got[k].shape == want[k].shape
        assert max_error(got[k], want[k]) < 1e-10, k


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("n", "T"), [(2, 3), (1, 4), (4, 2)])
def test_adjoint_equals_direct_differentiation_symbolically(n, T, activation):
    """Claim (weight sharing, made concrete): Σ_t δ_t h_{t−1}ᵀ (and Σ δ_t x_tᵀ, Σ δ_t) from the
    adjoint recursion equal SymPy's diff of the explicit loss with respect to every entry of
    W_hh, W_xh and b, as an exact identity."""
    d = derive_gradient(hidden=n, T=T, activation=activation, input_size=2, expand=True)
    assert adjoint_equals_direct(d)


def test_the_symbolic_comparison_can_fail():
    """Claim (the check is not vacuous): a wrong recursion — δ_t without the W_hhᵀ δ_{t+1}
    term, i.e. BPTT truncated to one step — is told apart from direct differentiation."""
    d = derive_gradient(hidden=2, T=3, expand=True)
    zs, hs = d.explicit
    ds = [[phi_prime("tanh", z, evaluate=False) for z in zs[t - 1]] for t in range(1, 4)]
    truncated = _sums(d.rnn, _adjoint(d.rnn, hs, ds, lambda t, out: [0, 0]), hs)
    assert not adjoint_equals_direct(dataclasses.replace(d, adjoint=truncated))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_expanded_adjoint_direct_and_structured_agree_numerically(activation):
    """Claim: at the largest expanded size (hidden*T = 8) the explicit adjoint, SymPy's direct
    derivative and the structured recursion give the same numbers to 1e-12."""
    n, T = 2, 4
    arrays = random_problem(n, T, 2, 2, seed=2)
    adjoint = _compiled(n, T, activation, 2, 2, True, "adjoint")(**arrays)
    direct = _compiled(n, T, activation, 2, 2, True, "direct")(**arrays)
    structured = _compiled(n, T, activation, 2, 2, False, "adjoint")(**arrays)
    for k in NAMES:
        assert max_error(adjoint[k], direct[k]) < 1e-12
        assert max_error(structured[k], direct[k]) < 1e-12


def _untied_loss(arrays, copies):
    """L of a tanh RNN whose step t uses its own copy ``copies[t - 1]`` of W_hh (numpy)."""
    h, total = arrays["h0"], 0.0
    for t, W in enumerate(copies):
        h = np.tanh(W @ h + arrays["W_xh"] @ arrays["inputs"][t] + arrays["b"])
        total += 0.5 * float(np.sum((arrays["W_hy"] @ h - arrays["targets"][t]) ** 2))
    return total


def test_gradient_is_a_sum_of_per_step_terms():
    """Claim (weight sharing): ∂L/∂W_hh is the sum over t of the gradients with respect to
    an untied copy of W_hh used at step t alone (finite differences of a numpy forward
    pass with one copy per step; to 1e-9). Each step contributes (no copy's gradient is
    negligible), and each entry of the symbolic ∂L/∂W_hh is a sum of exactly T terms, the
    t-th holding δ_{t,i} and no other δ."""
    n, T = 2, 3
    arrays = random_problem(n, T, 1, 1, seed=3)
    d = derive_gradient(hidden=n, T=T)
    got = d.to_function()(**arrays)["W_hh"]
    per_step = []
    for t in range(T):
        grad = np.zeros((n, n))
        for idx in np.ndindex(n, n):
            unit = np.zeros((n, n))
            unit[idx] = 1.0

            def f(W, t=t):
                copies = [arrays["W_hh"]] * T
                copies[t] = W
                return np.array(_untied_loss(arrays, copies))

            grad[idx] = stencil(f, arrays["W_hh"], unit)
        per_step.append(grad)
    assert max_error(got, sum(per_step)) < 1e-9
    assert min(np.max(np.abs(g)) for g in per_step) > 1e-3 * np.max(np.abs(got))
    G = d.gradients["W_hh"]
    every_delta = {s for row in d.delta_symbols for s in row}
    for i, j in np.ndindex(n, n):
        terms = sympy.Add.make_args(G[i, j])
        used = [term.free_symbols & every_delta for term in terms]
        assert len(terms) == T and all(len(u) == 1 for u in used)
        assert set().union(*used) == {d.delta_symbols[t][i] for t in range(T)}


def test_relu_gradient_uses_relu_prime_zero_at_zero():
    """Claim: relu'(0) = 0 in the compiled gradient: with every z_t = 0 exactly and a nonzero
    error, every δ_t and so every gradient is exactly 0."""
    n, T = 2, 3
    arrays = {
        "W_hh": np.eye(n),
        "W_xh": np.zeros((n, 1)),
        "b": np.zeros(n),
        "h0": np.zeros(n),
        "inputs": np.zeros((T, 1)),
        "W_hy": np.ones((1, n)),
        "targets": np.ones((T, 1)),
    }
    for expand in (False, True):
        g = derive_gradient(hidden=n, T=T, activation="relu", expand=expand).to_function()(
            **arrays
        )
        assert all(np.array_equal(g[k], np.zeros_like(g[k])) for k in NAMES)


def test_taylor_remainder_of_the_gradient_is_second_order():
    """Claim: the derived gradient is the derivative of L: |L(θ + εd) − L(θ) − ε ⟨∇L, d⟩| is
    O(ε²) (fitted log-log slope 2 ± 0.1) along a random direction in (W_hh, W_xh, b)."""
    n, T = 3, 5
    arrays = random_problem(n, T, 2, 2, seed=7)
    grad = derive_gradient(hidden=n, T=T, input_size=2, output_size=2).to_function()(**arrays)
    rng = np.random.default_rng(8)
    direction = {k: rng.normal(size=arrays[k].shape) for k in NAMES}
    slope_along = sum(float(np.sum(grad[k] * direction[k])) for k in NAMES)

    def loss_at(eps):
        return numeric_loss(
            {**arrays, **{k: arrays[k] + eps * direction[k] for k in NAMES}}, "tanh"
        )

    epsilons = np.logspace(-2, -5, 7)
    base = loss_at(0.0)
    remainders = [abs(loss_at(e) - base - e * slope_along) for e in epsilons]
    slope = np.polyfit(np.log(epsilons), np.log(remainders), 1)[0]
    assert abs(slope - 2.0) < 0.1


def test_direct_needs_the_expanded_form_and_limits_hold():
    """Claim: direct differentiation is refused on the structured form, and an expanded
    gradient beyond hidden*T <= 8 is refused up front with a DerivationError."""
    with pytest.raises(DerivationError, match="expand=True"):
        derive_gradient(hidden=2, T=3).to_function("direct")
    with pytest.raises(DerivationError, match="structured form"):
        derive_gradient(hidden=3, T=3, expand=True)
    with pytest.raises(DerivationError, match="expand=True"):
        adjoint_equals_direct(derive_gradient(hidden=1, T=2))


def test_the_proof_is_made_with_the_derivation_and_the_latex_reports_it():
    """Claim (issue 17): ``derive_gradient(expand=True)`` proves the adjoint against direct
    differentiation when it derives, and the LaTeX only reports what the record holds."""
    d = derive_gradient(hidden=2, T=2, expand=True)
    assert d.agrees_with_direct is True
    assert derive_gradient(hidden=2, T=2).agrees_with_direct is None
    assert "agree exactly" in render_gradient(d)
    assert "DISAGREE" in render_gradient(dataclasses.replace(d, agrees_with_direct=False))
