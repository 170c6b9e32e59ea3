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
