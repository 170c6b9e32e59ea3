"""The ``gradscope`` command line: parse, call the layers, print.

Heavy modules (numpy included) are imported inside the commands, so
``gradscope --help`` costs little more than importing click. Exit codes
(DESIGN.md §3): 2 for bad usage (click's usage errors), 1 for bad data or a
failed run (a :class:`~gradscope.errors.GradscopeError`), 0 otherwise.

One module per command (or pair of commands); each registers itself on
:data:`main` when imported here.
"""

from __future__ import annotations

from gradscope.cli import (  # noqa: F401  (imported to register their commands)
    _analyze,
    _bound,
    _claims,
    _derive,
    _report,
    _spectrum,
    _sweep,
)
from gradscope.cli._base import GradscopeGroup, main

__all__ = ["GradscopeGroup", "main"]
