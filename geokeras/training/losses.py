"""Training losses of the denoisers: mean squared error, optionally with a penalty on bursty residual noise.

A continuous record is mostly noise, and an STA/LTA detector at a fixed false-alarm rate is hurt less by how
much noise a denoiser leaves than by how unevenly it leaves it: residual noise that comes in bursts raises
the threshold (issue 15). `NoiseStationarityMSE` adds to the mean squared error, on the noise-only pairs of
a batch (clean target exactly zero), the variance over short blocks of the log power of the output: zero
for a residual of steady power (including none at all), large for a residual that comes in bursts.

Example:
    >>> import numpy as np
    >>> loss = NoiseStationarityMSE(weight=1.0, block=100)
    >>> t = np.zeros((2, 1000, 1), "float32")                       # two noise-only pairs
    >>> steady = np.random.default_rng(0).normal(size=(1, 1000, 1)).astype("float32") * 0.1
    >>> bursty = steady.copy(); bursty[:, :100] *= 30.0              # one loud block in ten
    >>> per_pair = loss.call(t, np.concatenate([steady, bursty]))
    >>> float(per_pair[0]) < 0.05 < 1.0 < float(per_pair[1])
    True
"""
import keras
from keras import ops

from geokeras.validation import check_number, check_positive_int

__all__ = ["NoiseStationarityMSE", "BlockLogPowerMSE"]


def _flat_pairs(y_true, y_pred):
    """``(true, pred, n)``: both as float32 ``(batch, n)``, ``n`` the static window length (times channels)."""
    y_true = ops.convert_to_tensor(y_true, dtype="float32")
    y_pred = ops.convert_to_tensor(y_pred, dtype="float32")
    n = 1
    for size in y_pred.shape[1:]:  # static: the window length (times channels) of the model
        n *= size
    return ops.reshape(y_true, (-1, n)), ops.reshape(y_pred, (-1, n)), n


def _block_log_power(x, block, eps):
    """``log(P_b + eps)`` of ``x`` ``(batch, n)`` in blocks of ``block`` samples (the tail left out)."""
    n_blocks = x.shape[1] // block
    if not n_blocks:
        raise ValueError(f"Invalid value for argument `block`. Expected at most the window length "
                         f"({x.shape[1]} samples). Received block={block}.")
    blocks = ops.reshape(x[:, :n_blocks * block], (-1, n_blocks, block))
    return ops.log(ops.mean(ops.square(blocks), axis=2) + eps)


@keras.saving.register_keras_serializable(package="geokeras")
class NoiseStationarityMSE(keras.losses.Loss):
    """Mean squared error plus ``weight`` x the block-power variability of the output on noise-only pairs,
    optionally plus ``gain_weight`` x the squared amplitude bias of the output along the signal.

    For each pair: ``mean((y_pred - y_true)**2)``, plus, where ``y_true`` is zero everywhere (a noise-only
    pair: the output is all residual noise), ``weight * var_b(log(P_b + eps))`` with ``P_b`` the mean square
    of the output in block ``b`` of ``block`` samples (the tail shorter than a block is left out) and
    ``eps`` on the normalized scale of the training pairs (noisy windows of unit standard deviation).
    With ``gain_weight``, each pair with a signal also adds ``gain_weight * (1 - g)**2``, where
    ``g = sum(y_pred * y_true) / sum(y_true**2)`` is the least-squares gain of the output along the clean
    signal: the mean squared error alone lets a weak signal shrink (at -10 dB its error weighs little), this
    term costs the same whatever the signal's level, so an event's amplitude is kept at low SNR too. A pair
    whose signal's mean square is below 1e-6 (60 dB under the unit-variance noisy window) has no such term.

    Args:
        weight: weight of the variability term (0 gives the mean squared error).
        block: block length in samples (100: 1 s at 100 Hz, the block of the detection benchmark's
            stationarity figure).
        eps: power added before the logarithm: a residual far below it counts as steady.
        gain_weight: weight of the amplitude-bias term on the pairs with a signal (default 0: none).
        name, reduction: as for ``keras.losses.Loss``.

    Input shapes: ``(batch, time)`` or ``(batch, time, channels)``; returns one value per pair.
    """

    def __init__(self, weight=0.03, block=100, eps=1e-3, name="noise_stationarity_mse",
                 reduction="sum_over_batch_size", gain_weight=0.0):
        super().__init__(name=name, reduction=reduction)
        self.weight = check_number("weight", weight, low=0.0)
        self.gain_weight = check_number("gain_weight", gain_weight, low=0.0)
        self.block = check_positive_int("block", block)
        self.eps = check_number("eps", eps, low=0.0, low_open=True)

    def call(self, y_true, y_pred):
        true, pred, n = _flat_pairs(y_true, y_pred)
        mse = ops.mean(ops.square(pred - true), axis=1)
        if self.gain_weight:
            energy = ops.sum(ops.square(true), axis=1)
            # a signal 60 dB below the unit-variance noisy window counts as none: its gain is ill-defined
            least = 1e-6 * n
            gain = ops.sum(pred * true, axis=1) / ops.maximum(energy, least)
            mse = mse + self.gain_weight * ops.cast(energy > least, "float32") * ops.square(1.0 - gain)
        if not self.weight:
            return mse
        log_power = _block_log_power(pred, self.block, self.eps)
        noise_only = ops.cast(ops.max(ops.abs(true), axis=1) == 0, "float32")
        return mse + self.weight * noise_only * ops.var(log_power, axis=1)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "weight": self.weight, "block": self.block,
                "eps": self.eps, "gain_weight": self.gain_weight}


@keras.saving.register_keras_serializable(package="geokeras")
class BlockLogPowerMSE(keras.losses.Loss):
    """Mean squared error plus ``weight`` x the squared error of the output's log power in short blocks.

    For each pair: ``mean((y_pred - y_true)**2) + weight * mean_b((log(P_b(y_pred) + eps) - log(P_b(y_true) +
    eps))**2)``, with ``P_b`` the mean square in block ``b`` of ``block`` samples (the tail shorter than a block is
    left out). The log-power term is what a short-term-average detector sees: it costs a burst of residual noise
    (output louder than the target) as much as a weak event held back (quieter), whatever the event's level,
    where the mean squared error weighs a weak event's loss by its small energy. With a target that keeps a
    fraction of the noise (`train_denoiser`'s ``target_floor``: ``clean + floor * noise``) the term asks for a
    residual of steady power, the floor's, between events (issue 15).

    Args:
        weight: weight of the log-power term (0 gives the mean squared error).
        block: block length in samples (50: 0.5 s at 100 Hz, the short-term window of the detection benchmark).
        eps: power added before the logarithms, on the normalized scale of the training pairs (noisy windows of
            unit standard deviation).
        name, reduction: as for ``keras.losses.Loss``.

    Input shapes: ``(batch, time)`` or ``(batch, time, channels)``; returns one value per pair.

    Example:
        >>> import numpy as np
        >>> loss = BlockLogPowerMSE(weight=1.0, block=50)
        >>> target = 0.3 * np.random.default_rng(0).normal(size=(1, 1000, 1)).astype("float32")
        >>> burst, dip = target.copy(), target.copy()
        >>> burst[:, :50] *= 3.0; dip[:, :50] /= 3.0                      # one block of 20 too loud, too quiet
        >>> float(loss.call(target, target)[0])
        0.0
        >>> loud, quiet = loss.call(np.concatenate([target, target]), np.concatenate([burst, dip]))
        >>> round(float(loud), 2), round(float(quiet), 2)   # log term up to (ln 9)^2 / 20 = 0.24 each, + MSE
        (0.25, 0.22)
    """

    def __init__(self, weight=0.1, block=50, eps=1e-3, name="block_log_power_mse", reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        self.log_power_weight = check_number("weight", weight, low=0.0)
        self.block = check_positive_int("block", block)
        self.eps = check_number("eps", eps, low=0.0, low_open=True)

    def call(self, y_true, y_pred):
        true, pred, _ = _flat_pairs(y_true, y_pred)
        mse = ops.mean(ops.square(pred - true), axis=1)
        if not self.log_power_weight:
            return mse
        error = _block_log_power(pred, self.block, self.eps) - _block_log_power(true, self.block, self.eps)
        return mse + self.log_power_weight * ops.mean(ops.square(error), axis=1)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "weight": self.log_power_weight,
                "block": self.block, "eps": self.eps}
