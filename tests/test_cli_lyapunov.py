"""gradscope spectrum --lyapunov-top K --warmup W: the values, the JSON, and every bad value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from gradscope.cli import main
from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps

rng = np.random.default_rng(4)
N, M, T = 6, 2, 240
W_HH = 1.6 * rng.standard_normal((N, N)) / np.sqrt(N)
W_XH = rng.standard_normal((N, M))
X = 0.5 * rng.standard_normal((T, M))


def run(*args: object) -> Result:
    return CliRunner().invoke(main, ["spectrum", *map(str, args)], catch_exceptions=False)


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    w, x = tmp_path / "w.npz", tmp_path / "x.npy"
    np.savez(w, W_hh=W_HH, W_xh=W_XH, b=np.zeros(N))
    np.save(x, X)
    return str(w), str(x)


def plain_loop(J: np.ndarray, k: int, warmup: int) -> np.ndarray:
    Q, sums = np.eye(J.shape[1])[:, :k], np.zeros(k)
    for t, M_ in enumerate(J):
        Q, R = np.linalg.qr(M_ @ Q)
        if t >= warmup:
            sums += np.log(np.abs(np.diagonal(R)))
    return np.sort(sums / (len(J) - warmup))[::-1]


def test_json_gives_the_top_k_of_a_plain_loop_with_unit_and_history(
    files: tuple[str, str],
) -> None:
    w, x = files
    res = run("--weights", w, "--inputs", x, "--lyapunov-top", 3, "--warmup", 40, "--json")
    assert res.exit_code == 0, res.output
    lyap = json.loads(res.output)["lyapunov"]
    steps = rnn_steps(RNN(W_hh=W_HH, W_xh=W_XH, activation="tanh"), X)
    J = np.stack([steps.matrix(t) for t in range(1, T + 1)])
    ref = plain_loop(J, 3, 40)
    ours = np.array(lyap["exponents"])
    assert np.all(np.abs(ours - ref) <= 1e-12 * (1 + np.abs(ref)))
    assert lyap["unit"] == "natural log per step" and lyap["k"] == 3 and lyap["warmup"] == 40
    assert lyap["averaged_steps"] == T - 40
    assert len(lyap["standard_error"]) == 3 and all(v > 0 for v in lyap["standard_error"])
    assert lyap["history"][-1] == lyap["exponents"] and lyap["history_steps"][-1] == T


def test_top_no_longer_reports_first_pass_exponents(files: tuple[str, str]) -> None:
    w, x = files
    for method in ("graded", "matrix-free"):
        res = run("--weights", w, "--inputs", x, "--top", 2, "--method", method, "--json")
        assert res.exit_code == 0, res.output
        d = json.loads(res.output)
        assert "lyapunov_exponents" not in d and "lyapunov" not in d
    # the whole spectrum still gives all n (QR method over the window)
    d = json.loads(run("--weights", w, "--inputs", x, "--json").output)
    assert len(d["lyapunov_exponents"]) == N


def test_text_shows_the_table(files: tuple[str, str]) -> None:
    w, x = files
    res = run("--weights", w, "--inputs", x, "--top", 1, "--lyapunov-top", 2, "--warmup", 10)
    assert res.exit_code == 0, res.output
    assert "top 2 Lyapunov exponents over steps 11..240" in res.output
    assert "std. error" in res.output


def test_same_arguments_same_bytes(files: tuple[str, str]) -> None:
    w, x = files
    args = ("--weights", w, "--inputs", x, "--lyapunov-top", 2, "--warmup", 5, "--json")
    assert run(*args).output == run(*args).output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--lyapunov-top", N + 1), "more than n"),
        (("--lyapunov-top", 0), "at least 1"),
        (("--lyapunov-top", 2, "--warmup", -1), "negative"),
        (("--lyapunov-top", 2, "--warmup", T), "leaves no steps"),
        (("--lyapunov-top", 2, "--start", 200, "--warmup", 40), "leaves no steps"),
        (("--warmup", 3), "add --lyapunov-top"),
    ],
)
def test_bad_values_exit_2_with_one_error_line(
    files: tuple[str, str], args: tuple[object, ...], fragment: str
) -> None:
    w, x = files
    res = run("--weights", w, "--inputs", x, *args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and fragment in errors[0], res.stderr
