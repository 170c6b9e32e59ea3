"""The exception hierarchy of gradscope.

Every error that gradscope raises on purpose is a :class:`GradscopeError`, so a
caller (and the command line) can tell a mistake in the input from a bug.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DerivationError", "GradscopeError", "NumericalError", "SizeError"]


class GradscopeError(Exception):
    """Base class of every error gradscope raises deliberately."""


class ConfigError(GradscopeError, ValueError):
    """A setting, an argument or a user's data is invalid.

    The message says what was wrong, the offending value, and what to do.
    """


class SizeError(ConfigError):
    """A request that would not fit this machine, refused before any work.

    The message gives the estimate, what is available, and the setting that
    would fit; the command line treats it as bad usage (exit 2).
    """


class NumericalError(GradscopeError, ArithmeticError):
    """A computation could not be carried out to the promised accuracy."""


class DerivationError(GradscopeError):
    """A symbolic derivation was refused or failed (e.g. it would be too large)."""
