"""
Title: Decoder activations and losses
Author: geokeras contributors
Date created: 2026/11/24
Last modified: 2026/12/04
Description: Sigmoid + binary cross-entropy for binary inputs, linear + MSE for real ones, and the lecture's gradient formulas checked with tf.GradientTape.
Accelerator: None
"""

"""
## Introduction

The last layer of the decoder must be able to produce the values we feed in, and the loss must
match what those values mean:

* **binary inputs** (0/1, or probabilities): a **sigmoid** output `x̂ = σ(a)` read as a
  Bernoulli probability, and the **binary cross-entropy**
  `L = -x log x̂ - (1 - x) log(1 - x̂)`;
* **real inputs**: a **linear** output `x̂ = h2` and the **squared error** `L = (x̂ - x)²`.

The lecture's gradients, per output unit:

* MSE: `dL/dh2 = 2 (x̂ - x)`;
* BCE: `dL/dx̂ = -x / x̂ + (1 - x) / (1 - x̂)`, and through the sigmoid
  `dL/da = (-x / x̂ + (1 - x) / (1 - x̂)) σ(a)(1 - σ(a))`, which simplifies to `x̂ - x`.

We train both kinds of decoder with `geokeras.models.build_dense_autoencoder`, then check the
formulas against `tf.GradientTape` on the trained models' own outputs.
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
keras.utils.set_random_seed(2)
EPOCHS = 8 if FAST else 60

"""
## Two kinds of data

*Binary*: event-presence masks, 1 where a signal is present in a 50-sample window and 0
elsewhere (random onset and duration). *Real*: the damped oscillations of the lecture, which
take negative values.
"""

rng = np.random.default_rng(2)
n_masks = 640 if FAST else 3000
onset = rng.integers(0, 40, n_masks)
duration = rng.integers(5, 20, n_masks)
samples = np.arange(50)
binary = ((samples >= onset[:, None]) & (samples < onset[:, None] + duration[:, None])).astype("float32")

real, _ = synthetic.damped_oscillations(n_k=25 if FAST else 50, n_b=25 if FAST else 50)
print("binary:", binary.shape, "values", np.unique(binary), "| real:", real.shape,
      f"range [{real.min():.2f}, {real.max():.2f}]")


def train(x, output_activation, loss):
    model = build_dense_autoencoder(50, hidden_units=(16,), activation="sigmoid", output_activation=output_activation)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    model.fit(x, x, epochs=EPOCHS, batch_size=64, verbose=0)
    return model, model.predict(x, verbose=0)


"""
## Binary inputs: sigmoid + BCE versus linear + MSE

A sigmoid decoder's outputs are probabilities; a linear decoder's are not (they over- and
undershoot the two levels).
"""

# tests/test_tutorials.py sets GEOKERAS_ABLATE=linear_mse to train the "sigmoid + BCE" model as linear + MSE
# and checks that the likelihood comparison below then fails.
ABLATE = os.environ.get("GEOKERAS_ABLATE")
bce_model, binary_bce = train(
    binary, *(("linear", "mse") if ABLATE == "linear_mse" else ("sigmoid", "binary_crossentropy"))
)
_, binary_mse = train(binary, "linear", "mse")
bit_error_bce = float(np.mean((binary_bce > 0.5) != binary))
bit_error_mse = float(np.mean((binary_mse > 0.5) != binary))
print(f"sigmoid + BCE: bit error {bit_error_bce:.4f}, outputs in [{binary_bce.min():.3f}, {binary_bce.max():.3f}]")
print(f"linear + MSE:  bit error {bit_error_mse:.4f}, outputs in [{binary_mse.min():.3f}, {binary_mse.max():.3f}]")

"""
Both decoders recover the masks (the bit errors are comparable). What differs is what their
outputs *mean*. Read as Bernoulli probabilities, the outputs give each mask a likelihood, and its
negative logarithm per bit is exactly the binary cross-entropy, the loss the sigmoid decoder
minimizes. The sigmoid decoder's outputs are always probabilities, so that likelihood is defined
for every mask; the linear decoder's are not (some are below 0 or above 1: the likelihood of
those bits is undefined). To score the linear decoder at all we clip its outputs into
`[1e-7, 1 - 1e-7]`, and every confidently wrong bit then costs `-log(1e-7) = 16` nats. After the
full training, the sigmoid + BCE decoder has at most half the negative log-likelihood per bit of
the clipped linear + MSE one; the few epochs of fast mode leave the two about equal, so there
only the first property is checked.
"""


def bernoulli_nll(x, p):
    """Mean negative log-likelihood per bit (nats) of the 0/1 data x under probabilities p (clipped into (0, 1))."""
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(np.mean(-x * np.log(p) - (1 - x) * np.log(1 - p)))


nll_bce, nll_mse = bernoulli_nll(binary, binary_bce), bernoulli_nll(binary, binary_mse)
print(f"negative log-likelihood per bit: sigmoid + BCE {nll_bce:.4f} nats, linear + MSE (clipped) {nll_mse:.4f} nats")
assert 0 < binary_bce.min() and binary_bce.max() < 1, "the masks' likelihood is defined: the outputs are probabilities"
if not FAST:
    assert nll_bce < 0.5 * nll_mse, "the masks' likelihood: sigmoid + BCE at most half the NLL of linear + MSE"

"""
### What does BCE's minimum look like?

For one output with target `x`, `L(x̂) = -x log x̂ - (1 - x) log(1 - x̂)` has derivative
`-x / x̂ + (1 - x) / (1 - x̂)`, which is 0 at `x̂ = x`: the minimizer is the target itself, for
*any* `x` in [0, 1]. But the minimum value is the entropy `H(x) = -x log x - (1 - x) log(1 - x)`,
which is 0 only for binary `x`. So with targets strictly between 0 and 1 (grey levels,
probabilities) a perfect reconstruction still has a positive loss, and a BCE value alone does not
say how close the reconstruction is; compare it with the targets' entropy, or use BCE for binary
data only. A grid search confirms both statements.
"""

grid_xhat = np.linspace(1e-4, 1 - 1e-4, 9999)
for target in (0.0, 0.3, 0.7, 1.0):
    losses = -target * np.log(grid_xhat) - (1 - target) * np.log(1 - grid_xhat)
    entropy = 0.0 if target in (0.0, 1.0) else -target * np.log(target) - (1 - target) * np.log(1 - target)
    best = grid_xhat[np.argmin(losses)]
    print(f"x = {target}: BCE is smallest at x̂ = {best:.4f}, where it is {losses.min():.4f} (H(x) = {entropy:.4f})")
    assert abs(best - np.clip(target, 1e-4, 1 - 1e-4)) < 2e-4 and abs(losses.min() - entropy) < 2e-3

"""
## Real inputs: linear + MSE versus a sigmoid decoder

A sigmoid cannot output negative values, so on the oscillations it misses every trough.
"""

mse_model, real_linear = train(real, "linear", "mse")
_, real_sigmoid = train(real, "sigmoid", "mse")
relative = lambda x_hat, x=real: float(np.sum((x_hat - x) ** 2) / np.sum(x**2))  # noqa: E731
rel_linear, rel_sigmoid = relative(real_linear), relative(real_sigmoid)
print(f"relative error on real data: linear + MSE {rel_linear:.4f}, sigmoid + MSE {rel_sigmoid:.4f}")

"""
A **tanh** decoder can go negative, but only inside (-1, 1). That suits the oscillations, whose
values lie in [-1, 1] (printed above), but not data that leave that range: the same signals
scaled by 2 (peaks at 2) get their peaks cut at 1, whatever the training. Data for a tanh decoder
must be scaled into (-1, 1) first (and the scaling undone after), or the decoder must be linear.
"""

doubled = 2 * real
_, doubled_tanh = train(doubled, "tanh", "mse")
rel_tanh_doubled = relative(doubled_tanh, doubled)
print(f"signals x 2 (range [{doubled.min():.2f}, {doubled.max():.2f}]): tanh decoder outputs in "
      f"[{doubled_tanh.min():.3f}, {doubled_tanh.max():.3f}], relative error {rel_tanh_doubled:.4f}")
assert np.abs(doubled_tanh).max() <= 1  # tanh's range (float32 rounds tanh of a large pre-activation to exactly 1)

"""
## The MSE gradient: dL/dh2 = 2 (x̂ - x)

Keras' `"mse"` averages over the `n = 50` outputs of each example; the lecture's per-unit loss is
the sum, `n` times that. We differentiate it with respect to the linear decoder's output `h2`.
"""

x_check = real[:64]
h2 = tf.Variable(mse_model.predict(x_check, verbose=0))
with tf.GradientTape() as tape:
    loss = 50 * tf.reduce_sum(keras.losses.mean_squared_error(x_check, h2))
grad_tape = tape.gradient(loss, h2).numpy()
grad_formula = 2 * (h2.numpy() - x_check)
mse_grad_error = float(np.max(np.abs(grad_tape - grad_formula)) / np.max(np.abs(grad_formula)))
print(f"MSE: max |tape - 2(x̂ - x)| / max |2(x̂ - x)| = {mse_grad_error:.2e}")

"""
## The BCE gradients, before and after the sigmoid

`a` is the pre-activation of the sigmoid decoder's last layer, computed from the trained
weights. Where the sigmoid is saturated in float32 (`|a| > 9`) the factors `1/x̂` and
`1/(1 - x̂)` lose all precision, so the check uses the other outputs (we print how many).
"""

x_check = binary[:256]
code = bce_model.encoder(x_check)
last = bce_model.get_layer("decoder_dense_0")
a_value = (keras.ops.matmul(code, last.kernel) + last.bias).numpy()
assert np.allclose(tf.sigmoid(a_value).numpy(), bce_model(x_check).numpy(), atol=1e-6)
keep = np.abs(a_value) < 9
print(f"checking {keep.mean():.1%} of the {keep.size} outputs")

x_hat = tf.Variable(tf.sigmoid(a_value))
with tf.GradientTape() as tape:
    loss = 50 * tf.reduce_sum(keras.losses.binary_crossentropy(x_check, x_hat))
dl_dxhat_tape = tape.gradient(loss, x_hat).numpy()
xh = x_hat.numpy()
dl_dxhat_formula = -x_check / xh + (1 - x_check) / (1 - xh)

a = tf.Variable(a_value)
with tf.GradientTape() as tape:
    loss = 50 * tf.reduce_sum(keras.losses.binary_crossentropy(x_check, keras.ops.sigmoid(a)))
dl_da_tape = tape.gradient(loss, a).numpy()
sig = tf.sigmoid(a_value).numpy()
dl_da_formula = dl_dxhat_formula * sig * (1 - sig)


def rel_err(tape_value, formula):
    return float(np.max(np.abs(tape_value - formula)[keep]) / np.max(np.abs(formula)[keep]))


bce_xhat_error = rel_err(dl_dxhat_tape, dl_dxhat_formula)
bce_a_error = rel_err(dl_da_tape, dl_da_formula)
print(f"BCE dL/dx̂: relative error {bce_xhat_error:.2e};  dL/da: relative error {bce_a_error:.2e}")
print("dL/da equals x̂ - x:", np.allclose(dl_da_tape[keep], (sig - x_check)[keep], atol=1e-5))

"""
## Why BCE goes with a sigmoid

For a target `x = 1`, the gradient reaching `a` is `x̂ - 1` with BCE, but `2 (x̂ - 1) σ'(a)` with
a squared error on a sigmoid: it vanishes exactly when the unit is confidently wrong
(`a` very negative). Both curves below come from `tf.GradientTape`.
"""

grid = tf.Variable(np.linspace(-10, 10, 201, dtype="float32")[:, None])
ones = np.ones((201, 1), "float32")
with tf.GradientTape(persistent=True) as tape:
    out = keras.ops.sigmoid(grid)
    bce = tf.reduce_sum(keras.losses.binary_crossentropy(ones, out))
    mse = tf.reduce_sum(keras.losses.mean_squared_error(ones, out))
grad_bce, grad_mse = tape.gradient(bce, grid).numpy()[:, 0], tape.gradient(mse, grid).numpy()[:, 0]

fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
i = int(np.argmax(binary.sum(axis=1) > 10))
axes[0].step(samples, binary[i], "k", where="mid", label="input")
axes[0].plot(binary_bce[i], "b", label="sigmoid + BCE")
axes[0].plot(binary_mse[i], "r--", label="linear + MSE")
axes[0].set(title="binary input", xlabel="sample", ylabel="value (output: probability of 1)")
axes[0].legend(fontsize=8)
j = len(real) // 2
axes[1].plot(real[j], "k", label="input")
axes[1].plot(real_linear[j], "b", label="linear + MSE")
axes[1].plot(real_sigmoid[j], "r--", label="sigmoid + MSE")
axes[1].set(title="real input", xlabel="sample", ylabel="value")
axes[1].legend(fontsize=8)
axes[2].plot(grid.numpy()[:, 0], np.abs(grad_bce), "b", label="BCE: |x̂ - x|")
axes[2].plot(grid.numpy()[:, 0], np.abs(grad_mse), "r--", label="MSE on sigmoid: |2(x̂ - x)σ'(a)|")
axes[2].set(title="|dL/da| for target x = 1", xlabel="pre-activation a", ylabel="|dL/da|")
axes[2].legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "02_decoder_activations_and_losses.png"), dpi=120)
plt.close(fig)

"""
## Result

The formulas match the tape to float32 precision. On binary masks, the sigmoid + BCE decoder
recovers the masks (its bit error is a small fraction of the 0-everywhere guess's), and so does the
linear + MSE decoder, the control: the case for BCE is not accuracy but the likelihood reading
(checked above: only the sigmoid's outputs are probabilities, and after full training they give
the masks a higher likelihood than the clipped linear outputs) and the gradient above. BCE's
minimizer is the target for any target in [0, 1], its minimum is 0 only for binary targets. On
real data with negative values only the linear decoder can follow the signal: the sigmoid one,
the control there, has several times its error, and a tanh decoder stops at ±1.
"""

print(f"RESULT grad_rel_err mse={mse_grad_error:.1e} bce_xhat={bce_xhat_error:.1e} bce_a={bce_a_error:.1e} "
      f"bit_error sigmoid_bce={bit_error_bce:.4f} linear_mse={bit_error_mse:.4f} all_zero={binary.mean():.4f} "
      f"linear_range=[{binary_mse.min():.3f}, {binary_mse.max():.3f}] "
      f"rel_err_real linear={rel_linear:.4f} sigmoid={rel_sigmoid:.4f} "
      f"nll_per_bit sigmoid_bce={nll_bce:.4f} linear_mse_clipped={nll_mse:.4f} "
      f"tanh_on_signals_x2: max={doubled_tanh.max():.3f} rel_err={rel_tanh_doubled:.4f}")
assert mse_grad_error < 1e-5 and bce_xhat_error < 1e-3 and bce_a_error < 1e-3
base_rate = float(binary.mean())  # bit error of a decoder that always outputs 0
assert binary_mse.min() < 0.0 or binary_mse.max() > 1.0  # the control's outputs are not probabilities
assert bit_error_bce < (0.5 if FAST else 0.1) * base_rate  # the masks are recovered, not guessed
assert rel_linear < 0.5 * rel_sigmoid  # on real data the sigmoid decoder (control) has at least twice the error
assert rel_tanh_doubled > rel_linear  # the tanh decoder cannot reach the peaks of the doubled signals
assert abs(grad_mse[0]) < 1e-3 and abs(grad_bce[0]) > 0.99  # at a = -10: MSE's gradient vanishes, BCE's is -1
