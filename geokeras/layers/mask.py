"""Post-processing of a spectrogram mask so that the residual noise stays steady (issue 15).

A ratio mask predicted bin by bin suppresses noise deeply most of the time and lets it through in short
bursts where the network mistakes a noise bin for signal ("musical noise"). On a continuous record the
bursts set an STA/LTA detector's false-trigger rate, so the threshold must rise and the events that the
denoising made stand out are missed again. `MaskSmoothing` averages the mask over a few neighbouring
frames and frequency bins (an isolated burst bin is diluted by its suppressed neighbours, a seismic phase
that fills many bins is not) and then lifts it to a floor, so that the residual noise is a steady,
attenuated copy of the input noise: ``floor + (1 - floor) * mean(mask)`` over a
``time_frames x freq_bins`` neighbourhood (the mean counts only the bins inside the spectrogram, so the
edges are not pulled down).

The mask stays a function of the sign-invariant features, so ``denoise(-x) == -denoise(x)`` still holds
exactly; the output stays in ``[floor, 1]``.

Example:
    >>> import numpy as np
    >>> mask = np.zeros((1, 9, 5, 1), "float32")
    >>> mask[0, 4, 2, 0] = 1.0  # one isolated burst bin
    >>> out = np.asarray(MaskSmoothing(floor=0.1, time_frames=3, freq_bins=3)(mask))
    >>> round(float(out.min()), 3), round(float(out.max()), 3)
    (0.1, 0.2)
"""
import keras
import tensorflow as tf

from geokeras.validation import check_choice, check_number, check_positive_int


STATISTICS = ("mean", "median", "opening")  # what `MaskSmoothing` computes over its neighbourhood


@keras.saving.register_keras_serializable(package="geokeras")
class MaskSmoothing(keras.layers.Layer):
    """Average a ``(batch, frames, bins, 1)`` mask over a neighbourhood, then lift it to a floor.

    Args:
        floor: minimum gain in ``[0, 1)`` (default 0: no floor).
        time_frames: odd neighbourhood length in frames (default 1: no smoothing in time).
        freq_bins: odd neighbourhood length in frequency bins (default 1).
        statistic: ``"mean"`` (default) or ``"median"`` over the neighbourhood (a median removes a burst
            shorter than half the neighbourhood and keeps the sharp onset of a longer one), or ``"opening"``:
            the morphological opening (the minimum over the neighbourhood, then the maximum over it), which
            removes every peak narrower than the neighbourhood and leaves wider ones exactly as they were.
        exponent: the (smoothed) mask is raised to this power before the floor (default 1): above 1, bins
            the network is unsure of (mask 0.5) are suppressed more than bins it is sure of (mask near 1).

    Input and output shape: ``(batch, frames, bins, 1)``.
    """

    def __init__(self, floor=0.0, time_frames=1, freq_bins=1, statistic="mean", exponent=1.0, **kwargs):
        super().__init__(**kwargs)
        self.floor = check_number("floor", floor, low=0.0, high=1.0, high_open=True)
        self.time_frames = _check_odd("time_frames", time_frames)
        self.freq_bins = _check_odd("freq_bins", freq_bins)
        self.statistic = check_choice("statistic", statistic, STATISTICS)
        self.exponent = check_number("exponent", exponent, low=0.0, low_open=True)

    def call(self, inputs):
        mask = tf.convert_to_tensor(inputs, dtype="float32")
        if self.time_frames > 1 or self.freq_bins > 1:
            if self.statistic == "mean":
                size = [1, self.time_frames, self.freq_bins, 1]
                # TensorFlow's SAME average pooling divides by the number of bins inside the input.
                mask = tf.nn.avg_pool2d(mask, ksize=size, strides=1, padding="SAME")
            elif self.statistic == "median":
                mask = _median(mask, self.time_frames, self.freq_bins)
            else:
                size = [1, self.time_frames, self.freq_bins, 1]
                low = -tf.nn.max_pool2d(-mask, ksize=size, strides=1, padding="SAME")  # erosion
                mask = tf.nn.max_pool2d(low, ksize=size, strides=1, padding="SAME")  # dilation
        if self.exponent != 1.0:
            mask = tf.pow(mask, self.exponent)
        if self.floor:
            mask = self.floor + (1.0 - self.floor) * mask
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(floor=self.floor, time_frames=self.time_frames, freq_bins=self.freq_bins,
                      statistic=self.statistic, exponent=self.exponent)
        return config


def _median(mask, time_frames, freq_bins):
    """Median over a ``time_frames x freq_bins`` neighbourhood, the edges extended by repetition."""
    dt, df = time_frames // 2, freq_bins // 2
    padded = tf.pad(mask, [[0, 0], [dt, dt], [df, df], [0, 0]], mode="SYMMETRIC")
    frames, bins = tf.shape(mask)[1], tf.shape(mask)[2]
    shifted = [padded[:, i:i + frames, j:j + bins, :] for i in range(time_frames) for j in range(freq_bins)]
    values = tf.sort(tf.concat(shifted, axis=-1), axis=-1)
    return values[..., len(shifted) // 2:len(shifted) // 2 + 1]


def _check_odd(name, value):
    value = check_positive_int(name, value)
    if value % 2 == 0:
        raise ValueError(f"Invalid value for argument `{name}`. Expected an odd positive integer (a centred "
                         f"neighbourhood). Received {name}={value}.")
    return value


COMPONENT_STATISTICS = ("median", "mean", "own", "median-max")  # how `ComponentMask` combines a station's masks


@keras.saving.register_keras_serializable(package="geokeras")
class ComponentMask(keras.layers.Layer):
    """Give every component of a station the same mask: the median (or mean) of their masks, cell by cell.

    A noise burst that a single-component mask lets through is, at a station, mostly a fluctuation of one
    component's noise; an earthquake is on all three components at once. Combining the three masks of the
    same window (same frames, same bins) keeps what the components agree on and suppresses what only one of
    them shows. The median of three keeps a phase that two components carry whole (a P wave on Z and on the
    radial horizontal); the mean also lets a phase on one component lift the others a little.

    Each combined value is computed from the masks alone, so a denoiser whose masks come from sign-invariant
    features stays odd in each component separately.

    Args:
        statistic: ``"median"`` (default; for an even number of components, the mean of the two middle
            values), ``"mean"``, ``"own"`` (each component keeps its own mask: the single-component denoiser,
            for comparisons) or ``"median-max"``: the last component (the vertical: geokeras puts it last in every
            station group) gets the median, every other component the larger of its own mask and the median, cell
            by cell. The median holds back what only one horizontal shows, and with it part of an S wave that is
            strong on one horizontal alone; ``"median-max"`` gives the horizontals that back (their weak events'
            amplitudes, for magnitudes) at a little of the median's SNR gain, the vertical unchanged (session 17).

    Input: a list of ``C >= 1`` masks ``(batch, frames, bins, 1)``. Output: a list of ``C`` masks of that shape.

    Example:
        >>> import numpy as np
        >>> masks = [np.full((1, 2, 2, 1), v, "float32") for v in (0.25, 0.875, 0.5)]
        >>> [float(np.asarray(m)[0, 0, 0, 0]) for m in ComponentMask("median")(masks)]
        [0.5, 0.5, 0.5]
        >>> [float(np.asarray(m)[0, 0, 0, 0]) for m in ComponentMask("median-max")(masks)]  # E, N, then Z
        [0.5, 0.875, 0.5]
    """

    def __init__(self, statistic="median", **kwargs):
        super().__init__(**kwargs)
        self.statistic = check_choice("statistic", statistic, COMPONENT_STATISTICS)

    def call(self, inputs):
        masks = [tf.convert_to_tensor(m, dtype="float32") for m in inputs]
        if self.statistic == "own" or len(masks) == 1:
            return list(masks)
        if self.statistic == "median-max":
            combined = _combine(masks, "median")
            return [tf.maximum(m, combined) for m in masks[:-1]] + [combined]
        return [_combine(masks, self.statistic)] * len(masks)

    def compute_output_shape(self, input_shape):
        return [tuple(s) for s in input_shape]

    def get_config(self):
        config = super().get_config()
        config.update(statistic=self.statistic)
        return config


@keras.saving.register_keras_serializable(package="geokeras")
class SplitComponents(keras.layers.Layer):
    """Split ``(batch, length, C)`` windows into a list of ``C`` single-component windows ``(batch, length, 1)``.

    Example:
        >>> import numpy as np
        >>> parts = SplitComponents()(np.arange(6, dtype="float32").reshape(1, 2, 3))
        >>> [np.asarray(p)[0, :, 0].tolist() for p in parts]
        [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    """

    def call(self, inputs):
        x = tf.convert_to_tensor(inputs)
        return [x[..., i:i + 1] for i in range(x.shape[-1])]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[:-1]) + (1,)] * input_shape[-1]


def _combine(masks, statistic):
    """The cell-by-cell ``"median"`` (the mean of the two middle values for an even count) or ``"mean"`` of a
    list of float32 masks ``(batch, frames, bins, 1)``."""
    stacked = tf.concat(masks, axis=-1)
    if statistic == "mean":
        return tf.reduce_mean(stacked, axis=-1, keepdims=True)
    ordered = tf.sort(stacked, axis=-1)
    c = len(masks)
    combined = ordered[..., c // 2:c // 2 + 1]
    if c % 2 == 0:
        combined = 0.5 * (combined + ordered[..., c // 2 - 1:c // 2])
    return combined


ENSEMBLE_STATISTICS = ("median", "mean")  # how `EnsembleMask` combines its networks' masks


@keras.saving.register_keras_serializable(package="geokeras")
class EnsembleMask(keras.layers.Layer):
    """One mask from the masks of several networks for the same window: their median (or mean), cell by cell.

    Networks trained alike from different random starts make different mistakes on noise: a bin of noise that one
    network takes for signal ("musical noise") is seldom taken for signal by the others, while a seismic phase is
    signal to all of them. The median of their masks keeps what they agree on (`geokeras.models.ensemble`).

    Args:
        statistic: ``"median"`` (default; for an even number of masks, the mean of the two middle values) or
            ``"mean"``.

    Input: a list of ``K >= 1`` masks ``(batch, frames, bins, 1)``. Output: one mask of that shape.

    Example:
        >>> import numpy as np
        >>> masks = [np.full((1, 2, 2, 1), v, "float32") for v in (0.25, 0.875, 0.5)]
        >>> float(np.asarray(EnsembleMask("median")(masks))[0, 0, 0, 0])
        0.5
    """

    def __init__(self, statistic="median", **kwargs):
        super().__init__(**kwargs)
        self.statistic = check_choice("statistic", statistic, ENSEMBLE_STATISTICS)

    def call(self, inputs):
        masks = [tf.convert_to_tensor(m, dtype="float32") for m in inputs]
        return masks[0] if len(masks) == 1 else _combine(masks, self.statistic)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(statistic=self.statistic)
        return config
