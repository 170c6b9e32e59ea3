r"""The step-Jacobian shapes of the zoo's cells, applied without forming a matrix.

* :class:`DiagonalSteps` — :math:`J_t = \operatorname{diag}(d_t)` (IndRNN, minGRU, S6);
* :class:`AffineSteps` — :math:`J_t = P + \operatorname{diag}(c_t) Q`
  (AntisymmetricRNN, Lipschitz RNN), one product by Q a step;
* :class:`CoRNNSteps` — coRNN's 2n × 2n block Jacobian on (y, z), two products by n × n
  matrices a step.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from gradscope.errors import ConfigError
from gradscope.numeric.steps import (
    Steps,
    log10_add,
    log10_frobenius,
    log10_row_scaled_frobenius,
)

__all__ = ["AffineSteps", "CoRNNSteps", "DiagonalSteps"]

FloatArray = NDArray[np.float64]


def _check_block(V: FloatArray, n: int) -> None:
    if V.ndim != 2 or V.shape[0] != n:
        raise ConfigError(f"a block must be ({n}, k), got shape {V.shape}")


class DiagonalSteps(Steps):
    r""":math:`J_t = \operatorname{diag}(d_t)`, ``d`` of shape (T, n).

    Parameters
    ----------
    d : (T, n) ndarray
        Row ``t - 1`` holds the diagonal of :math:`J_t`.
    pattern : (T, n) bool ndarray, optional
        Where the exact diagonal may be nonzero (default: everywhere, the
        honest answer when a computed entry may have underflowed to 0).

    Notes
    -----
    :meth:`apply` is one multiplication per entry, so :math:`N_t = \|d_t\|_2`
    (the Frobenius norm of the diagonal matrix) bounds its rounding.
    """

    def __init__(self, d: FloatArray, pattern: NDArray[np.bool_] | None = None) -> None:
        if d.ndim != 2 or d.shape[0] < 1 or d.shape[1] < 1:
            raise ConfigError(f"d must be (T, n) with T, n >= 1, got shape {d.shape}")
        self.d = d
        self.pattern = np.ones(d.shape, dtype=bool) if pattern is None else pattern

    @property
    def n(self) -> int:
        return int(self.d.shape[1])

    @property
    def T(self) -> int:
        return int(self.d.shape[0])

    def matrix(self, t: int) -> FloatArray:
        t = self._check_t(t)
        return np.diag(self.d[t - 1])

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        t = self._check_t(t)
        _check_block(V, self.n)
        out: FloatArray = self.d[t - 1][:, None] * V
        return out

    def apply_transpose(self, t: int, U: FloatArray) -> FloatArray:
        return self.apply(t, U)

    def log10_rounding_scale(self, t: int) -> FloatArray:
        r""":math:`\log_{10} \|d_t\|_2`."""
        t = self._check_t(t)
        return log10_frobenius(self.d[t - 1][None, :])

    def nonzero_pattern(self, t: int) -> NDArray[np.bool_]:
        t = self._check_t(t)
        return np.diag(self.pattern[t - 1])


class AffineSteps(Steps):
    r""":math:`J_t = P + \operatorname{diag}(c_t) Q` with constant P, Q and ``c`` of shape (T, n).

    :meth:`apply` is :math:`P V + c_t \odot (Q V)`, :meth:`apply_transpose`
    :math:`P^\top U + Q^\top (c_t \odot U)`; the rounding of the two products
    and the sum is bounded with :math:`N_t = \|P\|_F + \|\operatorname{diag}(c_t) Q\|_F
    \ge \|J_t\|_F`.
    """

    def __init__(self, P: FloatArray, Q: FloatArray, c: FloatArray) -> None:
        n = P.shape[-1]
        if P.shape != (n, n) or Q.shape != (n, n) or c.ndim != 2 or c.shape[1] != n:
            raise ConfigError(
                f"need P, Q (n, n) and c (T, n): got {P.shape}, {Q.shape}, {c.shape}"
            )
        if c.shape[0] < 1:
            raise ConfigError("c must have T >= 1 rows")
        self.P, self.Q, self.c = P, Q, c
        self._log_P = log10_frobenius(P)

    @property
    def n(self) -> int:
        return int(self.P.shape[0])

    @property
    def T(self) -> int:
        return int(self.c.shape[0])

    def matrix(self, t: int) -> FloatArray:
        t = self._check_t(t)
        out: FloatArray = self.P + self.c[t - 1][:, None] * self.Q
        return out

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        t = self._check_t(t)
        _check_block(V, self.n)
        out: FloatArray = self.P @ V + self.c[t - 1][:, None] * (self.Q @ V)
        return out

    def apply_transpose(self, t: int, U: FloatArray) -> FloatArray:
        t = self._check_t(t)
        _check_block(U, self.n)
        out: FloatArray = self.P.T @ U + self.Q.T @ (self.c[t - 1][:, None] * U)
        return out

    def log10_rounding_scale(self, t: int) -> FloatArray:
        t = self._check_t(t)
        return log10_add(self._log_P, log10_row_scaled_frobenius(self.c[t - 1], self.Q))

    def nonzero_pattern(self, t: int) -> NDArray[np.bool_]:
        t = self._check_t(t)
        out: NDArray[np.bool_] = (self.P != 0.0) | (
            (self.c[t - 1] != 0.0)[:, None] & (self.Q != 0.0)
        )
        return out


class CoRNNSteps(Steps):
    r"""coRNN's Jacobians on the state (y, z) (see :mod:`gradscope.model.zoo.cornn`).

    With :math:`Z_y = \Delta t(\operatorname{diag}(d_t) W - \gamma I)` and
    :math:`Z_z = (1 - \Delta t\,\epsilon) I + \Delta t \operatorname{diag}(d_t) W_z`,
    :math:`J_t = \begin{pmatrix} I + \Delta t Z_y & \Delta t Z_z \\ Z_y & Z_z \end{pmatrix}
    = \begin{pmatrix} I & 0 \\ 0 & 0 \end{pmatrix}
    + \begin{pmatrix} \Delta t I \\ I \end{pmatrix} (Z_y \; Z_z)`.
    """

    def __init__(
        self, W: FloatArray, W_z: FloatArray, d: FloatArray, dt: float, gamma: float, eps: float
    ) -> None:
        h = int(W.shape[0])
        if W.shape != (h, h) or W_z.shape != (h, h) or d.ndim != 2 or d.shape[1] != h:
            raise ConfigError(
                f"need W, W_z (n, n) and d (T, n): got {W.shape}, {W_z.shape}, {d.shape}"
            )
        self.W, self.W_z, self.d = W, W_z, d
        self.dt, self.gamma, self.eps = float(dt), float(gamma), float(eps)
        self._h = h

    @property
    def n(self) -> int:
        return 2 * self._h

    @property
    def T(self) -> int:
        return int(self.d.shape[0])

    def _blocks(self, t: int) -> tuple[FloatArray, FloatArray]:
        d, h, dt = self.d[t - 1][:, None], self._h, self.dt
        eye = np.eye(h)
        Zy: FloatArray = dt * (d * self.W - self.gamma * eye)
        Zz: FloatArray = (1.0 - dt * self.eps) * eye + dt * (d * self.W_z)
        return Zy, Zz

    def matrix(self, t: int) -> FloatArray:
        t = self._check_t(t)
        Zy, Zz = self._blocks(t)
        top = np.hstack([np.eye(self._h) + self.dt * Zy, self.dt * Zz])
        return np.vstack([top, np.hstack([Zy, Zz])])

    def apply(self, t: int, V: FloatArray) -> FloatArray:
        t = self._check_t(t)
        _check_block(V, self.n)
        h, dt, d = self._h, self.dt, self.d[t - 1][:, None]
        Vy, Vz = V[:h], V[h:]
        dz = (
            dt * (d * (self.W @ Vy + self.W_z @ Vz) - self.gamma * Vy) + (1.0 - dt * self.eps) * Vz
        )
        return np.vstack([Vy + dt * dz, dz])

    def apply_transpose(self, t: int, U: FloatArray) -> FloatArray:
        t = self._check_t(t)
        _check_block(U, self.n)
        h, dt, d = self._h, self.dt, self.d[t - 1][:, None]
        Uy, Uz = U[:h], U[h:]
        w = dt * Uy + Uz
        dw = d * w
        out_y = Uy + dt * (self.W.T @ dw - self.gamma * w)
        out_z = (1.0 - dt * self.eps) * w + dt * (self.W_z.T @ dw)
        return np.vstack([out_y, out_z])

    def log10_rounding_scale(self, t: int) -> FloatArray:
        r""":math:`\sqrt n + (1 + |\Delta t|)(\|Z_y\|_F + \|Z_z\|_F)`, by its terms."""
        t = self._check_t(t)
        d, h, dt = self.d[t - 1], self._h, abs(self.dt)
        root = math.sqrt(h)

        def lg(x: float) -> FloatArray:
            return np.asarray(math.log10(x) if x > 0 else -np.inf)

        zy = log10_add(
            lg(dt) + log10_row_scaled_frobenius(d, self.W), lg(dt * abs(self.gamma) * root)
        )
        zz = log10_add(
            lg(abs(1.0 - self.dt * self.eps) * root),
            lg(dt) + log10_row_scaled_frobenius(d, self.W_z),
        )
        return log10_add(lg(root), lg(1.0 + dt) + log10_add(zy, zz))

    def nonzero_pattern(self, t: int) -> NDArray[np.bool_]:
        t = self._check_t(t)
        h = self._h
        live = (self.d[t - 1] != 0.0)[:, None]
        eye = np.eye(h, dtype=bool)
        dt_live = self.dt != 0.0
        zy = dt_live & ((live & (self.W != 0.0)) | (eye & (self.gamma != 0.0)))
        zz = (eye & (1.0 - self.dt * self.eps != 0.0)) | (dt_live & live & (self.W_z != 0.0))
        top = np.hstack([eye | (dt_live & zy), dt_live & zz])
        out: NDArray[np.bool_] = np.vstack([top, np.hstack([zy, zz])])
        return out
