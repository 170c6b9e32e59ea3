"""gradscope.progress: silent unless enabled, silent for 2 s, one line redrawn, then cleared."""

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from gradscope import progress
from gradscope.cli import main


class FakeClock:
    """A clock the test moves by hand (``step``: also move by this much on every reading)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(progress, "clock", c)
    return c


def visible(text: str) -> str:
    """What a terminal shows at the end: each carriage return starts the line again."""
    return text.rsplit("\r", 1)[-1]


def test_disabled_writes_nothing_and_costs_nothing(clock, capsys):
    with progress.task("work", 10) as t:
        clock.now += 100.0  # long past the delay
        t.advance(5)
        t.advance()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert t.done == 0  # the shared no-op object counts nothing


def test_a_task_off_the_main_thread_draws_nothing(clock):
    """Work split over threads (bound's activations) must not redraw the main line."""
    import threading

    buf = io.StringIO()
    seen = []

    def work() -> None:
        with progress.task("in a thread", 10) as t:
            clock.now += 100.0
            t.advance(10)
            seen.append(t.done)

    with progress.enabled(buf):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert buf.getvalue() == "" and seen == [0]


def test_nothing_during_the_first_two_seconds(clock):
    buf = io.StringIO()
    with progress.enabled(buf), progress.task("work", 10) as t:
        for _ in range(10):
            clock.now += 0.19  # 1.9 s in all
            t.advance()
    assert buf.getvalue() == ""


def test_line_appears_after_the_delay_and_is_cleared(clock):
    buf = io.StringIO()
    with progress.enabled(buf), progress.task("decay curves", 10) as t:
        clock.now += 2.5
        t.advance(4)
        shown = buf.getvalue()
        assert shown.startswith("\r") and "\n" not in shown
        assert "decay curves 4/10" in shown
        assert "left" in shown  # an estimate of the time to go
    text = buf.getvalue()
    assert "\n" not in text
    assert text.endswith("\r") and visible(text) == ""  # blanked, cursor at the start
    cleared = text[len(shown) :]
    assert cleared.strip("\r ") == "" and len(cleared) >= len(shown)


def test_redraws_at_most_every_fifth_of_a_second(clock):
    buf = io.StringIO()
    with progress.enabled(buf), progress.task("work", 100) as t:
        clock.now += 3.0
        t.advance()
        first = buf.getvalue().count("\r")
        for _ in range(3):  # 0.15 s after the first draw: no redraw
            clock.now += 0.05
            t.advance()
        assert buf.getvalue().count("\r") == first
        clock.now += 0.06  # 0.21 s: one redraw
        t.advance()
        assert buf.getvalue().count("\r") == first + 1
        assert "work 5/100" in visible(buf.getvalue())


def test_nested_tasks_draw_one_line_the_outermost(clock):
    buf = io.StringIO()
    with progress.enabled(buf), progress.task("report", 3) as outer:
        outer.advance()
        with progress.task("spectrum", 50) as inner:
            clock.now += 2.5
            inner.advance(20)  # an inner advance redraws the outer line
            line = visible(buf.getvalue())
            assert line.startswith("report 1/3 · spectrum 20/50")
        clock.now += 0.5
        outer.advance()  # the inner task has ended: its part of the line is gone
        assert visible(buf.getvalue()).startswith("report 2/3 (")
    assert "\n" not in buf.getvalue() and visible(buf.getvalue()) == ""


def test_a_failure_clears_the_line_before_the_error(clock):
    buf = io.StringIO()
    with pytest.raises(RuntimeError), progress.enabled(buf), progress.task("work", 4) as t:
        clock.now += 5.0
        t.advance()
        assert visible(buf.getvalue()) != ""
        raise RuntimeError("boom")
    assert visible(buf.getvalue()) == ""
    with progress.task("after", 1) as t:  # reporting ended with its block
        assert type(t) is not progress.Task


def weights_file(tmp_path, n=6):
    rng = np.random.default_rng(0)
    path = tmp_path / "w.npz"
    np.savez(
        path,
        weight_hh_l0=0.9 * rng.standard_normal((n, n)) / np.sqrt(n),
        weight_ih_l0=rng.standard_normal((n, 2)),
    )
    return str(path)


def test_cli_json_stays_clean_with_progress_on(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "clock", FakeClock(step=1.0))  # every reading: 1 s later
    w = weights_file(tmp_path)
    env = {"GRADSCOPE_PROGRESS": "1"}
    res = CliRunner().invoke(main, ["analyze", w, "--T", "30", "--json"], env=env)
    assert res.exit_code == 0, res.output
    json.loads(res.stdout)  # stdout is the JSON alone
    assert "\r" not in res.stdout
    assert "analyze" in res.stderr  # the line was drawn (on stderr) …
    assert visible(res.stderr) == "" and "\n" not in res.stderr  # … and cleared


def test_cli_progress_off_without_a_terminal_or_the_variable(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "clock", FakeClock(step=1.0))
    monkeypatch.delenv("GRADSCOPE_PROGRESS", raising=False)
    res = CliRunner().invoke(main, ["analyze", weights_file(tmp_path), "--T", "30", "--json"])
    assert res.exit_code == 0, res.output
    assert res.stderr == ""


def test_cli_failure_after_progress_prints_one_error_line(tmp_path, monkeypatch):
    """A run that fails while its line is shown ends with exactly one error line."""
    from gradscope.studies import analyze

    monkeypatch.setattr(progress, "clock", FakeClock(step=1.0))

    def fail(*args, **kwargs):
        with progress.task("inner", 2) as t:
            t.advance()
            t.advance()
        from gradscope.errors import NumericalError

        raise NumericalError("the product overflowed at step 3")

    monkeypatch.setattr(analyze, "_analyze_layer", fail)
    res = CliRunner().invoke(
        main, ["analyze", weights_file(tmp_path), "--T", "30"], env={"GRADSCOPE_PROGRESS": "1"}
    )
    assert res.exit_code == 1
    assert "inner" in res.stderr  # progress was drawn
    shown = visible(res.stderr)
    assert shown.count("\n") == 1 and shown.startswith("Error: the product overflowed")
    assert "Traceback" not in res.output
