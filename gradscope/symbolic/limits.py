r"""Size limits of the symbolic derivations, checked before any SymPy work starts.

A derivation is refused up front, with a :class:`~gradscope.errors.DerivationError`
that names the limit and the way out, rather than left to run for minutes. The
limits follow measured costs (this module imports no SymPy, so the command line
can check them cheaply):

* **Structured** forms are O(T·n²) SymPy objects (about 0.2 ms each) and print
  in O(T·n) LaTeX; the gradient's sections also grow with m and p. ``n²·T`` is
  capped at :data:`MAX_STRUCTURED_SIZE` and T at :data:`MAX_HORIZON`, so that a
  whole ``gradscope derive`` document takes at most a few seconds: the largest
  allowed cases (n = 4, T = 200; n = 63, T = 1; m = p = 16) take about 5 s on a
  busy 2-core machine, where the earlier limits (n²·T <= 10 000, T <= 500) let
  n = 4, T = 500, m = p = 16 take 15 s.
* **Expanded** Jacobians are explicit expressions of the parameters whose
  expression *tree* grows like nᵀ (it is stored as a DAG and printed and
  compiled through common-subexpression elimination, which keep it small).
  ``n·T`` is capped at :data:`MAX_EXPANDED_JACOBIAN`.
* **Expanded** gradients also run SymPy's own ``diff`` on the explicit loss,
  which walks the tree and so costs about nᵀ per parameter
  (n = 2, T = 6: about 0.7 s per parameter; n = 3, T = 6: 12 s). ``n·T`` is
  capped at :data:`MAX_EXPANDED_GRADIENT`. Every weight of ``W_xh`` and ``W_hy``
  is such a parameter, so m and p are capped at
  :data:`MAX_EXPANDED_GRADIENT_WIDTH` (n = 1, T = 8, tanh: m = p = 2 in 1 s,
  m = p = 16 in 69 s, on a busy 2-core machine).
* Input and output widths ``m`` and ``p`` are capped at :data:`MAX_WIDTH`.
* **Cells** (PyTorch's LSTM and GRU, :mod:`gradscope.symbolic.cells`): every
  explicit entry nests all earlier states inside sigmoids and tanh. Measured on
  one core, derive + compile + LaTeX: n = 4, T = 4, m = 3 in about 2.3 s (LSTM)
  and 1.8 s (GRU); n = 1, T = 16 in under 1 s. Hence :data:`MAX_CELL_HIDDEN`,
  :data:`MAX_CELL_SIZE` (of ``hidden * T``) and :data:`MAX_CELL_INPUT`
  (:func:`check_cell_sizes`).
"""

from __future__ import annotations

from gradscope.errors import ConfigError, DerivationError, SizeError

__all__ = [
    "ACTIVATION_NAMES",
    "CELL_NAMES",
    "MAX_CELL_HIDDEN",
    "MAX_CELL_INPUT",
    "MAX_CELL_SIZE",
    "MAX_EXPANDED_GRADIENT",
    "MAX_EXPANDED_GRADIENT_WIDTH",
    "MAX_EXPANDED_JACOBIAN",
    "MAX_HORIZON",
    "MAX_STRUCTURED_HIDDEN",
    "MAX_STRUCTURED_SIZE",
    "MAX_WIDTH",
    "DerivationSizeError",
    "check_cell_sizes",
    "check_sizes",
]


class DerivationSizeError(DerivationError, SizeError):
    """A derivation beyond the limits, refused before any SymPy work.

    A :class:`~gradscope.errors.DerivationError` for the library and a
    :class:`~gradscope.errors.SizeError` for the command line (too large:
    exit 2); the message names the sizes that fit.
    """


#: Activations the symbolic layer knows (the same names as :mod:`gradscope.model`).
ACTIVATION_NAMES = ("tanh", "sigmoid", "relu", "linear")

#: Largest ``hidden**2 * T`` of a structured derivation.
MAX_STRUCTURED_SIZE = 4_000

#: Largest hidden of a structured derivation: at T = 1 or 2 the document prints
#: each factor's n² entries (n = 16: 2 s; n = 32: 15 s; n = 63: 32 s, measured).
MAX_STRUCTURED_HIDDEN = 16

#: Longest horizon T of any derivation.
MAX_HORIZON = 200

#: Largest ``hidden * T`` of an expanded Jacobian.
MAX_EXPANDED_JACOBIAN = 24

#: Largest ``hidden * T`` of an expanded gradient (SymPy's ``diff`` is exponential in T).
MAX_EXPANDED_GRADIENT = 8

#: Largest input width m and output width p.
MAX_WIDTH = 16

#: Largest m and p of an expanded gradient: every entry of W_xh and W_hy is a
#: parameter SymPy differentiates the whole explicit loss by (measured, tanh,
#: hidden=1, T=8: m = p = 2 takes 1 s, m = p = 4 3 s, m = p = 16 69 s).
MAX_EXPANDED_GRADIENT_WIDTH = 2

#: Cells a symbolic cell derivation knows (PyTorch's, :mod:`gradscope.symbolic.cells`).
CELL_NAMES = ("lstm", "gru")

#: Largest ``hidden * T`` of a derivation (either cell).
MAX_CELL_SIZE = 16
#: Largest hidden size n.
MAX_CELL_HIDDEN = 4
#: Largest input width m (the structure of the Jacobian does not depend on it).
MAX_CELL_INPUT = 3


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def check_sizes(
    *,
    hidden: int,
    T: int,
    activation: str,
    input_size: int,
    output_size: int,
    expand: bool,
    what: str,
) -> None:
    """Refuse a derivation that is malformed or beyond the documented limits.

    Parameters
    ----------
    hidden, T, input_size, output_size : int
        n, the horizon T, m and p; each at least 1.
    activation : str
        One of :data:`ACTIVATION_NAMES`.
    expand : bool
        Whether the explicit (expanded) form is asked for.
    what : {"jacobian", "gradient"}
        Which derivation; the expanded limits differ.

    Raises
    ------
    ConfigError
        For a size below 1 or an unknown activation.
    DerivationSizeError
        For a size beyond the limits (a ``DerivationError`` and a ``SizeError``);
        the message names the sizes that fit and suggests the structured form.

    Examples
    --------
    >>> check_sizes(hidden=2, T=3, activation="tanh", input_size=1, output_size=1,
    ...             expand=True, what="jacobian")
    >>> check_sizes(hidden=3, T=9, activation="tanh", input_size=1, output_size=1,
    ...             expand=True, what="jacobian")
    Traceback (most recent call last):
    ...
    gradscope.symbolic.limits.DerivationSizeError: the expanded Jacobian is limited to ...
    """
    n = _positive_int(hidden, "hidden")
    T = _positive_int(T, "T")
    m = _positive_int(input_size, "input_size")
    p = _positive_int(output_size, "output_size")
    if activation not in ACTIVATION_NAMES:
        raise ConfigError(
            f"unknown activation {activation!r}; choose one of: {', '.join(ACTIVATION_NAMES)}"
        )
    if max(m, p) > MAX_WIDTH:
        raise DerivationSizeError(
            f"input_size={m} and output_size={p} must be at most {MAX_WIDTH} for a symbolic "
            "derivation; the structure of the formulas does not depend on them, so derive "
            "with a small width"
        )
    if T > MAX_HORIZON:
        raise DerivationSizeError(
            f"T={T} is beyond the symbolic horizon limit T <= {MAX_HORIZON}; "
            "use gradscope.numeric for long sequences"
        )
    if n > MAX_STRUCTURED_HIDDEN:
        raise DerivationSizeError(
            f"hidden={n} is beyond the symbolic limit hidden <= {MAX_STRUCTURED_HIDDEN} "
            f"(--hidden {MAX_STRUCTURED_HIDDEN}): each factor's n² entries are printed; use "
            "gradscope.numeric for networks of this size"
        )
    if n * n * T > MAX_STRUCTURED_SIZE:
        fits = MAX_STRUCTURED_SIZE // (n * n)
        way = f"T <= {fits} (--T {fits}) with hidden={n}" if fits else "a smaller hidden"
        raise DerivationSizeError(
            f"hidden={n}, T={T} gives {n * n * T} symbolic Jacobian entries, more than the "
            f"limit hidden**2*T <= {MAX_STRUCTURED_SIZE}: use {way}, or gradscope.numeric "
            "for networks of this size"
        )
    if expand:
        limit = MAX_EXPANDED_JACOBIAN if what == "jacobian" else MAX_EXPANDED_GRADIENT
        kind = "Jacobian" if what == "jacobian" else "gradient"
        if n * T > limit:
            fits = limit // n
            way = f"T <= {fits} (--T {fits}) with hidden={n}" if fits else f"hidden <= {limit}"
            raise DerivationSizeError(
                f"the expanded {kind} is limited to hidden*T <= {limit} (hidden={n}, T={T} "
                f"gives {n * T}): its explicit expression grows like hidden**T; use {way}, or "
                "the structured form (expand=False, or drop --expand), which is exact at any size"
            )
        if what == "gradient" and max(m, p) > MAX_EXPANDED_GRADIENT_WIDTH:
            w = MAX_EXPANDED_GRADIENT_WIDTH
            raise DerivationSizeError(
                f"the expanded gradient is limited to input_size and output_size <= {w} "
                f"(got {m} and {p}): SymPy differentiates the explicit loss by each of their "
                f"weights; use --input-size {min(m, w)} --output-size {min(p, w)} (the formulas' "
                "structure does not depend on them), or the structured form (expand=False, "
                "or drop --expand)"
            )


def check_cell_sizes(*, cell: str, hidden: int, input_size: int, T: int, start: int) -> None:
    """Refuse a cell derivation that is malformed or beyond the documented limits.

    Raises
    ------
    ConfigError
        For an unknown cell, a size below 1, or ``start`` outside ``0 <= start < T``.
    DerivationSizeError
        For sizes beyond :data:`MAX_CELL_HIDDEN`, :data:`MAX_CELL_SIZE` or
        :data:`MAX_CELL_INPUT`; the message suggests sizes that work.

    Examples
    --------
    >>> check_cell_sizes(cell="lstm", hidden=2, input_size=1, T=8, start=0)
    >>> check_cell_sizes(cell="lstm", hidden=2, input_size=1, T=9, start=0)
    Traceback (most recent call last):
    ...
    gradscope.symbolic.limits.DerivationSizeError: a symbolic LSTM derivation is limited ...
    """
    if cell not in CELL_NAMES:
        raise ConfigError(f"unknown cell {cell!r}; choose one of: {', '.join(CELL_NAMES)}")
    n = _positive_int(hidden, "hidden")
    m = _positive_int(input_size, "input_size")
    T = _positive_int(T, "T")
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < T:
        raise ConfigError(
            f"start must be an integer with 0 <= start < T = {T} (the product ds_T/ds_start "
            f"has T - start factors), got {start!r}"
        )
    if n > MAX_CELL_HIDDEN or n * T > MAX_CELL_SIZE:
        fits = ", ".join(
            f"hidden={k} with T<={MAX_CELL_SIZE // k}" for k in range(1, MAX_CELL_HIDDEN + 1)
        )
        raise DerivationSizeError(
            f"a symbolic {cell.upper()} derivation is limited to hidden <= {MAX_CELL_HIDDEN} "
            f"and hidden*T <= {MAX_CELL_SIZE} (hidden={n}, T={T} gives {n * T}): every "
            "explicit entry nests all earlier states inside sigmoids and tanh. Sizes that "
            f"work: {fits}. For larger cells use gradscope.numeric.cells ({cell}_steps), "
            "which computes the same Jacobians numerically at any size"
        )
    if m > MAX_CELL_INPUT:
        raise DerivationSizeError(
            f"input_size={m} is beyond the limit input_size <= {MAX_CELL_INPUT} of a symbolic "
            "cell derivation; the structure of the Jacobian does not depend on it, so derive "
            "with input_size=1"
        )
