"""Several mask networks in one denoiser (`geokeras.models.ensemble`, `geokeras.layers.EnsembleMask`)."""
import re

import keras
import numpy as np
import pytest

from geokeras.denoise import denoise, denoise_components
from geokeras.layers import EnsembleMask
from geokeras.models.components import _made_by, component_denoiser
from geokeras.models.denoiser import build_stft_mask_denoiser
from geokeras.models.ensemble import ensemble_size, mask_ensemble
from geokeras.models.mask_floor import mask_settings, with_mask_smoothing
from geokeras.saving import load_model

L = 600


def _net(seed, **kwargs):
    keras.utils.set_random_seed(seed)
    options = dict(window_length=L, sign_invariant=True, filters=(4, 8))
    options.update(kwargs)
    return build_stft_mask_denoiser(**options)


@pytest.fixture(scope="module")
def nets():
    return [_net(0, mask_floor=0.3), _net(1), _net(2, filters=(4, 8, 8))]  # the third: another U-Net, same STFT


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).normal(size=(2, L, 1)).astype("float32") * 300.0


def _mask(model, x):
    """The mask tensor that feeds ``apply_mask`` (after the floor), evaluated on ``x``."""
    _, (rescaled, _) = _made_by(model.outputs[0], "rescale", model)  # this model's own graph (layers are shared)
    _, (masked,) = _made_by(rescaled, "istft", model)
    _, (_, mask) = _made_by(masked, "apply_mask", model)
    return np.asarray(keras.Model(model.inputs[0], mask)(x))


def test_ensemble_mask_layer():
    values = [0.25, 0.875, 0.5]
    masks = [np.full((1, 2, 3, 1), v, "float32") for v in values]
    assert float(np.asarray(EnsembleMask("median")(masks))[0, 1, 2, 0]) == 0.5
    assert float(np.asarray(EnsembleMask("mean")(masks))[0, 1, 2, 0]) == pytest.approx(np.mean(values))
    four = masks + [np.full((1, 2, 3, 1), 0.75, "float32")]
    assert float(np.asarray(EnsembleMask()(four))[0, 0, 0, 0]) == 0.625  # the mean of the two middle values
    np.testing.assert_array_equal(np.asarray(EnsembleMask()(masks[:1])), masks[0])
    assert EnsembleMask.from_config(EnsembleMask("mean").get_config()).statistic == "mean"
    with pytest.raises(ValueError, match=re.escape("Received statistic='own'")):
        EnsembleMask("own")


def test_members_masks_combined_cell_by_cell(nets, x):
    model = mask_ensemble(nets)
    assert ensemble_size(model) == 3 and ensemble_size(nets[0]) == 1
    assert mask_settings(model)["floor"] == 0.3  # the first member's floor by default
    raw = [_mask(with_mask_smoothing(net, floor=0.0), x) for net in nets]
    np.testing.assert_allclose(_mask(model, x), 0.3 + 0.7 * np.median(np.stack(raw), axis=0), atol=1e-6)
    mean = mask_ensemble(nets, statistic="mean", floor=0.0)
    np.testing.assert_allclose(_mask(mean, x), np.mean(np.stack(raw), axis=0), atol=1e-6)
    # the members' weights are copied, not shared: the ensemble does not move when a member is trained further
    assert not any(w1 is w2 for w1 in model.weights for w2 in nets[1].weights)
    assert sum(1 for layer in model.layers if layer.name.endswith("enc0")) == 3


def test_identical_members_give_the_member_to_the_bit(nets, x):
    alone = nets[0]
    model = mask_ensemble([alone, alone, alone])
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(alone(x)))
    np.testing.assert_array_equal(np.asarray(mask_ensemble([alone])(x)), np.asarray(alone(x)))


def test_odd_safe_loadable_and_runs_everywhere_a_mask_denoiser_runs(nets, x, tmp_path):
    model = mask_ensemble(nets)
    np.testing.assert_array_equal(np.asarray(model(-x)), -np.asarray(model(x)))
    path = tmp_path / "ensemble.keras"
    model.save(path)
    loaded = load_model(path)  # safe_mode=True
    assert ensemble_size(loaded) == 3
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    # the one-trace path (bfloat16 copy, inference graph) and the three-component path
    y = denoise(x[0, :, 0].astype("float64"), model=loaded, sampling_rate=100.0)
    assert y.shape == (L,) and np.all(np.isfinite(y))
    y_neg = denoise(-x[0, :, 0].astype("float64"), model=loaded, sampling_rate=100.0)
    np.testing.assert_array_equal(y_neg, -y)
    three = np.random.default_rng(1).normal(size=(3, 2 * L)).astype("float32")
    out = denoise_components(three, model=loaded)
    assert out.shape == (3, 2 * L)
    assert component_denoiser(loaded).output_shape == (None, L, 3)


def test_refusals(nets):
    with pytest.raises(ValueError, match="Received an empty list"):
        mask_ensemble([])
    other_stft = _net(3, frame_length=64, frame_step=32)
    with pytest.raises(ValueError, match=re.escape("with the same 'stft' layer. Received models[1]")):
        mask_ensemble([nets[0], other_stft])
    plain = _net(4, sign_invariant=False)
    with pytest.raises(ValueError, match=re.escape("Received models[1]")):
        mask_ensemble([nets[0], plain])
    with pytest.raises(ValueError, match="that is itself an ensemble"):
        mask_ensemble([mask_ensemble(nets[:2]), nets[2]])
    with pytest.raises(ValueError, match=re.escape("Received statistic='max'")):
        mask_ensemble(nets, statistic="max")
    with pytest.raises(ValueError, match="floor"):
        mask_ensemble(nets, floor=1.0)
