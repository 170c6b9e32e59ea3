"""Identical numbers whatever the execution mode and however the work is batched.

Hypothesis: a row depends only on its configuration (and the number of seeds
measured with it) — not on serial vs ``--jobs`` vs Dask, not on the other
configurations of the grid, not on interruptions.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gradscope.cli import main
from gradscope.studies.bound import Instance, measure_instances
from gradscope.sweep.grid import SweepGrid
from gradscope.sweep.run import WORKERS_CANNOT_IMPORT, run_sweep
from tests.sweep import SMALL, SMALL_RADII, SMALL_ROWS


@pytest.fixture(scope="module")
def dask_cluster():
    """A local Dask cluster of two single-threaded worker processes, closed afterwards."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        yield cluster


def _run(tmp_path, name, args):
    out = tmp_path / name
    result = CliRunner().invoke(main, ["sweep", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.mark.parametrize("grid", [SMALL, SMALL_RADII], ids=["norms", "radii"])
def test_serial_jobs_and_dask_are_byte_identical(tmp_path, dask_cluster, grid):
    serial = _run(tmp_path, "serial.csv", grid)
    jobs = _run(tmp_path, "jobs.csv", [*grid, "--jobs", "2"])
    dask = _run(tmp_path, "dask.csv", [*grid, "--scheduler", dask_cluster.scheduler_address])
    assert serial == jobs == dask
    if grid is SMALL:
        assert serial.count(b"\n") == SMALL_ROWS + 1


def test_jsonl_jobs_matches_serial(tmp_path):
    assert _run(tmp_path, "a.jsonl", SMALL) == _run(tmp_path, "b.jsonl", [*SMALL, "--jobs", "2"])


def test_dask_workers_without_gradscope(tmp_path, dask_cluster):
    """Workers that cannot import gradscope: one line, exit 1, no file written."""
    import distributed

    with distributed.Client(dask_cluster, set_as_default=False) as client:
        client.run(exec, "import sys; sys.modules['gradscope'] = None")
        try:
            out = tmp_path / "never.csv"
            result = CliRunner().invoke(
                main,
                [
                    "sweep",
                    *SMALL,
                    "--scheduler",
                    dask_cluster.scheduler_address,
                    "--out",
                    str(out),
                ],
            )
        finally:
            client.run(exec, "import sys; sys.modules.pop('gradscope', None)")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {WORKERS_CANNOT_IMPORT}\n"
    assert not out.exists()


def _bits(sb):
    return repr(sb.to_dict())


@pytest.mark.parametrize("activation", ["tanh", "linear", "relu", "sigmoid"])
def test_batch_composition_does_not_change_ordinary_numbers(activation):
    """At ordinary scales, a seed measured alone, with its configuration's seeds, or in a
    batch mixing families, norms and radii gives the same bits."""
    specs = [
        Instance(family=f, seed=2, index=i, **{kind: value})
        for f in ("gaussian", "orthogonal", "identity", "uniform", "non-normal")
        for kind, value in (("norm", 0.5), ("norm", 1.2), ("radius", 1.0))
        for i in range(2)
    ]
    kwargs = {"activation": activation, "T": 40, "hidden": 7, "horizon_cap": 90}
    mixed = measure_instances(specs, **kwargs)
    reversed_ = measure_instances(specs[::-1], **kwargs)[::-1]
    for j, spec in enumerate(specs):
        alone = measure_instances([spec], **kwargs)[0]
        assert _bits(mixed[j]) == _bits(alone) == _bits(reversed_[j])


def test_extreme_configuration_does_not_depend_on_the_rest_of_the_grid():
    """Batches never mix configurations, so an extreme scale (whose shared rescaling in
    the batched product would perturb batch-mates at the last bit) is measured the
    same with or without other configurations in the grid, and vice versa."""
    base = {
        "families": "gaussian",
        "hidden": 7,
        "T": 100,
        "activations": "tanh",
        "seeds": 3,
        "seed": 3,
        "horizon_cap": 120,
    }
    rows = {}
    for norms in ("1000", "0.001,1000,0.9", "0.9"):
        lines: list[str] = []
        run_sweep(SweepGrid.from_mapping({**base, "norms": norms}), emit=lines.append)
        for line in "".join(lines).splitlines()[1:]:
            key = tuple(line.split(",")[:8])
            rows.setdefault(key, set()).add(line)
    assert len(rows) == 3 * 3
    assert all(len(variants) == 1 for variants in rows.values())


def test_a_row_is_its_configuration_batch():
    """Each row equals measure_instances on exactly its configuration's seeds."""
    grid = SweepGrid.from_mapping(
        {
            "families": "non-normal",
            "radii": 1.1,
            "hidden": 6,
            "T": 25,
            "activations": "tanh",
            "seeds": 4,
            "seed": 9,
            "horizon_cap": 50,
        }
    )
    lines: list[str] = []
    run_sweep(grid, fmt="jsonl", emit=lines.append)
    import json

    got = [json.loads(line) for line in "".join(lines).splitlines()]
    want = measure_instances(
        [Instance(family="non-normal", seed=9, index=i, radius=1.1) for i in range(4)],
        activation="tanh",
        T=25,
        hidden=6,
        horizon_cap=50,
    )
    for row, sb in zip(got, want, strict=True):
        assert row["log10_measured"] == sb.log10_measured
        assert row["log10_bound"] == sb.log10_bound
        assert row["spectral_norm"] == sb.spectral_norm
        assert row["horizon_measured@0.01"] == sb.horizons[0].measured
