"""Masking noise: the input corruption of denoising autoencoders."""
import keras
from keras import ops

from geokeras.validation import check_number

__all__ = ["MaskingNoise"]


@keras.saving.register_keras_serializable(package="geokeras")
class MaskingNoise(keras.layers.Layer):
    """Set each input value to 0 with probability ``rate``, only when ``training=True``.

    Unlike ``keras.layers.Dropout`` the kept values are *not* rescaled by ``1 / (1 - rate)``:
    this is the masking corruption of denoising autoencoders (Vincent et al., 2008). At
    inference (``training=False``, the default) the layer is the identity.
    For additive Gaussian corruption use ``keras.layers.GaussianNoise``.

    Args:
        rate: Probability ``q`` in ``[0, 1)`` that a value is set to 0.
        seed: Optional integer seed of the layer's ``keras.random.SeedGenerator``.
        **kwargs: Base layer arguments.

    Example:

    >>> import numpy as np
    >>> layer = MaskingNoise(0.5, seed=0)
    >>> x = np.ones((2, 1000), "float32")
    >>> float(np.asarray(layer(x)).mean())  # inference: identity
    1.0
    >>> y = np.asarray(layer(x, training=True))
    >>> sorted(set(y.ravel().tolist())), bool(0.4 < y.mean() < 0.6)
    ([0.0, 1.0], True)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_number("rate", rate, low=0.0, high=1.0, high_open=True)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) >= self.rate
            return ops.where(keep, inputs, ops.zeros_like(inputs))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
