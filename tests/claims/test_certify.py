"""Certificates in ball arithmetic (python-flint): the bound and every counterexample.

References used: mpmath at 60 digits (forward pass, product, SVD), numpy's float
SVD and eigenvalues (well-conditioned cases), closed forms (0.9^T), and the
claim modules' own float replays.
"""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradscope.claims import Counterexample, check_claim, replay
from gradscope.claims.certify import (
    Certificate,
    certify_bound,
    certify_counterexample,
    enclose_log10_norm,
    enclose_log10_spectral_norm,
    enclose_spectral_radius,
)
from gradscope.errors import ConfigError
from gradscope.init import random_inputs, random_rnn, recurrent_weights
from gradscope.model import RNN
from gradscope.numeric.forward import forward_arrays, rnn_steps
from gradscope.numeric.products import log10_product_norm
from gradscope.testing.strategies import input_sequences, rnns

_CHECKS = {}


def _check(claim_id):
    """check_claim(claim_id) with its default budget, computed once per session."""
    if claim_id not in _CHECKS:
        _CHECKS[claim_id] = check_claim(claim_id)
    return _CHECKS[claim_id]


def _through_json(cex):
    return Counterexample.from_dict(json.loads(cex.to_json()))


def _float_log10_norm(rnn, x, start=0, end=None):
    return float(log10_product_norm(rnn_steps(rnn, x), start=start, end=end))


# ----------------------------------------------------------- counterexamples

CERTIFIED_CLAIMS = [
    "eigenvalue-criterion",
    "jacobian-product",
    "linear-norm-bound",
    "orthogonal-preserves-norm",
    "clipping-direction",
    "memory-horizon",
    "truncated-bptt",
    "tanh-saturation",
]


@pytest.mark.parametrize("claim_id", CERTIFIED_CLAIMS)
def test_every_counterexample_is_certified(claim_id):
    """Claim: each counterexample the search finds contradicts its claim in exact arithmetic."""
    cexs = _check(claim_id).counterexamples
    assert cexs
    for cex in cexs:
        cert = certify_counterexample(_through_json(cex))
        assert cert.certified, (claim_id, cert.statement)
        assert cert.statement.startswith("proved")
        assert cert.subject == claim_id
        assert cert.precision_bits >= 53
        assert all(lo <= hi for lo, hi in cert.enclosures.values())


def _held_at_zero(T, seed=0):
    """ρ(W) = 0 up to rounding, yet J_t = D W with ρ(D W) = 3: the inputs hold unit 1 at
    z = 0 (tanh' = 1) and saturate unit 2, computed along the float64 trajectory (the
    construction of gradscope.claims.eigenvalue_criterion)."""
    rng = np.random.default_rng(seed)
    phi = rng.uniform(0.25, 1.3)
    a = np.array([math.cos(phi), math.sin(phi)])
    b = np.array([math.sin(phi), -math.cos(phi)])  # bᵀa = 0: W = c a bᵀ is nilpotent
    W = 3.0 / (a[0] * b[0]) * np.outer(a, b)
    target = np.array([0.0, rng.uniform(8.0, 12.0)])
    x, h = np.empty((T, 2)), np.zeros(2)
    for t in range(T):
        x[t] = target - W @ h
        h = forward_arrays(W, np.eye(2), np.zeros(2), x[t : t + 1], h, "tanh").h[-1]
    return Counterexample(
        claim="eigenvalue-criterion",
        activation="tanh",
        W_hh=W,
        W_xh=np.eye(2),
        b=np.zeros(2),
        h0=np.zeros(2),
        inputs=x,
        start=1,
        end=T,
        extra={"case": "radius below 1, exploding"},
    )


def test_eigenvalue_criterion_certificates_agree_with_mpmath():
    """Claim: ρ(W) < 1 ⇒ vanishing, ρ(W) > 1 ⇒ exploding. Each counterexample's
    certificate is decided, and it is certified exactly when the exact norm (mpmath,
    80 digits) is on the contradicting side."""
    from gradscope.claims.eigenvalue_criterion import LOG10_BIG

    cexs = _check("eigenvalue-criterion").counterexamples
    assert {c.extra["case"] for c in cexs} == {
        "radius below 1, exploding",
        "radius above 1, vanishing",
    }
    for cex in cexs:
        cert = certify_counterexample(cex)
        assert cert.statement.startswith("proved"), cert.statement
        exact = _mpmath_log10_norm(cex.rnn, cex.inputs, cex.h0, cex.start, cex.end, dps=80)
        lo, hi = cert.enclosures["log10_norm"]
        assert lo <= exact <= hi
        above = "above" in cex.extra["case"]
        assert cert.certified == (exact < -LOG10_BIG if above else exact > LOG10_BIG)


def test_unstable_construction_is_a_rounding_artefact_at_T60():
    """The float64 replay of the held-at-zero construction says ‖∂h_60/∂h_1‖₂ ≈ 1e28,
    but the exact trajectory of those exact inputs leaves the designed one after ~30
    steps (the dynamics expand by 3 per step) and saturates: the exact norm is ≈ 1e-21,
    and the certificate proves the file does NOT contradict the claim. Cut to 20 steps
    the same construction is certified."""
    cex = _held_at_zero(60)
    assert replay(cex).contradicts  # float64 says it does
    cert = certify_counterexample(cex)
    assert not cert.certified and cert.statement.startswith("proved the opposite")
    lo, hi = cert.enclosures["log10_norm"]
    assert hi < -3
    assert lo <= _mpmath_log10_norm(cex.rnn, cex.inputs, cex.h0, 1, 60, dps=80) <= hi
    short = certify_counterexample(_held_at_zero(20))
    assert short.certified, short.statement
    assert short.enclosures["spectral_radius"][1] < 1e-6
    assert short.enclosures["log10_norm"][0] > 3


def test_weight_sharing_cannot_be_certified():
    """Claim: ∂L/∂W_hh = Σ_t ∂L_t/∂W_hh — an exact identity, so no 'counterexample' certifies."""
    assert not _check("weight-sharing").counterexamples
    rnn = random_rnn("gaussian", 3, norm=0.9, seed=1)
    cex = Counterexample(
        claim="weight-sharing",
        activation="tanh",
        W_hh=rnn.W_hh,
        W_xh=rnn.W_xh,
        b=rnn.b,
        h0=np.zeros(3),
        inputs=random_inputs(4, 8, seed=1),
        start=0,
        end=4,
        extra={"W_hy": np.ones((1, 3)), "targets": np.zeros((4, 1))},
    )
    cert = certify_counterexample(cex)
    assert not cert.certified
    assert cert.statement.startswith("cannot be certified")
    assert cert.precision_bits == 0


def test_negative_control_linear_norm_bound_with_2I_is_not_certified():
    """Claim: ‖∂h_T/∂h_1‖ ≤ ‖W‖^T holds for ‖W‖ ≥ 1; a file with W = 2·I must not certify."""
    cex = _check("linear-norm-bound").counterexamples[0]
    data = cex.to_dict()
    n = len(data["W_hh"])
    data["W_hh"] = (2.0 * np.eye(n)).tolist()
    fake = Counterexample.from_dict(data)
    assert not replay(fake).contradicts
    cert = certify_counterexample(fake)
    assert not cert.certified
    assert cert.statement.startswith("proved the opposite")
    T = fake.end
    lo, hi = cert.enclosures["log10_norm"]
    assert lo <= (T - 1) * math.log10(2) <= hi  # ‖(2I)^(T−1)‖₂ = 2^(T−1) exactly
    assert hi < cert.enclosures["log10_claimed_bound"][0]


def test_certificate_is_deterministic_and_json():
    cex = _check("tanh-saturation").counterexamples[0]
    a, b = certify_counterexample(cex), certify_counterexample(cex)
    assert a == b
    text = json.dumps(a.to_dict(), allow_nan=False)
    assert json.loads(text)["certified"] is True
    assert "seconds" not in text


# ------------------------------------------------------------------- the bound


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear"])
def test_bound_is_certified_for_each_activation(activation):
    """Claim: ‖∂h_T/∂h_0‖₂ ≤ (γ‖W‖₂)^T — certified per instance, every activation."""
    rnn = random_rnn("gaussian", 16, norm=0.9, activation=activation, seed=3)
    x = random_inputs(50, 8, seed=3)
    cert = certify_bound(rnn, x)
    assert cert.certified, cert.statement
    assert cert.statement.startswith("proved for this instance")
    lo, hi = cert.enclosures["log10_norm"]
    assert lo - 1e-9 <= _float_log10_norm(rnn, x) <= hi + 1e-9
    assert hi < cert.enclosures["log10_bound"][0]
    gamma = {"sigmoid": 0.25}.get(activation, 1.0)
    b_lo, b_hi = cert.enclosures["log10_bound"]
    assert b_lo <= 50 * math.log10(gamma * 0.9) + 1e-12 and b_hi >= 50 * math.log10(gamma * 0.9)


def test_bound_headline_case_n64_T100():
    """The benchmark case: n = 64, T = 100, tanh, gaussian W with ‖W‖₂ = 0.9."""
    rnn = random_rnn("gaussian", 64, norm=0.9, activation="tanh", seed=0)
    x = random_inputs(100, 8, seed=0)
    cert = certify_bound(rnn, x)
    assert cert.certified
    lo, hi = cert.enclosures["log10_norm"]
    assert lo - 1e-9 <= _float_log10_norm(rnn, x) <= hi + 1e-9
    assert cert.details["factors"] == 100


def test_bound_start_end_counts_factors():
    rnn = random_rnn("uniform", 8, norm=1.2, activation="tanh", seed=5)
    x = random_inputs(30, 8, seed=5)
    cert = certify_bound(rnn, x, start=7, end=19)
    assert cert.details["factors"] == 12
    lo, hi = cert.enclosures["log10_norm"]
    assert lo - 1e-9 <= _float_log10_norm(rnn, x, start=7, end=19) <= hi + 1e-9


def test_T10000_scaled_orthogonal_linear_is_enclosed_below_float64():
    """0.9^10000 ≈ 1e-458, below float64, enclosed in log10; the bound is tight here."""
    rnn = random_rnn("orthogonal", 16, norm=0.9, activation="linear", seed=0)
    x = random_inputs(10000, 8, seed=0)
    exact = 10000 * math.log10(0.9)  # −457.5749056…; W is orthogonal·0.9 up to rounding
    enc = enclose_log10_norm(rnn, x)
    assert enc.contains(exact) and enc.width < 1e-5
    assert -457.575 < enc.lower and enc.upper < -457.5749
    cert = certify_bound(rnn, x)
    assert cert.enclosures["log10_norm"][0] <= exact <= cert.enclosures["log10_norm"][1]
    assert not cert.certified  # ‖W^T‖₂ = ‖W‖₂^T up to rounding of W: nothing to separate
    assert "sits at the bound" in cert.statement
    ratio = cert.enclosures["log10_ratio"]
    assert ratio[0] <= 0 <= ratio[1] and ratio[1] - ratio[0] < 1e-5


def test_T10000_gaussian_linear_is_certified():
    rnn = random_rnn("gaussian", 16, norm=0.9, activation="linear", seed=0)
    cert = certify_bound(rnn, np.zeros((10000, 8)))
    assert cert.certified
    assert cert.enclosures["log10_norm"][1] < cert.enclosures["log10_bound"][0]


def test_relu_undecided_derivative_is_reported():
    """A z that is exactly 0 but rounds to a ball around 0: relu'(z) is undecided (in [0, 1])."""
    a, b = 1 / 3, 1 / 7  # a·b needs more than 64 bits, so W h and W_xh x are rounded
    rnn = RNN(W_hh=[[a]], W_xh=[[-a]], activation="relu")
    x = np.array([[b]])  # z_1 = a·b − a·b = 0, so J_1 = relu'(0)·a = 0
    at64 = certify_bound(rnn, x, [b], precision=64)
    assert at64.details["undecided_relu_derivatives"] >= 1
    assert "undecided" in at64.statement
    assert not at64.certified  # J could be W (relu' = 1) for all 64 bits know
    adaptive = certify_bound(rnn, x, [b])
    assert adaptive.certified and adaptive.precision_bits >= 128  # z = 0 exactly: relu'(0) = 0
    assert adaptive.details["undecided_relu_derivatives"] == 0


# ------------------------------------------------------------------- precision


def test_53_bits_fail_where_adaptive_precision_decides():
    """At 53 bits the radii swamp a 1e-48 product; doubling the precision decides it."""
    rnn = random_rnn("gaussian", 32, norm=0.9, activation="tanh", seed=0)
    x = random_inputs(100, 8, seed=0)
    ref = _float_log10_norm(rnn, x)
    assert ref < -30
    fixed = enclose_log10_norm(rnn, x, precision=53)
    adaptive = enclose_log10_norm(rnn, x)
    assert fixed.precision_bits == 53 and fixed.contains(ref)
    assert fixed.width > 1e-6  # the requested width is out of reach at 53 bits
    assert adaptive.precision_bits > 53 and adaptive.width <= 1e-6
    assert adaptive.contains(ref)


def test_53_bits_leave_a_certificate_undecided():
    """An expanding tanh run (×3 per step, 35 steps): 53 bits cannot follow it, 128 can."""
    cex = _held_at_zero(35)
    at53 = certify_counterexample(cex, precision=53)
    assert not at53.certified and at53.statement.startswith("undecided at 53 bits")
    adaptive = certify_counterexample(cex)
    assert adaptive.certified and adaptive.precision_bits == 128


# ------------------------------------------------------------------ references


def _mpmath_log10_norm(rnn, x, h0, start, end, dps=60):
    import mpmath as mp

    with mp.workdps(dps):
        W, Wx = mp.matrix(rnn.W_hh.tolist()), mp.matrix(rnn.W_xh.tolist())
        b, h = mp.matrix(rnn.b.tolist()), mp.matrix(list(h0))
        name = rnn.activation.name
        phi = {
            "tanh": mp.tanh,
            "sigmoid": lambda z: 1 / (1 + mp.exp(-z)),
            "relu": lambda z: z if z > 0 else mp.mpf(0),
            "linear": lambda z: z,
        }[name]
        dphi = {
            "tanh": lambda z: mp.sech(z) ** 2,
            "sigmoid": lambda z: mp.sech(z / 2) ** 2 / 4,
            "relu": lambda z: mp.mpf(1) if z > 0 else mp.mpf(0),
            "linear": lambda z: mp.mpf(1),
        }[name]
        n = W.rows
        P = mp.eye(n)
        for t in range(1, end + 1):
            z = W * h + Wx * mp.matrix(list(x[t - 1])) + b
            h = mp.matrix([phi(v) for v in z])
            if t > start:
                P = mp.diag([dphi(v) for v in z]) * W * P
        s = max(mp.svd_r(P, compute_uv=False))
        return float(mp.log10(s)) if s > 0 else -math.inf


@given(rnns(st.integers(1, 4)), input_sequences(st.integers(1, 10)))
def test_enclosure_contains_the_mpmath_value(rnn, x):
    """Property: the enclosure holds the exact log10 ‖∂h_T/∂h_0‖₂ (mpmath, 60 digits)."""
    enc = enclose_log10_norm(rnn, x, tol=1e-4)
    ref = _mpmath_log10_norm(rnn, x, np.zeros(rnn.hidden_size), 0, x.shape[0])
    slack = 1e-12 * max(1.0, abs(ref)) if math.isfinite(ref) else 0.0  # mpmath's own rounding
    assert enc.lower - slack <= ref <= enc.upper + slack
    assert enc.width <= 1e-4 or ref == -math.inf  # not vacuous: as narrow as asked


@given(rnns(st.integers(1, 4)), input_sequences(st.integers(1, 10)))
def test_bound_is_certified_or_tight(rnn, x):
    """Property: the bound is proved, unless the instance sits at it (then it says so)."""
    cert = certify_bound(rnn, x)
    assert cert.certified or "sits at the bound" in cert.statement, cert.statement
    assert cert.enclosures["log10_ratio"][0] <= 1e-5  # never provably above the bound


def test_spectral_norm_and_radius_enclosures():
    for family in ("gaussian", "non-normal", "uniform"):
        W = recurrent_weights(family, 12, norm=1.3, seed=2)
        enc = enclose_log10_spectral_norm(W)
        ref = math.log10(np.linalg.svd(W, compute_uv=False)[0])  # float: good to ~1e-15
        assert enc.lower - 1e-14 <= ref <= enc.upper + 1e-14
        assert enc.width <= 1e-6
        rho = enclose_spectral_radius(W)
        ref = float(np.max(np.abs(np.linalg.eigvals(W))))
        assert rho.lower <= ref * (1 + 1e-12) and ref * (1 - 1e-12) <= rho.upper
        assert rho.width <= 1e-6 * rho.upper


def test_nilpotent_radius_is_enclosed():
    """A strictly upper-triangular W: ρ = 0 exactly, where float eigvals are inexact."""
    W = np.triu(np.random.default_rng(0).standard_normal((5, 5)), k=1)
    rho = enclose_spectral_radius(W)
    assert rho.lower == 0.0 and rho.upper == 0.0


# ------------------------------------------------------------------ errors, API


def test_bad_arguments_raise_config_error():
    rnn = random_rnn("gaussian", 4, norm=0.9, seed=0)
    x = random_inputs(5, 8, seed=0)
    with pytest.raises(ConfigError, match="bits >= 53"):
        enclose_log10_norm(rnn, x, precision=32)
    with pytest.raises(ConfigError, match="inputs must have shape"):
        certify_bound(rnn, np.zeros((5, 3)))
    with pytest.raises(ConfigError, match="start < end"):
        certify_bound(rnn, x, start=5)
    with pytest.raises(ConfigError, match="h0 must have shape"):
        certify_bound(rnn, x, np.zeros(3))
    cex = _check("tanh-saturation").counterexamples[0]
    with pytest.raises(ConfigError, match="unknown claim"):
        certify_counterexample(Counterexample.from_dict({**cex.to_dict(), "claim": "nope"}))
    trunc = _check("truncated-bptt").counterexamples[0].to_dict()
    del trunc["W_hy"]
    with pytest.raises(ConfigError, match="W_hy"):
        certify_counterexample(Counterexample.from_dict(trunc))


def test_missing_flint_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "flint", None)  # import flint now raises ImportError
    rnn = random_rnn("gaussian", 4, norm=0.9, seed=0)
    with pytest.raises(ConfigError, match=r"pip install 'gradscope\[certify\]'"):
        certify_bound(rnn, random_inputs(5, 8, seed=0))


def test_importing_the_claims_does_not_import_flint():
    code = (
        "import sys, gradscope.claims, gradscope.claims.certify; "
        "assert 'flint' not in sys.modules, 'flint imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_certificate_to_dict_shape():
    cert = Certificate(
        subject="bound",
        certified=False,
        statement="s",
        enclosures={"log10_norm": (-math.inf, 1.0)},
        precision_bits=64,
    )
    assert cert.to_dict() == {
        "subject": "bound",
        "certified": False,
        "statement": "s",
        "precision_bits": 64,
        "enclosures": {"log10_norm": [None, 1.0]},
        "details": {},
    }
