r"""Exact constants of the Jordan-block law :math:`\|A^k\|_2 = \Theta(k^{m-1}\rho^k)`.

For :math:`A = S\,(\bigoplus_i J_{p_i}(\mu_i))\,S^{-1}` with a dominant block
:math:`J_m(\lambda)`, :math:`|\lambda| = \rho`, the ratio

.. math:: r_k = \frac{\|A^k\|_2}{k^{m-1}\rho^k} = \|S N_k S^{-1}\|_2, \qquad
   (N_k)_{i,i+d} = \binom{k}{d}\,\frac{\mu^{k-d}}{k^{m-1}\rho^k}

is computed from the binomial entries in log space (no :math:`\rho^k`
underflow or overflow) for every :math:`k = 1..K`, and for every
:math:`k \ge K` it is enclosed by a tail bound: :math:`N_k \to N_\infty` (the
corner entries :math:`\pm\rho^{-(m-1)}/(m-1)!` of the size-m blocks of modulus ρ),
with :math:`\|N_k - N_\infty\|_F \le e_K` from entry bounds valid for all
:math:`k \ge K`, so :math:`|r_k - \|S N_\infty S^{-1}\|_2| \le \kappa(S)\,e_K`.
Hence explicit constants :math:`c_1 = \inf_{k\ge1} r_k`, :math:`c_2 = \sup_{k \ge 1} r_k`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["JordanConstants", "jordan_constants", "jordan_matrix", "normalized_power"]

FloatArray = NDArray[np.float64]
_KS = (256, 1024, 4096, 16384)


def _offsets(blocks: Sequence[tuple[float, int]]) -> list[int]:
    out, o = [], 0
    for _, p in blocks:
        out.append(o)
        o += p
    return out


def jordan_matrix(blocks: Sequence[tuple[float, int]]) -> FloatArray:
    r"""The block-diagonal Jordan matrix :math:`\bigoplus_i J_{p_i}(\mu_i)` (ones above)."""
    n = sum(p for _, p in blocks)
    J = np.zeros((n, n))
    for (mu, p), o in zip(blocks, _offsets(blocks), strict=True):
        J[o : o + p, o : o + p] = mu * np.eye(p) + np.eye(p, k=1)
    return J


def normalized_power(
    blocks: Sequence[tuple[float, int]], ks: NDArray[np.int64], m: int, rho: float
) -> FloatArray:
    r""":math:`N_k = (\bigoplus J_{p_i}(\mu_i))^k / (k^{m-1}\rho^k)`, shape (len(ks), n, n).

    Entries :math:`\binom{k}{d}\mu^{k-d}/(k^{m-1}\rho^k)` in log space:
    :math:`\log\binom{k}{d} = \sum_{j<d}\log(k-j) - \log d!` (zero for d > k).
    """
    n = sum(p for _, p in blocks)
    k = ks.astype(np.float64)
    N = np.zeros((len(ks), n, n))
    for (mu, p), o in zip(blocks, _offsets(blocks), strict=True):
        log_mu = math.log(abs(mu)) if mu != 0 else 0.0
        sign = -1.0 if mu < 0 else 1.0
        log_c = np.zeros(len(ks))
        for d in range(p):
            if d > 0:
                with np.errstate(divide="ignore", invalid="ignore"):
                    log_c = log_c + np.log(np.maximum(k - (d - 1), 0.0)) - math.log(d)
            e = log_c + (k - d) * log_mu - k * math.log(rho) - (m - 1) * np.log(k)
            with np.errstate(under="ignore"):
                value = np.where(ks >= d if mu != 0 else ks == d, np.exp(e), 0.0)
            value = value * np.where((ks - d) % 2 == 0, 1.0, sign)
            for i in range(p - d):
                N[:, o + i, o + i + d] = value
    return N


def _limits(
    blocks: Sequence[tuple[float, int]], m: int, rho: float
) -> tuple[FloatArray, FloatArray]:
    r""":math:`N_\infty` for even and odd k (the corners of the size-m blocks of modulus ρ)."""
    n = sum(p for _, p in blocks)
    out = []
    for parity in (0, 1):
        N = np.zeros((n, n))
        for (mu, p), o in zip(blocks, _offsets(blocks), strict=True):
            if p == m and abs(mu) == rho:
                sign = -1.0 if (mu < 0 and (parity - (m - 1)) % 2) else 1.0
                N[o, o + m - 1] = sign * rho ** (-(m - 1)) / math.factorial(m - 1)
        out.append(N)
    return out[0], out[1]


def _tail_error(blocks: Sequence[tuple[float, int]], m: int, rho: float, K: int) -> float:
    r"""An upper bound on :math:`\sup_{k\ge K}\|N_k - N_\infty(k)\|_F` (inf if none at this K)."""
    total = 0.0
    for mu, p in blocks:
        q = abs(mu) / rho
        for d in range(p):
            if q == 1.0:
                if d < m - 1:  # C(k,d)/k^(m-1) <= k^(d-m+1)/d!, decreasing in k
                    b = rho ** (-d) * K ** (d - m + 1) / math.factorial(d)
                else:  # 1/(m-1)! - C(k,m-1)/k^(m-1) <= (m-1)(m-2)/(2k (m-1)!)
                    b = rho ** (-d) * (m - 1) * (m - 2) / (2 * K * math.factorial(d))
            elif mu == 0:  # a nilpotent block: N_k's entries are 0 for k > d
                b = 0.0
            else:  # f(k+1)/f(k) <= q (k+1)/(k+1-d): f decreasing from K on when < 1
                if q * (K + 1) / (K + 1 - d) >= 1.0:
                    return math.inf
                log_f = (
                    math.log(math.comb(K, d))
                    + (K - d) * math.log(abs(mu))
                    - K * math.log(rho)
                    - (m - 1) * math.log(K)
                )
                b = math.exp(log_f) if log_f > -700 else 0.0
            total += (p - d) * b * b
    return math.sqrt(total)


@dataclass(frozen=True, slots=True, kw_only=True)
class JordanConstants:
    r"""Explicit constants of :math:`c_1 k^{m-1}\rho^k \le \|A^k\|_2 \le c_2 k^{m-1}\rho^k`.

    Attributes
    ----------
    c1, c2 : float
        :math:`\inf_{k \ge 1} r_k` and :math:`\sup_{k \ge 1} r_k` (for k ≥ K from the tail
        enclosure); c1 = 0 (undetermined) when the enclosure does not exclude 0.
    K : int
        :math:`r_k` is computed for k = 1..K; beyond, enclosed.
    limit_low, limit_high : float
        :math:`\|S N_\infty S^{-1}\|_2` over the two parities of k.
    tail : float
        :math:`\kappa(S)\,e_K`, the half-width of the enclosure for k ≥ K.
    argmin, argmax : int
        The k of c1 and c2 (K + 1 when the tail gives it).
    kappa : float
        :math:`\kappa_2(S)`.
    """

    c1: float
    c2: float
    K: int
    limit_low: float
    limit_high: float
    tail: float
    argmin: int
    argmax: int
    kappa: float

    @property
    def determined(self) -> bool:
        return self.c1 > 0.0 and math.isfinite(self.c2)

    @property
    def ratio(self) -> float:
        return self.c2 / self.c1 if self.determined else math.inf


def jordan_constants(
    S: FloatArray, blocks: Sequence[tuple[float, int]], ks: Sequence[int] = _KS
) -> JordanConstants:
    r"""Constants of the law for :math:`A = S J S^{-1}`; ``blocks[0]`` is the dominant one.

    ``K`` grows through ``ks`` until the tail enclosure is within 1 % of the
    limit (or ``ks`` ends).
    """
    lam, m = blocks[0]
    rho = abs(lam)
    S_inv = np.linalg.inv(S)
    kappa = float(np.linalg.norm(S, 2) * np.linalg.norm(S_inv, 2))
    even, odd = _limits(blocks, m, rho)
    lims = [float(np.linalg.norm(S @ L @ S_inv, 2)) for L in (even, odd)]
    r = np.zeros(0)
    done = 0
    for K in ks:
        k = np.arange(done + 1, K + 1, dtype=np.int64)
        N = normalized_power(blocks, k, m, rho)
        r = np.concatenate([r, np.linalg.norm(S @ N @ S_inv, 2, axis=(1, 2))])
        done = K
        tail = kappa * _tail_error(blocks, m, rho, K)
        if tail <= 0.01 * min(lims):
            break
    lo_tail, hi_tail = min(lims) - tail, max(lims) + tail
    i_lo, i_hi = int(np.argmin(r)), int(np.argmax(r))
    c1 = min(float(r[i_lo]), lo_tail)
    c2 = max(float(r[i_hi]), hi_tail)
    return JordanConstants(
        c1=max(c1, 0.0),
        c2=c2,
        K=done,
        limit_low=min(lims),
        limit_high=max(lims),
        tail=tail,
        argmin=i_lo + 1 if r[i_lo] <= lo_tail else done + 1,
        argmax=i_hi + 1 if r[i_hi] >= hi_tail else done + 1,
        kappa=kappa,
    )
