"""
Title: Under- and over-complete autoencoders, and the identity trap
Author: geokeras contributors
Date created: 2026/11/24
Last modified: 2026/11/25
Description: A bottleneck forces an autoencoder to learn the data's structure; an over-complete one can simply learn the identity.
Accelerator: None
"""

"""
## Introduction

An autoencoder is *under-complete* when its code is smaller than its input and *over-complete*
when it is larger. Only the bottleneck forces it to learn something about the data: with more
hidden units than inputs and nothing else to stop it, the network can learn the identity map,
reconstruct everything perfectly, and have learned nothing. That is the *identity trap*.

We train both on noisy damped oscillations (50 samples each) and ask three questions:

1. How close is the reconstruction to the noisy input, and to the clean signal?
2. Does the model also reconstruct inputs that look nothing like the data (random vectors)?
3. Is its Jacobian `d x̂ / d x` the identity matrix?
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

matplotlib.use("Agg")
FAST = os.environ.get("GEOKERAS_FAST") == "1"
FIGURES = os.environ.get("GEOKERAS_FIGURES", "figures")
os.makedirs(FIGURES, exist_ok=True)
keras.utils.set_random_seed(1)

"""
## Data

The damped oscillations depend on two parameters (`k`, `b`), so they lie near a 2-D manifold in
the 50-dimensional input space. We add white noise (standard deviation 0.05) as a measurement
would, and hold out 20% for testing.
"""

n_grid = 30 if FAST else 50
clean, params = synthetic.damped_oscillations(n_k=n_grid, n_b=n_grid)
rng = np.random.default_rng(1)
noise_std = 0.05
noisy = (clean + noise_std * rng.standard_normal(clean.shape)).astype("float32")
order = rng.permutation(len(clean))
n_test = len(clean) // 5
test, train = order[:n_test], order[n_test:]
print(f"train {len(train)}, test {len(test)} signals of {clean.shape[1]} samples; noise variance {noise_std**2:.4f}")

"""
## Two autoencoders

Same architecture and training, only the code size differs: 6 units (under-complete) and 100
units (over-complete, twice the input size). Hidden units are ELUs, the output is linear and the
loss is MSE (real-valued data).
"""

epochs = 25 if FAST else 40
models = {}
for label, units in [("under-complete (6)", 6), ("over-complete (100)", 100)]:
    model = build_dense_autoencoder(50, hidden_units=(units,), activation="elu", output_activation="linear")
    model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="mse")
    model.fit(noisy[train], noisy[train], epochs=epochs, batch_size=32, verbose=0)
    models[label] = model

"""
## 1. Reconstruction error against the noisy input and the clean signal

An over-complete model that copies its input reproduces the noise as well: its error against the
clean signal is the noise variance.
"""

rows = {}
for label, model in models.items():
    x_hat = model.predict(noisy[test], verbose=0)
    rows[label] = {
        "vs_noisy": float(np.mean((x_hat - noisy[test]) ** 2)),
        "vs_clean": float(np.mean((x_hat - clean[test]) ** 2)),
    }

"""
## 2. Reconstructing random vectors

Gaussian vectors with the data's standard deviation are nowhere near the oscillations. We report
`R² = 1 - ||x̂ - x||² / ||x||²`: 1 means a perfect copy, 0 or less means no reconstruction.
"""

random_inputs = (rng.standard_normal((500, 50)) * clean.std()).astype("float32")
for label, model in models.items():
    out = model.predict(random_inputs, verbose=0)
    rows[label]["random_r2"] = float(1 - np.sum((out - random_inputs) ** 2) / np.sum(random_inputs**2))

"""
## 3. The Jacobian of the whole autoencoder

For a test signal `x`, `tf.GradientTape.jacobian` gives the 50x50 matrix `d x̂ / d x`. We measure
its distance to the identity, `||J - I||_F / ||I||_F`, averaged over 20 test signals.

Careful with the under-complete model: its Jacobian has rank at most 6, and a rank-6 matrix is
at least `sqrt(1 - 6/50) = 0.938` from the 50x50 identity by this measure (the best it can do is
to match the identity on 6 directions). Its number is therefore not evidence of anything; the
informative number is how far *below* that floor the over-complete model gets.
"""

rank_floor = float(np.sqrt(1 - 6 / 50))

jacobians = {}
for label, model in models.items():
    x = tf.constant(noisy[test[:20]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)
    J = tape.batch_jacobian(y, x).numpy()  # (20, 50, 50)
    jacobians[label] = J[0]
    rows[label]["jacobian_vs_identity"] = float(np.mean(np.linalg.norm(J - np.eye(50), axis=(1, 2)) / np.sqrt(50)))

print(f"a rank-6 Jacobian is at least {rank_floor:.3f} from I")
print(f"{'model':<22}{'MSE vs noisy':>14}{'MSE vs clean':>14}{'random R²':>12}{'||J-I||/||I||':>16}")
for label, r in rows.items():
    print(f"{label:<22}{r['vs_noisy']:>14.5f}{r['vs_clean']:>14.5f}{r['random_r2']:>12.3f}"
          f"{r['jacobian_vs_identity']:>16.3f}")

"""
## Figures
"""

under, over = models["under-complete (6)"], models["over-complete (100)"]
fig, axes = plt.subplots(2, 2, figsize=(12, 7))
i = test[0]
axes[0, 0].plot(noisy[i], "0.6", label="noisy input")
axes[0, 0].plot(clean[i], "k", label="clean")
axes[0, 0].plot(under.predict(noisy[i : i + 1], verbose=0)[0], "b", label="under-complete")
axes[0, 0].plot(over.predict(noisy[i : i + 1], verbose=0)[0], "r--", label="over-complete")
axes[0, 0].set(title="test signal", xlabel="sample", ylabel="amplitude")
axes[0, 0].legend(fontsize=8)
axes[0, 1].plot(random_inputs[0], "0.6", label="random input")
axes[0, 1].plot(under.predict(random_inputs[:1], verbose=0)[0], "b", label="under-complete")
axes[0, 1].plot(over.predict(random_inputs[:1], verbose=0)[0], "r--", label="over-complete")
axes[0, 1].set(title="random input (off the data manifold)", xlabel="sample", ylabel="amplitude")
axes[0, 1].legend(fontsize=8)
for ax, (label, J) in zip(axes[1], jacobians.items()):
    im = ax.imshow(J, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set(title=f"Jacobian d x̂ / d x, {label}", xlabel="input sample j", ylabel="output sample i")
    fig.colorbar(im, ax=ax, label="d x̂_i / d x_j")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "01_under_and_over_complete.png"), dpi=120)
plt.close(fig)

"""
## Result

The over-complete autoencoder fell into the identity trap: it reproduces its noisy input (so its
error against the clean signal is about the noise variance), it copies random vectors it has never
seen, and its Jacobian is far closer to the identity than any bottlenecked model can be. The
under-complete one cannot copy: it maps everything onto what it learned about the oscillations,
and removes most of the noise.

The check below is written once and applied to both models: it must pass for the over-complete
model and fail for the under-complete one (the control), so it can fail.
"""


def falls_into_identity_trap(r):
    """Copies off-manifold inputs, Jacobian well below the rank-6 floor, copies the noise."""
    return (
        r["random_r2"] > (0.5 if FAST else 0.9)
        and r["jacobian_vs_identity"] < (0.7 if FAST else 0.4) * rank_floor
        and r["vs_clean"] > (0.5 if FAST else 0.8) * noise_std**2
    )


u, o = rows["under-complete (6)"], rows["over-complete (100)"]
print(f"RESULT random_R2 under={u['random_r2']:.3f} over={o['random_r2']:.3f} "
      f"J_vs_I under={u['jacobian_vs_identity']:.3f} over={o['jacobian_vs_identity']:.3f} rank6_floor={rank_floor:.3f} "
      f"mse_vs_clean under={u['vs_clean']:.5f} over={o['vs_clean']:.5f} noise_var={noise_std**2:.5f}")
assert falls_into_identity_trap(o), o
assert not falls_into_identity_trap(u), u  # the control does not pass the same check
assert u["vs_clean"] < (1.0 if FAST else 0.5) * noise_std**2  # the bottleneck removes noise (most of it in full mode)
print("CONTROL under-complete model fails the identity-trap check")
