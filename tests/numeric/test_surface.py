"""numeric's public surface: every name of ``__all__`` is its home module's, loaded lazily.

Hypothesis: ``gradscope.numeric.__all__`` lists only names that its home modules
define and export, and importing the package alone loads no numpy (issue 17).
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import gradscope.numeric as numeric


def test_every_name_resolves_to_its_home_module() -> None:
    for name in numeric.__all__:
        home = importlib.import_module(numeric._HOME[name], "gradscope.numeric")
        assert name in home.__all__, name
        assert getattr(numeric, name) is getattr(home, name)
    assert sorted(numeric.__all__) == sorted(numeric._HOME)
    assert set(numeric.__all__) <= set(dir(numeric))


def test_importing_the_package_loads_no_numpy() -> None:
    code = "import sys, gradscope.numeric; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
