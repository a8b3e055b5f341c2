"""Identity layer that adds a regularizer of its input to the model's losses."""
import keras

__all__ = ["ActivityLoss"]


@keras.saving.register_keras_serializable(package="geokeras")
class ActivityLoss(keras.layers.Layer):
    """Pass activations through unchanged and add ``regularizer(activations)`` as a loss.

    Keras' own ``activity_regularizer=`` argument divides the penalty by the batch size,
    which is right for per-sample penalties (L1/L2 of activations) but wrong for
    batch-level statistics such as :class:`geokeras.regularizers.KLSparsity`, which is
    defined on the mean activation over the batch. This layer adds the value unscaled.

    Args:
        regularizer: A callable regularizer (e.g. ``KLSparsity(0.05, 1.0)``) or its config.
        **kwargs: Base layer arguments.

    Example:

    >>> import numpy as np
    >>> from geokeras.regularizers import KLSparsity
    >>> layer = ActivityLoss(KLSparsity(rho=0.5, weight=1.0))
    >>> _ = layer(np.full((4, 3), 0.5, "float32"))
    >>> [round(float(v), 6) for v in layer.losses]
    [0.0]
    """

    def __init__(self, regularizer, **kwargs):
        super().__init__(**kwargs)
        self.regularizer = keras.regularizers.get(regularizer)
        if self.regularizer is None:
            raise ValueError(
                "Invalid value for argument `regularizer`. Expected a regularizer. "
                f"Received regularizer={regularizer!r}."
            )

    def call(self, inputs):
        self.add_loss(self.regularizer(inputs))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(regularizer=keras.regularizers.serialize(self.regularizer))
        return config
