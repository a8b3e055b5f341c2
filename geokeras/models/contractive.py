"""Contractive autoencoders: reconstruction + weight * ||J_x(h)||_F^2 (five ways to compute it).

The penalty is the squared Frobenius norm of the Jacobian of the code ``h = f(x)`` with
respect to the input, computed per sample and averaged over the batch:
``penalty = mean_b sum_{j,i} (dh_j / dx_i)^2``.

- ``"exact"``: the per-sample Jacobian with ``tf.GradientTape.batch_jacobian``; any encoder.
  Costs about one backward pass per code unit.
- ``"closed_form"``: for a single dense layer with sigmoid or tanh,
  ``J = diag(s') W^T`` so ``||J||_F^2 = sum_j s'_j^2 ||W_j||^2`` with ``s' = h (1 - h)``
  (sigmoid) or ``1 - h^2`` (tanh) and ``W_j`` the live kernel's column ``j``.
- ``"stochastic"``: Hutchinson / random-projection estimate. For a random ``v`` over the code units with
  ``E[v v^T] = I`` (independent random signs, :func:`random_signs`; a Gaussian before issue 19: the same
  expectation, more variance, and its draw was a measurable part of the step),
  ``E ||v^T J||^2 = trace(J J^T) = ||J||_F^2``, so ``||v^T J||^2`` is unbiased; ``v^T J`` is one
  vector-Jacobian product, i.e. one extra backward pass per projection: written out for a chain of plain
  ``Dense`` layers (``v * s'`` times each transposed kernel), ``tape.gradient(h, x, output_gradients=v)`` for
  any other encoder. ``n_projections`` draws are averaged.
- ``"forward"``: the same estimate from the other side. For a random ``v`` over the *input* with
  ``E[v v^T] = I``, ``E ||J v||^2 = trace(J^T J) = ||J||_F^2``; ``J v`` is one Jacobian-vector
  product, carried alongside the encoder's forward pass by ``tf.autodiff.ForwardAccumulator`` (no
  extra reverse pass; the code ``h`` comes out of the same pass). ``v`` has independent random
  signs (Rademacher, :func:`random_signs`): as unbiased as a Gaussian, cheaper to draw over a wide
  input (the Gaussian draw was a measurable part of the step), and of lower variance
  (``2 (||A||_F^2 - sum_i A_ii^2)`` instead of ``2 ||A||_F^2``, ``A = J^T J``). With
  ``n_projections > 1`` the encoder's forward pass is repeated once per projection.
- ``"forward_shared"``: ``"forward"`` with one projection ``v`` per step shared by every sample of the batch.
  Still unbiased for each sample (``E ||J_b v||^2 = ||J_b||_F^2`` for any fixed ``b``), with more variance
  of the batch mean (the samples' estimates share ``v``; for a code of ``m`` units the relative spread of
  one sample's estimate is about ``sqrt(2 / m)``). For an encoder of plain ``Dense`` layers the first
  layer's tangent is one vector-matrix product ``v W`` instead of a batch of them, so on a one-layer encoder
  the penalty costs little more than ``"closed_form"``'s element-wise passes, for any activation.
"""
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from geokeras.validation import check_choice, check_int_sequence, check_number, check_positive_int
from geokeras.layers import TiedDense
from geokeras.models.blocks import EncoderDecoderModel, apply_layers, dense_stack, mirrored_units

__all__ = ["ContractiveAutoencoder", "build_contractive_autoencoder", "jacobian_penalty", "random_signs", "PENALTIES"]

PENALTIES = ("exact", "closed_form", "stochastic", "forward", "forward_shared")
_FORWARD = ("forward", "forward_shared")


def _single_dense(encoder):
    """Return ``(kernel, activation_name)`` of a one-dense-layer sigmoid/tanh encoder, else raise."""
    layers = [l for l in getattr(encoder, "layers", [encoder]) if not isinstance(l, keras.layers.InputLayer)]
    if len(layers) == 1 and isinstance(layers[0], (keras.layers.Dense, TiedDense)):
        act = layers[0].activation
        for name in ("sigmoid", "tanh"):
            if act is keras.activations.get(name):
                return layers[0].kernel, name
    raise ValueError(
        "Invalid value for argument `mode`. Expected 'exact', 'stochastic' or 'forward' for this encoder: "
        "'closed_form' needs an encoder made of a single Dense layer with sigmoid or tanh activation. "
        f"Received mode='closed_form' with encoder layers {[type(l).__name__ for l in layers]}."
    )


def _sum_per_sample(t):
    return ops.sum(ops.reshape(ops.square(t), (ops.shape(t)[0], -1)), axis=-1)


def _draw_seed(seed, k):
    # an int seed is stateless in Keras: offset it so that the projections differ
    return seed + k if isinstance(seed, int) and not isinstance(seed, bool) else seed


# row k: the signs (+1 for a 0 bit, -1 for a 1 bit) of the 8 bits of the byte k
_BYTE_SIGNS = 1.0 - 2.0 * ((np.arange(256)[:, None] >> np.arange(8)) & 1)


def random_signs(shape, dtype="float32", seed=None):
    """Independent random signs, each ``-1`` or ``+1`` with probability 1/2 (Rademacher).

    ``E[v v^T] = I``, so ``||J v||^2`` is an unbiased estimate of ``||J||_F^2``.

    Args:
        shape: Output shape.
        dtype: Output dtype.
        seed: An int (stateless, reproducible) or a ``keras.random.SeedGenerator``.

    Example:

    >>> import numpy as np
    >>> v = np.asarray(random_signs((1000,), seed=0))
    >>> sorted(set(v.tolist())), bool(abs(v.mean()) < 0.1)
    ([-1.0, 1.0], True)
    """
    # 16 signs from one random integer of [0, 2**16) (a power of two: its bits are exactly uniform and independent),
    # split into two bytes that look up their 8 signs in `_BYTE_SIGNS`. One uniform float per sign (TensorFlow's
    # Philox on CPU, ~5 ns each) cost as much as a 64 x 3000 x 256 matrix product in the contractive step.
    total = ops.prod(ops.convert_to_tensor(shape, "int32"))
    words = keras.random.randint(((total + 15) // 16,), 0, 2**16, dtype="int32", seed=seed)
    byte_values = ops.cast(tf.bitcast(ops.cast(words, "uint16"), tf.uint8), "int32")  # (words, 2)
    signs = tf.gather(ops.convert_to_tensor(_BYTE_SIGNS, dtype), byte_values)  # (words, 2, 8)
    return ops.reshape(ops.reshape(signs, (-1,))[:total], shape)


# activation -> its derivative as a function of its output h (None: linear), for the Dense-chain paths
_DERIVATIVES = {
    "sigmoid": lambda h: h * (1.0 - h),
    "tanh": lambda h: 1.0 - ops.square(h),
    "linear": None,
    "relu": lambda h: ops.sign(h),  # 1 where the input > 0, else 0
}


def _derivative(layer, h):
    """The derivative of ``layer``'s activation at its output ``h`` (None for a linear layer)."""
    name = next(k for k in _DERIVATIVES if layer.activation is keras.activations.get(k))
    return None if _DERIVATIVES[name] is None else _DERIVATIVES[name](h)


def _plain_dense_stack(encoder):
    """The ``Dense`` layers of an encoder made only of plain float32 ``Dense`` layers in a chain, else None."""
    layers = [l for l in getattr(encoder, "layers", ()) if not isinstance(l, keras.layers.InputLayer)]
    if not layers or not isinstance(encoder, keras.Model) or type(encoder).__name__ not in ("Functional", "Sequential"):
        return None
    for layer in layers:
        act = getattr(layer, "activation", None)
        if (type(layer) is not keras.layers.Dense or layer.activity_regularizer is not None
                or layer.dtype_policy.name != "float32" or getattr(layer, "lora_enabled", False)
                or layer.quantization_mode is not None
                or not any(act is keras.activations.get(n) for n in _DERIVATIVES)):
            return None
    chained = all(len(l._inbound_nodes) == 1 for l in layers) and len(encoder.outputs) == 1
    return layers if chained and encoder.outputs[0] is layers[-1].output else None


def _dense_stack_jvp(layers, x, v):
    """``(h, J v)`` through a chain of ``Dense`` layers: each layer's input and tangent go through its kernel in
    one matrix product (``[x; v] W``), the tangent then scaled by the activation's derivative. The same
    arithmetic as ``tf.autodiff.ForwardAccumulator`` with half the matrix products (and their gradients)."""
    n = ops.shape(x)[0]
    h, t = x, v
    for layer in layers:
        # split, not slices: the gradient of a split is one concatenation, a slice's a zero-padded copy each
        z, t = tf.split(ops.matmul(ops.concatenate([h, t], axis=0), layer.kernel), [n, -1], axis=0)
        if layer.use_bias:
            z = z + layer.bias
        h = layer.activation(z)
        deriv = _derivative(layer, h)
        t = t if deriv is None else deriv * t
    return h, t


def _dense_stack_vjp_estimate(layers, x, n_projections, seed, training):
    """``(h, mean_b ||u_b^T J_b||^2)`` with random signs ``u`` over the code (`random_signs`), through a chain of
    ``Dense`` layers: the layers' own calls, then one reverse pass per projection written out (``g = u * s'``,
    ``g W^T`` per layer). The first layer's product is computed transposed, ``W g^T`` of shape (input, batch), whose
    squares summed are the batch's: oneDNN multiplies a 64-row ``g`` by a transposed kernel about a third slower,
    and neither gradient of ``W g^T`` (``dC g``, ``dC^T W``) reads the kernel transposed."""
    outputs = [x]
    for layer in layers:
        outputs.append(layer(outputs[-1], training=training))
    total = 0.0
    for k in range(n_projections):
        g = random_signs(ops.shape(outputs[-1]), dtype=x.dtype, seed=_draw_seed(seed, k))
        for i in range(len(layers) - 1, -1, -1):
            deriv = _derivative(layers[i], outputs[i + 1])
            g = g if deriv is None else g * deriv
            if i:
                g = ops.matmul(g, ops.transpose(layers[i].kernel))
        # sum of all squares / 2, one op (its gradient one product, no broadcast of a per-sample sum's gradient)
        total = total + tf.nn.l2_loss(tf.matmul(layers[0].kernel, g, transpose_b=True))
    return outputs[-1], 2.0 * total / (ops.cast(ops.shape(x)[0], x.dtype) * n_projections)


def _forward_estimate(encoder, x, n_projections, seed, training, shared=False):
    """``(h, mean_b ||J_b v_b||^2)`` with random signs ``v`` over the input: forward-mode JVPs (`_dense_stack_jvp`
    for a chain of plain ``Dense`` layers, ``tf.autodiff.ForwardAccumulator`` for any other encoder). With
    ``shared``, one ``v`` of shape ``(1, ...)`` serves the whole batch (``v_b = v``)."""
    h, total = None, 0.0
    stack = _plain_dense_stack(encoder)
    shape = ops.shape(x)
    for k in range(n_projections):
        v = random_signs((1, *shape[1:]) if shared else shape, dtype=x.dtype, seed=_draw_seed(seed, k))
        if stack is not None:
            code, jvp = _dense_stack_jvp(stack, x, v)  # a (1, input) tangent: one row through the first kernel
        else:
            with tf.autodiff.ForwardAccumulator(primals=x, tangents=ops.broadcast_to(v, shape)) as acc:
                code = encoder(x, training=training)
            jvp = acc.jvp(code, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        total = total + _sum_per_sample(jvp)
        h = code if h is None else h
    return h, ops.mean(total) / n_projections


def code_and_penalty(encoder, x, mode="exact", n_projections=1, seed=None, training=True):
    """Return ``(h, penalty)``: the code ``encoder(x)`` and the batch-mean ``||J_x(h)||_F^2``.

    The computation is differentiable with respect to the encoder's weights (use it inside
    an outer ``tf.GradientTape``). See the module docstring for the five modes.
    """
    check_choice("mode", mode, PENALTIES)
    n_projections = check_positive_int("n_projections", n_projections)
    x = tf.convert_to_tensor(x, tf.float32)
    if mode == "closed_form":
        kernel, act = _single_dense(encoder)
        h = encoder(x, training=training)
        deriv = h * (1.0 - h) if act == "sigmoid" else 1.0 - ops.square(h)
        col_norms = ops.sum(ops.square(kernel), axis=0)
        return h, ops.mean(ops.sum(ops.square(deriv) * col_norms, axis=-1))
    if mode in _FORWARD:
        return _forward_estimate(encoder, x, n_projections, seed, training, shared=mode == "forward_shared")
    stack = _plain_dense_stack(encoder) if mode == "stochastic" else None
    if stack is not None:
        return _dense_stack_vjp_estimate(stack, x, n_projections, seed, training)
    with tf.GradientTape(persistent=mode == "stochastic" and n_projections > 1) as tape:
        tape.watch(x)
        h = encoder(x, training=training)
    if mode == "exact":
        jac = tape.batch_jacobian(h, x)
        return h, ops.mean(_sum_per_sample(jac))
    total = 0.0
    for k in range(n_projections):
        v = random_signs(ops.shape(h), dtype=h.dtype, seed=_draw_seed(seed, k))
        vjp = tape.gradient(h, x, output_gradients=v)
        total = total + _sum_per_sample(vjp)
    del tape
    return h, ops.mean(total) / n_projections


def jacobian_penalty(encoder, x, mode="exact", n_projections=1, seed=None):
    """Mean over the batch of the squared Frobenius norm of the encoder's Jacobian.

    Args:
        encoder: A Keras model or layer mapping ``x`` to the code ``h``.
        x: Batch of inputs.
        mode: ``"exact"``, ``"closed_form"`` (single dense sigmoid/tanh layer),
            ``"stochastic"`` (unbiased random-projection estimate, reverse mode) or
            ``"forward"`` (the same estimate with forward-mode Jacobian-vector products) or ``"forward_shared"``
            (one projection per call shared by the batch: cheaper, noisier; see the module docstring).
        n_projections: Number of random projections averaged in the three random modes.
        seed: the random modes only. An int gives a reproducible estimate (projection ``k``
            uses seed ``seed + k``, so the same draws on every call); a
            ``keras.random.SeedGenerator`` gives fresh draws on every call (what training uses).

    Returns:
        A scalar tensor.

    Example:

    >>> import numpy as np
    >>> enc = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="sigmoid")])
    >>> x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    >>> exact = float(jacobian_penalty(enc, x, "exact"))
    >>> bool(abs(exact - float(jacobian_penalty(enc, x, "closed_form"))) < 1e-5)
    True
    """
    return code_and_penalty(encoder, x, mode=mode, n_projections=n_projections, seed=seed, training=False)[1]


@keras.saving.register_keras_serializable(package="geokeras")
class ContractiveAutoencoder(EncoderDecoderModel):
    """Autoencoder trained on ``loss(y, decoder(encoder(x))) + weight * ||J_x(h)||_F^2``.

    ``compile(optimizer, loss)`` then ``fit(x, x)`` as usual. The penalty is computed in a
    custom ``train_step`` / ``test_step`` with ``tf.GradientTape`` (see
    :func:`jacobian_penalty` for the modes; it is the per-sample squared Frobenius norm,
    averaged over the batch). Logged metrics: ``loss`` (total),
    ``reconstruction_loss`` (the compiled loss plus layer regularization losses),
    ``contractive_penalty`` (unweighted), then any compiled metrics.

    Cost (figures: ``bench/bench_contractive.py`` and the README's benchmark table): ``"closed_form"`` adds
    element-wise passes over the kernel; ``"stochastic"`` adds one vector-Jacobian product and the two products
    of its gradient (three matrix products the size of the first layer's); ``"forward"`` (a Jacobian-vector
    product carried through the forward pass) adds two (the tangent's product and its gradient with respect to
    the kernel; the tangent itself needs none): the cheaper of the two per-sample estimators. Under XLA on CPU
    the forward step is far slower, so ``compile(jit_compile="auto")`` leaves XLA off for it (an explicit
    ``jit_compile=True`` warns). ``"forward_shared"`` (one projection per step for the whole batch) drops the
    first layer's tangent matmul: on a one-layer encoder it costs about what ``"closed_form"`` does. ``"exact"`` builds the full per-sample Jacobian (for small models and checks).

    Args:
        encoder: Model ``x -> h``.
        decoder: Model ``h -> x_hat``.
        weight: Penalty weight ``lambda >= 0``.
        penalty: ``"exact"``, ``"closed_form"``, ``"stochastic"``, ``"forward"`` or ``"forward_shared"``.
        n_projections: Random projections per step in the three random modes.
        seed: Seed of the random projections.
        **kwargs: ``keras.Model`` arguments (``name``).

    Example:

    >>> import numpy as np
    >>> cae = build_contractive_autoencoder(6, hidden_units=(3,), penalty="closed_form")
    >>> cae.compile("adam", "mse")
    >>> x = np.random.default_rng(0).random((8, 6)).astype("float32")
    >>> sorted(cae.fit(x, x, epochs=1, verbose=0).history)
    ['contractive_penalty', 'loss', 'reconstruction_loss']
    """

    def __init__(self, encoder, decoder, weight=0.1, penalty="exact", n_projections=1, seed=None, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        self.weight = check_number("weight", weight, low=0.0)
        self.penalty = check_choice("penalty", penalty, PENALTIES)
        self.n_projections = check_positive_int("n_projections", n_projections)
        if self.penalty == "closed_form":
            try:
                _single_dense(encoder)
            except ValueError as err:
                raise ValueError(str(err).replace("argument `mode`", "argument `penalty`").replace(
                    "Received mode=", "Received penalty=")) from None
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.penalty_tracker = keras.metrics.Mean(name="contractive_penalty")
        self.build(encoder.input_shape)

    def build(self, input_shape=None):
        self.built = True

    def compile(self, *args, jit_compile="auto", **kwargs):
        """``keras.Model.compile``; with a forward penalty, ``"auto"`` means no XLA (see above)."""
        if self.penalty in _FORWARD:
            if jit_compile is True:
                warnings.warn(
                    f"penalty={self.penalty!r} with jit_compile=True: XLA on CPU made this train step 250-320x "
                    "slower in bench/bench_contractive.py; consider jit_compile=False.",
                    stacklevel=2,
                )
            elif jit_compile == "auto":
                jit_compile = False
        super().compile(*args, jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        """Recompile a loaded model from its saved compile config (what ``keras.Model`` does, which it skips
        for a model whose ``compile`` is overridden, as here): a reloaded model trains on at once."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        metrics = [self.total_loss_tracker, self.reconstruction_loss_tracker, self.penalty_tracker]
        compiled = getattr(self, "_compile_metrics", None)
        return metrics + ([compiled] if compiled is not None else [])

    def call(self, inputs, training=False):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def _step(self, data, training):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y = x if y is None else y
        h, penalty = code_and_penalty(
            self.encoder, x, self.penalty, self.n_projections, seed=self.seed_generator, training=training
        )
        y_pred = self.decoder(h, training=training)
        reconstruction = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        total = reconstruction + self.weight * penalty
        return x, y, y_pred, sample_weight, total, reconstruction, penalty

    def _report(self, x, y, y_pred, sample_weight, total, reconstruction, penalty):
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.penalty_tracker.update_state(penalty)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            out = self._step(data, training=True)
        grads = tape.gradient(out[4], self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._report(*out)

    def test_step(self, data):
        return self._report(*self._step(data, training=False))

    def get_config(self):
        config = super().get_config()
        config.update(weight=self.weight, penalty=self.penalty, n_projections=self.n_projections, seed=self.seed)
        return config


def build_contractive_autoencoder(
    input_dim,
    hidden_units=(32,),
    activation="sigmoid",
    output_activation="linear",
    weight=0.1,
    penalty="exact",
    n_projections=1,
    l2=0.0,
    seed=None,
    name="contractive_autoencoder",
):
    """Build a dense :class:`ContractiveAutoencoder` (uncompiled).

    The encoder is ``Dense(u, activation)`` for each ``u`` in ``hidden_units``; the decoder
    mirrors it and ends with ``Dense(input_dim, output_activation)``. ``penalty="closed_form"``
    needs a single hidden layer with sigmoid or tanh.

    Example:

    >>> cae = build_contractive_autoencoder(10, hidden_units=(4,), penalty="stochastic")
    >>> cae.encoder.output_shape, cae.decoder.output_shape
    ((None, 4), (None, 10))
    """
    input_dim = check_positive_int("input_dim", input_dim)
    hidden_units = check_int_sequence("hidden_units", hidden_units)
    l2 = check_number("l2", l2, low=0.0)
    check_choice("penalty", penalty, PENALTIES)
    reg = keras.regularizers.L2(l2) if l2 > 0 else None
    inputs = keras.Input((input_dim,), name="input")
    encoder = keras.Model(inputs, apply_layers(inputs, dense_stack(hidden_units, activation, "encoder_dense", reg)),
                          name="encoder")
    latent = keras.Input((hidden_units[-1],), name="code")
    units, indices = mirrored_units(input_dim, hidden_units)
    dec_layers = dense_stack(units, activation, "decoder_dense", reg, last_activation=output_activation,
                             indices=indices)
    decoder = keras.Model(latent, apply_layers(latent, dec_layers), name="decoder")
    return ContractiveAutoencoder(
        encoder, decoder, weight=weight, penalty=penalty, n_projections=n_projections, seed=seed, name=name
    )
