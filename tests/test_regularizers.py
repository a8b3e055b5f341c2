"""Tests of geokeras.regularizers.KLSparsity against a NumPy reference."""
import keras
import numpy as np
import pytest

from geokeras.regularizers import KLSparsity


def _kl_reference(h, rho, weight):
    rho_hat = h.reshape(-1, h.shape[-1]).mean(axis=0)
    return weight * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 6)])
def test_kl_sparsity_matches_numpy(rng, shape):
    h = rng.uniform(0.01, 0.99, size=shape).astype("float32")
    reg = KLSparsity(rho=0.05, weight=0.7)
    np.testing.assert_allclose(float(reg(h)), _kl_reference(h.astype("float64"), 0.05, 0.7), rtol=1e-4)


def test_kl_sparsity_zero_at_target_and_clipped_at_zero():
    assert abs(float(KLSparsity(0.3, 1.0)(np.full((5, 4), 0.3, "float32")))) < 1e-6
    assert np.isfinite(float(KLSparsity(0.3, 1.0)(np.zeros((5, 4), "float32"))))


def test_kl_sparsity_serialization_roundtrip():
    reg = KLSparsity(rho=0.1, weight=2.0)
    config = keras.regularizers.serialize(reg)
    assert config["registered_name"] == "geokeras>KLSparsity"
    clone = keras.regularizers.deserialize(config)
    assert isinstance(clone, KLSparsity) and clone.get_config() == {"rho": 0.1, "weight": 2.0}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rho": 0.0}, r"Invalid value for argument `rho`\. Expected a number in \(0\.0, 1\.0\)\. Received rho=0\.0\."),
        ({"rho": 1.5}, r"Received rho=1\.5\."),
        ({"weight": -1}, r"Invalid value for argument `weight`\. Expected a number >= 0\.0\. Received weight=-1\."),
    ],
)
def test_kl_sparsity_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KLSparsity(**kwargs)
