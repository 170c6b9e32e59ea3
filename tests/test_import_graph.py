"""The package's import graph: no cycle, and the layers of DESIGN.md §2 (issue 17).

The layer contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are
checked by import-linter's ``lint-imports``; the cycle check below is this file's own.
Every ``import`` and ``from … import`` of a ``gradscope`` module counts, also those
inside functions (a lazy import is still a dependency); a package's ``__init__``
counts as the package. The graph is read from the source with :mod:`ast`, so
nothing is imported to build it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import gradscope

ROOT = Path(gradscope.__file__).resolve().parent


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and not name.startswith(t + "."):
                    graph[name].add(t)  # a package's own __init__ is not a cycle
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_reader_finds_a_cycle_when_there_is_one():
    """The check is not vacuous: a two-module loop is found."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_cycle():
    graph = _graph()
    assert len(graph) > 50
    assert "gradscope.numeric.graded.blocks" in graph["gradscope.numeric.spectrum"]
    assert not _cycles(graph)


ABOVE_NUMERIC = (
    "init",
    "io",
    "io_cells",
    "io_folder",
    "studies",
    "claims",
    "report",
    "sweep",
    "cli",
)


def test_numeric_imports_no_layer_above_it():
    """Issue 17: ``numeric`` holds algorithms on arrays and Steps; weights are drawn and
    files read above it (``studies``), and nothing in it knows the CLI."""
    graph = _graph()
    above = {f"gradscope.{m}" for m in ABOVE_NUMERIC}
    upward = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("gradscope.numeric")
        for target in targets
        if any(target == a or target.startswith(a + ".") for a in above)
    }
    assert not upward, sorted(upward)


def test_layer_contracts_are_kept():
    """Every import-linter contract in pyproject.toml holds (``lint-imports`` exits 0).

    Runs the ``lint-imports`` of this Python's scripts directory on this checkout, so a
    broken contract fails the suite (CI turns the skip for a missing import-linter into
    a failure as well).
    """
    pytest.importorskip("importlinter", reason="import-linter is in the test extra")
    script = Path(sysconfig.get_path("scripts")) / "lint-imports"
    if not script.exists():
        script = Path(sys.executable).parent / "lint-imports"
    checkout = ROOT.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(checkout), os.environ.get("PYTHONPATH", "")]),
    }
    run = subprocess.run(
        [str(script), "--config", str(checkout / "pyproject.toml"), "--no-cache"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout, run.stdout
