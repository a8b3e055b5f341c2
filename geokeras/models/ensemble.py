"""Several trained spectrogram-mask networks in one denoiser: the median of their masks, applied once.

Networks trained with the same recipe from different random starts (``geokeras train --seed``) estimate the same
mask with different mistakes. On noise the mistakes are what an STA/LTA detector sees as bursts: a cell of noise
that one network takes for signal and lets through. Where the networks disagree the median of their masks takes
the middle value, so a burst that only one network lets through is suppressed, while a seismic phase that all of
them see passes. `mask_ensemble` builds one ``keras.Model`` from ``K`` such networks: one standardization, one STFT
and one set of sign-invariant features, ``K`` U-Nets (each member's layers copied with its weights, their names
prefixed ``m0_``, ``m1_``, ...), `geokeras.layers.EnsembleMask` (the cell-by-cell median, layer ``"mask"``), the
mask floor, and one inverse STFT. It is a plain mask denoiser for the rest of geokeras (`denoise`,
`denoise_components`, the SavedModel export, `with_mask_smoothing`) and saves and loads safely; each member's
sign-invariant mask keeps ``model(-x) == -model(x)`` exact.

It costs ``K`` times the U-Net's arithmetic (the STFT and features are computed once).

Example:
    >>> import numpy as np
    >>> from geokeras.models.denoiser import build_stft_mask_denoiser
    >>> nets = [build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8)) for _ in range(3)]
    >>> model = mask_ensemble(nets, floor=0.3)
    >>> x = np.random.default_rng(0).normal(size=(2, 600, 1)).astype("float32")
    >>> bool(np.array_equal(np.asarray(model(-x)), -np.asarray(model(x))))
    True
    >>> [layer.name for layer in model.layers if layer.name.endswith("enc0")]
    ['m0_enc0', 'm1_enc0', 'm2_enc0']
"""
import keras

from geokeras.layers.mask import EnsembleMask, MaskSmoothing

__all__ = ["mask_ensemble", "ensemble_size"]

_SHARED = ("standardize", "stft", "features")  # computed once; every member's must have the same configuration
_TAIL = ("apply_mask", "istft", "rescale")


def mask_ensemble(models, statistic="median", floor=None, name="ensemble_mask_denoiser"):
    """One denoiser from ``K`` sign-invariant spectrogram-mask networks: the median (or mean) of their masks.

    Args:
        models: a list of ``K >= 1`` mask denoisers built by
            `geokeras.models.denoiser.build_stft_mask_denoiser(sign_invariant=True)` (as built or loaded) with the
            same window, rate, band and STFT; their U-Nets may differ. Their own mask floors are ignored.
        statistic: ``"median"`` (default) or ``"mean"`` (`geokeras.layers.EnsembleMask`).
        floor: the mask floor applied to the combined mask (`geokeras.layers.MaskSmoothing`); ``None`` (default)
            takes the first model's (0.3 for the shipped default), 0 none.
        name: model name.

    Returns:
        a ``keras.Model`` mapping ``(batch, window_length, 1)`` to the same shape; the members' weights are copied.

    Raises:
        ValueError: ``models`` is empty, holds a model that is not a sign-invariant mask denoiser, or models
            whose standardization or STFT differ (the message names the first that differs); a bad ``statistic``
            or ``floor``.
    """
    from geokeras.models.mask_floor import mask_settings

    models = list(models) if isinstance(models, (list, tuple)) else [models]
    if not models:
        raise ValueError("Invalid value for argument `models`. Expected a list of at least one mask denoiser. "
                         "Received an empty list.")
    layers = [_named_layers(model, i) for i, model in enumerate(models)]
    for i, named in enumerate(layers[1:], start=1):
        for key in _SHARED:
            if _config(named[key]) != _config(layers[0][key]):
                raise ValueError(f"Invalid value for argument `models`. Expected models with the same {key!r} "
                                 f"layer. Received models[{i}] ({models[i].name!r}) with another one than models[0] "
                                 f"({models[0].name!r}).")
    floor = mask_settings(models[0])["floor"] if floor is None else floor
    smoothing = MaskSmoothing(floor, name="mask_smoothing") if floor else None  # checks `floor`
    combine = EnsembleMask(statistic, name="mask")  # checks `statistic`

    first = layers[0]
    inputs = keras.Input(models[0].input_shape[1:], name="waveform")
    x, std = _copy(first["standardize"])(inputs)
    spec = _copy(first["stft"])(x)
    features = _copy(first["features"])(spec)
    masks = [_member_mask(model, features, f"m{i}_") for i, model in enumerate(models)]
    mask = combine(masks)
    if smoothing is not None:
        mask = smoothing(mask)
    masked = _copy(first["apply_mask"])([spec, mask])
    out = _copy(first["rescale"])([_copy(first["istft"])(masked), std])
    return keras.Model(inputs, out, name=name)


def ensemble_size(model):
    """The number of networks whose masks ``model`` combines (1 for a model that is not a `mask_ensemble`)."""
    for layer in model.layers:
        if isinstance(layer, EnsembleMask):
            return len(layer.input)
    return 1


def _named_layers(model, index):
    names = {layer.name: layer for layer in model.layers}
    missing = [key for key in _SHARED + _TAIL + ("mask",) if key not in names]
    if missing or ensemble_size(model) > 1:
        why = f"without the layer(s) {missing}" if missing else "that is itself an ensemble"
        raise ValueError(f"Invalid value for argument `models`. Expected sign-invariant spectrogram-mask denoisers "
                         f"(build_stft_mask_denoiser(sign_invariant=True)). Received models[{index}] "
                         f"({model.name!r}) {why}.")
    return names


def _config(layer):
    config = dict(layer.get_config())
    config.pop("name", None)
    return config


def _copy(layer, name=None):
    """A new layer with ``layer``'s configuration (and ``name``), unbuilt: weights, where it has any, are set by the
    caller once it is called."""
    config = dict(layer.get_config())
    if name is not None:
        config["name"] = name
    return layer.__class__.from_config(config)


def _member_mask(model, features, prefix):
    """``model``'s network from its features to its mask (before any floor), replayed on ``features`` with
    copies of its layers named ``prefix + name`` and their weights."""
    start = model.get_layer("features").output
    names = {layer.name for layer in model.layers}
    end = model.get_layer("crop" if "crop" in names else "mask").output
    sub = keras.Model(start, end)
    copies = {}

    def copy(operation):
        if operation.name not in copies:
            copies[operation.name] = _copy(operation, prefix + operation.name)
        return copies[operation.name]

    # the sub-model's own graph walk (`Functional.call` runs it; a private Keras method, in every Keras 3 so far:
    # tests/test_ensemble.py would catch a change), each operation replaced by its copy: the copies are called on
    # `features`, so they join the caller's graph as layers of its own (no nested model, which `bfloat16_copy`
    # and `inference_model` would leave unconverted)
    out = sub._run_through_graph(features, operation_fn=copy)
    for layer_name, layer in copies.items():
        layer.set_weights(model.get_layer(layer_name).get_weights())
    return out
