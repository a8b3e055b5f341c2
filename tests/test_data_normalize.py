"""Normalization and its inverse, safe on degenerate windows."""
import numpy as np
import pytest

from geokeras.data.normalize import denormalize, normalize, normalize_pairs, standardize


def _windows():
    rng = np.random.default_rng(0)
    return np.stack([rng.standard_normal(100) * 50 + 20, np.zeros(100), np.full(100, -3.0)]).astype(np.float32)


def test_std_mode_is_the_standardization_demeaned():
    x = _windows()
    xn, scale = normalize(x, mode="std")
    assert xn.dtype == np.float32 and scale.shape == (3, 1) and np.all(np.isfinite(xn))
    np.testing.assert_allclose(xn[0].mean(), 0.0, atol=1e-6)  # demeaned (the mean is 20 std / 50)
    np.testing.assert_allclose(xn[0].std(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(scale[0, 0], np.std(x[0]), rtol=1e-5)
    # all-zero and constant windows: demeaned, they are all zeros; scale 1
    assert np.all(xn[1:] == 0) and np.all(scale[1:] == 1.0)
    # the inverse gives the demeaned windows back
    np.testing.assert_allclose(denormalize(xn, scale), x - x.mean(axis=1, keepdims=True), atol=1e-4)
    np.testing.assert_array_equal(xn, standardize(x.astype(np.float64))[0].astype(np.float32))


def test_peak_mode_round_trip_and_degenerate_windows():
    x = _windows()
    xn, scale = normalize(x, mode="peak")
    assert xn.dtype == np.float32 and scale.shape == (3, 1)
    np.testing.assert_allclose(denormalize(xn, scale), x, rtol=1e-6)
    assert np.all(xn[1] == 0) and scale[1, 0] == 1.0
    np.testing.assert_allclose(xn[2], -1.0)  # not demeaned: a constant window keeps its sign
    np.testing.assert_allclose(scale[0, 0], np.max(np.abs(x[0])), rtol=1e-6)


def test_axis_and_int_input():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    xn, scale = normalize(x, mode="peak", axis=0)
    assert xn.dtype == np.float64 and scale.shape == (1, 4)
    np.testing.assert_array_equal(denormalize(xn, scale), x)
    xn, scale = normalize(x, mode="std", axis=0)
    np.testing.assert_allclose(xn[:, 0], [-1.224745, 0.0, 1.224745], rtol=1e-6)
    np.testing.assert_allclose(scale, np.full((1, 4), np.sqrt(32 / 3)))


def test_normalize_pairs_scales_clean_by_the_noisy_scale():
    rng = np.random.default_rng(1)
    noisy = rng.standard_normal((3, 64, 1)) * [[[1.0]], [[1e4]], [[0.0]]] + 5.0
    clean = rng.standard_normal((3, 64, 1))
    nn, cn = normalize_pairs(noisy, clean)
    assert nn.dtype == cn.dtype == np.float32
    std = (noisy - noisy.mean(axis=1, keepdims=True)).std(axis=1, keepdims=True)
    np.testing.assert_allclose(cn[:2], clean[:2] / std[:2], rtol=1e-6)
    np.testing.assert_array_equal(nn[2], 0.0)  # constant noisy window: zeros, clean kept as is (scale 1)
    np.testing.assert_allclose(cn[2], clean[2], rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="Invalid value for argument `mode`.*Received mode='rms'"):
        normalize(np.ones(3), mode="rms")
    with pytest.raises(ValueError, match="finite"):
        normalize(np.array([1.0, np.nan]))
