"""One test per claim of the tutorial, each verdict checked against an independent reference.

Every quantity a verdict rests on is recomputed here by code that shares
nothing with the claim modules: the recurrence and the step Jacobians
``J_t = diag(φ'(z_t)) W_hh`` are written out from the counterexample's arrays,
products are taken in numpy (renormalised, so nothing under- or overflows) or
in mpmath (at a precision confirmed by a higher one), Jacobians are compared
with finite differences, gradients come from torch autograd. A counterexample
must really violate the claim's inequality, with a margin far above the
reference's own error.
"""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
import torch

from gradscope.claims import CLAIM_IDS, ClaimCheck, Counterexample, check_claim, replay
from gradscope.errors import ConfigError
from gradscope.testing import assert_claim


def _phi(act: str, z: np.ndarray) -> np.ndarray:
    return {
        "tanh": np.tanh,
        "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
        "relu": lambda v: np.maximum(v, 0.0),
        "linear": lambda v: v,
    }[act](z)


def _dphi(act: str, z: np.ndarray) -> np.ndarray:
    if act == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if act == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if act == "relu":
        return (z > 0).astype(np.float64)
    return np.ones_like(z)


def _preactivations(cex: Counterexample) -> np.ndarray:
    """z_1 … z_end of z_t = W_hh h_{t-1} + W_xh x_t + b, h_t = φ(z_t), from h_0."""
    h = np.array(cex.h0, dtype=np.float64)
    zs = []
    for t in range(cex.end):
        z = cex.W_hh @ h + cex.W_xh @ cex.inputs[t] + cex.b
        zs.append(z)
        h = _phi(cex.activation, z)
    return np.array(zs)


def _log10_norms(cex: Counterexample, start: int | None = None) -> np.ndarray:
    """log10 ‖J_k ⋯ J_{start+1}‖₂ for k = start+1 … end, renormalised numpy products."""
    s = cex.start if start is None else start
    z = _preactivations(cex)
    M = np.eye(cex.W_hh.shape[0])
    scale = 0.0
    out = []
    for t in range(s + 1, cex.end + 1):  # J_t uses z_t = z[t - 1]
        M = (_dphi(cex.activation, z[t - 1])[:, None] * cex.W_hh) @ M
        top = float(np.linalg.norm(M, 2))
        scale += math.log10(top)
        M = M / top
        out.append(scale)
    return np.array(out)


def _mp_log10_spectral_norm(A: mpmath.matrix) -> mpmath.mpf:
    return mpmath.log10(max(mpmath.svd_r(A, compute_uv=False)))


def _seeds_differ(r: ClaimCheck) -> None:
    assert len({c.seed for c in r.counterexamples}) >= 2  # found from two seeds


def _json_round_trip(r: ClaimCheck) -> list[Counterexample]:
    return [Counterexample.from_dict(json.loads(c.to_json())) for c in r.counterexamples]


def _torch_rnn_loss(cex: Counterexample, truncation: int | None = None) -> dict[str, torch.Tensor]:
    """Torch autograd of L = Σ_t ½‖W_hy h_t − ŷ_t‖², state detached every ``truncation`` steps."""
    act = {"tanh": torch.tanh, "linear": lambda v: v}[cex.activation]
    p = {
        "W_hh": torch.tensor(cex.W_hh, dtype=torch.float64, requires_grad=True),
        "W_xh": torch.tensor(cex.W_xh, dtype=torch.float64, requires_grad=True),
        "b": torch.tensor(cex.b, dtype=torch.float64, requires_grad=True),
        "W_hy": torch.tensor(
            np.asarray(cex.extra["W_hy"]), dtype=torch.float64, requires_grad=True
        ),
    }
    x = torch.tensor(cex.inputs[: cex.end], dtype=torch.float64)
    y = torch.tensor(np.asarray(cex.extra["targets"])[: cex.end], dtype=torch.float64)
    h = torch.tensor(cex.h0, dtype=torch.float64)
    loss = torch.zeros((), dtype=torch.float64)
    for t in range(cex.end):
        if truncation is not None and t > 0 and t % truncation == 0:
            h = h.detach()
        h = act(p["W_hh"] @ h + p["W_xh"] @ x[t] + p["b"])
        loss = loss + 0.5 * torch.sum((p["W_hy"] @ h - y[t]) ** 2)
    loss.backward()
    return {k: v.grad for k, v in p.items()}  # type: ignore[misc]


def test_weight_sharing() -> None:
    """Claim: ∂L/∂W_hh = Σ_t ∂L_t/∂W_hh — the gradient of the summed loss is the sum."""
    r = assert_claim("weight-sharing", "holds")
    assert not r.counterexamples
    rng = np.random.default_rng(3)  # the identity itself, by torch autograd
    for n, T in ((3, 7), (5, 12)):
        W = torch.tensor(rng.standard_normal((n, n)) / math.sqrt(n), requires_grad=True)
        U = torch.tensor(rng.standard_normal((n, 2)))
        V = torch.tensor(rng.standard_normal((2, n)))
        x = torch.tensor(rng.standard_normal((T, 2)))
        y = torch.tensor(rng.standard_normal((T, 2)))
        h, terms = torch.zeros(n, dtype=torch.float64), []
        for t in range(T):
            h = torch.tanh(W @ h + U @ x[t])
            terms.append(0.5 * torch.sum((V @ h - y[t]) ** 2))
        parts = [torch.autograd.grad(L_t, W, retain_graph=True)[0] for L_t in terms]
        (total,) = torch.autograd.grad(sum(terms), W)
        torch.testing.assert_close(total, sum(parts), rtol=1e-12, atol=0.0)


def test_jacobian_product() -> None:
    """Claim: ∂h_T/∂h_1 = Π_{t=2}^T diag(σ'(z_t)) W_hh — holds time-ordered, with σ = tanh."""
    r = assert_claim("jacobian-product", "holds-under")
    assert r.counterexamples
    for cex in _json_round_trip(r):
        assert cex.activation == "tanh" and cex.start == 1
        z = _preactivations(cex)
        J = [_dphi("tanh", z[t - 1])[:, None] * cex.W_hh for t in range(2, cex.end + 1)]
        time_ordered = np.linalg.multi_dot([*reversed(J), np.eye(len(cex.b))])
        increasing = np.linalg.multi_dot([*J, np.eye(len(cex.b))])

        def h_end(h1: np.ndarray, cex: Counterexample = cex) -> np.ndarray:
            h = h1
            for t in range(2, cex.end + 1):
                h = np.tanh(cex.W_hh @ h + cex.W_xh @ cex.inputs[t - 1] + cex.b)
            return h

        h1, eps = np.tanh(z[0]), 1e-6
        fd = np.column_stack(
            [(h_end(h1 + eps * e) - h_end(h1 - eps * e)) / (2 * eps) for e in np.eye(len(h1))]
        )
        scale = np.linalg.norm(fd)
        assert np.linalg.norm(time_ordered - fd) / scale < 1e-7
        assert np.linalg.norm(increasing - fd) / scale > 1e-2


def test_eigenvalue_criterion() -> None:
    """Claim: ρ(W_hh) < 1 ⇒ vanishing, > 1 ⇒ exploding — false for tanh RNNs."""
    r = assert_claim("eigenvalue-criterion", "violated")
    kinds = set()
    for cex in _json_round_trip(r):
        rho = {}
        for dps in (30, 40):
            with mpmath.workdps(dps):
                rho[dps] = max(abs(ev) for ev in mpmath.eig(mpmath.matrix(cex.W_hh.tolist()))[0])
        assert abs(rho[30] - rho[40]) < 1e-20
        log10_norm = _log10_norms(cex)[-1]
        if rho[40] < 1:
            assert log10_norm > 3.0 + 1e-6  # radius below 1, yet exploding
            kinds.add("radius below 1, exploding")
        else:
            assert rho[40] > 1 + 1e-12 and log10_norm < -3.0 - 1e-6  # above 1, yet vanishing
            kinds.add("radius above 1, vanishing")
        assert kinds >= {cex.extra["case"]}
    assert kinds == {"radius below 1, exploding", "radius above 1, vanishing"}
    _seeds_differ(r)


def test_linear_norm_bound() -> None:
    """Claim: linear RNN, ‖∂h_T/∂h_1‖ ≤ ‖W_hh‖^T — one factor off when ‖W‖ < 1."""
    r = assert_claim("linear-norm-bound", "violated")
    for cex in _json_round_trip(r)[:3]:
        assert cex.activation == "linear" and cex.start == 1
        T = cex.end
        values = {}
        for dps in (25, 35):  # linear: ∂h_T/∂h_1 = W^{T-1}, exactly in mpmath
            with mpmath.workdps(dps):
                W = mpmath.matrix(cex.W_hh.tolist())
                values[dps] = (
                    _mp_log10_spectral_norm(W ** (T - 1)),
                    T * _mp_log10_spectral_norm(W),
                )
        assert all(abs(a - b) < 1e-15 for a, b in zip(values[25], values[35], strict=True))
        measured, claimed = values[35]
        assert claimed < 0  # ‖W‖ < 1: one factor too many makes the bound too small
        assert measured > claimed + 1e-6  # the claimed inequality fails
        assert measured <= (T - 1) * claimed / T + 1e-12  # the corrected bound ‖W‖^{T-1} holds
    _seeds_differ(r)


def test_orthogonal_preserves_norm() -> None:
    """Claim: orthogonal W_hh (‖W‖ = 1) preserves gradient magnitude — only when linear."""
    r = assert_claim("orthogonal-preserves-norm", "holds-under")
    assert r.counterexamples
    for cex in _json_round_trip(r):
        W = cex.W_hh
        np.testing.assert_allclose(W.T @ W, np.eye(len(W)), rtol=0, atol=1e-12)
        assert cex.activation == "tanh"
        assert _log10_norms(cex)[-1] < -1.0 - 1e-6  # shrinks by more than a factor of 10
        sigma = np.linalg.svd(np.linalg.matrix_power(W, cex.end - cex.start), compute_uv=False)
        np.testing.assert_allclose(sigma, 1.0, rtol=0, atol=1e-9)  # linear: preserved


def test_clipping_direction() -> None:
    """Claim: clipping by norm caps ‖g‖ at θ and keeps the direction — unless ‖g‖ overflows."""
    r = assert_claim("clipping-direction", "holds-under")
    assert r.counterexamples
    for cex in _json_round_trip(r):
        g = torch.cat([v.reshape(-1) for v in _torch_rnn_loss(cex).values()]).numpy()
        assert np.all(np.isfinite(g))
        top = float(np.max(np.abs(g)))
        true_norm_log10 = math.log10(top) + 0.5 * math.log10(float(np.sum((g / top) ** 2)))
        assert true_norm_log10 < math.log10(np.finfo(np.float64).max)  # g itself is representable
        with np.errstate(over="ignore", invalid="ignore"):
            naive = np.sqrt(np.sum(g**2))  # the rule as written
            clipped = g * (float(cex.extra["theta"]) / naive)
        assert np.isinf(naive)
        assert not np.any(clipped)  # clip(g) = 0: the direction is lost
        assert abs(true_norm_log10 - cex.observed["log10_true_norm"]) < 1e-9


def test_memory_horizon() -> None:
    """Claim: vanishing gradients limit memory to about 10–20 steps — the horizon varies widely."""
    r = assert_claim("memory-horizon", "violated")
    horizons = []
    for cex in _json_round_trip(r):
        assert cex.start == 0
        traj = _log10_norms(cex)  # log10 ‖∂h_k/∂h_0‖₂, k = 1 … end
        assert np.min(np.abs(traj + 2.0)) > 1e-6  # every crossing of θ = 1e-2 is clear
        below = np.nonzero(traj < -2.0)[0]
        if below.size:
            k = int(below[0]) + 1
            assert not 5 <= k <= 40
        else:
            assert cex.end > 40  # not reached within end > 40 steps
            k = cex.end
        horizons.append(k)
    assert min(horizons) < 5 and max(horizons) > 40
    _seeds_differ(r)


def test_truncated_bptt() -> None:
    """Claim: truncated BPTT (K = 100) approximates the full gradient — if it vanishes within K."""
    r = assert_claim("truncated-bptt", "holds-under")
    assert r.counterexamples
    for cex in _json_round_trip(r):
        K = int(cex.extra["truncation"])
        full = _torch_rnn_loss(cex)["W_hh"]
        cut = _torch_rnn_loss(cex, truncation=K)["W_hh"]
        err = float(torch.linalg.norm(cut - full) / torch.linalg.norm(full))
        assert err > 0.1 + 1e-6  # off by more than 10 %
        assert abs(err - cex.observed["relative_error_chunked"]) < 1e-9


def test_tanh_saturation() -> None:
    """Claim: tanh saturation causes gradient issues — unless tanh'·‖W_hh‖₂ > 1."""
    r = assert_claim("tanh-saturation", "holds-under")
    assert r.counterexamples
    for cex in _json_round_trip(r):
        assert cex.activation == "tanh" and cex.start == 0
        z = _preactivations(cex)
        assert np.mean(np.abs(z) > 2.0) >= 0.9  # saturated: |z| > 2 for ≥ 90 % of unit-steps
        assert _log10_norms(cex)[-1] > -3.0 + 1e-6  # and yet no vanishing at T = 40
        gain = np.linalg.norm(cex.W_hh, 2) * _dphi("tanh", z)
        assert np.median(gain) > 1  # the condition: tanh'·‖W_hh‖₂ > 1


def test_catalogue_is_complete_and_deterministic() -> None:
    assert CLAIM_IDS == (
        "weight-sharing",
        "jacobian-product",
        "eigenvalue-criterion",
        "linear-norm-bound",
        "orthogonal-preserves-norm",
        "clipping-direction",
        "memory-horizon",
        "truncated-bptt",
        "tanh-saturation",
    )
    a = check_claim("linear-norm-bound", budget=300, seed=4).to_dict()
    b = check_claim("linear-norm-bound", budget=300, seed=4).to_dict()
    assert json.dumps(a) == json.dumps(b)
    assert a["evaluations"] == 300


def test_assert_claim_failure_shows_the_numbers() -> None:
    with pytest.raises(AssertionError, match=r"verdict 'violated', expected 'holds'.*evidence"):
        assert_claim("linear-norm-bound", budget=200)


def test_bad_counterexample_json() -> None:
    with pytest.raises(ConfigError, match="lacks field"):
        Counterexample.from_dict({"claim": "linear-norm-bound"})
    good = {
        "claim": "linear-norm-bound",
        "activation": "linear",
        "W_hh": [[0.5]],
        "W_xh": [[1.0]],
        "b": [0.0],
        "h0": [0.0],
        "inputs": [[0.0], [0.0]],
        "start": 1,
        "end": 2,
    }
    assert replay(Counterexample.from_dict(good)).contradicts  # 0.5 > 0.5² at T = 2
    with pytest.raises(ConfigError, match="start < end"):
        Counterexample.from_dict({**good, "start": 2})
    with pytest.raises(ConfigError, match="NaN"):
        Counterexample.from_dict({**good, "W_hh": [[float("nan")]]})
    with pytest.raises(ConfigError, match="unknown claim"):
        replay(Counterexample.from_dict({**good, "claim": "made-up"}))
