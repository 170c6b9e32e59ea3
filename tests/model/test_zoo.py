"""The zoo's initialisations draw what each paper says, reproducibly; the registry's rules.

Statistical checks use Kolmogorov-Smirnov tests (scipy) at p > 1e-4 on a few
thousand draws, and exact checks where the paper's draw is exact (S4D-real A).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import stats

from gradscope.errors import ConfigError
from gradscope.model.zoo import ZOO, ZOO_NAMES, zoo_cell, zoo_class

P_MIN = 1e-4


def _ks(sample: np.ndarray, dist: str, args: tuple[float, ...]) -> float:
    return float(stats.kstest(np.ravel(sample), dist, args=args).pvalue)


def test_registry_order_and_names() -> None:
    """Hypothesis: the names are the issue's, in its order, each naming its class's NAME."""
    assert ZOO_NAMES == ("indrnn", "antisymmetric", "cornn", "lipschitz", "mingru", "s6", "jordan")
    assert tuple(ZOO) == ZOO_NAMES
    for name in ZOO_NAMES:
        cls = zoo_class(name)
        assert cls.NAME == name
        assert cls.PAPER.year >= 2005 and cls.PAPER.title


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_same_seed_same_cell_other_seed_other_cell(name: str) -> None:
    """Hypothesis: a draw is a function of the seed (SeedSequence), and seeds differ."""
    a, b, c = (zoo_cell(name, hidden=6, inputs=3, seed=s) for s in (4, 4, 5))
    da, db, dc = (json.dumps(x.to_dict()) for x in (a, b, c))
    assert da == db and da != dc


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_to_dict_names_cell_paper_and_every_default(name: str) -> None:
    """Hypothesis: to_dict is JSON-safe and names the cell, its paper and each hyper-parameter."""
    cell = zoo_cell(name, hidden=5, inputs=2)
    d = json.loads(json.dumps(cell.to_dict()))
    assert d["cell"] == name and d["paper"]["title"] == cell.PAPER.title
    assert set(d["defaults"]) == set(type(cell).HYPER)
    for entry in d["defaults"].values():
        assert entry["source"] and "set by the caller" not in entry["source"]
    assert d["state_size"] == cell.state_size


def test_override_is_named_and_unknown_keyword_lists_valid_ones() -> None:
    """Hypothesis: an override is used and reported; a wrong keyword is refused with the list."""
    cell = zoo_cell("cornn", hidden=4, inputs=2, dt=0.1)
    assert cell.dt == 0.1 and "set by the caller" in cell.defaults()["dt"]["source"]
    with pytest.raises(ConfigError, match=r"valid ones are dt, gamma, eps, weight_bound"):
        zoo_cell("cornn", delta=1.0)
    with pytest.raises(ConfigError, match="choose one of indrnn, antisymmetric"):
        zoo_cell("lstm")
    with pytest.raises(ConfigError, match="hidden"):
        zoo_cell("s6", hidden=0)


def test_indrnn_init() -> None:
    """Hypothesis: u ~ U(0, 2^(1/100)) and W ~ N(0, 0.001²), b = 0 (Li et al. 2018)."""
    cell = zoo_cell("indrnn", hidden=4000, inputs=2, seed=1)
    top = 2.0 ** (1 / 100)
    assert cell.u.min() >= 0.0 and cell.u.max() <= top
    assert _ks(cell.u, "uniform", (0.0, top)) > P_MIN
    assert _ks(cell.W_ih, "norm", (0.0, 0.001)) > P_MIN
    assert np.all(cell.b == 0.0) and cell.activation == "relu"


def test_antisymmetric_init() -> None:
    """Hypothesis: W ~ N(0, σ_w²/n), V ~ N(0, 1/m), b = 0 (Chang et al. 2019, App. C)."""
    cell = zoo_cell("antisymmetric", hidden=80, inputs=30, seed=2)
    assert _ks(cell.W, "norm", (0.0, 1.0 / math.sqrt(80))) > P_MIN
    assert _ks(cell.V, "norm", (0.0, 1.0 / math.sqrt(30))) > P_MIN
    assert np.all(cell.b == 0.0)
    # the antisymmetric part has an imaginary spectrum; with γ the real parts are exactly -γ
    ev = np.linalg.eigvals(cell.M)
    np.testing.assert_allclose(ev.real, -cell.gamma, atol=1e-12)


def test_cornn_init() -> None:
    """Hypothesis: every weight ~ U(±1/sqrt(m + 2n)) (nn.Linear on [u, z, y])."""
    n, m = 60, 20
    cell = zoo_cell("cornn", hidden=n, inputs=m, seed=3)
    bound = 1.0 / math.sqrt(m + 2 * n)
    for arr in (cell.W, cell.W_z, cell.V):
        assert _ks(arr, "uniform", (-bound, 2 * bound)) > P_MIN
    assert (cell.dt, cell.gamma, cell.eps) == (0.042, 2.7, 4.7)


def test_lipschitz_init() -> None:
    """Hypothesis: M_A, M_W ~ N(0, (6/n)²), U Xavier-normal, b = 0 (Erichson et al. code)."""
    n, m = 70, 10
    cell = zoo_cell("lipschitz", hidden=n, inputs=m, seed=4)
    for M in (cell.M_A, cell.M_W):
        assert _ks(M, "norm", (0.0, 6.0 / n)) > P_MIN
    assert _ks(cell.U, "norm", (0.0, math.sqrt(2.0 / (n + m)))) > P_MIN
    # A_β's symmetric part is (1 - β)(M + Mᵀ) - γ I
    S = 0.5 * (cell.A_beta + cell.A_beta.T)
    np.testing.assert_allclose(S, 0.25 * (cell.M_A + cell.M_A.T) - 0.001 * np.eye(n), atol=1e-15)


def test_mingru_init() -> None:
    """Hypothesis: every weight and bias ~ U(±1/sqrt(m))."""
    cell = zoo_cell("mingru", hidden=500, inputs=9, seed=5)
    for arr in (cell.W_z, cell.W_h, cell.b_z, cell.b_h):
        assert _ks(arr, "uniform", (-1 / 3, 2 / 3)) > P_MIN


def test_s6_init() -> None:
    """Hypothesis: S4D-real A = -(1..N); softplus(b_Δ) log-uniform in [1e-3, 1e-1]; rank ⌈m/16⌉."""
    D = 3000
    cell = zoo_cell("s6", hidden=D, inputs=4, seed=6, state_dim=3)
    np.testing.assert_array_equal(cell.A_log, np.log(np.broadcast_to([1.0, 2.0, 3.0], (D, 3))))
    np.testing.assert_allclose(cell.A, -np.broadcast_to([1.0, 2.0, 3.0], (D, 3)), rtol=1e-15)
    dt = np.logaddexp(0.0, cell.b_delta)
    assert _ks(np.log(dt), "uniform", (math.log(1e-3), math.log(1e-1) - math.log(1e-3))) > P_MIN
    assert np.linalg.matrix_rank(cell.W_delta[:200, :200]) == 1  # ⌈4/16⌉
    wide = zoo_cell("s6", hidden=20, inputs=40, seed=6)
    assert wide.state_size == 20 * 16 and np.linalg.matrix_rank(wide.W_delta) == 3  # ⌈40/16⌉


def test_jordan_init() -> None:
    """Hypothesis: A = J_4(0.9) ⊕ diag(U(-0.5, 0.5)); B ~ N(0, 1/m)."""
    cell = zoo_cell("jordan", hidden=2000, inputs=16, seed=7)
    A4 = cell.A[:4, :4]
    np.testing.assert_array_equal(A4, 0.9 * np.eye(4) + np.eye(4, k=1))
    assert _ks(cell.others, "uniform", (-0.5, 1.0)) > P_MIN
    assert _ks(cell.B, "norm", (0.0, 0.25)) > P_MIN
    with pytest.raises(ConfigError, match="does not fit"):
        zoo_cell("jordan", hidden=3)


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_arrays_are_read_only_copies(name: str) -> None:
    """Hypothesis: every parameter array is read-only; NaN weights are refused."""
    cell = zoo_cell(name, hidden=6, inputs=2)
    for key in type(cell).ARRAYS:
        arr = getattr(cell, key)
        with pytest.raises(ValueError):
            arr[(0,) * arr.ndim] = 1.0
    cls = type(cell)
    kwargs = {f.name: getattr(cell, f.name) for f in dataclasses.fields(cell)}
    key = cls.ARRAYS[0]
    bad = np.array(kwargs[key], dtype=float)
    bad[(0,) * bad.ndim] = np.nan
    kwargs[key] = bad
    with pytest.raises(ConfigError, match="NaN"):
        cls(**kwargs)
