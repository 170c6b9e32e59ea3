"""The fuzz suite's settings: a fixed hypothesis profile, one sandbox base, a case count.

Every case runs a gradscope command as a separate process (see ``_harness``), so
hypothesis never shrinks (each step would be another process) and keeps no
database: ``derandomize=True`` draws the same cases on every run, and a failure
prints the case that failed. ``max_examples`` is stated per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.fuzz import _harness

settings.register_profile(
    "gradscope-fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=False,
    report_multiple_bugs=False,
)


@pytest.fixture(scope="session")
def sandbox_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One folder for every case's sandbox; the zygote is ended with the session."""
    yield tmp_path_factory.mktemp("fuzz")
    _harness.ZYGOTE.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = _harness.CASE_COUNTS
    if not counts:
        return
    terminalreporter.section("gradscope fuzz cases")
    for name, n in sorted(counts.items()):
        seconds = _harness.CASE_SECONDS[name]
        terminalreporter.write_line(f"{name:22s} {n:5d} cases {seconds:7.1f} s")
    terminalreporter.write_line(f"{'total':22s} {sum(counts.values()):5d}")
