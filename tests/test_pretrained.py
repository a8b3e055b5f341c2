"""The shipped default denoiser: loads safely, has its card, removes in-band noise at test stations, and is
sign-symmetric through the whole denoise path."""
import zipfile

import numpy as np
import obspy
import pytest

from geokeras import metrics
from geokeras.evaluate import bandpass_baseline, heldout_sources, make_test_windows
from geokeras.models.denoiser import denoiser_info
from geokeras.pretrained import DEFAULT_MODEL_PATH, MODEL_CARD_PATH, load_default


@pytest.fixture(scope="module")
def default_model():
    return load_default()


def test_default_file_is_small_safe_and_documented(default_model):
    assert DEFAULT_MODEL_PATH.stat().st_size < 2_000_000
    with zipfile.ZipFile(DEFAULT_MODEL_PATH) as zf:
        config = zf.read("config.json").decode()
    assert "Lambda" not in config and "SignInvariantFeatures" in config
    assert default_model.get_layer("stft").frame_length == 64 and default_model.get_layer("stft").frame_step == 32
    info = denoiser_info(default_model)
    assert (info["sampling_rate"], info["window_length"]) == (100.0, 3000)
    assert info["band_hz"] == (1.0, 45.0) and info["sampling_rate_range_hz"] == (20.0, 250.0)
    card = MODEL_CARD_PATH.read_text()
    assert "geokeras train" in card and "TEST_STATIONS" in card and "VALIDATION_STATIONS" in card
    assert "20-250 Hz" in card and "1-45 Hz" in card


def test_default_is_v3_with_the_mask_floor_of_the_card(default_model):
    """v4: the v3 network with a mask floor of 0.3 (chosen on validation stations); floor 0 gives v3 back."""
    from geokeras.models.mask_floor import mask_settings, with_mask_smoothing

    assert mask_settings(default_model) == {"floor": 0.3, "time_frames": 1, "freq_bins": 1, "statistic": "mean",
                                            "exponent": 1.0}
    assert "floor of 0.3" in MODEL_CARD_PATH.read_text()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3000, 1)).astype("float32")
    floored = np.asarray(default_model(x))
    v3 = np.asarray(with_mask_smoothing(default_model, floor=0.0)(x))
    # the floor keeps at least 0.3 of every bin: the output keeps more of white noise than v3 does
    assert np.std(floored) > np.std(v3) and np.std(floored) > 0.25 * np.std(x)


@pytest.mark.parametrize("shipped", ["default", "components"])
def test_shipped_networks_remove_inband_noise_at_test_stations(default_model, shipped):
    """Both shipped networks (``components.keras``: the three-component path, `load_components`) on one trace."""
    from geokeras.data import datasets
    from geokeras.pretrained import load_components

    model = default_model if shipped == "default" else load_components()

    records = datasets.load_events(stations=["BK.SAO", "NC.MCB", "BG.SQK", "PG.PB"])
    assert {r.station_id for r in records} <= set(datasets.TEST_STATIONS)
    signals, noises, sig_sta, noise_sta = heldout_sources(records, with_stations=True)
    noisy, clean = make_test_windows(signals, noises, 0.0, 16, seed=7, condition="inband",
                                     signal_stations=sig_sta, noise_stations=noise_sta)
    out = np.asarray(model(noisy[..., None].astype("float32")))[..., 0]
    gain = np.median(metrics.snr_gain_db(clean, noisy, out))
    bandpass = np.median(metrics.snr_gain_db(clean, noisy, bandpass_baseline(noisy, 100.0)))
    # identity or all-zero output gives 0 dB and a band-pass about 1.5 dB on in-band noise; this model ~8 dB
    assert gain > bandpass + 4.0, (gain, bandpass)
    assert np.median(metrics.correlation(clean, out)) > np.median(metrics.correlation(clean, noisy)) + 0.1


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_default_is_sign_symmetric_through_the_denoise_path(default_model, precision):
    from geokeras.denoise import Denoiser, denoise

    st = obspy.read()  # ObsPy's example (evaluation only): 3 x 3000 samples at 100 Hz
    st[1].resample(200.0)  # another rate inside the model's range: resampled and back
    st[2].data = np.ma.masked_array(st[2].data.astype(np.float32), mask=np.zeros(st[2].stats.npts, bool))
    st[2].data.mask[1200:1300] = True  # a gap: two segments
    st[0].data = st[0].data + 5000.0  # an offset
    negative = st.copy()
    for tr in negative:
        tr.data = -tr.data
    den = Denoiser(default_model)
    out, out_neg = denoise(st, model=den, precision=precision), denoise(negative, model=den, precision=precision)
    for a, b in zip(out, out_neg):
        assert np.ma.allequal(np.ma.masked_invalid(b.data), -np.ma.masked_invalid(a.data))
        assert np.array_equal(np.ma.getmaskarray(a.data), np.ma.getmaskarray(b.data))
        assert np.abs(np.ma.filled(a.data, 0.0) + np.ma.filled(b.data, 0.0)).max() == 0.0  # to the last bit


def test_bfloat16_inference_stays_close_to_float32_and_is_recorded(default_model):
    from geokeras.denoise import Denoiser, DenoiseOptions, denoise

    den = Denoiser(default_model)
    st = obspy.read()
    ref, fast = denoise(st, model=den, precision="float32"), denoise(st, model=den, precision="bfloat16")
    for a, b in zip(ref, fast):
        diff = np.abs(a.data - b.data).max() / np.abs(a.data).max()
        assert 0.0 < diff < 0.05, diff  # rounding of the convolutions' arithmetic, nothing more
    assert ref[0].stats.processing[-1].endswith("clip=1.1)")  # float32 lines and sidecars as before
    assert fast[0].stats.processing[-1].endswith("clip=1.1, precision=bfloat16)")
    assert "precision" not in DenoiseOptions(precision="float32").record(den)
    assert DenoiseOptions(precision="bfloat16").record(den)["precision"] == "bfloat16"  # resume tells them apart
    with pytest.raises(ValueError, match="Invalid value for argument `precision`"):
        denoise(st, model=den, precision="float16")
