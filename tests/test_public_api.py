"""The public surface (issue 17): every package says what it offers, and says it truly.

Each package's ``__all__`` is explicit, and every name in it resolves; the top level
re-exports the functions people call from their one home, lazily, so that
``import gradscope`` stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import gradscope

ROOT = Path(gradscope.__file__).resolve().parent
PACKAGES = sorted(
    ".".join(p.parent.relative_to(ROOT.parent).parts) for p in ROOT.rglob("__init__.py")
)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_has_an_explicit_all_that_resolves(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__dict__.get("__all__")
    assert isinstance(names, list | tuple) and names, f"{package} has no explicit __all__"
    assert len(set(names)) == len(names), f"{package}.__all__ repeats a name"
    # a name is an attribute, or a submodule (``from package import *`` imports it)
    missing = [
        n
        for n in names
        if not hasattr(module, n) and importlib.util.find_spec(f"{package}.{n}") is None
    ]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"


def test_the_top_level_hands_on_each_name_from_its_home() -> None:
    for name, home in gradscope._EXPORTS.items():
        ours = getattr(gradscope, name)
        theirs = getattr(importlib.import_module(home), name)
        assert ours is theirs, name
        # the home is where the object lives, or a package that re-exports it from there
        defined = getattr(ours, "__module__", home)
        assert defined == home or defined.startswith(home + "."), (name, defined, home)


@pytest.mark.parametrize(
    "name",
    [
        "compute_singular_values",
        "compute_lyapunov",
        "compute_top_spectrum",
        "derive_jacobian",
        "derive_gradient",
        "derive_cell_jacobian",
        "replay",
        "load_rnn",
        "load_layers",
        "torch_steps",
    ],
)
def test_the_functions_people_call_are_at_the_top(name: str) -> None:
    assert name in gradscope.__all__
    assert callable(getattr(gradscope, name))


def test_importing_the_package_imports_no_numerics() -> None:
    code = (
        "import sys, gradscope; "
        "print(sorted(m for m in ('numpy', 'scipy', 'sympy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
