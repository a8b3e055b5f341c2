"""
Title: A linear autoencoder learns the PCA subspace
Author: geokeras contributors
Date created: 2026/11/24
Last modified: 2026/11/24
Description: With centred, scaled inputs, linear layers and MSE, the autoencoder's encoder and decoder span the top-k principal subspace.
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
those directions, so their random initial weights would stay. A tiny L2 weight decay (`l2=1e-7`)
removes them without moving the optimum measurably.
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
## The linear autoencoder

`build_dense_autoencoder` with linear hidden and output activations is exactly `x -> W_d (W_e x
+ b_e) + b_d`. We train it with MSE and a cosine-decaying Adam learning rate (the final small
steps let it settle precisely on the optimum).
"""

epochs = 15 if FAST else 40
batch_size = 64
model = build_dense_autoencoder(n, hidden_units=(k,), activation="linear", output_activation="linear", l2=1e-7)
steps = epochs * -(-m // batch_size)
model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, steps)), loss="mse")
history = model.fit(x_hat, x_hat, epochs=epochs, batch_size=batch_size, verbose=0)

ae_mse = float(np.mean((model.predict(x_hat, verbose=0) - x_hat) ** 2))
print(f"reconstruction MSE: autoencoder {ae_mse:.3e}, PCA (optimal rank {k}) {pca_mse:.3e}")

"""
## Compare subspaces

The encoder's Keras kernel is `(n, k)` (it computes `x @ W`), so its columns are the encoder's
rows in the lecture's notation; the decoder's kernel is `(k, n)`, so its rows are the decoder's
columns.
"""

encoder_kernel = keras.ops.convert_to_numpy(model.get_layer("encoder_dense_0").kernel)  # (n, k)
decoder_kernel = keras.ops.convert_to_numpy(model.get_layer("decoder_dense_0").kernel)  # (k, n)
encoder_angle = float(np.degrees(scipy.linalg.subspace_angles(encoder_kernel, principal)).max())
decoder_angle = float(np.degrees(scipy.linalg.subspace_angles(decoder_kernel.T, principal)).max())
random_basis = np.random.default_rng(0).normal(size=(n, k))
random_angle = float(np.degrees(scipy.linalg.subspace_angles(random_basis, principal)).max())
print(f"largest principal angle to the top-{k} PCA subspace: encoder {encoder_angle:.3f} deg, "
      f"decoder {decoder_angle:.3f} deg (a random {k}-d subspace: {random_angle:.1f} deg)")

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
axes[0].set(title="covariance eigenvalues", xlabel="component")
for j in range(k):
    axes[1].plot(principal[:, j], label=f"PC {j + 1}")
axes[1].set(title="top principal components", xlabel="sample")
axes[1].legend()
axes[2].imshow(np.abs(coefficients), cmap="Greys", aspect="auto")
axes[2].set(title="|decoder columns in the PC basis|", xlabel="decoder column", ylabel="principal component")
axes[2].set_yticks(range(8), [str(i + 1) for i in range(8)])
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "03_linear_autoencoder_pca.png"), dpi=120)
plt.close(fig)

"""
## Result

The linear autoencoder reaches the PCA reconstruction error, and both its encoder and its decoder
span the top-3 principal subspace to within a fraction of a degree.
"""

print(f"RESULT encoder_angle_deg={encoder_angle:.3f} decoder_angle_deg={decoder_angle:.3f} "
      f"mse_ratio_ae_over_pca={ae_mse / pca_mse:.4f}")
if FAST:
    assert decoder_angle < 3.0 and encoder_angle < 30.0 and ae_mse < 1.1 * pca_mse
else:
    assert encoder_angle < 1.0 and decoder_angle < 1.0 and ae_mse < 1.01 * pca_mse
