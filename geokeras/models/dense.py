"""Dense autoencoders: stacked, under/over-complete, tied, sparse, denoising."""
import keras

from geokeras.validation import check_choice, check_int_sequence, check_number, check_positive_int
from geokeras.layers import ActivityLoss, MaskingNoise, TiedDense
from geokeras.models.blocks import dense_stack, mirrored_units
from geokeras.regularizers import KLSparsity

__all__ = ["build_dense_autoencoder", "corruption_layer"]

CORRUPTIONS = (None, "masking", "gaussian")


def corruption_layer(corruption, corruption_rate, seed=None, name="corruption"):
    """Return the input-corruption layer (active only when ``training=True``) or ``None``.

    ``"masking"``: :class:`geokeras.layers.MaskingNoise` (each input set to 0 with probability
    ``corruption_rate``, no rescaling); ``"gaussian"``: ``keras.layers.GaussianNoise`` with
    standard deviation ``corruption_rate``; ``None``: no layer.

    >>> corruption_layer("masking", 0.25).rate
    0.25
    >>> corruption_layer(None, 0.0) is None
    True
    """
    check_choice("corruption", corruption, CORRUPTIONS)
    if corruption is None:
        return None
    if corruption == "masking":
        rate = check_number("corruption_rate", corruption_rate, low=0.0, high=1.0, high_open=True)
        return MaskingNoise(rate, seed=seed, name=name)
    rate = check_number("corruption_rate", corruption_rate, low=0.0)
    return keras.layers.GaussianNoise(rate, seed=seed, name=name)


def build_dense_autoencoder(input_dim, hidden_units=(32,), activation="sigmoid", output_activation="linear", l2=0.0,
                            tied=False, sparsity_rho=None, sparsity_weight=0.0, corruption=None, corruption_rate=0.0,
                            seed=None, name="dense_autoencoder"):
    """Build a (stacked) dense autoencoder ``input_dim -> hidden_units -> ... -> input_dim``.

    The encoder applies ``Dense(u, activation)`` for each ``u`` in ``hidden_units`` (the last
    one is the code); the decoder mirrors it and ends with ``Dense(input_dim,
    output_activation)``. Under- or over-complete depends only on ``hidden_units``.

    Loss guidance (the model is returned *uncompiled*): real-valued inputs ->
    ``output_activation="linear"`` with ``"mse"``; binary inputs / values in ``[0, 1]`` ->
    ``output_activation="sigmoid"`` with ``"binary_crossentropy"``.

    Args:
        input_dim: Number of input features.
        hidden_units: Sizes of the encoder layers, outermost first.
        activation: Activation of the hidden layers (encoder and decoder), sigmoid by default.
        output_activation: Activation of the reconstruction.
        l2: L2 weight-decay factor on every kernel (``keras.regularizers.L2``); 0 disables.
        tied: If True, the decoder uses the transposes of the encoder kernels: each level is
            one :class:`geokeras.layers.TiedDense` called forward then with ``transpose=True``
            (one shared variable, own decoder bias).
        sparsity_rho: Target mean activation of the hidden units for the KL sparsity penalty
            (:class:`geokeras.regularizers.KLSparsity`), applied to every encoder layer's
            activations through :class:`geokeras.layers.ActivityLoss`; ``None`` disables.
        sparsity_weight: Weight of the sparsity penalty.
        corruption: ``None``, ``"masking"`` or ``"gaussian"`` input corruption (denoising
            autoencoder), active only when ``training=True``.
        corruption_rate: Masking probability ``q`` or Gaussian standard deviation.
        seed: Optional seed of the corruption noise.
        name: Model name.

    Returns:
        A functional ``keras.Model`` with attributes ``encoder`` (input -> code) and
        ``decoder`` (code -> reconstruction) sharing its layers. These attributes are not
        saved in ``.keras`` files (the saved model itself is complete); after loading,
        ``keras.Model(model.input, model.get_layer("code").output)`` is the encoder.

    Example:

    >>> import numpy as np
    >>> ae = build_dense_autoencoder(6, hidden_units=(4, 2), tied=True)
    >>> x = np.zeros((3, 6), "float32")
    >>> ae(x).shape, ae.encoder(x).shape, ae.decoder(np.zeros((3, 2))).shape
    (TensorShape([3, 6]), TensorShape([3, 2]), TensorShape([3, 6]))
    """
    input_dim = check_positive_int("input_dim", input_dim)
    hidden_units = check_int_sequence("hidden_units", hidden_units)
    l2 = check_number("l2", l2, low=0.0)
    sparsity_weight = check_number("sparsity_weight", sparsity_weight, low=0.0)
    if sparsity_rho is not None:
        sparsity_rho = check_number("sparsity_rho", sparsity_rho, low=0.0, high=1.0, low_open=True, high_open=True)
    noise = corruption_layer(corruption, corruption_rate, seed=seed)
    keras.activations.get(activation)  # raises on unknown names
    keras.activations.get(output_activation)
    kernel_regularizer = keras.regularizers.L2(l2) if l2 > 0 else None

    inputs = keras.Input((input_dim,), name="input")
    x = noise(inputs) if noise is not None else inputs
    enc_layers, dec_layers = _dense_layers(input_dim, hidden_units, activation, output_activation,
                                           kernel_regularizer, tied, sparsity_rho, sparsity_weight)

    def encode(t):
        return _encode(t, enc_layers)

    def decode(t):
        return _decode(t, dec_layers, tied)

    code = keras.layers.Identity(name="code")(encode(x))
    outputs = decode(code)
    model = keras.Model(inputs, outputs, name=name)
    encoder = keras.Model(inputs, code, name=f"{name}_encoder")
    latent = keras.Input((hidden_units[-1],), name="code_input")
    decoder = keras.Model(latent, decode(latent), name=f"{name}_decoder")
    model.encoder = encoder
    model.decoder = decoder
    return model


def _dense_layers(input_dim, hidden_units, activation, output_activation, kernel_regularizer, tied, sparsity_rho,
                  sparsity_weight):
    """The encoder's ``[(layer, sparsity layer or None), ...]`` and the decoder's layers, outermost first for
    the encoder and innermost first for the decoder (tied: the encoder's `TiedDense` layers again)."""

    def sparsity(i):
        if sparsity_rho is None or sparsity_weight == 0:
            return None
        return ActivityLoss(KLSparsity(sparsity_rho, sparsity_weight), name=f"sparsity_{i}")

    if tied:
        layers = [TiedDense(units, activation=activation, decoder_activation=output_activation if i == 0 else activation,
                            kernel_regularizer=kernel_regularizer, name=f"tied_dense_{i}")
                  for i, units in enumerate(hidden_units)]
        enc_layers = [(layer, sparsity(i)) for i, layer in enumerate(layers)]
        return enc_layers, layers[::-1]
    layers = dense_stack(hidden_units, activation, "encoder_dense", kernel_regularizer)
    enc_layers = [(layer, sparsity(i)) for i, layer in enumerate(layers)]
    units, indices = mirrored_units(input_dim, hidden_units)
    return enc_layers, dense_stack(units, activation, "decoder_dense", kernel_regularizer,
                                   last_activation=output_activation, indices=indices)


def _encode(t, enc_layers):
    for layer, reg in enc_layers:
        t = layer(t)
        if reg is not None:
            t = reg(t)
    return t


def _decode(t, dec_layers, tied):
    for layer in dec_layers:
        t = layer(t, transpose=True) if tied else layer(t)
    return t
