"""A dense layer whose transpose is the decoder: one kernel variable, two directions."""
import keras
from keras import ops

from geokeras.validation import check_positive_int

__all__ = ["TiedDense"]


@keras.saving.register_keras_serializable(package="geokeras")
class TiedDense(keras.layers.Layer):
    """Dense layer that can also run transposed, sharing the same kernel variable.

    Call it forward (``layer(x)``) for the encoder direction,
    ``activation(x @ kernel + bias)``, and call the *same layer object* with
    ``transpose=True`` for the decoder direction,
    ``decoder_activation(h @ transpose(kernel) + decoder_bias)``. Both directions read one
    ``kernel`` variable, so tied weights stay tied during training and after a ``.keras``
    save/load (the functional graph records two calls of one layer, not two layers).

    The layer is built by its first (forward) call: ``kernel`` has shape
    ``(input_dim, units)``, ``bias`` ``(units,)`` and ``decoder_bias`` ``(input_dim,)``.

    Args:
        units: Number of hidden units (forward output size).
        activation: Activation of the forward direction.
        decoder_activation: Activation of the transposed direction.
        use_bias: Whether both directions add a bias.
        kernel_initializer, bias_initializer: Keras initializers.
        kernel_regularizer: Regularizer on the shared kernel (counted once).
        **kwargs: Base ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Example:

    >>> import numpy as np
    >>> layer = TiedDense(2, activation="sigmoid")
    >>> x = np.ones((1, 3), "float32")
    >>> h = layer(x)
    >>> tuple(h.shape), tuple(layer(h, transpose=True).shape)
    ((1, 2), (1, 3))
    """

    def __init__(
        self,
        units,
        activation=None,
        decoder_activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.activation = keras.activations.get(activation)
        self.decoder_activation = keras.activations.get(decoder_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "Invalid value for argument `input_shape`. Expected a known last dimension. "
                f"Received input_shape={tuple(input_shape)!r}."
            )
        self.input_dim = int(input_dim)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer
            )
            self.decoder_bias = self.add_weight(
                name="decoder_bias", shape=(self.input_dim,), initializer=self.bias_initializer
            )
        else:
            self.bias = None
            self.decoder_bias = None

    def call(self, inputs, transpose=False):
        if transpose:
            outputs = ops.matmul(inputs, ops.transpose(self.kernel))
            if self.use_bias:
                outputs = ops.add(outputs, self.decoder_bias)
            return self.decoder_activation(outputs)
        outputs = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def compute_output_spec(self, inputs, transpose=False):
        units = self.input_dim if transpose else self.units
        return keras.KerasTensor(tuple(inputs.shape[:-1]) + (units,), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=keras.activations.serialize(self.activation),
            decoder_activation=keras.activations.serialize(self.decoder_activation),
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
        )
        return config
