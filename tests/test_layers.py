"""Tests of geokeras.layers: TiedDense, MaskingNoise, Sampling, ActivityLoss."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from geokeras.layers import ActivityLoss, MaskingNoise, Sampling, TiedDense
from geokeras.regularizers import KLSparsity


def _roundtrip(layer):
    config = keras.saving.serialize_keras_object(layer)
    return keras.saving.deserialize_keras_object(config, safe_mode=True)


def test_tied_dense_forward_and_transpose_match_numpy(rng):
    layer = TiedDense(3, activation="sigmoid", decoder_activation="linear")
    x = rng.normal(size=(4, 5)).astype("float32")
    h = np.asarray(layer(x))
    w, b, c = (np.asarray(v) for v in (layer.kernel, layer.bias, layer.decoder_bias))
    np.testing.assert_allclose(h, 1 / (1 + np.exp(-(x @ w + b))), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer(h, transpose=True)), h @ w.T + c, rtol=1e-5, atol=1e-6)
    assert [v.path for v in layer.weights] == ["tied_dense/kernel", "tied_dense/bias", "tied_dense/decoder_bias"]


def test_tied_dense_one_gradient_step_changes_both_directions(rng):
    layer = TiedDense(2, activation="sigmoid")
    x = rng.normal(size=(8, 4)).astype("float32")
    h = layer(x)
    dec_before = np.asarray(layer(h, transpose=True))
    kernel_before = np.asarray(layer.kernel).copy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(layer(layer(x), transpose=True) - x))
    grads = tape.gradient(loss, layer.trainable_weights)
    keras.optimizers.SGD(0.5).apply_gradients(zip(grads, layer.trainable_weights))
    kernel_after = np.asarray(layer.kernel)
    assert not np.allclose(kernel_before, kernel_after)
    # the decoder direction reads the same (updated) variable, transposed
    expected = np.asarray(h) @ kernel_after.T + np.asarray(layer.decoder_bias)
    np.testing.assert_allclose(np.asarray(layer(h, transpose=True)), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(dec_before, expected)
    assert len(layer.trainable_weights) == 3


def test_tied_dense_config_roundtrip():
    layer = TiedDense(4, activation="tanh", decoder_activation="sigmoid", use_bias=False, kernel_regularizer="l2")
    clone = _roundtrip(layer)
    assert clone.get_config() == layer.get_config()
    clone.build((None, 6))
    assert [tuple(v.shape) for v in clone.weights] == [(6, 4)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": 0}, "Invalid value for argument `units`. Expected a strictly positive integer. Received units=0."),
        ({"units": 2.5}, "Received units=2.5."),
    ],
)
def test_tied_dense_invalid_units(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        TiedDense(**kwargs)


def test_masking_noise_only_in_training_and_no_rescale():
    x = np.full((4, 5000), 3.0, "float32")
    layer = MaskingNoise(0.3, seed=7)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    y = np.asarray(layer(x, training=True))
    assert set(np.unique(y).tolist()) == {0.0, 3.0}
    assert abs((y == 0).mean() - 0.3) < 0.02
    y2 = np.asarray(MaskingNoise(0.3, seed=7)(x, training=True))
    np.testing.assert_array_equal(y, y2)  # seeded
    assert _roundtrip(layer).get_config() == layer.get_config()


@pytest.mark.parametrize("rate", [-0.1, 1.0, "0.5"])
def test_masking_noise_invalid_rate(rate):
    with pytest.raises(ValueError, match=r"Invalid value for argument `rate`\. Expected a number in \[0\.0, 1\.0\)\. "
                       rf"Received rate={rate!r}\."):
        MaskingNoise(rate)


def test_sampling_statistics_gradient_and_seed():
    mean = np.full((20000, 2), [1.0, -2.0], "float32")
    log_var = np.full((20000, 2), np.log([0.25, 4.0]), "float32")
    z = np.asarray(Sampling(seed=3)([mean, log_var]))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), [0.5, 2.0], rtol=0.03)
    np.testing.assert_array_equal(z, np.asarray(Sampling(seed=3)([mean, log_var])))
    m, lv = tf.Variable(mean[:4]), tf.Variable(log_var[:4])
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(Sampling(seed=0)([m, lv]))
    g_mean, g_lv = tape.gradient(out, [m, lv])
    np.testing.assert_allclose(np.asarray(g_mean), 1.0)
    assert np.all(np.isfinite(np.asarray(g_lv)))
    assert _roundtrip(Sampling(seed=5)).seed == 5


def test_activity_loss_adds_unscaled_kl():
    reg = KLSparsity(rho=0.2, weight=3.0)
    layer = ActivityLoss(reg)
    h = np.array([[0.1, 0.5], [0.3, 0.7], [0.2, 0.6]], "float32")
    out = layer(h)
    np.testing.assert_array_equal(np.asarray(out), h)
    rho_hat = h.mean(axis=0)
    kl = 0.2 * np.log(0.2 / rho_hat) + 0.8 * np.log(0.8 / (1 - rho_hat))
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 3.0 * kl.sum(), rtol=1e-5)
    clone = _roundtrip(layer)
    assert clone.regularizer.get_config() == {"rho": 0.2, "weight": 3.0}


def test_activity_loss_requires_regularizer():
    with pytest.raises(ValueError, match=r"Invalid value for argument `regularizer`\. Expected a regularizer\. "
                       r"Received regularizer=None\."):
        ActivityLoss(None)


def test_every_layer_is_exported_from_geokeras_layers():
    import importlib
    import inspect
    import pkgutil

    import geokeras.layers

    defined = set()
    for info in pkgutil.iter_modules(geokeras.layers.__path__):
        module = importlib.import_module(f"geokeras.layers.{info.name}")
        defined |= {name for name, obj in vars(module).items()
                    if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) and obj.__module__ == module.__name__}
    assert defined and defined == set(geokeras.layers.__all__)
    assert all(getattr(geokeras.layers, name).__name__ == name for name in defined)


def test_mask_smoothing_floor_mean_and_edges():
    from geokeras.layers import MaskSmoothing

    rng = np.random.default_rng(0)
    mask = rng.random((2, 11, 7, 1)).astype("float32")
    out = np.asarray(MaskSmoothing(floor=0.2, time_frames=3, freq_bins=5)(mask))
    # interior: the mean of the 3 x 5 neighbourhood, lifted to the floor
    expected = 0.2 + 0.8 * mask[0, 4:7, 1:6, 0].mean()
    assert out[0, 5, 3, 0] == pytest.approx(expected, rel=1e-5)
    # a constant mask stays constant, also at the edges (the mean counts only the bins inside)
    const = np.asarray(MaskSmoothing(0.0, 5, 3)(np.full((1, 6, 4, 1), 0.7, "float32")))
    np.testing.assert_allclose(const, 0.7, rtol=1e-6)
    assert out.min() >= 0.2 and out.max() <= 1.0
    # identity settings change nothing
    np.testing.assert_array_equal(np.asarray(MaskSmoothing()(mask)), mask)


def test_mask_smoothing_config_roundtrip_and_arguments():
    from geokeras.layers import MaskSmoothing

    layer = MaskSmoothing(floor=0.1, time_frames=3, freq_bins=1, name="smooth")
    again = MaskSmoothing.from_config(layer.get_config())
    assert (again.floor, again.time_frames, again.freq_bins) == (0.1, 3, 1)
    with pytest.raises(ValueError, match="`time_frames`.*odd.*Received time_frames=4"):
        MaskSmoothing(time_frames=4)
    with pytest.raises(ValueError, match="floor"):
        MaskSmoothing(floor=1.0)
    with pytest.raises(ValueError, match="exponent"):
        MaskSmoothing(exponent=0.0)


def test_mask_smoothing_exponent_suppresses_unsure_bins_more():
    from geokeras.layers import MaskSmoothing

    mask = np.array([0.0, 0.5, 1.0], "float32").reshape(1, 3, 1, 1)
    out = np.asarray(MaskSmoothing(floor=0.2, exponent=2.0)(mask)).ravel()
    np.testing.assert_allclose(out, [0.2, 0.2 + 0.8 * 0.25, 1.0], rtol=1e-6)
    again = MaskSmoothing.from_config(MaskSmoothing(exponent=3.0).get_config())
    assert again.exponent == 3.0


def test_mask_smoothing_opening_removes_narrow_peaks_and_keeps_wide_ones_exactly():
    from geokeras.layers import MaskSmoothing

    mask = np.full((1, 30, 3, 1), 0.1, "float32")
    mask[0, 3:6, :, 0] = 0.9  # a burst of 3 frames
    mask[0, 12:20, :, 0] = np.linspace(0.5, 1.0, 8)[:, None]  # an event of 8 frames (rising)
    out = np.asarray(MaskSmoothing(floor=0.0, time_frames=5, statistic="opening")(mask))
    np.testing.assert_array_equal(out[0, :10], np.float32(0.1))  # the burst, narrower than 5 frames, is gone
    # the ramp's top is cut to the level it holds for 5 frames; an opening never raises the mask
    assert out[0, 12:20].max() == pytest.approx(0.5 + 3 / 7 * 0.5) and np.all(out <= mask)
    flat = np.full((1, 30, 3, 1), 0.1, "float32")
    flat[0, 12:20] = 0.8  # a plateau wider than 5 frames stays exactly as it was
    np.testing.assert_array_equal(np.asarray(MaskSmoothing(time_frames=5, statistic="opening")(flat)), flat)
    again = np.asarray(MaskSmoothing(time_frames=5, statistic="opening")(out))
    np.testing.assert_array_equal(again, out)  # idempotent
    lifted = np.asarray(MaskSmoothing(floor=0.3, time_frames=5, statistic="opening")(mask))
    np.testing.assert_allclose(lifted, 0.3 + 0.7 * out, rtol=1e-6)
    layer = MaskSmoothing.from_config(MaskSmoothing(0.3, 5, 1, "opening").get_config())
    assert layer.statistic == "opening"
