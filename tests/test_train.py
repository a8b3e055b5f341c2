"""train_denoiser: a tiny run writes a loadable model, resumes, reads files and splits by station."""
import json

import keras
import numpy as np
import obspy
import pytest

from geokeras.models.denoiser import denoiser_info
from geokeras.training import bundled_sources, file_sources, load_sources, train_denoiser


def _tiny_sources(rng):
    t = np.arange(600) / 50.0
    signals = [np.sin(2 * np.pi * f * t) * np.exp(-t / 3.0) for f in (2.0, 4.0, 6.0)]
    noises = [rng.standard_normal(900) for _ in range(3)]
    return signals, noises


def test_train_writes_loadable_model_and_resumes(tmp_path, rng):
    signals, noises = _tiny_sources(rng)
    out = tmp_path / "m.keras"
    kw = dict(window_length=128, sampling_rate=50.0, steps_per_epoch=2, batch_size=4, validation=(signals, noises),
              validation_steps=1, n_synthetic=2, verbose=0, family="unet1d", model_kwargs={"filters": (4, 8)},
              jit_compile=False)
    kw.update(noise_augment=True, inband_fraction=0.5, stretch=(0.8, 1.25))  # a resume keeps them (data options)
    model, history = train_denoiser(signals, noises, out, epochs=1, **kw)
    assert len(history["val_loss"]) == 1 and np.isfinite(history["val_loss"][0])
    loaded = keras.saving.load_model(out, safe_mode=True)
    assert not loaded.compiled and not any(v.path.startswith("adam") for v in loaded.variables)
    import zipfile

    with zipfile.ZipFile(out) as zf, zf.open("model.weights.h5") as fh:
        import h5py

        assert "optimizer" not in h5py.File(fh, "r")  # no optimizer state in the exported model
    info = denoiser_info(loaded)
    assert (info["sampling_rate"], info["window_length"]) == (50.0, 128)
    x = rng.standard_normal((2, 128, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    state = json.loads((tmp_path / "m.keras.ckpt" / "state.json").read_text())
    assert state["epoch"] == 1
    _, history2 = train_denoiser(signals, noises, out, epochs=2, resume=True, **kw)
    assert len(history2["val_loss"]) == 1  # only epoch 2 ran
    assert json.loads((tmp_path / "m.keras.ckpt" / "state.json").read_text())["epoch"] == 2
    merged = json.loads((tmp_path / "m.keras.ckpt" / "history.json").read_text())
    assert len(merged["val_loss"]) == 2
    # a resume with other loss weights than the checkpoint's would silently keep the checkpoint's loss
    with pytest.raises(ValueError, match=r"argument `resume`.*stationarity_weight=0, gain_weight=0.*"
                                         r"Received stationarity_weight=0.5"):
        train_denoiser(signals, noises, out, epochs=3, resume=True, stationarity_weight=0.5, **kw)
    assert json.loads((tmp_path / "m.keras.ckpt" / "state.json").read_text())["epoch"] == 2


def test_a_resume_keeps_the_data_options_of_its_checkpoint(tmp_path, rng, monkeypatch):
    """The target floor and the other data options are not in the compiled loss: ``state.json`` records them and
    a resume with other values is refused before any data is read; a checkpoint without them resumes."""
    from geokeras.training import train as train_module

    signals, noises = _tiny_sources(rng)
    out, state_file = tmp_path / "m.keras", tmp_path / "m.keras.ckpt" / "state.json"
    kw = dict(window_length=64, sampling_rate=50.0, steps_per_epoch=1, batch_size=2, validation=False,
              n_synthetic=0, verbose=0, family="unet1d", model_kwargs={"filters": (2, 4)}, jit_compile=False)
    train_denoiser(signals, noises, out, epochs=1, target_floor=0.1, **kw)
    recorded = json.loads(state_file.read_text())["data_options"]
    assert recorded["target_floor"] == 0.1 and recorded["noise_burst_fraction"] == 0.0
    assert recorded["snr_db"] == [-10.0, 10.0] and recorded["shift"] is True and recorded["noise_surrogate_fraction"] == 0.0
    with monkeypatch.context() as m:
        m.setattr(train_module, "training_sources", lambda *a, **k: pytest.fail("the sources were read"))
        with pytest.raises(ValueError, match=r"argument `resume`. Expected the data options of the checkpoint .*"
                                             r"target_floor=0.1\). Received target_floor=0.3 with resume=True"):
            train_denoiser(signals, noises, out, epochs=2, resume=True, target_floor=0.3, **kw)
        with pytest.raises(ValueError, match=r"noise_surrogate_fraction=0.0\). Received noise_surrogate_fraction=0.5"):
            train_denoiser(signals, noises, out, epochs=2, resume=True, target_floor=0.1,
                           noise_surrogate_fraction=0.5, **kw)
        with pytest.raises(ValueError, match=r"noise_burst_fraction=0.0\). Received noise_burst_fraction=0.5 "):
            train_denoiser(signals, noises, out, epochs=2, resume=True, target_floor=0.1, noise_burst_fraction=0.5,
                           **kw)
    state = json.loads(state_file.read_text())
    del state["data_options"]  # a checkpoint written before the data options were recorded: unknown, accepted
    state_file.write_text(json.dumps(state))
    _, history = train_denoiser(signals, noises, out, epochs=2, resume=True, target_floor=0.3, **kw)
    assert len(history["loss"]) == 1
    assert json.loads(state_file.read_text())["data_options"]["target_floor"] == 0.3  # recorded from then on


def test_a_resume_keeps_the_run_options_of_its_checkpoint(tmp_path, rng, monkeypatch):
    """Seed, batch size, learning rate, builder options and sources are not in the compiled loss either:
    ``state.json`` records them (``"run_options"``), a resume with others is refused before any data is read,
    naming each option that differs; a checkpoint without them resumes (any values) and records them from then on."""
    from geokeras.training import train as train_module

    signals, noises = _tiny_sources(rng)
    out, state_file = tmp_path / "m.keras", tmp_path / "m.keras.ckpt" / "state.json"
    kw = dict(window_length=64, sampling_rate=50.0, steps_per_epoch=1, validation=False, n_synthetic=0, verbose=0,
              family="unet1d", jit_compile=False)
    recipe = dict(seed=0, batch_size=2, learning_rate=1e-3, model_kwargs={"filters": (2, 4)})
    train_denoiser(signals, noises, out, epochs=1, **recipe, **kw)
    recorded = json.loads(state_file.read_text())["run_options"]
    assert (recorded["seed"], recorded["batch_size"], recorded["learning_rate"]) == (0, 2, 1e-3)
    assert recorded["model_kwargs"] == {"filters": [2, 4]} and recorded["validation"] is False
    assert recorded["signals"].startswith("3 arrays, sha256 ") and recorded["signals"] != recorded["noise"]
    with monkeypatch.context() as m:
        m.setattr(train_module, "training_sources", lambda *a, **k: pytest.fail("the sources were read"))
        for change, match in [
            (dict(seed=1), r"argument `resume`. Expected the run options of the checkpoint being resumed "
                           r"\(.*m.keras.ckpt: seed=0\). Received seed=1 with resume=True"),
            (dict(batch_size=4), r"\(.*: batch_size=2\). Received batch_size=4 with"),
            (dict(learning_rate=1e-2), r"\(.*: learning_rate=0.001\). Received learning_rate=0.01 with"),
            (dict(model_kwargs={"filters": (4, 8)}),
             r"\(.*: model_kwargs=\{'filters': \[2, 4\]\}\). Received model_kwargs=\{'filters': \[4, 8\]\} with"),
        ]:
            with pytest.raises(ValueError, match=match):
                train_denoiser(signals, noises, out, epochs=2, resume=True, **{**recipe, **change}, **kw)
        with pytest.raises(ValueError, match=r"Expected the data options and run options .*: target_floor=0.0, seed=0, "
                                             r"batch_size=2\). Received target_floor=0.2, seed=3, batch_size=4 with"):
            train_denoiser(signals, noises, out, epochs=2, resume=True, target_floor=0.2,
                           **{**recipe, "seed": 3, "batch_size": 4}, **kw)
        with pytest.raises(ValueError, match=r"\(.*: signals='3 arrays, sha256 [0-9a-f]{16}'\). Received "
                                             r"signals='3 arrays, sha256 [0-9a-f]{16}' with"):
            train_denoiser([2.0 * x for x in signals], noises, out, epochs=2, resume=True, **recipe, **kw)
    assert json.loads(state_file.read_text())["epoch"] == 1
    state = json.loads(state_file.read_text())
    del state["run_options"]  # a checkpoint written before the run options were recorded: unknown, accepted
    state_file.write_text(json.dumps(state))
    _, history = train_denoiser(signals, noises, out, epochs=2, resume=True, patience=2, **{**recipe, "seed": 1},
                                **kw)  # patience (and epochs, time limit, threads, verbosity) may change anyway
    assert len(history["loss"]) == 1
    assert json.loads(state_file.read_text())["run_options"]["seed"] == 1  # recorded from then on


def test_a_run_that_does_not_resume_never_uses_the_earlier_checkpoint(tmp_path, rng, monkeypatch):
    """Without a resume the earlier run's checkpoint files are removed before training: a new run whose epochs
    save no best model (a NaN loss: the checkpoint callback keeps nothing) exports its own model, not the old
    ``best.keras``, and leaves no old ``last.keras``/``state.json`` for a later resume."""
    from geokeras.models.denoiser import build_denoiser
    from geokeras.training import train as train_module

    signals, noises = _tiny_sources(rng)
    out, ckpt = tmp_path / "m.keras", tmp_path / "m.keras.ckpt"
    kw = dict(window_length=64, sampling_rate=50.0, steps_per_epoch=1, batch_size=2, validation=False, n_synthetic=0,
              verbose=0, family="unet1d", jit_compile=False, seed=0)
    train_denoiser(signals, noises, out, epochs=1, model_kwargs={"filters": (4, 8)}, **kw)
    assert {"best.keras", "last.keras", "state.json", "history.json"} <= {f.name for f in ckpt.iterdir()}
    monkeypatch.setattr(train_module, "fit", lambda model, ds, **k: {"loss": [float("nan")]})
    model, _ = train_denoiser(signals, noises, out, epochs=1, model_kwargs={"filters": (2, 4)}, **kw)
    keras.utils.set_random_seed(0)
    fresh = build_denoiser("unet1d", window_length=64, sampling_rate=50.0, filters=(2, 4))  # the new run's start
    for saved in (model, keras.saving.load_model(out, safe_mode=True)):
        assert len(saved.get_weights()) == len(fresh.get_weights())
        for got, want in zip(saved.get_weights(), fresh.get_weights()):
            np.testing.assert_array_equal(got, want)
    assert sorted(f.name for f in ckpt.iterdir()) == ["history.json"]  # the new run's only
    assert len(json.loads((ckpt / "history.json").read_text())["loss"]) == 1


def test_a_checkpoint_without_its_state_is_refused_with_the_folder_named(tmp_path, rng):
    """A run stopped between writing its first ``last.keras`` and its ``state.json`` leaves a checkpoint that a
    resume cannot continue: a ValueError that names the folder, not a bare FileNotFoundError."""
    signals, noises = _tiny_sources(rng)
    out, state_file = tmp_path / "m.keras", tmp_path / "m.keras.ckpt" / "state.json"
    kw = dict(window_length=64, sampling_rate=50.0, steps_per_epoch=1, batch_size=2, validation=False,
              n_synthetic=0, verbose=0, family="unet1d", model_kwargs={"filters": (2, 4)}, jit_compile=False)
    train_denoiser(signals, noises, out, epochs=1, **kw)
    for broken in (None, "{\"epo"):
        state_file.unlink(missing_ok=True)
        if broken is not None:
            state_file.write_text(broken)
        with pytest.raises(ValueError, match=r"Expected a checkpoint with its state .*m.keras.ckpt.* remove the "
                                             r"checkpoint folder"):
            train_denoiser(signals, noises, out, epochs=2, resume=True, **kw)


def test_train_rejects_bad_arguments(tmp_path, rng):
    signals, noises = _tiny_sources(rng)
    with pytest.raises(ValueError, match="Invalid value for argument `family`"):
        train_denoiser(signals, noises, tmp_path / "m.keras", family="gan")
    with pytest.raises(ValueError, match="Received epochs=0"):
        train_denoiser(signals, noises, tmp_path / "m.keras", epochs=0)
    with pytest.raises(ValueError, match="both `signals` and `noise`"):
        train_denoiser(signals, None, tmp_path / "m.keras")
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:  # refused before any work, not after an epoch
        with pytest.raises(ValueError, match="need the `tensorboard` package"):
            train_denoiser(signals, noises, tmp_path / "m.keras", tensorboard_dir=tmp_path / "tb")
        assert not (tmp_path / "m.keras.ckpt").exists()


@pytest.mark.parametrize("kwargs, match", [
    (dict(gain_weight=-0.1), r"argument `gain_weight`. Expected a number >= 0.0. Received gain_weight=-0.1"),
    (dict(stationarity_weight=-1.0), r"argument `stationarity_weight`. .* Received stationarity_weight=-1.0"),
    (dict(noise_burst_fraction=1.5), r"argument `noise_burst_fraction`. .* Received noise_burst_fraction=1.5"),
    (dict(target_floor=1.0), r"argument `target_floor`. .* Received target_floor=1.0"),
    (dict(log_power_weight=-0.1), r"argument `log_power_weight`. .* Received log_power_weight=-0.1"),
    (dict(noise_surrogate_fraction=-0.1), r"argument `noise_surrogate_fraction`. .* Received noise_surrogate_fraction"),
    (dict(horizontal_rotations=1.5), r"argument `horizontal_rotations`. .* Received horizontal_rotations=1.5"),
    (dict(log_power_weight=0.1, gain_weight=0.2), r"`log_power_weight` is a loss of its own.*gain_weight=0.2"),
])
def test_loss_and_burst_options_are_refused_before_any_data_is_read(tmp_path, monkeypatch, kwargs, match):
    """Checked with the other arguments: not after reading the sources, building the signals and making the
    checkpoint folder (the API's only check of them; the command line's types check them too)."""
    from geokeras.training import train as train_module

    monkeypatch.setattr(train_module, "training_sources", lambda *a, **k: pytest.fail("the sources were read"))
    with pytest.raises(ValueError, match=match):
        train_denoiser(None, None, tmp_path / "m.keras", **kwargs)
    assert not (tmp_path / "m.keras.ckpt").exists()


def test_file_sources_split_by_station(tmp_path, rng):
    for sta in ("AAA", "BBB", "CCC"):
        for kind in ("sig", "noise"):
            tr = obspy.Trace(rng.standard_normal(500).astype("float32"),
                             header={"network": "XX", "station": sta, "channel": "HHZ", "sampling_rate": 50.0})
            tr.write(str(tmp_path / f"{kind}_{sta}.mseed"), format="MSEED")
    arrays, ids = load_sources(str(tmp_path / "sig_*.mseed"), sampling_rate=100.0)
    assert ids == ["XX.AAA", "XX.BBB", "XX.CCC"] and arrays[0].size == 1000  # resampled 50 -> 100 Hz
    src = file_sources(str(tmp_path / "sig_*"), str(tmp_path / "noise_*"), ["XX.BBB"], 100.0, 256, 0)
    assert src["val_stations"] == ["XX.BBB"] and len(src["val_signals"]) == 1 and len(src["train_signals"]) == 2
    with pytest.raises(FileNotFoundError, match="No file matches"):
        load_sources(str(tmp_path / "nothing_*.mseed"))


def test_bundled_sources_never_touch_test_stations():
    from geokeras.data import datasets

    src = bundled_sources()
    assert src["val_stations"] == sorted(datasets.VALIDATION_STATIONS)
    assert not set(src["train_stations"]) & (set(datasets.TEST_STATIONS) | set(datasets.VALIDATION_STATIONS))
    assert len(src["train_stations"]) == 78 and len(src["val_noise"]) > 0
    # another validation list: its stations leave training, the test stations stay out of everything
    src = bundled_sources(validation=["NC.GDXB"])
    assert src["val_stations"] == ["NC.GDXB"]
    assert not set(src["train_stations"]) & set(datasets.TEST_STATIONS)


def test_resumed_run_continues_the_uninterrupted_pair_sequence(tmp_path, rng):
    signals, noises = _tiny_sources(rng)
    kw = dict(window_length=128, sampling_rate=50.0, steps_per_epoch=3, batch_size=4, validation=(signals, noises),
              validation_steps=1, n_synthetic=0, verbose=0, family="unet1d", model_kwargs={"filters": (4, 8)},
              jit_compile=False, patience=10)
    train_denoiser(signals, noises, tmp_path / "a.keras", epochs=2, **kw)
    train_denoiser(signals, noises, tmp_path / "b.keras", epochs=1, **kw)
    train_denoiser(signals, noises, tmp_path / "b.keras", epochs=2, resume=True, **kw)
    last_a = keras.saving.load_model(tmp_path / "a.keras.ckpt" / "last.keras", safe_mode=True)
    last_b = keras.saving.load_model(tmp_path / "b.keras.ckpt" / "last.keras", safe_mode=True)
    for wa, wb in zip(last_a.get_weights(), last_b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6)


def test_a_run_describes_its_records_and_stations():
    # `geokeras train` prints what it trains and validates on (issue 16)
    from geokeras.data import datasets
    from geokeras.training.sources import bundled_sources, describe_sources

    text = describe_sources(bundled_sources(min_record_snr_db=15.0))
    train, val, left = text.splitlines()
    assert "93 bundled records (pre/post-P SNR >= 15 dB), noise of 136 records; 78 station(s)" in train
    assert "validation:" in val and "18 station(s)" in val and all(s in val for s in datasets.VALIDATION_STATIONS)
    assert "28 test stations" in left and not any(s in train + val for s in datasets.TEST_STATIONS)


def _dense_fit(callbacks, learning_rate=0.05, epochs=4, steps=5):
    """A one-layer regression fitted with ``callbacks``; return the model and the per-epoch validation losses."""
    from geokeras.training.train import fit

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    history = fit(model, ds, epochs=epochs, steps_per_epoch=steps, validation_data=(x[:16], y[:16]), verbose=0,
                  shuffle=False, callbacks=callbacks)
    return model, history


def test_time_limit_stops_after_the_batch_that_spends_the_budget():
    from geokeras.training.callbacks import time_limit

    batches = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    budget = time_limit(0.0)
    _, history = _dense_fit([budget, counter], epochs=3, steps=5)
    assert budget.steps == 1 and batches == [0]  # not the 5 batches of the epoch
    assert len(history["val_loss"]) == 1  # the short epoch is still validated


def test_best_weights_restores_the_best_epoch_or_the_starting_weights():
    from geokeras.training.callbacks import best_weights

    snapshots = []
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(keep.model.get_weights()))
    best = best_weights("val_loss")
    model, history = _dense_fit([keep, best], learning_rate=0.3)  # a rate that makes the loss oscillate
    i = int(np.argmin(history["val_loss"]))
    assert (best.best_epoch, best.epochs, best.best) == (i + 1, 4, min(history["val_loss"]))
    for got, want in zip(model.get_weights(), snapshots[i]):
        np.testing.assert_array_equal(got, want)

    unbeatable = best_weights("val_loss", baseline=-1.0)  # no epoch beats the starting weights
    keras.utils.set_random_seed(0)
    start = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]).get_weights()
    model, _ = _dense_fit([unbeatable])
    assert unbeatable.best_epoch == 0
    for got, want in zip(model.get_weights(), start):
        np.testing.assert_array_equal(got, want)


def test_validation_pairs_are_drawn_once_with_the_offset_seed(rng):
    from geokeras.data.pairs import PairGenerator
    from geokeras.training import validation_pairs

    signals, noises = _tiny_sources(rng)
    x, y = validation_pairs(signals, noises, 128, 6, seed=3, snr_db=(0.0, 5.0), shift=(-20, 60))
    noisy, clean = PairGenerator(signals, noises, window_length=128, seed=10_003, snr_db=(0.0, 5.0),
                                 shift=(-20, 60)).sample(6)
    scale = (noisy - noisy.mean(axis=1, keepdims=True)).std(axis=1, keepdims=True)
    np.testing.assert_allclose(y[..., 0], clean / scale, rtol=1e-5, atol=1e-6)
    x2, _ = validation_pairs(signals, noises, 128, 6, seed=3, snr_db=(0.0, 5.0), shift=(-20, 60))
    np.testing.assert_array_equal(x, x2)


def test_horizontal_rotations_add_training_sources_only(tmp_path):
    """The bundled records' horizontals rotated to random azimuths are more training signals and noise; the
    validation sources stay the records as they are; other sources than the bundled events refuse them."""
    from geokeras.training.sources import bundled_sources, describe_sources, training_sources

    plain = bundled_sources(min_record_snr_db=15.0)
    rotated = bundled_sources(min_record_snr_db=15.0, horizontal_rotations=1, seed=0)
    three_c_signals = 79  # training records above 15 dB with two horizontals: two rotated traces each
    assert len(rotated["train_signals"]) == len(plain["train_signals"]) + 2 * three_c_signals
    assert len(rotated["train_noise"]) == len(plain["train_noise"]) + 2 * 115
    assert all(np.array_equal(a, b) for a, b in zip(rotated["val_signals"], plain["val_signals"]))
    assert len(rotated["val_noise"]) == len(plain["val_noise"])
    assert rotated["train_stations"] == plain["train_stations"]
    assert "with 1 rotation(s) of each record's horizontals (596 noise traces)" in describe_sources(rotated)
    with pytest.raises(ValueError, match="argument `horizontal_rotations`. Expected 0 when `signals`"):
        training_sources([np.zeros(100)], [np.zeros(100)], None, 100.0, 100, 0, 15.0, horizontal_rotations=1)
