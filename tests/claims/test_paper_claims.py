"""The papers' claims (issue 20), each verdict against an independent reference.

References: mpmath matrix powers at 60 digits (never the binomial formula the
claim uses), gradscope's own Jacobian products of the linear recurrence, and
numpy ``matrix_power`` for files recomputed by hand.
"""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner

from gradscope.claim_ids import CLAIM_IDS, PAPER_CLAIM_IDS
from gradscope.claims import (
    Counterexample,
    check_claim,
    check_claims,
    read_counterexample,
    replay,
    select_claims,
)
from gradscope.claims._jordan import jordan_constants, jordan_matrix, normalized_power
from gradscope.claims.jordan_block_law import _draw
from gradscope.cli import main
from gradscope.errors import ConfigError
from gradscope.model import RNN, get_activation
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.products import compute_spectral_norm


def _mp_ratio(S: np.ndarray, blocks: list[tuple[float, int]], k: int) -> float:
    """‖A^k‖₂/(k^(m−1)ρ^k) with A = S J S⁻¹ formed and powered in mpmath (60 digits)."""
    with mpmath.workdps(60):
        Sm = mpmath.matrix(S.tolist())
        A = Sm * mpmath.matrix(jordan_matrix(blocks).tolist()) * Sm**-1
        P = A**k
        sigma = max(mpmath.svd_r(P, compute_uv=False))
        lam, m = blocks[0]
        rho = mpmath.mpf(abs(lam))
        return float(sigma / (mpmath.mpf(k) ** (m - 1) * rho**k))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_normalized_power_against_mpmath(seed: int) -> None:
    """Hypothesis: r_k = ‖S N_k S⁻¹‖₂ equals ‖A^k‖₂/(k^(m−1)ρ^k), also where ρ^k underflows."""
    rng = np.random.default_rng(100 + seed)
    family = ("similar", "tie", "near-subdominant", "single-block")[seed]
    S, blocks = _draw(rng, family)
    lam, m = blocks[0]
    rho = abs(lam)
    S_inv = np.linalg.inv(S)
    for k in (1, 2, 3, 7, 50, 1500):
        N = normalized_power(blocks, np.array([k]), m, rho)[0]
        ours = float(np.linalg.norm(S @ N @ S_inv, 2))
        ref = _mp_ratio(S, blocks, k)
        kappa = np.linalg.cond(S)
        assert ours == pytest.approx(ref, rel=1e-11 * kappa * kappa), (family, k)


@pytest.mark.parametrize("seed", [0, 1])
def test_constants_bracket_every_k_also_beyond_K(seed: int) -> None:
    """Hypothesis: c₁ ≤ ‖A^k‖₂/(k^(m−1)ρ^k) ≤ c₂ for every k ≥ 1, including k > K (tail)."""
    rng = np.random.default_rng(7 + seed)
    S, blocks = _draw(rng, "tie")
    c = jordan_constants(S, blocks, ks=(64, 256, 1024, 4096))
    assert c.determined
    for k in (1, 2, 5, 63, 64, 65, 300, c.K - 1, c.K, c.K + 1, 3 * c.K, 7 * c.K + 1):
        r = _mp_ratio(S, blocks, k)
        assert c.c1 * (1 - 1e-9) <= r <= c.c2 * (1 + 1e-9), k


def test_law_against_the_linear_recurrence_products() -> None:
    """Hypothesis: the products ∂s_k/∂s_0 = A^k of the linear recurrence obey the constants."""
    rng = np.random.default_rng(11)
    S, blocks = _draw(rng, "similar")
    c = jordan_constants(S, blocks)
    A = S @ jordan_matrix(blocks) @ np.linalg.inv(S)
    n = A.shape[0]
    rnn = RNN(W_hh=A, W_xh=np.zeros((n, 1)), b=np.zeros(n), activation=get_activation("linear"))
    lam, m = blocks[0]
    steps = rnn_steps(rnn, np.zeros((120, 1)))
    for k in (1, 10, 60, 120):
        norm = compute_spectral_norm(steps, start=0, end=k)
        r = 10 ** (float(norm.log10_norm) - (m - 1) * math.log10(k) - k * math.log10(abs(lam)))
        assert c.c1 * (1 - 1e-8) <= r <= c.c2 * (1 + 1e-8)
        assert r == pytest.approx(_mp_ratio(S, blocks, k), rel=1e-8)


def test_jordan_check_holds_reproducibly() -> None:
    """Hypothesis: the law holds on every draw, and the verdict replays byte for byte."""
    a = check_claim("jordan-block-law", budget=8, seed=3)
    b = check_claim("jordan-block-law", budget=8, seed=3)
    assert a.verdict == "holds"
    assert a.numbers["draws"] == a.numbers["determined"] == 8
    assert a.numbers["ratio_max"] >= a.numbers["ratio_median"] >= 1.0
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    # the worst draw's ratio, recomputed in mpmath over k = 1..40 and its limit, is no larger
    w = a.numbers["worst"]
    assert w["c2"] / w["c1"] == pytest.approx(w["ratio"])


def _file(tmp_path, scale_c2: float) -> tuple[str, np.ndarray, dict]:
    rng = np.random.default_rng(5)
    S, blocks = _draw(rng, "similar")
    c = jordan_constants(S, blocks)
    A = S @ jordan_matrix(blocks) @ np.linalg.inv(S)
    n = A.shape[0]
    lam, m = blocks[0]
    k = 30
    cex = Counterexample(
        claim="jordan-block-law",
        activation="linear",
        W_hh=A,
        W_xh=np.zeros((n, 1)),
        b=np.zeros(n),
        h0=np.zeros(n),
        inputs=np.zeros((k, 1)),
        start=0,
        end=k,
        extra={"m": m, "rho": abs(lam), "c1": c.c1, "c2": c.c2 * scale_c2},
        note="hand-made",
    )
    path = tmp_path / "jordan-block-law-0.json"
    path.write_text(cex.to_json() + "\n")
    return str(path), A, {"m": m, "rho": abs(lam), "c1": c.c1, "c2": c.c2 * scale_c2, "k": k}


@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_jordan_file_recomputed_by_hand_and_replayed(tmp_path, scale: float) -> None:
    """Hypothesis: a file replays from JSON alone; it contradicts iff ‖A^k‖₂ leaves the band."""
    path, _, facts = _file(tmp_path, scale)
    data = json.loads(open(path).read())
    by_hand = np.linalg.norm(np.linalg.matrix_power(np.array(data["W_hh"]), facts["k"]), 2)
    k, m, rho = facts["k"], facts["m"], facts["rho"]
    outside = not (
        data["c1"] * k ** (m - 1) * rho**k * (1 - 1e-9)
        <= by_hand
        <= data["c2"] * k ** (m - 1) * rho**k * (1 + 1e-9)
    )
    assert outside == (scale < 1)
    result = replay(read_counterexample(data))
    assert result.contradicts == outside
    assert result.observed["log10_norm"] == pytest.approx(math.log10(by_hand), abs=1e-9)
    out = CliRunner().invoke(main, ["replay", path, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["contradicts"] == outside


def test_jordan_file_fields_refused_in_one_line(tmp_path) -> None:
    path, _, _ = _file(tmp_path, 1.0)
    data = json.loads(open(path).read())
    data["c2"] = -1.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = CliRunner().invoke(main, ["replay", str(bad)])
    assert out.exit_code == 1
    assert "'c2'" in out.output and "Traceback" not in out.output


def test_select_claims_by_source() -> None:
    """Hypothesis: no ids → the source's group (tutorial by default); a mismatch is refused."""
    assert select_claims() == list(CLAIM_IDS)
    assert select_claims(source="papers") == list(PAPER_CLAIM_IDS)
    assert select_claims(source="all") == list(CLAIM_IDS + PAPER_CLAIM_IDS)
    assert select_claims(["jordan-block-law"], "papers") == ["jordan-block-law"]
    with pytest.raises(ConfigError, match="papers' claims, not of --source tutorial"):
        select_claims(["jordan-block-law"], "tutorial")
    with pytest.raises(ConfigError, match="unknown source"):
        check_claims(source="everything")


def test_check_source_cli_exit_codes_and_grouping() -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["check", "jordan-block-law", "--source", "tutorial"])
    assert out.exit_code == 2 and "not of --source tutorial" in out.output
    out = runner.invoke(main, ["check", "--source", "nonsense"])
    assert out.exit_code == 2
    args = ["check", "jordan-block-law", "linear-norm-bound", "--budget", "4", "--json"]
    out = runner.invoke(main, args)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["sources"] == {"tutorial": ["linear-norm-bound"], "papers": ["jordan-block-law"]}
    assert {c["id"] for c in doc["claims"]} == {"jordan-block-law", "linear-norm-bound"}
    out = runner.invoke(main, ["check", "--source", "papers", "--budget", "4"])
    assert out.exit_code == 0, out.output
    assert "the papers' claims" in out.output and "the tutorial's claims" not in out.output


def test_tutorial_only_check_json_has_no_new_keys() -> None:
    """Hypothesis: a tutorial-only check writes the JSON it always wrote (no 'sources')."""
    out = CliRunner().invoke(main, ["check", "linear-norm-bound", "--budget", "4", "--json"])
    assert out.exit_code == 0
    doc = json.loads(out.output)
    assert "sources" not in doc and "source" not in doc["settings"]


# --- zoo-cell claims: torch twins written here, independently of gradscope.numeric.zoo ---


def _write(tmp_path, cex) -> tuple[str, dict]:
    path = tmp_path / f"{cex.claim}-0.json"
    path.write_text(cex.to_json() + "\n")
    return str(path), json.loads(path.read_text())


def _antisymmetric_twin(data: dict):
    torch = pytest.importorskip("torch")
    p, hy = data["cell"]["parameters"], data["cell"]["hyper"]
    W, V, b = (torch.tensor(p[k], dtype=torch.float64) for k in ("W", "V", "b"))
    n = W.shape[0]
    M = W - W.T - hy["gamma"] * torch.eye(n, dtype=torch.float64)
    x = torch.tensor(data["inputs"], dtype=torch.float64)

    def step(h, t):
        return h + hy["eps"] * torch.tanh(M @ h + V @ x[t] + b)

    return torch, step, n


def test_antisymmetric_file_recomputed_with_torch_autograd(tmp_path) -> None:
    """Hypothesis: the file's singular values leave the band of the factors' eigenvalues.

    Recomputed by hand: ∂h_T/∂h_0 of the unrolled cell by torch autograd, its SVD, and
    each step's Jacobian (autograd) for the eigenvalue band and the eigenvalue strip.
    """
    result = check_claim("antisymmetric-eigenvalues", budget=10, seed=0)
    assert result.verdict == "holds-under"
    assert len({c.seed for c in result.counterexamples}) == 2  # found from both seeds
    for cex in result.counterexamples:
        _antisymmetric_by_hand(*_write(tmp_path, cex))


def _antisymmetric_by_hand(path: str, data: dict) -> None:
    torch, step, n = _antisymmetric_twin(data)
    T = data["end"]
    h = torch.tensor(data["s0"], dtype=torch.float64)
    lo = hi = 0.0
    for t in range(T):
        J = torch.autograd.functional.jacobian(lambda v, t=t: step(v, t), h).numpy()
        mu = np.abs(np.linalg.eigvals(J))
        lo, hi = lo + math.log10(mu.min()), hi + math.log10(mu.max())
        # the eigenvalue statement, with D_t = tanh' from torch directly
        eps, gamma = data["cell"]["hyper"]["eps"], data["cell"]["hyper"]["gamma"]
        re = np.linalg.eigvals((J - np.eye(n)) / eps).real
        assert re.max() <= 1e-9 * max(1.0, np.linalg.norm((J - np.eye(n)) / eps, 2))
        assert re.min() >= -gamma - 1e-9 * max(1.0, np.linalg.norm(J, 2) / eps)
        h = step(h, t).detach()

    def unrolled(h0):
        for t in range(T):
            h0 = step(h0, t)
        return h0

    h0 = torch.tensor(data["s0"], dtype=torch.float64)
    P = torch.autograd.functional.jacobian(unrolled, h0).numpy()
    s = np.linalg.svd(P, compute_uv=False)
    obs = data["observed"]
    assert math.log10(s[0]) == pytest.approx(obs["log10_sigma_max"], abs=1e-8)
    assert math.log10(s[-1]) == pytest.approx(obs["log10_sigma_min"], abs=1e-6)
    assert hi == pytest.approx(obs["log10_band_high"], abs=1e-8)
    assert lo == pytest.approx(obs["log10_band_low"], abs=1e-8)
    outside = math.log10(s[0]) > hi + 0.01 + 1e-6 or math.log10(s[-1]) < lo - 0.01 - 1e-6
    assert outside
    back = read_counterexample(data)
    assert replay(back).contradicts == outside
    out = CliRunner().invoke(main, ["replay", path, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["contradicts"] is True


def test_indrnn_file_recomputed_with_torch_autograd(tmp_path) -> None:
    """Hypothesis: a unit with |u_n| in [ε^(1/T), γ^(1/T)] has ∂h_{n,T}/∂h_{n,0} < ε (= 0)."""
    torch = pytest.importorskip("torch")
    result = check_claim("indrnn-gradient-regulation", budget=20, seed=0)
    assert result.verdict == "holds-under"
    assert result.numbers["above"] == 0 and result.numbers["active_units_outside"] == 0
    assert len({c.seed for c in result.counterexamples}) == 2
    for cex in result.counterexamples:
        _indrnn_by_hand(torch, *_write(tmp_path, cex))


def _indrnn_by_hand(torch, path: str, data: dict) -> None:
    p = data["cell"]["parameters"]
    W, u, b = (torch.tensor(p[k], dtype=torch.float64) for k in ("W_ih", "u", "b"))
    x = torch.tensor(data["inputs"], dtype=torch.float64)

    def unrolled(h):
        for t in range(data["end"]):
            h = torch.relu(W @ x[t] + u * h + b)
        return h

    P = torch.autograd.functional.jacobian(
        unrolled, torch.tensor(data["s0"], dtype=torch.float64)
    ).numpy()
    assert np.count_nonzero(P - np.diag(np.diagonal(P))) == 0  # diagonal: units independent
    unit, mag = data["unit"], data["mag"]
    T = data["end"]
    assert (1 / mag) ** (1 / T) <= abs(p["u"][unit]) <= mag ** (1 / T)
    assert abs(P[unit, unit]) < 1 / mag
    result_now = replay(read_counterexample(data))
    assert result_now.contradicts
    out = CliRunner().invoke(main, ["replay", path])
    assert out.exit_code == 0 and "this example contradicts" in out.output


def test_indrnn_active_units_obey_the_formula() -> None:
    """Hypothesis: the unit factor equals |u_n|^T exactly when the unit is active throughout."""
    torch = pytest.importorskip("torch")
    from gradscope.claims.indrnn_gradient_regulation import _unit_gradients
    from gradscope.model.zoo import zoo_cell

    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        cell = zoo_cell("indrnn", hidden=6, inputs=2, seed=seed)
        import dataclasses

        cell = dataclasses.replace(cell, u=rng.uniform(0.5, 1.5, 6), b=np.full(6, 0.5))
        x = rng.standard_normal((30, 2))
        g = _unit_gradients(cell, x)
        W, u, b = (torch.tensor(np.asarray(a)) for a in (cell.W_ih, cell.u, cell.b))
        h = torch.zeros(6, dtype=torch.float64)
        alive = np.ones(6, dtype=bool)
        for t in range(30):
            z = W @ torch.tensor(x[t]) + u * h + b
            alive &= (z > 0).numpy()
            h = torch.relu(z)
        assert np.all(alive)
        np.testing.assert_allclose(g, np.abs(np.asarray(cell.u)) ** 30, rtol=1e-13)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["cell"].__setitem__("name", "lstm"), "unknown zoo cell 'lstm'"),
        (lambda d: d["cell"]["hyper"].__setitem__("eps", "0.1"), "'cell.hyper.eps'"),
        (lambda d: d["cell"]["parameters"].pop("V"), "'cell.parameters'"),
        (lambda d: d["cell"]["parameters"]["W"][0].__setitem__(0, True), "numbers only"),
        (lambda d: d.__setitem__("s0", [0.0]), "'s0'"),
        (lambda d: d.__setitem__("end", 10**6), "'end'"),
        (lambda d: d["cell"].pop("hyper"), "lacks 'hyper'"),
    ],
)
def test_cell_file_fields_refused_in_one_line(tmp_path, edit, message) -> None:
    """Hypothesis: every field of a zoo-cell file is checked; a bad one is one line, exit 1."""
    cex = check_claim("antisymmetric-eigenvalues", budget=4, seed=0).counterexamples[0]
    data = cex.to_dict()
    edit(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = CliRunner().invoke(main, ["replay", str(bad)])
    assert out.exit_code == 1, out.output
    assert message in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jordan_law_on_the_zoo_jordan_cell(seed: int) -> None:
    """Hypothesis: the zoo jordan cell's products ‖∂s_k/∂s_0‖₂ lie within [c₁, c₂]·k^(m−1)ρ^k."""
    from gradscope.model.zoo import zoo_cell
    from gradscope.numeric.zoo import zoo_steps

    cell = zoo_cell("jordan", hidden=7, inputs=2, seed=seed, m=1 + seed * 2, rho=0.9)
    blocks = [(cell.rho, cell.m)] + [(float(o), 1) for o in cell.others]
    c = jordan_constants(np.eye(cell.hidden_size), blocks)
    steps = zoo_steps(cell, np.zeros((200, 2)))
    for k in (1, 5, 50, 200):
        norm = compute_spectral_norm(steps, start=0, end=k)
        scale = (cell.m - 1) * math.log10(k) + k * math.log10(cell.rho)
        r = 10 ** (float(norm.log10_norm) - scale)
        assert c.c1 * (1 - 1e-9) <= r <= c.c2 * (1 + 1e-9)
    # the nilpotent case (an eigenvalue 0 among the others) is handled exactly
    zero = jordan_constants(np.eye(3), [(0.5, 2), (0.0, 1)])
    assert zero.determined


def _cornn_norm_by_hand(torch, data: dict) -> float:
    """log10 ‖∂s_T/∂s_0‖₂ of an independently written coRNN twin, by torch autograd."""
    p, hy = data["cell"]["parameters"], data["cell"]["hyper"]
    W, Wz, V, b = (torch.tensor(p[k], dtype=torch.float64) for k in ("W", "W_z", "V", "b"))
    x = torch.tensor(data["inputs"], dtype=torch.float64)
    n = W.shape[0]
    dt, gamma, eps = hy["dt"], hy["gamma"], hy["eps"]

    implicit = hy["scheme"] == "paper"  # eq. (3): -dt·eps·z_n; the authors' code: z_(n-1)

    def unrolled(s):
        y, z = s[:n], s[n:]
        for t in range(data["end"]):
            drive = z + dt * (torch.tanh(W @ y + Wz @ z + V @ x[t] + b) - gamma * y)
            z = drive / (1 + dt * eps) if implicit else drive - dt * eps * z
            y = y + dt * z
        return torch.cat([y, z])

    P = torch.autograd.functional.jacobian(
        unrolled, torch.tensor(data["s0"], dtype=torch.float64)
    ).numpy()
    return math.log10(np.linalg.svd(P, compute_uv=False)[0])


def test_cornn_file_recomputed_with_torch_autograd(tmp_path) -> None:
    """Hypothesis: at the paper's settings ‖∂s_T/∂s_0‖₂ < 1e-8 (vanished), from both seeds."""
    torch = pytest.importorskip("torch")
    result = check_claim("cornn-gradient-bound", budget=12, seed=0)
    assert result.verdict == "holds-under" and result.numbers["exploded"] == 0
    assert len({c.seed for c in result.counterexamples}) == 2
    for cex in result.counterexamples:
        path, data = _write(tmp_path, cex)
        by_hand = _cornn_norm_by_hand(torch, data)
        assert by_hand == pytest.approx(data["observed"]["log10_norm"], abs=1e-6)
        assert by_hand < -8
        assert replay(read_counterexample(data)).contradicts
        out = CliRunner().invoke(main, ["replay", path, "--json"])
        assert out.exit_code == 0 and json.loads(out.output)["contradicts"] is True
    # a file's own s0 is the run's start: an edited one is replayed, not ignored
    data["s0"] = np.random.default_rng(5).standard_normal(len(data["s0"])).tolist()
    observed = replay(read_counterexample(data)).observed["log10_norm"]
    assert observed == pytest.approx(_cornn_norm_by_hand(torch, data), abs=1e-6)


def test_lipschitz_file_recomputed_with_torch_autograd(tmp_path) -> None:
    """Hypothesis: at the paper's settings (μ < 0) ‖∂h_T/∂h_0‖₂ exceeds 1e8, from both seeds."""
    torch = pytest.importorskip("torch")
    result = check_claim("lipschitz-stability", budget=16, seed=0)
    assert result.verdict == "holds-under"
    assert result.numbers["expansive_under_condition"] == 0
    assert len({c.seed for c in result.counterexamples}) == 2
    for cex in result.counterexamples:
        path, data = _write(tmp_path, cex)
        p, hy = data["cell"]["parameters"], data["cell"]["hyper"]
        MA, MW, U, b = (torch.tensor(p[k], dtype=torch.float64) for k in ("M_A", "M_W", "U", "b"))
        n = MA.shape[0]
        eye = torch.eye(n, dtype=torch.float64)
        beta = hy["beta"]
        A = (1 - beta) * (MA + MA.T) + beta * (MA - MA.T) - hy["gamma_A"] * eye
        W = (1 - beta) * (MW + MW.T) + beta * (MW - MW.T) - hy["gamma_W"] * eye
        x = torch.tensor(data["inputs"], dtype=torch.float64)
        eps, T = hy["eps"], data["end"]

        def unrolled(h, A=A, W=W, U=U, b=b, x=x, eps=eps, T=T):
            for t in range(T):
                h = h + eps * (A @ h) + eps * torch.tanh(W @ h + U @ x[t] + b)
            return h

        P = torch.autograd.functional.jacobian(
            unrolled, torch.tensor(data["s0"], dtype=torch.float64)
        ).numpy()
        top = math.log10(np.linalg.svd(P, compute_uv=False)[0])
        assert top == pytest.approx(data["observed"]["log10_norm"], abs=1e-6)
        mu = -(np.linalg.eigvalsh(0.5 * (A + A.T).numpy()).max() + np.linalg.norm(W.numpy(), 2))
        assert mu < 0 and top > 8  # outside the stability condition, and exploded
        assert replay(read_counterexample(data)).contradicts
        out = CliRunner().invoke(main, ["replay", path])
        assert out.exit_code == 0 and "this example contradicts" in out.output


def test_check_out_writes_zoo_cell_files_that_replay(tmp_path) -> None:
    """Hypothesis: check --out writes each paper counterexample; each replays from JSON alone."""
    out = tmp_path / "cex"
    ids = ["indrnn-gradient-regulation", "antisymmetric-eigenvalues"]
    res = CliRunner().invoke(main, ["check", *ids, "--budget", "6", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["sources"] == {"papers": ids}
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted(
        f"{c['id']}-{k}.json" for c in doc["claims"] for k in range(len(c["counterexamples"]))
    )
    for f in files:
        data = json.loads(f.read_text())
        assert "cell" in data and "W_hh" not in data
        again = CliRunner().invoke(main, ["replay", str(f), "--json"])
        assert again.exit_code == 0, again.output
        assert json.loads(again.output)["contradicts"] is True


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lipschitz_under_the_condition_is_non_expansive(seed: int) -> None:
    """Hypothesis: with μ = −(λ_max(A^sym) + ‖W‖₂) > 0 and small ε, ‖∂h_T/∂h_0‖₂ ≤ 1 (torch)."""
    torch = pytest.importorskip("torch")
    from gradscope.claims.lipschitz_stability import _measure
    from gradscope.model.zoo import zoo_cell

    cell = zoo_cell(
        "lipschitz", hidden=8, inputs=2, seed=seed, gamma_A=5.0, gamma_W=0.001, init_std=1.0
    )
    A, W = torch.tensor(cell.A_beta), torch.tensor(cell.W_beta)
    mu = -(np.linalg.eigvalsh(0.5 * (cell.A_beta + cell.A_beta.T)).max() + np.linalg.norm(W, 2))
    assert mu > 0
    x = np.random.default_rng(seed).standard_normal((200, 2))
    U, b, xt = torch.tensor(cell.U), torch.tensor(cell.b), torch.tensor(x)

    def unrolled(h):
        for t in range(200):
            h = h + cell.eps * (A @ h) + cell.eps * torch.tanh(W @ h + U @ xt[t] + b)
        return h

    P = torch.autograd.functional.jacobian(unrolled, torch.zeros(8, dtype=torch.float64))
    top = math.log10(np.linalg.svd(P.numpy(), compute_uv=False)[0])
    assert top <= 0
    assert top == pytest.approx(_measure(cell, x, None)["log10_norm"], abs=1e-9)
