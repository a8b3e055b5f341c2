"""Reparameterization sampling for variational autoencoders."""
import keras
from keras import ops

__all__ = ["Sampling"]


@keras.saving.register_keras_serializable(package="geokeras")
class Sampling(keras.layers.Layer):
    """Draw ``z = z_mean + exp(z_log_var / 2) * eps`` with ``eps ~ N(0, I)``.

    The reparameterization trick: the randomness sits in ``eps``, so gradients flow to
    ``z_mean`` and ``z_log_var``. The layer always samples (training or not); it draws from
    its own ``keras.random.SeedGenerator``, so a fixed ``seed`` gives a reproducible sequence.

    Args:
        seed: Optional integer seed.
        **kwargs: Base layer arguments.

    Example:

    >>> import numpy as np
    >>> z_mean = np.zeros((4000, 2), "float32")
    >>> z_log_var = np.full((4000, 2), np.log(4.0), "float32")
    >>> z = np.asarray(Sampling(seed=1)([z_mean, z_log_var]))
    >>> z.shape, bool(abs(z.std() - 2.0) < 0.1)
    ((4000, 2), True)
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed)
        return config
