"""
Title: Contractive autoencoder: sensitive along the data, insensitive across it
Author: geokeras contributors
Date created: 2026/11/24
Last modified: 2026/11/25
Description: Penalizing the encoder's Jacobian makes the code follow the direction the data vary along and ignore small noise across it (control: the same autoencoder without the penalty).
Accelerator: None
"""

"""
## Introduction

A contractive autoencoder (CAE) adds `λ ||J||_F²` to the reconstruction loss, where
`J = dh/dx` is the Jacobian of the code with respect to the input. The penalty pushes the
encoder to be flat in every direction; the reconstruction pushes back only in the directions
the data actually vary along. The result: the encoder is sensitive along the data manifold and
insensitive across it.

Data here: 2-D points that vary along a unit vector `u1` (uniformly) with a small Gaussian
noise along the orthogonal `u2`. We compare `||J u1|| / ||J u2||` for a plain autoencoder and
for `geokeras.models.build_contractive_autoencoder`, both with 8 sigmoid hidden units
(over-complete, so the plain one has no reason to ignore `u2`).
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

from geokeras.models import build_contractive_autoencoder, build_dense_autoencoder
from geokeras.models.contractive import jacobian_penalty

matplotlib.use("Agg")
FAST = os.environ.get("GEOKERAS_FAST") == "1"
FIGURES = os.environ.get("GEOKERAS_FIGURES", "figures")
os.makedirs(FIGURES, exist_ok=True)
keras.utils.set_random_seed(7)

"""
## Data
"""

angle = np.deg2rad(30.0)
u1 = np.array([np.cos(angle), np.sin(angle)], "float32")
u2 = np.array([-np.sin(angle), np.cos(angle)], "float32")
rng = np.random.default_rng(7)
n = 2000 if FAST else 5000
t = rng.uniform(-1, 1, n)
s = rng.normal(0, 0.05, n)
x = (t[:, None] * u1 + s[:, None] * u2).astype("float32")
print(f"{n} points; std along u1 {t.std():.3f}, along u2 {s.std():.3f}")

"""
## Train a plain and a contractive autoencoder

Same layers, same optimizer. With one sigmoid layer the penalty has a closed form
(`penalty="closed_form"`, equal to the exact Jacobian norm and cheaper); the CAE's `fit` logs the (unweighted) penalty
`contractive_penalty` next to the reconstruction loss.
"""

epochs = 15 if FAST else 100
common = dict(hidden_units=(8,), activation="sigmoid", output_activation="linear")
plain = build_dense_autoencoder(2, **common)
# tests/test_tutorials.py sets GEOKERAS_ABLATE=1 to train the CAE with weight 0 (no penalty) and
# check that the assertions at the end then fail.
CAE_WEIGHT = 0.0 if os.environ.get("GEOKERAS_ABLATE") == "1" else 0.1
cae = build_contractive_autoencoder(2, weight=CAE_WEIGHT, penalty="closed_form", **common)
for model in (plain, cae):
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    history = model.fit(x, x, epochs=epochs, batch_size=64, verbose=0)
print("CAE final logs:", {k: round(v[-1], 5) for k, v in history.history.items()})

"""
## Directional sensitivity of the encoder

`J u` is the change of the code per unit step along `u`, a Jacobian-vector product. We take it
from `tf.GradientTape.batch_jacobian` on the encoder and average the norms over the data.
"""


def sensitivities(encoder, points):
    points = tf.constant(points)
    with tf.GradientTape() as tape:
        tape.watch(points)
        h = encoder(points)
    J = tape.batch_jacobian(h, points).numpy()  # (n, hidden, 2)
    return np.linalg.norm(J @ u1, axis=1).mean(), np.linalg.norm(J @ u2, axis=1).mean()


rows = {}
for label, model in [("plain", plain), ("contractive", cae)]:
    along, across = sensitivities(model.encoder, x[:1000])
    x_hat = model.predict(x, verbose=0)
    rows[label] = dict(
        along=along,
        across=across,
        ratio=along / across,
        penalty=float(jacobian_penalty(model.encoder, x[:1000])),
        mse=float(np.mean((x_hat - x) ** 2)),
        err_u1=float(np.mean(((x_hat - x) @ u1) ** 2)),
    )
print(f"{'model':<12}{'||J u1||':>10}{'||J u2||':>10}{'ratio':>9}{'||J||_F²':>10}{'MSE':>10}")
for label, r in rows.items():
    print(f"{label:<12}{r['along']:>10.3f}{r['across']:>10.3f}{r['ratio']:>9.2f}{r['penalty']:>10.3f}{r['mse']:>10.5f}")

"""
## Figure: how the code changes across the plane

For each model we plot, on a grid, the code's sensitivity to a step along `u2` (`||J u2||`);
the data are the black points. Both panels share one colour scale, so colours compare across
the two models.
"""

g = np.linspace(-1.2, 1.2, 41, dtype="float32")
grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
maps = {}
for label, model in [("plain", plain), ("contractive", cae)]:
    pts = tf.constant(grid)
    with tf.GradientTape() as tape:
        tape.watch(pts)
        h = model.encoder(pts)
    J = tape.batch_jacobian(h, pts).numpy()
    maps[label] = np.linalg.norm(J @ u2, axis=1).reshape(41, 41)
vmax = max(float(m.max()) for m in maps.values())
fig, axes = plt.subplots(1, 2, figsize=(12, 5))
for ax, (label, across) in zip(axes, maps.items()):
    im = ax.pcolormesh(g, g, across, cmap="viridis", shading="auto", vmin=0.0, vmax=vmax)
    ax.plot(x[:500, 0], x[:500, 1], "k.", ms=1)
    # Two short title lines: one long line per panel ran into the neighbouring panel's title.
    ax.set_title(f"{label}\n||J u2||; ratio ||J u1|| / ||J u2|| = {rows[label]['ratio']:.2f}", fontsize=10)
    ax.set(xlabel="x1", ylabel="x2")
    ax.set_aspect("equal")
fig.colorbar(im, ax=axes.tolist(), label="||J u2|| (shared scale)")
fig.savefig(os.path.join(FIGURES, "07_contractive_autoencoder.png"), dpi=120)
plt.close(fig)

"""
## Result

The contractive encoder is several times more sensitive along `u1` than along `u2`, relative to
the plain one (the control: same layers and training, no penalty), and its Jacobian norm is
smaller. It still reconstructs the variation along `u1`.
"""

p, c = rows["plain"], rows["contractive"]
print(f"RESULT ratio_plain={p['ratio']:.2f} ratio_contractive={c['ratio']:.2f} "
      f"penalty_plain={p['penalty']:.3f} penalty_contractive={c['penalty']:.3f} mse_u1_contractive={c['err_u1']:.5f}")
assert c["ratio"] > (1.5 if FAST else 3.0) * p["ratio"]
assert c["penalty"] < 0.5 * p["penalty"]
assert c["err_u1"] < 0.1 * np.var(t)  # the variation along u1 is still reconstructed
