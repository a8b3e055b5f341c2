"""Denoiser layers (STFT, normalization) and the two denoiser families."""
import re

import numpy as np
import pytest
import keras

from geokeras.layers.normalization import WindowRescale, WindowStandardization
from geokeras.layers.stft import STFT, ComplexMask, InverseSTFT, SignInvariantFeatures, stft_padding
from geokeras.models.denoiser import (
    DENOISER_FAMILIES, build_denoiser, build_stft_mask_denoiser, build_unet1d_denoiser, denoiser_info, estimate_flops,
)


@pytest.mark.parametrize("length,frame,step", [(3000, 32, 16), (3000, 64, 16), (1001, 30, 10), (257, 16, 8)])
def test_stft_round_trip_is_identity(rng, length, frame, step):
    x = (rng.standard_normal((3, length, 1)) * 1e3).astype("float32")
    spec = STFT(frame_length=frame, frame_step=step)(x)
    _, _, frames = stft_padding(length, frame, step)
    assert tuple(spec.shape) == (3, frames, frame // 2 + 1, 2)
    y = np.asarray(InverseSTFT(length, frame_length=frame, frame_step=step)(spec))
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-3 * np.abs(x).max())


def test_stft_validates_and_serializes():
    with pytest.raises(ValueError, match="Invalid value for argument `frame_step`"):
        STFT(frame_length=32, frame_step=20)
    with pytest.raises(ValueError, match="Received window='box'"):
        STFT(window="box")
    layer = InverseSTFT(3000, frame_length=64, frame_step=16, fft_length=128)
    again = InverseSTFT.from_config(layer.get_config())
    assert (again.signal_length, again.fft_length) == (3000, 128)


def test_numpy_integer_sizes_are_stored_as_python_ints():
    import json

    for layer in (STFT(np.int64(64), np.int64(16)), InverseSTFT(np.int64(600), np.int64(64), np.int64(16)),
                  WindowStandardization(sampling_rate=np.float32(40.0), window_length=np.int64(600))):
        config = layer.get_config()
        json.dumps(config)  # np.int64 is not JSON serializable: a .keras file could not be written
        assert all(type(config[k]) is int for k in ("frame_length", "frame_step", "fft_length", "signal_length",
                                                    "window_length") if k in config)


def test_normalization_inverse_and_zero_window(rng):
    x = (rng.standard_normal((4, 500, 1)) * 1e-9 + 3e-9).astype("float32")
    x[1] = 0.0
    xn, std = WindowStandardization()(x)
    xn, std = np.asarray(xn), np.asarray(std)
    assert np.all(np.isfinite(xn))
    np.testing.assert_allclose(xn[[0, 2, 3]].std(axis=1), 1.0, rtol=1e-3)
    assert np.all(xn[1] == 0) and std[1, 0, 0] == 0
    back = np.asarray(WindowRescale()([xn, std]))
    np.testing.assert_allclose(back, x - x.mean(axis=1, keepdims=True), atol=1e-5 * np.abs(x).max())


@pytest.mark.parametrize("family", DENOISER_FAMILIES)
def test_family_shape_save_load_info(tmp_path, rng, family):
    model = build_denoiser(family, window_length=600, sampling_rate=40.0)
    x = (rng.standard_normal((2, 600, 1)) * 300).astype("float32")
    y = np.asarray(model(x))
    assert y.shape == x.shape
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    path = tmp_path / f"{family}.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x)), y, rtol=1e-5, atol=1e-4)
    assert denoiser_info(again) == {"sampling_rate": 40.0, "window_length": 600, "band_hz": (1.0, 18.0),
                                    "sampling_rate_range_hz": (8.0, 100.0)}
    # all-zero window -> exactly zero output; scale equivariance
    assert np.all(np.asarray(model(np.zeros((1, 600, 1), "float32"))) == 0)
    np.testing.assert_allclose(np.asarray(model(x * 10)), y * 10, rtol=1e-3, atol=1e-2)


def test_default_sizes_are_small():
    for family in DENOISER_FAMILIES:
        model = build_denoiser(family)
        assert model.output_shape == (None, 3000, 1)
        assert estimate_flops(model) <= 20e6, family
        assert model.count_params() < 200_000


def test_mask_is_bounded_identity_when_mask_is_one(rng):
    model = build_stft_mask_denoiser(window_length=400)
    mask_layer = model.get_layer("mask")
    kernel, bias = mask_layer.get_weights()
    mask_layer.set_weights([np.zeros_like(kernel), np.full_like(bias, 50.0)])  # sigmoid(50) == 1
    x = rng.standard_normal((2, 400, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), x - x.mean(axis=1, keepdims=True), atol=1e-3)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="Invalid value for argument `family`"):
        build_denoiser("transformer")
    with pytest.raises(ValueError, match="Received window_length=8"):
        build_denoiser("unet1d", window_length=8)
    for builder, kwargs, message in [
        (build_unet1d_denoiser, {"strides": 0}, "Received strides=0"),
        (build_unet1d_denoiser, {"filters": (8,), "skip": "bogus"}, "Received skip='bogus'"),
        (build_unet1d_denoiser, {"filters": (2.5,)}, "Received filters=(2.5,)"),
        (build_stft_mask_denoiser, {"frame_step": 0}, "Received frame_step=0"),
        (build_stft_mask_denoiser, {"sampling_rate": 0}, "Received sampling_rate=0"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            builder(window_length=400, **kwargs)
    assert build_unet1d_denoiser(window_length=np.int64(400), filters=(2, 4)).input_shape == (None, 400, 1)
    with pytest.raises(ValueError, match="not a geokeras denoiser"):
        denoiser_info(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]))


def test_log_power_variant_round_trip(tmp_path, rng):
    model = build_stft_mask_denoiser(window_length=500, log_power=True)
    assert model.get_layer("log_power").output.shape[-1] == 3
    x = rng.standard_normal((1, 500, 1)).astype("float32")
    model.save(tmp_path / "lp.keras")
    again = keras.saving.load_model(tmp_path / "lp.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def _numpy_stft(x, frame, step):
    """Reference STFT of a 1-D signal with `STFT`'s padding: periodic Hann frames, rfft."""
    left, right, frames = stft_padding(x.size, frame, step)
    padded = np.pad(x.astype(np.float64), (left, right))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)
    return np.stack([np.fft.rfft(padded[i * step: i * step + frame] * window) for i in range(frames)])


def _numpy_istft(spec, length, frame, step):
    """Reference least-squares overlap-add inverse of `_numpy_stft`."""
    left, right, frames = stft_padding(length, frame, step)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)
    out = np.zeros(length + left + right)
    norm = np.zeros_like(out)
    for i in range(frames):
        out[i * step: i * step + frame] += np.fft.irfft(spec[i], frame) * window
        norm[i * step: i * step + frame] += window ** 2
    return (out / np.where(norm > 0, norm, 1.0))[left: left + length]


def test_mask_path_matches_numpy_stft_reference(rng):
    # a non-trivial mask (random per cell) through STFT -> ComplexMask -> InverseSTFT equals NumPy's
    length, frame, step = 700, 32, 16
    x = rng.standard_normal(length)
    spec = np.asarray(STFT(frame_length=frame, frame_step=step)(x[None, :, None].astype("float32")))
    ref = _numpy_stft(x, frame, step)
    np.testing.assert_allclose(spec[0, ..., 0] + 1j * spec[0, ..., 1], ref, atol=1e-4)
    mask = rng.uniform(0.0, 1.0, ref.shape)
    masked = np.asarray(ComplexMask()([spec, mask[None, ..., None].astype("float32")]))
    np.testing.assert_allclose(masked[0, ..., 0] + 1j * masked[0, ..., 1], ref * mask, atol=1e-4)
    y = np.asarray(InverseSTFT(length, frame_length=frame, frame_step=step)(masked))[0, :, 0]
    expected = _numpy_istft(ref * mask, length, frame, step)
    np.testing.assert_allclose(y, expected, atol=1e-4)
    assert np.abs(expected - x).max() > 0.1  # the mask really changed the signal


def test_sign_invariant_features_match_numpy(rng):
    spec = rng.standard_normal((2, 5, 4, 2)).astype("float32")
    out = np.asarray(SignInvariantFeatures(epsilon=1e-4)(spec))
    z = spec[..., 0].astype(np.float64) + 1j * spec[..., 1]
    np.testing.assert_allclose(out[..., 0], np.log(np.abs(z) ** 2 + 1e-4), rtol=1e-5, atol=1e-5)
    step_t = z[:, 1:] * np.conj(z[:, :-1]) / (np.abs(z[:, 1:]) * np.abs(z[:, :-1]) + 1e-4)
    np.testing.assert_allclose(out[:, 1:, :, 1] + 1j * out[:, 1:, :, 2], step_t, atol=1e-5)
    step_f = z[:, :, 1:] * np.conj(z[:, :, :-1]) / (np.abs(z[:, :, 1:]) * np.abs(z[:, :, :-1]) + 1e-4)
    np.testing.assert_allclose(out[:, :, 1:, 3] + 1j * out[:, :, 1:, 4], step_f, atol=1e-5)
    assert np.all(out[:, 0, :, 1:3] == 0) and np.all(out[:, :, 0, 3:5] == 0)
    assert SignInvariantFeatures.from_config(SignInvariantFeatures(epsilon=0.5).get_config()).epsilon == 0.5


def test_sign_invariant_denoiser_is_exactly_odd(tmp_path, rng):
    x = (rng.standard_normal((3, 800, 1)) * 500 + 40).astype("float32")
    model = build_stft_mask_denoiser(window_length=800, filters=(4, 8), sign_invariant=True)
    y = np.asarray(model(x))
    assert np.array_equal(np.asarray(model(-x)), -y)
    model.save(tmp_path / "si.keras")
    again = keras.saving.load_model(tmp_path / "si.keras", safe_mode=True)
    assert np.array_equal(np.asarray(again(-x)), -np.asarray(again(x)))
    # control: a mask fed the real and imaginary parts is not odd, so the check above can fail
    plain = build_stft_mask_denoiser(window_length=800, filters=(4, 8))
    assert not np.allclose(np.asarray(plain(-x)), -np.asarray(plain(x)), atol=1e-3 * np.abs(x).max())


def test_noise_quantile_channel_is_log_power_over_its_per_bin_quantile(tmp_path, rng):
    spec = rng.standard_normal((2, 11, 4, 2)).astype("float32")
    spec[:, 5:8] *= 30.0  # an "event" in 3 of 11 frames: the low quantile stays at the noise
    layer = SignInvariantFeatures(noise_quantile=0.2)
    out = np.asarray(layer(spec))
    assert out.shape == (2, 11, 4, 6)
    log_power = out[..., 0]
    floor = np.sort(log_power, axis=1)[:, 2:3]  # rank round(0.2 * 10) = 2 of 11 frames
    np.testing.assert_allclose(out[..., 5], log_power - floor, atol=1e-6)
    np.testing.assert_array_equal(out[..., :5], np.asarray(SignInvariantFeatures()(spec)))
    assert np.median(out[:, 5:8, :, 5]) > 5 > np.median(out[:, :5, :, 5])  # the event stands above the floor
    assert np.array_equal(np.asarray(layer(-spec)), out)
    assert SignInvariantFeatures.from_config(layer.get_config()).noise_quantile == 0.2
    with pytest.raises(ValueError, match=re.escape("Received noise_quantile=1.5")):
        SignInvariantFeatures(noise_quantile=1.5)
    x = (rng.standard_normal((2, 800, 1)) * 500).astype("float32")
    model = build_stft_mask_denoiser(window_length=800, filters=(4, 8), sign_invariant=True, noise_quantile=0.2)
    assert model.get_layer("features").output.shape[-1] == 6
    model.save(tmp_path / "nq.keras")
    again = keras.saving.load_model(tmp_path / "nq.keras", safe_mode=True)
    y = np.asarray(again(x))
    assert np.array_equal(y, np.asarray(model(x))) and np.array_equal(np.asarray(again(-x)), -y)
    with pytest.raises(ValueError, match="Expected None unless sign_invariant=True"):
        build_stft_mask_denoiser(window_length=800, filters=(4, 8), noise_quantile=0.2)


def test_declared_band_and_rates_are_validated_and_stored():
    model = build_stft_mask_denoiser(window_length=400, band_hz=(2.0, 30.0), sampling_rate_range_hz=(50, 200))
    info = denoiser_info(model)
    assert info["band_hz"] == (2.0, 30.0) and info["sampling_rate_range_hz"] == (50.0, 200.0)
    with pytest.raises(ValueError, match=re.escape("Received band_hz=(30.0, 2.0)")):
        build_stft_mask_denoiser(window_length=400, band_hz=(30.0, 2.0))


def test_models_saved_without_declared_validity_get_the_builder_defaults():
    # files written before band/rates were stored (the previous default model) read as the builders' defaults
    model = build_stft_mask_denoiser(window_length=400, sampling_rate=40.0, band_hz=(2.0, 10.0))
    layer = model.get_layer("standardize")
    layer.band_hz = layer.sampling_rate_range_hz = None
    info = denoiser_info(model)
    assert info["band_hz"] == (1.0, 18.0) and info["sampling_rate_range_hz"] == (8.0, 100.0)


def test_a_model_with_mask_smoothing_takes_a_bare_tensor_as_its_base_does(rng):
    """`with_mask_smoothing` keeps the base's input structure (one tensor, not a list of one): calling the new
    model on a batch gives no Keras structure warning (the shipped v4, written before this, still warns)."""
    import warnings

    from geokeras.models.mask_floor import with_mask_smoothing

    base = build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8))
    x = rng.normal(size=(2, 600, 1)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        base(x)
        y = np.asarray(with_mask_smoothing(base, floor=0.2)(x))
    np.testing.assert_array_equal(y, with_mask_smoothing(base, floor=0.2).predict(x, verbose=0))


def test_mask_floor_in_the_graph_is_the_floor_applied_after_training(tmp_path, rng):
    """`mask_floor=` builds the `MaskSmoothing` floor into the graph (so training sees it): the same outputs as
    `with_mask_smoothing` on the same weights, still exactly odd, and it survives a safe-mode reload."""
    from geokeras.models.mask_floor import mask_settings, with_mask_smoothing
    from geokeras.saving import load_model

    kwargs = dict(window_length=600, sign_invariant=True, filters=(4, 8))
    keras.utils.set_random_seed(3)
    floored = build_stft_mask_denoiser(mask_floor=0.3, **kwargs)
    keras.utils.set_random_seed(3)
    plain = build_stft_mask_denoiser(**kwargs)
    assert mask_settings(floored)["floor"] == 0.3 and mask_settings(plain)["floor"] == 0.0
    x = rng.normal(size=(2, 600, 1)).astype("float32")
    y = floored.predict(x, verbose=0)
    np.testing.assert_array_equal(y, with_mask_smoothing(plain, floor=0.3).predict(x, verbose=0))
    assert not np.array_equal(y, plain.predict(x, verbose=0))
    np.testing.assert_array_equal(floored.predict(-x, verbose=0), -y)
    floored.save(tmp_path / "f.keras")
    np.testing.assert_array_equal(load_model(tmp_path / "f.keras").predict(x, verbose=0), y)
    with pytest.raises(ValueError, match="`mask_floor`"):
        build_stft_mask_denoiser(mask_floor=1.0, **kwargs)
