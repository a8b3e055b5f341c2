"""An inference graph of a trained model: the same weights and outputs (to float32 rounding), less CPU time.

`inference_model` returns a functional copy of a model that shares its layers (and so its weights, also when
they change later) with three rewrites of the forward pass:

- every ``Conv1DTranspose``/``Conv2DTranspose`` with ``"same"`` padding and strides above 1 is computed as a
  strided transposed convolution's *phases*: one ordinary convolution of the input with the kernel taps
  rearranged into ``prod(strides)`` groups of output channels (`phase_kernel_taps`), followed by a
  depth-to-space shuffle (`PhaseConvTranspose`). Each output sample is the same sum of the same products as
  in the transposed convolution (only the order of the additions differs); oneDNN runs a forward
  convolution with more output channels much faster than the backward-data kernel of a transposed one.
- a bfloat16 convolution whose activation is not piecewise linear (the mask's sigmoid) computes its convolution
  and bias in bfloat16 as before and its activation in float32 on those bfloat16 values (`Float32Activation`):
  TensorFlow's bfloat16 sigmoid is several times slower than its float32 one, and the float32 mask is the more
  exact of the two (the float32 model's graph is unchanged);
- `SignInvariantFeatures` runs as an XLA-compiled function (`XlaCompiled`) for batches of `XLA_MIN_BATCH`
  windows or more: its two dozen element-wise operations become one loop instead of two dozen passes over
  memory (5x less CPU time for that layer). (The zero padding after it is not: XLA's padding of this shape
  took longer than the features and TensorFlow's padding together.)

Reproducibility: for a given number of TensorFlow intra-op threads the outputs are the same bits on every run.
XLA splits the features' loop between those threads, and one channel of the features (the imaginary part of
the phase step across frequency bins) is rounded differently with 1 thread than with 2, so ``--workers 2``
(one thread per worker) and the plain run (two threads) differ by ~1e-7 of a window's peak where the model's
own graph gave the same bits. Setting `XLA_LAYERS` to ``()`` trades that back for ~10 % of the model's time.

Sign symmetry is kept: the rewrites change the order of additions, not which products are summed, and XLA's
element-wise code computes the same products for ``x`` and ``-x``, so ``f(-x) == -f(x)`` stays exact for a
sign-invariant mask denoiser (``tests/test_inference_model.py``). Nothing here is saved: the ``.keras`` file
and the model it loads are unchanged; `geokeras.denoise.Denoiser.predictor` runs this graph.

Example:
    >>> import numpy as np
    >>> from geokeras.models.denoiser import build_denoiser
    >>> model = build_denoiser("stftmask", window_length=600, sign_invariant=True)
    >>> fast = inference_model(model)
    >>> x = np.random.default_rng(0).normal(size=(2, 600, 1)).astype("float32")
    >>> bool(np.allclose(fast(x), model(x), atol=1e-5))
    True
    >>> bool(np.array_equal(np.asarray(fast(-x)), -np.asarray(fast(x))))
    True
"""
import contextlib
import threading

import keras
import numpy as np

from geokeras.layers.stft import SignInvariantFeatures

__all__ = ["inference_model", "phase_kernel_taps", "supports_phases", "PhaseConvTranspose", "XlaCompiled",
           "XLA_LAYERS", "XLA_MIN_BATCH", "large_batches", "Float32Activation"]

#: the layers `inference_model` runs through XLA (element-wise work only: no convolution, no FFT); the others
#: gain less from it than the compilation of each batch shape costs
XLA_LAYERS = (SignInvariantFeatures,)
#: smaller static batches skip XLA (a day's last, short batch is not worth a compilation)
XLA_MIN_BATCH = 64


def phase_kernel_taps(kernel_size, stride):
    """The phase decomposition of a 1-D ``"same"`` transposed convolution.

    Output sample ``j = stride * m + a`` (phase ``a``) of a transposed convolution with kernel ``w`` is
    ``sum_k in[m + d] * w[k]`` over the taps ``k`` with ``a + pad - k = stride * d`` (``pad`` the leading
    padding of the forward convolution it transposes: ``max(kernel_size - stride, 0) // 2``). Returns
    ``(before, after, taps)``: the input is padded by ``before``/``after`` samples, and ``taps[a][u]`` is the
    kernel index read by phase ``a`` at offset ``u`` of a ``len(taps[a])``-tap valid convolution, or None
    where the phase has no tap (a zero weight).

    Example:
        >>> phase_kernel_taps(3, 2)  # phase 0 reads w[2], w[0]; phase 1 reads w[1]
        (1, 0, [[2, 0], [None, 1]])
    """
    pad = max(kernel_size - stride, 0) // 2
    lo = min((a + pad - (kernel_size - 1) + stride - 1) // stride for a in range(stride))  # ceil division
    hi = max((a + pad) // stride for a in range(stride))
    taps = []
    for a in range(stride):
        row = []
        for d in range(lo, hi + 1):
            k = a + pad - stride * d
            row.append(k if 0 <= k < kernel_size else None)
        taps.append(row)
    return max(-lo, 0), max(hi, 0), taps


def _phase_indices(kernel_size, strides):
    """``(paddings, gather_index, shape)`` rearranging a transposed kernel into phase-convolution taps."""
    per_axis = [phase_kernel_taps(k, s) for k, s in zip(kernel_size, strides)]
    paddings = [(before, after) for before, after, _ in per_axis]
    taps = [t for _, _, t in per_axis]
    offsets = [len(t[0]) for t in taps]
    n_kernel = int(np.prod(kernel_size))
    index = np.full(offsets + [int(np.prod(strides))], n_kernel, dtype=np.int32)  # n_kernel: the zero tap
    for phase, phases in enumerate(np.ndindex(*strides)):
        for offset in np.ndindex(*offsets):
            ks = [taps[axis][phases[axis]][offset[axis]] for axis in range(len(strides))]
            if all(k is not None for k in ks):
                index[offset + (phase,)] = int(np.ravel_multi_index(ks, kernel_size))
    return paddings, index, offsets


class PhaseConvTranspose(keras.layers.Layer):
    """A ``"same"`` strided ``Conv1DTranspose``/``Conv2DTranspose`` computed as one convolution per phase.

    Inference only (`inference_model` makes it; it is never saved): it reads the wrapped layer's kernel
    and bias at each call, so it follows the weights of the layer it stands for.

    Args:
        layer: the transposed convolution (built, ``"same"`` padding, ``channels_last``, no dilation).
    """

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"{layer.name}_phases", dtype=layer.dtype_policy, **kwargs)
        if not supports_phases(layer):
            raise ValueError("Invalid value for argument `layer`. Expected a built channels_last transposed "
                             f"convolution with 'same' padding and no dilation. Received {layer.name!r}.")
        self.layer = layer
        self.rank = len(layer.kernel_size)
        self._paddings, self._index, self._offsets = _phase_indices(layer.kernel_size, layer.strides)

    def _kernel(self, tf):
        """The ``(*offsets, in, phases * out)`` kernel of the phase convolution, from the layer's kernel."""
        kernel = tf.cast(self.layer.kernel, self.compute_dtype)  # (*kernel_size, out, in)
        out_ch, in_ch = kernel.shape[-2], kernel.shape[-1]
        flat = tf.reshape(kernel, (-1, out_ch, in_ch))
        flat = tf.concat([flat, tf.zeros((1, out_ch, in_ch), flat.dtype)], axis=0)
        taps = tf.gather(flat, self._index)  # (*offsets, phases, out, in)
        perm = list(range(self.rank)) + [self.rank + 2, self.rank, self.rank + 1]
        taps = tf.transpose(taps, perm)  # (*offsets, in, phases, out)
        return tf.reshape(taps, tuple(self._offsets) + (in_ch, -1))

    def call(self, inputs):
        import tensorflow as tf

        layer = self.layer
        x = tf.pad(inputs, [[0, 0]] + [list(p) for p in self._paddings] + [[0, 0]])
        y = tf.nn.convolution(x, self._kernel(tf), padding="VALID")
        if layer.use_bias:
            bias = tf.cast(layer.bias, self.compute_dtype)
            y = tf.nn.bias_add(y, tf.tile(bias, [int(np.prod(layer.strides))]))
        y = layer.activation(y)
        return _depth_to_space(tf, y, layer.strides, layer.filters)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)


def _depth_to_space(tf, y, strides, filters):
    """Interleave the phases ``(batch, *n, prod(strides) * filters)`` into ``(batch, *(n * strides), filters)``.

    A reshape and a transpose, also for square 2-D strides: the same values as ``tf.nn.depth_to_space``, which
    moved blocks of ``filters`` values 2x (bfloat16) to 1.4x (float32) slower on this model's shapes."""
    shape = tf.shape(y)
    spatial = [shape[1 + i] for i in range(len(strides))]
    y = tf.reshape(y, [shape[0]] + spatial + list(strides) + [filters])
    rank = len(strides)
    perm = [0] + [v for i in range(rank) for v in (1 + i, 1 + rank + i)] + [1 + 2 * rank]
    y = tf.transpose(y, perm)
    return tf.reshape(y, [shape[0]] + [spatial[i] * strides[i] for i in range(rank)] + [filters])


def supports_phases(layer):
    """Whether `PhaseConvTranspose` can stand for ``layer`` (a strided ``"same"`` transposed convolution)."""
    conv_t = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose)
    return (isinstance(layer, conv_t) and layer.built and layer.padding == "same"
            and layer.data_format == "channels_last" and all(d == 1 for d in layer.dilation_rate)
            and any(s > 1 for s in layer.strides) and getattr(layer, "output_padding", None) is None)


_LARGE = threading.local()


@contextlib.contextmanager
def large_batches():
    """Inside this context (in this thread), `XlaCompiled` layers called with an unknown batch size run through
    XLA: the caller promises batches of `XLA_MIN_BATCH` windows or more. One graph then serves every such
    batch size, XLA compiling its loop once per size at run time (a fraction of a new graph's tracing),
    with the same outputs as a graph of that static size (`geokeras.denoise.Denoiser.predictor`)."""
    before = getattr(_LARGE, "on", False)
    _LARGE.on = True
    try:
        yield
    finally:
        _LARGE.on = before


class XlaCompiled(keras.layers.Layer):
    """Run a (weightless, element-wise) layer's ``call`` as an XLA-compiled function, for static batches of
    `XLA_MIN_BATCH` windows or more, or an unknown batch size inside `large_batches` (other batches run the
    layer's own ``call``). Inference only, never saved."""

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"{layer.name}_xla", **kwargs)
        import tensorflow as tf

        self.layer = layer
        self._fn = tf.function(layer.call, jit_compile=True)

    def call(self, inputs):
        batch = inputs.shape[0]
        if batch is None and getattr(_LARGE, "on", False) or batch is not None and batch >= XLA_MIN_BATCH:
            return self._fn(inputs)
        return self.layer.call(inputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)


#: activations computed as fast in bfloat16 as in float32 (piecewise linear): `Float32Activation` leaves them be
_LINEAR_ACTIVATIONS = ("linear", "relu")


class Float32Activation(keras.layers.Layer):
    """A bfloat16 convolution with its activation computed in float32: the convolution and the bias in the
    layer's compute dtype exactly as the layer computes them, then the activation of those values cast to
    float32 (the output is float32). Inference only (`inference_model` makes it; it is never saved): it reads the
    wrapped layer's kernel and bias at each call.

    Args:
        layer: a built ``Conv1D``/``Conv2D``/``Conv3D`` (not transposed) with a bfloat16 compute dtype.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"{layer.name}_f32_activation", dtype=layer.dtype_policy, **kwargs)
        self.layer = layer

    def call(self, inputs):
        from keras import ops

        layer = self.layer
        y = layer.convolution_op(inputs, ops.cast(layer.kernel, self.compute_dtype))
        if layer.use_bias:
            bias_shape = ((1,) * (layer.rank + 1) + (layer.filters,) if layer.data_format == "channels_last"
                          else (1, layer.filters) + (1,) * layer.rank)
            y = ops.add(y, ops.reshape(ops.cast(layer.bias, self.compute_dtype), bias_shape))
        return layer.activation(ops.cast(y, "float32"))

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")


def _float32_activation(layer):
    """Whether `Float32Activation` stands for ``layer``: a plain bfloat16 convolution, activation not linear."""
    conv = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)  # the transposed ones are not subclasses
    return (isinstance(layer, conv) and layer.built
            and layer.dtype_policy.compute_dtype == "bfloat16"
            and keras.activations.serialize(layer.activation) not in _LINEAR_ACTIVATIONS)


def _rewrite(layer):
    if supports_phases(layer):
        return PhaseConvTranspose(layer)
    if _float32_activation(layer):
        return Float32Activation(layer)
    if type(layer) in XLA_LAYERS and layer.dtype_policy.compute_dtype == "float32":
        return XlaCompiled(layer)
    return layer


def _is_functional(model):
    """A model built from inputs and outputs (``keras.Model(inputs, outputs)``), which `clone_model` can rewrite."""
    return isinstance(model, keras.Model) and type(model).__name__ == "Functional"


def inference_model(model):
    """A functional copy of ``model`` for inference: shared layers, faster graph (see the module docstring).

    Args:
        model: a functional ``keras.Model`` (a geokeras denoiser); other models are returned as they are.

    Returns:
        a ``keras.Model`` with the same inputs, outputs and weights (shared with ``model``).
    """
    if not _is_functional(model):
        return model
    return keras.models.clone_model(model, clone_function=_rewrite)
