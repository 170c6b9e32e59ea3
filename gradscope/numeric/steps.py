r"""Step Jacobians: the one abstraction every product, spectrum and search uses.

A *step sequence* stands for the Jacobians :math:`J_1, \dots, J_T` of a
recurrence, :math:`J_t = \partial s_t / \partial s_{t-1}` (for a vanilla RNN
:math:`J_t = \operatorname{diag}(\varphi'(z_t))\, W_{hh}`). It can

* give :math:`J_t` as a dense matrix (:meth:`Steps.matrix`),
* apply :math:`J_t` and :math:`J_t^\top` to a block of vectors
  (:meth:`Steps.apply`, :meth:`Steps.apply_transpose`), which is all that
  matrix-free methods need,
* stream :math:`J_{k+1}, \dots, J_T` in order (:meth:`Steps.matrices`).

Nothing here requires the (T, n, n) array of all Jacobians to exist: an RNN's
steps keep only ``W_hh`` and the (T, n) derivatives :math:`\varphi'(z_t)`.

Every array may carry leading batch dimensions (many seeds or configurations
stacked), in which case ``matrix(t)`` has shape ``(*batch_shape, n, n)`` and a
block ``V`` has shape ``(*batch_shape, n, k)``.

Time indices follow DESIGN.md §1: ``t`` runs from 1 to ``T`` and the product
:math:`\partial s_{end} / \partial s_{start} = J_{end} \cdots J_{start+1}`
has exactly ``end - start`` factors.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError
from gradscope.numeric.graded.factors import (
    Factor,
    applied_factors,
    explicit_factors,
    transposed_weight_factors,
    weight_factors,
)
from gradscope.numeric.step_helpers import (
    check_range,
    log10_add,
    log10_frobenius,
    log10_row_scaled_frobenius,
)

__all__ = [
    "ArraySteps",
    "ConstantSteps",
    "JacobiansLike",
    "RNNSteps",
    "ReversedTransposedSteps",
    "Steps",
    "StreamSteps",
    "as_steps",
    "check_range",
    "log10_add",
    "log10_frobenius",
    "log10_row_scaled_frobenius",
    "unbatched_steps",
]

FloatArray = NDArray[np.float64]


class Steps(abc.ABC):
    r"""A sequence of step Jacobians :math:`J_1, \dots, J_T`, each ``(n, n)``.

    Subclasses implement :meth:`matrix`; :meth:`apply` and
    :meth:`apply_transpose` default to dense products and are overridden where a
    cheaper form exists.
    """

    @property
    @abc.abstractmethod
    def n(self) -> int:
        """The state size n: each Jacobian is n × n."""

    @property
    @abc.abstractmethod
    def T(self) -> int | None:
        """The number of steps, or None if a stream does not know it in advance."""

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading batch dimensions shared by every Jacobian (``()`` if none)."""
        return ()

    @abc.abstractmethod
    def matrix(self, t: int) -> FloatArray:
        r""":math:`J_t` as a dense ``(*batch_shape, n, n)`` array, ``1 <= t <= T``."""

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        r""":math:`J_t V` for a block ``V`` of shape ``(*batch_shape, n, k)``."""
        return self.matrix(t) @ V

    def apply_transpose(self, t: int, U: FloatArray) -> FloatArray:
        r""":math:`J_t^\top U` for a block ``U`` of shape ``(*batch_shape, n, k)``."""
        return np.swapaxes(self.matrix(t), -1, -2) @ U

    def log10_rounding_scale(self, t: int) -> FloatArray:
        r"""log10 of a size :math:`N_t` that bounds the rounding of :meth:`apply`.

        To first order in the unit roundoff u, the computed ``apply(t, V)``
        differs from :math:`J_t V` by at most :math:`(n + 8)\, u\, N_t \|V\|_F`
        in the Frobenius norm, and :math:`N_t \ge \|J_t\|_2`. The default,
        :math:`N_t = \|J_t\|_F`, holds for a dense product
        (:math:`|fl(JV) - JV| \le \gamma_n |J||V|`, Higham, *Accuracy and
        Stability of Numerical Algorithms*, §3.5) and for a row scaling after
        it; subclasses whose :meth:`apply` adds several terms override it.

        Returns
        -------
        (*batch_shape) ndarray
            ``-inf`` where :math:`J_t` is exactly zero.
        """
        return log10_frobenius(self.matrix(t))

    def nonzero_pattern(self, t: int) -> NDArray[np.bool_]:
        r"""Where :math:`J_t` may be nonzero: False only where the exact entry is 0.

        The default, ``matrix(t) != 0``, is exact when :meth:`matrix` returns the
        stored data (explicit Jacobians); subclasses that compute their
        matrices, where a product may underflow to 0, override it.
        """
        out: NDArray[np.bool_] = self.matrix(t) != 0.0
        return out

    def matrices(self, start: int = 0, end: int | None = None) -> Iterator[FloatArray]:
        r"""Stream :math:`J_{start+1}, \dots, J_{end}` in order."""
        start, end = check_range(start, end, self.T)
        assert end is not None  # T is known for random-access steps
        for t in range(start + 1, end + 1):
            yield self.matrix(t)

    def factors(
        self,
        start: int,
        end: int | None,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        r"""The factors of :math:`J_{start+1}, \dots, J_{end}` as the graded engine applies them.

        :math:`J_{start+1}` first (``end`` None: to the end of a stream). The
        default reaches each :math:`J_t` through :meth:`apply` (no bound on its
        condition is known); subclasses whose Jacobians have structure (a row
        scaling of one ``W``, explicit matrices) give factors that say so.
        ``log_kappa``, a bound on the log-condition of a weight matrix that the
        caller knows already, is used where the factors have one;
        ``predicted_log_kappa`` instead, a prediction only
        (:func:`~gradscope.numeric.graded.factors.thin_block_condition`).
        """
        start, end = check_range(start, end, self.T)
        assert end is not None
        return applied_factors(self.apply, range(start + 1, end + 1), self.n)

    def transposed_factors(
        self,
        start: int,
        end: int,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        r"""The factors of :math:`(J_{end} \cdots J_{start+1})^\top`, :math:`J_{end}^\top` first.

        Each step ends on a factor (``last``), so a product of the first ones
        is a transposed product ending at ``end``. The default goes through
        :meth:`apply_transpose`.
        """
        start, end_ = check_range(start, end, self.T)
        assert end_ is not None
        return applied_factors(self.apply_transpose, range(end_, start, -1), self.n)

    def reversed_transposed(self) -> Steps:
        r"""The steps read from the end and transposed: :math:`K_j = J_{T+1-j}^\top`.

        :math:`K_k \cdots K_1 = (J_T \cdots J_{T-k+1})^\top =
        (\partial s_T / \partial s_{T-k})^\top`, so a forward product of these
        steps gives the products that end at T, with their singular values
        (what a memory curve reads). Needs a known T.
        """
        if self.T is None:
            raise ConfigError("a stream cannot be read from its end: give the Jacobians whole")
        return ReversedTransposedSteps(self)

    def take(self, index: NDArray[np.intp]) -> Steps:
        """The same steps for the batch entries ``index`` (along the first batch axis).

        Lets a batched computation drop the entries it has finished with.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support batch selection")

    def _check_t(self, t: int) -> int:
        T = self.T
        if not 1 <= t <= (T if T is not None else t):
            raise ConfigError(f"step index t={t} outside 1..{T}")
        return int(t)


class ReversedTransposedSteps(Steps):
    r""":math:`K_j = J_{T+1-j}^\top` of other steps (:meth:`Steps.reversed_transposed`)."""

    def __init__(self, steps: Steps) -> None:
        assert steps.T is not None
        self._steps, self._T = steps, int(steps.T)

    @property
    def n(self) -> int:
        return self._steps.n

    @property
    def T(self) -> int:
        return self._T

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._steps.batch_shape

    def _source(self, t: int) -> int:
        return self._T + 1 - self._check_t(t)

    def matrix(self, t: int) -> FloatArray:
        return np.swapaxes(self._steps.matrix(self._source(t)), -1, -2)

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        return self._steps.apply_transpose(self._source(t), V)

    def apply_transpose(self, t: int, U: FloatArray) -> FloatArray:
        return self._steps.apply(self._source(t), U)

    def log10_rounding_scale(self, t: int) -> FloatArray:
        return self._steps.log10_rounding_scale(self._source(t))  # ‖Jᵀ‖ = ‖J‖

    def nonzero_pattern(self, t: int) -> NDArray[np.bool_]:
        return np.swapaxes(self._steps.nonzero_pattern(self._source(t)), -1, -2)

    def reversed_transposed(self) -> Steps:
        return self._steps

    def factors(
        self,
        start: int,
        end: int | None,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        start, end_ = check_range(start, end, self._T)
        assert end_ is not None
        return self._steps.transposed_factors(
            self._T - end_,
            self._T - start,
            log_kappa=log_kappa,
            predicted_log_kappa=predicted_log_kappa,
        )

    def transposed_factors(
        self,
        start: int,
        end: int,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        start, end_ = check_range(start, end, self._T)
        assert end_ is not None
        return self._steps.factors(
            self._T - end_,
            self._T - start,
            log_kappa=log_kappa,
            predicted_log_kappa=predicted_log_kappa,
        )


class RNNSteps(Steps):
    r"""Step Jacobians of a vanilla RNN, :math:`J_t = \operatorname{diag}(d_t) W_{hh}`.

    Parameters
    ----------
    W_hh : (..., n, n) ndarray
        Recurrent weights (one matrix per batch entry).
    dphi : (..., T, n) ndarray
        :math:`d_t = \varphi'(z_t)` for ``t = 1..T`` (row ``t - 1`` holds
        :math:`d_t`).

    Notes
    -----
    Memory is O(T n + n²): the Jacobians are never stored. :math:`J_t V` costs
    one ``W_hh @ V`` and a row scaling; :math:`J_t^\top U` one row scaling and
    one ``W_hh.T @ U``.
    """

    __slots__ = ("W_hh", "_WT", "dphi")

    def __init__(self, W_hh: FloatArray, dphi: FloatArray) -> None:
        if W_hh.ndim < 2 or W_hh.shape[-1] != W_hh.shape[-2]:
            raise ConfigError(f"W_hh must be (…, n, n), got shape {W_hh.shape}")
        if dphi.ndim != W_hh.ndim or dphi.shape[-1] != W_hh.shape[-1] or dphi.shape[-2] < 1:
            raise ConfigError(
                f"dphi must be (…, T, n) with T >= 1, matching W_hh {W_hh.shape}, got {dphi.shape}"
            )
        self.W_hh = W_hh
        self.dphi = dphi
        self._WT: FloatArray | None = None

    @property
    def n(self) -> int:
        return int(self.W_hh.shape[-1])

    @property
    def T(self) -> int:
        return int(self.dphi.shape[-2])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.W_hh.shape[:-2])

    def matrix(self, t: int) -> FloatArray:
        t = self._check_t(t)
        return self.dphi[..., t - 1, :, None] * self.W_hh

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        t = self._check_t(t)
        out = self.W_hh @ V
        out *= self.dphi[..., t - 1, :, None]
        return out

    def apply_transpose(self, t: int, U: FloatArray) -> FloatArray:
        t = self._check_t(t)
        return np.swapaxes(self.W_hh, -1, -2) @ (self.dphi[..., t - 1, :, None] * U)

    def log10_rounding_scale(self, t: int) -> FloatArray:
        r""":math:`N_t = \|\operatorname{diag}(d_t) W_{hh}\|_F`, computed without underflow."""
        t = self._check_t(t)
        return log10_row_scaled_frobenius(self.dphi[..., t - 1, :], self.W_hh)

    def nonzero_pattern(self, t: int) -> NDArray[np.bool_]:
        """``d_t[i] != 0 and W_hh[i, j] != 0``: exact where ``d_t[i] * W_hh[i, j]`` underflows."""
        t = self._check_t(t)
        out: NDArray[np.bool_] = (self.dphi[..., t - 1, :, None] != 0.0) & (self.W_hh != 0.0)
        return out

    def factors(
        self,
        start: int,
        end: int | None,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        """``diag(d_t) W_hh`` as row-scaled factors of one matrix (unbatched)."""
        start, end_ = check_range(start, end, self.T)
        assert end_ is not None
        self._check_t(end_)  # steps computed on demand (forward.IncrementalRNNSteps) run to end
        return weight_factors(
            self.W_hh,
            self.dphi[start:end_],
            end_ - start,
            log_kappa=log_kappa,
            predicted_log_kappa=predicted_log_kappa,
        )

    def transposed_factors(
        self,
        start: int,
        end: int,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        """``W_hhᵀ diag(d_t)`` as a row scaling, then ``W_hhᵀ`` (a C-ordered copy, kept)."""
        start, end_ = check_range(start, end, self.T)
        assert end_ is not None
        self._check_t(end_)
        return transposed_weight_factors(
            self.W_hh,
            self.dphi[start:end_],
            end_ - start,
            WT=self._transposed_weights(),
            log_kappa=log_kappa,
            predicted_log_kappa=predicted_log_kappa,
        )

    def _transposed_weights(self) -> FloatArray:
        if self._WT is None:
            self._WT = np.ascontiguousarray(self.W_hh.T)
        return self._WT

    def take(self, index: NDArray[np.intp]) -> RNNSteps:
        return RNNSteps(self.W_hh[index], self.dphi[index])


@dataclass(frozen=True, slots=True, eq=False)
class ConstantSteps(Steps):
    r"""T copies of one Jacobian, :math:`J_t = W` (a linear RNN: φ' ≡ 1).

    Parameters
    ----------
    W : (..., n, n) ndarray
    T : int
        Number of steps (>= 1).
    """

    W: FloatArray
    steps: int

    def __post_init__(self) -> None:
        if self.W.ndim < 2 or self.W.shape[-1] != self.W.shape[-2]:
            raise ConfigError(f"W must be (…, n, n), got shape {self.W.shape}")
        if self.steps < 1:
            raise ConfigError(f"T must be >= 1, got {self.steps}")

    @property
    def n(self) -> int:
        return int(self.W.shape[-1])

    @property
    def T(self) -> int:
        return int(self.steps)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.W.shape[:-2])

    def matrix(self, t: int) -> FloatArray:
        self._check_t(t)
        return self.W

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        self._check_t(t)
        return self.W @ V

    def factors(
        self,
        start: int,
        end: int | None,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        """``W`` itself for every step (unbatched)."""
        start, end_ = check_range(start, end, self.T)
        assert end_ is not None
        return weight_factors(
            self.W,
            None,
            end_ - start,
            log_kappa=log_kappa,
            predicted_log_kappa=predicted_log_kappa,
        )

    def transposed_factors(
        self,
        start: int,
        end: int,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        start, end_ = check_range(start, end, self.T)
        assert end_ is not None
        return transposed_weight_factors(
            self.W,
            None,
            end_ - start,
            log_kappa=log_kappa,
            predicted_log_kappa=predicted_log_kappa,
        )

    def take(self, index: NDArray[np.intp]) -> ConstantSteps:
        return ConstantSteps(self.W[index], self.steps)


@dataclass(frozen=True, slots=True, eq=False)
class ArraySteps(Steps):
    """Step Jacobians given explicitly as a ``(*batch, T, n, n)`` array."""

    jacobians: FloatArray

    def __post_init__(self) -> None:
        J = self.jacobians
        if J.ndim < 3 or J.shape[-1] != J.shape[-2] or J.shape[-3] == 0:
            raise ConfigError(f"jacobians must have shape (T, n, n) with T >= 1, got {J.shape}")

    @property
    def n(self) -> int:
        return int(self.jacobians.shape[-1])

    @property
    def T(self) -> int:
        return int(self.jacobians.shape[-3])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.jacobians.shape[:-3])

    def matrix(self, t: int) -> FloatArray:
        t = self._check_t(t)
        return self.jacobians[..., t - 1, :, :]

    def factors(
        self,
        start: int,
        end: int | None,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        """Each stored Jacobian, row-equilibrated (unbatched)."""
        return explicit_factors(self.matrices(start, end), start)

    def transposed_factors(
        self,
        start: int,
        end: int,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        start, end_ = check_range(start, end, self.T)
        assert end_ is not None
        return explicit_factors((self.matrix(t).T for t in range(end_, start, -1)), start)


class StreamSteps(Steps):
    """Step Jacobians read once, in order, from any iterable of ``(n, n)`` arrays.

    Only sequential access is possible: :meth:`matrix` must be called with
    ``t = 1, 2, …`` in turn (each at most once more than its predecessor), which
    is exactly what forward products do. ``T`` is unknown until the stream ends.
    """

    def __init__(self, jacobians: Iterable[ArrayLike]) -> None:
        self._iter = iter(jacobians)
        self._t = 0
        self._current: FloatArray | None = None
        self._n: int | None = None
        self._peek()

    def _peek(self) -> None:
        # Read the first matrix now so that n is known and bad input fails early.
        try:
            first = next(self._iter)
        except StopIteration:
            raise ConfigError("jacobians is empty: give at least one (n, n) matrix") from None
        self._first: FloatArray | None = _as_jacobian(first, None, 1)
        self._n = int(self._first.shape[-1])

    @property
    def n(self) -> int:
        assert self._n is not None
        return self._n

    @property
    def T(self) -> None:
        return None

    @property
    def batch_shape(self) -> tuple[int, ...]:
        assert self._first is not None or self._current is not None
        ref = self._first if self._first is not None else self._current
        assert ref is not None
        return tuple(ref.shape[:-2])

    def matrix(self, t: int) -> FloatArray:
        if t == self._t and self._current is not None:
            return self._current
        if t != self._t + 1:
            raise ConfigError(
                f"a stream of Jacobians is read once, in order: asked for t={t} "
                f"after t={self._t}; pass a (T, n, n) array for random access"
            )
        if self._first is not None:
            J, self._first = self._first, None
        else:
            try:
                J = _as_jacobian(next(self._iter), self._n, t)
            except StopIteration:
                raise IndexError(t) from None
        self._t, self._current = t, J
        return J

    def matrices(self, start: int = 0, end: int | None = None) -> Iterator[FloatArray]:
        start, end = check_range(start, end, None)
        t = start + 1
        while end is None or t <= end:
            if t <= self._t - 1:
                raise ConfigError("a stream of Jacobians cannot be rewound")
            try:
                while self._t < t - 1:  # skip the factors before start
                    self.matrix(self._t + 1)
            except IndexError:
                raise ConfigError(
                    f"the stream of Jacobians ended before start={start}: nothing to multiply"
                ) from None
            try:
                yield self.matrix(t)
            except IndexError:
                if end is not None:
                    raise ConfigError(f"the stream of Jacobians ended before end={end}") from None
                return
            t += 1

    def factors(
        self,
        start: int,
        end: int | None,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        """Each Jacobian as it arrives, row-equilibrated."""
        return explicit_factors(self.matrices(start, end), start)

    def transposed_factors(
        self,
        start: int,
        end: int,
        *,
        log_kappa: float | None = None,
        predicted_log_kappa: float | None = None,
    ) -> Iterator[Factor]:
        raise ConfigError("a stream cannot be read from its end: give the Jacobians whole")


def _as_jacobian(J: ArrayLike, n: int | None, t: int) -> FloatArray:
    arr = np.asarray(J, dtype=np.float64)
    if arr.ndim < 2 or arr.shape[-1] != arr.shape[-2]:
        raise ConfigError(f"Jacobian {t} must be square (n, n), got shape {arr.shape}")
    if n is not None and arr.shape[-1] != n:
        raise ConfigError(f"Jacobian {t} has shape {arr.shape}, the first was {n} × {n}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"Jacobian {t} contains NaN or Inf")
    return arr


#: What the functions on Jacobian products accept: steps, a (T, n, n) array, or a stream.
JacobiansLike = Steps | ArrayLike | Iterable[ArrayLike]


def unbatched_steps(
    jacobians: Steps | ArrayLike | Iterable[ArrayLike], start: int, end: int | None
) -> tuple[Steps, int, int | None]:
    """:func:`as_steps` for one product (no batch dimensions), with its window checked."""
    steps = as_steps(jacobians)
    if steps.batch_shape != ():
        raise ConfigError(
            f"one product at a time: these Jacobians carry batch dimensions "
            f"{steps.batch_shape}; loop over the batch and call once per entry"
        )
    start, end = check_range(start, end, steps.T)
    return steps, start, end


def as_steps(jacobians: Steps | ArrayLike | Iterable[ArrayLike]) -> Steps:
    """Turn a (T, n, n) array, an iterable of (n, n) arrays or a Steps into Steps.

    Raises
    ------
    ConfigError
        If shapes are wrong, the sequence is empty or a value is not finite.
    """
    if isinstance(jacobians, Steps):
        return jacobians
    if isinstance(jacobians, np.ndarray):
        arr = np.asarray(jacobians, dtype=np.float64)
        if arr.ndim >= 3:
            if not np.all(np.isfinite(arr)):
                raise ConfigError("jacobians contains NaN or Inf")
            return ArraySteps(arr)
        raise ConfigError(f"jacobians must have shape (T, n, n), got {arr.shape}")
    return StreamSteps(jacobians)  # type: ignore[arg-type]
