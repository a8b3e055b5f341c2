"""In-graph per-window standardization and its inverse, so a denoiser takes raw counts at any scale.

`WindowStandardization` returns ``[(x - mean) / (std + epsilon), std]`` per window (statistics over the time
axis of each sample and channel); `WindowRescale` multiplies a network output by that ``std`` to go back to the
input's units. An all-zero window gives a zero normalized window and a zero ``std``, so the rescaled output is
exactly zero (no division by zero, no NaN). The mean is not added back: like a band-pass filter, a denoiser
built from these layers removes the window's DC offset.

This is geokeras' one window standardization, `geokeras.data.normalize.standardize`, written with Keras ops
(``tests/test_normalization.py`` pins the two, and the training normalization, on the same windows). The
only difference is the divisor ``std + epsilon`` instead of ``std`` (1 for a flat window): the same numbers
in float32 for any window with a standard deviation above about 1e-12, and for an all-zero window. One
float32 corner: a constant window whose mean does not round exactly demeans to a tiny constant ``d``; the
layer (which does not recenter before the standard deviation) normalizes it to ``sign(d)`` where NumPy gives
``d``, and the rescaled output is ``d`` (negligible) either way.

`WindowStandardization` can also carry the ``sampling_rate`` and ``window_length`` a denoiser was trained for,
in its config, so that `geokeras.models.denoiser.denoiser_info` reads them from a reloaded ``.keras`` file.

Example:
    >>> import numpy as np
    >>> from geokeras.layers.normalization import WindowStandardization, WindowRescale
    >>> x = np.array([[[1.0], [3.0], [5.0], [7.0]]], "float32") * 1000
    >>> xn, std = WindowStandardization()(x)
    >>> [round(float(v), 3) for v in np.asarray(xn)[0, :, 0]], round(float(np.asarray(std)[0, 0, 0]), 1)
    ([-1.342, -0.447, 0.447, 1.342], 2236.1)
    >>> np.allclose(np.asarray(WindowRescale()([xn, std])), x - x.mean())
    True
"""
import keras
from keras import ops

from geokeras.validation import check_number, check_positive_int, check_range


def _pair(name, value):
    """None, or ``value`` as a list ``[low, high]`` of floats with 0 <= low < high (JSON-friendly)."""
    pair = check_range(name, value, low=0.0, strict=True, allow_none=True)
    return None if pair is None else list(pair)


@keras.saving.register_keras_serializable(package="geokeras")
class WindowStandardization(keras.layers.Layer):
    """Standardize each window: subtract its mean, divide by its standard deviation plus ``epsilon``.

    Args:
        epsilon: added to the standard deviation (default 1e-20, small enough for data in SI units such
            as m/s; float32 squares limit the usable amplitudes to about 1e-18 and above).
        sampling_rate: optional metadata (Hz) stored in the config, not used in the computation.
        window_length: optional metadata (samples) stored in the config, not used in the computation.
        band_hz: optional metadata ``(fmin, fmax)``: the frequency band a denoiser was trained for.
        sampling_rate_range_hz: optional metadata ``(low, high)``: the record sampling rates a denoiser
            accepts (records are resampled to ``sampling_rate`` and back).
        provenance: optional metadata, a JSON-friendly dict (str keys; str, numbers, lists, dicts): where the
            weights come from (``geokeras adapt`` writes the base model's sha256, the station, the noise
            hours and the before/after figures there). Left out of the config when None.

    Input shape: ``(batch, time, channels)``. Outputs: ``[normalized (batch, time, channels),
    std (batch, 1, channels)]``.
    """

    def __init__(self, epsilon=1e-20, sampling_rate=None, window_length=None, band_hz=None,
                 sampling_rate_range_hz=None, provenance=None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_number("epsilon", epsilon, low=0.0, low_open=True)
        self.sampling_rate = (None if sampling_rate is None
                              else check_number("sampling_rate", sampling_rate, low=0.0, low_open=True))
        self.window_length = check_positive_int("window_length", window_length, allow_none=True, allow_float=True)
        self.band_hz = _pair("band_hz", band_hz)
        self.sampling_rate_range_hz = _pair("sampling_rate_range_hz", sampling_rate_range_hz)
        if provenance is not None and not isinstance(provenance, dict):
            raise ValueError("Invalid value for argument `provenance`. Expected None or a dict. "
                             f"Received provenance of type {type(provenance).__name__}.")
        self.provenance = provenance

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean = ops.mean(x, axis=1, keepdims=True)
        centered = x - mean
        std = ops.sqrt(ops.mean(ops.square(centered), axis=1, keepdims=True))
        return [centered / (std + self.epsilon), std]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape), (input_shape[0], 1, input_shape[2])]

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon, sampling_rate=self.sampling_rate, window_length=self.window_length,
                      band_hz=self.band_hz, sampling_rate_range_hz=self.sampling_rate_range_hz)
        if self.provenance is not None:  # absent otherwise: the configs of earlier files are unchanged
            config["provenance"] = self.provenance
        return config


@keras.saving.register_keras_serializable(package="geokeras")
class WindowRescale(keras.layers.Layer):
    """Inverse of `WindowStandardization`'s scaling: call with ``[normalized, std]``, returns ``normalized * std``.

    Example:
        >>> import numpy as np
        >>> y = WindowRescale()([np.ones((1, 3, 1), "float32"), np.full((1, 1, 1), 4.0, "float32")])
        >>> np.asarray(y)[0, :, 0].tolist()
        [4.0, 4.0, 4.0]
    """

    def call(self, inputs):
        normalized, std = inputs
        return normalized * std

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
