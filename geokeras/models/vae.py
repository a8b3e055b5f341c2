"""Variational autoencoders (dense and convolutional) with a beta-weighted KL term."""
import math

import keras
import tensorflow as tf
from keras import ops

from geokeras.validation import check_bool, check_choice, check_int_sequence, check_level_strides, check_number, check_positive_int
from geokeras.layers import Sampling
from geokeras.models.blocks import (
    apply_layers,
    dense_stack,
    EncoderDecoderModel,
    check_conv_input_shape,
    conv_layer,
    conv_transpose_layer,
    crop_back,
    pad_to_multiple,
)

__all__ = ["VAE", "build_dense_vae", "build_conv_vae"]

LIKELIHOODS = ("gaussian", "bernoulli")
_EPS = 1e-7


@keras.saving.register_keras_serializable(package="geokeras")
class VAE(EncoderDecoderModel):
    """Variational autoencoder: ``encoder`` -> ``(z_mean, z_log_var)``, ``decoder`` -> signal.

    Training minimizes ``reconstruction + beta * KL`` per sample, averaged over the batch:

    - ``likelihood="gaussian"``: reconstruction ``= 0.5 * sum (x - x_hat)^2`` over all
      features (negative log-likelihood of ``N(x_hat, 1)`` without its constant); the
      decoder output is linear.
    - ``likelihood="bernoulli"``: reconstruction ``= sum BCE(x, x_hat)``; the decoder output
      is a sigmoid probability (inputs in ``[0, 1]``).
    - ``KL = 0.5 * sum_j (mu_j^2 + exp(log_var_j) - 1 - log_var_j)`` (to ``N(0, I)``).

    ``fit`` shows three metrics: ``loss``, ``reconstruction_loss`` and ``kl_loss``
    (``loss`` also includes layer regularization losses, if any). ``fit(x)`` reconstructs
    ``x``; ``fit(x, y)`` reconstructs ``y`` from ``x`` (a denoising VAE). Sample weights are
    ignored. ``vae(x)`` / ``predict`` / export decode ``z_mean`` (deterministic) unless
    ``training=True``, where ``z`` is drawn with the :class:`geokeras.layers.Sampling` layer.

    Args:
        encoder: A model mapping inputs to ``[z_mean, z_log_var]``.
        decoder: A model mapping ``z`` to a reconstruction with the input's shape.
        beta: Weight of the KL term (``beta``-VAE), ``>= 0``.
        likelihood: ``"gaussian"`` or ``"bernoulli"``.
        seed: Optional seed of the sampling layer.
        **kwargs: ``keras.Model`` arguments (``name``).

    Example:

    >>> import numpy as np
    >>> vae = build_dense_vae(8, latent_dim=2, encoder_units=(4,), decoder_units=(4,), seed=0)
    >>> vae.compile("adam")
    >>> history = vae.fit(np.ones((16, 8), "float32"), epochs=1, batch_size=8, verbose=0)
    >>> sorted(history.history)
    ['kl_loss', 'loss', 'reconstruction_loss']
    >>> [a.shape for a in vae.encode(np.ones((3, 8), "float32"))], vae.sample(5, seed=1).shape
    ([(3, 2), (3, 2)], (5, 8))
    """

    def __init__(self, encoder, decoder, beta=1.0, likelihood="gaussian", seed=None, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        self.beta = check_number("beta", beta, low=0.0)
        self.likelihood = check_choice("likelihood", likelihood, LIKELIHOODS)
        self.seed = seed
        self.latent_dim = int(encoder.outputs[0].shape[-1])
        self.sampling = Sampling(seed=seed, name="sampling")
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.build(encoder.input_shape)

    def build(self, input_shape=None):
        # The encoder and decoder arrive built; building the sampling layer completes the model.
        self.sampling.build([(None, self.latent_dim)] * 2)
        self.built = True

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, inputs, training=False):
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sampling([z_mean, z_log_var]) if training else z_mean
        return self.decoder(z, training=training)

    def _kl_terms(self, z_mean, z_log_var):
        return 0.5 * (ops.square(z_mean) + ops.exp(z_log_var) - 1.0 - z_log_var)

    def _reconstruction(self, y, y_hat):
        y = ops.cast(y, y_hat.dtype)
        axes = tuple(range(1, len(y_hat.shape)))
        if self.likelihood == "gaussian":
            per_sample = 0.5 * ops.sum(ops.square(y - y_hat), axis=axes)
        else:
            p = ops.clip(y_hat, _EPS, 1.0 - _EPS)
            per_sample = -ops.sum(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p), axis=axes)
        return ops.mean(per_sample)

    def _compute_losses(self, x, y, training):
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        y_hat = self.decoder(z, training=training)
        reconstruction = self._reconstruction(y, y_hat)
        kl = ops.mean(ops.sum(self._kl_terms(z_mean, z_log_var), axis=-1))
        total = reconstruction + self.beta * kl
        if self.losses:
            total = total + ops.sum(ops.stack(self.losses))
        return total, reconstruction, kl

    def _update(self, total, reconstruction, kl):
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        y = x if y is None else y
        with tf.GradientTape() as tape:
            total, reconstruction, kl = self._compute_losses(x, y, training=True)
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._update(total, reconstruction, kl)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        y = x if y is None else y
        return self._update(*self._compute_losses(x, y, training=False))

    def encode(self, x):
        """Return ``(z_mean, z_log_var)`` of ``x`` as NumPy arrays."""
        z_mean, z_log_var = self.encoder(x, training=False)
        return ops.convert_to_numpy(z_mean), ops.convert_to_numpy(z_log_var)

    def decode(self, z):
        """Decode latent vectors ``z`` of shape ``(n, latent_dim)`` to signals (NumPy)."""
        return ops.convert_to_numpy(self.decoder(ops.convert_to_tensor(z, "float32"), training=False))

    def sample(self, n, seed=None, mean=True):
        """Generate ``n`` new signals from the prior ``z ~ N(0, I)`` (NumPy array).

        ``mean=True`` (the default) returns the decoder's output for each ``z``: the mean of
        ``p(x|z)``. ``mean=False`` draws ``x ~ p(x|z)`` itself: for ``likelihood="gaussian"``
        ``x = x_hat + eps`` with ``eps ~ N(0, I)`` (the unit variance the loss assumes), for
        ``"bernoulli"`` each feature is 1 with probability ``x_hat`` and 0 otherwise.

        ``seed`` (int) makes the draw reproducible (``z`` and, with ``mean=False``, ``x``); without
        it the sampling layer's seed generator advances.
        """
        n = check_positive_int("n", n)
        mean = check_bool("mean", mean)
        generator = self.sampling.seed_generator if seed is None else seed
        z = keras.random.normal((n, self.latent_dim), seed=generator)
        x_hat = self.decode(z)
        if mean:
            return x_hat
        noise_seed = self.sampling.seed_generator if seed is None else seed + 1
        if self.likelihood == "gaussian":
            eps = keras.random.normal(x_hat.shape, seed=noise_seed)
            return x_hat + ops.convert_to_numpy(eps)
        u = ops.convert_to_numpy(keras.random.uniform(x_hat.shape, seed=noise_seed))
        return (u < x_hat).astype(x_hat.dtype)

    def kl_per_latent(self, x):
        """Mean KL divergence of each latent dimension over the samples of ``x``, shape ``(latent_dim,)``.

        Dimensions with a KL near 0 are unused ("collapsed") by the model.
        """
        z_mean, z_log_var = self.encoder(x, training=False)
        return ops.convert_to_numpy(ops.mean(self._kl_terms(z_mean, z_log_var), axis=0))

    def get_config(self):
        config = super().get_config()
        config.update(beta=self.beta, likelihood=self.likelihood, seed=self.seed)
        return config


def _output_activation(likelihood):
    return "sigmoid" if check_choice("likelihood", likelihood, LIKELIHOODS) == "bernoulli" else "linear"


def build_dense_vae(
    input_dim,
    latent_dim=3,
    encoder_units=(100, 100),
    decoder_units=(100, 100),
    beta=1.0,
    likelihood="gaussian",
    activation="relu",
    seed=None,
    name="dense_vae",
):
    """Build a dense :class:`VAE` for vectors of ``input_dim`` features (uncompiled).

    Args:
        input_dim: Number of input features.
        latent_dim: Size of the latent space.
        encoder_units: Hidden layer sizes of the encoder.
        decoder_units: Hidden layer sizes of the decoder.
        beta: KL weight.
        likelihood: ``"gaussian"`` (linear output) or ``"bernoulli"`` (sigmoid output).
        activation: Hidden activation.
        seed: Sampling seed.
        name: Model name.

    Example:

    >>> vae = build_dense_vae(10, latent_dim=2, encoder_units=(8,), decoder_units=(8,))
    >>> vae.encoder.output_shape, vae.decoder.output_shape
    ([(None, 2), (None, 2)], (None, 10))
    """
    input_dim = check_positive_int("input_dim", input_dim)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    encoder_units = check_int_sequence("encoder_units", encoder_units, allow_empty=True)
    decoder_units = check_int_sequence("decoder_units", decoder_units, allow_empty=True)
    out_act = _output_activation(likelihood)
    inputs = keras.Input((input_dim,), name="input")
    x = apply_layers(inputs, dense_stack(encoder_units, activation, "encoder_dense"))
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    encoder = keras.Model(inputs, [z_mean, z_log_var], name="encoder")
    latent = keras.Input((latent_dim,), name="z")
    x = apply_layers(latent, dense_stack(decoder_units, activation, "decoder_dense"))
    outputs = keras.layers.Dense(input_dim, activation=out_act, name="reconstruction")(x)
    decoder = keras.Model(latent, outputs, name="decoder")
    return VAE(encoder, decoder, beta=beta, likelihood=likelihood, seed=seed, name=name)


def build_conv_vae(
    input_shape,
    latent_dim=8,
    filters=(16, 32),
    kernel_size=7,
    strides=2,
    activation="relu",
    beta=1.0,
    likelihood="gaussian",
    seed=None,
    name="conv_vae",
):
    """Build a convolutional :class:`VAE` for ``(steps, channels)`` or ``(h, w, channels)``.

    The encoder pads to a multiple of the total stride (``ZeroPadding``), applies strided
    ``"same"`` convolutions, flattens and maps to ``z_mean`` / ``z_log_var``; the decoder
    maps ``z`` back to the bottleneck grid, applies transposed convolutions and crops to the
    input's exact shape (``Cropping``).

    Example:

    >>> vae = build_conv_vae((101, 1), latent_dim=4, filters=(4, 8), kernel_size=5)
    >>> vae.decoder.output_shape
    (None, 101, 1)
    """
    input_shape = check_conv_input_shape(input_shape)
    rank = len(input_shape) - 1
    latent_dim = check_positive_int("latent_dim", latent_dim)
    filters = check_int_sequence("filters", filters)
    kernel_size = check_int_sequence("kernel_size", kernel_size, length=rank)
    level_strides = check_level_strides(strides, len(filters), rank)
    out_act = _output_activation(likelihood)
    total = [1] * rank
    for s in level_strides:
        total = [t * si for t, si in zip(total, s)]

    inputs = keras.Input(input_shape, name="input")
    x, cropping = pad_to_multiple(inputs, total, name="pad")
    for i, (f, s) in enumerate(zip(filters, level_strides)):
        x = conv_layer(rank, f, kernel_size, strides=s, activation=activation, name=f"encoder_conv_{i}")(x)
    bottleneck = tuple(int(d) for d in x.shape[1:])
    x = keras.layers.Flatten(name="flatten")(x)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    encoder = keras.Model(inputs, [z_mean, z_log_var], name="encoder")

    latent = keras.Input((latent_dim,), name="z")
    x = keras.layers.Dense(math.prod(bottleneck), activation=activation, name="decoder_dense")(latent)
    x = keras.layers.Reshape(bottleneck, name="reshape")(x)
    for i in reversed(range(len(filters))):
        f = filters[i - 1] if i > 0 else filters[0]
        x = conv_transpose_layer(
            rank, f, kernel_size, strides=level_strides[i], activation=activation, name=f"decoder_conv_{i}"
        )(x)
    x = conv_layer(rank, input_shape[-1], kernel_size, activation=out_act, name="output_conv")(x)
    outputs = crop_back(x, cropping, name="crop")
    decoder = keras.Model(latent, outputs, name="decoder")
    return VAE(encoder, decoder, beta=beta, likelihood=likelihood, seed=seed, name=name)
