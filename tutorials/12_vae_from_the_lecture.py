"""
Title: The variational autoencoder as the lecture builds it
Author: geokeras contributors
Date created: 2026/11/25
Last modified: 2026/12/04
Description: q(z|x), p(x|z), the ELBO's two terms tracked separately, the reparameterization trick checked with a tape, new damped oscillations and lines sampled from the prior, each latent's contribution, and the caveats.
Accelerator: None
"""

"""
## Introduction

A variational autoencoder (VAE) is an autoencoder read as a probabilistic model:

* **encoder** `q(z|x) = N(μ(x), diag σ²(x))`: for each input, a Gaussian over the latent
  vector `z` (the network outputs `μ` and `log σ²`);
* **decoder** `p(x|z)`: a distribution over the signal given `z`. geokeras offers a Gaussian
  `N(x̂(z), I)` (linear output, `likelihood="gaussian"`) or a Bernoulli (sigmoid output, for data
  in [0, 1]);
* **prior** `p(z) = N(0, I)`.

Training maximizes the evidence lower bound (ELBO) of each example,
`ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x)`, i.e. minimizes two terms:

* the **reconstruction** term `-E_q[log p(x|z)]`, for the Gaussian `0.5 Σ (x - x̂)²` up to a
  constant, estimated with one draw of `z`;
* the **KL** term, in closed form for two Gaussians:
  `KL = 0.5 Σ_j (μ_j² + σ_j² - 1 - log σ_j²)`, summed over the latents.

`geokeras.models.VAE` minimizes `reconstruction + β KL` and logs the two terms separately
(`reconstruction_loss`, `kl_loss`). This tutorial checks each piece numerically, trains VAEs on
the lecture's damped oscillations and lines, and generates new signals from the prior.
"""

"""
## Setup
"""

import os

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from geokeras.data import synthetic
from geokeras.layers import Sampling
from geokeras.models import build_dense_vae

matplotlib.use("Agg")
FAST = os.environ.get("GEOKERAS_FAST") == "1"
FIGURES = os.environ.get("GEOKERAS_FIGURES", "figures")
os.makedirs(FIGURES, exist_ok=True)
keras.utils.set_random_seed(12)

"""
## The reparameterization trick

Sampling `z ~ N(μ, σ²)` is not differentiable in `μ` and `σ`. Written as
`z = μ + σ ε` with `ε ~ N(0, 1)` drawn outside the network, it is: `dz/dμ = 1` and
`dz/d(log σ²) = 0.5 σ ε`. `geokeras.layers.Sampling` does exactly this; a tape confirms both
derivatives, and the draws have the intended mean and standard deviation.
"""

mu = tf.Variable(np.full((20000, 1), 1.5, "float32"))
log_var = tf.Variable(np.full((20000, 1), np.log(0.25), "float32"))
sampling = Sampling(seed=12)
with tf.GradientTape(persistent=True) as tape:
    z = sampling([mu, log_var])
eps = (z.numpy() - 1.5) / 0.5  # the noise the layer drew
d_mu = tape.gradient(z, mu).numpy()
d_log_var = tape.gradient(z, log_var).numpy()
reparam_error = float(np.max(np.abs(d_log_var - 0.5 * 0.5 * eps)))
print(f"z: mean {z.numpy().mean():.3f} (want 1.5), std {z.numpy().std():.3f} (want 0.5)")
print(f"dz/dmu = 1 everywhere: {np.allclose(d_mu, 1.0)}; max |dz/dlog_var - 0.5 sigma eps| = {reparam_error:.1e}")
assert np.allclose(d_mu, 1.0) and reparam_error < 1e-5
assert abs(z.numpy().mean() - 1.5) < 0.02 and abs(z.numpy().std() - 0.5) < 0.02

"""
## The KL term: closed form against Monte Carlo

For one latent with `μ = 1.5`, `σ = 0.5`, the closed form against `E_q[log q(z) - log p(z)]`
estimated from the draws above.
"""

closed_kl = 0.5 * (1.5**2 + 0.25 - 1 - np.log(0.25))
zs = z.numpy()[:, 0].astype("float64")
log_q = -0.5 * np.log(2 * np.pi * 0.25) - (zs - 1.5) ** 2 / (2 * 0.25)
log_p = -0.5 * np.log(2 * np.pi) - zs**2 / 2
mc_kl = float(np.mean(log_q - log_p))
print(f"KL closed form {closed_kl:.4f}, Monte Carlo {mc_kl:.4f}")
assert abs(mc_kl - closed_kl) < 0.05 * closed_kl

"""
## Training on damped oscillations: the two terms of the ELBO

The damped oscillations of tutorial 9 (with its caveats about the slide's formula and ranges),
three latents, `β = 0.1` (tutorial 9 explains why: with the unit-variance Gaussian likelihood,
`β = 0.1` is the same objective as a likelihood of variance 0.1, up to a factor). `fit` logs the
reconstruction and KL terms; we plot both per epoch. Early on the KL rises as the encoder starts
to use its latents and the reconstruction term falls.
"""

n_grid = 30 if FAST else 50
x, params, t = synthetic.damped_oscillations(n_k=n_grid, n_b=n_grid, return_t=True)
k_param, b_param = params[:, 0], params[:, 1]
# tests/test_tutorials.py sets GEOKERAS_ABLATE=beta0 (no KL term) or mean_copies (200 copies of the data's
# mean signal in place of the samples) and checks that the sample check below then fails.
ABLATE = os.environ.get("GEOKERAS_ABLATE")
BETA = 0.0 if ABLATE == "beta0" else 0.1
vae = build_dense_vae(50, latent_dim=3, encoder_units=(100, 100), decoder_units=(100, 100), beta=BETA, seed=12)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
history = vae.fit(x, epochs=40 if FAST else 150, batch_size=64, verbose=0).history
print(f"first epoch: reconstruction {history['reconstruction_loss'][0]:.3f}, KL {history['kl_loss'][0]:.3f}; "
      f"last: reconstruction {history['reconstruction_loss'][-1]:.3f}, KL {history['kl_loss'][-1]:.3f}")

"""
The model's KL is the closed form above applied to its encoder's outputs, summed over the
latents and averaged over the examples (`evaluate` reports it; it does not depend on the draw).
"""

z_mean, z_log_var = vae.encode(x)
kl_numpy = float(np.mean(np.sum(0.5 * (z_mean**2 + np.exp(z_log_var) - 1 - z_log_var), axis=1)))
kl_model = vae.evaluate(x, batch_size=len(x), verbose=0, return_dict=True)["kl_loss"]  # one batch: a plain mean
print(f"KL from the encoder's outputs (NumPy) {kl_numpy:.4f}, reported by evaluate {kl_model:.4f}")
assert abs(kl_numpy - kl_model) < 1e-4 * max(1.0, kl_numpy)

"""
## Generating new damped oscillations from the prior

`vae.sample(n, seed=...)` draws `z ~ N(0, I)` and decodes it: it returns the *mean* of `p(x|z)`,
the decoder's output `x̂(z)`. Are the results new damped oscillations? Two questions, both in
relative distance `||s - nearest|| / ||nearest||` (0.25 is an SNR of 12 dB; predicting zeros
gives 1):

* **close to the data**: for each generated signal, the distance to its nearest training signal
  (median over 200 samples);
* **covering the data**: for each training signal, the distance to its nearest generated signal
  (median over the training set). A generator that returns the same plausible signal every time
  (the data's mean signal, say) is close to the data and covers none of it.

Both must be under 0.25. The controls: the same architecture *untrained* (its decoder turns prior
draws into something, but not into oscillations) and 200 copies of the data's mean signal.
Without the KL term (`β = 0`, an ablation the tests run), the posteriors drift away from the
prior, and prior draws decode to signals far from the data.
"""


def nearest_relative_distance(samples, data):
    d2 = (samples**2).sum(1)[:, None] + (data**2).sum(1)[None] - 2 * samples @ data.T
    nearest = np.argmin(d2, axis=1)
    return np.linalg.norm(samples - data[nearest], axis=1) / np.linalg.norm(data[nearest], axis=1)


def closeness_and_coverage(samples, data):
    return (float(np.median(nearest_relative_distance(samples, data))),
            float(np.median(nearest_relative_distance(data, samples))))


def generates_like_the_data(closeness, coverage):
    """Samples close to the data and covering it: both median relative distances under 0.25."""
    return closeness < 0.25 and coverage < 0.25


mean_copies = np.tile(x.mean(axis=0), (200, 1))
generated = mean_copies if ABLATE == "mean_copies" else vae.sample(200, seed=1)
untrained = build_dense_vae(50, latent_dim=3, encoder_units=(100, 100), decoder_units=(100, 100), seed=12)
untrained_samples = untrained.sample(200, seed=1)
figures = {label: closeness_and_coverage(samples, x) for label, samples in
           [("trained", generated), ("untrained control", untrained_samples), ("mean-signal control", mean_copies)]}
for label, (closeness, coverage) in figures.items():
    print(f"{label:<20} distance of a sample to the nearest training signal {closeness:.3f}, "
          f"of a training signal to the nearest sample {coverage:.3f} (median relative distances)")
assert generates_like_the_data(*figures["trained"]), "samples from the prior are close to the data and cover the data"
assert not generates_like_the_data(*figures["untrained control"])
assert not generates_like_the_data(*figures["mean-signal control"])

"""
### The mean of p(x|z), or a draw from it

A draw from the model is `z ~ N(0, I)`, then `x ~ p(x|z) = N(x̂(z), I)`: the decoded mean *plus*
unit-variance noise. `vae.sample(n, mean=False)` returns such draws. For signals with an RMS of
about 0.26 that noise buries the oscillation: the Gaussian likelihood with variance 1 says that
the model regards everything the decoder does not explain as noise of that size. Read as a
likelihood of variance `β = 0.1` (see above), the draws would carry noise of standard deviation
`0.32` instead, still larger than the signals. This is why VAE "samples" are usually shown as the
decoded means, as above; the figure shows both.
"""

draws = vae.sample(200, seed=1, mean=False)
means_for_draws = vae.sample(200, seed=1)  # the same z (same seed): the draws minus these are the noise
noise = draws - means_for_draws
print(f"draws from p(x|z): noise std {noise.std():.3f} (the likelihood's: 1), signal RMS {np.sqrt(np.mean(x**2)):.3f}; "
      f"distance of a draw to the nearest training signal {np.median(nearest_relative_distance(draws, x)):.2f}")
draws_variance_beta = means_for_draws + np.sqrt(0.1) * noise  # the same draws with the likelihood variance 0.1

"""
## Each latent's contribution

The lecture's view: start from the decoded "typical" signal (every latent at the median of its
posterior means) and change one latent at a time to its value for a given signal. The change in
the decoded signal is that latent's contribution. A latent with KL near 0 ("unused") barely moves
the output. The view is not additive: a latent's contribution depends on where the others sit
(the stiffness only shows if the typical signal still oscillates), so a latent with a clear KL
can also contribute little around the typical signal; compare the two printed rows.
"""

kl = vae.kl_per_latent(x)
base_z = np.median(z_mean, axis=0)
base = vae.decode(base_z[None])[0]
contributions = np.zeros((len(x), 3, 50), "float32")
for j in range(3):
    z = np.tile(base_z, (len(x), 1)).astype("float32")
    z[:, j] = z_mean[:, j]
    contributions[:, j] = vae.decode(z) - base
contribution_rms = np.sqrt(np.mean(contributions**2, axis=(0, 2)))
unused = int(np.argmin(kl))
print("KL per latent:", np.round(kl, 3), "| RMS contribution per latent:", np.round(contribution_rms, 3))

"""
## Lines: sampling new straight lines

The same on the lecture's lines `y = a x + b`, with one preparation step: each of the 50 points
is standardized with the training set's mean and standard deviation (and generated lines are
mapped back). Without it, the lines' offset of about 7.5 and spread of about 2 meet the
unit-variance likelihood badly: in a short run the posterior means sit around ±6, far from the
prior, and prior draws decode to nothing like a line (a "hole in the prior", see the caveats).
With standardized lines, `β = 1` works. Two latents.

A generated signal is a line if a straight line fits it (`R²` of the fit); we also fit its slope
and intercept and ask that they lie in the data's ranges (`a` in [0.5, 1], `b` in [5, 10], 10 %
slack) *and* spread over them: the 5th-95th percentile width of the generated slopes and
intercepts must be at least half the data's. The control is the untrained model, whose outputs
map back to (nearly) the mean line: straight and in range, but with no spread.
"""

y, line_params, xs = synthetic.lines(n_a=25 if FAST else 50, n_b=25 if FAST else 50, return_x=True)
y_mean, y_std = y.mean(axis=0), y.std(axis=0)
y_standardized = ((y - y_mean) / y_std).astype("float32")
line_vae = build_dense_vae(50, latent_dim=2, encoder_units=(100, 100), decoder_units=(100,), seed=12)
line_vae.compile(optimizer=keras.optimizers.Adam(1e-3))
line_vae.fit(y_standardized, epochs=12 if FAST else 30, batch_size=32, verbose=0)


def width(values):
    return float(np.subtract(*np.percentile(values, [95, 5])))


def line_fit(samples):
    design = np.column_stack([xs, np.ones_like(xs)])
    coef, *_ = np.linalg.lstsq(design, samples.T, rcond=None)  # (2, n): slope, intercept
    residual = samples - (design @ coef).T
    r2 = 1 - residual.var(axis=1) / samples.var(axis=1)
    in_range = (coef[0] > 0.45) & (coef[0] < 1.05) & (coef[1] > 4.5) & (coef[1] < 10.5)
    spread = min(width(coef[0]) / width(line_params[:, 0]), width(coef[1]) / width(line_params[:, 1]))
    return dict(r2=float(np.median(r2)), in_range=float(np.mean(in_range)), spread=spread)


new_lines = line_vae.sample(200, seed=2) * y_std + y_mean
lines_trained = line_fit(new_lines)
untrained_lines = build_dense_vae(50, latent_dim=2, encoder_units=(100, 100), decoder_units=(100,), seed=12)
lines_untrained = line_fit(untrained_lines.sample(200, seed=2) * y_std + y_mean)
for label, r in [("trained", lines_trained), ("untrained control", lines_untrained)]:
    print(f"generated lines, {label}: median R² of a straight-line fit {r['r2']:.4f}, in the data's ranges "
          f"{r['in_range']:.1%}, spread of slopes and intercepts / the data's {r['spread']:.2f}")

"""
## Caveats

* **The ELBO is a bound**, not the likelihood: the gap is `KL(q(z|x) || p(z|x))`, how far the
  Gaussian encoder is from the true posterior.
* **The likelihood's variance sets the trade-off.** With `N(x̂, I)`, small-amplitude signals are
  not worth encoding and every latent collapses to the prior (tutorial 9: `β = 1`); `β` rescales
  it (`β = 0.1` ≈ variance 0.1).
* **Posterior collapse**: a latent whose KL is near 0 carries nothing (its contribution above is
  small); a VAE given more latents than it needs leaves some unused.
* **Holes in the prior**: the decoder only learned the region the encoder's posteriors cover.
  The aggregate posterior's spread (below, the variance of `z` over all examples: posterior means
  plus posterior variances) need not be 1 per latent; prior draws outside the covered region give
  signals unlike the data.
* **Averaging**: one Gaussian decoder output per `z` means uncertain regions decode to averages,
  which look smoother than any real example.
* **No consistency proof**: maximizing the ELBO is not maximum likelihood. There is no general
  result that, with enough data and capacity, a VAE trained this way recovers the distribution of
  the data, as maximum-likelihood estimators do under their usual conditions; the bound's gap
  and the Gaussian choices for `q(z|x)` and `p(x|z)` stand between the two.
* **Other generative models do better** at generating: on images, GANs and later diffusion models
  give markedly sharper samples than VAEs of the time. A VAE's strengths are the encoder (an
  approximate posterior for every example) and a bound on `log p(x)` to compare models with.

References: D. P. Kingma and M. Welling, *Auto-Encoding Variational Bayes*, ICLR 2014
(arXiv:1312.6114), the model and the reparameterization trick; C. Doersch, *Tutorial on
Variational Autoencoders*, arXiv:1606.05908 (2016), the derivation at the lecture's level with
these caveats discussed.
"""

aggregate_var = z_mean.var(axis=0) + np.exp(z_log_var).mean(axis=0)
print("aggregate posterior variance per latent (the prior's is 1):", np.round(aggregate_var, 3))

"""
## Figures
"""

fig, axes = plt.subplots(2, 4, figsize=(20, 8))
axes[0, 0].plot(history["reconstruction_loss"], label="reconstruction")
axes[0, 0].plot(history["kl_loss"], label="KL")
axes[0, 0].set(title="ELBO terms per epoch (damped oscillations)", xlabel="epoch", ylabel="loss (nats)", yscale="log")
axes[0, 0].legend()
for curve in generated[:8]:
    axes[0, 1].plot(t, curve, lw=0.8)
axes[0, 1].set(title="new damped oscillations: vae.sample(8), the means", xlabel="t", ylabel="x̂(z)")
axes[0, 2].plot(t, draws[0], "0.7", lw=0.8, label="draw, variance 1 (mean=False)")
axes[0, 2].plot(t, draws_variance_beta[0], "C1", lw=0.8, label="draw, variance β = 0.1")
axes[0, 2].plot(t, means_for_draws[0], "k", lw=1.5, label="mean x̂(z)")
axes[0, 2].set(title="one z: the mean of p(x|z) and draws from it", xlabel="t", ylabel="x")
axes[0, 2].legend(fontsize=7)
i = int(np.argmin(np.abs(b_param - 0.5) + np.abs(k_param - 7.5)))
axes[0, 3].plot(t, x[i], "k", lw=2, label="signal")
axes[0, 3].plot(t, base, "0.6", label="typical (latents at median)")
for j in range(3):
    axes[0, 3].plot(t, contributions[i, j], label=f"z{j} contribution (KL {kl[j]:.2f})")
axes[0, 3].set(title=f"each latent's contribution, k={k_param[i]:.1f} b={b_param[i]:.1f}", xlabel="t",
               ylabel="x")
axes[0, 3].legend(fontsize=7)
for curve in new_lines[:10]:
    axes[1, 0].plot(xs, curve, lw=0.8)
axes[1, 0].set(title="new lines: line_vae.sample(10)", xlabel="x", ylabel="y")
for label, samples in [("trained", generated), ("untrained", untrained_samples), ("mean signal", mean_copies)]:
    axes[1, 1].hist(nearest_relative_distance(samples, x), bins=30, range=(0, 1.5), alpha=0.6, label=label)
    axes[1, 2].hist(nearest_relative_distance(x, samples), bins=30, range=(0, 1.5), alpha=0.6, label=label)
axes[1, 1].set(title="close to the data: sample -> nearest training signal", xlabel="relative distance",
               ylabel="samples")
axes[1, 2].set(title="covering the data: training signal -> nearest sample", xlabel="relative distance",
               ylabel="training signals")
for ax in axes[1, 1:3]:
    ax.axvline(0.25, color="k", ls="--", lw=0.8)
    ax.legend(fontsize=8)
# The two latents that carry the most information (largest KL); the third is the least used.
j1, j2 = np.sort(np.argsort(kl)[-2:])
sc = axes[1, 3].scatter(z_mean[:, j1], z_mean[:, j2], c=b_param, s=4, cmap="viridis")
axes[1, 3].set(title="posterior means of the two largest-KL latents", xlabel=f"z{j1}", ylabel=f"z{j2}")
fig.colorbar(sc, ax=axes[1, 3], label="damping b")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "12_vae_from_the_lecture.png"), dpi=120)
plt.close(fig)

"""
## Result

The reparameterization and the KL formula are what the tape and a Monte Carlo estimate say; the
model reports the KL of its own encoder outputs; samples from the prior decode to signals close to
the damped oscillations and covering them (checked above, where the untrained model and copies of
the mean signal fail); new straight lines are in the data's ranges and spread over them (the
untrained control's are not spread); and the latent with the smallest KL contributes least to the
output.
"""


def generates_lines(r):
    """Straight, in the data's ranges, and spread over at least half of them."""
    return r["r2"] > 0.99 and r["in_range"] > 0.8 and r["spread"] > 0.5


closeness, coverage = figures["trained"]
print(f"RESULT reparam_err={reparam_error:.1e} kl_closed={closed_kl:.4f} kl_mc={mc_kl:.4f} "
      f"oscillations: sample_to_data={closeness:.3f} data_to_sample={coverage:.3f} "
      "(untrained {:.3f}/{:.3f}, mean-signal copies {:.3f}/{:.3f}); ".format(
          *figures["untrained control"], *figures["mean-signal control"])
      + f"KL per latent=[{', '.join(f'{v:.3f}' for v in kl)}] "
      f"contribution_rms=[{', '.join(f'{v:.3f}' for v in contribution_rms)}]; "
      f"lines: R2={lines_trained['r2']:.4f} in_range={lines_trained['in_range']:.2f} "
      f"spread={lines_trained['spread']:.2f} (untrained control spread={lines_untrained['spread']:.2f})")
assert generates_lines(lines_trained)
assert not generates_lines(lines_untrained)  # control
assert contribution_rms[unused] < 0.5 * np.sort(contribution_rms)[-2]  # the least-used latent contributes least
print("CONTROL the untrained model fails the line check; it and copies of the mean signal fail the sample check")
