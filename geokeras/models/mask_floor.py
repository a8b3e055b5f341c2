"""Set the mask post-processing (`geokeras.layers.MaskSmoothing`) of a trained spectrogram-mask denoiser.

The shipped default (v4) is the trained v3 network with a mask floor of 0.3: the residual noise becomes a
steady, attenuated copy of the input noise, which is what an STA/LTA detector at a fixed false-alarm rate
needs (see the model card). ``with_mask_smoothing(model, floor=0.0)`` gives back the v3 graph, whose
output is that of v3 to the last bit: the operating point with the highest SNR gain on mixtures.

Example:
    >>> import numpy as np
    >>> from geokeras.models.denoiser import build_stft_mask_denoiser
    >>> model = build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8))
    >>> floored = with_mask_smoothing(model, floor=0.3)
    >>> mask_settings(floored)
    {'floor': 0.3, 'time_frames': 1, 'freq_bins': 1, 'statistic': 'mean', 'exponent': 1.0}
    >>> x = np.random.default_rng(0).normal(size=(1, 600, 1)).astype("float32")
    >>> plain = with_mask_smoothing(floored, floor=0.0)
    >>> bool(np.array_equal(plain.predict(x, verbose=0), model.predict(x, verbose=0)))
    True
"""
import keras

from geokeras.layers.mask import MaskSmoothing

_NAME = "mask_smoothing"


def mask_settings(model):
    """The `MaskSmoothing` settings of a denoiser (``floor=0``, no smoothing when it has none).

    Raises:
        ValueError: the model has no ``"mask"`` layer (it is not a spectrogram-mask denoiser).
    """
    _mask_tensor(model)
    for layer in model.layers:
        if isinstance(layer, MaskSmoothing):
            return {"floor": layer.floor, "time_frames": layer.time_frames, "freq_bins": layer.freq_bins,
                    "statistic": layer.statistic, "exponent": layer.exponent}
    return {"floor": 0.0, "time_frames": 1, "freq_bins": 1, "statistic": "mean", "exponent": 1.0}


def with_mask_smoothing(model, floor=0.0, time_frames=1, freq_bins=1, statistic="mean", exponent=1.0):
    """A new model sharing ``model``'s layers and weights, with the mask post-processing set as given.

    The graph is ``mask -> [crop] -> MaskSmoothing -> apply_mask -> istft -> rescale``; with ``floor=0``
    and no smoothing the `MaskSmoothing` layer is left out. The sign-invariant features, the standardization
    and the metadata of `denoiser_info` are shared, so every property of the base is kept.

    Args:
        model: a spectrogram-mask denoiser (`build_stft_mask_denoiser`, as built or loaded).
        floor, time_frames, freq_bins, statistic, exponent: see `MaskSmoothing`.

    Returns:
        a ``keras.Model`` (same name and input as ``model``).

    Raises:
        ValueError: the model is not a spectrogram-mask denoiser, or an invalid setting.
    """
    mask = _mask_tensor(model)
    spec = model.get_layer("stft").output
    std = model.get_layer("rescale").input[1]
    if floor or time_frames > 1 or freq_bins > 1 or exponent != 1.0:
        mask = MaskSmoothing(floor, time_frames, freq_bins, statistic, exponent, name=_NAME)(mask)
    masked = model.get_layer("apply_mask")([spec, mask])
    out = model.get_layer("rescale")([model.get_layer("istft")(masked), std])
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # a bare tensor in, as the builders take
    return keras.Model(inputs, out, name=model.name)


def _mask_tensor(model):
    names = {layer.name for layer in model.layers}
    if "mask" not in names or "apply_mask" not in names:
        raise ValueError(f"Invalid value for argument `model`. Expected a spectrogram-mask denoiser (layers "
                         f"'mask' and 'apply_mask'). Received model {model.name!r} without them.")
    return model.get_layer("crop" if "crop" in names else "mask").output
