"""One mask for a station's three components: a single-component mask denoiser run on ``(batch, length, C)``.

The trained network is unchanged: each component's window goes through it (shared weights), the ``C`` masks
of the same window are combined cell by cell (`geokeras.layers.ComponentMask`, the median by default) after
the mask floor, and each component's spectrogram is multiplied by the combined mask. On continuous records
an STA/LTA detector then sees a steadier residual: the bursts of one component's residual that set its
false-trigger threshold are mostly not on the other two, while an earthquake is on all of them (README, "Three
components, one mask"; model card, "Session 11").

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
            ``"mean"``, or ``"own"`` (each its own mask: the single-component model on each component).

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
