"""Hypothesis strategies for RNN weights, orthogonal matrices, RNNs and inputs.

Every strategy draws a seed and builds the arrays from it with gradscope's own
generators, so examples shrink deterministically (toward small sizes and seed
0) and replay exactly from hypothesis's database.

>>> from hypothesis import given
>>> @given(orthogonal_matrices(4))
... def test(Q):
...     assert abs(abs(np.linalg.det(Q)) - 1) < 1e-12
>>> test()
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradscope.init import FAMILIES, random_inputs, random_rnn, recurrent_weights
from gradscope.model import ACTIVATIONS, RNN

__all__ = ["input_sequences", "orthogonal_matrices", "rnns", "weights"]

_seeds = st.integers(min_value=0, max_value=2**32 - 1)
_SIZES_16 = st.integers(1, 16)
_SIZES_12 = st.integers(1, 12)
_LENGTHS = st.integers(1, 50)
_SCALES = st.floats(0.0, 5.0)


def weights(
    family: str | None = None,
    n: int | st.SearchStrategy[int] = _SIZES_16,
    *,
    norm: float | None = None,
    radius: float | None = None,
) -> st.SearchStrategy[np.ndarray]:
    """W_hh of a family (default: any), scaled to ``norm`` or ``radius``.

    Without either, the spectral norm is drawn from [0.1, 3].
    """
    fam = st.just(family) if family else st.sampled_from(sorted(FAMILIES))
    sizes = n if isinstance(n, st.SearchStrategy) else st.just(n)

    @st.composite
    def build(draw: st.DrawFn) -> np.ndarray:
        kw: dict[str, float] = {}
        if radius is not None:
            kw["radius"] = radius
        else:
            kw["norm"] = norm if norm is not None else draw(st.floats(0.1, 3.0))
        return recurrent_weights(draw(fam), draw(sizes), seed=draw(_seeds), **kw)

    return build()


def orthogonal_matrices(
    n: int | st.SearchStrategy[int] = _SIZES_16,
) -> st.SearchStrategy[np.ndarray]:
    """Haar-distributed orthogonal matrices."""
    return weights("orthogonal", n, norm=1.0)


def rnns(
    n: int | st.SearchStrategy[int] = _SIZES_12,
    *,
    activations: tuple[str, ...] = tuple(ACTIVATIONS),
    input_size: int = 8,
) -> st.SearchStrategy[RNN]:
    """Generated RNNs of every family and activation, scaled by norm or radius."""
    sizes = n if isinstance(n, st.SearchStrategy) else st.just(n)

    @st.composite
    def build(draw: st.DrawFn) -> RNN:
        scale = draw(st.floats(0.1, 3.0))
        kind = draw(st.sampled_from(["norm", "radius"]))
        return random_rnn(
            draw(st.sampled_from(sorted(FAMILIES))),
            draw(sizes),
            activation=draw(st.sampled_from(activations)),
            input_size=input_size,
            seed=draw(_seeds),
            **{kind: scale},
        )

    return build()


def input_sequences(
    T: int | st.SearchStrategy[int] = _LENGTHS,
    input_size: int = 8,
    *,
    scale: float | st.SearchStrategy[float] = _SCALES,
) -> st.SearchStrategy[np.ndarray]:
    """Input sequences x_t ~ N(0, scale²) of shape (T, input_size)."""
    lengths = T if isinstance(T, st.SearchStrategy) else st.just(T)
    scales = scale if isinstance(scale, st.SearchStrategy) else st.just(scale)

    @st.composite
    def build(draw: st.DrawFn) -> np.ndarray:
        return random_inputs(draw(lengths), input_size, seed=draw(_seeds), scale=draw(scales))

    return build()
