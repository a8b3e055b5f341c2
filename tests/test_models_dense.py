"""Tests of geokeras.models.build_dense_autoencoder."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from geokeras.layers import MaskingNoise, TiedDense
from geokeras.models import build_dense_autoencoder


@pytest.mark.parametrize("hidden", [(3,), (12, 4), (20,)])  # under- and over-complete
def test_shapes_and_submodels(hidden):
    ae = build_dense_autoencoder(8, hidden_units=hidden)
    x = np.zeros((2, 8), "float32")
    assert tuple(ae(x).shape) == (2, 8)
    assert tuple(ae.encoder(x).shape) == (2, hidden[-1])
    assert tuple(ae.decoder(np.zeros((2, hidden[-1]), "float32")).shape) == (2, 8)
    dense = [l for l in ae.layers if isinstance(l, keras.layers.Dense)]
    assert [l.activation.__name__ for l in dense] == ["sigmoid"] * (2 * len(hidden) - 1) + ["linear"]


def test_tied_decoder_is_encoder_kernel_transposed_and_shared(rng):
    ae = build_dense_autoencoder(6, hidden_units=(4, 2), tied=True, output_activation="linear")
    tied = [l for l in ae.layers if isinstance(l, TiedDense)]
    assert len(tied) == 2 and len(ae.trainable_weights) == 6  # 2 x (kernel, bias, decoder_bias)
    x = rng.normal(size=(5, 6)).astype("float32")
    ae.compile(keras.optimizers.SGD(0.5), "mse")
    kernel_before = np.asarray(tied[0].kernel).copy()
    ae.train_on_batch(x, x)
    w0, w1 = (np.asarray(l.kernel) for l in tied)
    assert not np.allclose(kernel_before, w0)
    # decoder with the *updated* kernels, transposed, reproduces the model output
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    h1 = sig(x @ w0 + np.asarray(tied[0].bias))
    h2 = sig(h1 @ w1 + np.asarray(tied[1].bias))
    d1 = sig(h2 @ w1.T + np.asarray(tied[1].decoder_bias))
    out = d1 @ w0.T + np.asarray(tied[0].decoder_bias)
    np.testing.assert_allclose(np.asarray(ae(x)), out, rtol=1e-4, atol=1e-5)


def test_binary_inputs_with_sigmoid_and_bce_train(rng):
    x = (rng.random((32, 10)) > 0.5).astype("float32")
    ae = build_dense_autoencoder(10, hidden_units=(6,), output_activation="sigmoid")
    ae.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", run_eagerly=True)
    hist = ae.fit(x, x, epochs=2, batch_size=16, verbose=0).history["loss"]
    assert np.all(np.asarray(ae(x)) > 0) and np.all(np.asarray(ae(x)) < 1)
    assert hist[-1] < hist[0]


def test_l2_and_sparsity_losses_match_numpy(rng):
    ae = build_dense_autoencoder(5, hidden_units=(3,), l2=0.01, sparsity_rho=0.1, sparsity_weight=2.0)
    x = rng.normal(size=(7, 5)).astype("float32")
    ae(x)
    enc, dec = ae.get_layer("encoder_dense_0"), ae.get_layer("decoder_dense_0")
    h = 1 / (1 + np.exp(-(x @ np.asarray(enc.kernel) + np.asarray(enc.bias))))
    rho_hat = h.mean(axis=0)
    kl = 2.0 * np.sum(0.1 * np.log(0.1 / rho_hat) + 0.9 * np.log(0.9 / (1 - rho_hat)))
    l2 = 0.01 * (np.sum(np.asarray(enc.kernel) ** 2) + np.sum(np.asarray(dec.kernel) ** 2))
    np.testing.assert_allclose(float(sum(ae.losses)), kl + l2, rtol=1e-4)


@pytest.mark.parametrize("corruption, rate", [("masking", 0.5), ("gaussian", 0.3)])
def test_corruption_only_in_training(corruption, rate, rng):
    ae = build_dense_autoencoder(50, hidden_units=(4,), corruption=corruption, corruption_rate=rate, seed=1)
    layer = ae.get_layer("corruption")
    x = rng.normal(size=(8, 50)).astype("float32") + 5.0
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    noisy = np.asarray(layer(x, training=True))
    if corruption == "masking":
        assert isinstance(layer, MaskingNoise)
        assert abs((noisy == 0).mean() - rate) < 0.1
        np.testing.assert_array_equal(noisy[noisy != 0], x[noisy != 0])
    else:
        assert abs((noisy - x).std() - rate) < 0.05
    np.testing.assert_array_equal(np.asarray(ae(x)), np.asarray(ae(x)))  # inference deterministic


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_dim": 0}, "Invalid value for argument `input_dim`. Expected a strictly positive integer. "
                           "Received input_dim=0."),
        ({"hidden_units": ()}, "Invalid value for argument `hidden_units`. Expected a non-empty sequence of "
                               "strictly positive integers. Received hidden_units=()."),
        ({"hidden_units": (4, -1)}, "Received hidden_units=(4, -1)."),
        ({"l2": -0.1}, "Invalid value for argument `l2`. Expected a number >= 0.0. Received l2=-0.1."),
        ({"corruption": "salt"}, "Invalid value for argument `corruption`. Expected one of None, 'masking', "
                                 "'gaussian'. Received corruption='salt'."),
        ({"corruption": "masking", "corruption_rate": 1.0},
         "Invalid value for argument `corruption_rate`. Expected a number in [0.0, 1.0). Received corruption_rate=1.0."),
        ({"sparsity_rho": 1.0}, "Invalid value for argument `sparsity_rho`. Expected a number in (0.0, 1.0). "
                                "Received sparsity_rho=1.0."),
    ],
)
def test_invalid_arguments(kwargs, message):
    args = {"input_dim": 4, **kwargs}
    with pytest.raises(ValueError) as err:
        build_dense_autoencoder(**args)
    assert str(err.value) == message or str(err.value).endswith(message)
