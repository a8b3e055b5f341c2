"""Tests of the any-rank convolutional autoencoder builder and the lecture's convolution example."""
import keras
import numpy as np
import pytest
from scipy import signal

from geokeras.models import build_conv1d_autoencoder, build_conv2d_autoencoder, build_conv_autoencoder

LECTURE_KERNEL = np.array([[1.0, 2.0], [2.0, 1.0]], "float32")


@pytest.mark.parametrize("length", [3000, 1001, 7])
@pytest.mark.parametrize("skip", [False, True])
def test_conv1d_output_shape_equals_input_shape(length, skip):
    ae = build_conv1d_autoencoder((length, 2), filters=(2, 4, 4), kernel_size=3, skip_connections=skip)
    assert ae.output_shape == (None, length, 2)
    assert tuple(ae(np.zeros((1, length, 2), "float32")).shape) == (1, length, 2)
    assert not any(isinstance(l, keras.layers.Lambda) for l in ae.layers)


@pytest.mark.parametrize("shape", [(7, 9, 1), (16, 16, 3), (5, 31, 2)])
def test_conv2d_output_shape_equals_input_shape(shape):
    ae = build_conv2d_autoencoder(shape, filters=(2, 4), kernel_size=3, skip_connections=True)
    assert ae.output_shape == (None,) + shape
    assert isinstance(ae.get_layer("encoder_conv_0"), keras.layers.Conv2D)
    assert isinstance(ae.get_layer("decoder_conv_0"), keras.layers.Conv2DTranspose)


def test_padding_and_cropping_layers_are_used_only_when_needed():
    ae = build_conv_autoencoder((1001, 1), filters=(2, 2), kernel_size=3)
    assert isinstance(ae.get_layer("pad"), keras.layers.ZeroPadding1D)
    assert isinstance(ae.get_layer("crop"), keras.layers.Cropping1D)
    assert ae.encoder.output_shape == (None, 251, 2)
    names = [l.name for l in build_conv_autoencoder((1000, 1), filters=(2, 2), kernel_size=3).layers]
    assert "pad" not in names and "crop" not in names


def test_per_level_strides_and_training_step(rng):
    ae = build_conv_autoencoder((50, 1), filters=(2, 3), kernel_size=3, strides=(5, 2))
    assert ae.encoder.output_shape == (None, 5, 3)
    x = rng.normal(size=(4, 50, 1)).astype("float32")
    ae.compile("adam", "mse", run_eagerly=True)
    assert np.isfinite(ae.train_on_batch(x, x))


def test_lecture_conv2d_example():
    """Kernel [[1,2],[2,1]] on [[1,2,3],[6,5,3],[1,4,1]] gives [[22,21],[22,20]].

    Keras Conv2D computes a cross-correlation (the kernel is not flipped). This kernel equals
    its 180-degree rotation, so cross-correlation and true convolution give the same numbers;
    the asymmetric-kernel check below pins Keras' orientation.
    """
    conv = keras.layers.Conv2D(1, 2, padding="valid", use_bias=False)
    conv.build((None, 3, 3, 1))
    conv.kernel.assign(LECTURE_KERNEL.reshape(2, 2, 1, 1))
    x = np.array([[1, 2, 3], [6, 5, 3], [1, 4, 1]], "float32").reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(np.asarray(conv(x))[0, :, :, 0], [[22, 21], [22, 20]])
    asym = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
    conv.kernel.assign(asym.reshape(2, 2, 1, 1))
    np.testing.assert_allclose(np.asarray(conv(x))[0, :, :, 0], signal.correlate2d(x[0, :, :, 0], asym, "valid"))


def test_lecture_conv2d_transpose_example():
    """Transposed convolution of [[1,2],[2,4]] with the same kernel gives [[1,4,4],[4,13,10],[4,10,4]].

    Keras Conv2DTranspose is the adjoint of its (cross-correlation) Conv2D: each input value
    scatters ``value * kernel`` (unflipped), which equals a full *convolution* with the kernel.
    """
    convt = keras.layers.Conv2DTranspose(1, 2, padding="valid", use_bias=False)
    convt.build((None, 2, 2, 1))
    convt.kernel.assign(LECTURE_KERNEL.reshape(2, 2, 1, 1))
    x = np.array([[1, 2], [2, 4]], "float32").reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(np.asarray(convt(x))[0, :, :, 0], [[1, 4, 4], [4, 13, 10], [4, 10, 4]])
    asym = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
    convt.kernel.assign(asym.reshape(2, 2, 1, 1))
    np.testing.assert_allclose(np.asarray(convt(x))[0, :, :, 0], signal.convolve2d(x[0, :, :, 0], asym, "full"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (None, 1)}, "Invalid value for argument `input_shape`. Expected (steps, channels), "
         "(height, width, channels) or (depth, height, width, channels) with strictly positive integers. "
         "Received input_shape=(None, 1)."),
        ({"filters": (16, 0)}, "Invalid value for argument `filters`. Expected a sequence of strictly positive "
         "integers. Received filters=(16, 0)."),
        ({"kernel_size": 0}, "Invalid value for argument `kernel_size`. Expected a strictly positive integer or a "
         "sequence of them. Received kernel_size=0."),
        ({"strides": (2, 2, 2)}, "Invalid value for argument `strides`. Expected a strictly positive integer or "
         "one entry per level of `filters` (2). Received strides=(2, 2, 2)."),
    ],
)
def test_invalid_arguments(kwargs, message):
    args = {"input_shape": (100, 1), **kwargs}
    with pytest.raises(ValueError) as err:
        build_conv_autoencoder(**args)
    assert str(err.value) == message


def test_thin_wrappers_check_rank():
    with pytest.raises(ValueError, match=r"Expected \(steps, channels\)\. Received input_shape=\(8, 8, 1\)\."):
        build_conv1d_autoencoder((8, 8, 1))
    with pytest.raises(ValueError, match=r"Expected \(height, width, channels\)\. Received input_shape=\(8, 1\)\."):
        build_conv2d_autoencoder((8, 1))


@pytest.mark.parametrize("input_shape", [(1001, 2), (7, 9, 1)])
def test_decoder_of_encoder_is_the_model_and_shares_its_layers(input_shape):
    ae = build_conv_autoencoder(input_shape, filters=(3, 4), kernel_size=3)
    x = np.random.default_rng(0).normal(size=(2, *input_shape)).astype("float32")
    np.testing.assert_allclose(ae.decoder(ae.encoder(x)), ae(x), rtol=1e-6, atol=1e-6)
    assert ae.decoder.get_layer("decoder_conv_0") is ae.get_layer("decoder_conv_0")


def test_decoder_with_skips_takes_the_concatenated_features():
    ae = build_conv_autoencoder((64, 1), filters=(2, 3, 4), kernel_size=3, skip_connections=True)
    assert [tuple(t.shape) for t in ae.decoder.inputs] == [(None, 8, 4), (None, 16, 3), (None, 32, 2)]
    assert ae.decoder.output.shape == (None, 64, 1)
