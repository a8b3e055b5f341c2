"""Regularizers: KL sparsity of hidden activations."""
import keras
from keras import ops

from geokeras.validation import check_number

__all__ = ["KLSparsity"]


@keras.saving.register_keras_serializable(package="geokeras")
class KLSparsity(keras.regularizers.Regularizer):
    """KL-divergence sparsity penalty on hidden activations.

    ``weight * sum_j KL(rho || rho_hat_j)`` where ``rho_hat_j`` is the mean activation of
    hidden unit ``j`` over the batch (all axes but the last) and
    ``KL(p || q) = p log(p / q) + (1 - p) log((1 - p) / (1 - q))``. Activations must lie
    in ``(0, 1)`` (sigmoid units); ``rho_hat`` is clipped to ``[1e-7, 1 - 1e-7]``.

    It is a batch-level statistic: apply it through
    :class:`geokeras.layers.ActivityLoss` (no division by the batch size), not through a
    layer's ``activity_regularizer=``, which Keras divides by the batch size.

    Args:
        rho: Target mean activation, in ``(0, 1)``.
        weight: Penalty weight (``beta``), ``>= 0``.

    Example:

    >>> import numpy as np
    >>> reg = KLSparsity(rho=0.1, weight=2.0)
    >>> h = np.array([[0.2, 0.1], [0.4, 0.1]], "float32")  # rho_hat = [0.3, 0.1]
    >>> kl = 0.1 * np.log(0.1 / 0.3) + 0.9 * np.log(0.9 / 0.7)
    >>> bool(np.isclose(float(reg(h)), 2.0 * kl, rtol=1e-5))
    True
    """

    def __init__(self, rho=0.05, weight=1.0):
        self.rho = check_number("rho", rho, low=0.0, high=1.0, low_open=True, high_open=True)
        self.weight = check_number("weight", weight, low=0.0)

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        axes = tuple(range(len(x.shape) - 1))
        rho_hat = ops.clip(ops.mean(x, axis=axes), 1e-7, 1.0 - 1e-7)
        rho = ops.cast(self.rho, rho_hat.dtype)
        kl = rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat))
        return self.weight * ops.sum(kl)

    def get_config(self):
        return {"rho": self.rho, "weight": self.weight}
