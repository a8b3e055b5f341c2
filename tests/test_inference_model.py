"""Tests of geokeras.models.inference: the faster inference graph gives the model's outputs (issue 19)."""
import keras
import numpy as np
import pytest

from geokeras.models.denoiser import build_stft_mask_denoiser, build_unet1d_denoiser
from geokeras.models.inference import (
    PhaseConvTranspose,
    XLA_MIN_BATCH,
    XlaCompiled,
    inference_model,
    phase_kernel_taps,
    supports_phases,
)


def _numpy_transposed_conv_1d(x, w, stride):
    """The definition: a ``"same"`` transposed convolution as the adjoint of TensorFlow's strided convolution."""
    n, k = len(x), len(w)
    pad = max(k - stride, 0) // 2
    out = np.zeros(n * stride)
    for i in range(n):
        for j in range(k):
            o = stride * i + j - pad
            if 0 <= o < len(out):
                out[o] += x[i] * w[j]
    return out


@pytest.mark.parametrize("kernel, stride", [(3, 2), (8, 4), (5, 2), (2, 2), (3, 4), (4, 3)])
def test_phase_taps_reproduce_the_transposed_convolution(kernel, stride, rng):
    x, w = rng.normal(size=7), rng.normal(size=kernel)
    before, after, taps = phase_kernel_taps(kernel, stride)
    padded = np.concatenate([np.zeros(before), x, np.zeros(after)])
    out = np.zeros(len(x) * stride)
    for a, row in enumerate(taps):
        for m in range(len(x)):
            out[stride * m + a] = sum(padded[m + u] * w[k] for u, k in enumerate(row) if k is not None)
    np.testing.assert_allclose(out, _numpy_transposed_conv_1d(x, w, stride), atol=1e-12)
    assert sum(k is not None for row in taps for k in row) == kernel  # every tap once, no more


@pytest.mark.parametrize("rank, kernel, strides", [(1, 8, 4), (1, 3, 2), (2, 3, 2), (2, (4, 3), (2, 1)), (2, 2, 2)])
def test_phase_layer_equals_keras_transposed_convolution(rank, kernel, strides, rng):
    conv_t = keras.layers.Conv1DTranspose if rank == 1 else keras.layers.Conv2DTranspose
    inputs = keras.Input((6,) * rank + (3,))
    layer = conv_t(5, kernel, strides=strides, padding="same", activation="relu", bias_initializer="random_normal")
    model = keras.Model(inputs, layer(inputs))
    fast = inference_model(model)
    assert [type(op).__name__ for op in fast.layers[1:]] == ["PhaseConvTranspose"]
    x = rng.normal(size=(2,) + (6,) * rank + (3,)).astype("float32")
    np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)
    # the weights are shared: a change of the kernel shows in the inference graph too
    layer.kernel.assign(layer.kernel * 2.0)
    np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_layers_the_phases_cannot_stand_for_are_kept():
    inputs = keras.Input((8, 8, 2))
    valid = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="valid")
    dilated = keras.layers.Conv2DTranspose(3, 3, strides=1, padding="same", dilation_rate=2)
    model = keras.Model(inputs, [valid(inputs), dilated(inputs)])
    assert not supports_phases(valid) and not supports_phases(dilated)
    assert [type(op) for op in inference_model(model).layers[1:]] == [type(valid), type(dilated)]
    with pytest.raises(ValueError, match="Invalid value for argument `layer`"):
        PhaseConvTranspose(valid)


def test_inference_graph_of_a_sign_invariant_denoiser_is_close_and_exactly_odd(rng):
    model = build_stft_mask_denoiser(window_length=600, filters=(4, 8, 16), sign_invariant=True, mask_floor=0.2)
    fast = inference_model(model)
    kinds = {type(op).__name__ for op in fast.layers}
    assert {"PhaseConvTranspose", "XlaCompiled"} <= kinds and "Conv2DTranspose" not in kinds
    x = (rng.normal(size=(XLA_MIN_BATCH, 600, 1)) * 300 + 20).astype("float32")  # through XLA
    y = np.asarray(fast(x))
    np.testing.assert_allclose(y, np.asarray(model(x)), atol=1e-5 * np.abs(y).max())
    assert np.array_equal(np.asarray(fast(-x)), -y)
    assert fast.count_params() == model.count_params()
    small = x[:3]  # a short batch skips XLA: the same layer's own graph
    assert np.array_equal(np.asarray(fast(-small)), -np.asarray(fast(small)))


def test_inference_graph_of_the_unet1d_and_of_other_models(rng):
    model = build_unet1d_denoiser(window_length=400, filters=(4, 8))
    fast = inference_model(model)
    x = rng.normal(size=(2, 400, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(model(x)), rtol=1e-4, atol=1e-4)
    assert sum(isinstance(op, PhaseConvTranspose) for op in fast.layers) == 1

    class Sub(keras.Model):
        def call(self, x):
            return x

    sub = Sub()
    assert inference_model(sub) is sub  # not a functional graph: returned as it is


def test_the_denoise_predictor_runs_the_inference_graph(rng):
    from geokeras.denoise import Denoiser

    model = build_stft_mask_denoiser(window_length=600, filters=(4, 8), sign_invariant=True)
    den = Denoiser(model)
    pred = den.predictor(batch_size=4, precision="float32")
    run = pred._model()
    assert run is not model and any(isinstance(op, PhaseConvTranspose) for op in run.layers)
    x = rng.normal(size=(3, 600)).astype("float32") * 100
    np.testing.assert_allclose(pred(x), np.asarray(model(x[:, :, None]))[:, :, 0], atol=1e-4)
    assert np.array_equal(pred(-x), -pred(x))


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])  # the README says both are the static graphs' bits
def test_large_batches_run_through_one_graph_with_the_outputs_of_a_static_one(rng, precision):
    from geokeras.denoise import Denoiser
    from geokeras.denoise.denoiser import LARGE_BATCH_STEP

    model = build_stft_mask_denoiser(window_length=600, filters=(4,), sign_invariant=True)
    pred = Denoiser(model).predictor(batch_size=128, precision=precision)
    x = rng.normal(size=(128, 600)).astype("float32") * 100
    for n in (XLA_MIN_BATCH, 97):
        got = pred(x[:n])
        size = min(1 << (n - 1).bit_length(), 128)  # what a static graph of a power of two computed
        padded = np.concatenate([x[:n], np.zeros((size - n, 600), np.float32)])
        assert np.array_equal(got, np.asarray(pred._graph(size)(padded[:, :, None]))[:n, :, 0]), n
    assert np.array_equal(pred(-x[:97]), -pred(x[:97]))
    small = pred(x[:5])  # a small batch: its own static graph, padded to a power of two (8)
    assert small.shape == (5, 600) and 8 in pred._graphs
    large = pred._graphs[None]  # one graph of unknown batch size for every large batch
    assert large.input_signature[0].shape.as_list() == [None, 600, 1] and LARGE_BATCH_STEP == 16


def test_a_bfloat16_sigmoid_mask_is_computed_in_float32_from_the_same_logits(rng):
    from geokeras.denoise.denoiser import bfloat16_copy
    from geokeras.models.inference import Float32Activation

    model = build_stft_mask_denoiser(window_length=600, filters=(4, 8), sign_invariant=True, mask_floor=0.2)
    copy = bfloat16_copy(model)
    assert copy.get_layer("crop").dtype_policy.name == "float32"  # the float32 mask is cropped as it is
    fast = inference_model(copy)
    wrapped = [op for op in fast.layers if isinstance(op, Float32Activation)]
    assert [op.layer.name for op in wrapped] == ["mask"]  # the relu convolutions stay as they are
    assert not any(isinstance(op, Float32Activation) for op in inference_model(model).layers)  # float32: unchanged
    mask = copy.get_layer("mask")
    x = keras.ops.cast(rng.normal(size=(2, 8, 6, 4)), "bfloat16")
    logits = keras.layers.Conv2D(1, 1, dtype="mixed_bfloat16")
    logits.build(x.shape)
    logits.set_weights(mask.get_weights())
    got = wrapped[0](x)
    assert got.dtype == "float32"
    assert np.array_equal(np.asarray(got), np.asarray(keras.ops.sigmoid(keras.ops.cast(logits(x), "float32"))))
    w = (rng.normal(size=(XLA_MIN_BATCH, 600, 1)) * 300).astype("float32")
    y = np.asarray(fast(w))
    np.testing.assert_allclose(y, np.asarray(model(w)), atol=0.05 * np.abs(y).max())  # bfloat16's rounding
    assert np.array_equal(np.asarray(fast(-w)), -y)
