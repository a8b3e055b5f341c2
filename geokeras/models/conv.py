"""Convolutional autoencoders of any rank (traces, images, volumes) from one builder.

Orientation convention (checked in ``tests/test_models_conv.py``): Keras ``Conv*D`` layers
compute a cross-correlation (the kernel is not flipped, like ``scipy.signal.correlate2d``) and
``Conv*DTranspose`` is its adjoint: each input value scatters ``value * kernel``, which is a full
convolution with the kernel (``scipy.signal.convolve2d(..., "full")``). The lecture's example
kernel ``[[1, 2], [2, 1]]`` equals its 180-degree rotation, so both orientations give its
numbers: ``[[22, 21], [22, 20]]`` on ``[[1, 2, 3], [6, 5, 3], [1, 4, 1]]`` and
``[[1, 4, 4], [4, 13, 10], [4, 10, 4]]`` for the transposed convolution of ``[[1, 2], [2, 4]]``.
"""
import keras

from geokeras.validation import check_int_sequence, check_level_strides
from geokeras.models.blocks import (
    check_conv_input_shape,
    conv_layer,
    conv_transpose_layer,
    crop_back,
    pad_to_multiple,
)

__all__ = ["build_conv_autoencoder", "build_conv1d_autoencoder", "build_conv2d_autoencoder"]


def build_conv_autoencoder(input_shape, filters=(16, 32), kernel_size=7, strides=2, activation="relu",
                           output_activation="linear", skip_connections=False, name="conv_autoencoder"):
    """Build a convolutional autoencoder whose output has exactly the input's shape.

    The rank comes from ``input_shape``: ``(steps, channels)`` -> ``Conv1D`` /
    ``Conv1DTranspose``; ``(height, width, channels)`` -> ``Conv2D`` / ``Conv2DTranspose``
    (``(depth, height, width, channels)`` -> 3D). Each level of ``filters`` is a strided
    ``"same"`` convolution in the encoder and a strided transposed convolution in the
    decoder; a final ``"same"`` convolution maps back to the input channels.

    Any spatial size works (3000, 1001, 7...): inside the graph a ``ZeroPadding{rank}D``
    layer pads each spatial axis to a multiple of the total stride (split evenly between both
    ends) and a ``Cropping{rank}D`` layer crops the reconstruction back. No ``Lambda`` layer.

    Args:
        input_shape: ``(*spatial, channels)`` with static sizes.
        filters: Filters of each encoder level (the decoder mirrors them).
        kernel_size: Kernel size (int or one per spatial axis).
        strides: Downsampling factor of each level: an int, or one entry per level
            (each an int or one int per spatial axis).
        activation: Activation of the hidden convolutions.
        output_activation: Activation of the reconstruction.
        skip_connections: If True, U-Net style: the decoder concatenates the encoder features
            of the same resolution before each transposed convolution except the first.
        name: Model name.

    Returns:
        An uncompiled functional ``keras.Model`` with attributes ``encoder`` (input ->
        bottleneck features) and ``decoder`` (bottleneck features -> reconstruction; with skip
        connections it also takes the encoder features it concatenates), both sharing the model's
        layers and not saved in ``.keras`` files.

    Example:

    >>> import numpy as np
    >>> ae = build_conv_autoencoder((1001, 1), filters=(4, 8), kernel_size=5)
    >>> ae(np.zeros((2, 1001, 1), "float32")).shape
    TensorShape([2, 1001, 1])
    >>> ae.encoder.output.shape  # 1001 padded to 1004, divided by 2 * 2
    (None, 251, 8)
    >>> ae.decoder.output.shape
    (None, 1001, 1)
    """
    input_shape = check_conv_input_shape(input_shape)
    rank = len(input_shape) - 1
    filters = check_int_sequence("filters", filters)
    kernel_size = check_int_sequence("kernel_size", kernel_size, length=rank)
    level_strides = check_level_strides(strides, len(filters), rank)
    keras.activations.get(activation)
    keras.activations.get(output_activation)
    total = [1] * rank
    for s in level_strides:
        total = [t * si for t, si in zip(total, s)]

    inputs = keras.Input(input_shape, name="input")
    x, cropping = pad_to_multiple(inputs, total, name="pad")
    features = []
    for i, (f, s) in enumerate(zip(filters, level_strides)):
        features.append(x)
        x = conv_layer(rank, f, kernel_size, strides=s, activation=activation, name=f"encoder_conv_{i}")(x)
    code = x
    steps = _decoder_steps(rank, input_shape[-1], filters, kernel_size, level_strides, activation,
                           output_activation, skip_connections)

    def decode(x, skips):
        for layer, level in steps:
            x = layer(x) if level is None else layer([x, skips[level]])
        return crop_back(x, cropping, name="crop")

    model = keras.Model(inputs, decode(code, features), name=name)
    model.encoder = keras.Model(inputs, code, name=f"{name}_encoder")
    # The decoder shares the model's layers; with skip connections it also takes the encoder features
    # it concatenates, deepest level first (``encoder_conv`` inputs of those levels).
    code_in = keras.Input(tuple(code.shape[1:]), name="code")
    levels = [level for _, level in steps if level is not None]
    skip_in = {lv: keras.Input(tuple(features[lv].shape[1:]), name=f"skip_{lv}_input") for lv in levels}
    decoder_inputs = [code_in, *skip_in.values()] if skip_in else code_in
    model.decoder = keras.Model(decoder_inputs, decode(code_in, skip_in), name=f"{name}_decoder")
    return model


def _decoder_steps(rank, channels, filters, kernel_size, level_strides, activation, output_activation,
                   skip_connections):
    """The decoder's layers in order, each with the encoder level a skip connection reads (or None)."""
    steps = []
    for i in reversed(range(len(filters))):
        if skip_connections and i < len(filters) - 1:
            steps.append((keras.layers.Concatenate(name=f"skip_{i + 1}"), i + 1))
        f = filters[i - 1] if i > 0 else filters[0]
        steps.append((conv_transpose_layer(
            rank, f, kernel_size, strides=level_strides[i], activation=activation, name=f"decoder_conv_{i}"
        ), None))
    steps.append((conv_layer(rank, channels, kernel_size, activation=output_activation, name="output_conv"), None))
    return steps


def build_conv1d_autoencoder(input_shape=(3000, 1), **kwargs):
    """Conv1D autoencoder for traces ``(steps, channels)``; see :func:`build_conv_autoencoder`.

    >>> build_conv1d_autoencoder((7, 1), filters=(2,), kernel_size=3).output.shape
    (None, 7, 1)
    """
    return _build_rank(input_shape, "(steps, channels)", "conv1d_autoencoder", **kwargs)


def build_conv2d_autoencoder(input_shape, **kwargs):
    """Conv2D autoencoder for ``(height, width, channels)``; see :func:`build_conv_autoencoder`.

    >>> build_conv2d_autoencoder((7, 9, 2), filters=(2,), kernel_size=3).output.shape
    (None, 7, 9, 2)
    """
    return _build_rank(input_shape, "(height, width, channels)", "conv2d_autoencoder", **kwargs)


def _build_rank(input_shape, expected, default_name, **kwargs):
    """`build_conv_autoencoder` for the rank that ``expected`` (e.g. "(steps, channels)") spells out."""
    if len(tuple(input_shape)) != expected.count(",") + 1:
        raise ValueError(
            f"Invalid value for argument `input_shape`. Expected {expected}. Received input_shape={input_shape!r}."
        )
    kwargs.setdefault("name", default_name)
    return build_conv_autoencoder(input_shape, **kwargs)
