"""Building blocks shared by the model builders: the one dense stack (dense, contractive and VAE models), conv layers
of any rank, padding/cropping, the denoisers' U-Net."""
import math

import keras

from geokeras.validation import check_int_sequence

__all__ = [
    "dense_stack",
    "mirrored_units",
    "apply_layers",
    "conv_layer",
    "conv_transpose_layer",
    "pad_to_multiple",
    "crop_back",
    "apply_unet_block",
    "check_conv_input_shape",
    "EncoderDecoderModel",
]

_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
_CONV_T = {1: keras.layers.Conv1DTranspose, 2: keras.layers.Conv2DTranspose, 3: keras.layers.Conv3DTranspose}
_PAD = {1: keras.layers.ZeroPadding1D, 2: keras.layers.ZeroPadding2D, 3: keras.layers.ZeroPadding3D}
_CROP = {1: keras.layers.Cropping1D, 2: keras.layers.Cropping2D, 3: keras.layers.Cropping3D}


def dense_stack(units, activation, prefix, kernel_regularizer=None, last_activation=None, indices=None):
    """The one dense stack of every dense model: ``Dense(u, activation)`` for each ``u`` in ``units``.

    The layers are created here, in order (their seeded initial weights follow that order), and applied with
    `apply_layers`, so a builder can reuse them (an encoder model and a full model share them).

    Args:
        units: the layer widths, first layer first.
        activation: activation of every layer.
        prefix: layer names are ``f"{prefix}_{index}"``.
        kernel_regularizer: optional regularizer of every kernel.
        last_activation: activation of the last layer (default: ``activation``), e.g. a decoder's output.
        indices: the name indices, one per layer (default ``0, 1, ...``); a mirrored decoder counts down.

    Returns:
        A list of ``keras.layers.Dense``.

    Example:

    >>> [(l.name, l.units) for l in dense_stack((8, 4), "relu", "encoder_dense")]
    [('encoder_dense_0', 8), ('encoder_dense_1', 4)]
    >>> units, indices = mirrored_units(10, (8, 4))
    >>> dec = dense_stack(units, "relu", "decoder_dense", last_activation="linear", indices=indices)
    >>> [(l.name, l.units, l.activation.__name__) for l in dec]
    [('decoder_dense_1', 8, 'relu'), ('decoder_dense_0', 10, 'linear')]
    """
    units = list(units)
    indices = list(range(len(units)) if indices is None else indices)
    if len(indices) != len(units):
        raise ValueError(f"Invalid value for argument `indices`. Expected one index per layer ({len(units)}). "
                         f"Received indices={indices!r}.")
    layers = []
    for k, (u, i) in enumerate(zip(units, indices)):
        act = last_activation if (last_activation is not None and k == len(units) - 1) else activation
        layers.append(keras.layers.Dense(u, activation=act, kernel_regularizer=kernel_regularizer,
                                         name=f"{prefix}_{i}"))
    return layers


def mirrored_units(input_dim, hidden_units):
    """``(units, indices)`` of the decoder that mirrors an encoder of widths ``hidden_units``.

    The decoder layer of index ``i`` undoes encoder layer ``i``: it maps back to the width before it
    (``input_dim`` for ``i = 0``), so indices count down and the last layer has ``input_dim`` units.

    >>> mirrored_units(10, (8, 4))
    ([8, 10], [1, 0])
    """
    indices = list(reversed(range(len(hidden_units))))
    return [input_dim if i == 0 else hidden_units[i - 1] for i in indices], indices


def apply_layers(x, layers):
    """Apply ``layers`` in order to ``x``.

    >>> apply_layers(keras.Input((3,)), dense_stack((2,), "relu", "d")).shape
    (None, 2)
    """
    for layer in layers:
        x = layer(x)
    return x


def check_conv_input_shape(input_shape):
    """Validate ``input_shape`` = ``(*spatial, channels)`` with rank 1 to 3; return it as a tuple.

    >>> check_conv_input_shape((3000, 1))
    (3000, 1)
    >>> check_conv_input_shape((None, 1))
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `input_shape`. Expected (steps, channels), (height, width, channels) or (depth, height, width, channels) with strictly positive integers. Received input_shape=(None, 1).
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    ok = (
        shape is not None
        and 2 <= len(shape) <= 4
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    )
    if not ok:
        raise ValueError(
            "Invalid value for argument `input_shape`. Expected (steps, channels), "
            "(height, width, channels) or (depth, height, width, channels) with strictly "
            f"positive integers. Received input_shape={input_shape!r}."
        )
    return shape


def conv_layer(rank, filters, kernel_size, strides=1, activation=None, name=None, **kwargs):
    """Return a ``Conv{rank}D`` layer with ``padding="same"``."""
    return _CONV[rank](
        filters, kernel_size, strides=strides, padding="same", activation=activation, name=name, **kwargs
    )


def conv_transpose_layer(rank, filters, kernel_size, strides=1, activation=None, name=None, **kwargs):
    """Return a ``Conv{rank}DTranspose`` layer with ``padding="same"`` (output = input * strides)."""
    return _CONV_T[rank](
        filters, kernel_size, strides=strides, padding="same", activation=activation, name=name, **kwargs
    )


def apply_unet_block(x, rank, filters, kernel_size, sample_kernel, strides, skip="add"):
    """The U-Net of the denoisers (any rank), applied to ``x``; its layers get predictable names.

    Level 0 is ``enc0`` (a ``"same"`` convolution with ``filters[0]``); each next level ``l`` is down-sampled
    by ``down{l}`` (kernel ``sample_kernel``, ``strides``) and convolved by ``enc{l}``; the decoder mirrors it:
    ``up{l}`` (transposed, same kernel and strides), ``skip{l-1}`` (merge with the encoder features of level
    ``l - 1``: ``"add"`` or ``"concat"``) and ``dec{l-1}``. Every convolution has a ReLU.

    Args:
        x: the input features.
        rank: 1 (``Conv1D``) or 2 (``Conv2D``).
        filters: channels per level.
        kernel_size: kernel of the ``enc``/``dec`` convolutions.
        sample_kernel: kernel of the ``down``/``up`` convolutions.
        strides: down-sampling factor between levels.
        skip: ``"add"`` or ``"concat"``.

    Returns:
        the features at full resolution with ``filters[0]`` channels.
    """
    x = conv_layer(rank, filters[0], kernel_size, activation="relu", name="enc0")(x)
    skips = [x]
    for level, f in enumerate(filters[1:], start=1):
        x = conv_layer(rank, f, sample_kernel, strides=strides, activation="relu", name=f"down{level}")(x)
        x = conv_layer(rank, f, kernel_size, activation="relu", name=f"enc{level}")(x)
        skips.append(x)
    for level in range(len(filters) - 1, 0, -1):
        f = filters[level - 1]
        x = conv_transpose_layer(rank, f, sample_kernel, strides=strides, activation="relu", name=f"up{level}")(x)
        merge = keras.layers.Add if skip == "add" else keras.layers.Concatenate
        x = merge(name=f"skip{level - 1}")([x, skips[level - 1]])
        x = conv_layer(rank, f, kernel_size, activation="relu", name=f"dec{level - 1}")(x)
    return x


def _split(total):
    return total // 2, total - total // 2


def pad_to_multiple(x, multiple, name="pad"):
    """Zero-pad the spatial axes of ``x`` so that each is a multiple of ``multiple``.

    Padding is split evenly between both ends (the extra sample at the end) with a
    ``ZeroPadding{rank}D`` layer. Returns ``(x_padded, cropping)``; pass ``cropping`` to
    :func:`crop_back` to restore the original extent. Spatial sizes must be static.

    Args:
        x: Symbolic tensor ``(batch, *spatial, channels)``.
        multiple: An int or one int per spatial axis.
        name: Name of the padding layer (only created when padding is needed).

    Example:

    >>> x = keras.Input((1001, 1))
    >>> y, cropping = pad_to_multiple(x, 8)
    >>> tuple(y.shape), cropping
    ((None, 1008, 1), ((3, 4),))
    """
    spatial = tuple(x.shape[1:-1])
    rank = len(spatial)
    multiples = check_int_sequence("multiple", multiple, length=rank)
    cropping = tuple(_split(math.ceil(n / m) * m - n) for n, m in zip(spatial, multiples))
    if any(a or b for a, b in cropping):
        padding = cropping[0] if rank == 1 else cropping
        x = _PAD[rank](padding, name=name)(x)
    return x, cropping


def crop_back(x, cropping, name="crop"):
    """Undo :func:`pad_to_multiple` with a ``Cropping{rank}D`` layer (identity if no padding)."""
    rank = len(cropping)
    if any(a or b for a, b in cropping):
        x = _CROP[rank](cropping[0] if rank == 1 else cropping, name=name)(x)
    return x


class EncoderDecoderModel(keras.Model):
    """Base of the subclassed models made of an ``encoder`` and a ``decoder`` sub-model (VAE, contractive).

    It holds the two sub-models, serializes them in ``get_config``/``from_config`` (subclasses add their
    own arguments with ``get_config().update(...)``), and gives ``export`` a default signature: the
    encoder's input shape with a free batch dimension.
    """

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Export for inference like ``keras.Model.export``; the signature defaults to the encoder's input."""
        if input_signature is None:
            import tensorflow as tf

            input_signature = [tf.TensorSpec(self.encoder.input_shape, tf.float32, name="inputs")]
        return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def get_config(self):
        return {
            "name": self.name,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)
