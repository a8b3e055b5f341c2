"""One mask for a station's three components: a single-component mask denoiser run on ``(batch, length, C)``.

The trained network is unchanged: each component's window goes through it (shared weights), the ``C`` masks
of the same window are combined cell by cell (`geokeras.layers.ComponentMask`, the median by default) after
the mask floor, and each component's spectrogram is multiplied by the combined mask. On continuous records
an STA/LTA detector then sees a steadier residual: the bursts of one component's residual that set its
false-trigger threshold are mostly not on the other two, while an earthquake is on all of them (README, "Three
components, one mask"; docs/detection_log.md, "Session 11").

Each component stays an odd function of its own samples (``model(x with one component negated)`` negates that
component's output and leaves the others unchanged, to the last bit) when the base model is sign-invariant.

Example:
    >>> import numpy as np
    >>> from geokeras.models.denoiser import build_stft_mask_denoiser
    >>> base = build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8), mask_floor=0.3)
    >>> model = component_denoiser(base)
    >>> model.input_shape, model.output_shape
    ((None, 600, 3), (None, 600, 3))
    >>> x = np.random.default_rng(0).normal(size=(2, 600, 3)).astype("float32")
    >>> flipped = x * np.array([1.0, -1.0, 1.0], "float32")
    >>> y, y_flipped = np.asarray(model(x)), np.asarray(model(flipped))
    >>> bool(np.array_equal(y_flipped[..., 1], -y[..., 1]) and np.array_equal(y_flipped[..., ::2], y[..., ::2]))
    True
"""
import keras

from geokeras.layers.mask import ComponentMask, SplitComponents
from geokeras.models.denoiser import denoiser_info
from geokeras.validation import check_positive_int


def component_denoiser(model, components=3, statistic="median"):
    """A ``(batch, L, components)`` denoiser sharing ``model``'s layers, one combined mask per window.

    Args:
        model: a spectrogram-mask denoiser (`geokeras.models.denoiser.build_stft_mask_denoiser`, as built or
            loaded, e.g. the shipped default), with its mask floor if it has one.
        components: number of components ``C`` (the last axis of the input and output).
        statistic: how the masks are combined (`geokeras.layers.ComponentMask`): ``"median"`` (default),
            ``"mean"``, ``"own"`` (each its own mask: the single-component model on each component) or
            ``"median-max"`` (the last component, the vertical, the median; the others the larger of their own mask
            and the median).

    Returns:
        a ``keras.Model`` mapping ``(batch, L, C)`` to ``(batch, L, C)``, ``L`` the base model's window length.

    Raises:
        ValueError: ``model`` is not a spectrogram-mask denoiser, or a bad ``components`` or ``statistic``.
    """
    components = check_positive_int("components", components)
    # this model's own graph, walked back from its output (its layers may also serve other graphs, e.g.
    # `geokeras.models.inference`'s copy, so `layer.output` would name another graph's tensor)
    rescale, (rescaled, std) = _made_by(model.outputs[0], "rescale", model)
    istft, (masked,) = _made_by(rescaled, "istft", model)
    apply_mask, (spec, mask) = _made_by(masked, "apply_mask", model)
    single = keras.Model(model.inputs[0], [spec, mask, std], name="single_component_mask")
    combine = ComponentMask(statistic, name="component_mask")  # checks `statistic`
    inputs = keras.Input((denoiser_info(model)["window_length"], components), name="waveforms")
    parts = [single(x) for x in SplitComponents(name="split")(inputs)]
    masks = combine([mask for _, mask, _ in parts])
    outputs = [rescale([istft(apply_mask([spec, mask])), std]) for (spec, _, std), mask in zip(parts, masks)]
    out = keras.layers.Concatenate(axis=-1, name="components")(outputs) if components > 1 else outputs[0]
    return keras.Model(inputs, out, name=f"{model.name}_{components}c")


def _made_by(tensor, name, model):
    """``(layer, its input tensors)`` of the layer call that made ``tensor``, which must be layer ``name``'s."""
    layer, node_index, _ = tensor._keras_history
    if layer.name != name:
        raise ValueError(f"Invalid value for argument `model`. Expected a spectrogram-mask denoiser (its output made "
                         f"by apply_mask -> istft -> rescale). Received model {model.name!r}, with {layer.name!r} "
                         f"where {name!r} was expected.")
    return layer, layer._inbound_nodes[node_index].input_tensors


def build_joint_mask_denoiser(components=3, window_length=3000, sampling_rate=100.0, filters=(8, 16, 32, 64),
                              kernel_size=3, frame_length=64, frame_step=32, mask_floor=0.0, band_hz=None,
                              sampling_rate_range_hz=None, name="joint_mask_denoiser"):
    """Build a denoiser that estimates ONE spectrogram mask from all of a station's components at once.

    Each component is standardized, transformed (`geokeras.layers.STFT`) and described by its
    `geokeras.layers.SignInvariantFeatures`, exactly as in `build_stft_mask_denoiser(sign_invariant=True)`; the
    ``C`` feature stacks are concatenated on the channel axis and a Conv2D U-Net maps them to one sigmoid mask (then
    the floor, `geokeras.layers.MaskSmoothing`), which multiplies every component's spectrogram. Where
    `component_denoiser` combines masks that each component's network estimated alone, this network sees the
    components' evidence together (an onset on Z and on a horizontal at once). Each component stays an odd function
    of its own samples (the mask depends only on sign-invariant features).

    Args:
        components: ``C``, the last axis of the input and output.
        window_length, sampling_rate, filters, kernel_size, frame_length, frame_step, band_hz,
            sampling_rate_range_hz, mask_floor: as in `geokeras.models.denoiser.build_stft_mask_denoiser` (the
            defaults are the shipped single-component network's, `geokeras.training.recipe.SHIPPED_MODEL_KWARGS`).
        name: model name.

    Returns:
        an uncompiled ``keras.Model`` mapping ``(batch, window_length, C)`` to the same shape; `denoiser_info`
        reads its metadata as a single-component denoiser's.

    Example:
        >>> import numpy as np
        >>> model = build_joint_mask_denoiser(window_length=600, filters=(4, 8), mask_floor=0.3)
        >>> model.input_shape, model.output_shape
        ((None, 600, 3), (None, 600, 3))
        >>> x = np.random.default_rng(0).normal(size=(1, 600, 3)).astype("float32")
        >>> y, y_flipped = np.asarray(model(x)), np.asarray(model(x * np.array([1.0, 1.0, -1.0], "float32")))
        >>> bool(np.array_equal(y_flipped[..., 2], -y[..., 2]) and np.array_equal(y_flipped[..., :2], y[..., :2]))
        True
    """
    from geokeras.layers.mask import MaskSmoothing
    from geokeras.layers.normalization import WindowRescale
    from geokeras.layers.stft import STFT, ComplexMask, InverseSTFT, SignInvariantFeatures, stft_padding
    from geokeras.models.blocks import apply_unet_block
    from geokeras.models.denoiser import _check_common, _standardization
    from geokeras.validation import check_number

    components = check_positive_int("components", components)
    mask_floor = check_number("mask_floor", mask_floor, low=0.0, high=1.0, high_open=True)
    window_length, sampling_rate, filters = _check_common(window_length, sampling_rate, filters, "add",
                                                          kernel_size=kernel_size, frame_length=frame_length,
                                                          frame_step=frame_step)
    _, _, frames = stft_padding(window_length, frame_length, frame_step)
    bins = frame_length // 2 + 1
    depth = 2 ** (len(filters) - 1)
    pad_t, pad_f = (-frames) % depth, (-bins) % depth
    standardize = _standardization(window_length, sampling_rate, band_hz, sampling_rate_range_hz)
    stft = STFT(frame_length=frame_length, frame_step=frame_step, fft_length=frame_length, name="stft")
    features = SignInvariantFeatures(name="features")
    inputs = keras.Input((window_length, components), name="waveforms")
    specs, stds, stacks = [], [], []
    for x in SplitComponents(name="split")(inputs):
        z, std = standardize(x)
        spec = stft(z)
        specs.append(spec)
        stds.append(std)
        stacks.append(features(spec))
    x = keras.layers.Concatenate(axis=-1, name="joint_features")(stacks) if components > 1 else stacks[0]
    x = keras.layers.ZeroPadding2D(((0, pad_t), (0, pad_f)), name="pad")(x) if pad_t or pad_f else x
    x = apply_unet_block(x, 2, filters, kernel_size, kernel_size, 2, "add")
    mask = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    if pad_t or pad_f:
        mask = keras.layers.Cropping2D(((0, pad_t), (0, pad_f)), name="crop")(mask)
    if mask_floor:
        mask = MaskSmoothing(mask_floor, name="mask_smoothing")(mask)
    apply_mask = ComplexMask(name="apply_mask")
    istft = InverseSTFT(window_length, frame_length=frame_length, frame_step=frame_step, fft_length=frame_length,
                        name="istft")
    rescale = WindowRescale(name="rescale")
    outputs = [rescale([istft(apply_mask([spec, mask])), std]) for spec, std in zip(specs, stds)]
    out = keras.layers.Concatenate(axis=-1, name="components")(outputs) if components > 1 else outputs[0]
    return keras.Model(inputs, out, name=name)


def copy_mask_network(source, target):
    """Copy the U-Net and mask weights of ``source`` into ``target`` (layers of the same name), in place.

    ``source`` may be a single-component mask denoiser (`build_stft_mask_denoiser(sign_invariant=True)`) and
    ``target`` a joint one with ``C`` components: the first convolution's kernel, which reads ``C`` times as many
    feature channels, gets the source's kernel divided by ``C`` on each component's channels, so the joint network
    starts as the single-component network on the mean of the components' features (the warm start of its
    training). Between two models of the same layout (e.g. a joint network and its copy with another floor) every
    weight is copied as it is.

    Returns:
        the names of the layers copied.

    Raises:
        ValueError: a layer of the same name holds weights of another shape (other than that first kernel).
    """
    import numpy as np

    copied = []
    source_layers = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        if not layer.weights or layer.name not in source_layers:
            continue
        weights = source_layers[layer.name].get_weights()
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        times, rest = divmod(shapes[0][2], weights[0].shape[2]) if layer.name == "enc0" else (1, 0)
        if times > 1 and not rest:  # the first kernel reads `times` components' features: 1/times on each
            weights[0] = np.concatenate([weights[0] / times] * times, axis=2)
        if [w.shape for w in weights] != shapes:
            raise ValueError(f"Invalid value for argument `source`. Expected layer {layer.name!r} with weights of "
                             f"shapes {shapes}. Received {[w.shape for w in weights]}.")
        layer.set_weights(weights)
        copied.append(layer.name)
    return copied
