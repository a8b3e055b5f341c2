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
    model, history = train_denoiser(signals, noises, out, epochs=1, noise_augment=True, inband_fraction=0.5,
                                    stretch=(0.8, 1.25), **kw)
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
