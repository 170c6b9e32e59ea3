r"""The headline measurement: :math:`\|\partial h_T/\partial h_0\|_2` beside its bound.

For a vanilla RNN, :math:`\|J_t\|_2 \le \gamma \|W_{hh}\|_2` with
:math:`\gamma = \sup|\varphi'|`, so

.. math::

    \|\partial h_T/\partial h_k\|_2 \le (\gamma \|W_{hh}\|_2)^{T-k}.

:func:`compute_bound` measures the left side exactly (in log10, for any T) on
generated weights of each family and activation, over several seeds, and
reports it beside the bound together with the memory horizons (DESIGN.md §1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradscope import progress
from gradscope.errors import ConfigError, SizeError
from gradscope.init import FAMILIES, instance_seed, random_inputs, random_rnn, reproduce_instance
from gradscope.model import ACTIVATIONS, get_activation
from gradscope.numeric.forward import IncrementalRNNSteps
from gradscope.numeric.graded.bounds import json_error
from gradscope.numeric.norms import check_scale, spectral_norm
from gradscope.numeric.products import scan_product
from gradscope.numeric.steps import ConstantSteps, Steps
from gradscope.records import json_number

__all__ = [
    "DEFAULT_ACTIVATIONS",
    "DEFAULT_HORIZON_CAP",
    "DEFAULT_THRESHOLDS",
    "BoundResult",
    "BoundRow",
    "BoundSettings",
    "Horizon",
    "Instance",
    "SeedBound",
    "check_bound_memory",
    "compute_bound",
    "estimate_bound_memory",
    "judging_slack",
    "log10_norm_bound",
    "measure_instances",
    "rounding_tolerance",
]

DEFAULT_ACTIVATIONS = ("tanh", "linear")
EPS = float(np.finfo(np.float64).eps)
DEFAULT_THRESHOLDS = (1e-2, EPS)
DEFAULT_HORIZON_CAP = 1000
_UNIT_ROUNDOFF = EPS / 2


def rounding_tolerance(factors: int, n: int) -> float:
    r"""The log10 slack allowed for rounding when judging the bound.

    A floating-point matrix product obeys :math:`|fl(AB) - AB| \le n u |A||B|`
    (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.5), hence a
    relative error of at most :math:`n^2 u` in the 2-norm per factor. Over
    ``factors`` factors plus the final SVD the measured norm is within a
    relative :math:`(\text{factors} \cdot n^2 + n) u` of the exact one, and the
    bound is judged to hold when ``measured <= bound + log10(1 + that)``.
    """
    return math.log10(1.0 + (factors * n * n + n) * _UNIT_ROUNDOFF)


def log10_norm_bound(factors: int, gamma: float, norm: float) -> float:
    r"""The bound :math:`\log_{10}(\gamma\|W\|_2)^{T-k}` on a product of step Jacobians.

    Parameters
    ----------
    factors : int
        T − k, the number of step Jacobians in :math:`\partial h_T/\partial h_k`.
    gamma : float
        γ = sup |φ′| of the activation.
    norm : float
        ‖W_hh‖₂.

    Returns
    -------
    float
        ``factors · log10(γ‖W‖₂)``; −inf when γ‖W‖₂ = 0.

    Examples
    --------
    A linear RNN with ‖W‖₂ = 0.1 shrinks by at most a decade per step:

    >>> log10_norm_bound(3, 1.0, 0.1)
    -3.0
    """
    gamma_norm = gamma * norm
    return factors * math.log10(gamma_norm) if gamma_norm > 0 else -math.inf


def judging_slack(log10_error: float, factors: int, n: int) -> float:
    r"""How far above a proven bound a measured log10 norm may lie and still not refute it.

    Two bounds on the measurement's error are valid, and the smaller is used:
    the one the product computed (``log10_error``, a posteriori) and
    :func:`rounding_tolerance` (a priori: the rounding of a product whose norm is
    near :math:`\prod_t \|J_t\|_2`, which is what a norm at the bound is). An
    exact zero (NaN) has no error.
    """
    if math.isnan(log10_error):
        return 0.0
    return min(log10_error, rounding_tolerance(factors, n))


@dataclass(frozen=True, slots=True, kw_only=True)
class Horizon:
    r"""A memory horizon: the first k with :math:`\|\partial h_k/\partial h_0\|_2 < θ`.

    Attributes
    ----------
    threshold : float
        θ.
    measured : int or None
        None when not reached within ``cap`` steps.
    predicted : float or None
        The bound's prediction :math:`\log θ / \log(γ\|W\|_2)`; None when
        :math:`γ\|W\|_2 \ge 1` (the bound never falls below θ), counting
        :math:`γ\|W\|_2` within a relative 1e-12 of 1 (rounding) as 1.
    cap : int
        Steps scanned at most.
    """

    threshold: float
    measured: int | None
    predicted: float | None
    cap: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "measured": self.measured,
            "reached": self.measured is not None,
            "predicted": self.predicted,
            "cap": self.cap,
        }


# γ‖W‖₂ within this relative distance of 1 is indistinguishable from 1: the
# computed ‖W‖₂ of a matrix scaled to norm 1 is 1 - 2e-16, whose "prediction"
# of 1e17 steps would be an artefact of rounding.
_ONE_TOLERANCE = 1e-12


def _predicted_horizon(threshold: float, gamma_norm: float) -> float | None:
    if gamma_norm >= 1.0 - _ONE_TOLERANCE:
        return None
    if gamma_norm == 0.0:
        return 1.0
    return math.log(threshold) / math.log(gamma_norm)


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedBound:
    """The bound measured on one generated instance.

    Attributes
    ----------
    seed : int
        The instance index i: its weights and inputs come from
        ``numpy.random.SeedSequence(run_seed).spawn(seeds)[i]``.
    spectral_norm : float
        ‖W_hh‖₂ of the instance, used in the bound.
    log10_measured, log10_bound, log10_ratio : float
        log10 ‖∂h_T/∂h_0‖₂, T·log10(γ‖W‖₂) and their difference (−inf where the
        product is exactly zero).
    log10_error : float
        The bound on the error of ``log10_measured`` that the product computed
        (:attr:`~gradscope.numeric.products.SpectralNorm.log10_error`; NaN for an
        exact zero, inf where rounding may have decided the value).
    holds : bool
        True unless the measured norm exceeds the bound by more than its error
        can explain: ``log10_measured <= log10_bound + min(error, tolerance)``
        (:func:`judging_slack`).
    horizons : tuple of Horizon
    """

    seed: int
    spectral_norm: float
    log10_measured: float
    log10_error: float
    log10_bound: float
    log10_ratio: float
    holds: bool
    horizons: tuple[Horizon, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "spectral_norm": self.spectral_norm,
            "log10_measured": json_number(self.log10_measured),
            "log10_error": json_error(self.log10_error),
            "log10_bound": json_number(self.log10_bound),
            "log10_ratio": json_number(self.log10_ratio),
            "holds": self.holds,
            "horizons": [h.to_dict() for h in self.horizons],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundRow:
    """One family and activation over all seeds.

    ``log10_measured``, ``log10_error``, ``log10_bound`` and ``log10_ratio`` are
    those of the worst seed (the largest ratio); ``holds`` is true when every
    seed holds.
    """

    family: str
    activation: str
    gamma: float
    log10_measured: float
    log10_error: float
    log10_bound: float
    log10_ratio: float
    holds: bool
    worst_seed: int
    per_seed: tuple[SeedBound, ...]

    def horizon_range(self, index: int) -> tuple[int | None, int | None, float | None]:
        """(shortest, longest measured, longest predicted) horizon at threshold ``index``.

        A measured value of None means some seed did not reach the threshold.
        """
        hs = [s.horizons[index] for s in self.per_seed]
        measured = [h.measured for h in hs]
        reached = [m for m in measured if m is not None]
        lo = min(reached) if reached else None
        hi = None if None in measured else max(reached)
        preds = [h.predicted for h in hs]
        pred = None if None in preds else max(p for p in preds if p is not None)
        return lo, hi, pred

    def to_dict(self) -> dict[str, Any]:
        horizons = []
        for i, h in enumerate(self.per_seed[0].horizons):
            lo, hi, pred = self.horizon_range(i)
            horizons.append(
                {
                    "threshold": h.threshold,
                    "measured_min": lo,
                    "measured_max": hi,
                    "all_reached": hi is not None,
                    "predicted": pred,
                    "cap": h.cap,
                }
            )
        return {
            "family": self.family,
            "activation": self.activation,
            "gamma": self.gamma,
            "log10_measured": json_number(self.log10_measured),
            "log10_error": json_error(self.log10_error),
            "log10_bound": json_number(self.log10_bound),
            "log10_ratio": json_number(self.log10_ratio),
            "holds": self.holds,
            "worst_seed": self.worst_seed,
            "memory_horizons": horizons,
            "per_seed": [s.to_dict() for s in self.per_seed],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundSettings:
    """Everything that determines a bound run (recorded in every result)."""

    norm: float | None
    radius: float | None
    T: int
    hidden: int
    input_size: int
    seeds: int
    seed: int
    families: tuple[str, ...]
    activations: tuple[str, ...]
    input_scale: float
    thresholds: tuple[float, ...]
    horizon_cap: int
    tolerance_log10: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": "dh_T/dh_0",
            "norm_kind": "spectral (largest singular value)",
            "norm": self.norm,
            "radius": self.radius,
            "T": self.T,
            "hidden": self.hidden,
            "input_size": self.input_size,
            "seeds": self.seeds,
            "seed": self.seed,
            "seed_rule": "instance i uses numpy.random.SeedSequence(seed).spawn(seeds)[i]",
            "families": list(self.families),
            "activations": list(self.activations),
            "input_scale": self.input_scale,
            "inputs": "x_t ~ N(0, input_scale^2), W_xh ~ N(0, 1/input_size), b = 0, h_0 = 0",
            "thresholds": list(self.thresholds),
            "horizon": "first k with ||dh_k/dh_0||_2 < threshold, scanned up to "
            "max(T, horizon_cap) steps",
            "horizon_cap": self.horizon_cap,
            "tolerance_log10": self.tolerance_log10,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundResult:
    """The result of :func:`compute_bound`: settings and one row per family × activation."""

    settings: BoundSettings
    rows: tuple[BoundRow, ...]

    @property
    def holds(self) -> bool:
        """True when the bound holds for every row and seed."""
        return all(r.holds for r in self.rows)

    def python(self, row: BoundRow, index: int | str = "i") -> str:
        """The Python lines that rebuild seed ``index`` of ``row``'s networks."""
        s = self.settings
        return reproduce_instance(
            row.family,
            s.hidden,
            norm=s.norm,
            radius=s.radius,
            activation=row.activation,
            input_size=s.input_size,
            T=s.T,
            input_scale=s.input_scale,
            seed=s.seed,
            index=index,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": {
                **self.settings.to_dict(),
                "python": "each row's 'python' rebuilds its seed i = 0 .. seeds - 1",
            },
            "holds": self.holds,
            "rows": [{**r.to_dict(), "python": self.python(r)} for r in self.rows],
        }


def _check_choice(values: Sequence[str], known: Sequence[str], what: str) -> tuple[str, ...]:
    values = tuple(values)
    if not values:
        raise ConfigError(f"give at least one {what}; choose from: {', '.join(known)}")
    for v in values:
        if v not in known:
            raise ConfigError(f"unknown {what} {v!r}; choose from: {', '.join(known)}")
    return values


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """One generated RNN: a family scaled to a norm or radius, and its seed.

    Its weights and inputs come from ``instance_seed(seed, index)``.
    """

    family: str
    seed: int
    index: int
    norm: float | None = None
    radius: float | None = None


def estimate_bound_memory(
    instances: int, hidden: int, input_size: int, steps: int, norm_at: int, activation: str
) -> int:
    """Estimated peak bytes of :func:`measure_instances` (float64 arrays).

    Per instance: ``W_hh`` and its generation (3 n²), ``W_xh`` and ``b``; the scan's
    product, its rescaled copy and the error pass's product (4 n²); the error
    ledger (2 per step up to ``norm_at``); and, unless the steps are linear, the
    inputs and the derivatives of every step scanned ((m + 2 n) per step).
    """
    n, m = hidden, input_size
    per = 7 * n * n + n * m + n + 2 * norm_at
    if activation != "linear":
        per += steps * (m + 2 * n)
    return 8 * instances * per


def check_bound_memory(
    instances: int,
    hidden: int,
    input_size: int,
    steps: int,
    norm_at: int,
    activation: str,
    *,
    available: int | None = None,
) -> None:
    """Refuse, before any work, a batch of instances that would not fit in memory.

    Raises
    ------
    SizeError
        With the estimate, what is available and how many seeds would fit.
    """
    from gradscope.machine import available_memory
    from gradscope.numeric.matrixfree.sizes import _gb

    avail = available_memory() if available is None else available
    need = estimate_bound_memory(instances, hidden, input_size, steps, norm_at, activation)
    if avail is None or need <= avail // 2:
        return
    one = estimate_bound_memory(1, hidden, input_size, steps, norm_at, activation)
    fits = avail // 2 // one
    what = (
        f"at most {fits} instances (seeds × families) fit at once"
        if fits >= 1
        else "not even one instance fits: use a smaller T, hidden or horizon cap"
    )
    steps_text = f"{steps}" if steps < 10**15 else f"about 1e{len(str(steps)) - 1}"
    raise SizeError(
        f"{instances} instances of n = {hidden} over {steps_text} steps need about "
        f"{_gb(need)} and {avail / 1e9:.3g} GB are available (half is allowed): "
        f"{what}"
    )


def measure_instances(
    instances: Sequence[Instance],
    *,
    activation: str,
    T: int,
    hidden: int,
    input_size: int = 8,
    input_scale: float = 1.0,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    horizon_cap: int = DEFAULT_HORIZON_CAP,
) -> list[SeedBound]:
    r"""Measure the bound on many generated instances at once, as one batch.

    All instances share the activation, T and sizes; their weight families,
    scales and seeds may differ. Batching them into stacked arrays makes the
    matrix products and the per-step bookkeeping run once for all.

    Returns
    -------
    list of SeedBound
        One per instance, in order; ``SeedBound.seed`` is the instance's index.
    """
    gamma = get_activation(activation).gamma
    steps_needed = max(T, horizon_cap)
    check_bound_memory(len(instances), hidden, input_size, steps_needed, T, activation)
    rnns, inputs = [], []
    with progress.task("bound: drawing instances", len(instances)) as task:
        for spec in instances:
            seed = instance_seed(spec.seed, spec.index)
            rnns.append(
                random_rnn(
                    spec.family,
                    hidden,
                    norm=spec.norm,
                    radius=spec.radius,
                    activation=activation,
                    input_size=input_size,
                    seed=seed,
                )
            )
            if activation != "linear":
                inputs.append(
                    random_inputs(steps_needed, input_size, seed=seed, scale=input_scale)
                )
            task.advance()
    W = np.stack([r.W_hh for r in rnns])
    steps: Steps
    if activation == "linear":  # J_t = W_hh whatever the inputs: no forward pass needed
        steps = ConstantSteps(W, steps_needed)
    else:
        steps = IncrementalRNNSteps(
            W,
            np.stack([r.W_xh for r in rnns]),
            np.stack([r.b for r in rnns]),
            np.stack(inputs),
            None,
            activation,
        )
    scan = scan_product(steps, norm_at=T, thresholds=thresholds, cap=steps_needed)
    out = []
    for j, (spec, rnn) in enumerate(zip(instances, rnns, strict=True)):
        norm_W = spectral_norm(rnn.W_hh)
        gamma_norm = gamma * norm_W
        log10_bound = log10_norm_bound(T, gamma, norm_W)
        measured = float(scan.log10_norm[j])
        error = float(scan.log10_error[j])
        ratio = measured - log10_bound if math.isfinite(measured) else -math.inf
        horizons = tuple(
            Horizon(
                threshold=float(th),
                measured=int(k) if k > 0 else None,
                predicted=_predicted_horizon(th, gamma_norm),
                cap=steps_needed,
            )
            for th, k in zip(thresholds, scan.horizons[j], strict=True)
        )
        out.append(
            SeedBound(
                seed=spec.index,
                spectral_norm=norm_W,
                log10_measured=measured,
                log10_error=error,
                log10_bound=log10_bound,
                log10_ratio=ratio,
                holds=measured <= log10_bound + judging_slack(error, T, hidden),
                horizons=horizons,
            )
        )
    return out


def _rows_for_activation(activation: str, settings: BoundSettings) -> list[BoundRow]:
    """Every family's row for one activation, all instances scanned as one batch."""
    s = settings
    gamma = get_activation(activation).gamma
    specs = [
        Instance(family=family, seed=s.seed, index=i, norm=s.norm, radius=s.radius)
        for family in s.families
        for i in range(s.seeds)
    ]
    measured = measure_instances(
        specs,
        activation=activation,
        T=s.T,
        hidden=s.hidden,
        input_size=s.input_size,
        input_scale=s.input_scale,
        thresholds=s.thresholds,
        horizon_cap=s.horizon_cap,
    )
    rows = []
    for f, family in enumerate(s.families):
        per_seed = measured[f * s.seeds : (f + 1) * s.seeds]
        worst = max(per_seed, key=lambda r: (r.log10_ratio, -r.seed))
        rows.append(
            BoundRow(
                family=family,
                activation=activation,
                gamma=gamma,
                log10_measured=worst.log10_measured,
                log10_error=worst.log10_error,
                log10_bound=worst.log10_bound,
                log10_ratio=worst.log10_ratio,
                holds=all(r.holds for r in per_seed),
                worst_seed=worst.seed,
                per_seed=tuple(per_seed),
            )
        )
    return rows


def _per_activation(settings: BoundSettings, workers: int) -> list[list[BoundRow]]:
    """Each activation's rows, in order, on up to ``workers`` threads (numpy releases the GIL)."""
    activations = settings.activations
    workers = min(int(workers), len(activations))
    if workers == 1:
        return [_rows_for_activation(a, settings) for a in activations]
    from concurrent.futures import ThreadPoolExecutor

    from gradscope import threads

    with threads.at_most(1), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda a: _rows_for_activation(a, settings), activations))


def compute_bound(
    *,
    norm: float | None = None,
    radius: float | None = None,
    T: int = 100,
    hidden: int = 64,
    seeds: int = 5,
    seed: int = 0,
    families: Sequence[str] = tuple(FAMILIES),
    activations: Sequence[str] = DEFAULT_ACTIVATIONS,
    input_size: int = 8,
    input_scale: float = 1.0,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    horizon_cap: int = DEFAULT_HORIZON_CAP,
    workers: int = 1,
) -> BoundResult:
    r"""Measure :math:`\|\partial h_T/\partial h_0\|_2` against :math:`(\gamma\|W\|_2)^T`.

    For each family and activation, ``seeds`` instances are generated with
    ``W_hh`` scaled to spectral norm ``norm`` (or spectral radius ``radius``),
    ``W_xh`` ~ N(0, 1/m), ``b = 0``, ``h_0 = 0`` and inputs x_t ~ N(0,
    input_scale²); the product is measured exactly in log10 and compared with
    the bound; memory horizons are found by running past T when needed, up to
    ``max(T, horizon_cap)`` steps.

    Parameters
    ----------
    norm, radius : float, optional
        Exactly one: the spectral norm or spectral radius of every ``W_hh``.
    T : int
        Horizon: the product has T factors.
    hidden : int
        n.
    seeds : int
        Instances per family and activation.
    seed : int
        Run seed; instance i uses ``SeedSequence(seed).spawn(seeds)[i]``.
    families, activations : sequence of str
        Defaults: every family; tanh and linear.
    input_size : int
        m.
    input_scale : float
        Standard deviation of the inputs (≥ 0).
    thresholds : sequence of float
        Memory-horizon thresholds; default 1e-2 and machine epsilon.
    horizon_cap : int
        Scan at most ``max(T, horizon_cap)`` steps for the horizons.
    workers : int
        Threads measuring the activations side by side, BLAS at one thread each;
        the numbers do not depend on it (each batch is computed alone).

    Returns
    -------
    BoundResult

    Raises
    ------
    ConfigError
        For invalid settings.

    Examples
    --------
    With a scaled orthogonal W and a linear activation the bound is tight:

    >>> r = compute_bound(norm=0.9, T=50, hidden=8, seeds=2,
    ...                   families=["orthogonal"], activations=["linear"])
    >>> abs(r.rows[0].log10_ratio) < 1e-12, r.rows[0].holds
    (True, True)
    """
    if (norm is None) == (radius is None):
        raise ConfigError("give exactly one of norm= (spectral norm) or radius= (spectral radius)")
    target = norm if norm is not None else radius
    assert target is not None
    check_scale(target, "spectral norm" if norm is not None else "spectral radius")
    for name, value in (
        ("T", T),
        ("hidden", hidden),
        ("seeds", seeds),
        ("input_size", input_size),
        ("workers", workers),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if not (math.isfinite(input_scale) and input_scale >= 0):
        raise ConfigError(f"input_scale must be finite and >= 0, got {input_scale}")
    if any(not (math.isfinite(t) and t > 0) for t in thresholds):
        raise ConfigError(f"thresholds must be finite and positive, got {list(thresholds)}")
    if horizon_cap < 1:
        raise ConfigError(f"horizon_cap must be >= 1, got {horizon_cap}")
    settings = BoundSettings(
        norm=None if norm is None else float(norm),
        radius=None if radius is None else float(radius),
        T=int(T),
        hidden=int(hidden),
        input_size=int(input_size),
        seeds=int(seeds),
        seed=int(seed),
        families=_check_choice(families, tuple(FAMILIES), "family"),
        activations=_check_choice(activations, tuple(ACTIVATIONS), "activation"),
        input_scale=float(input_scale),
        thresholds=tuple(float(t) for t in thresholds),
        horizon_cap=int(horizon_cap),
        tolerance_log10=rounding_tolerance(int(T), int(hidden)),
    )
    for activation in settings.activations:  # before any instance is generated
        check_bound_memory(
            settings.seeds * len(settings.families),
            settings.hidden,
            settings.input_size,
            max(settings.T, settings.horizon_cap),
            settings.T,
            activation,
        )
    by_activation = dict(
        zip(settings.activations, _per_activation(settings, workers), strict=True)
    )
    rows = tuple(
        by_activation[a][f] for f in range(len(settings.families)) for a in settings.activations
    )
    return BoundResult(settings=settings, rows=rows)
