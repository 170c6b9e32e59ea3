"""Option values for the fuzz: valid, extreme, out of range, of the wrong kind, too large.

Each option of a command is an :class:`Opt`: strategies for the values in each
class, and the exit codes each class allows (the exit-code table):

- ``valid``: small values a run finishes in well under a second with: exit 0.
- ``extreme``: in range, but at the edge of float64 (1e300, 1e-300, inputs of
  1e308): the run may succeed or fail as a failed run: exit 0 or 1, in one line.
- ``bad``: out of range or of the wrong kind (nan, inf, 1e308 where the range
  ends at 1e300, 0, negative, text, empty, a name 5000 characters long): exit 2.
- ``huge``: of the right kind but far too large (2**70, 10**9, 10**12): refused
  before any work as too large: exit 2.

Values are always passed as ``--flag=VALUE``, so a value that starts with ``-``
is never taken for an option.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

VALID = frozenset({0})
EXTREME = frozenset({0, 1})
REFUSED = frozenset({2})

_WORDS = string.ascii_letters + string.punctuation.replace("-", "").replace(",", "") + " "

#: Text that is no number of any kind (no digits at all, so ``int``/``float`` refuse it;
#: "inf", "nan", "infinity" are excluded as words: they are floats).
not_a_number = st.text(alphabet=_WORDS, min_size=1, max_size=30).filter(
    lambda s: (
        s.strip().lower() not in ("inf", "nan", "infinity", "-inf", "+inf") and s.strip() != ""
    )
)

#: Integers far too large for any size: refused before work.
HUGE_INTS = st.one_of(
    st.sampled_from([2**70, 10**9, 10**12, 2**63, 2**64 + 1, 10**100, 10**4000]),
    st.integers(min_value=10**9, max_value=2**200),
).map(str)

#: Never integers: refused by the option's type.
NOT_INTS = st.one_of(
    st.sampled_from(
        ["", " ", "1.5", "1e3", "nan", "inf", "-inf", "1e308", "0x10", "2**70", "1,2", "3 4"]
    ),
    not_a_number,
    st.floats().map(repr),  # "2.0", "1e+16", "nan": int() refuses every float's repr
)

#: Never a finite float.
NOT_FINITE = st.sampled_from(["nan", "inf", "-inf", "1e999", "-1e999", "NaN", "Infinity"])
NOT_FLOATS = st.one_of(
    NOT_FINITE, not_a_number, st.sampled_from(["", " ", "1.0.0", "1e", "0.9,1.0", "--"])
)


def ints_below(minimum: int) -> st.SearchStrategy[str]:
    """Integers under an option's minimum, down to -2**70."""
    return st.one_of(
        st.sampled_from([minimum - 1, -1, -(2**70)]),
        st.integers(min_value=-(2**70), max_value=minimum - 1),
    ).map(str)


def int_range(lo: int, hi: int) -> st.SearchStrategy[str]:
    """Valid integers ``lo..hi`` (both ends drawn often: boundaries)."""
    return st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi)).map(str)


def float_range(lo: float, hi: float) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([lo, hi]),
        st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False),
    ).map(repr)


#: Scales (norms, radii) outside [1e-300, 1e300], or no positive finite number.
BAD_SCALES = st.one_of(
    st.sampled_from(
        ["0", "-0.9", "-1e-300", "1e-301", "1e-320", "5e-324", "1e301", "1e308", "1.7e308"]
    ),
    st.floats(min_value=1.000001e300, max_value=1.7e308).map(repr),
    st.floats(min_value=5e-324, max_value=9.9999e-301).map(repr),
    st.floats(max_value=0.0, allow_nan=False, allow_infinity=False).map(repr),
    NOT_FLOATS,
)
#: In range, at its edges.
EXTREME_SCALES = st.one_of(
    st.sampled_from(["1e-300", "1e300", "1e-100", "1e100", "1e-30", "1e30"]),
    st.floats(min_value=1e-300, max_value=1e300).map(repr),
)
#: Positive finite numbers refused where a number >= 0 or > 0 is asked for.
NEGATIVE_FLOATS = st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=True).map(repr)


def names(choices: Sequence[str]) -> st.SearchStrategy[str]:
    """A valid comma-separated list of ``choices`` (or ``all``)."""
    subsets = st.lists(st.sampled_from(list(choices)), min_size=1, unique=True).map(",".join)
    return st.one_of(subsets, st.just("all"))


def bad_names(choices: Sequence[str]) -> st.SearchStrategy[str]:
    """Lists with a name not in ``choices``: empty, commas, unknown, 5000 characters long."""
    unknown = st.text(alphabet=string.ascii_lowercase + "-_", min_size=1, max_size=12).filter(
        lambda s: s not in choices and s != "all"
    )
    return st.one_of(
        st.sampled_from(["", ",", ",,,", " ", "x" * 5000, f"all,{choices[0]}"]),
        unknown,
        st.tuples(st.sampled_from(list(choices)), unknown).map(",".join),
    )


@dataclass(frozen=True)
class Opt:
    """One option of a command and its value classes (``None``: no such class)."""

    flag: str
    valid: st.SearchStrategy[str] | None = None
    extreme: st.SearchStrategy[str] | None = None
    bad: st.SearchStrategy[str] | None = None
    huge: st.SearchStrategy[str] | None = None
    group: str = ""  # at most one option of a group is drawn per case
    #: exit codes of a huge value: refused (2), or for a cap that a run may never reach
    #: (``--horizon-cap``), also a success
    huge_codes: frozenset[int] = REFUSED

    def classes(self) -> list[tuple[str, st.SearchStrategy[str], frozenset[int]]]:
        found = []
        for name, codes in (
            ("valid", VALID),
            ("extreme", EXTREME),
            ("bad", REFUSED),
            ("huge", self.huge_codes),
        ):
            strategy = getattr(self, name)
            if strategy is not None:
                found.append((name, strategy, codes))
        return found


def int_opt(
    flag: str,
    lo: int,
    hi: int,
    *,
    minimum: int = 1,
    huge: bool = True,
    group: str = "",
    huge_codes: frozenset[int] = REFUSED,
) -> Opt:
    """An integer option: ``lo..hi`` valid and fast, below ``minimum`` or no integer bad."""
    return Opt(
        flag,
        valid=int_range(lo, hi),
        bad=st.one_of(ints_below(minimum), NOT_INTS),
        huge=HUGE_INTS if huge else None,
        group=group,
        huge_codes=huge_codes,
    )


def scale_opt(flag: str, lo: float = 0.3, hi: float = 1.2, *, group: str = "scale") -> Opt:
    return Opt(
        flag,
        valid=float_range(lo, hi),
        extreme=EXTREME_SCALES,
        bad=BAD_SCALES,
        group=group,
    )


def choice_opt(flag: str, choices: Sequence[str]) -> Opt:
    unknown = st.text(alphabet=string.ascii_letters + "-", min_size=0, max_size=12).filter(
        lambda s: s not in choices
    )
    return Opt(
        flag,
        valid=st.sampled_from(list(choices)),
        bad=st.one_of(unknown, st.just("x" * 5000)),
    )


def namelist_opt(flag: str, choices: Sequence[str]) -> Opt:
    return Opt(flag, valid=names(choices), bad=bad_names(choices))


def nonnegative_opt(flag: str, hi: float = 3.0) -> Opt:
    """A float >= 0: 0..hi valid; 1e300 and 1e308 extreme (a forward pass may overflow)."""
    return Opt(
        flag,
        valid=st.one_of(st.just("0"), float_range(0.0, hi)),
        extreme=st.sampled_from(["1e300", "1e308", "1.7976931348623157e308", "1e200"]),
        bad=st.one_of(NEGATIVE_FLOATS, NOT_FLOATS),
    )


def positive_opt(flag: str, lo: float, hi: float) -> Opt:
    return Opt(
        flag,
        valid=float_range(lo, hi),
        bad=st.one_of(st.sampled_from(["0", "-0.0", "-1"]), NEGATIVE_FLOATS, NOT_FLOATS),
    )


@st.composite
def option_case(
    draw: st.DrawFn, opts: Sequence[Opt], flags: Sequence[str] = (), most: int = 2
) -> tuple[list[str], frozenset[int], list[str]]:
    """Some of ``opts`` with values of drawn classes (and some ``flags``).

    Returns the arguments, the exit codes allowed and a label per option
    (``--T:huge``) for the failure message. A refusal anywhere decides the case
    (exit 2: refused before work); else an extreme value allows a failed run.
    """
    k = draw(st.integers(1, most))
    chosen: list[Opt] = []
    for opt in draw(st.permutations(list(opts))):
        if len(chosen) == k:
            break
        if opt.group and any(c.group == opt.group for c in chosen):
            continue
        chosen.append(opt)
    args: list[str] = []
    labels: list[str] = []
    codes: list[frozenset[int]] = []
    for opt in chosen:
        name, strategy, allowed = draw(st.sampled_from(opt.classes()))
        value = draw(strategy)
        args.append(f"{opt.flag}={value}")
        labels.append(f"{opt.flag}:{name}")
        codes.append(allowed)
    for flag in flags:
        if draw(st.booleans()):
            args.append(flag)
    if any(c == REFUSED for c in codes):
        expect = REFUSED
    else:  # e.g. valid and extreme: {0, 1}
        expect = frozenset().union(VALID, *codes)
    return args, expect, labels
