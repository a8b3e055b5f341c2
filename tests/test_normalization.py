"""One formula: NumPy standardization == Keras layer == training normalization (NumPy and TensorFlow)."""
import numpy as np
import pytest

from geokeras.data.normalize import normalize, normalize_pairs, standardize
from geokeras.layers import WindowRescale, WindowStandardization
from geokeras.training import normalize_pairs_tf


def _windows():
    """(6, 256, 1) float32: random windows at very different scales and offsets, all-zero, constant ones."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((6, 256, 1)) + 0.3) * np.array([1.0, 3e-6, 2e4, 1, 1, 1])[:, None, None]
    x[3] = 0.0
    x[4] = -0.5  # constants whose float32 mean is exact: demeaned, exactly zero everywhere
    x[5] = 1e5
    return x.astype(np.float32)


@pytest.mark.parametrize("channels", [1, 3])
def test_numpy_layer_and_training_normalization_agree(channels):
    x = np.repeat(_windows(), channels, axis=2)
    x[..., -1] *= -2.0  # channels are standardized independently
    clean = np.random.default_rng(8).standard_normal(x.shape).astype(np.float32)

    ref, scale = standardize(x, axis=1)
    layer, std = (np.asarray(v) for v in WindowStandardization()(x))
    tf_noisy, tf_clean = (np.asarray(v) for v in normalize_pairs_tf(x, clean))
    np_noisy, np_clean = normalize_pairs(x, clean)
    api = normalize(x, mode="std", axis=1)[0]

    for name, got in (("layer", layer), ("training (tf)", tf_noisy), ("training (numpy)", np_noisy),
                      ("normalize", api)):
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5, err_msg=name)
    np.testing.assert_allclose(tf_clean, clean / scale, rtol=2e-5, err_msg="training clean (tf)")
    np.testing.assert_allclose(np_clean, clean / scale, rtol=2e-5, err_msg="training clean (numpy)")
    # flat windows: zeros everywhere, std 0 (layer) and scale 1 (the others)
    for got in (ref, layer, tf_noisy, np_noisy, api):
        assert np.all(got[3:] == 0)
    assert np.all(std[3:] == 0) and np.all(scale[3:] == 1)
    np.testing.assert_allclose(std[:3], scale[:3], rtol=1e-5)
    # the layer's inverse is the NumPy inverse: the demeaned window
    back = np.asarray(WindowRescale()([layer, std]))
    np.testing.assert_allclose(back / scale, ref, rtol=2e-5, atol=2e-5)  # per window, relative to its scale


def test_constant_window_with_inexact_float32_mean():
    # 0.1 * 500 does not sum exactly in float32: x - mean is a tiny constant d != 0. NumPy and TensorFlow
    # recenter before the std (0: scale 1, output d), the layer does not (std |d|: output sign(d)). Both
    # are documented; what reaches the user, the rescaled output, is negligible either way.
    x = np.full((1, 500, 1), 0.1, np.float32)
    ref, _ = standardize(x, axis=1)
    assert np.abs(ref).max() < 1e-6
    np.testing.assert_allclose(np.asarray(normalize_pairs_tf(x, x)[0]), ref, atol=1e-6)
    xn, std = WindowStandardization()(x)
    assert np.abs(np.asarray(WindowRescale()([xn, std]))).max() < 1e-6 * 0.1
