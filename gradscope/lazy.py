"""Packages that hand names on lazily (PEP 562): each name is imported from its home on first use.

So ``import gradscope`` or ``import gradscope.numeric`` costs almost nothing, and
``gradscope.compute_singular_values`` still works; the name is then cached in the
package, and later lookups do not come back here.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__``, importing each name from its home.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    homes : mapping of str to str
        Each public name to the module that defines it: absolute
        (``"gradscope.model"``) or relative to ``package`` (``".products"``).

    Returns
    -------
    (__getattr__, __dir__)
        To be assigned at the package's top level.

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("gradscope", {"RNN": "gradscope.model"})
    >>> getattr_("RNN").__name__
    'RNN'
    """
    namespace = sys.modules[package].__dict__

    def getattr_(name: str) -> Any:
        try:
            home = homes[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(home, package), name)
        namespace[name] = value  # cache: later lookups skip __getattr__
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *homes})

    return getattr_, dir_
