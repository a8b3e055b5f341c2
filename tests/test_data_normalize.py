"""Normalization and its inverse, safe on degenerate windows."""
import numpy as np
import pytest

from geokeras.data.normalize import denormalize, normalize


@pytest.mark.parametrize("mode", ["std", "peak"])
def test_round_trip_and_degenerate_windows(mode):
    x = np.stack([np.random.default_rng(0).standard_normal(100) * 50, np.zeros(100), np.full(100, -3.0)]).astype(np.float32)
    xn, scale = normalize(x, mode=mode)
    assert xn.dtype == np.float32 and scale.shape == (3, 1) and np.all(np.isfinite(xn))
    np.testing.assert_allclose(denormalize(xn, scale), x, rtol=1e-6)
    assert np.all(xn[1] == 0) and scale[1, 0] == 1.0
    np.testing.assert_allclose(np.abs(xn[2]), 1.0)  # constant window -> scaled by its peak
    ref = np.std(x[0]) if mode == "std" else np.max(np.abs(x[0]))
    np.testing.assert_allclose(scale[0, 0], ref, rtol=1e-5)


def test_axis_and_int_input():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    xn, scale = normalize(x, mode="peak", axis=0)
    assert xn.dtype == np.float64 and scale.shape == (1, 4)
    np.testing.assert_array_equal(denormalize(xn, scale), x)


def test_errors():
    with pytest.raises(ValueError, match="mode"):
        normalize(np.ones(3), mode="rms")
    with pytest.raises(ValueError, match="finite"):
        normalize(np.array([1.0, np.nan]))
