"""The shipped default denoiser: loads safely, has its card, and removes real noise at a held-out station."""
import zipfile

import numpy as np
import pytest

from geokeras import metrics
from geokeras.evaluate import heldout_sources, make_test_windows
from geokeras.models.denoiser import denoiser_info
from geokeras.pretrained import DEFAULT_MODEL_PATH, MODEL_CARD_PATH, load_default


@pytest.fixture(scope="module")
def default_model():
    return load_default()


def test_default_file_is_small_safe_and_documented(default_model):
    assert DEFAULT_MODEL_PATH.stat().st_size < 2_000_000
    with zipfile.ZipFile(DEFAULT_MODEL_PATH) as zf:
        config = zf.read("config.json").decode()
    assert "Lambda" not in config
    info = denoiser_info(default_model)
    assert (info["sampling_rate"], info["window_length"]) == (100.0, 3000)
    card = MODEL_CARD_PATH.read_text()
    assert "geokeras.train" in card or "geokeras train" in card
    assert "HOLDOUT_STATIONS" in card


def test_default_reduces_real_noise_at_heldout_station(default_model):
    from geokeras.data import datasets

    records = datasets.load_events(stations=["BK.SAO", "NC.MCB"])
    assert {r.station_id for r in records} <= set(datasets.HOLDOUT_STATIONS)
    signals, noises = heldout_sources(records)
    noisy, clean = make_test_windows(signals, noises, 0.0, 16, seed=7)
    out = np.asarray(default_model(noisy[..., None].astype("float32")))[..., 0]
    gain = np.median(metrics.snr_gain_db(clean, noisy, out))
    corr_in = np.median(metrics.correlation(clean, noisy))
    corr_out = np.median(metrics.correlation(clean, out))
    # identity or all-zero output gives 0 dB; the 1-20 Hz bandpass gives about 8 dB on this set
    assert gain > 6.0, gain
    assert corr_out > corr_in + 0.1 and corr_out > 0.85, (corr_in, corr_out)
