# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Vanishing and exploding gradients, with real numbers
#
# The tutorial this project checks (a lesson on vanilla RNNs, BPTT and vanishing
# gradients) tells a familiar story: the gradient that reaches step 0 from step T
# passes through a product of T step Jacobians, so it shrinks like ‖W‖^T when
# ‖W‖ < 1 and grows when ‖W‖ > 1; a vanilla RNN therefore remembers about 10–20
# steps; orthogonal initialisation fixes it. This notebook measures each part of
# that story with gradscope, and then asks gradscope's claim checker what holds.
#
# Conventions (the same everywhere in gradscope): `z_t = W_hh h_{t-1} + W_xh x_t + b`,
# `h_t = φ(z_t)`, `J_t = ∂h_t/∂h_{t-1} = diag(φ'(z_t)) W_hh`, and
# `∂h_T/∂h_k = J_T ⋯ J_{k+1}` has exactly T − k factors. "Norm" is the spectral
# norm ‖·‖₂ (the largest singular value); the spectral radius ρ (the largest
# |eigenvalue|) is a different number. Everything is seeded: the same run gives
# the same numbers.

# %%
import io
import json
import math

import matplotlib

matplotlib.use("Agg")  # no window, no blocking: figures are shown as PNG images

import numpy as np
from IPython.display import Image

from gradscope import compute_bound, log10_product_norm, random_rnn, rnn_steps
from gradscope.claims import Counterexample, check_claims, replay
from gradscope.init import recurrent_weights
from gradscope.numeric.norms import spectral_norm, spectral_radius
from gradscope.numeric.products import log10_norm_trajectory
from gradscope.numeric.steps import ConstantSteps
from gradscope.report.figures import plot_claims, plot_decay, plot_eigenvalues
from gradscope.report.text import render_bound, render_checks
from gradscope.studies.decay import compute_decay_curves


def show(fig):
    """Display a matplotlib Figure as a PNG image (works with any backend)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return Image(data=buffer.getvalue())


# %% [markdown]
# ## 1. The bound and what it hides
#
# Each step Jacobian obeys ‖J_t‖₂ ≤ γ‖W‖₂ with γ = sup|φ'| (1 for tanh and linear),
# so `‖∂h_T/∂h_0‖₂ ≤ (γ‖W‖₂)^T`. `compute_bound` measures the left side exactly, in
# log10, for every weight family scaled to the same spectral norm ‖W‖₂ = 0.9, over
# five seeds, and puts it beside the bound. This is `gradscope bound --norm 0.9 --T 100`.

# %%
result = compute_bound(norm=0.9, T=100)
print(render_bound(result))

# %% [markdown]
# The bound holds everywhere (`holds` is judged with a stated rounding tolerance),
# and it is tight only for a scaled orthogonal or identity `W_hh` with a linear
# activation: log10 ratio 0.000. With tanh, or with any other family at the same
# spectral norm, the gradient is smaller than the bound by 12 to 44 decades. The
# bound is an upper limit, not a prediction.

# %%
tight = [r for r in result.rows if abs(r.log10_ratio) < 1e-9]
print("rows where the bound is tight:", [(r.family, r.activation) for r in tight])
assert result.holds
assert {(r.family, r.activation) for r in tight} == {
    ("orthogonal", "linear"),
    ("identity", "linear"),
}

# %% [markdown]
# ## 2. ‖W‖₂ = 0.9, 1.0, 1.1 — the tutorial's picture, redrawn
#
# The tutorial draws three curves: vanishing for ‖W‖ = 0.9, flat for ‖W‖ = 1,
# exploding for ‖W‖ = 1.1. Here are the measured curves, log10 ‖∂h_t/∂h_0‖₂ for
# t = 1..200, for an orthogonal `W_hh` scaled to each norm (n = 64, five seeds, the
# band spans the seeds), linear and tanh. Dashed lines are the bound.

# %%
curves = compute_decay_curves(
    families=["orthogonal"],
    activations=["linear", "tanh"],
    scales=[0.9, 1.0, 1.1],
    T=200,
    hidden=64,
    seeds=5,
    seed=0,
)
print(f"{'configuration':38} {'t = 100':>9} {'t = 200':>9}  bound at 200  horizon (θ = 1e-2)")
for c in curves:
    median = np.median(c.log10_norms, axis=0)
    horizon = c.horizon if c.horizon is not None else "not reached within 200 steps"
    bound = 200 * c.log10_bound_per_step
    print(f"{c.label:38} {median[99]:9.3f} {median[199]:9.3f}  {bound:12.3f}  {horizon}")

# %%
show(plot_decay(curves, title="‖W‖₂ = 0.9 / 1.0 / 1.1, orthogonal W_hh, linear and tanh"))

# %% [markdown]
# For a **linear** RNN the tutorial's picture is exactly right: log10 of the norm is
# t·log10 ‖W‖₂ to the last digit (an orthogonal matrix times a scalar has all its
# singular values equal). For **tanh** it is not: with inputs x_t ~ N(0, 1) all
# three curves vanish, even ‖W‖₂ = 1.1, because every step multiplies by
# diag(tanh'(z_t)), whose entries are below 1 whenever the state moves. The
# "exploding" curve needs the state to stay near 0 (tanh' ≈ 1), i.e. small inputs:

# %%
for scale in (0.0, 0.01, 0.1, 1.0):
    (c,) = compute_decay_curves(
        families=["orthogonal"],
        activations=["tanh"],
        scales=[1.1],
        T=200,
        hidden=64,
        seeds=5,
        input_scale=scale,
    )
    median = np.median(c.log10_norms, axis=0)
    print(
        f"tanh, ‖W‖₂ = 1.1, inputs N(0, {scale:g}²): "
        f"log10 ‖∂h_200/∂h_0‖₂ = {median[-1]:8.3f} (largest on the way: {median.max():.3f})"
    )

# %% [markdown]
# With zero inputs a tanh RNN started at h_0 = 0 stays at 0, its Jacobians are
# exactly W, and it explodes like the linear one (8.279 = 200·log10 1.1). Larger
# inputs push the units into saturation and the same weights make the gradient
# vanish. Whether a tanh RNN "explodes" is a property of the weights *and* the
# trajectory, not of ‖W‖ alone.
#
# ## 3. The memory horizon
#
# The memory horizon at θ = 1e-2 is the first k with ‖∂h_k/∂h_0‖₂ < θ. The bound
# predicts at most `log θ / log(γ‖W‖₂)` steps (44 for ‖W‖₂ = 0.9); the measured
# horizons from the table above:

# %%
predicted = math.log(1e-2) / math.log(0.9)
print(f"the bound's prediction for ‖W‖₂ = 0.9, θ = 1e-2: {predicted:.1f} steps")
for r in result.rows:
    lo, hi, _ = r.horizon_range(0)
    measured = f"{lo}" if lo == hi else f"{lo}–{hi}"
    print(f"  {r.family:10} {r.activation:6}  measured horizon over 5 seeds: {measured}")

# %% [markdown]
# The tutorial's "about 10–20 steps" matches tanh with ordinary inputs for the
# orthogonal and identity families, is too long for the others (5–6 steps), and
# far too short for a linear RNN near ‖W‖₂ = 1, whose horizon is unbounded. The
# horizon is a property of the network; §5 shows what the claim checker concludes.
#
# ## 4. Eigenvalues are not norms
#
# The tutorial states its criterion with "the largest eigenvalue of W_hh". The
# spectral radius ρ(W) and the spectral norm ‖W‖₂ coincide for normal matrices
# (orthogonal, symmetric) and nowhere else. Scaled to the same **radius** 0.9, three
# families have very different norms:

# %%
print(f"{'family':10}  {'ρ(W)':>6}  {'‖W‖₂':>6}  peak of ‖W^t‖₂ (t)  log10 ‖W^100‖₂  ρ^100")
for family in ("orthogonal", "gaussian", "non-normal"):
    W = recurrent_weights(family, 64, radius=0.9, seed=0)
    trajectory = log10_norm_trajectory(ConstantSteps(W, 300))
    peak = int(np.argmax(trajectory))
    print(
        f"{family:10}  {spectral_radius(W):6.3f}  {spectral_norm(W):6.3f}  "
        f"{10 ** trajectory[peak]:10.3f} ({peak + 1:3d})  {trajectory[99]:14.3f}  "
        f"{100 * math.log10(0.9):6.3f}"
    )

# %% [markdown]
# For a linear RNN, ρ(W) < 1 does make ‖W^t‖₂ → 0 eventually (at rate ρ), but a
# non-normal W first *grows*: the norm, not the radius, bounds every step. A 2 × 2
# example makes it stark — ρ = 0.9 and yet the gradient is amplified almost 20-fold
# before it decays:

# %%
W2 = np.array([[0.9, 5.0], [0.0, 0.9]])  # eigenvalues 0.9, 0.9; ‖W‖₂ ≈ 5.2
trajectory = log10_norm_trajectory(ConstantSteps(W2, 120))
peak = int(np.argmax(trajectory))
print(f"ρ = {spectral_radius(W2):.2f}, ‖W‖₂ = {spectral_norm(W2):.3f}")
print(f"‖W^t‖₂ peaks at t = {peak + 1}: {10 ** trajectory[peak]:.2f}")
print(f"first t with ‖W^t‖₂ < 1e-2: {int(np.argmax(trajectory < -2)) + 1} (ρ alone predicts 44)")
show(plot_eigenvalues(W2, title="ρ(W) = 0.9 < 1 < ‖W‖₂: eigenvalues inside, norm outside"))

# %% [markdown]
# With tanh it is worse: the Jacobians are D_t W, not W, and ρ(D_t W) has no fixed
# relation to ρ(W). The claim checker below finds a nilpotent W (ρ = 0) whose
# gradient grows like 3^T. The correct statement uses the largest *singular value*:
# ‖W‖₂ < 1/γ suffices for vanishing (Pascanu, Mikolov & Bengio 2013, final version).
#
# gradscope handles products whose norm is far below float64's range: 10 000 steps
# of 0.9 × an orthogonal matrix give 0.9^10000 ≈ 10^-457.6, which is 0.0 in float64,
# and the exact log10 anyway:

# %%
rnn = random_rnn("orthogonal", 64, norm=0.9, activation="linear", seed=0)
value = log10_product_norm(rnn_steps(rnn, np.zeros((10_000, 8))))
print(f"0.9**10000 = {0.9**10000}, log10 ‖∂h_10000/∂h_0‖₂ = {value:.4f}")
assert abs(value - 10_000 * math.log10(0.9)) < 1e-9

# %% [markdown]
# ## 5. What the claim checker finds
#
# `gradscope.claims.check_claims()` judges all nine of the tutorial's claims. Each
# check states how it reads the claim, searches for counterexamples within a budget
# counted in evaluations (so the verdict is reproducible), and returns `holds`,
# `violated` (a counterexample found from two seeds) or `holds-under` (true under
# conditions the tutorial does not state). This is `gradscope check`; it takes
# about 15 seconds.

# %%
checks = check_claims()
print(render_checks(checks))

# %%
show(plot_claims(checks))

# %% [markdown]
# ### One counterexample, replayed from its JSON
#
# `linear-norm-bound` is the tutorial's ‖∂h_T/∂h_1‖ ≤ ‖W_hh‖^T for a linear RNN. The
# product ∂h_T/∂h_1 = J_T ⋯ J_2 has T − 1 factors, so the right bound is
# ‖W‖₂^(T−1); when ‖W‖₂ < 1 the stated bound is one factor too small. The
# counterexample is self-contained: its JSON holds W_hh, the inputs and the window,
# and anyone can recompute it.

# %%
by_id = {c.id: c for c in checks}
claim = by_id["linear-norm-bound"]
print("verdict:  ", claim.verdict)
print("setting:  ", claim.setting)
print("evidence: ", claim.evidence)
print("corrected:", claim.corrected)
counterexample = claim.counterexamples[0]
print("example:  ", counterexample.note)

# %%
text = counterexample.to_json()  # what `gradscope check --out DIR` writes
again = Counterexample.from_dict(json.loads(text))
replayed = replay(again)
print(replayed.message, "— still contradicts the claim:", replayed.contradicts)
assert replayed.contradicts

# %% [markdown]
# And by hand, with nothing but the stored numbers: the product of the T − 1
# Jacobians from h_1 to h_T, against the claimed and the corrected bound.

# %%
rnn = again.rnn
steps = rnn_steps(rnn, again.inputs, again.h0)
T = again.end
measured = log10_product_norm(steps, start=again.start, end=T)
norm = spectral_norm(rnn.W_hh)
print(f"‖W_hh‖₂ = {norm:.4f}, T = {T}")
print(f"log10 ‖∂h_T/∂h_1‖₂   = {measured:.6f}")
print(f"log10 ‖W‖₂^T (claim) = {T * math.log10(norm):.6f}  <- smaller: the claim fails")
print(f"log10 ‖W‖₂^(T−1)     = {(T - 1) * math.log10(norm):.6f}  <- the corrected bound")
assert measured > T * math.log10(norm)

# %% [markdown]
# The verdicts, grouped. Where a verdict is not `holds`, the check gives the corrected
# statement and its source: the linear norm bound needs T − 1 factors, the
# eigenvalue criterion needs the largest singular value, the memory horizon is a
# property of the network rather than a constant, and orthogonal initialisation,
# clipping, truncated BPTT and tanh saturation behave as stated only under
# conditions the tutorial leaves out. `gradscope check --json` prints all of it,
# counterexamples included.

# %%
for verdict in ("holds", "holds-under", "violated"):
    ids = [c.id for c in checks if c.verdict == verdict]
    print(f"{verdict:12} {', '.join(ids) or '-'}")
assert {c.verdict for c in checks} <= {"holds", "holds-under", "violated"}
assert by_id["linear-norm-bound"].verdict == "violated"
