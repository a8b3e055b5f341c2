"""Seismic waveform denoisers: a time-domain Conv1D U-Net and a spectrogram-mask Conv2D U-Net.

Both take raw float32 windows ``(batch, window_length, 1)`` in counts (any scale) and return the denoised
window with the same shape and units. Per-window standardization (and, for the mask family, the STFT and
its inverse) run inside the Keras graph with registered layers only, so a saved ``.keras`` file loads with
``safe_mode=True`` and an exported SavedModel needs no Python glue. The window's mean is removed (the output
has zero mean per window).

- ``"unet1d"`` (`build_unet1d_denoiser`): Conv1D encoder with strided convolutions, Conv1DTranspose decoder,
  concatenated skip connections, a linear output on the normalized scale.
- ``"stftmask"`` (`build_stft_mask_denoiser`): the DeepDenoiser approach: STFT of the normalized window
  (real and imaginary parts as two channels), a Conv2D U-Net predicting a signal mask in [0, 1] per
  time-frequency cell, the mask applied to the complex STFT, inverse STFT.

Example:
    >>> import numpy as np
    >>> model = build_denoiser("unet1d", window_length=1000, sampling_rate=50.0)
    >>> x = np.random.default_rng(0).normal(size=(2, 1000, 1)).astype("float32") * 500
    >>> tuple(model(x).shape)
    (2, 1000, 1)
    >>> denoiser_info(model)
    {'sampling_rate': 50.0, 'window_length': 1000, 'band_hz': (1.0, 22.5), 'sampling_rate_range_hz': (10.0, 125.0)}

Declared validity. Each denoiser stores the band it was trained for (``band_hz``, default 1 Hz to 0.45 x its
rate) and the record sampling rates it accepts (``sampling_rate_range_hz``, default 0.2 to 2.5 x its rate):
a record sampled outside that range is not resampled to the model's rate and denoised, it is refused or
passed through (`geokeras.denoise`). A 1 Hz LH record holds nothing a 100 Hz model was trained on.

Sign symmetry. ``build_stft_mask_denoiser(..., sign_invariant=True)`` computes the mask from
`SignInvariantFeatures` only, so ``model(-x) == -model(x)`` exactly: ground motion has no preferred sign.
"""
import math

import keras

from geokeras.validation import check_choice, check_int_sequence, check_number, check_positive_int
from geokeras.layers.normalization import WindowRescale, WindowStandardization
from geokeras.layers.mask import MaskSmoothing
from geokeras.layers.stft import STFT, ComplexMask, InverseSTFT, LogPower, SignInvariantFeatures, stft_padding
from geokeras.models.blocks import apply_unet_block


def _check_common(window_length, sampling_rate, filters, skip, **positive_ints):
    """Validate the builders' arguments; return ``(window_length, sampling_rate, filters)`` normalized."""
    window_length = check_positive_int("window_length", window_length)
    if window_length < 16:
        raise ValueError(
            "Invalid value for argument `window_length`. Expected an integer >= 16. "
            f"Received window_length={window_length!r}."
        )
    sampling_rate = check_number("sampling_rate", sampling_rate, low=0.0, low_open=True)
    filters = check_int_sequence("filters", filters, allow_scalar=False)
    check_choice("skip", skip, ("add", "concat"))
    for arg, value in positive_ints.items():
        if value is not None:
            check_positive_int(arg, value)
    return window_length, sampling_rate, filters


def _default_validity(sampling_rate, band_hz=None, sampling_rate_range_hz=None):
    """``(band_hz, sampling_rate_range_hz)`` with the defaults for a model at ``sampling_rate`` filled in."""
    band_hz = (1.0, 0.45 * sampling_rate) if band_hz is None else band_hz
    rates = (0.2 * sampling_rate, 2.5 * sampling_rate) if sampling_rate_range_hz is None else sampling_rate_range_hz
    return tuple(band_hz), tuple(rates)


def _standardization(window_length, sampling_rate, band_hz, sampling_rate_range_hz):
    """The input layer of every denoiser: standardization carrying the model's validity metadata."""
    band_hz, sampling_rate_range_hz = _default_validity(sampling_rate, band_hz, sampling_rate_range_hz)
    return WindowStandardization(sampling_rate=sampling_rate, window_length=window_length, band_hz=band_hz,
                                 sampling_rate_range_hz=sampling_rate_range_hz, name="standardize")


def build_unet1d_denoiser(
    window_length=3000, sampling_rate=100.0, filters=(8, 16, 32, 32), kernel_size=5, strides=4, skip="add",
    name="unet1d_denoiser", band_hz=None, sampling_rate_range_hz=None,
):
    """Build the time-domain Conv1D U-Net denoiser.

    Args:
        window_length: samples per window (the model's fixed input length).
        sampling_rate: sampling rate in Hz the model is meant for (metadata for `denoiser_info`).
        filters: channels per level; level 0 runs at full rate, each next level is ``strides`` times shorter.
        kernel_size: convolution kernel length.
        strides: down-sampling factor between levels.
        skip: how skip connections merge: ``"add"`` (cheaper) or ``"concat"``.
        name: model name.
        band_hz: declared band ``(fmin, fmax)`` (default 1 Hz to 0.45 x ``sampling_rate``).
        sampling_rate_range_hz: accepted record rates (default 0.2 to 2.5 x ``sampling_rate``).

    Returns:
        an uncompiled ``keras.Model`` mapping ``(batch, window_length, 1)`` to the same shape.
    """
    window_length, sampling_rate, filters = _check_common(
        window_length, sampling_rate, filters, skip, kernel_size=kernel_size, strides=strides)
    depth = strides ** (len(filters) - 1)
    pad = (-window_length) % depth
    inputs = keras.Input((window_length, 1), name="waveform")
    x, std = _standardization(window_length, sampling_rate, band_hz, sampling_rate_range_hz)(inputs)
    if pad:
        x = keras.layers.ZeroPadding1D((0, pad), name="pad")(x)
    x = apply_unet_block(x, 1, filters, kernel_size, strides * 2, strides, skip)
    x = keras.layers.Conv1D(1, 1, name="output_conv")(x)
    if pad:
        x = keras.layers.Cropping1D((0, pad), name="crop")(x)
    outputs = WindowRescale(name="rescale")([x, std])
    return keras.Model(inputs, outputs, name=name)


def build_stft_mask_denoiser(
    window_length=3000, sampling_rate=100.0, filters=(6, 12, 24), kernel_size=3, frame_length=32, frame_step=16,
    fft_length=None, skip="add", log_power=False, name="stftmask_denoiser", sign_invariant=False, band_hz=None,
    sampling_rate_range_hz=None, mask_floor=0.0, noise_quantile=None,
):
    """Build the spectrogram-mask Conv2D U-Net denoiser (DeepDenoiser approach).

    Args:
        window_length: samples per window (the model's fixed input length).
        sampling_rate: sampling rate in Hz the model is meant for (metadata for `denoiser_info`).
        filters: channels per U-Net level; each next level halves time frames and frequency bins.
        kernel_size: Conv2D kernel size.
        frame_length: STFT frame length in samples (Hann window).
        frame_step: STFT hop in samples, at most ``frame_length // 2``.
        fft_length: FFT size (default ``frame_length``); ``fft_length // 2 + 1`` frequency bins.
        skip: how skip connections merge: ``"add"`` (cheaper) or ``"concat"``.
        log_power: also feed the log power of each cell (`LogPower`) as a third input channel.
        name: model name.
        sign_invariant: feed only `SignInvariantFeatures` (log power, phase steps across frames and bins)
            instead of the real and imaginary parts: then ``model(-x) == -model(x)`` exactly.
        band_hz: declared band ``(fmin, fmax)`` (default 1 Hz to 0.45 x ``sampling_rate``).
        sampling_rate_range_hz: accepted record rates (default 0.2 to 2.5 x ``sampling_rate``).
        mask_floor: minimum gain in ``[0, 1)``: the mask is lifted to ``mask_floor + (1 - mask_floor) * mask``
            (`geokeras.layers.MaskSmoothing`, layer ``"mask_smoothing"``) inside the graph, so training sees
            it; 0 (default) leaves the layer out. The same graph as
            `geokeras.models.mask_floor.with_mask_smoothing` applied after training.
        noise_quantile: with ``sign_invariant=True`` only: ``None`` (default) or the quantile over frames that
            `SignInvariantFeatures` takes as each bin's noise floor, adding a sixth input channel (each cell's
            log power above the window's own noise spectrum).

    Returns:
        an uncompiled ``keras.Model`` mapping ``(batch, window_length, 1)`` to the same shape.
    """
    mask_floor = check_number("mask_floor", mask_floor, low=0.0, high=1.0, high_open=True)
    if noise_quantile is not None and not sign_invariant:
        raise ValueError(
            "Invalid value for argument `noise_quantile`. Expected None unless sign_invariant=True. "
            f"Received noise_quantile={noise_quantile!r} with sign_invariant={sign_invariant!r}."
        )
    window_length, sampling_rate, filters = _check_common(
        window_length, sampling_rate, filters, skip, kernel_size=kernel_size, frame_length=frame_length,
        frame_step=frame_step, fft_length=fft_length)
    _, _, frames = stft_padding(window_length, frame_length, frame_step)
    fft_length = frame_length if fft_length is None else fft_length
    bins = fft_length // 2 + 1
    depth = 2 ** (len(filters) - 1)
    pad_t, pad_f = (-frames) % depth, (-bins) % depth
    inputs = keras.Input((window_length, 1), name="waveform")
    x, std = _standardization(window_length, sampling_rate, band_hz, sampling_rate_range_hz)(inputs)
    spec = STFT(frame_length=frame_length, frame_step=frame_step, fft_length=fft_length, name="stft")(x)
    if sign_invariant:
        x = SignInvariantFeatures(noise_quantile=noise_quantile, name="features")(spec)
    else:
        x = LogPower(name="log_power")(spec) if log_power else spec
    x = keras.layers.ZeroPadding2D(((0, pad_t), (0, pad_f)), name="pad")(x) if pad_t or pad_f else x
    x = apply_unet_block(x, 2, filters, kernel_size, kernel_size, 2, skip)
    mask = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    if pad_t or pad_f:
        mask = keras.layers.Cropping2D(((0, pad_t), (0, pad_f)), name="crop")(mask)
    if mask_floor:
        mask = MaskSmoothing(mask_floor, name="mask_smoothing")(mask)
    masked = ComplexMask(name="apply_mask")([spec, mask])
    x = InverseSTFT(
        window_length, frame_length=frame_length, frame_step=frame_step, fft_length=fft_length, name="istft"
    )(masked)
    outputs = WindowRescale(name="rescale")([x, std])
    return keras.Model(inputs, outputs, name=name)


def build_denoiser(family="unet1d", window_length=3000, sampling_rate=100.0, **kwargs):
    """Build a denoiser of the given family (``"unet1d"`` or ``"stftmask"``); extra arguments go to its builder.

    Example:
        >>> build_denoiser("stftmask", window_length=600).output_shape
        (None, 600, 1)
    """
    builder = DENOISER_BUILDERS[check_choice("family", family, DENOISER_FAMILIES)]
    return builder(window_length=window_length, sampling_rate=sampling_rate, **kwargs)


#: family name -> builder; the names are `geokeras.training.families.DENOISER_FAMILIES` (Keras-free, for the CLI;
#: ``tests/test_families.py`` keeps the two in step)
DENOISER_BUILDERS = {"unet1d": build_unet1d_denoiser, "stftmask": build_stft_mask_denoiser}
DENOISER_FAMILIES = tuple(DENOISER_BUILDERS)


def denoiser_info(model):
    """Return the metadata stored in a denoiser (also after reloading).

    Returns:
        dict with ``sampling_rate`` (Hz), ``window_length`` (samples), ``band_hz`` and
        ``sampling_rate_range_hz`` (tuples; the defaults of the builders for models saved without them),
        and ``provenance`` (a dict, for example that of an adapted model, `geokeras.adaptation`) when the
        model carries one.

    Raises:
        ValueError: if the model has no `WindowStandardization` layer carrying that metadata.
    """
    for layer in model.layers:
        if isinstance(layer, WindowStandardization) and layer.window_length is not None:
            rate = layer.sampling_rate
            band, rates = _default_validity(rate, layer.band_hz, layer.sampling_rate_range_hz)
            info = {"sampling_rate": rate, "window_length": layer.window_length, "band_hz": band,
                    "sampling_rate_range_hz": rates}
            if getattr(layer, "provenance", None) is not None:
                info["provenance"] = layer.provenance
            return info
    raise ValueError(
        f"Model {model.name!r} is not a geokeras denoiser: no WindowStandardization layer with "
        "`sampling_rate` and `window_length` metadata."
    )


def estimate_flops(model):
    """Estimate floating-point operations per window (2 per multiply-add) of a denoiser's forward pass.

    Counts convolutions, transposed convolutions and dense layers exactly (biases and activations
    ignored) and FFTs as ``2.5 * n * log2(n)`` per real transform of size ``n``; element-wise layers are
    ignored (a few per sample).

    Example:
        >>> model = build_unet1d_denoiser()
        >>> 5e6 < estimate_flops(model) < 5e7
        True
    """
    total = 0.0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose)):
            in_shape = layer.input.shape
            kernel = math.prod(layer.kernel_size)
            total += 2.0 * kernel * in_shape[-1] * layer.filters * math.prod(in_shape[1:-1])
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)):
            out_shape = layer.output.shape
            kernel = math.prod(layer.kernel_size)
            total += 2.0 * kernel * layer.input.shape[-1] * layer.filters * math.prod(out_shape[1:-1])
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.input.shape[-1] * layer.units * math.prod(layer.input.shape[1:-1])
        elif isinstance(layer, (STFT, InverseSTFT)):
            shape = layer.output.shape if isinstance(layer, STFT) else layer.input.shape
            n = layer.fft_length
            total += shape[1] * 2.5 * n * math.log2(n)
    return total
