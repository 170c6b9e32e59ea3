"""Rigorous enclosures of log10 σ_i (issue 14): against mpmath, the exact rank, the engine.

The cases are the differential harness's (:mod:`tests.numeric.harness`), the first
seeds with n <= 6 and T <= 200, plus the issue's small regressions.
"""

import itertools
import json
import math
import sys
import time
import warnings

import mpmath as mp
import numpy as np
import pytest
from click.testing import CliRunner

from gradscope.cli import main
from gradscope.errors import ConfigError
from gradscope.numeric import enclose as enclose_module
from gradscope.numeric.enclose import (
    EnclosureSizeError,
    SpectrumEnclosure,
    default_max_bits,
    enclose_log10_singular_values,
)
from gradscope.numeric.spectrum import compute_singular_values
from gradscope.numeric.steps import ArraySteps, RNNSteps
from tests.numeric import harness

pytest.importorskip("flint")

SEEDS = range(200)
CASES = [c for c in harness.generate_cases(len(SEEDS)) if c.n <= 6 and c.T <= 200][:60]
REGRESSIONS = [harness.relu_dead_units_case(), harness.badly_scaled_case()] + [
    harness.small_tanh_cases()[i] for i in (0, 7)
]
ALL = CASES + REGRESSIONS


def test_enough_cases_of_every_kind():
    """Hypothesis: the deterministic selection has >= 40 cases, many with nonzero rank."""
    assert len(CASES) >= 40
    nonzero = [c for c in CASES if harness.exact_rank(c) > 0]
    assert len(nonzero) >= 25
    assert {c.activation for c in nonzero} >= {"tanh", "sigmoid", "relu", "linear", "explicit"}


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.name)
def test_reference_lies_inside_its_enclosure(case):
    """Hypothesis: the mpmath log10 σ_i of the exact product lies in [lo, hi]; zeros are exact."""
    enc = enclose_log10_singular_values(case.steps())
    ref = harness.reference_log10_singular_values(case)
    assert enc.rank == harness.exact_rank(case) == ref.rank
    assert enc.contains(ref.log10_sigma).all(), (enc.intervals(), ref.log10_sigma)
    zero = enc.log10_upper == -math.inf
    assert np.array_equal(zero, ref.log10_sigma == -math.inf)
    assert np.all(enc.log10_lower[zero] == -math.inf)
    finite = ~zero
    lo, hi = enc.log10_lower[finite], enc.log10_upper[finite]
    assert np.all(lo <= hi)
    assert np.all(hi[:-1] >= hi[1:]) if hi.size > 1 else True  # descending
    assert np.all(hi - lo <= 1e-12 * np.maximum(1.0, np.abs(hi))), (hi - lo).max()
    assert enc.estimated_bits >= enc.product_bits  # the estimate is an upper bound


@pytest.mark.parametrize("case", REGRESSIONS[:2], ids=lambda c: c.name)
def test_agrees_with_the_harness_flint_route(case):
    """Hypothesis: two rigorous enclosures of the same numbers intersect (this one is inside)."""
    enc = enclose_log10_singular_values(case.steps())
    for (lo, hi), (a, b) in zip(
        zip(enc.log10_lower, enc.log10_upper, strict=True),
        harness.flint_log10_singular_values(case),
        strict=True,
    ):
        assert a <= lo <= hi <= b or (hi == b == -math.inf)


def test_engine_bounds_overlap_the_enclosures():
    """Hypothesis: each compute_singular_values value ± its log10_error meets its enclosure.

    Reported, not asserted (the engine's bound is first-order): any miss becomes a warning.
    """
    misses = []
    for case in ALL:
        enc = enclose_log10_singular_values(case.steps())
        res = compute_singular_values(case.steps())
        s, err = res.log10_singular_values, res.log10_error
        for i in range(case.n):
            lo, hi = enc.log10_lower[i], enc.log10_upper[i]
            if hi == -math.inf:  # an exact zero: the engine must say zero (or undetermined)
                ok = s[i] == -math.inf or math.isinf(err[i])
            elif math.isnan(err[i]):  # the engine claims an exact zero
                ok = False
            else:
                ok = s[i] - err[i] <= hi and s[i] + err[i] >= lo
            if not ok:
                misses.append(f"{case.name} σ_{i + 1}: {s[i]} ± {err[i]} vs [{lo}, {hi}]")
    if misses:
        warnings.warn("engine bounds missing the enclosure:\n" + "\n".join(misses), stacklevel=1)


def test_closed_forms():
    """Hypothesis: diag(1/2, 1/4)^1000 has log10 σ = -1000 log10 2, -2000 log10 2 exactly."""
    J = np.broadcast_to(np.diag([0.5, 0.25]), (1000, 2, 2))
    enc = enclose_log10_singular_values(J)
    assert enc.rank == 2 and enc.steps == 1000
    with mp.workdps(50):
        exact = [float(-1000 * mp.log10(2)), float(-2000 * mp.log10(2))]
    assert enc.contains(exact).all()
    # a window, and the identity (log10 σ = 0 exactly)
    enc = enclose_log10_singular_values(J, start=990, end=1000)
    assert enc.contains([-10 * math.log10(2), -20 * math.log10(2)]).all()
    enc = enclose_log10_singular_values(np.broadcast_to(np.eye(3), (5, 3, 3)))
    assert enc.contains([0.0, 0.0, 0.0]).all() and enc.width.max() <= 2 * 5e-324


def test_exact_zeros_and_rank():
    """Hypothesis: a zero factor gives rank 0; a nilpotent product exact zeros; no tolerance."""
    J = np.stack([np.eye(3), np.zeros((3, 3)), np.eye(3)])
    enc = enclose_log10_singular_values(J)
    assert enc.rank == 0 and np.all(enc.log10_upper == -math.inf)
    assert enc.intervals() == [None, None, None]
    N = np.triu(np.ones((3, 3)), k=1)
    assert enclose_log10_singular_values(np.stack([N, N])).rank == 1  # N² has rank 1
    assert enclose_log10_singular_values(np.stack([N, N, N])).rank == 0  # N³ = 0
    # rank 1 from tiny and huge entries: u uᵀ with u = (2**-500, 2**500) is exact
    u = np.array([[2.0**-500], [2.0**500]])
    enc = enclose_log10_singular_values(np.stack([u @ u.T] * 3))
    assert enc.rank == 1
    with mp.workdps(50):  # σ₁ = ‖u‖⁶ = (2**1000 + 2**-1000)**3
        top = float(3 * mp.log10(mp.mpf(2) ** 1000 + mp.mpf(2) ** -1000))
    assert enc.contains([top, -math.inf]).all()


def test_rnn_steps_are_enclosed_exactly_not_rounded():
    """Hypothesis: for RNNSteps the product is diag(dphi) W exactly, not the rounded float."""
    a = 1.0 + 2.0**-27
    W, dphi = np.array([[a]]), np.array([[a]])
    rounded = a * a  # a² = 1 + 2**-26 + 2**-54 exactly; the float loses the 2**-54
    assert rounded == 1.0 + 2.0**-26
    with mp.workdps(60):
        exact = float(mp.log10(mp.mpf(a) ** 2))
        float_one = float(mp.log10(mp.mpf(rounded)))
    assert exact != float_one
    enc = enclose_log10_singular_values(RNNSteps(W, dphi))
    assert enc.contains([exact]).all() and not enc.contains([float_one]).all()
    enc = enclose_log10_singular_values(ArraySteps(RNNSteps(W, dphi).matrix(1)[None]))
    assert enc.contains([float_one]).all() and not enc.contains([exact]).all()


def test_a_stream_and_a_list_give_the_array_result():
    case = CASES[0]
    J = np.stack([case.float_jacobian(t) for t in range(1, case.T + 1)])
    a = enclose_log10_singular_values(J)
    b = enclose_log10_singular_values(iter(list(J)))
    assert np.array_equal(a.log10_lower, b.log10_lower) and b.end == case.T
    assert isinstance(a, SpectrumEnclosure)
    d = a.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert len(d["log10_enclosure"]) == case.n


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (np.zeros((0, 2, 2)), {}, "T >= 1"),
        (np.full((2, 2, 2), np.nan), {}, "NaN"),
        (np.ones((2, 2, 3)), {}, "shape"),
        (np.ones((3, 2, 2)), {"start": 2, "end": 2}, "smaller than end"),
        (np.ones((3, 2, 2)), {"end": 4}, "past the last step"),
        (np.ones((3, 2, 2)), {"max_bits": 0}, "max_bits"),
        (np.ones((3, 2, 2)), {"precision": 10}, "precision"),
        (ArraySteps(np.ones((2, 3, 2, 2))), {}, "batch"),
    ],
)
def test_bad_input_is_refused(args, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        enclose_log10_singular_values(args, **kwargs)


def test_too_large_is_refused_quickly_before_any_work(monkeypatch):
    """Hypothesis: an over-limit product is refused from the exponents alone, naming a fit."""

    def no_work(*a, **k):
        raise AssertionError("big-integer work started before the size check")

    rng = np.random.default_rng(5)
    J = rng.standard_normal((1000, 16, 16)) / 4.0
    with monkeypatch.context() as m:
        m.setattr(enclose_module, "_integer_factors", no_work)
        t0 = time.perf_counter()
        with pytest.raises(EnclosureSizeError, match="start=") as info:
            enclose_log10_singular_values(J)
        assert time.perf_counter() - t0 < 2.0
    exc = info.value
    assert isinstance(exc, ConfigError)
    assert exc.max_bits == default_max_bits(16) < exc.estimated_bits
    assert "max_bits" in str(exc) and f"{exc.estimated_bits:,}" in str(exc)
    # the suggested window fits (here with a small explicit limit, to stay fast)
    with pytest.raises(EnclosureSizeError) as info:
        enclose_log10_singular_values(J[:, :4, :4], max_bits=3000)
    start = info.value.fitting_start
    assert start is not None and 0 < start < 1000
    enc = enclose_log10_singular_values(J[:, :4, :4], start=start, max_bits=3000)
    assert enc.estimated_bits <= 3000 and enc.rank == 4
    with pytest.raises(EnclosureSizeError, match="start="):
        enclose_log10_singular_values(J[:, :4, :4], start=start - 1, max_bits=3000)
    # not even one factor fits
    with pytest.raises(EnclosureSizeError, match="smaller n") as info:
        enclose_log10_singular_values(J[:, :4, :4], max_bits=10)
    assert info.value.fitting_start is None


def test_default_limits_decrease_with_n():
    limits = [default_max_bits(n) for n in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128)]
    assert all(a >= b for a, b in itertools.pairwise(limits))
    assert limits[-1] >= 1
    with pytest.raises(ConfigError):
        default_max_bits(0)


def test_missing_python_flint_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "flint", None)  # import flint raises ImportError
    with pytest.raises(ConfigError, match=r"python-flint.*pip install"):
        enclose_log10_singular_values(np.ones((2, 2, 2)))
    res = invoke("--hidden", "3", "--norm", "0.9", "--T", "10", "--certify")
    assert res.exit_code == 1 and "python-flint" in res.output
    assert "Traceback" not in res.output


# --- the command line ---------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(main, ["spectrum", *map(str, args)])


def test_cli_json_has_the_enclosures():
    res = invoke(
        "--hidden", "5", "--norm", "1.1", "--T", "120", "--seed", "3", "--certify", "--json"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    values, errors, boxes = (
        out["log10_singular_values"],
        out["log10_error"],
        out["log10_enclosure"],
    )
    assert len(boxes) == len(values) == 5
    for v, e, (lo, hi) in zip(values, errors, boxes, strict=True):
        assert lo <= hi and v - e <= hi and v + e >= lo
    assert out["certificate"]["rank"] == 5 and out["certificate"]["product_bits"] > 0
    plain = json.loads(invoke("--hidden", "5", "--norm", "1.1", "--T", "120", "--json").output)
    assert "log10_enclosure" not in plain


def test_cli_exact_zeros_are_null(tmp_path):
    W = np.array([[0.5, 0.2, 0.0], [0.0, 0.0, 0.0], [0.1, 0.3, 0.7]])  # a zero row: rank 2
    path = tmp_path / "w.npz"
    np.savez(path, W_hh=W, W_xh=np.ones((3, 1)), b=np.zeros(3))
    np.save(tmp_path / "x.npy", np.zeros((20, 1)))
    res = invoke(
        "--weights", path, "--inputs", tmp_path / "x.npy", "--activation", "linear", "--certify"
    )
    assert res.exit_code == 0, res.output
    assert "exact rank 2 of 3" in res.output and "−∞" in res.output
    res = invoke(
        "--weights",
        path,
        "--inputs",
        tmp_path / "x.npy",
        "--activation",
        "linear",
        "--certify",
        "--json",
    )
    out = json.loads(res.output)
    assert out["log10_singular_values"][2] is None and out["log10_enclosure"][2] is None
    assert out["log10_enclosure"][0] is not None


def test_cli_table_and_top():
    res = invoke("--hidden", "4", "--radius", "0.9", "--T", "60", "--certify")
    assert res.exit_code == 0, res.output
    assert "certified (--certify)" in res.output and "exact rank 4 of 4" in res.output
    res = invoke("--hidden", "4", "--radius", "0.9", "--T", "60", "--certify", "--top", "2")
    assert res.exit_code == 0, res.output
    assert "certified (--certify)" in res.output
    out = json.loads(
        invoke(
            "--hidden", "4", "--radius", "0.9", "--T", "60", "--certify", "--top", "2", "--json"
        ).output
    )
    assert len(out["log10_enclosure"]) == len(out["log10_singular_values"]) == 2


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--method", "matrix-free", "--top", "2"], "--method graded"),
        (["--top", "2", "--vectors"], "drop --vectors"),
        (["--hidden", "128", "--top", "2"], "--method graded"),
        (["--hidden", "8", "--T", "2000"], "--start"),
        (["--hidden", "64"], "--max-bits"),
    ],
)
def test_cli_refusals_exit_2_without_traceback(args, match):
    defaults = [] if "--hidden" in args else ["--hidden", "3"]
    defaults += [] if "--T" in args else ["--T", "20"]
    res = invoke("--norm", "1.0", *defaults, *args, "--certify")
    assert res.exit_code == 2, res.output
    assert match in res.output and "Traceback" not in res.output
    assert isinstance(res.exception, SystemExit)


def test_cli_max_bits_needs_certify_and_is_applied():
    res = invoke("--hidden", "3", "--norm", "1", "--T", "20", "--max-bits", "100")
    assert res.exit_code == 2 and "add --certify" in res.output
    res = invoke("--hidden", "3", "--norm", "1", "--T", "20", "--certify", "--max-bits", "1000")
    assert res.exit_code == 2 and "--start" in res.output and "--max-bits" in res.output
