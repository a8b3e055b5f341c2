"""
Title: A linear autoencoder learns the PCA subspace
Author: geokeras contributors
Date created: 2026/11/24
Last modified: 2026/12/04
Description: With centred, scaled inputs, linear layers and MSE, the autoencoder's decoder spans the top-k principal subspace; its encoder does only with a tiny weight decay (control: none).
Accelerator: None
"""

"""
## Introduction

Normalize the data matrix as in the lecture, `x̂_ij = (x_ij - mean_j) / sqrt(m)` for `m`
examples, so that `X̂ᵀ X̂` is the covariance matrix. A linear autoencoder `x̂ -> W_d W_e x̂`
trained with the mean squared error is then solving the PCA problem: the best rank-k
reconstruction is the projection onto the top-k eigenvectors of the covariance, so at the
optimum the decoder's columns span that subspace, and so do the encoder's rows. The
individual weight vectors need not be the eigenvectors themselves (any invertible mix of them
gives the same reconstruction), so we compare *subspaces* with principal angles
(`scipy.linalg.subspace_angles`).

One practical detail: our data (smooth damped oscillations on a grid) have many directions with
essentially zero variance. The reconstruction loss cannot see what the encoder does along
those directions, so their random initial weights stay, and the encoder's rows are the
principal subspace *plus* arbitrary components in those null directions. A tiny L2 weight decay
(`l2=1e-7`) removes them. It is not free: it also pulls slightly on the useful weights, so the
reconstruction error ends a little above the PCA optimum. We train the same model without the
decay as a control and print both.
"""

"""
## Setup
"""

import os

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import scipy.linalg

from geokeras.data import synthetic
from geokeras.models import build_dense_autoencoder

matplotlib.use("Agg")
FAST = os.environ.get("GEOKERAS_FAST") == "1"
FIGURES = os.environ.get("GEOKERAS_FIGURES", "figures")
os.makedirs(FIGURES, exist_ok=True)
keras.utils.set_random_seed(3)

"""
## Data: damped oscillations, normalized as in the lecture
"""

n_grid = 50
x, params = synthetic.damped_oscillations(n_k=n_grid, n_b=n_grid)
m, n = x.shape
x_hat = ((x - x.mean(axis=0)) / np.sqrt(m)).astype("float32")
print(f"{m} examples of {n} samples; X̂ᵀX̂ is the covariance:",
      np.allclose(x_hat.T @ x_hat, np.cov(x, rowvar=False, bias=True), atol=1e-5))

"""
## PCA by singular value decomposition

The right singular vectors of `X̂` are the eigenvectors of the covariance. We keep `k = 3`.
"""

k = 3
_, singular_values, vt = np.linalg.svd(x_hat, full_matrices=False)
eigenvalues = singular_values**2
principal = vt[:k].T  # (n, k)
print("top eigenvalues:", np.round(eigenvalues[: k + 2], 4))
print(f"variance explained by k={k}: {eigenvalues[:k].sum() / eigenvalues.sum():.3f}")
pca_mse = float(np.mean((x_hat - x_hat @ principal @ principal.T) ** 2))

"""
The codes of PCA are `H = X̂ V_k`, and they follow from the SVD directly: `X̂ = U Σ Vᵀ` with
`Vᵀ V = I` gives `X̂ V = U Σ`, whose first `k` columns read `X̂ V_k = U_k Σ_k = H`. The lecture
takes a detour through `(X̂ X̂ᵀ)⁻¹`, which does not exist here: `X̂ X̂ᵀ` is `m x m` (2500 x 2500)
with rank `rank(X̂) <= n = 50`, singular whenever there are more examples than features.
"""

u, _, _ = np.linalg.svd(x_hat, full_matrices=False)
rank = int(np.linalg.matrix_rank(x_hat))
print(f"rank of X̂ X̂ᵀ = rank of X̂ = {rank} < m = {m}: X̂ X̂ᵀ has no inverse; "
      f"max |X̂ V_k - U_k Σ_k| = {np.max(np.abs(x_hat @ principal - u[:, :k] * singular_values[:k])):.1e}")
assert rank <= n < m
assert np.allclose(x_hat @ principal, u[:, :k] * singular_values[:k], atol=1e-5)

"""
## The linear autoencoder

`build_dense_autoencoder` with linear hidden and output activations is exactly `x -> W_d (W_e x
+ b_e) + b_d`. We train it with MSE and a cosine-decaying Adam learning rate (the final small
steps let it settle precisely on the optimum).
"""

epochs = 40  # also in fast mode: the decay needs the whole schedule to clear the null directions
batch_size = 64
steps = epochs * -(-m // batch_size)


def train_linear_autoencoder(l2):
    keras.utils.set_random_seed(3)  # same initial weights for both runs
    model = build_dense_autoencoder(n, hidden_units=(k,), activation="linear", output_activation="linear", l2=l2)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, steps)), loss="mse")
    model.fit(x_hat, x_hat, epochs=epochs, batch_size=batch_size, verbose=0)
    return model


"""
## Compare subspaces

The encoder's Keras kernel is `(n, k)` (it computes `x @ W`), so its columns are the encoder's
rows in the lecture's notation; the decoder's kernel is `(k, n)`, so its rows are the decoder's
columns.
"""


def largest_angle(basis):
    return float(np.degrees(scipy.linalg.subspace_angles(basis, principal)).max())


runs = {}
for label, l2 in [("L2 1e-7", 1e-7), ("no decay (control)", 0.0)]:
    model = train_linear_autoencoder(l2)
    encoder_kernel = keras.ops.convert_to_numpy(model.get_layer("encoder_dense_0").kernel)  # (n, k)
    decoder_kernel = keras.ops.convert_to_numpy(model.get_layer("decoder_dense_0").kernel)  # (k, n)
    runs[label] = dict(
        model=model,
        decoder_kernel=decoder_kernel,
        encoder_angle=largest_angle(encoder_kernel),
        decoder_angle=largest_angle(decoder_kernel.T),
        mse_ratio=float(np.mean((model.predict(x_hat, verbose=0) - x_hat) ** 2)) / pca_mse,
    )
random_angle = largest_angle(np.random.default_rng(0).normal(size=(n, k)))
print(f"PCA (optimal rank {k}) MSE {pca_mse:.3e}; a random {k}-d subspace is {random_angle:.1f} deg away")
print(f"{'run':<20}{'encoder angle':>15}{'decoder angle':>15}{'MSE / PCA MSE':>15}")
for label, r in runs.items():
    print(f"{label:<20}{r['encoder_angle']:>14.3f}°{r['decoder_angle']:>14.3f}°{r['mse_ratio']:>15.4f}")
decay, control = runs["L2 1e-7"], runs["no decay (control)"]
decoder_kernel = decay["decoder_kernel"]

"""
## Figure: the autoencoder's basis expressed in the principal components

Projecting the decoder's columns on the eigenvectors shows they are mixtures of the first three
principal components only.
"""

basis = decoder_kernel.T / np.linalg.norm(decoder_kernel.T, axis=0)
coefficients = vt[:8] @ basis  # (8, k): components of each decoder column along eigenvectors 1..8
fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
axes[0].semilogy(np.arange(1, 16), eigenvalues[:15], "o-")
axes[0].axvline(k + 0.5, color="gray", ls="--")
axes[0].set(title="covariance eigenvalues", xlabel="component", ylabel="eigenvalue (variance)")
for j in range(k):
    axes[1].plot(principal[:, j], label=f"PC {j + 1}")
axes[1].set(title="top principal components", xlabel="sample", ylabel="weight")
axes[1].legend()
axes[2].imshow(np.abs(coefficients), cmap="Greys", aspect="auto")
axes[2].set(title="|decoder columns in the PC basis|", xlabel="decoder column", ylabel="principal component")
axes[2].set_yticks(range(8), [str(i + 1) for i in range(8)])
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "03_linear_autoencoder_pca.png"), dpi=120)
plt.close(fig)

"""
## Result

Both linear autoencoders reach the PCA reconstruction error and both decoders span the top-3
principal subspace. The encoder does so only with the weight decay: without it, the encoder's
rows keep their random components along the zero-variance directions (which the loss cannot
see), and its largest principal angle stays large. The decay's price is a reconstruction error
slightly above the optimum.
"""


def spans_pca_subspace(r):
    """Encoder and decoder within a small angle of the PCA subspace, at the PCA error."""
    bound = 3.0 if FAST else 1.0
    return r["encoder_angle"] < bound and r["decoder_angle"] < bound and r["mse_ratio"] < (1.1 if FAST else 1.02)


print(f"RESULT encoder_angle_deg={decay['encoder_angle']:.3f} decoder_angle_deg={decay['decoder_angle']:.3f} "
      f"mse_ratio_ae_over_pca={decay['mse_ratio']:.4f} control_without_decay: "
      f"encoder_angle_deg={control['encoder_angle']:.3f} decoder_angle_deg={control['decoder_angle']:.3f} "
      f"mse_ratio={control['mse_ratio']:.4f}")
assert spans_pca_subspace(decay), decay
assert not spans_pca_subspace(control), control  # without the decay the encoder stays off the subspace
assert control["encoder_angle"] > 10 * max(decay["encoder_angle"], 0.1)
assert control["decoder_angle"] < (3.0 if FAST else 1.0)  # the decoder needs no decay
print("CONTROL the run without weight decay fails the subspace check (encoder)")
