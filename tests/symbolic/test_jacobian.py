"""The derived Jacobian ∂h_T/∂h_k: numeric layer, finite differences, exact identities."""

import numpy as np
import pytest
import sympy

from gradscope.errors import ConfigError, DerivationError
from gradscope.numeric.forward import forward, rnn_steps
from gradscope.numeric.products import log10_product_norm
from gradscope.symbolic import (
    MAX_EXPANDED_JACOBIAN,
    derive_jacobian,
    explicit_states,
    polynomial_identity,
)
from tests.symbolic import (
    ACTIVATIONS,
    HAVE_TORCH,
    fd_jacobian,
    final_state,
    max_error,
    min_abs_z,
    numeric_product,
    random_problem,
    rnn_arrays,
    torch_jacobian,
)
from tests.symbolic import (
    model as numeric_model,
)

# (n, T, m, start, seed): seeds chosen so that no |z_{t,i}| is within 0.05 of relu's kink.
CASES = [(2, 3, 2, 0, 2), (3, 4, 1, 1, 1), (1, 5, 2, 2, 0)]


REFERENCES = ["numeric-layer", "finite-differences"] + (["torch"] if HAVE_TORCH else [])


def _reference(name, arrays, activation, start):
    if name == "numeric-layer":
        return numeric_product(arrays, activation, start)
    if name == "torch":
        return torch_jacobian(arrays, activation, start)
    return fd_jacobian(arrays, activation, start)


@pytest.mark.parametrize("reference", REFERENCES)
@pytest.mark.parametrize("expand", [False, True], ids=["structured", "expanded"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("n", "T", "m", "start", "seed"), CASES)
def test_compiled_jacobian_equals_references(n, T, m, start, seed, activation, expand, reference):
    """Claim: ∂h_T/∂h_start from to_function() equals the numeric layer's product
    J_T ⋯ J_{start+1}, the finite-difference Jacobian of the forward pass and torch autograd
    (when installed) to 1e-10, for every activation and both forms."""
    arrays = random_problem(n, T, m, seed=seed)
    if activation == "relu":
        assert min_abs_z(arrays, activation) > 0.05  # finite differences stay off the kink
    d = derive_jacobian(
        hidden=n, T=T, activation=activation, input_size=m, start=start, expand=expand
    )
    J = d.to_function()(**rnn_arrays(arrays))
    assert J.shape == (n, n)
    assert max_error(J, _reference(reference, arrays, activation, start)) < 1e-10


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_expanded_equals_structured(activation):
    """Claim: the explicit matrix and the unevaluated product of factors are the same function."""
    n, T = 3, 4
    s = derive_jacobian(hidden=n, T=T, activation=activation, input_size=2)
    e = derive_jacobian(hidden=n, T=T, activation=activation, input_size=2, expand=True)
    for seed in range(3):
        arrays = rnn_arrays(random_problem(n, T, 2, seed=10 + seed, scale=1.5))
        assert max_error(e.to_function()(**arrays), s.to_function()(**arrays)) < 1e-13


def _state_atoms(d, zs, hs):
    atoms = {}
    for t in range(1, d.end + 1):
        for i in range(d.rnn.hidden):
            if d.rnn.activation != "linear":
                atoms[hs[t][i]] = d.rnn.h[t][i]
            if d.rnn.activation == "relu":
                step = sympy.Heaviside(zs[t - 1][i], 0, evaluate=False)
                atoms[step] = sympy.Symbol(f"H_{t}_{i + 1}")
    return atoms


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_expanded_equals_sympys_direct_jacobian(activation):
    """Claim: the product of the factors D_t W_hh equals SymPy's own jacobian of the explicit
    h_T with respect to h_0 (numerator layout), exactly."""
    d = derive_jacobian(hidden=2, T=3, activation=activation, expand=True)
    zs, hs = explicit_states(d.rnn)
    direct = hs[d.end].jacobian(list(d.rnn.h0))
    pairs = list(zip(d.matrix, direct, strict=True))
    assert polynomial_identity(pairs, _state_atoms(d, zs, hs))


@pytest.mark.parametrize("expand", [False, True])
def test_relu_derivative_at_zero_is_zero_in_compiled_functions(expand):
    """Claim: relu'(0) = 0 (PyTorch's convention) holds in the compiled function: with every
    z_t exactly 0 the product is exactly 0 (with H(0) = 1/2 it would be W_hh³/8)."""
    n, T = 2, 3
    d = derive_jacobian(hidden=n, T=T, activation="relu", expand=expand)
    zeros = {
        "W_hh": np.zeros((n, n)),
        "W_xh": np.zeros((n, 1)),
        "b": np.zeros(n),
        "h0": np.zeros(n),
        "inputs": np.zeros((T, 1)),
    }
    # W_hh = 0 would make the product 0 anyway: use W_hh = I with h = 0 throughout.
    zeros["W_hh"] = np.eye(n)
    J = d.to_function()(**zeros)
    assert np.array_equal(J, np.zeros((n, n)))
    assert np.array_equal(numeric_product(zeros, "relu"), J)


@pytest.mark.parametrize("T", [1, 2, 5])
def test_linear_product_is_the_matrix_power(T):
    """Claim: for a linear RNN, ∂h_T/∂h_0 = W_hh**T exactly (T factors, a power, not
    an elementwise power and not a transpose)."""
    n = 2
    d = derive_jacobian(hidden=n, T=T, activation="linear", expand=True)
    W = d.rnn.W_hh
    assert (d.matrix - W**T).applyfunc(sympy.expand) == sympy.zeros(n, n)
    if T > 1:  # the elementwise power (what MatrixSymbol.diff produces in SymPy 1.14) differs
        assert (d.matrix - W.applyfunc(lambda w: w**T)).applyfunc(sympy.expand) != sympy.zeros(
            n, n
        )
    steps = d.simplifications[-1]
    assert steps.chain[-1] == sympy.MatPow(sympy.MatrixSymbol("W_hh", n, n), T)
    assert steps.check()


@pytest.mark.parametrize("T", [2, 3, 4])
def test_scaled_rotation_power_has_norm_s_to_the_T(T):
    """Claim: for W_hh = s·R(θ) (a scaled 2×2 rotation) and a linear RNN, ∂h_T/∂h_0 = W_hh^T
    satisfies (W^T)ᵀ W^T = s^{2T} I, so ‖W^T‖₂ = s^T exactly: the bound (γ‖W‖)^T is tight."""
    s, theta = sympy.symbols("s theta", positive=True)
    d = derive_jacobian(hidden=2, T=T, activation="linear", expand=True)
    w = d.rnn.W_hh
    rotation = {
        w[0, 0]: s * sympy.cos(theta),
        w[0, 1]: -s * sympy.sin(theta),
        w[1, 0]: s * sympy.sin(theta),
        w[1, 1]: s * sympy.cos(theta),
    }
    P = d.matrix.xreplace(rotation)
    gram = (P.T * P).applyfunc(lambda e: sympy.trigsimp(sympy.expand(e)))
    assert gram == s ** (2 * T) * sympy.eye(2)
    assert [sympy.simplify(v) for v in sympy.Matrix(gram).eigenvals()] == [s ** (2 * T)]
    # and the numeric layer agrees: log10 ‖W^T‖₂ = T log10 s
    W = 0.9 * np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    assert log10_product_norm(np.broadcast_to(W, (T, 2, 2))) == pytest.approx(
        T * np.log10(0.9), abs=1e-12
    )


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_simplification_steps_hold(activation):
    """Claim: every shown simplification (tanh' = 1 − h², σ' = h(1 − h), relu'(z) = 1[z > 0],
    relu'(0) = 0, linear ⇒ matrix power) is an exact identity."""
    d = derive_jacobian(hidden=2, T=3, activation=activation)
    assert d.simplifications
    assert all(s.check() for s in d.simplifications)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_structured_factors_are_the_step_jacobians_in_named_states(activation):
    """Claim: the structured form keeps T − k factors, never multiplied out; factor t is
    written in W_hh and the named states of step t alone, and, evaluated at a run's
    states, it is the numeric layer's step Jacobian J_t = ∂h_t/∂h_{t−1} (to 1e-15)."""
    n, T, start = 2, 4, 1
    d = derive_jacobian(hidden=n, T=T, start=start, activation=activation)
    assert len(d.factors) == T - start and d.matrix is None and d.cse is None
    assert str(d.product) == "D_4*W_hh*D_3*W_hh*D_2*W_hh"
    arrays = random_problem(n, T, seed=2)
    rnn = numeric_model(arrays, activation)
    traj = forward(rnn, arrays["inputs"], arrays["h0"])
    steps = rnn_steps(rnn, arrays["inputs"], arrays["h0"])
    weights = set(d.rnn.W_hh)
    for t, F in enumerate(d.factors, start=start + 1):
        own = set(d.rnn.h[t]) | set(d.rnn.z[t - 1])
        assert F.free_symbols <= weights | own
        values = {w: x for w, x in zip(d.rnn.W_hh, arrays["W_hh"].ravel(), strict=True)}
        values.update(zip(d.rnn.h[t], traj.h[t], strict=True))
        values.update(zip(d.rnn.z[t - 1], traj.z[t - 1], strict=True))
        J = np.array(F.subs(values).evalf(), dtype=np.float64)
        assert max_error(J, steps.matrix(t)) < 1e-15


def _taylor_slope(f, Df, theta, direction, epsilons):
    remainders = [
        np.linalg.norm(f(theta + eps * direction) - f(theta) - eps * Df @ direction)
        for eps in epsilons
    ]
    return np.polyfit(np.log(epsilons), np.log(remainders), 1)[0]


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_taylor_remainder_of_the_jacobian_is_second_order(activation):
    """Claim: the derived ∂h_T/∂h_0 is the derivative of the forward map: the Taylor remainder
    ‖h_T(h_0 + εd) − h_T(h_0) − ε J d‖ is O(ε²) (fitted log-log slope 2 ± 0.1)."""
    n, T = 3, 4
    arrays = random_problem(n, T, seed=5, scale=1.2)
    J = derive_jacobian(hidden=n, T=T, activation=activation).to_function()(**rnn_arrays(arrays))
    direction = np.random.default_rng(6).normal(size=n)
    slope = _taylor_slope(
        lambda h: final_state(arrays, activation, 0, h),
        J,
        arrays["h0"],
        direction,
        np.logspace(-2, -5, 7),
    )
    assert abs(slope - 2.0) < 0.1


def test_bad_sizes_and_limits_are_refused_up_front():
    """Claim: bad sizes are ConfigErrors and an expanded Jacobian beyond hidden*T <= 24 is a
    DerivationError that suggests the structured form, raised before any SymPy work."""
    with pytest.raises(ConfigError, match="hidden"):
        derive_jacobian(hidden=0, T=3)
    with pytest.raises(ConfigError, match="T must"):
        derive_jacobian(hidden=2, T=0)
    with pytest.raises(ConfigError, match="start"):
        derive_jacobian(hidden=2, T=3, start=3)
    with pytest.raises(ConfigError, match="activation"):
        derive_jacobian(hidden=2, T=3, activation="softplus")
    with pytest.raises(DerivationError, match="structured form"):
        derive_jacobian(hidden=5, T=MAX_EXPANDED_JACOBIAN, expand=True)
    with pytest.raises(DerivationError, match="numeric"):
        derive_jacobian(hidden=64, T=100)


def test_compiled_function_checks_its_arguments():
    """Claim: a wrong shape, a missing array or NaN is a ConfigError naming the argument;
    b and h0 default to zeros as in the numeric layer."""
    d = derive_jacobian(hidden=2, T=3)
    f = d.to_function()
    arrays = rnn_arrays(random_problem(2, 3, seed=0))
    with pytest.raises(ConfigError, match="inputs"):
        f(**{**arrays, "inputs": np.zeros((2, 1))})
    with pytest.raises(ConfigError, match="W_hh"):
        f(**{k: v for k, v in arrays.items() if k != "W_hh"})
    with pytest.raises(ConfigError, match="NaN"):
        f(**{**arrays, "b": np.array([np.nan, 0.0])})
    defaults = f(W_hh=arrays["W_hh"], W_xh=arrays["W_xh"], inputs=arrays["inputs"])
    zero = {**arrays, "b": np.zeros(2), "h0": np.zeros(2)}
    assert max_error(defaults, numeric_product(zero, "tanh")) < 1e-14


def test_results_are_frozen_and_print_briefly():
    """Claim: a derivation is immutable and its repr never prints the (huge) expressions."""
    d = derive_jacobian(hidden=3, T=8, expand=True)
    assert len(repr(d)) < 300
    with pytest.raises(AttributeError):
        d.start = 1  # type: ignore[misc]
    payload = d.to_dict()
    assert payload["factors"] == 8 and payload["form"] == "expanded"


def test_numeric_model_helper_is_the_numeric_layer():
    """Claim (test hygiene): the reference model is gradscope.model.RNN itself."""
    arrays = random_problem(2, 3, seed=0)
    assert numeric_model(arrays, "relu").activation.name == "relu"
