"""The symbolic LSTM and GRU Jacobians: numeric layer, torch autograd, exact identities.

References, both independent of gradscope.symbolic: the numeric layer's step Jacobians
(``gradscope.numeric.cells``, hand-derived formulas) multiplied out, and
``torch.autograd.functional.jacobian`` through PyTorch's own ``nn.LSTMCell`` and
``nn.GRUCell`` in float64.
"""

import numpy as np
import pytest
import sympy
import torch

import gradscope.symbolic.cells as cells
from gradscope.errors import ConfigError, DerivationError
from gradscope.model import GRUCell, LSTMCell
from gradscope.numeric.cells import gru_steps, lstm_steps
from gradscope.symbolic.cells import derive_cell_jacobian
from gradscope.symbolic.functions import Sigmoid
from gradscope.symbolic.latex.cells import render_cell_jacobian
from gradscope.symbolic.limits import MAX_CELL_HIDDEN, MAX_CELL_SIZE
from tests.symbolic.test_latex import _pdflatex

GATES = {"lstm": 4, "gru": 3}
TOL = 1e-12
CASES = [
    (cell, n, T, start)
    for cell in ("lstm", "gru")
    for n in (1, 2)
    for T in (1, 2)
    for start in range(T)
]


def random_arrays(cell, n, T, m=2, seed=0):
    """PyTorch-layout arrays: weights like PyTorch's U(-1/√n, 1/√n) scaled up, so that
    the gates sit away from 0 and 1; everything else N(0, 1)."""
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    arrays = {
        "weight_ih": rng.uniform(-1.5, 1.5, size=(G * n, m)),
        "weight_hh": rng.uniform(-1.5, 1.5, size=(G * n, n)),
        "bias_ih": rng.normal(size=G * n),
        "bias_hh": rng.normal(size=G * n),
        "inputs": rng.normal(size=(T, m)),
        "h0": rng.normal(size=n),
    }
    if cell == "lstm":
        arrays["c0"] = rng.normal(size=n)
    return arrays


def numeric_product(cell, a, start):
    """J_T ⋯ J_{start+1} from gradscope.numeric.cells' ``matrix(t)``."""
    weights = dict(W_ih=a["weight_ih"], W_hh=a["weight_hh"], b_ih=a["bias_ih"], b_hh=a["bias_hh"])
    if cell == "lstm":
        steps = lstm_steps(LSTMCell(**weights), a["inputs"], a["h0"], a["c0"])
    else:
        steps = gru_steps(GRUCell(**weights), a["inputs"], a["h0"])
    P = np.eye(steps.n)
    for t in range(start + 1, steps.T + 1):
        P = steps.matrix(t) @ P
    return P


def torch_jacobian(cell, a, start):
    """∂s_T/∂s_start through torch.nn.LSTMCell / GRUCell (float64) and autograd."""
    n, m = a["h0"].shape[0], a["inputs"].shape[1]
    module = (torch.nn.LSTMCell if cell == "lstm" else torch.nn.GRUCell)(m, n).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(module, name).copy_(torch.tensor(a[name]))
    xs = torch.tensor(a["inputs"])

    def run(s, steps):
        for t in steps:
            x = xs[t - 1][None]
            if cell == "lstm":
                h, c = module(x, (s[None, :n], s[None, n:]))
                s = torch.cat([h[0], c[0]])
            else:
                s = module(x, s[None])[0]
        return s

    s0 = torch.tensor(np.concatenate([a["h0"], a.get("c0", np.empty(0))]))
    T = xs.shape[0]
    with torch.no_grad():
        s_start = run(s0, range(1, start + 1))
    J = torch.autograd.functional.jacobian(lambda s: run(s, range(start + 1, T + 1)), s_start)
    return J.numpy()


@pytest.mark.parametrize(("cell", "n", "T", "start"), CASES)
def test_compiled_jacobian_equals_numeric_layer_and_torch(cell, n, T, start):
    """Claim: the compiled symbolic ∂s_T/∂s_start (s = (h, c), h first, for the LSTM) equals
    the numeric layer's product of matrix(t) and torch autograd through nn.LSTMCell /
    nn.GRUCell to 1e-12, for n = 1, 2, T = 1, 2 and every start (measured: below 3e-16)."""
    a = random_arrays(cell, n, T, seed=10 * n + T)
    d = derive_cell_jacobian(cell=cell, hidden=n, input_size=2, T=T, start=start)
    J = d.to_function()(**a)
    S = 2 * n if cell == "lstm" else n
    assert J.shape == (S, S)
    numeric = numeric_product(cell, a, start)
    autograd = torch_jacobian(cell, a, start)
    assert np.max(np.abs(numeric)) > 0.05  # not a trivially small Jacobian
    assert np.max(np.abs(J - numeric)) < TOL
    assert np.max(np.abs(J - autograd)) < TOL


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_longer_run_with_start_inside_agrees(cell):
    """Claim: at the larger allowed sizes too (n = 3, T = 4, ∂s_4/∂s_1, m = 3) the symbolic
    product equals the numeric layer and torch to 1e-12."""
    a = random_arrays(cell, 3, 4, m=3, seed=5)
    J = derive_cell_jacobian(cell=cell, hidden=3, input_size=3, T=4, start=1).to_function()(**a)
    assert np.max(np.abs(J - numeric_product(cell, a, 1))) < TOL
    assert np.max(np.abs(J - torch_jacobian(cell, a, 1))) < TOL


def test_lstm_cell_path_is_the_forget_gate_exactly():
    """Claim (exact, SymPy): in an LSTM, ∂c_t/∂c_{t−1} = diag(f_t) — the cell path is
    gated by the forget gate alone, whatever the weights. Checked in every step's named
    form, and for T = 1 in the explicit form against f_1 = σ(W_if x_1 + b_if + W_hf h_0 +
    b_hf) built here from the parameter symbols."""
    n = 2
    d = derive_cell_jacobian(cell="lstm", hidden=n, input_size=1, T=2)
    for t, J in zip((1, 2), d.factors, strict=True):
        f = [sympy.Symbol(f"f_{t}_{k + 1}", real=True) for k in range(n)]
        assert J[n:, n:] == sympy.diag(*f)
    f_t = [sympy.Symbol(f"f_t_{k + 1}", real=True) for k in range(n)]
    assert d.step_jacobian[n:, n:] == sympy.diag(*f_t)

    one = derive_cell_jacobian(cell="lstm", hidden=n, input_size=1, T=1)
    P = one.parameters
    rows = range(n, 2 * n)  # the forget gate's rows
    f1 = [
        Sigmoid(
            (P["weight_ih"][r, :] * P["inputs"][0, :].T)[0]
            + P["bias_ih"][r]
            + (P["weight_hh"][r, :] * P["h0"])[0]
            + P["bias_hh"][r]
        )
        for r in rows
    ]
    assert one.matrix[n:, n:] == sympy.diag(*f1)


def test_gru_with_update_gate_closed_copies_the_state_exactly():
    """Claim (exact, SymPy): a GRU whose update gate is closed (z = 1) copies its state,
    h_t = h_{t−1}, so ∂h_t/∂h_{t−1} = I exactly and gradient passes back unchanged,
    whatever the reset gate, the candidate and the weights. Checked in the generic step,
    in the product of two named steps, and in the explicit T = 1 form (σ(a^z) ↦ 1)."""
    n = 2
    d = derive_cell_jacobian(cell="gru", hidden=n, input_size=1, T=2)
    z_t = {sympy.Symbol(f"z_t_{k + 1}", real=True): 1 for k in range(n)}
    assert d.step_jacobian.xreplace(z_t) == sympy.eye(n)
    closed = {sympy.Symbol(f"z_{t}_{k + 1}", real=True): 1 for t in (1, 2) for k in range(n)}
    product = (d.factors[1] * d.factors[0]).xreplace(closed)
    assert sympy.expand(product) == sympy.eye(n)
    # ... and without the update gate's closure it is not the identity:
    assert sympy.expand(d.step_jacobian) != sympy.eye(n)

    one = derive_cell_jacobian(cell="gru", hidden=n, input_size=1, T=1)
    P = one.parameters
    z1 = {
        Sigmoid(
            (P["weight_ih"][r, :] * P["inputs"][0, :].T)[0]
            + P["bias_ih"][r]
            + (P["weight_hh"][r, :] * P["h0"])[0]
            + P["bias_hh"][r]
        ): 1
        for r in range(n, 2 * n)  # the update gate's rows
    }
    assert one.matrix.xreplace(z1) == sympy.eye(n)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chain_rule_product_equals_direct_differentiation(cell):
    """Claim (exact, SymPy): the product J_2 J_1 that the derivation builds equals SymPy's
    own Jacobian of the explicit s_2(s_0) with respect to s_0 (n = 1, T = 2)."""
    d = derive_cell_jacobian(cell=cell, hidden=1, input_size=1, T=2)
    P = d.parameters
    s0 = [P["h0"][0]] + ([P["c0"][0]] if cell == "lstm" else [])
    s = list(s0)
    for t in range(2):
        a = [
            P["weight_ih"][r, 0] * P["inputs"][t, 0] + P["bias_ih"][r] + P["bias_hh"][r]
            for r in range(GATES[cell])
        ]
        hh = [P["weight_hh"][r, 0] * s[0] for r in range(GATES[cell])]
        if cell == "lstm":
            i, f, o = (Sigmoid(a[k] + hh[k]) for k in (0, 1, 3))
            c = f * s[1] + i * sympy.tanh(a[2] + hh[2])
            s = [o * sympy.tanh(c), c]
        else:
            r, z = Sigmoid(a[0] + hh[0]), Sigmoid(a[1] + hh[1])
            new = sympy.tanh(a[2] - P["bias_hh"][2] + r * (hh[2] + P["bias_hh"][2]))
            s = [(1 - z) * new + z * s[0]]
    direct = sympy.Matrix(s).jacobian(sympy.Matrix(s0))
    assert sympy.expand(direct - d.matrix) == sympy.zeros(len(s0), len(s0))


def test_size_limits_are_refused_up_front(monkeypatch):
    """Claim: sizes beyond the documented limits, and bad arguments, are refused before
    any SymPy work: a DerivationError naming sizes that work (or a ConfigError), while
    no symbol, step or product of the derivation is ever built (each of those functions
    is replaced by one that records the call)."""
    called: list[str] = []

    def forbidden(name):
        def record(*args, **kwargs):
            called.append(name)
            raise AssertionError(f"{name} ran before the size check")

        return record

    for name in ("_gate_rows", "_column", "_step", "_multiply", "cse"):
        monkeypatch.setattr(cells, name, forbidden(name))
    too_long = MAX_CELL_SIZE // 2 + 1
    refused = [
        (DerivationError, "hidden=2 with T<=8", dict(cell="lstm", hidden=2, T=too_long)),
        (DerivationError, "at any size", dict(cell="gru", hidden=MAX_CELL_HIDDEN + 1, T=1)),
        (DerivationError, "input_size", dict(cell="gru", hidden=1, T=1, input_size=100)),
        (ConfigError, "unknown cell", dict(cell="rnn", hidden=1, T=1)),
        (ConfigError, "start", dict(cell="lstm", hidden=1, T=2, start=2)),
        (ConfigError, "hidden", dict(cell="lstm", hidden=0, T=2)),
    ]
    for error, message, kwargs in refused:
        with pytest.raises(error, match=message):
            derive_cell_jacobian(**kwargs)
    assert called == []
    # the patched functions are the ones an allowed derivation does call:
    with pytest.raises(AssertionError, match="ran before the size check"):
        derive_cell_jacobian(cell="lstm", hidden=1, T=1)
    assert called


def test_compiled_function_checks_its_arguments():
    """Claim: the compiled function takes PyTorch's layouts, defaults biases and states to
    zero, and refuses a wrong shape, a missing weight, NaN, or c0 for a GRU."""
    f = derive_cell_jacobian(cell="gru", hidden=2, T=1).to_function()
    a = random_arrays("gru", 2, 1, m=1)
    zeros = {k: np.zeros_like(a[k]) for k in ("bias_ih", "bias_hh", "h0")}
    assert np.array_equal(
        f(weight_ih=a["weight_ih"], weight_hh=a["weight_hh"], inputs=a["inputs"]),
        f(weight_ih=a["weight_ih"], weight_hh=a["weight_hh"], inputs=a["inputs"], **zeros),
    )
    with pytest.raises(ConfigError, match="weight_hh must have shape"):
        f(**{**a, "weight_hh": a["weight_hh"].T})
    with pytest.raises(ConfigError, match="missing argument weight_ih"):
        f(weight_hh=a["weight_hh"], inputs=a["inputs"])
    with pytest.raises(ConfigError, match="NaN"):
        f(**{**a, "h0": np.array([np.nan, 0.0])})
    with pytest.raises(ConfigError, match="unknown argument"):
        f(**a, c0=np.zeros(2))


def test_latex_fragment_compiles_and_shows_the_gates(tmp_path):
    """Claim: render_cell_jacobian gives a fragment that compiles with pdflatex (amsmath +
    breqn) and shows the forget gate on the LSTM's cell path and the product's factor count."""
    d = derive_cell_jacobian(cell="lstm", hidden=2, input_size=1, T=2, start=0)
    tex = render_cell_jacobian(d)
    assert r"\frac{\partial c_{t,1}}{\partial c_{t-1,1}} = f_{t,1}" in tex
    assert r"\frac{\partial s_{2}}{\partial s_{0}} = J_{2} J_{1}" in tex
    assert "exactly $2 - 0 = 2$ factors" in tex
    gru = render_cell_jacobian(derive_cell_jacobian(cell="gru", hidden=2, T=2))
    doc = (
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage{breqn}\n"
        "\\begin{document}\n" + tex + gru + "\\end{document}\n"
    )
    _pdflatex(doc, tmp_path)
    assert d.to_dict()["factors"] == 2
