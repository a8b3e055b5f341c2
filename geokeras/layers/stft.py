"""In-graph short-time Fourier transform layers (forward and inverse) for fixed-length windows.

`STFT` turns a batch of windows ``(batch, signal_length, 1)`` into ``(batch, frames, bins, 2)`` (real and
imaginary parts as channels); `InverseSTFT` undoes it exactly (up to float32 rounding) and restores the
original length. Both pad the signal by ``frame_length - frame_step`` zeros on the left and at least as many
on the right, so every kept sample is covered by a full set of overlapping frames and
``tf.signal.inverse_stft_window_fn`` gives perfect reconstruction (Hann window, ``frame_step`` dividing
``frame_length`` by 2 or more). `ComplexMask` multiplies both channels by a real mask.

Example:
    >>> import numpy as np
    >>> from geokeras.layers.stft import STFT, InverseSTFT
    >>> x = np.random.default_rng(0).normal(size=(2, 3000, 1)).astype("float32")
    >>> spec = STFT(frame_length=64, frame_step=16)(x)
    >>> tuple(spec.shape)
    (2, 191, 33, 2)
    >>> y = InverseSTFT(signal_length=3000, frame_length=64, frame_step=16)(spec)
    >>> tuple(y.shape), bool(np.abs(np.asarray(y) - x).max() < 1e-4)
    ((2, 3000, 1), True)
"""
import keras
import tensorflow as tf

from geokeras.validation import check_choice, check_number, check_positive_int

_WINDOWS = {"hann": tf.signal.hann_window, "hamming": tf.signal.hamming_window}


def _check_framing(frame_length, frame_step, fft_length, window):
    """Return ``(frame_length, frame_step, fft_length)`` as Python ints after checking the framing."""
    frame_length = check_positive_int("frame_length", frame_length)
    frame_step = check_positive_int("frame_step", frame_step)
    fft_length = check_positive_int("fft_length", fft_length)
    if frame_step > frame_length // 2:
        raise ValueError(
            "Invalid value for argument `frame_step`. Expected at most frame_length // 2 "
            f"({frame_length // 2}) for an invertible transform. Received frame_step={frame_step}."
        )
    if fft_length < frame_length:
        raise ValueError(
            "Invalid value for argument `fft_length`. Expected fft_length >= frame_length "
            f"({frame_length}). Received fft_length={fft_length}."
        )
    check_choice("window", window, sorted(_WINDOWS))
    return frame_length, frame_step, fft_length


def stft_padding(signal_length, frame_length, frame_step):
    """Return ``(left, right, frames)``: the zero padding used by `STFT` and the number of frames.

    Args:
        signal_length: number of samples of the window.
        frame_length: STFT frame length in samples.
        frame_step: hop between frames in samples.

    Example:
        >>> stft_padding(3000, 64, 16)
        (48, 56, 191)
    """
    left = frame_length - frame_step
    total = signal_length + 2 * left
    right = left + (-(total - frame_length)) % frame_step
    frames = 1 + (signal_length + left + right - frame_length) // frame_step
    return left, right, frames


@tf.custom_gradient
def _as_pairs(z):
    """A complex64 tensor ``(..., n)`` seen as float32 ``(..., n, 2)`` (real, imaginary) without a copy.

    ``tf.bitcast`` has no gradient; this one is that of ``tf.stack([tf.math.real(z), tf.math.imag(z)], -1)``:
    ``tf.complex(g[..., 0], g[..., 1])``, the same bits seen the other way (so the layers still train).
    """
    def grad(g):
        return tf.bitcast(tf.cast(g, tf.float32), tf.complex64)
    return tf.bitcast(z, tf.float32), grad


@tf.custom_gradient
def _as_complex(pairs):
    """Float32 ``(..., n, 2)`` pairs seen as complex64 ``(..., n)`` without a copy; the gradient is that of
    ``tf.complex(pairs[..., 0], pairs[..., 1])`` (the real and imaginary parts of the incoming gradient)."""
    def grad(g):
        return tf.bitcast(tf.cast(g, tf.complex64), tf.float32)
    return tf.bitcast(pairs, tf.complex64), grad


@keras.saving.register_keras_serializable(package="geokeras")
class STFT(keras.layers.Layer):
    """Short-time Fourier transform of fixed-length windows, real and imaginary parts as channels.

    Args:
        frame_length: frame length in samples (default 64).
        frame_step: hop in samples, at most ``frame_length // 2`` (default 16).
        fft_length: FFT size, at least ``frame_length`` (default ``frame_length``); ``fft_length // 2 + 1``
            frequency bins.
        window: ``"hann"`` (default) or ``"hamming"``.

    Input shape: ``(batch, signal_length, 1)`` or ``(batch, signal_length)``.
    Output shape: ``(batch, frames, fft_length // 2 + 1, 2)`` with frames from `stft_padding`.
    """

    def __init__(self, frame_length=64, frame_step=16, fft_length=None, window="hann", **kwargs):
        super().__init__(**kwargs)
        fft_length = frame_length if fft_length is None else fft_length
        self.frame_length, self.frame_step, self.fft_length = _check_framing(
            frame_length, frame_step, fft_length, window)
        self.window = window

    def call(self, inputs):
        x = tf.convert_to_tensor(inputs, dtype="float32")
        if x.shape.rank == 3:
            x = x[..., 0]
        n = x.shape[-1]
        if n is None:
            raise ValueError("STFT needs a static signal length. Received an input with unknown length.")
        left, right, _ = stft_padding(n, self.frame_length, self.frame_step)
        x = tf.pad(x, [[0, 0], [left, right]])
        spec = tf.signal.stft(
            x, self.frame_length, self.frame_step, self.fft_length, window_fn=_WINDOWS[self.window], pad_end=False
        )
        # complex64 seen as float32 pairs (real, imaginary): the values of stacking tf.math.real and tf.math.imag,
        # without a copy (the stack cost as much as the FFT)
        return _as_pairs(spec)

    def compute_output_shape(self, input_shape):
        _, _, frames = stft_padding(input_shape[1], self.frame_length, self.frame_step)
        return (input_shape[0], frames, self.fft_length // 2 + 1, 2)

    def get_config(self):
        config = super().get_config()
        config.update(
            frame_length=self.frame_length, frame_step=self.frame_step, fft_length=self.fft_length, window=self.window
        )
        return config


@keras.saving.register_keras_serializable(package="geokeras")
class InverseSTFT(keras.layers.Layer):
    """Inverse of `STFT`: ``(batch, frames, bins, 2)`` back to ``(batch, signal_length, 1)``.

    Args:
        signal_length: the length of the original window (the padding of `STFT` is cropped away).
        frame_length, frame_step, fft_length, window: the same values as the forward `STFT`.
    """

    def __init__(self, signal_length, frame_length=64, frame_step=16, fft_length=None, window="hann", **kwargs):
        super().__init__(**kwargs)
        fft_length = frame_length if fft_length is None else fft_length
        self.signal_length = check_positive_int("signal_length", signal_length)
        self.frame_length, self.frame_step, self.fft_length = _check_framing(
            frame_length, frame_step, fft_length, window)
        self.window = window

    def call(self, inputs):
        # float32 pairs (real, imaginary) seen as complex64: the values of tf.complex(real, imag), without a copy
        spec = _as_complex(tf.cast(inputs, tf.float32))
        window_fn = tf.signal.inverse_stft_window_fn(self.frame_step, forward_window_fn=_WINDOWS[self.window])
        left, _, _ = stft_padding(self.signal_length, self.frame_length, self.frame_step)
        if self.frame_length == 2 * self.frame_step:
            return _inverse_half_overlap(spec, self.frame_length, self.fft_length, window_fn, left, self.signal_length)
        x = tf.signal.inverse_stft(spec, self.frame_length, self.frame_step, self.fft_length, window_fn=window_fn)
        return x[:, left : left + self.signal_length, None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.signal_length, 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            signal_length=self.signal_length,
            frame_length=self.frame_length,
            frame_step=self.frame_step,
            fft_length=self.fft_length,
            window=self.window,
        )
        return config


def _inverse_half_overlap(spec, frame_length, fft_length, window_fn, left, signal_length):
    """`tf.signal.inverse_stft` for frames overlapping by half, cropped to ``[left, left + signal_length)``.

    Every kept sample is the sum of exactly two windowed frames (the second half of frame ``k - 1`` and the first
    half of frame ``k``; ``left`` is one hop), so the overlap-add is one addition of two slices, with the same
    values as TensorFlow's general overlap-add (a pad, a transpose and a reduction over memory several times the
    signal's size), and only the kept samples are assembled.
    """
    step = frame_length // 2
    frames = tf.signal.irfft(spec, [fft_length])[..., :frame_length]
    frames = frames * window_fn(frame_length, dtype=tf.float32)
    x = frames[:, 1:, :step] + frames[:, :-1, step:]  # block k >= 1 of the output: samples [k * step, (k + 1) * step)
    blocks = x.shape[1]
    x = tf.reshape(x, (-1, blocks * step) if blocks is not None else (tf.shape(x)[0], -1))
    start = left - step  # the output's first block (k = 1) starts at sample `step`
    return x[:, start : start + signal_length, None]


@keras.saving.register_keras_serializable(package="geokeras")
class LogPower(keras.layers.Layer):
    """Append ``log(real**2 + imag**2 + epsilon)`` as a third channel to a two-channel spectrogram.

    Gives a mask network the local power on a compressed scale next to the raw real and imaginary parts.

    Args:
        epsilon: floor added to the power before the logarithm (default 1e-4, for a standardized window).

    Example:
        >>> import numpy as np
        >>> out = LogPower(epsilon=1e-4)(np.ones((1, 2, 3, 2), "float32"))
        >>> tuple(out.shape), round(float(np.asarray(out)[0, 0, 0, 2]), 4)
        ((1, 2, 3, 3), 0.6932)
    """

    def __init__(self, epsilon=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_number("epsilon", epsilon, low=0.0, low_open=True)

    def call(self, inputs):
        power = tf.reduce_sum(tf.square(inputs), axis=-1, keepdims=True)
        return tf.concat([inputs, tf.math.log(power + self.epsilon)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + 1,)

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="geokeras")
class ComplexMask(keras.layers.Layer):
    """Multiply a two-channel (real, imaginary) spectrogram by a one-channel real mask.

    Call with ``[spectrogram, mask]``: shapes ``(batch, frames, bins, 2)`` and ``(batch, frames, bins, 1)``.

    Example:
        >>> import numpy as np
        >>> spec = np.ones((1, 3, 2, 2), "float32")
        >>> mask = np.full((1, 3, 2, 1), 0.5, "float32")
        >>> float(np.asarray(ComplexMask()([spec, mask])).max())
        0.5
    """

    def call(self, inputs):
        spec, mask = inputs
        if spec.dtype == tf.float32 and mask.dtype == tf.float32 and spec.shape[-1] == 2 and mask.shape[-1] == 1:
            # a complex product by (mask + 0i): the same values as the broadcast product (x * m - y * 0 is x * m),
            # in a third of its time (TensorFlow's broadcast over the last axis is slow)
            mask = mask[..., 0]
            product = _as_complex(spec) * tf.cast(mask, tf.complex64)
            return _as_pairs(product)
        return spec * mask

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="geokeras")
class SignInvariantFeatures(keras.layers.Layer):
    """Features of a two-channel spectrogram that do not change when the waveform changes sign.

    A mask computed only from these features is the same for ``x`` and ``-x``, so a mask denoiser built on
    them is odd by construction: ``f(-x) == -f(x)`` to the last bit (the STFT, the mask product and the
    inverse STFT are linear). Five channels per time-frequency cell ``X[t, f]``:

    1. ``log(|X|^2 + epsilon)``, the log power;
    2-3. real and imaginary parts of ``X[t, f] * conj(X[t-1, f]) / (|X[t, f]| |X[t-1, f]| + epsilon)``: the
       phase advance from the previous frame (instantaneous frequency), zero for the first frame;
    4-5. the same between neighbouring frequency bins ``X[t, f] * conj(X[t, f-1])`` (local group delay),
       zero for the first bin.

    Products of two cells keep no sign: ``(-a) * conj(-b) == a * conj(b)`` exactly in floating point.

    With ``noise_quantile=q`` a sixth channel is added: the log power minus its ``q``-quantile over the window's
    frames, per frequency bin (a noise-floor estimate in the manner of minimum statistics). It tells each cell
    how far it stands above the window's own noise spectrum, a comparison across the whole window that the
    U-Net's receptive field does not reach; it is computed from the log power only, so it keeps no sign either.

    Args:
        epsilon: floor for the logarithm and the normalization (default 1e-4, for a standardized window).
        noise_quantile: ``None`` (default: five channels) or a number in ``[0, 1]``, the quantile over frames
            taken as each bin's noise floor (the sixth channel).

    Example:
        >>> import numpy as np
        >>> spec = np.random.default_rng(0).normal(size=(1, 4, 3, 2)).astype("float32")
        >>> layer = SignInvariantFeatures()
        >>> out = np.asarray(layer(spec))
        >>> out.shape, bool(np.array_equal(out, np.asarray(layer(-spec))))
        ((1, 4, 3, 5), True)
    """

    def __init__(self, epsilon=1e-4, noise_quantile=None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_number("epsilon", epsilon, low=0.0, low_open=True)
        self.noise_quantile = (None if noise_quantile is None
                               else check_number("noise_quantile", noise_quantile, low=0.0, high=1.0))

    def _phase_step(self, re, im, axis):
        # X[i] * conj(X[i-1]) along `axis` (1: frames, 2: bins), normalized; zero at i = 0
        n = re.shape[axis]
        cur_re, cur_im = (re[:, 1:], im[:, 1:]) if axis == 1 else (re[:, :, 1:], im[:, :, 1:])
        prev_re, prev_im = (re[:, : n - 1], im[:, : n - 1]) if axis == 1 else (re[:, :, : n - 1], im[:, :, : n - 1])
        prod_re = cur_re * prev_re + cur_im * prev_im
        prod_im = cur_im * prev_re - cur_re * prev_im
        norm = tf.sqrt((cur_re * cur_re + cur_im * cur_im) * (prev_re * prev_re + prev_im * prev_im)) + self.epsilon
        pad = [[0, 0], [1, 0], [0, 0]] if axis == 1 else [[0, 0], [0, 0], [1, 0]]
        return tf.pad(prod_re / norm, pad), tf.pad(prod_im / norm, pad)

    def call(self, inputs):
        re, im = inputs[..., 0], inputs[..., 1]
        log_power = tf.math.log(re * re + im * im + self.epsilon)
        t_re, t_im = self._phase_step(re, im, axis=1)
        f_re, f_im = self._phase_step(re, im, axis=2)
        channels = [log_power, t_re, t_im, f_re, f_im]
        if self.noise_quantile is not None:
            frames = log_power.shape[1]
            rank = int(round(self.noise_quantile * (frames - 1)))
            floor = tf.sort(log_power, axis=1)[:, rank : rank + 1]  # (batch, 1, bins)
            channels.append(log_power - floor)
        return tf.stack(channels, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (5 if self.noise_quantile is None else 6,)

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon, noise_quantile=self.noise_quantile)
        return config
