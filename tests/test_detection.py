"""The detection benchmark's scoring on tiny synthetic records with known triggers (issue 15)."""
import dataclasses

import numpy as np
import pytest
from scipy import stats

from geokeras import detection

SR = 100.0


def _burst(rng, n, amplitude):
    """An impulsive wavelet: sharp onset, exponential decay."""
    t = np.arange(n) / SR
    return amplitude * rng.normal(size=n) * np.exp(-t / 0.8)


@pytest.fixture(scope="module")
def record():
    """One hour of white noise, 6 strong events at known P times and 5 noise transients of known sizes."""
    rng = np.random.default_rng(3)
    n = int(3600 * SR)
    x = rng.normal(size=n)
    clean = np.zeros(n)
    events = []
    for k, p in enumerate(range(60_000, 360_000, 50_000)):
        sig = _burst(rng, 400, 30.0)
        x[p:p + 400] += sig
        clean[p:p + 400] = sig
        events.append(detection.Event(p, 400, 10.0, f"S{k}"))
    # transients away from every event: the false-trigger candidates, strongest first
    transients = [(35_000, 12.0), (85_000, 9.0), (135_000, 7.0), (185_000, 5.0), (235_000, 4.0)]
    for p, amp in transients:
        x[p:p + 200] += _burst(rng, 200, amp)
    return x, clean, events, transients


def test_threshold_for_rate_allows_exactly_the_rate(record):
    x, _, events, _ = record
    cf = detection.characteristic_function(x, SR)
    quiet = detection.noise_only_mask(x.size, events, SR)
    hours = quiet.sum() / SR / 3600
    for rate in (1.0, 2.0, 3.0):
        thr = detection.threshold_for_rate(cf, quiet, rate, SR)
        allowed = int(np.floor(rate * hours))
        assert detection.false_triggers(detection.trigger_onsets(cf, thr), quiet) <= allowed
        # the lowest such threshold (to the scan's resolution): a little lower gives too many
        assert detection.false_triggers(detection.trigger_onsets(cf, thr * 0.97), quiet) > allowed


def test_false_triggers_are_the_strongest_transients(record):
    x, _, events, transients = record
    cf = detection.characteristic_function(x, SR)
    quiet = detection.noise_only_mask(x.size, events, SR)
    hours = quiet.sum() / SR / 3600  # a little under one hour: the events and their guards are not noise
    rate = 3.0 / hours  # three false triggers allowed
    thr = detection.threshold_for_rate(cf, quiet, rate, SR)
    onsets = detection.trigger_onsets(cf, thr)
    false = sorted(int(o) for o in onsets if quiet[o])
    # the three allowed false triggers are the three strongest transients, at their onsets
    assert len(false) == 3
    for onset, (p, _) in zip(false, transients[:3]):
        assert abs(onset - p) <= 0.2 * SR


def test_hits_match_known_p_times_and_picks_are_accurate(record):
    x, clean, events, _ = record
    scores = detection.score_detections(x, clean, events, SR, rates_per_hour=(2.0,), detectors=("recursive",))
    rows = scores["events"]
    assert all(row[("recursive", 2.0)]["hit"] for row in rows)
    errors = [row[("recursive", 2.0)]["pick_error_s"] for row in rows]
    assert np.nanmax(errors) < 0.15, errors
    # the peak ratio of the noisy trace is near one for such strong events
    assert all(0.9 < row["peak_ratio"] < 1.3 for row in rows)
    summary = detection.summarize([scores], [10.0], "recursive", 2.0)
    assert summary[0]["recall"] == 1.0 and summary[-1]["snr_db"] == "all"
    # the signed offset: with every P stated 0.5 s early each pick is about 0.5 s late, and stated 0.5 s late about
    # 0.5 s early; the error is its absolute value
    for shift in (-50, 50):
        moved = [dataclasses.replace(ev, p_index=ev.p_index + shift) for ev in events]
        rows = detection.score_detections(x, clean, moved, SR, rates_per_hour=(2.0,), detectors=("recursive",))
        rows = [row[("recursive", 2.0)] for row in rows["events"]]
        offsets = np.array([row["pick_offset_s"] for row in rows])
        assert np.all(np.abs(offsets + shift / SR) < 0.15), (shift, offsets)
        assert [row["pick_error_s"] for row in rows] == list(np.abs(offsets))


def test_match_triggers_window():
    events = [detection.Event(1000, 100, 0.0), detection.Event(5000, 100, 0.0), detection.Event(9000, 100, 0.0)]
    # 0.5 s early, 3 s late, and 2 s early (outside -1..+4 s): hit, hit, miss
    hits = detection.match_triggers([950, 5300, 8800], events, SR)
    assert hits == [950, 5300, None]


def test_stationarity_of_white_noise_is_its_chi_square_value():
    rng = np.random.default_rng(0)
    x = rng.normal(size=int(7200 * SR))
    s = detection.noise_stationarity(x, np.ones(x.size, bool), SR)
    m = int(SR)  # samples per 1-s block: the block power is chi-square with m degrees of freedom
    expected = np.sqrt(stats.chi2.ppf(0.99, m) / stats.chi2.ppf(0.10, m))
    assert s["ratio"] == pytest.approx(expected, rel=0.03)
    assert s["p50"] == pytest.approx(1.0)


def test_stationarity_of_gated_noise_is_large():
    rng = np.random.default_rng(1)
    x = rng.normal(size=int(3600 * SR))
    gate = np.repeat(rng.random(3600) < 0.05, int(SR))  # 5 % of the seconds pass, the rest is at 2 %
    y = x * np.where(gate, 1.0, 0.02)
    s = detection.noise_stationarity(y, np.ones(y.size, bool), SR)
    assert s["ratio"] > 30


def test_continuous_record_injects_at_known_times_and_levels():
    rng = np.random.default_rng(2)
    noises = [rng.normal(size=3000) for _ in range(10)]
    signals = [_burst(rng, 1500, 1.0) for _ in range(4)]
    noisy, clean, events = detection.continuous_record(noises, signals, 900, SR, snr_levels=(-5, 5), seed=0)
    assert noisy.shape == clean.shape == (int(900 * SR),)
    assert events and {ev.snr_db for ev in events} <= {-5, 5}
    for ev in events:
        assert np.any(clean[ev.p_index:ev.p_index + ev.length])
        window = slice(ev.p_index - int(10 * SR), ev.p_index + int(20 * SR))
        noise = (noisy - clean)[window]
        snr = 10 * np.log10(np.sum(clean[window] ** 2) / np.sum(noise ** 2))
        assert snr == pytest.approx(ev.snr_db, abs=0.2)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="sampling_rate"):
        detection.characteristic_function(np.zeros(100), -1.0)
    with pytest.raises(ValueError, match="split"):
        detection.benchmark_records("train")


def test_repeats_add_records_with_their_own_seed_and_keep_the_first():
    one = detection.benchmark_records("validation", n_stations=1, hours=0.1)
    two = detection.benchmark_records("validation", n_stations=1, hours=0.1, repeats=2)
    assert [r["station"] for r in two] == [one[0]["station"]] * 2
    np.testing.assert_array_equal(two[0]["noisy"], one[0]["noisy"])  # repeat 0 is the record without repeats
    assert [e.p_index for e in two[1]["events"]] != [e.p_index for e in two[0]["events"]]
    with pytest.raises(ValueError, match="repeats"):
        detection.benchmark_records("validation", n_stations=1, hours=0.1, repeats=0)


def _onset_record(seed, n=3000, p=1500, amp=10.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[p:] += amp * rng.normal(size=n - p)
    return x


@pytest.mark.parametrize("seed", range(5))
def test_aic_pick_finds_a_level_change(seed):
    x = _onset_record(seed)
    # a trigger 0.3 s after the onset: the Akaike minimum is at the onset
    assert abs(detection.pick_aic(x, 1530, SR) - 1500) <= 2
    assert abs(detection.pick_at_trigger(x, 1530, SR, "aic") - 1500) <= 2


def test_refine_pick_moves_to_the_reference_onset_only_where_it_is_clear():
    raw = _onset_record(0)
    for early in (30, 15, -20):  # 0.3 s early ... 0.2 s late: within the search half-width of 0.3 s
        assert abs(detection.refine_pick(raw, 1500 - early, SR) - 1500) <= 2
    # a reference whose onset is weak (RMS ratio about 1.4 < 3) leaves the pick where it was
    weak = _onset_record(1, amp=1.0)
    assert detection.refine_pick(weak, 1480, SR) == 1480
    assert detection.refine_pick(raw, None, SR) is None
    # the denoised trace's pick refined on its input through the scoring's picker
    smeared = _onset_record(2)
    smeared[1475:1500] += 5 * np.random.default_rng(3).normal(size=25)  # energy 0.25 s ahead of the onset
    coarse = detection.pick_aic(smeared, 1530, SR)
    assert coarse < 1490
    assert abs(detection.pick_at_trigger(smeared, 1530, SR, "aic", reference=raw) - 1500) <= 2


def test_picker_and_reference_arguments_are_checked(record):
    x, clean, events, _ = record
    with pytest.raises(ValueError, match="`picker`.*Received picker='baer'"):
        detection.score_detections(x, clean, events, SR, picker="baer")
    with pytest.raises(ValueError, match="`reference`"):
        detection.score_detections(x, clean, events, SR, reference=x[:-1])
    with pytest.raises(ValueError, match="`picker`"):
        detection.pick_at_trigger(x, 100, SR, picker="ar")


def test_pk_baer_picker_still_available(record):
    x, clean, events, _ = record
    scores = detection.score_detections(x, clean, events, SR, rates_per_hour=(2.0,), detectors=("recursive",),
                                        picker="pk_baer")
    errors = [row[("recursive", 2.0)]["pick_error_s"] for row in scores["events"]]
    assert np.nanmax(errors) < 0.15, errors


def test_standard_methods_pass_the_overlap_to_denoise():
    from geokeras.denoise import Denoiser, denoise
    from geokeras.models.denoiser import build_denoiser

    den = Denoiser(build_denoiser("unet1d", window_length=256, sampling_rate=SR, filters=(4, 8)))
    x = np.random.default_rng(0).normal(size=2000).astype("float32")
    methods = detection.standard_methods({"m": den}, overlap=0.75)
    assert list(methods) == ["raw", "bandpass", "wiener", "m"]
    np.testing.assert_array_equal(methods["raw"](x, SR), x)
    out = methods["m"](x, SR)
    np.testing.assert_array_equal(out, np.asarray(denoise(x, model=den, sampling_rate=SR, overlap=0.75)))
    assert not np.array_equal(out, np.asarray(denoise(x, model=den, sampling_rate=SR)))


def test_event_window_scores_are_the_mixture_gain_and_correlation():
    rng = np.random.default_rng(5)
    n, p = 6000, 2000
    clean = np.zeros(n)
    clean[p:p + 1500] = _burst(rng, 1500, 3.0)
    noise = rng.normal(size=n)
    ev = detection.Event(p, 1500, detection.window_snr_db(clean, noise, p, SR))
    gain, corr = detection.event_window_scores(clean + 0.5 * noise, clean, ev, SR)
    assert gain == pytest.approx(20 * np.log10(2.0), abs=1e-9)  # half the noise left: +6.02 dB
    assert 0.5 < corr < 1.0
    assert detection.event_window_scores(clean + noise, clean, ev, SR)[0] == pytest.approx(0.0, abs=1e-9)
    scores = detection.score_detections(clean + 0.5 * noise, clean, [ev], SR, (2.0,), ("recursive",))
    row = detection.summarize([scores], [ev.snr_db])[0]
    assert row["snr_gain_db"] == pytest.approx(gain) and row["correlation"] == pytest.approx(corr)


def test_event_components_stack_signal_and_noise_with_the_vertical_last():
    import types

    import obspy

    rng = np.random.default_rng(5)
    t0 = obspy.UTCDateTime(2020, 1, 1)
    traces = []
    for ch, n in (("HHZ", 6000), ("HHN", 5900), ("HHE", 6000)):
        tr = obspy.Trace(rng.normal(size=n), header={"channel": ch, "sampling_rate": SR, "starttime": t0})
        tr.stats.network, tr.stats.station = "XX", "A"
        traces.append(tr)
    traces[1].stats.starttime += 1.0  # N starts 1 s late: its noise part is the shortest
    rec = types.SimpleNamespace(stream=obspy.Stream(traces), p_time=t0 + 30.0)
    signal, noise, report = detection.event_components(rec, screen=False, highpass_hz=None)
    assert signal.shape == (3, 3050) and noise.shape == (3, 2850) and report["kept"] == 1
    z = rec.stream.select(channel="HHZ")[0]
    np.testing.assert_allclose(noise[2], z.data[100:2950] - z.data[:2950].mean())  # vertical last, next to P
    loud = rec.stream.copy()
    loud.select(channel="HHE")[0].data[1500:1600] *= 50.0  # a transient in the east noise: screened out
    _, noise, report = detection.event_components(types.SimpleNamespace(stream=loud, p_time=rec.p_time))
    assert noise is None and report["transient"] == 1
    two = types.SimpleNamespace(stream=obspy.Stream(traces[:2]), p_time=rec.p_time)
    assert detection.event_components(two) == (None, None, None)


def _paired(hits_by_method, stations, level=0, sources=None):
    """``{method: [[hit, ...] per record]}`` -> `evaluate_detection`-shaped scores at one level, and the records
    (noise station ``stations[k]``; event ``i``'s source station ``sources[i]``, by default one station for all)."""
    scores = {m: [{"events": [{"snr_db": level, ("recursive", 2.0): {"hit": bool(h)}} for h in rec]} for rec in recs]
              for m, recs in hits_by_method.items()}
    first = next(iter(hits_by_method.values()))
    records = [{"station": sta, "events": [detection.Event(i, 1, float(level), (sources or {}).get(i, "S"))
                                           for i in range(len(rec))]} for sta, rec in zip(stations, first)]
    return scores, records


def test_paired_differences_are_event_by_event_with_a_station_interval():
    rng = np.random.default_rng(0)
    ref = [list(rng.random(50) < 0.5) for _ in range(8)]
    row = detection.paired_differences(*_paired({"ref": ref, "copy": ref}, "ABCDEFGH"), "ref", [0],
                                              n_boot=300)[0]
    assert (row["difference"], row["low"], row["high"]) == (0.0, 0.0, 0.0)  # the same hits: no difference at all
    # one noise station gains 40 events of 50, the other seven nothing: +10 points, an interval that holds 0
    base = [[False] * 10 + r[10:] for r in ref[:3]] + [[False] * 40 + ref[3][40:]] + ref[4:]
    lucky = [list(r) for r in base]
    lucky[3] = [True] * 50
    rows = {r["snr_db"]: r for r in detection.paired_differences(
        *_paired({"ref": base, "new": lucky}, "ABCDEFGH"), "ref", [0], n_boot=2000)}
    assert rows[0]["n"] == 400 and rows[0]["by_station"]["D"] == pytest.approx(rows[0]["difference"] * 8)
    assert rows[0]["low"] == 0.0 < rows[0]["difference"] < rows[0]["high"]  # drawn without D a third of the time
    assert rows["all"]["difference"] == rows[0]["difference"]
    # every noise station gains 5 of its 50 events: the same +10 points, now an interval away from 0
    steady = [list(r) for r in ref]
    for r in steady:
        for k in [k for k, h in enumerate(r) if not h][:5]:
            r[k] = True
    rows = detection.paired_differences(*_paired({"ref": ref, "new": steady}, "ABCDEFGH"), "ref", [0],
                                               n_boot=2000)
    assert rows[0]["difference"] == pytest.approx(0.1) and rows[0]["low"] == pytest.approx(0.1)
    assert "| new | +10.0 [+10.0, +10.0] | +10.0 [+10.0, +10.0] |" in detection.format_paired(rows, "ref", [0])
    # ... but if the gained events all come from one source station among ten, drawing the event stations too
    # widens the interval to hold 0, where drawing the noise stations alone does not
    gained = {k for r, s in zip(ref, steady) for k in range(50) if r[k] != s[k]}
    sources = {i: "G" if i in gained else f"S{i % 9}" for i in range(50)}
    args = _paired({"ref": ref, "new": steady}, "ABCDEFGH", sources=sources)
    both = detection.paired_differences(*args, "ref", [0], n_boot=2000)[0]
    noise = detection.paired_differences(*args, "ref", [0], n_boot=2000, resample=("noise",))[0]
    assert noise["low"] > 0.05 and both["low"] == 0.0 < both["difference"] == noise["difference"]
    # two records of one noise station are one cluster
    row = detection.paired_differences(*_paired({"ref": [[False, False], [False, False]],
                                                        "new": [[True, False], [True, True]]}, "AA"), "ref", [0],
                                              n_boot=50, resample=("noise",))[0]
    assert row["by_station"] == {"A": 0.75} and row["low"] == row["high"] == 0.75


def test_paired_differences_check_their_arguments():
    scores, records = _paired({"ref": [[True]], "new": [[False]]}, "A")
    with pytest.raises(ValueError, match=r"argument `reference`.*Received reference='raw'"):
        detection.paired_differences(scores, records, "raw", [0])
    with pytest.raises(ValueError, match=r"argument `records`. Expected the records scored.*Received 2 records for 1"):
        detection.paired_differences(scores, records * 2, "ref", [0])
    with pytest.raises(ValueError, match=r"argument `resample`.*Received resample=\('stations',\)"):
        detection.paired_differences(scores, records, "ref", [0], resample=("stations",))
    with pytest.raises(ValueError, match="argument `confidence`"):
        detection.paired_differences(scores, records, "ref", [0], confidence=95)
    with pytest.raises(ValueError, match="n_boot"):
        detection.paired_differences(scores, records, "ref", [0], n_boot=0)


def test_paired_differences_of_a_per_event_value_skip_nan_events():
    scores, records = _paired({"ref": [[True, True, True]], "new": [[True, True, True]]}, "A")
    for value_ref, value_new, ev_ref, ev_new in zip([1.0, 2.0, np.nan], [3.0, 3.0, 5.0], scores["ref"][0]["events"],
                                                    scores["new"][0]["events"]):
        ev_ref["snr_gain_db"], ev_new["snr_gain_db"] = value_ref, value_new
    rows = detection.paired_differences(scores, records, "ref", [0], metric="snr_gain_db", n_boot=20)
    assert rows[0]["n"] == 2 and rows[0]["difference"] == 1.5  # (2 + 1) / 2: the NaN event left out
    assert "| new | +1.50 [+1.50, +1.50] | +1.50 [+1.50, +1.50] |" in detection.format_paired(
        rows, "ref", [0], metric="snr_gain_db")
    with pytest.raises(ValueError, match="argument `metric`"):
        detection.paired_differences(scores, records, "ref", [0], metric="f1")
