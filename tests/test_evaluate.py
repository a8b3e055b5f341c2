"""evaluate(): baselines side by side with a model, per SNR level, on tiny data."""
import numpy as np
import pytest

from geokeras.evaluate import (
    BASELINES, bandpass_baseline, evaluate, format_table, make_test_windows, oracle_mask_baseline, wavelet_baseline,
    wiener_baseline,
)
from geokeras.models.denoiser import build_denoiser


def _sources(rng):
    t = np.arange(2000) / 100.0
    signals = [np.sin(2 * np.pi * 5 * t) * np.exp(-t / 3.0), np.sin(2 * np.pi * 8 * t) * np.exp(-t / 2.0)]
    noises = [np.cumsum(rng.standard_normal(3000)) * 0.05 + rng.standard_normal(3000) for _ in range(2)]
    return signals, noises


def test_evaluate_two_records_all_baselines(tmp_path, rng):
    signals, noises = _sources(rng)
    model = build_denoiser("unet1d", window_length=1000, sampling_rate=100.0, filters=(4, 8))
    png = tmp_path / "q.png"
    rows = evaluate(model, signals=signals, noise=noises, snr_levels=(-5, 5), n_per_level=3, plot=png)
    assert {r["method"] for r in rows} == {"model", *BASELINES}
    assert len(rows) == 5 * 3  # two levels + "all" per method
    for r in rows:
        assert set(r) >= {"snr_gain_db", "correlation", "peak_ratio", "arrival_error_s", "picked", "n"}
    oracle = {r["snr_db"]: r for r in rows if r["method"] == "oracle_mask"}
    assert oracle[-5]["snr_gain_db"] > 3 and oracle[5]["correlation"] > 0.9
    assert png.stat().st_size > 1000
    assert "| oracle_mask | all |" in format_table(rows)


def test_test_windows_hit_the_level_and_baselines_keep_shape(rng):
    signals, noises = _sources(rng)
    noisy, clean = make_test_windows(signals, noises, -5.0, 4, window_length=1500)
    noise = noisy - clean
    np.testing.assert_allclose(10 * np.log10((clean ** 2).sum(1) / (noise ** 2).sum(1)), -5.0, atol=0.01)
    for out in (bandpass_baseline(noisy, 100.0), wavelet_baseline(noisy), oracle_mask_baseline(clean, noise)):
        assert out.shape == noisy.shape and np.all(np.isfinite(out))
    # the oracle with zero noise returns the clean window
    np.testing.assert_allclose(oracle_mask_baseline(clean, 0 * clean), clean, atol=1e-6 * np.abs(clean).max())


def test_evaluate_rejects_unknown_baseline():
    with pytest.raises(ValueError, match="Invalid value for argument `baselines`"):
        evaluate(None, baselines=("median",))


def test_bandpass_is_obspy_zero_phase_filter_on_a_real_trace():
    import obspy

    tr = obspy.read()[0]
    data = tr.data.astype(np.float64)
    expected = tr.copy().filter("bandpass", freqmin=1.0, freqmax=20.0, corners=4, zerophase=True).data
    np.testing.assert_allclose(bandpass_baseline(data, tr.stats.sampling_rate), expected, rtol=1e-10, atol=1e-9)
    causal = tr.copy().filter("bandpass", freqmin=1.0, freqmax=20.0, corners=4, zerophase=False).data
    assert np.abs(causal - expected).max() > 0.1 * np.abs(expected).max()  # the two differ: the pin can fail
    rows = bandpass_baseline(np.stack([data, 2 * data]), tr.stats.sampling_rate)
    np.testing.assert_allclose(rows[1], 2 * expected, rtol=1e-10, atol=1e-9)


def test_inband_condition_removes_what_a_bandpass_could(rng):
    from scipy import signal

    t = np.arange(4000) / 100.0
    signals = [np.sin(2 * np.pi * 5 * t) * np.exp(-t / 3.0) + np.sin(2 * np.pi * 0.2 * t)]
    noises = [np.sin(2 * np.pi * 0.2 * t + 1.0) * 10 + rng.standard_normal(4000) for _ in range(2)]
    for condition, expect_low in (("recorded", True), ("inband", False)):
        noisy, clean = make_test_windows(signals, noises, 0.0, 4, window_length=3000, condition=condition)
        f, p = signal.welch(noisy - clean, fs=100.0, nperseg=2048, axis=-1)
        low = p[:, f < 0.5].sum(axis=1) / p.sum(axis=1)
        assert bool(np.all(low > 0.5)) == expect_low, (condition, low)


def test_evaluate_columns_and_argument_errors(rng):
    signals, noises = _sources(rng)
    rows, scores = evaluate(None, signals=signals, noise=noises, snr_levels=(0,), n_per_level=3, window_length=1000,
                            condition="recorded", return_scores=True)
    by = {r["method"]: r for r in rows if r["snr_db"] == 0}
    assert by["bandpass"]["gain_over_bandpass_db"] == 0.0
    assert by["oracle_mask"]["oracle_fraction"] == 1.0
    assert by["wavelet"]["oracle_fraction"] == pytest.approx(by["wavelet"]["snr_gain_db"] / by["oracle_mask"]["snr_gain_db"])
    # per window: the method's gain minus the band-pass's gain on the same window
    wavelet, bandpass = scores[("wavelet", 0)], scores[("bandpass", 0)]
    np.testing.assert_allclose(wavelet["gain_over_bandpass_db"], wavelet["snr_gain_db"] - bandpass["snr_gain_db"])
    assert by["wavelet"]["gain_over_bandpass_db"] == pytest.approx(np.median(wavelet["gain_over_bandpass_db"]))
    with pytest.raises(ValueError, match="Received n_per_level=0"):
        evaluate(None, signals=signals, noise=noises, n_per_level=0)
    with pytest.raises(ValueError, match="Invalid value for argument `condition`"):
        evaluate(None, signals=signals, noise=noises, condition="filtered")


def test_oracle_mask_floor_keeps_that_much_noise_and_caps_the_gain():
    rng = np.random.default_rng(3)
    t = np.arange(3000) / 100.0
    clean = np.where(t > 10, np.sin(2 * np.pi * 5 * t) * np.exp(-(t - 10)), 0.0)
    noise = 0.3 * rng.normal(size=3000)
    # where there is no signal, the floored mask passes `floor` of the noise, bin by bin
    quiet = oracle_mask_baseline(0 * clean, noise, nperseg=64, noverlap=32, floor=0.3)
    np.testing.assert_allclose(quiet[100:-100], 0.3 * noise[100:-100], atol=1e-9)
    plain = oracle_mask_baseline(clean, noise, nperseg=64, noverlap=32)
    floored = oracle_mask_baseline(clean, noise, nperseg=64, noverlap=32, floor=0.3)
    gain = lambda y: 10 * np.log10(np.sum(noise ** 2) / np.sum((y - clean) ** 2))  # noqa: E731
    assert gain(floored) < -20 * np.log10(0.3) < gain(plain)
    with pytest.raises(ValueError, match="floor"):
        oracle_mask_baseline(clean, noise, floor=1.0)


def _burst(n, at, length=400, amplitude=10.0):
    out = np.zeros(n)
    out[at:at + length] = amplitude * np.sin(np.arange(length) * 0.7) * np.hanning(length)
    return out


def test_wiener_baseline_attenuates_noise_to_the_floor_and_keeps_an_event():
    rng = np.random.default_rng(4)
    noise = rng.normal(size=60_000)
    quiet = wiener_baseline(noise, 100.0, floor=0.3)
    assert 0.3 <= np.std(quiet) <= 0.36  # the floor, plus the Wiener gain of chance noise peaks
    event = _burst(60_000, 30_000)
    out = wiener_baseline(noise + event, 100.0, floor=0.3)
    window = slice(29_900, 30_500)
    assert np.corrcoef(out[window], event[window])[0, 1] > 0.95
    assert 0.8 < np.abs(out[window]).max() / np.abs(event).max() < 1.1
    # sign symmetry, shapes, zero mean, and floor 1 gives the demeaned input back
    x = np.stack([noise + event + 3.0, 2 * noise])
    y = wiener_baseline(x, 100.0)
    assert y.shape == x.shape
    np.testing.assert_array_equal(wiener_baseline(-x, 100.0), -y)
    np.testing.assert_allclose(wiener_baseline(x, 100.0, floor=1.0), x - x.mean(-1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(wiener_baseline(x[1], 100.0), y[1])


def test_wiener_baseline_follows_the_noise_level_and_smoothing_holds_back_chance_peaks():
    rng = np.random.default_rng(6)
    noise = rng.normal(size=120_000) * np.where(np.arange(120_000) < 60_000, 1.0, 4.0)  # 4x louder after 10 min
    out = wiener_baseline(noise, 100.0, noise_window_s=60.0, noise_step_s=10.0)
    late = slice(70_000, 120_000)
    assert np.std(out[late]) / np.std(noise[late]) < 0.4  # the louder noise is noise, not signal
    # plain spectral subtraction (smoothing 0) lets the noise's chance peaks through ("musical noise")
    white = noise[:60_000]
    assert np.std(wiener_baseline(white, 100.0, floor=0.0)) < 0.1
    assert np.std(wiener_baseline(white, 100.0, floor=0.0, smoothing=0.0)) > 0.3


def test_wiener_baseline_median_over_components_holds_back_a_one_component_burst():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 30_000))
    x[0] += _burst(30_000, 15_000)  # a transient on one component only
    x[:, 5_000:5_400] += _burst(30_000, 5_000)[5_000:5_400]  # an arrival on all three
    own = wiener_baseline(x, 100.0)
    median = wiener_baseline(x, 100.0, components="median")
    lone = slice(15_000, 15_400)
    assert np.abs(median[0, lone]).max() < 0.5 * np.abs(own[0, lone]).max()
    arrival = slice(5_000, 5_400)
    assert np.abs(median[0, arrival]).max() > 0.8 * np.abs(own[0, arrival]).max()
    for kwargs, name in (({"floor": 1.5}, "floor"), ({"smoothing": 1.0}, "smoothing"),
                         ({"components": "mean"}, "components"), ({"noise_window_s": 0}, "noise_window_s")):
        with pytest.raises(ValueError, match=name):
            wiener_baseline(x, 100.0, **kwargs)
