"""
Title: The lecture's derivations, checked numerically
Author: geokeras contributors
Date created: 2026/11/25
Last modified: 2026/12/04
Description: PCA from the SVD (H = U Σ = X V_k, encoder W = V_kᵀ, decoder W* = V_k), the gradient chains dL/dW* and dL/dW of a tanh-decoder autoencoder, "L2 adds λW to the gradient", ρ̂ over all m examples, and stride and padding in transposed convolution.
Accelerator: None
"""

"""
## Introduction

Each section takes one step of the lecture's derivations and checks it with numbers: NumPy for
the algebra, `tf.GradientTape` for derivatives, Keras layers for the convolutions. A derivation
that is wrong fails its assertion.
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
from geokeras.models import build_dense_autoencoder
from geokeras.regularizers import KLSparsity

matplotlib.use("Agg")
FAST = os.environ.get("GEOKERAS_FAST") == "1"
FIGURES = os.environ.get("GEOKERAS_FIGURES", "figures")
os.makedirs(FIGURES, exist_ok=True)
keras.utils.set_random_seed(13)
checks = {}

"""
## 1. PCA from the singular value decomposition

With the centred, scaled data matrix `X` (`m` examples as rows, `x_ij = (x_ij - mean_j)/sqrt(m)`),
`X = U Σ Vᵀ`. Keeping the top `k` singular triplets:

* the codes are `H = U_k Σ_k = X V_k` (project on the top right singular vectors);
* in the lecture's notation `h = W x` (encoder) and `x̂ = W* h` (decoder, as in section 2), the
  encoder is `W = V_kᵀ` and the decoder is `W* = V_k = Wᵀ`, so the reconstruction is `X V_k V_kᵀ`;
* its squared error is the sum of the discarded `σ_i²` (Eckart-Young), and no other rank-`k`
  linear map does better.

The codes need no matrix inverse. The lecture reaches `H = X V_k` through `(X Xᵀ)⁻¹`, but
`X Xᵀ` is `m x m` with rank at most `n`: singular whenever there are more examples than features
(here `m = 900`, `n = 50`; the tutorials of this set have `m` from 900 to 2500 examples of
`n = 50` samples), so that inverse does not exist. The
direct route: `X = U Σ Vᵀ` and `Vᵀ V = I` give `X V = U Σ`; keep the first `k` columns of both
sides: `X V_k = U_k Σ_k = H`. We print the rank of `X Xᵀ` and check the identity.
"""

signals, _ = synthetic.damped_oscillations(n_k=30, n_b=30)
m = len(signals)
X = ((signals - signals.mean(axis=0)) / np.sqrt(m)).astype("float64")
U, sigma, Vt = np.linalg.svd(X, full_matrices=False)
k = 3
V_k = Vt[:k].T
H = X @ V_k
checks["H = U Σ = X V_k"] = float(np.max(np.abs(H - U[:, :k] * sigma[:k])))
W, W_star = V_k.T, V_k  # encoder h = W x, decoder x̂ = W* h (rows here: H = X Wᵀ, X̂ = H W*ᵀ)
reconstruction = H @ W_star.T
gram_rank = int(np.linalg.matrix_rank(X @ X.T))
print(f"X Xᵀ is {m} x {m} with rank {gram_rank}: singular, no inverse; X V_k = U_k Σ_k needs none")
assert gram_rank <= X.shape[1] < m
checks["X V = U Σ (all columns)"] = float(np.max(np.abs(X @ Vt.T - U * sigma)))
assert checks["X V = U Σ (all columns)"] < 1e-10
assert np.allclose(H, X @ W.T)
pca_error = float(np.sum((X - reconstruction) ** 2))
checks["error = Σ discarded σ²"] = abs(pca_error - float(np.sum(sigma[k:] ** 2))) / pca_error
eigenvectors = np.linalg.eigh(X.T @ X)[1][:, ::-1][:, :k]  # largest eigenvalues first
checks["XᵀX eigenvectors = V"] = float(np.max(np.abs(np.abs(eigenvectors) - np.abs(V_k))))
random_errors = []
rng = np.random.default_rng(13)
for _ in range(200):
    Q, _ = np.linalg.qr(rng.normal(size=(X.shape[1], k)))
    random_errors.append(float(np.sum((X - X @ Q @ Q.T) ** 2)))
print(f"max |X V_k - U_k Σ_k| = {checks['H = U Σ = X V_k']:.1e}; "
      f"relative |error - Σ discarded σ²| = {checks['error = Σ discarded σ²']:.1e}")
print(f"rank-{k} error: PCA {pca_error:.4f}, best of 200 random orthonormal bases {min(random_errors):.4f}")
assert checks["H = U Σ = X V_k"] < 1e-10 and checks["error = Σ discarded σ²"] < 1e-8
assert checks["XᵀX eigenvectors = V"] < 1e-6  # (well-separated eigenvalues: the signs aside, unique)
assert pca_error < min(random_errors)

"""
## 2. The gradient chains of a tanh-decoder autoencoder

`h = σ(W x + b)` (sigmoid encoder), `x̂ = tanh(W* h + c)` (tanh decoder: the damped oscillations
lie in [-1, 1], tanh's range), `L = Σ (x̂ - x)²` per example. With `δ₂ = 2 (x̂ - x) ⊙ (1 - x̂²)`
and `δ₁ = (W*ᵀ δ₂) ⊙ h ⊙ (1 - h)`:

* `dL/dW* = δ₂ hᵀ`, `dL/dc = δ₂`;
* `dL/dW = δ₁ xᵀ`, `dL/db = δ₁`;

summed over the examples of a batch. We train the model briefly with `fit`, then compare the
formulas with `tf.GradientTape` on its weights. (Keras stores kernels as `(in, out)` and computes
`x @ kernel`, so a Keras kernel is the transpose of the lecture's `W`.)
"""

x_train = signals.astype("float32")
model = build_dense_autoencoder(50, hidden_units=(8,), activation="sigmoid", output_activation="tanh")
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
history = model.fit(x_train, x_train, epochs=5 if FAST else 30, batch_size=64, verbose=0)
print(f"tanh-decoder autoencoder: final MSE {history.history['loss'][-1]:.4f} (data variance {x_train.var():.4f})")

enc, dec = model.get_layer("encoder_dense_0"), model.get_layer("decoder_dense_0")
xb = x_train[:32]
with tf.GradientTape() as tape:
    loss = 50 * tf.reduce_sum(keras.losses.mean_squared_error(xb, model(xb)))  # Σ over examples and outputs
tape_grads = tape.gradient(loss, [enc.kernel, enc.bias, dec.kernel, dec.bias])
tape_grads = dict(zip(["W", "b", "W*", "c"], (g.numpy() for g in tape_grads)))
W, b, W_s, c = (keras.ops.convert_to_numpy(v).astype("float64") for v in (enc.kernel, enc.bias, dec.kernel, dec.bias))
W, W_s = W.T, W_s.T  # the lecture's W (8 x 50) and W* (50 x 8)
xb64 = xb.astype("float64")
h = 1 / (1 + np.exp(-(xb64 @ W.T + b)))  # rows are examples
x_hat = np.tanh(h @ W_s.T + c)
delta2 = 2 * (x_hat - xb64) * (1 - x_hat**2)
delta1 = (delta2 @ W_s) * h * (1 - h)
formulas = {"W": (delta1.T @ xb64).T, "b": delta1.sum(0), "W*": (delta2.T @ h).T, "c": delta2.sum(0)}
for name in formulas:
    err = float(np.max(np.abs(formulas[name] - tape_grads[name])) / np.max(np.abs(formulas[name])))
    checks[f"dL/d{name}"] = err
    print(f"dL/d{name}: relative error formula vs tape {err:.1e}")
    assert err < 1e-4, name

"""
## 3. "L2 adds λW to the gradient"

With the penalty `(λ/2) ||W||²` the gradient of the loss gains `λ W`. Keras' `L2(l2)` adds
`l2 · Σ W²` (no 1/2), so its gradient gains `2 · l2 · W`: the lecture's `λ` is `2 · l2`. We build
the same model with and without `l2`, copy the weights, and compare the gradients.
"""

l2 = 1e-3
with_decay = build_dense_autoencoder(50, hidden_units=(8,), activation="sigmoid", output_activation="tanh", l2=l2)
with_decay.set_weights(model.get_weights())


def gradients(net):
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(keras.losses.mean_squared_error(xb, net(xb))) + sum(net.losses)
    return [g.numpy() for g in tape.gradient(loss, net.trainable_weights)]


difference = [a - b for a, b in zip(gradients(with_decay), gradients(model))]
lam = 2 * l2
for weight, diff in zip(with_decay.trainable_weights, difference):
    expected = lam * keras.ops.convert_to_numpy(weight) if weight.path.endswith("kernel") else 0.0
    err = float(np.max(np.abs(diff - expected)))
    checks["L2 gradient " + weight.path] = err
    assert err < 1e-6 * max(1.0, float(np.max(np.abs(expected)))), weight.path
print(f"gradient difference with and without L2 equals λW (λ = 2 l2 = {lam}) on both kernels and 0 on the biases")

"""
## 4. The sparsity target ρ̂ over all m examples

The lecture defines `ρ̂_j = (1/m) Σ_{i=1}^{m} h_j(x_i)`, the mean activation of unit `j` over all
`m` training examples. `KLSparsity` computes it over whatever batch it is given: on the whole
training set it is exactly the lecture's `ρ̂`; in training, each mini-batch gives an unbiased
estimate, and the mean of the equal-size batch means is `ρ̂` again.
"""

codes = keras.ops.convert_to_numpy(model.encoder(x_train)).astype("float64")  # (m, 8)
rho_hat = codes.mean(axis=0)
batch_means = codes[: (m // 100) * 100].reshape(-1, 100, 8).mean(axis=1)
rho = 0.05
kl_numpy = float(np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))))
kl_library = float(KLSparsity(rho=rho, weight=1.0)(codes.astype("float32")))
checks["KLSparsity on all m"] = abs(kl_library - kl_numpy) / kl_numpy
checks["mean of batch means"] = float(np.max(np.abs(batch_means.mean(axis=0) - codes[: (m // 100) * 100].mean(axis=0))))
print(f"ρ̂ over all {m} examples: {np.round(rho_hat, 3)}")
print(f"Σ KL(ρ || ρ̂_j): NumPy {kl_numpy:.5f}, KLSparsity on the whole set {kl_library:.5f}; "
      f"spread of the 100-example batch means around ρ̂: {batch_means.std(axis=0).mean():.4f}")
assert checks["KLSparsity on all m"] < 1e-5 and checks["mean of batch means"] < 1e-12

"""
## 5. Stride and padding in transposed convolution

A `Conv1DTranspose` with kernel size `K` and stride `s` maps `n` samples to
`n s + max(K - s, 0)` samples with `padding="valid"` and to `n s` with `padding="same"`. For
`K >= s` the valid length is the familiar `(n - 1) s + K`: the kernel's last stamp, placed at
`(n - 1) s`, ends there. For `K < s` the stamps do not touch, and Keras pads the output to `n s`
(one stride per input sample), longer than `(n - 1) s + K`: with `n = 5`, `K = 2`, `s = 3` it
returns 15 samples, not 14. (Both lengths agree with the forward shape: a valid `Conv1D` with
`K = 2`, `s = 3` maps 14 and 15 samples alike to 5.) Two equivalent pictures: (a) it is the
transpose of the matrix of the `Conv1D` with the same kernel and stride; (b) it inserts `s - 1`
zeros between the input samples and convolves with the kernel (a full convolution). We check the
lengths over a few settings, and (a) and (b) on one.
"""

lengths = []
for n_in, kernel_size, stride in [(5, 3, 1), (5, 3, 2), (6, 4, 2), (7, 5, 3), (5, 2, 3), (4, 1, 2)]:
    for padding in ("valid", "same"):
        layer = keras.layers.Conv1DTranspose(1, kernel_size, strides=stride, padding=padding)
        out = layer(np.zeros((1, n_in, 1), "float32")).shape[1]
        want = n_in * stride + max(kernel_size - stride, 0) if padding == "valid" else n_in * stride
        lengths.append((n_in, kernel_size, stride, padding, out, want))
        assert out == want, lengths[-1]
print("(n, K, s, padding) -> length, as predicted:", [(n, K, s, p, o) for n, K, s, p, o, _ in lengths])
short = [(n, K, s, o) for n, K, s, p, o, _ in lengths if p == "valid" and K < s]
print("K < s, valid: (n, K, s, Keras length, (n - 1) s + K):", [(n, K, s, o, (n - 1) * s + K) for n, K, s, o in short])
assert (5, 2, 3, 15) in short  # not (5 - 1) * 3 + 2 = 14
for length in (14, 15):  # both map back to 5 samples under the valid Conv1D with K = 2, s = 3
    assert keras.layers.Conv1D(1, 2, strides=3, padding="valid")(np.zeros((1, length, 1), "float32")).shape[1] == 5

kernel = np.array([1.0, -2.0, 3.0], "float32")
n_in, stride = 9, 2  # (9 - 3) / 2 + 1 = 4 outputs, and back: (4 - 1) * 2 + 3 = 9
conv = keras.layers.Conv1D(1, 3, strides=stride, padding="valid", use_bias=False)
conv.build((None, n_in, 1))
conv.set_weights([kernel.reshape(3, 1, 1)])
C = keras.ops.convert_to_numpy(conv(np.eye(n_in, dtype="float32")[:, :, None]))[:, :, 0].T  # (n_out, n_in)
deconv = keras.layers.Conv1DTranspose(1, 3, strides=stride, padding="valid", use_bias=False)
deconv.build((None, C.shape[0], 1))
deconv.set_weights([kernel.reshape(3, 1, 1)])
y = np.arange(1, C.shape[0] + 1, dtype="float32")
transposed = keras.ops.convert_to_numpy(deconv(y.reshape(1, -1, 1)))[0, :, 0]
zero_inserted = np.zeros((len(y) - 1) * stride + 1, "float32")
zero_inserted[::stride] = y
stamped = np.convolve(zero_inserted, kernel)  # full convolution: each input stamps the kernel
checks["Conv1DTranspose = Cᵀ"] = float(np.max(np.abs(transposed - C.T @ y)))
checks["zero insertion + convolution"] = float(np.max(np.abs(transposed - stamped)))
print(f"Conv1D (K=3, s=2, valid) matrix C is {C.shape}; Conv1DTranspose(y) = {transposed.tolist()}")
print(f"Cᵀ y = {(C.T @ y).tolist()}; zero insertion then full convolution: {stamped.tolist()}")
assert checks["Conv1DTranspose = Cᵀ"] < 1e-6 and checks["zero insertion + convolution"] < 1e-6

"""
## Figure
"""

fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
axes[0].semilogy(np.arange(1, 16), sigma[:15] ** 2, "o-")
axes[0].axvline(k + 0.5, color="gray", ls="--")
axes[0].set(title=f"σ² (rank-{k} error = Σ of the rest)", xlabel="i", ylabel="σ_i²")
axes[1].hist(random_errors, bins=30, color="0.6", label="random orthonormal bases")
axes[1].axvline(pca_error, color="r", label="PCA (V_k)")
axes[1].set(title=f"rank-{k} reconstruction error", xlabel="Σ (X - X Q Qᵀ)²", ylabel="random bases")
axes[1].legend(fontsize=8)
axes[2].stem(np.arange(len(transposed)), transposed, label="Conv1DTranspose(y)")
axes[2].plot(np.arange(0, len(zero_inserted) * 1, 1), zero_inserted, "kx", label="y with zeros inserted")
axes[2].set(title="transposed convolution, K=3, s=2", xlabel="sample", ylabel="value")
axes[2].legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "13_derivations.png"), dpi=120)
plt.close(fig)

"""
## Result

Every step holds to floating-point precision: the SVD gives the codes (with no inverse of the
singular `X Xᵀ`), the optimal encoder `V_kᵀ` and decoder `V_k`,
the chain rule gives the tape's gradients, L2 adds `λW` with `λ = 2 · l2`, `ρ̂` over all `m`
examples is what `KLSparsity` computes on the whole set, and the transposed convolution is the
transpose of the strided convolution's matrix with the predicted lengths.
"""

print("RESULT " + " ".join(f"{name.replace(' ', '_')}={value:.1e}" for name, value in checks.items()
                          if not name.startswith("L2 gradient"))
      + f" L2_gradient_max_err={max(v for n, v in checks.items() if n.startswith('L2 gradient')):.1e}")
