"""gradscope.threads: the BLAS pools inside the library's own calls (issue 18).

The user's threadpool limits are theirs: a library call lowers the pools for its
hot loop only, never raises one, and gives every pool back its count, also when
the loop raises; small inputs never reach threadpoolctl.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.linalg  # noqa: F401  (scipy's OpenBLAS pool loaded, as in the graded loop)
from click.testing import CliRunner

from gradscope import threads
from gradscope.cli import main
from gradscope.model import RNN
from gradscope.numeric.forward import rnn_steps
from gradscope.numeric.graded import kernels
from gradscope.numeric.spectrum import compute_singular_values
from gradscope.numeric.steps import RNNSteps
from tests.numeric.harness import OnlyApply

threadpoolctl = pytest.importorskip("threadpoolctl")


def _rnn_steps(n: int, T: int, seed: int = 0) -> RNNSteps:
    rng = np.random.default_rng(seed)
    rnn = RNN(W_hh=rng.standard_normal((n, n)) / math.sqrt(n), W_xh=rng.standard_normal((n, 2)))
    return rnn_steps(rnn, rng.standard_normal((T, 2)))


class _Watched(OnlyApply):
    """An RNN's Jacobians known only through ``apply``, which records the pools' sizes
    (and raises at step ``fail``, if given)."""

    def __init__(self, steps: RNNSteps, fail: int | None = None, record: bool = True) -> None:
        super().__init__(steps)
        self.fail = fail
        self.record = record
        self.seen: list[dict[str, int]] = []

    def apply(self, t: int, V: np.ndarray) -> np.ndarray:
        if self.record:
            self.seen.append(threads.pool_threads())
        if t == self.fail:
            raise RuntimeError("stop")
        return super().apply(t, V)


def _blas_info() -> list[tuple[str, int]]:
    return sorted(
        (p["filepath"], p["num_threads"])
        for p in threadpoolctl.threadpool_info()
        if p["user_api"] == "blas"
    )


@pytest.fixture
def user_limits():
    """Set the pools to unusual counts (numpy's 1, scipy's 3) the way a user would, and
    give the pools back afterwards."""
    controller = threadpoolctl.ThreadpoolController()
    pools = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    saved = [(lib, lib.num_threads) for lib in pools]
    libraries = {threads._library(str(lib.filepath)) for lib in pools}
    if not {"numpy", "scipy"} <= libraries:
        pytest.skip("needs numpy's and scipy's own OpenBLAS pools")
    for lib in pools:
        lib.set_num_threads(1 if threads._library(str(lib.filepath)) == "numpy" else 3)
    yield
    for lib, count in saved:
        lib.set_num_threads(count)


def test_user_limits_unchanged_after_a_call(user_limits):
    """Hypothesis: after compute_singular_values above the size threshold every BLAS pool
    has the count the user gave it (threadpool_info before and after)."""
    before = _blas_info()
    assert sorted(c for _, c in before) == [1, 3]
    compute_singular_values(_rnn_steps(2 * threads.MIN_SIZE, 20))
    assert _blas_info() == before


def test_a_user_limit_of_one_is_not_raised_inside(user_limits):
    """Hypothesis: inside the hot loop numpy's pool (the busy one for apply-only Steps)
    stays at the user's 1, and scipy's (idle) is lowered from 3 to 1."""
    steps = _Watched(_rnn_steps(2 * threads.MIN_SIZE, 6))
    compute_singular_values(steps)
    assert steps.seen
    assert all(seen == {"numpy": 1, "scipy": 1} for seen in steps.seen)
    assert threads.pool_threads() == {"numpy": 1, "scipy": 3}


def test_scipy_loop_keeps_numpy_pool_at_one(user_limits, monkeypatch):
    """Hypothesis: in the scipy loop (an RNN's Jacobians) numpy's pool is at 1 and
    scipy's is lowered below n = 512; seen from inside its QR."""
    seen: list[dict[str, int]] = []
    qr = kernels._SCIPY.qr

    def watched_qr(B: np.ndarray) -> Any:
        seen.append(threads.pool_threads())
        return qr(B)

    monkeypatch.setattr(
        kernels,
        "_SCIPY",
        kernels._Kernels(
            kernels._SCIPY.matmul, kernels._SCIPY.triu_matmul, watched_qr, kernels._SCIPY.svdvals
        ),
    )
    compute_singular_values(_rnn_steps(2 * threads.MIN_SIZE, 6))
    assert seen and all(s == {"numpy": 1, "scipy": 1} for s in seen)
    assert threads.pool_threads() == {"numpy": 1, "scipy": 3}


def test_busy_pool_keeps_the_users_count(user_limits):
    """Hypothesis: blas_pools keeps the busy pool's count (3) and lowers only the other."""
    with threads.blas_pools(threads.MIN_SIZE, "scipy"):
        assert threads.pool_threads() == {"numpy": 1, "scipy": 3}
    with threads.blas_pools(threads.MIN_SIZE, "scipy", threads=2):
        assert threads.pool_threads() == {"numpy": 1, "scipy": 2}
    assert threads.pool_threads() == {"numpy": 1, "scipy": 3}


def test_limits_restored_after_an_exception(user_limits):
    """Hypothesis: a loop that raises leaves the pools as the user set them."""
    steps = _Watched(_rnn_steps(2 * threads.MIN_SIZE, 8), fail=3)
    before = _blas_info()
    with pytest.raises(RuntimeError, match="stop"):
        compute_singular_values(steps)
    assert steps.seen[-1] == {"numpy": 1, "scipy": 1}  # it was limited when it raised
    assert _blas_info() == before
    with threads.blas_pools(threads.MIN_SIZE, "numpy"):  # and the guard is free again
        assert threads.pool_threads()["scipy"] == 1


def test_nested_entries_change_nothing(user_limits):
    """Hypothesis: an inner entry is a no-op, and the outer one restores."""
    with threads.blas_pools(threads.MIN_SIZE, "numpy"):
        with threads.blas_pools(threads.MIN_SIZE, "scipy"):
            assert threads.pool_threads() == {"numpy": 1, "scipy": 1}
        assert threads.pool_threads() == {"numpy": 1, "scipy": 1}
    assert threads.pool_threads() == {"numpy": 1, "scipy": 3}


def test_small_inputs_do_not_touch_threadpoolctl(monkeypatch):
    """Hypothesis: below MIN_SIZE a library call never looks the pools up (claim
    searches make about 1e4 such calls); at MIN_SIZE it does."""
    calls = []

    def counting(loaded: tuple[bool, bool]) -> Any:
        calls.append(loaded)
        return None

    monkeypatch.setattr(threads, "_controller", counting)
    compute_singular_values(_rnn_steps(threads.MIN_SIZE - 1, 30))
    compute_singular_values(_Watched(_rnn_steps(8, 30), record=False))  # numpy's loop
    assert calls == []
    compute_singular_values(_rnn_steps(threads.MIN_SIZE, 3))
    assert len(calls) == 1


def test_without_threadpoolctl_a_call_is_a_no_op(monkeypatch, user_limits):
    """Hypothesis: with no controller (threadpoolctl missing) nothing is changed and the
    result is the same."""
    steps = _rnn_steps(threads.MIN_SIZE, 10)
    expected = compute_singular_values(steps).log10_singular_values
    monkeypatch.setattr(threads, "_controller", lambda loaded: None)
    watched = _Watched(steps)
    got = compute_singular_values(watched).log10_singular_values
    assert threads.pool_threads() == {}
    monkeypatch.undo()
    assert threads.pool_threads() == {"numpy": 1, "scipy": 3}
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_cli_threads_bad_values_exit_2(value):
    """Hypothesis: a --threads that is not a whole number >= 1 is bad usage: exit 2, one
    message, no traceback."""
    result = CliRunner().invoke(main, ["--threads", value, "bound", "--norm", "0.9", "--T", "5"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "--threads" in result.output


_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.mark.parametrize(
    ("words", "env", "expected"),
    [(["--threads", "1"], {}, 1), (["--threads", "3"], {}, 3), ([], {"OMP_NUM_THREADS": "1"}, 1)],
)
def test_bound_runs_at_most_the_threads_asked_for(words, env, expected, monkeypatch):
    """Hypothesis: an explicit --threads (or the user's thread variable) caps how many
    activations bound measures at once; without either it is the usable cores."""
    from gradscope.machine import usable_cores
    from gradscope.studies import bound as bound_study

    seen = []
    real = bound_study.compute_bound
    monkeypatch.setattr(
        bound_study, "compute_bound", lambda **kw: seen.append(kw["workers"]) or real(**kw)
    )
    for var in _THREAD_ENV:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    argv = [*words, "bound", "--norm", "0.9", "--T", "5", "--hidden", "4", "--seeds", "1"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    assert seen == [expected]
    if not env:  # the same without --threads (whose run set the variables in this process)
        for var in _THREAD_ENV:
            monkeypatch.delenv(var, raising=False)
        default = CliRunner().invoke(main, argv[len(words) :])
        assert default.exit_code == 0 and seen[1] == usable_cores()


_COMMANDS = {
    "spectrum": "spectrum --hidden 40 --T 30 --radius 1 --json".split(),
    "spectrum-top": "spectrum --hidden 160 --T 30 --radius 1 --top 1 --json".split(),
    "bound": "bound --norm 0.9 --T 20 --hidden 40 --json".split(),
    "check": "check orthogonal-preserves-norm --json".split(),
    "sweep": (
        "sweep --hidden 40 --T 20 --norms 0.9 --seeds 2 --families gaussian "
        "--activations tanh --json"
    ).split(),
}


def _run_cli(threads_option: int, words: list[str]) -> bytes:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in _THREAD_ENV}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-m", "gradscope", "--threads", str(threads_option), *words],
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_same_seed_same_threads_same_bytes(name, tmp_path):
    """Hypothesis: the same seed and the same --threads give byte-identical JSON (twice
    with 1, twice with 2; a sweep's rows file too), and the settings record the BLAS
    threads (a sweep's also its workers')."""
    import json

    for count in (1, 2):
        outputs = []
        for i in range(2):
            words = list(_COMMANDS[name])
            if name == "sweep":
                out = tmp_path / f"rows-{count}-{i}.jsonl"
                words += ["--out", str(out)]
            stdout = _run_cli(count, words)
            if name == "sweep":
                stdout = stdout.replace(str(out).encode(), b"OUT") + out.read_bytes()
            outputs.append(stdout)
        assert outputs[0] == outputs[1]
        settings = json.loads(outputs[0].split(b"\n}\n")[0] + b"\n}")["settings"]
        assert settings["blas_threads"] == count
        if name == "sweep":  # serial: this process's threads, never raised
            assert settings["worker_blas_threads"] >= 1
