"""Tests of geokeras.layers.stft's transforms against TensorFlow's (issue 19: the same bits, fewer copies)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from geokeras.layers.stft import STFT, InverseSTFT, stft_padding
from geokeras.models.denoiser import build_stft_mask_denoiser

FRAMINGS = [(600, 64, 32), (600, 64, 16), (301, 32, 16), (1001, 128, 64), (600, 48, 16)]


def _tf_stft_pairs(x, frame_length, frame_step):
    left, right, _ = stft_padding(x.shape[1], frame_length, frame_step)
    spec = tf.signal.stft(tf.pad(x[..., 0], [[0, 0], [left, right]]), frame_length, frame_step, frame_length,
                          window_fn=tf.signal.hann_window, pad_end=False)
    return np.stack([np.real(spec), np.imag(spec)], axis=-1)


def _tf_inverse(spec, signal_length, frame_length, frame_step):
    window = tf.signal.inverse_stft_window_fn(frame_step, forward_window_fn=tf.signal.hann_window)
    x = tf.signal.inverse_stft(tf.complex(spec[..., 0], spec[..., 1]), frame_length, frame_step, frame_length,
                               window_fn=window)
    left = frame_length - frame_step
    return np.asarray(x)[:, left:left + signal_length, None]


@pytest.mark.parametrize("n, frame_length, frame_step", FRAMINGS)
def test_stft_gives_tensorflows_real_and_imaginary_parts_bit_for_bit(n, frame_length, frame_step, rng):
    x = rng.normal(size=(3, n, 1)).astype("float32") * 50
    spec = np.asarray(STFT(frame_length, frame_step)(x))
    assert spec.dtype == np.float32 and spec.shape[-1] == 2
    assert np.array_equal(spec, _tf_stft_pairs(x, frame_length, frame_step))


@pytest.mark.parametrize("n, frame_length, frame_step", FRAMINGS)
def test_inverse_stft_gives_tensorflows_inverse_bit_for_bit_and_is_odd(n, frame_length, frame_step, rng):
    x = rng.normal(size=(3, n, 1)).astype("float32")
    spec = np.asarray(STFT(frame_length, frame_step)(x))
    masked = spec * rng.uniform(size=spec.shape[:-1] + (1,)).astype("float32")  # what ComplexMask feeds it
    inverse = InverseSTFT(n, frame_length, frame_step)
    y = np.asarray(inverse(masked))
    assert y.shape == (3, n, 1)
    assert np.array_equal(y, _tf_inverse(masked, n, frame_length, frame_step))
    assert np.array_equal(np.asarray(inverse(-masked)), -y)
    np.testing.assert_allclose(np.asarray(inverse(spec)), x, atol=1e-5)  # still a perfect reconstruction


def test_mask_denoiser_round_trips_through_safe_mode_with_the_same_bits(tmp_path, rng):
    model = build_stft_mask_denoiser(window_length=600, filters=(4, 8), frame_length=64, frame_step=32,
                                     sign_invariant=True, mask_floor=0.3)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = rng.normal(size=(2, 600, 1)).astype("float32") * 100
    y = np.asarray(loaded(x))
    assert np.array_equal(y, np.asarray(model(x)))
    assert np.array_equal(np.asarray(loaded(-x)), -y)
    assert loaded.get_layer("stft").get_config() == model.get_layer("stft").get_config()


def test_complex_mask_gives_the_broadcast_product_bit_for_bit(rng):
    from geokeras.layers.stft import ComplexMask

    spec = rng.normal(size=(3, 7, 5, 2)).astype("float32") * 1e3
    spec[0, 0, 0] = 0.0
    mask = rng.uniform(size=(3, 7, 5, 1)).astype("float32")
    mask[1, 2, 3] = 0.0
    out = np.asarray(ComplexMask()([spec, mask]))
    assert out.dtype == np.float32 and np.array_equal(out, spec * mask)
    assert np.array_equal(np.asarray(ComplexMask()([-spec, mask])), -out)


def test_the_layers_have_the_gradients_of_the_stack_and_complex_formulations(rng):
    """tf.bitcast has no gradient: the layers' views of complex64 as float32 pairs carry the gradient of
    stacking real and imaginary parts (STFT), of tf.complex (InverseSTFT) and of the broadcast product
    (ComplexMask), so a mask denoiser still trains."""
    from geokeras.layers.stft import ComplexMask

    x = tf.constant(rng.normal(size=(2, 600, 1)).astype("float32"))
    w = tf.constant(rng.normal(size=(2, 20, 33, 2)).astype("float32"))
    m = tf.constant(rng.uniform(size=(2, 20, 33, 1)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, m])
        ours = tf.reduce_sum(InverseSTFT(600, 64, 32)(ComplexMask()([STFT(64, 32)(x) * w, m])) ** 2)
        left, right, _ = stft_padding(600, 64, 32)
        spec = tf.signal.stft(tf.pad(x[..., 0], [[0, 0], [left, right]]), 64, 32, 64, window_fn=tf.signal.hann_window)
        pairs = tf.stack([tf.math.real(spec), tf.math.imag(spec)], -1) * w * m
        window = tf.signal.inverse_stft_window_fn(32, forward_window_fn=tf.signal.hann_window)
        y = tf.signal.inverse_stft(tf.complex(pairs[..., 0], pairs[..., 1]), 64, 32, 64, window_fn=window)
        theirs = tf.reduce_sum(y[:, left:left + 600] ** 2)
    for var in (x, m):
        g_ours, g_theirs = tape.gradient(ours, var), tape.gradient(theirs, var)
        assert g_ours is not None
        np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-4, atol=1e-4 * float(np.abs(g_theirs).max()))


def test_a_mask_denoiser_trains(rng):
    model = build_stft_mask_denoiser(window_length=600, filters=(4, 8), frame_length=64, frame_step=32,
                                     sign_invariant=True, mask_floor=0.3)
    model.compile(optimizer="adam", loss="mse")
    x = rng.normal(size=(8, 600, 1)).astype("float32")
    before = [np.array(v) for v in model.trainable_variables]
    history = model.fit(x, 0.5 * x, epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert any(not np.array_equal(b, np.array(v)) for b, v in zip(before, model.trainable_variables))
