"""Output files: formats, resumption after an interruption, foreign rows, refused files."""

from __future__ import annotations

import csv
import dataclasses
import json
import math

import pytest

from gradscope.errors import ConfigError
from gradscope.sweep.grid import SweepGrid
from gradscope.sweep.output import columns, encode_row, read_table
from gradscope.sweep.run import run_sweep
from gradscope.sweep.writer import OrderedEmitter

GRID = SweepGrid.from_mapping(
    {
        "families": "gaussian,non-normal",
        "norms": "0.9,1.05",
        "hidden": "5,8",
        "T": "20,50",
        "activations": "tanh,linear",
        "seeds": 3,
        "seed": 4,
        "horizon_cap": 80,
    }
)


@pytest.fixture(scope="module", params=["csv", "jsonl"])
def reference(request, tmp_path_factory):
    """An uninterrupted run's bytes, per format."""
    path = tmp_path_factory.mktemp("ref") / f"ref.{request.param}"
    summary = run_sweep(GRID, out=path)
    assert (summary.computed, summary.skipped) == (GRID.rows, 0)
    return request.param, path.read_bytes()


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def test_table_shape_and_order(reference):
    """One row per configuration and seed, in grid order, with every column."""
    fmt, data = reference
    cols = columns(GRID.thresholds)
    if fmt == "csv":
        rows = list(csv.DictReader(data.decode().splitlines()))
    else:
        rows = [json.loads(line) for line in data.decode().splitlines()]
        assert all(list(r) == list(cols) for r in rows)
    assert len(rows) == GRID.rows
    got = [
        (r["family"], float(r["scale"]), int(r["hidden"]), int(r["T"]), r["activation"])
        for r in rows
    ]
    want = [
        (c.family, c.scale, c.hidden, c.T, c.activation)
        for c in GRID.configurations()
        for _ in range(GRID.seeds)
    ]
    assert got == want
    assert [int(r["seed_index"]) for r in rows] == [0, 1, 2] * (GRID.rows // 3)
    assert {str(r["seed"]) for r in rows} == {"4"}


@pytest.mark.parametrize("cut", [0.37, 0.5, 0.81])
def test_resume_after_truncation_mid_line_is_byte_identical(reference, tmp_path, cut):
    """A crash leaves a partial last line: it is dropped and the rest is resumed."""
    fmt, data = reference
    path = tmp_path / f"run.{fmt}"
    position = int(len(data) * cut)
    while data[position - 1 : position] == b"\n":  # cut mid-line, not just after one
        position += 1
    assert position < len(data) and data[position - 1 : position] != b"\n"
    path.write_bytes(data[:position])
    summary = run_sweep(GRID, out=path)
    assert summary.dropped_partial
    complete_rows = data[:position].count(b"\n") - (fmt == "csv")
    assert summary.skipped == complete_rows
    assert path.read_bytes() == data


def test_resume_after_interruption_between_batches(reference, tmp_path):
    """Rows are on disk as each batch finishes: a KeyboardInterrupt keeps them all."""
    fmt, data = reference
    path = tmp_path / f"run.{fmt}"
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == 4:  # after the third configuration
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(GRID, out=path, progress=progress)
    partial = path.read_bytes()
    assert partial.endswith(b"\n")
    assert len(_lines(partial)) == 3 * GRID.seeds + (fmt == "csv")
    summary = run_sweep(GRID, out=path)
    assert (summary.skipped, summary.dropped_partial) == (3 * GRID.seeds, False)
    assert path.read_bytes() == data


def test_resume_when_rows_are_missing_inside_a_configuration(reference, tmp_path):
    """Removing single rows: they are recomputed with their whole batch, identically."""
    fmt, data = reference
    lines = _lines(data)
    head = lines[:1] if fmt == "csv" else []
    body = lines[len(head) :]
    kept = [line for i, line in enumerate(body) if i % 7 != 3]
    path = tmp_path / f"run.{fmt}"
    path.write_bytes(b"".join(head + kept[::-1]))  # shuffled order, too
    summary = run_sweep(GRID, out=path)
    assert summary.computed == len(body) - len(kept)
    assert path.read_bytes() == data


def test_nothing_to_do_leaves_the_file(reference, tmp_path):
    fmt, data = reference
    path = tmp_path / f"run.{fmt}"
    path.write_bytes(data)
    before = path.stat().st_mtime_ns
    summary = run_sweep(GRID, out=path)
    assert (summary.computed, summary.skipped) == (0, GRID.rows)
    assert path.stat().st_mtime_ns == before


def test_foreign_rows_are_kept_first(reference, tmp_path):
    """Rows of another grid in the same file are kept (before this grid's rows)."""
    fmt, data = reference
    other = SweepGrid.from_mapping(
        {
            "families": "identity",
            "norms": 0.5,
            "hidden": 4,
            "T": 10,
            "activations": "linear",
            "seeds": 2,
        }
    )
    path = tmp_path / f"run.{fmt}"
    run_sweep(other, out=path)
    foreign = path.read_bytes()
    run_sweep(GRID, out=path)
    combined = path.read_bytes()
    if fmt == "csv":
        assert combined == foreign + b"".join(_lines(data)[1:])
    else:
        assert combined == foreign + data


def test_other_columns_are_refused_untouched(reference, tmp_path):
    fmt, data = reference
    path = tmp_path / f"run.{fmt}"
    path.write_bytes(data[: len(data) // 2])
    before = path.read_bytes()
    other = dataclasses.replace(GRID, thresholds=(0.1,))
    with pytest.raises(ConfigError, match="columns do not match"):
        run_sweep(other, out=path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_malformed_line_is_refused_untouched(tmp_path, fmt):
    path = tmp_path / f"run.{fmt}"
    small = SweepGrid.from_mapping(
        {
            "families": "gaussian",
            "norms": 1,
            "hidden": 4,
            "T": 5,
            "activations": "tanh",
            "seeds": 2,
        }
    )
    run_sweep(small, out=path)
    lines = _lines(path.read_bytes())
    lines.insert(len(lines) - 1, b"garbage,1,2\n" if fmt == "csv" else b'{"family": 1}\n')
    path.write_bytes(b"".join(lines))
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"line \d+|columns do not match"):
        run_sweep(small, out=path)
    assert path.read_bytes() == before


def test_encoding_of_special_values():
    """log10 of an exact zero: -inf in CSV, null in JSON; None is empty / null."""
    cols = ("a", "b", "c", "d")
    row = {"a": -math.inf, "b": None, "c": True, "d": 0.1 + 0.2}
    assert encode_row(row, cols, "csv") == "-inf,,true,0.30000000000000004\n"
    assert json.loads(encode_row(row, cols, "jsonl")) == {
        "a": None,
        "b": None,
        "c": True,
        "d": 0.30000000000000004,
    }


def test_missing_file_is_an_empty_table(tmp_path):
    table = read_table(tmp_path / "none.csv", "csv", columns([0.01]))
    assert (table.lines, table.has_header, table.dropped_partial) == ((), False, False)


def test_ordered_emitter():
    out = []
    emitter = OrderedEmitter([0, 2, 5, 7], out.append)
    for index in (5, 2, 7, 0):
        emitter.add(index, str(index))
    assert out == ["0", "2", "5", "7"]


def test_write_failure_mid_run_keeps_earlier_rows(reference, tmp_path, monkeypatch):
    """A full disk during the sweep: one clear error; rerunning completes the same file."""
    import errno

    from gradscope.sweep import writer

    fmt, data = reference
    path = tmp_path / f"run.{fmt}"
    real, calls = writer.encode_row, []

    def failing(row, cols, fmt):
        calls.append(1)
        if len(calls) > GRID.seeds:  # the second configuration's rows
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(row, cols, fmt)

    monkeypatch.setattr(writer, "encode_row", failing)
    with pytest.raises(ConfigError, match=r"No space left on device.*rerun"):
        run_sweep(GRID, out=path)
    monkeypatch.undo()
    assert len(_lines(path.read_bytes())) == GRID.seeds + (fmt == "csv")
    run_sweep(GRID, out=path)
    assert path.read_bytes() == data
