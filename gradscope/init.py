r"""Weight families for ``W_hh``, scaled to an exact spectral norm or spectral radius.

Families (all n × n):

``gaussian``
    Entries i.i.d. N(0, 1/n). Its spectral radius is about 1 and its spectral
    norm about 2 (circular and quarter-circle laws), so the two scalings differ
    by about 2×.
``orthogonal``
    Haar-distributed orthogonal: Q of the QR factorisation of a Gaussian
    matrix, with the signs fixed by ``Q @ diag(sign(diag(R)))`` (Mezzadri
    2007). Norm and radius are both 1.
``identity``
    The identity (no randomness). Norm and radius are both 1.
``uniform``
    Entries i.i.d. U(−1/√n, 1/√n), PyTorch ``nn.RNN``'s default initialisation.
``non-normal``
    ``Q (B + N) Qᵀ`` with Q Haar orthogonal, B block diagonal holding the
    eigenvalues of a *normal* matrix (conjugate pairs ``r e^{±iθ}`` as 2 × 2
    rotation-scaling blocks, with r² ~ U(0, 1) and θ ~ U(0, π), i.e. uniform in
    the unit disc, plus one real eigenvalue in (−1, 1) when n is odd), and N
    strictly *block* upper triangular with entries N(0, 1/n). The eigenvalues
    are exactly those of the normal matrix ``Q B Qᵀ`` but the norm is larger
    (about 1 + ‖N‖₂ ≈ 3 before scaling), so products of W grow transiently
    before they decay.

Every family is scaled by one positive factor so that the result has exactly
the requested spectral norm ‖W‖₂ (largest singular value) or spectral radius
ρ(W) (the largest eigenvalue modulus).

Randomness follows DESIGN.md §1: instance ``i`` of a run with seed ``S`` uses
``numpy.random.SeedSequence(S).spawn(count)[i]`` (:func:`instance_seed`), and
each instance draws ``W_hh``, ``W_xh`` and the inputs from three independent
child streams, so the same seed gives the same inputs for every family.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError
from gradscope.model import RNN, get_activation
from gradscope.numeric.norms import scale_to_norm, scale_to_radius

__all__ = [
    "FAMILIES",
    "instance_seed",
    "random_inputs",
    "random_rnn",
    "recurrent_weights",
    "reproduce_instance",
]

FloatArray = NDArray[np.float64]
SeedLike = int | np.random.SeedSequence


def _gaussian(n: int, rng: np.random.Generator) -> FloatArray:
    return rng.standard_normal((n, n)) / math.sqrt(n)


def _haar_orthogonal(n: int, rng: np.random.Generator) -> FloatArray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    return q * d  # q @ diag(d), the sign fix that makes q Haar-distributed


def _identity(n: int, rng: np.random.Generator) -> FloatArray:
    del rng
    return np.eye(n)


def _uniform(n: int, rng: np.random.Generator) -> FloatArray:
    bound = 1.0 / math.sqrt(n)
    return rng.uniform(-bound, bound, size=(n, n))


def _normal_block_eigenvalues(n: int, rng: np.random.Generator) -> FloatArray:
    """Block-diagonal B holding eigenvalues uniform in the unit disc, in real form."""
    B = np.zeros((n, n))
    pairs = n // 2
    radius = np.sqrt(rng.uniform(0.0, 1.0, size=pairs))
    angle = rng.uniform(0.0, math.pi, size=pairs)
    a, c = radius * np.cos(angle), radius * np.sin(angle)
    i = 2 * np.arange(pairs)
    B[i, i] = B[i + 1, i + 1] = a
    B[i, i + 1] = -c
    B[i + 1, i] = c
    if n % 2:
        B[-1, -1] = rng.uniform(-1.0, 1.0)
    return B


def _non_normal(n: int, rng: np.random.Generator) -> FloatArray:
    B = _normal_block_eigenvalues(n, rng)
    N = np.triu(rng.standard_normal((n, n)) / math.sqrt(n), k=1)
    pairs = n // 2
    N[2 * np.arange(pairs), 2 * np.arange(pairs) + 1] = 0.0  # keep N block-strict
    Q = _haar_orthogonal(n, rng)
    return Q @ (B + N) @ Q.T


FAMILIES: dict[str, Callable[[int, np.random.Generator], FloatArray]] = {
    "gaussian": _gaussian,
    "orthogonal": _haar_orthogonal,
    "identity": _identity,
    "uniform": _uniform,
    "non-normal": _non_normal,
}


def instance_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed of instance ``index`` of a run with seed ``seed``.

    It is ``numpy.random.SeedSequence(seed).spawn(count)[index]`` for any
    ``count > index``: adding seeds to a run never changes the earlier ones.
    """
    if seed < 0 or index < 0:
        raise ConfigError(f"seeds are non-negative integers, got seed={seed}, index={index}")
    return np.random.SeedSequence(int(seed), spawn_key=(int(index),))


def _streams(seed: SeedLike) -> list[np.random.Generator]:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # Child streams by fixed key: 0 for W_hh, 1 for W_xh, 2 for inputs.
    return [
        np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, k)))
        for k in range(3)
    ]


def recurrent_weights(
    family: str,
    n: int,
    *,
    norm: float | None = None,
    radius: float | None = None,
    seed: SeedLike = 0,
) -> FloatArray:
    r"""Draw ``W_hh`` from a family and scale it to a spectral norm or radius.

    Parameters
    ----------
    family : {"gaussian", "orthogonal", "identity", "uniform", "non-normal"}
        See the module docstring for each construction.
    n : int
        Hidden size.
    norm, radius : float, optional
        Exactly one: the target spectral norm ‖W‖₂ or spectral radius ρ(W).
    seed : int or numpy.random.SeedSequence
        The instance's seed (see :func:`instance_seed`).

    Returns
    -------
    (n, n) ndarray

    Raises
    ------
    ConfigError
        For an unknown family, ``n < 1``, or not exactly one of norm/radius.

    Examples
    --------
    A scaled orthogonal matrix has equal norm and radius:

    >>> from gradscope.numeric.norms import spectral_norm, spectral_radius
    >>> W = recurrent_weights("orthogonal", 16, norm=0.9, seed=1)
    >>> round(spectral_norm(W), 12), round(spectral_radius(W), 12)
    (0.9, 0.9)
    """
    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r}; choose one of: {', '.join(FAMILIES)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"hidden size n must be a positive integer, got {n!r}")
    if (norm is None) == (radius is None):
        raise ConfigError("give exactly one of norm= (spectral norm) or radius= (spectral radius)")
    W = FAMILIES[family](int(n), _streams(seed)[0])
    return scale_to_norm(W, norm) if norm is not None else scale_to_radius(W, radius)  # type: ignore[arg-type]


def random_inputs(
    T: int, input_size: int = 8, *, seed: SeedLike = 0, scale: float = 1.0
) -> FloatArray:
    """Inputs x_t ~ N(0, scale²) of shape (T, input_size), from the instance's input stream.

    The first T rows do not depend on how many rows are drawn.
    """
    if T < 1:
        raise ConfigError(f"T must be >= 1, got {T}")
    return scale * _streams(seed)[2].standard_normal((T, input_size))


def random_rnn(
    family: str,
    hidden: int = 64,
    *,
    norm: float | None = None,
    radius: float | None = None,
    activation: str = "tanh",
    input_size: int = 8,
    seed: SeedLike = 0,
) -> RNN:
    """A generated RNN with DESIGN.md §1's defaults.

    ``W_hh`` from :func:`recurrent_weights`, ``W_xh`` ~ N(0, 1/m) with
    m = ``input_size``, ``b = 0``.

    Examples
    --------
    >>> from gradscope.numeric.norms import spectral_radius
    >>> rnn = random_rnn("gaussian", 32, radius=1.0, seed=3)
    >>> rnn.hidden_size, rnn.input_size, round(spectral_radius(rnn.W_hh), 12)
    (32, 8, 1.0)
    """
    if input_size < 1:
        raise ConfigError(f"input_size must be >= 1, got {input_size}")
    W_hh = recurrent_weights(family, hidden, norm=norm, radius=radius, seed=seed)
    W_xh = _streams(seed)[1].standard_normal((hidden, input_size)) / math.sqrt(input_size)
    return RNN(W_hh=W_hh, W_xh=W_xh, activation=get_activation(activation))


def reproduce_instance(
    family: str,
    hidden: int,
    *,
    norm: float | None = None,
    radius: float | None = None,
    activation: str = "tanh",
    input_size: int = 8,
    T: int,
    input_scale: float = 1.0,
    seed: int,
    index: int | str = 0,
) -> str:
    """The Python lines that rebuild instance ``index`` of a generated run, bit for bit.

    A command run with ``--seed S`` draws instance ``i`` from
    ``instance_seed(S, i)`` (DESIGN.md §1), which is not ``seed=S``: this is
    the call every output prints, so that a user gets the same network.
    ``index`` may be a name (``"i"``) where the output covers several instances.

    Examples
    --------
    >>> code = reproduce_instance("orthogonal", 4, norm=0.9, T=10, seed=7)
    >>> code.startswith("rnn = gradscope.random_rnn('orthogonal', 4, norm=0.9,")
    True
    >>> import gradscope
    >>> exec(code)
    >>> same = random_rnn("orthogonal", 4, norm=0.9, seed=instance_seed(7, 0))
    >>> bool((rnn.W_hh == same.W_hh).all())
    True
    """
    scale = f"norm={norm!r}" if radius is None else f"radius={radius!r}"
    where = f"gradscope.instance_seed({seed}, {index})"
    return (
        f"rnn = gradscope.random_rnn({family!r}, {hidden}, {scale}, activation={activation!r}, "
        f"input_size={input_size}, seed={where}); "
        f"x = gradscope.random_inputs({T}, {input_size}, seed={where}, scale={input_scale!r})"
    )
