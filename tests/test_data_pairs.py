"""Training pairs: exact SNR, shifts, amplitudes, noise-only pairs, seeds, tf.data, real-event sources."""
import numpy as np
import pytest

from geokeras.data import pairs, synthetic
from geokeras.data.pairs import PairGenerator, make_pair_dataset, phase_randomize, snr_db, split_event, time_stretch


@pytest.fixture(scope="module")
def sources():
    signals = list(synthetic.synthetic_seismogram(800, 100.0, n=5, seed=0))
    noises = list(synthetic.noise("colored", 1200, n=4, seed=1))
    return signals, noises


def test_snr_is_exact_within_0p1_db(sources):
    gen = PairGenerator(*sources, window_length=500, snr_db=(-10, 10), seed=3)
    noisy, clean, info = gen.sample(256, return_info=True)
    measured = snr_db(clean, noisy - clean)
    assert np.max(np.abs(measured - info["snr_db"])) < 0.1
    assert np.max(np.abs(measured - info["snr_db"])) < 1e-3  # in fact float32 rounding only
    assert info["snr_db"].min() >= -10 and info["snr_db"].max() <= 10
    assert info["snr_db"].std() > 3  # really drawn over the range


def test_fixed_snr_amplitude_and_shapes(sources):
    gen = PairGenerator(*sources, window_length=400, snr_db=3.0, amplitude=2.0, seed=0)
    noisy, clean = gen.sample(16)
    assert noisy.shape == clean.shape == (16, 400) and noisy.dtype == clean.dtype == np.float32
    np.testing.assert_allclose(snr_db(clean, noisy - clean), 3.0, atol=1e-3)
    np.testing.assert_allclose(np.sqrt(np.mean(clean.astype(np.float64) ** 2, axis=1)), 2.0, rtol=1e-4)


def test_shift_places_signal_start():
    sig = [np.r_[np.ones(10), np.zeros(5), np.ones(300)]]
    nz = [np.random.default_rng(0).standard_normal(500)]
    gen = PairGenerator(sig, nz, window_length=100, snr_db=0.0, shift=(20, 40), amplitude=1.0, seed=0)
    _, clean, info = gen.sample(50, return_info=True)
    for row, s in zip(clean, info["shift"]):
        assert 20 <= s <= 40
        assert np.all(row[:s] == 0) and row[s] != 0
    gen0 = PairGenerator(sig, nz, window_length=100, shift=False, seed=0)
    assert np.all(gen0.sample(5)[1][:, 0] != 0)
    # a negative shift starts the window inside the source
    genn = PairGenerator(sig, nz, window_length=100, shift=(-12, -12), seed=0)
    assert np.all(genn.sample(3)[1][:, :3] == 0) and np.all(genn.sample(3)[1][:, 3] != 0)


def test_noise_only_pairs(sources):
    gen = PairGenerator(*sources, window_length=300, noise_only_fraction=0.5, amplitude=1.0, seed=2)
    noisy, clean, info = gen.sample(200, return_info=True)
    only = info["noise_only"]
    assert 60 < only.sum() < 140
    assert np.all(clean[only] == 0) and np.all(np.any(clean[~only] != 0, axis=1))
    np.testing.assert_allclose(np.sqrt(np.mean(noisy[only].astype(np.float64) ** 2, axis=1)), 1.0, rtol=1e-4)
    assert np.all(info["signal_index"][only] == -1)


def test_reproducible_with_seed(sources):
    a = PairGenerator(*sources, window_length=300, seed=7).sample(8)
    b = PairGenerator(*sources, window_length=300, seed=7).sample(8)
    c = PairGenerator(*sources, window_length=300, seed=8).sample(8)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_noise_windows_are_real_noise_segments():
    noise_src = np.arange(1000, dtype=float) % 7 - 3.0
    gen = PairGenerator([np.ones(50) * np.hanning(50)], [noise_src], window_length=200, snr_db=0, seed=0)
    _, _, info = gen.sample(4, return_info=True)
    noisy, clean = gen.sample(4)
    noise = noisy.astype(np.float64) - clean
    # each noise window is a scaled, demeaned contiguous piece of the source (period-7 sawtooth)
    for row in noise:
        ratio = (row[7:] - row[:-7]) / np.max(np.abs(row))
        assert np.max(np.abs(ratio)) < 1e-5


def test_short_noise_sources_are_mirror_extended():
    gen = PairGenerator([np.sin(np.arange(300.0))], [np.random.default_rng(0).standard_normal(250)],
                        window_length=300, seed=0)
    noisy, clean = gen.sample(3)
    assert noisy.shape == (3, 300) and np.all(np.isfinite(noisy))


@pytest.mark.parametrize("kwargs, match", [
    (dict(window_length=0), "window_length"),
    (dict(snr_db=(5, -5)), "snr_db"),
    (dict(amplitude=(0, 1)), "amplitude"),
    (dict(noise_only_fraction=1.5), "noise_only_fraction"),
    (dict(shift=(0, 400)), "shift"),
    (dict(noise_burst_fraction=-0.1), "noise_burst_fraction"),
    (dict(burst_db=(6, 0)), "burst_db"),
    (dict(burst_seconds=(0, 2)), "burst_seconds"),
    # bursts are `burst_seconds` at `sampling_rate`: 0 made every burst 4 samples long, silently
    (dict(noise_burst_fraction=0.5, sampling_rate=0.0), r"argument `sampling_rate`. .* Received sampling_rate=0.0"),
])
def test_bad_arguments(sources, kwargs, match):
    kw = dict(window_length=300)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        PairGenerator(*sources, **kw)


@pytest.mark.parametrize("signals, noises, match", [
    ([], [np.ones(10)], "signals"),
    ([np.r_[1.0, np.nan]], [np.arange(10.0)], "NaN"),
    ([np.arange(10.0)], [np.zeros(400)], "constant"),
    ([np.ones((2, 2, 2))], [np.arange(400.0)], "1-D"),
])
def test_bad_sources(signals, noises, match):
    with pytest.raises(ValueError, match=match):
        PairGenerator(signals, noises, window_length=300)


def test_tf_dataset(sources):
    ds = make_pair_dataset(*sources, window_length=256, batch_size=4, n_batches=3, seed=5, snr_db=0.0)
    batches = list(ds)
    assert len(batches) == 3
    noisy, clean = batches[0]
    assert tuple(noisy.shape) == (4, 256, 1) and noisy.dtype.name == "float32"
    np.testing.assert_allclose(snr_db(clean.numpy()[..., 0], (noisy - clean).numpy()[..., 0]), 0.0, atol=1e-3)
    # same seed -> same first epoch; next epoch differs
    again = [b[0].numpy() for b in make_pair_dataset(*sources, window_length=256, batch_size=4, n_batches=3,
                                                      seed=5, snr_db=0.0)]
    np.testing.assert_array_equal(again[0], noisy.numpy())
    second_epoch = [b[0].numpy() for b in ds]
    assert not np.array_equal(second_epoch[0], noisy.numpy())


def test_split_event_on_bundled_record():
    from geokeras.data import datasets

    rec = datasets.load_events(stations=["BK.SAO"])[0]
    tr = rec.stream.select(component="Z")[0]
    noise, signal = split_event(tr, rec.p_time)
    assert noise.size == 2950 and signal.size == 9001 - 2950
    assert abs(noise.mean()) < 1e-6 and abs(signal.mean()) < 0.05 * signal.std()
    assert abs(signal[0]) < 1e-3 * np.abs(signal).max()  # tapered start
    with pytest.raises(ValueError, match="p_time"):
        split_event(tr, tr.stats.starttime)


def test_rank_records_and_sources():
    from geokeras.data import datasets

    recs = datasets.load_events()[:6]
    ranked = pairs.rank_records(recs)
    snrs = [s for _, s in ranked]
    assert snrs == sorted(snrs, reverse=True) and len(ranked) == 6
    assert len(pairs.rank_records(recs, top=2)) == 2
    assert all(s >= snrs[2] for _, s in pairs.rank_records(recs, min_snr_db=snrs[2]))
    signals, noises = pairs.sources_from_events([r for r, _ in ranked[:2]], components="Z")
    assert len(signals) == len(noises) == 2
    noisy, clean = PairGenerator(signals, noises, window_length=3000, seed=0).sample(2)
    assert noisy.shape == (2, 3000)


def test_record_snr_db():
    x = np.r_[0.1 * np.ones(3000) * np.cos(np.arange(3000)), np.cos(np.arange(3000))]
    assert abs(pairs.record_snr_db(x, 30.0, sampling_rate=100.0) - 20.0) < 0.05
    with pytest.raises(ValueError, match="sampling_rate"):
        pairs.record_snr_db(x, 30.0)


def test_tf_dataset_parallel_calls_do_not_change_the_pairs(sources):
    kw = dict(window_length=128, batch_size=3, n_batches=4, seed=9)
    one = [b[0].numpy() for b in make_pair_dataset(*sources, num_parallel_calls=1, **kw)]
    two = [b[0].numpy() for b in make_pair_dataset(*sources, num_parallel_calls=2, **kw)]
    np.testing.assert_array_equal(np.stack(one), np.stack(two))
    gen = PairGenerator(*sources, window_length=128, seed=9)
    first = gen.sample(2)[0]
    gen.sample(2, rng=np.random.default_rng(0))  # an explicit rng leaves the own sequence alone
    gen.reset()
    np.testing.assert_array_equal(gen.sample(2)[0], first)


def test_augmentation_inband_and_groups():
    from scipy import signal

    from geokeras.data.pairs import PairGenerator, time_stretch

    rng = np.random.default_rng(3)
    t = np.arange(5000) / 100.0
    signals = [np.sin(2 * np.pi * 4 * t) * np.exp(-t / 5.0) + np.sin(2 * np.pi * 0.3 * t) for _ in range(3)]
    noises = [np.sin(2 * np.pi * 0.2 * t + k) * 5 + rng.standard_normal(5000) for k in range(3)]
    gen = PairGenerator(signals, noises, window_length=2000, inband_fraction=0.5, noise_augment=True, seed=1,
                        signal_groups=["A", "B", "C"], noise_groups=["A", "B", "C"])
    noisy, clean, info = gen.sample(64, return_info=True)
    assert 10 < info["inband"].sum() < 54
    f, p = signal.welch(noisy - clean, fs=100.0, nperseg=1024, axis=-1)
    low = p[:, f < 0.5].sum(axis=1) / p.sum(axis=1)
    assert np.all(low[info["inband"]] < 0.01) and np.all(low[~info["inband"]] > 0.1)
    assert np.all(info["noise_index"] != info["signal_index"])  # noise always from another group
    np.testing.assert_allclose(snr_db(clean, noisy - clean), info["snr_db"], atol=0.01)
    # flips and reversals: a noise source exactly one window long comes out as one of its 4 variants, all seen
    chirp = np.sin(2 * np.pi * (0.5 + 3.0 * t[:2000]) * t[:2000])
    variants = np.stack([chirp, -chirp, chirp[::-1], -chirp[::-1]])
    variants -= variants.mean(axis=1, keepdims=True)
    for augment, expected in ((False, {0}), (True, {0, 1, 2, 3})):
        g = PairGenerator(signals, [chirp], window_length=2000, seed=2, noise_only_fraction=1.0,
                          noise_augment=augment, noise_sum_fraction=0.0)
        noise, _ = g.sample(40)
        corr = noise @ variants.T / (np.linalg.norm(noise, axis=1)[:, None] * np.linalg.norm(variants, axis=1))
        assert np.all(corr.max(axis=1) > 0.999)
        assert set(corr.argmax(axis=1).tolist()) == expected
    with pytest.raises(ValueError, match="Received inband_fraction=1.5"):
        PairGenerator(signals, noises, window_length=2000, inband_fraction=1.5)
    out = time_stretch([np.ones(100)], factors=(0.5, 0.5), copies=2)
    assert [o.size for o in out] == [50, 50]


def test_endless_dataset_continues_from_first_batch():
    # a resumed training run (first_batch = epochs done x steps) draws the batches an uninterrupted run would
    rng = np.random.default_rng(5)
    signals, noises = [rng.standard_normal(400)], [rng.standard_normal(600)]
    full = [b[0].numpy() for b in make_pair_dataset(signals, noises, window_length=100, batch_size=2, seed=3).take(5)]
    later = [b[0].numpy() for b in make_pair_dataset(signals, noises, window_length=100, batch_size=2, seed=3,
                                                     first_batch=3).take(2)]
    np.testing.assert_array_equal(later[0], full[3])
    np.testing.assert_array_equal(later[1], full[4])
    assert not np.array_equal(full[0], full[1])


def test_noise_bursts_are_noise_transients_left_out_of_the_target():
    """A burst lifts a stretch of the noise by ``burst_db`` (RMS under its Hann envelope), the clean target is
    untouched and the SNR stays exact; without bursts the pairs are those of a generator without the option."""
    t = np.arange(6000) / 100.0
    signals = [np.sin(2 * np.pi * 3 * t[:1500]) * np.exp(-t[:1500])]
    noises = list(np.random.default_rng(0).standard_normal((3, 6000)))
    kw = dict(window_length=3000, seed=4, snr_db=(-5.0, 5.0))
    plain, _ = PairGenerator(signals, noises, **kw).sample(16)
    same, _ = PairGenerator(signals, noises, noise_burst_fraction=0.0, **kw).sample(16)
    np.testing.assert_array_equal(plain, same)

    gen = PairGenerator(signals, noises, noise_burst_fraction=1.0, burst_db=(12.0, 12.0), burst_seconds=(4.0, 4.0),
                        noise_only_fraction=1.0, **kw)
    noise, clean = gen.sample(64)
    assert not clean.any()
    sec = np.sqrt((noise.reshape(64, 30, 100) ** 2).mean(axis=2))
    ratio = sec.max(axis=1) / np.median(sec, axis=1)
    # white noise alone: max/median of 30 one-second RMS values ~1.2; a +12 dB burst (4x RMS over 4 s) ~5-7x
    assert np.all(ratio > 3.5) and np.all(ratio < 9.0)
    loud = (sec > 2.5 * np.median(sec, axis=1, keepdims=True)).sum(axis=1)
    assert np.all((loud >= 1) & (loud <= 4))  # one burst of 4 s, not a louder window

    gen = PairGenerator(signals, noises, noise_burst_fraction=1.0, **kw)
    noisy, clean, info = gen.sample(32, return_info=True)
    np.testing.assert_array_equal(clean, PairGenerator(signals, noises, **kw).sample(32)[1])
    np.testing.assert_allclose(snr_db(clean, noisy - clean), info["snr_db"], atol=0.01)


def test_time_stretch_stretches_a_records_components_together():
    x = np.random.default_rng(0).normal(size=(3, 700))
    together = time_stretch([x], factors=(0.6, 1.8), copies=2, seed=4)
    for c in range(3):  # each component as the 1-D source alone: the same factor, the same samples
        for a, b in zip(together, time_stretch([x[c]], factors=(0.6, 1.8), copies=2, seed=4)):
            assert a.shape[0] == 3 and a.shape[1] == b.size
            np.testing.assert_allclose(a[c], b, atol=1e-12)


def test_phase_randomize_keeps_the_spectrum_and_removes_transients():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1000))
    x[:, 400:450] *= 20.0  # a transient
    y = phase_randomize(x, np.random.default_rng(1))
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(np.abs(np.fft.rfft(y)), np.abs(np.fft.rfft(x)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(y.mean(axis=1), x.mean(axis=1), atol=1e-5)
    np.testing.assert_allclose((y.astype(float) ** 2).sum(axis=1), (x ** 2).sum(axis=1), rtol=1e-5)
    # a new realization: the transient is spread over the whole row (largest 1-s RMS / median far smaller)
    def burstiness(z):  # largest RMS of 50-sample blocks over their median
        rms = np.sqrt((np.asarray(z, float).reshape(4, 20, 50) ** 2).mean(axis=2))
        return rms.max(axis=1) / np.median(rms, axis=1)

    assert np.all(burstiness(x) > 10.0) and np.all(burstiness(y) < 2.0)
    assert abs(np.corrcoef(x[0], y[0])[0, 1]) < 0.2
    odd = phase_randomize(x[:, :999], np.random.default_rng(1))  # odd length: no Nyquist bin
    np.testing.assert_allclose(np.abs(np.fft.rfft(odd)), np.abs(np.fft.rfft(x[:, :999])), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(phase_randomize(x, np.random.default_rng(1)), y)  # seeded


def test_surrogate_noise_windows():
    """With the fraction 0 the pairs are those of a generator without the option (no draw); with 1 every noise
    window is a surrogate: the clean target and the SNR are kept, the noise is new (not a window of the source)."""
    t = np.arange(6000) / 100.0
    signals = [np.sin(2 * np.pi * 3 * t[:1500]) * np.exp(-t[:1500])]
    noises = list(np.random.default_rng(0).standard_normal((3, 6000)))
    kw = dict(window_length=3000, seed=4, snr_db=(-5.0, 5.0), noise_augment=True, inband_fraction=0.5)
    plain = PairGenerator(signals, noises, **kw).sample(16)
    same = PairGenerator(signals, noises, noise_surrogate_fraction=0.0, **kw).sample(16)
    for a, b in zip(plain, same):
        np.testing.assert_array_equal(a, b)
    gen = PairGenerator(signals, noises, noise_surrogate_fraction=1.0, noise_only_fraction=1.0, **kw)
    noise, clean = gen.sample(8)
    assert not clean.any()
    sources = np.concatenate(noises)
    for row in noise:  # not a (scaled, flipped) window of any source
        corr = np.correlate(sources, row / np.linalg.norm(row), mode="valid")
        assert np.abs(corr).max() < 0.3 * np.linalg.norm(sources[:3000])
    noisy, clean, info = PairGenerator(signals, noises, noise_surrogate_fraction=1.0, **kw).sample(16, return_info=True)
    np.testing.assert_allclose(snr_db(clean, noisy - clean), info["snr_db"], atol=0.01)
    with pytest.raises(ValueError, match="Received noise_surrogate_fraction=1.5"):
        PairGenerator(signals, noises, noise_surrogate_fraction=1.5)


def _three_component_record(rng, npts=3000, letters="NEZ", p_s=10.0):
    from types import SimpleNamespace

    import obspy

    t0 = obspy.UTCDateTime(2020, 1, 1)
    event = np.r_[np.zeros(int(p_s * 100)), np.sin(np.arange(npts - int(p_s * 100)) / 7.0) * 50.0]
    st = obspy.Stream([obspy.Trace(rng.normal(size=npts) + event * gain, header=dict(
        network="XX", station="AAA", channel="HH" + c, sampling_rate=100.0, starttime=t0))
        for c, gain in zip(letters, (1.0, 0.4, 2.0))])
    return SimpleNamespace(stream=st, p_time=t0 + p_s)


def test_rotated_horizontals_keep_the_horizontal_power_sample_by_sample(rng):
    rec = _three_component_record(rng)
    signals, noises = pairs.rotated_horizontals([rec], copies=3, seed=5)
    assert len(signals) == len(noises) == 6
    (n_noise, n_sig), (e_noise, e_sig) = (split_event(rec.stream.select(channel=f"HH{c}")[0], rec.p_time)
                                          for c in "NE")
    for k in range(3):  # radial and transverse of one azimuth: a rotation of (N, E), split the same way
        np.testing.assert_allclose(signals[2 * k] ** 2 + signals[2 * k + 1] ** 2, n_sig ** 2 + e_sig ** 2,
                                   rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(noises[2 * k] ** 2 + noises[2 * k + 1] ** 2, n_noise ** 2 + e_noise ** 2,
                                   rtol=1e-9, atol=1e-9)
        assert not np.allclose(signals[2 * k], n_sig) and not np.allclose(signals[2 * k], e_sig)
    assert not np.allclose(signals[0], signals[2])  # another azimuth for each copy
    again, _ = pairs.rotated_horizontals([rec], copies=3, seed=5)
    other, _ = pairs.rotated_horizontals([rec], copies=3, seed=6)
    assert all(np.array_equal(a, b) for a, b in zip(signals, again))
    assert not np.allclose(signals[0], other[0])


def test_rotated_horizontals_skip_records_without_a_matching_pair(rng):
    vertical_only = _three_component_record(rng, letters="Z")
    assert pairs.rotated_horizontals([vertical_only], copies=2) == ([], [])
    numbered = _three_component_record(rng, letters="12Z")
    assert len(pairs.rotated_horizontals([numbered], copies=2)[0]) == 4
    unequal = _three_component_record(rng)
    unequal.stream[1].data = unequal.stream[1].data[:-5]  # E shorter than N
    assert pairs.rotated_horizontals([unequal], copies=2) == ([], [])
    assert pairs.rotated_horizontals([numbered], copies=0) == ([], [])
    with pytest.raises(ValueError, match="argument `copies`. .* Received copies=-1"):
        pairs.rotated_horizontals([numbered], copies=-1)
