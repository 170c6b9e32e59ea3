r"""The step Jacobians of a user's PyTorch cell, :math:`J_t = \partial s_t / \partial s_{t-1}`.

A *cell* is any callable ``cell(x, h) -> h_next`` in PyTorch's argument order
(``nn.RNNCell(input, hx)``): an ``nn.Module`` or a function. Its state ``h``
is a tensor or a tuple of tensors (``(h, c)`` for ``nn.LSTMCell``), flattened
in order into one vector :math:`s` of n values, so :math:`J_t` is n × n.

The forward pass runs once, in float64, and keeps the states
:math:`s_0, \dots, s_T`. A module is evaluated on float64 *copies* of its
parameters and buffers through :func:`torch.func.functional_call`, in eval
mode (each submodule's ``training`` flag is set for the call and restored
after it): the user's module is never cast or changed. The Jacobians come from
``torch.func`` at the stored states:

* :meth:`TorchSteps.apply` is a forward-mode product (``jvp``) and
  :meth:`TorchSteps.apply_transpose` a reverse-mode one (``vjp``), batched
  over a block's columns with ``vmap`` — matrix-free methods never form
  :math:`J_t`;
* :meth:`TorchSteps.matrix` is ``jacrev``, refused above :data:`DENSE_LIMIT`.

Where ``vmap`` cannot run the cell (a custom ``autograd.Function`` without a
vmap rule, for instance) the columns are done one at a time, and
:attr:`TorchSteps.notes` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from gradscope.errors import ConfigError, NumericalError
from gradscope.numeric.steps import Steps

__all__ = ["DENSE_LIMIT", "TorchSteps", "torch_steps"]

FloatArray = NDArray[np.float64]
Cell = Callable[..., Any]

#: The largest state size n for which :meth:`TorchSteps.matrix` forms J_t by ``jacrev``.
DENSE_LIMIT = 2048

#: The largest n for which :meth:`TorchSteps.log10_rounding_scale` forms J_t (n vjp's a step).
EXACT_SCALE_LIMIT = 256

#: Random probes behind the estimate of ‖J_t‖_F above :data:`EXACT_SCALE_LIMIT`.
_PROBES = 8
#: Factor on that estimate (the estimate of ‖J‖_F² from 8 Gaussian probes is a
#: χ²-type mean: it falls below a quarter of the truth with probability < 1e-3).
_PROBE_SAFETY = 2.0


def _as_tensor(value: Any, name: str) -> torch.Tensor:
    """A detached float64 copy of a tensor or array (integer data keep their dtype)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().clone()
    else:
        try:
            t = torch.as_tensor(np.array(value))
        except (TypeError, ValueError, RuntimeError) as err:
            kind = type(value).__name__
            raise ConfigError(f"{name} must be a tensor or an array, got {kind}") from err
    if t.is_floating_point() or t.is_complex():
        if t.is_complex():
            raise ConfigError(f"{name} is complex ({t.dtype}): gradscope measures real cells")
        t = t.to(torch.float64)
    return t


def _state_parts(h0: Any) -> tuple[tuple[torch.Tensor, ...], bool]:
    if isinstance(h0, (tuple, list)):
        if len(h0) == 0:
            raise ConfigError("h0 is an empty tuple: give the initial state, e.g. (h0, c0)")
        parts = tuple(_as_tensor(p, f"h0[{i}]") for i, p in enumerate(h0))
        return parts, True
    if h0 is None:
        raise ConfigError("h0 is required: the initial state (a tensor, or a tuple like (h, c))")
    return (_as_tensor(h0, "h0"),), False


def _shapes(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return str(tuple(out.shape))
    if isinstance(out, (tuple, list)):
        return "(" + ", ".join(_shapes(o) for o in out) + ")"
    return type(out).__name__


class TorchSteps(Steps):
    r"""Step Jacobians of a PyTorch cell along one run (see the module docstring).

    Parameters
    ----------
    cell : callable
        ``cell(x, h) -> h_next``; an ``nn.Module`` or a function.
    inputs : (T, ...) tensor or array_like
        ``inputs[t - 1]`` is the ``x`` of step t.
    h0 : tensor, array_like or tuple of them
        The initial state; a tuple is flattened in order.
    dense_limit : int
        The largest n for which :meth:`matrix` forms :math:`J_t`.

    Attributes
    ----------
    states : (T + 1, n) ndarray
        The flattened states :math:`s_0, \dots, s_T` (read-only).
    notes : tuple of str
        Diagnostics: where ``vmap`` failed and the columns were looped over.

    Notes
    -----
    There is no batch dimension (one run). :meth:`nonzero_pattern` is all True,
    the conservative answer for an opaque cell; :meth:`log10_rounding_scale` is
    :math:`\|J_t\|_F` computed from :meth:`matrix` up to n = 256 (and ``dense_limit``),
    estimated from random probes above it (see its docstring).
    """

    def __init__(
        self, cell: Cell, inputs: Any, h0: Any, *, dense_limit: int = DENSE_LIMIT
    ) -> None:
        if not callable(cell):
            raise ConfigError(f"cell must be callable as cell(x, h), got {type(cell).__name__}")
        self._cell = cell
        self._module = cell if isinstance(cell, torch.nn.Module) else None
        self._params: dict[str, torch.Tensor] = {}
        if self._module is not None:
            for name, p in self._module.named_parameters():
                self._params[name] = _as_tensor(p, f"parameter {name}")
            for name, b in self._module.named_buffers():
                self._params[name] = _as_tensor(b, f"buffer {name}")
        x = _as_tensor(inputs, "inputs")
        if x.ndim < 1 or x.shape[0] < 1:
            raise ConfigError(f"inputs must be (T, ...) with T >= 1, got shape {tuple(x.shape)}")
        self._x = x
        parts, self._tuple = _state_parts(h0)
        self._shapes_ = tuple(p.shape for p in parts)
        self._sizes = tuple(int(p.numel()) for p in parts)
        self._n = int(sum(self._sizes))
        if self._n == 0:
            raise ConfigError("h0 has no entries: the state must have at least one value")
        self.dense_limit = int(dense_limit)
        self._notes: list[str] = []
        self.states = self._run(parts)

    # --- the state as one vector -------------------------------------------------------

    def _unflatten(self, s: torch.Tensor) -> Any:
        parts = torch.split(s, list(self._sizes))
        shaped = tuple(p.reshape(shape) for p, shape in zip(parts, self._shapes_, strict=True))
        return shaped if self._tuple else shaped[0]

    def _flatten(self, out: Any) -> torch.Tensor:
        parts = tuple(out) if self._tuple and isinstance(out, (tuple, list)) else (out,)
        if len(parts) == 1:
            flat: torch.Tensor = parts[0].reshape(-1)
            return flat
        return torch.cat([p.reshape(-1) for p in parts])

    def _check_output(self, out: Any) -> None:
        want = "(" + ", ".join(str(tuple(s)) for s in self._shapes_) + ")"
        want = want if self._tuple else str(tuple(self._shapes_[0]))
        if self._tuple:
            ok = isinstance(out, (tuple, list)) and len(out) == len(self._shapes_)
            ok = ok and all(
                isinstance(o, torch.Tensor) and o.shape == s
                for o, s in zip(out, self._shapes_, strict=False)
            )
        else:
            ok = isinstance(out, torch.Tensor) and out.shape == self._shapes_[0]
        if not ok:
            raise ConfigError(
                f"the cell returned {_shapes(out)} for a state of shape {want}: "
                f"cell(x, h) must return the next state, shaped as h"
            )

    # --- evaluating the cell -----------------------------------------------------------

    @contextmanager
    def _eval_mode(self) -> Iterator[None]:
        if self._module is None:
            yield
            return
        flags = [(m, m.training) for m in self._module.modules()]
        self._module.eval()
        try:
            yield
        finally:
            for m, flag in flags:
                m.training = flag

    def _call(self, x: torch.Tensor, h: Any) -> Any:
        if self._module is not None:
            return torch.func.functional_call(self._module, self._params, (x, h))
        return self._cell(x, h)

    def _step_function(self, t: int) -> Callable[[torch.Tensor], torch.Tensor]:
        x = self._x[t - 1]

        def f(s: torch.Tensor) -> torch.Tensor:
            return self._flatten(self._call(x, self._unflatten(s)))

        return f

    def _run(self, parts: tuple[torch.Tensor, ...]) -> FloatArray:
        T = int(self._x.shape[0])
        states = torch.empty((T + 1, self._n), dtype=torch.float64)
        s = torch.cat([p.reshape(-1) for p in parts])
        if not bool(torch.all(torch.isfinite(s))):
            raise ConfigError("h0 contains NaN or Inf")
        states[0] = s
        with torch.no_grad(), self._eval_mode():
            for t in range(1, T + 1):
                try:
                    out = self._call(self._x[t - 1], self._unflatten(states[t - 1]))
                except Exception as err:  # the user's code: any failure, reported in one line
                    first = str(err).splitlines()[0] if str(err) else ""
                    raise ConfigError(
                        f"the cell raised {type(err).__name__} at step t={t}: {first} "
                        f"(it is called as cell(x, h) on float64 tensors, x = inputs[t - 1])"
                    ) from err
                self._check_output(out)
                s = self._flatten(out).to(torch.float64)
                if not bool(torch.all(torch.isfinite(s))):
                    raise NumericalError(
                        f"the cell's state is not finite at step t={t} (of {T}): NaN or Inf "
                        f"in s_{t}; the Jacobians after it are undefined"
                    )
                states[t] = s
        out_np: FloatArray = states.numpy()
        out_np.flags.writeable = False
        return out_np

    def _note(self, what: str, err: BaseException) -> None:
        msg = (
            f"vmap failed on the cell's {what} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:160] if str(err) else ''}); "
            f"the block's columns were done one at a time"
        )
        if msg not in self._notes:
            self._notes.append(msg)

    @property
    def notes(self) -> tuple[str, ...]:
        """Diagnostics of the Jacobian evaluations (where ``vmap`` was replaced by a loop)."""
        return tuple(self._notes)

    # --- Steps -------------------------------------------------------------------------

    @property
    def n(self) -> int:
        return self._n

    @property
    def T(self) -> int:
        return int(self._x.shape[0])

    def _state(self, t: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.states[t - 1]))

    def _block(self, V: ArrayLike) -> torch.Tensor:
        arr = np.asarray(V, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] != self._n:
            raise ConfigError(f"a block must be ({self._n}, k), got shape {arr.shape}")
        return torch.from_numpy(np.ascontiguousarray(arr.T))  # (k, n): one row per column

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        r""":math:`J_t V` by forward-mode AD (``jvp``), batched over V's columns with ``vmap``."""
        t = self._check_t(t)
        rows = self._block(V)
        f, s = self._step_function(t), self._state(t)

        def one(v: torch.Tensor) -> torch.Tensor:
            tangent: torch.Tensor = torch.func.jvp(f, (s,), (v,))[1]
            return tangent

        with self._eval_mode():
            try:
                out = torch.func.vmap(one)(rows)
            except Exception as err:  # vmap's failures have no common type
                self._note("jvp", err)
                out = torch.stack([one(v) for v in rows]) if len(rows) else rows.clone()
        result: FloatArray = out.detach().numpy().T.copy()
        return result

    def apply_transpose(self, t: int, U: FloatArray) -> FloatArray:
        r""":math:`J_t^\top U` by reverse-mode AD (``vjp``), batched over columns by ``vmap``."""
        t = self._check_t(t)
        rows = self._block(U)
        f, s = self._step_function(t), self._state(t)
        with self._eval_mode():
            pull = torch.func.vjp(f, s)[1]
            try:
                out = torch.func.vmap(pull)(rows)[0]
            except Exception as err:
                self._note("vjp", err)
                out = torch.stack([pull(u)[0] for u in rows]) if len(rows) else rows.clone()
        result: FloatArray = out.detach().numpy().T.copy()
        return result

    def matrix(self, t: int) -> FloatArray:
        r""":math:`J_t` as an (n, n) array by ``jacrev`` (refused for n above ``dense_limit``).

        Raises
        ------
        ConfigError
            If n exceeds ``dense_limit``: use the matrix-free methods instead.
        """
        t = self._check_t(t)
        if self._n > self.dense_limit:
            raise ConfigError(
                f"J_{t} is {self._n} × {self._n}, above the dense limit {self.dense_limit}: "
                f"use the matrix-free methods (compute_top_spectrum, compute_lyapunov with k; "
                f"--top K / --lyapunov-top K on the command line), which only apply J_t, "
                f"or raise dense_limit"
            )
        f, s = self._step_function(t), self._state(t)
        with self._eval_mode():
            try:
                J = torch.func.jacrev(f)(s)
            except Exception as err:
                self._note("jacrev", err)
                pull = torch.func.vjp(f, s)[1]
                eye = torch.eye(self._n, dtype=torch.float64)
                J = torch.stack([pull(e)[0] for e in eye])
        out: FloatArray = J.detach().numpy().copy()
        return out

    def log10_rounding_scale(self, t: int) -> FloatArray:
        r"""log10 :math:`N_t = \|J_t\|_F`: exact for small n, estimated above.

        For n up to :data:`EXACT_SCALE_LIMIT` (256) and ``dense_limit``,
        :math:`\|J_t\|_F` of :meth:`matrix`. Above it :math:`J_t` is not formed
        (it would cost n reverse passes a step): :math:`\|J_t\|_F^2 = E\|J_t g\|^2` for
        :math:`g \sim N(0, I)` is estimated from 8 seeded probes by :meth:`apply`
        and multiplied by 2. An AD product through an arbitrary cell is a
        composition of many operations, whose rounding is not bounded by the
        dense-product argument of :meth:`Steps.log10_rounding_scale` (which
        assumes one product and a row scaling): for an opaque cell this is an
        honest size, not a proof. Error bars that depend on it are first-order
        estimates for such cells.
        """
        t = self._check_t(t)
        if self._n <= min(self.dense_limit, EXACT_SCALE_LIMIT):
            J = self.matrix(t)
            peak = float(np.max(np.abs(J)))
            if peak == 0.0:
                return np.asarray(-np.inf)
            return np.asarray(math.log10(peak) + 0.5 * math.log10(float(np.sum((J / peak) ** 2))))
        G = np.random.default_rng([t, self._n]).standard_normal((self._n, _PROBES))
        JG = self.apply(t, G)
        peak = float(np.max(np.abs(JG)))
        if peak == 0.0:
            return np.asarray(-np.inf)  # J G = 0 for Gaussian G: J = 0 almost surely
        mean_sq = float(np.sum((JG / peak) ** 2)) / _PROBES
        return np.asarray(math.log10(_PROBE_SAFETY * peak) + 0.5 * math.log10(mean_sq))

    def nonzero_pattern(self, t: int) -> NDArray[np.bool_]:
        """All True: an opaque cell's zeros are not known structurally (the safe answer)."""
        self._check_t(t)
        return np.ones((self._n, self._n), dtype=bool)


def torch_steps(cell: Cell, inputs: Any, h0: Any | Sequence[Any]) -> TorchSteps:
    r"""The step Jacobians :math:`J_t = \partial s_t / \partial s_{t-1}` of any PyTorch cell.

    Parameters
    ----------
    cell : callable
        ``cell(x, h) -> h_next`` (PyTorch's order, as ``nn.RNNCell(input, hx)``):
        an ``nn.Module`` (evaluated on float64 copies of its parameters, in eval
        mode, never changed) or a function.
    inputs : (T, ...) tensor or array_like
        ``inputs[t - 1]`` is the ``x`` of step t.
    h0 : tensor, array_like or tuple of them
        The initial state (required); a tuple such as ``(h, c)`` is flattened in
        order, so ``n`` is the total number of values.

    Returns
    -------
    TorchSteps
        A :class:`~gradscope.numeric.steps.Steps` whose product ``J_T ⋯ J_{k+1}``
        is :math:`\partial s_T / \partial s_k`.

    Raises
    ------
    ConfigError
        If the cell's output is not shaped as its state, or an input is malformed.
    NumericalError
        If a state of the forward pass is not finite.

    Examples
    --------
    A linear cell ``h -> 0.5 h`` has :math:`J_t = I/2`:

    >>> import torch
    >>> steps = torch_steps(lambda x, h: 0.5 * h + x, torch.zeros(3, 2), torch.ones(2))
    >>> steps.matrix(1).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    return TorchSteps(cell, inputs, h0)
