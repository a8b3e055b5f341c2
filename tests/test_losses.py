"""NoiseStationarityMSE: MSE on signal pairs, + block-power variability on noise-only pairs; trains and resumes.
BlockLogPowerMSE: MSE + the squared error of the log block power."""
import json

import keras
import numpy as np
import pytest

from geokeras.training import train_denoiser
from geokeras.training.losses import BlockLogPowerMSE, NoiseStationarityMSE


def test_signal_pairs_get_the_mean_squared_error_only(rng):
    clean = rng.normal(size=(3, 400, 1)).astype("float32")
    pred = clean + rng.normal(size=(3, 400, 1)).astype("float32") * 10.0 ** rng.uniform(-2, 0, size=(3, 1, 1))
    expected = np.mean((pred - clean) ** 2, axis=(1, 2))
    got = np.asarray(NoiseStationarityMSE(weight=5.0, block=50).call(clean, pred))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(keras.losses.MeanSquaredError()(clean, pred)), expected.mean(), rtol=1e-5)


def test_noise_only_pairs_add_the_variance_of_log_block_power(rng):
    pred = rng.normal(size=(1, 400)).astype("float32")
    pred[:, :100] *= 10.0
    power = np.mean(pred.reshape(4, 100).astype("float64") ** 2, axis=1)
    expected = np.mean(pred.astype("float64") ** 2) + 0.5 * np.var(np.log(power + 1e-3))
    got = np.asarray(NoiseStationarityMSE(weight=0.5, block=100).call(np.zeros_like(pred), pred))
    np.testing.assert_allclose(got, [expected], rtol=1e-4)
    zero_weight = np.asarray(NoiseStationarityMSE(weight=0.0).call(np.zeros_like(pred), pred))
    np.testing.assert_allclose(zero_weight, [np.mean(pred.astype("float64") ** 2)], rtol=1e-5)
    silent = np.asarray(NoiseStationarityMSE(weight=1.0, block=100).call(np.zeros((1, 400)), np.zeros((1, 400))))
    assert silent.tolist() == [0.0]  # no residual at all is steady


def test_gain_weight_adds_the_squared_amplitude_bias_along_the_signal(rng):
    """A signal shrunk to half costs (1 - 0.5)**2 x gain_weight more, whatever its level; a noise-only pair
    and an output with extra orthogonal noise but unit gain along the signal add nothing."""
    clean = rng.normal(size=(3, 400)).astype("float32")
    clean[1] *= 0.01                                                    # a weak signal: its MSE is tiny
    half = 0.5 * clean
    base = np.asarray(NoiseStationarityMSE(weight=0.0).call(clean, half))
    got = np.asarray(NoiseStationarityMSE(weight=0.0, gain_weight=0.2).call(clean, half))
    np.testing.assert_allclose(got - base, [0.05, 0.05, 0.05], rtol=1e-4)
    other = rng.normal(size=400).astype("float32")
    other -= other @ clean[0] / (clean[0] @ clean[0]) * clean[0]         # orthogonal to the signal
    pred = (clean[0] + other)[None]
    np.testing.assert_allclose(NoiseStationarityMSE(0.0, gain_weight=1.0).call(clean[:1], pred),
                               NoiseStationarityMSE(0.0).call(clean[:1], pred), rtol=1e-4)
    zero = np.zeros((1, 400), "float32")
    assert np.asarray(NoiseStationarityMSE(0.0, gain_weight=1.0).call(zero, zero + 0.1)).tolist() == [
        pytest.approx(0.01)]
    # a vanishing signal (far below the normalized noisy window) adds no term, instead of an exploding one
    faint = 1e-9 * clean[:1]
    np.testing.assert_allclose(NoiseStationarityMSE(0.0, gain_weight=1.0).call(faint, zero + 0.1), [0.01], rtol=1e-4)


def test_arguments_and_config_round_trip():
    loss = NoiseStationarityMSE(weight=0.1, block=64, eps=1e-4, gain_weight=0.3)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (again.weight, again.block, again.eps, again.gain_weight) == (0.1, 64, 1e-4, 0.3)
    with pytest.raises(ValueError, match="Received gain_weight=-0.1"):
        NoiseStationarityMSE(gain_weight=-0.1)
    with pytest.raises(ValueError, match="Received weight=-1"):
        NoiseStationarityMSE(weight=-1)
    with pytest.raises(ValueError, match="Received block=500"):
        NoiseStationarityMSE(weight=1.0, block=500).call(np.zeros((1, 400)), np.ones((1, 400)))


def test_training_with_it_resumes_and_saves_a_plain_model(tmp_path, rng):
    t = np.arange(600) / 50.0
    signals = [np.sin(2 * np.pi * f * t) * np.exp(-t / 3.0) for f in (2.0, 4.0)]
    noises = [rng.standard_normal(900) for _ in range(2)]
    out = tmp_path / "m.keras"
    kw = dict(window_length=128, sampling_rate=50.0, steps_per_epoch=2, batch_size=4, validation=(signals, noises),
              validation_steps=1, n_synthetic=2, verbose=0, family="unet1d", model_kwargs={"filters": (4, 8)},
              jit_compile=False, noise_only_fraction=0.5, stationarity_weight=0.1, gain_weight=0.1)
    train_denoiser(signals, noises, out, epochs=1, **kw)
    _, history = train_denoiser(signals, noises, out, epochs=2, resume=True, **kw)  # last.keras holds the loss
    assert len(history["val_loss"]) == 1 and np.isfinite(history["val_loss"][0])
    assert json.loads((tmp_path / "m.keras.ckpt" / "state.json").read_text())["epoch"] == 2
    assert not keras.saving.load_model(out, safe_mode=True).compiled


def test_a_model_compiled_with_it_loads_through_the_safe_loader(tmp_path):
    import subprocess
    import sys

    inp = keras.Input((64, 1))
    model = keras.Model(inp, keras.layers.Conv1D(1, 3, padding="same")(inp))
    model.compile(optimizer="adam", loss=NoiseStationarityMSE(0.2, block=16))
    model.save(tmp_path / "m.keras")
    code = ("from geokeras.saving import load_model; import sys; "  # a fresh process: nothing imported the loss
            f"m = load_model({str(tmp_path / 'm.keras')!r}); print(type(m.loss).__name__, m.loss.weight)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-2:] == ["NoiseStationarityMSE", "0.2"]


def test_block_log_power_adds_the_squared_log_power_error_of_each_block(rng):
    target = 0.3 * rng.standard_normal((1, 400)).astype("float32")
    pred = target.copy()
    pred[:, :100] *= 2.0  # block 0 of 4 (100 samples) twice as loud: log power 4x
    mse = float(np.mean((pred - target) ** 2))
    got = float(np.asarray(BlockLogPowerMSE(weight=0.5, block=100, eps=1e-12).call(target, pred))[0])
    np.testing.assert_allclose(got, mse + 0.5 * np.log(4.0) ** 2 / 4, rtol=1e-4)
    # a block held back to half costs the same log-power term as one twice too loud (MSE aside)
    dip = target.copy()
    dip[:, :100] *= 0.5
    got_dip = float(np.asarray(BlockLogPowerMSE(weight=0.5, block=100, eps=1e-12).call(target, dip))[0])
    np.testing.assert_allclose(got_dip - float(np.mean((dip - target) ** 2)), 0.5 * np.log(4.0) ** 2 / 4, rtol=1e-4)
    # weight 0 is the mean squared error; the same output and target cost nothing
    np.testing.assert_allclose(np.asarray(BlockLogPowerMSE(weight=0.0).call(target, pred)), [mse], rtol=1e-6)
    assert float(np.asarray(BlockLogPowerMSE(weight=1.0, block=100).call(target, target))[0]) == 0.0


def test_block_log_power_arguments_and_config_round_trip():
    loss = BlockLogPowerMSE(weight=0.1, block=64, eps=1e-4)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (type(again), again.log_power_weight, again.block, again.eps) == (BlockLogPowerMSE, 0.1, 64, 1e-4)
    with pytest.raises(ValueError, match="Received weight=-1"):
        BlockLogPowerMSE(weight=-1)
    with pytest.raises(ValueError, match="Received block=500"):
        BlockLogPowerMSE(weight=1.0, block=500).call(np.zeros((1, 400)), np.ones((1, 400)))


def test_training_with_a_target_floor_and_the_log_power_loss_resumes(tmp_path, rng, monkeypatch):
    """The target keeps ``target_floor`` of the noise in the training and the validation pairs; the loss is
    BlockLogPowerMSE, kept by a resume and refused with other weights."""
    from geokeras.training import train as train_module

    t = np.arange(600) / 50.0
    signals = [np.sin(2 * np.pi * f * t) * np.exp(-t / 3.0) for f in (2.0, 4.0)]
    noises = [rng.standard_normal(900) for _ in range(2)]
    kw = dict(window_length=128, sampling_rate=50.0, steps_per_epoch=2, batch_size=4, validation=(signals, noises),
              validation_steps=1, n_synthetic=2, verbose=0, family="unet1d", model_kwargs={"filters": (4, 8)},
              jit_compile=False, epochs=1)
    seen = []
    real_fit = train_module.fit

    def spy(model, ds, **kwargs):
        seen.append((next(iter(ds)), kwargs["validation_data"], model.loss))
        return real_fit(model, ds, **kwargs)

    monkeypatch.setattr(train_module, "fit", spy)
    train_denoiser(signals, noises, tmp_path / "plain.keras", **kw)
    out = tmp_path / "m.keras"
    train_denoiser(signals, noises, out, target_floor=0.3, log_power_weight=0.1, **kw)
    (batch0, (vx0, vy0), _), (batch1, (vx1, vy1), loss) = seen
    (x0, y0), (x1, y1) = [tuple(np.asarray(a) for a in batch) for batch in (batch0, batch1)]
    np.testing.assert_array_equal(x1, x0)  # the same pairs, another target
    np.testing.assert_allclose(y1, y0 + 0.3 * (x0 - y0), atol=1e-6)
    np.testing.assert_allclose(vy1, vy0 + 0.3 * (vx0 - vy0), atol=1e-6)
    assert isinstance(loss, BlockLogPowerMSE) and loss.log_power_weight == 0.1
    _, history = train_denoiser(signals, noises, out, target_floor=0.3, log_power_weight=0.1, resume=True,
                                **dict(kw, epochs=2))
    assert len(history["val_loss"]) == 1 and np.isfinite(history["val_loss"][0])
    with pytest.raises(ValueError, match=r"log_power_weight=0.1\). Received .*log_power_weight=0.2"):
        train_denoiser(signals, noises, out, target_floor=0.3, log_power_weight=0.2, resume=True,
                       **dict(kw, epochs=3))
