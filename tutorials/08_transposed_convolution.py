"""
Title: Transposed convolution is the transpose of a convolution matrix
Author: geokeras contributors
Date created: 2026/11/24
Last modified: 2026/12/04
Description: Convolution as the sparse 4x9 matrix of the lecture, transposed convolution as its transpose, checked with Conv2D/Conv2DTranspose, then Conv1DTranspose in a trace autoencoder.
Accelerator: None
"""

"""
## Introduction

A convolution is a linear map, so it has a matrix. For a 2x2 kernel sliding over a 3x3 image
(no padding, stride 1) that matrix is 4x9 and mostly zeros: each output pixel sees only four of
the nine input pixels. A *transposed convolution* is nothing more than multiplication by the
transpose of that matrix: it maps 4 numbers back to 9. It is not an inverse; it is the adjoint,
the operation a decoder uses to go from a small code back to a long signal.

We reproduce the lecture's numbers with `keras.layers.Conv2D` and `keras.layers.Conv2DTranspose`,
then use `Conv1DTranspose` where geokeras uses it: in the decoder of a convolutional autoencoder
for seismic traces.

`GEOKERAS_FAST=1` runs a seconds-long version (what CI runs); `GEOKERAS_FIGURES` sets the folder
for the figures (default `figures/`).
"""

"""
## Setup
"""

import os

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from geokeras.data import datasets
from geokeras.data.normalize import normalize
from geokeras.models import build_conv1d_autoencoder

matplotlib.use("Agg")
FAST = os.environ.get("GEOKERAS_FAST") == "1"
FIGURES = os.environ.get("GEOKERAS_FIGURES", "figures")
os.makedirs(FIGURES, exist_ok=True)
keras.utils.set_random_seed(8)

"""
## The lecture's example with `Conv2D`

The kernel `[[1, 2], [2, 1]]` on the image `[[1, 2, 3], [6, 5, 3], [1, 4, 1]]`. Keras
convolutions are cross-correlations (the kernel is not flipped), exactly as in the lecture.
"""

image = np.array([[1, 2, 3], [6, 5, 3], [1, 4, 1]], dtype="float32")
kernel = np.array([[1, 2], [2, 1]], dtype="float32")

conv = keras.layers.Conv2D(1, kernel_size=2, padding="valid", use_bias=False)
conv.build((None, 3, 3, 1))
conv.set_weights([kernel.reshape(2, 2, 1, 1)])
conv_out = keras.ops.convert_to_numpy(conv(image.reshape(1, 3, 3, 1)))[0, :, :, 0]
print("Conv2D output:\n", conv_out)
np.testing.assert_array_equal(conv_out, [[22, 21], [22, 20]])

"""
## The convolution matrix

A linear layer's matrix is its response to unit impulses: column `j` is the output for the image
that is 1 at pixel `j` and 0 elsewhere. Nine impulses give the 4x9 matrix `C`, and it is the
sparse matrix of the lecture: each row holds the kernel `1 2 . 2 1` shifted along the flattened
image.
"""

impulses = np.eye(9, dtype="float32").reshape(9, 3, 3, 1)
C = keras.ops.convert_to_numpy(conv(impulses)).reshape(9, 4).T
print("C =\n", C.astype(int))
C_lecture = np.array(
    [
        [1, 2, 0, 2, 1, 0, 0, 0, 0],
        [0, 1, 2, 0, 2, 1, 0, 0, 0],
        [0, 0, 0, 1, 2, 0, 2, 1, 0],
        [0, 0, 0, 0, 1, 2, 0, 2, 1],
    ],
    dtype="float32",
)
np.testing.assert_array_equal(C, C_lecture)
np.testing.assert_array_equal(C @ image.ravel(), conv_out.ravel())

"""
## Transposed convolution is multiplication by `C.T`

`Conv2DTranspose` with the same kernel maps the 2x2 map `[[1, 2], [2, 4]]` to a 3x3 image. It
equals `C.T @ y`: every input value "stamps" a scaled copy of the kernel onto the output, and the
overlapping stamps add up (the 13 in the middle is the sum of four stamps).
"""

y = np.array([[1, 2], [2, 4]], dtype="float32")
deconv = keras.layers.Conv2DTranspose(1, kernel_size=2, padding="valid", use_bias=False)
deconv.build((None, 2, 2, 1))
deconv.set_weights([kernel.reshape(2, 2, 1, 1)])
deconv_out = keras.ops.convert_to_numpy(deconv(y.reshape(1, 2, 2, 1)))[0, :, :, 0]
print("Conv2DTranspose output:\n", deconv_out)
np.testing.assert_array_equal(deconv_out, [[1, 4, 4], [4, 13, 10], [4, 10, 4]])
np.testing.assert_array_equal((C.T @ y.ravel()).reshape(3, 3), deconv_out)

"""
The transposed convolution does *not* undo the convolution: `C.T @ C @ x` is not `x`.
"""

print("C.T @ C @ x =\n", (C.T @ C @ image.ravel()).reshape(3, 3))

"""
## Cross-correlation or convolution? An asymmetric kernel tells

The lecture's kernel is symmetric under a 180-degree rotation (`[[1, 2], [2, 1]]` flipped both
ways is itself), so the numbers above cannot tell a cross-correlation (kernel as is) from a true
convolution (kernel flipped). The kernel `[[1, 2], [3, 4]]` can. We compare both layers with
hand-written NumPy references: `Conv2D` slides the kernel as is over the image, and
`Conv2DTranspose` stamps the kernel as is, scaled by each input value, at that value's position.
"""

# tests/test_tutorials.py sets GEOKERAS_ABLATE=flipped_kernel to give both layers the flipped kernel
# (what a library that convolves would compute) and checks that the comparisons below then fail.
ABLATE = os.environ.get("GEOKERAS_ABLATE")
asymmetric = np.array([[1, 2], [3, 4]], dtype="float32")
in_layers = asymmetric[::-1, ::-1] if ABLATE == "flipped_kernel" else asymmetric
conv.set_weights([in_layers.reshape(2, 2, 1, 1)])
deconv.set_weights([in_layers.reshape(2, 2, 1, 1)])
cross_correlation = np.array([[np.sum(image[i : i + 2, j : j + 2] * asymmetric) for j in range(2)] for i in range(2)])
convolution = np.array([[np.sum(image[i : i + 2, j : j + 2] * asymmetric[::-1, ::-1]) for j in range(2)]
                        for i in range(2)])
stamped = np.zeros((3, 3), "float32")
for (i, j), v in np.ndenumerate(y):
    stamped[i : i + 2, j : j + 2] += v * asymmetric
asym_conv = keras.ops.convert_to_numpy(conv(image.reshape(1, 3, 3, 1)))[0, :, :, 0]
asym_deconv = keras.ops.convert_to_numpy(deconv(y.reshape(1, 2, 2, 1)))[0, :, :, 0]
print("kernel [[1, 2], [3, 4]]: Conv2D", asym_conv.tolist(), "| cross-correlation", cross_correlation.tolist(),
      "| convolution (flipped)", convolution.tolist())
print("Conv2DTranspose", asym_deconv.tolist(), "| stamps of the kernel as is", stamped.tolist())
assert not np.array_equal(cross_correlation, convolution)  # this kernel can tell them apart
assert np.array_equal(asym_conv, cross_correlation), "Conv2D is a cross-correlation: the kernel is not flipped"
assert np.array_equal(asym_deconv, stamped), "Conv2DTranspose stamps the kernel as is (the cross-correlation's adjoint)"

# One colour scale for all four panels (the colour bar), so equal numbers have equal colours.
panels = [
    (image, "input x (3x3)"),
    (conv_out, "Conv2D(x) = C x (2x2)"),
    (C, "C (4x9)"),
    (deconv_out, "Conv2DTranspose(y) = C.T y"),
]
vmax = max(float(arr.max()) for arr, _ in panels)
fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), gridspec_kw={"width_ratios": [1, 0.7, 3, 1]}, layout="constrained")
for ax, (arr, title) in zip(axes, panels):
    im = ax.imshow(arr, cmap="Blues", vmin=0, vmax=vmax)
    for (i, j), v in np.ndenumerate(arr):
        ax.text(j, i, f"{v:g}", ha="center", va="center", color="w" if v > 0.6 * vmax else "k")
    ax.set_title(title, fontsize=9)
    ax.set(xlabel="column", ylabel="row")
    ax.set_xticks(range(arr.shape[1]))
    ax.set_yticks(range(arr.shape[0]))
fig.colorbar(im, ax=axes.tolist(), label="value (one scale for all panels)", shrink=0.8)
fig.savefig(os.path.join(FIGURES, "08_convolution_matrix.png"), dpi=120)
plt.close(fig)

"""
## Strided 1-D convolutions on seismic traces

In a trace autoencoder the encoder halves the length with a stride-2 `Conv1D`, and the decoder
doubles it back with a stride-2 `Conv1DTranspose`. With the same kernel the two are adjoint:
`<A x, y> = <x, A^T y>` for any `x` and `y` (the "dot-product test" geophysicists use to check
migration and modelling operators). We take real windows from the bundled earthquake records,
each demeaned and scaled to a peak of 1.
"""

window = 512 if FAST else 1024
records = datasets.load_events(sets=["ncedc-events"])[: 8 if FAST else None]  # the 73 three-component events
traces = []
for rec in records:
    for tr in rec.stream:
        data = tr.data.astype("float32")
        p = int(round((rec.p_time - tr.stats.starttime) * tr.stats.sampling_rate))
        # Windows that start at and after the P arrival, some before it (pre-event noise).
        for start in range(p - window, len(data) - window + 1, window // 2):
            traces.append(data[start : start + window])
traces = np.stack(traces)
# Remove each window's mean first: the raw records carry a DC offset that would otherwise show as
# steps between windows and dominate the reconstruction error.
traces = traces - traces.mean(axis=1, keepdims=True)
traces, _ = normalize(traces, mode="peak")
traces = traces[:, :, None].astype("float32")
print("trace windows:", traces.shape)

down = keras.layers.Conv1D(1, kernel_size=7, strides=2, padding="same", use_bias=False)
up = keras.layers.Conv1DTranspose(1, kernel_size=7, strides=2, padding="same", use_bias=False)
down.build((None, window, 1))
up.build((None, window // 2, 1))
up.set_weights(down.get_weights())

x = traces[:4]
y = np.random.default_rng(0).normal(size=(4, window // 2, 1)).astype("float32")
Ax = keras.ops.convert_to_numpy(down(x))
ATy = keras.ops.convert_to_numpy(up(y))
print("shapes: x", x.shape, "-> A x", Ax.shape, "; y", y.shape, "-> A^T y", ATy.shape)
lhs, rhs = float(np.sum(Ax * y)), float(np.sum(x * ATy))
adjoint_error = abs(lhs - rhs) / abs(lhs)
print(f"dot-product test: <Ax, y> = {lhs:.6f}, <x, A^T y> = {rhs:.6f}, relative error {adjoint_error:.1e}")
assert adjoint_error < 1e-4

"""
## `Conv1DTranspose` in a trace autoencoder

`geokeras.models.build_conv1d_autoencoder` stacks strided `Conv1D` layers in the encoder and
`Conv1DTranspose` layers in the decoder; the output has the input's length. We fit it to
reconstruct the windows through an under-complete code (2 channels at 1/4 of the length: half
as many numbers as the input) and score it
on held-out windows with the relative error `||x - x_hat||^2 / ||x||^2`.
"""

rng = np.random.default_rng(8)
order = rng.permutation(len(traces))
n_val = max(len(traces) // 5, 8)
x_val, x_train = traces[order[:n_val]], traces[order[n_val:]]

model = build_conv1d_autoencoder((window, 1), filters=(8, 2), kernel_size=7, strides=2)
print("layers:", [type(layer).__name__ for layer in model.layers])
assert any(isinstance(layer, keras.layers.Conv1DTranspose) for layer in model.layers)
model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
history = model.fit(
    x_train, x_train, validation_data=(x_val, x_val), epochs=3 if FAST else 40, batch_size=32, verbose=0
)
x_hat = model.predict(x_val, verbose=0)
assert x_hat.shape == x_val.shape
relative_error = float(np.sum((x_hat - x_val) ** 2) / np.sum(x_val**2))
print(f"held-out relative reconstruction error: {relative_error:.3f}")

fig, axes = plt.subplots(3, 1, figsize=(9, 6), sharex=True)
for ax, i in zip(axes, range(3)):
    ax.plot(x_val[i, :, 0], "k", lw=0.8, label="trace")
    ax.plot(x_hat[i, :, 0], "r", lw=0.8, alpha=0.8, label="reconstruction")
    ax.set_ylabel("amplitude (peak 1)")
axes[0].legend(loc="upper right")
axes[0].set_title(f"Conv1D / Conv1DTranspose autoencoder, held-out windows (relative error {relative_error:.3f})")
axes[-1].set_xlabel("sample")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "08_conv1d_transpose_traces.png"), dpi=120)
plt.close(fig)

"""
## Result

The lecture's numbers are reproduced exactly, `Conv2DTranspose` is multiplication by `C.T`, an
asymmetric kernel shows that neither layer flips its kernel (given the flipped kernel, the NumPy
references above no longer match: the ablation test), the
stride-2 `Conv1D`/`Conv1DTranspose` pair passes the dot-product test, and the autoencoder built on
them reconstructs held-out traces far better than predicting zeros (relative error 1).
"""

print(f"RESULT conv={conv_out.astype(int).tolist()} transposed={deconv_out.astype(int).tolist()} "
      f"adjoint_error={adjoint_error:.1e} relative_error={relative_error:.3f}")
assert relative_error < (0.9 if FAST else 0.5)  # predicting zeros gives 1
