"""Denoiser layers (STFT, normalization) and the two denoiser families."""
import re

import numpy as np
import pytest
import keras

from geokeras.layers.normalization import WindowRescale, WindowStandardization
from geokeras.layers.stft import STFT, InverseSTFT, stft_padding
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
    assert denoiser_info(again) == {"sampling_rate": 40.0, "window_length": 600}
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
