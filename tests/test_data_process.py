"""apply_to_stream: every trace, sample, gap and header that goes in comes out; the bad-input table."""
import warnings

import numpy as np
import obspy
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geokeras.data.process import apply_to_stream, detrend, resample_ratio, segments

from causal_reference import causal_reference
from geokeras.errors import OutOfBandError, TraceError


def identity(b):
    return b


def make_trace(n=1500, rate=100.0, channel="HHZ", seed=0, freq=1.0, dtype=np.float64, start=0.0):
    t = np.arange(n) / rate
    x = (np.sin(2 * np.pi * freq * t) * 100 + np.random.default_rng(seed).standard_normal(n)).astype(dtype)
    tr = obspy.Trace(x, header=dict(network="XX", station="STA", location="00", channel=channel, sampling_rate=rate,
                                    starttime=obspy.UTCDateTime(2020, 1, 1) + start, calib=2.5))
    return tr


def run(st, fn=identity, **kw):
    kw.setdefault("window_length", 400)
    kw.setdefault("sampling_rate", 100.0)
    out, report = apply_to_stream(st, fn, return_report=True, **kw)
    assert report.skipped == []
    return out, report.notes


def test_identity_keeps_everything_three_components_any_codes():
    st = obspy.Stream([make_trace(channel=c, seed=i) for i, c in enumerate(["BH1", "BH2", "XYZ"])])
    st[0].stats.processing = ["earlier step"]
    before = st.copy()
    out, report = run(st)
    assert report == []
    assert [tr.id for tr in out] == [tr.id for tr in st]
    for a, b in zip(st, out):
        assert b.stats.starttime == a.stats.starttime and b.stats.npts == a.stats.npts
        assert b.stats.sampling_rate == a.stats.sampling_rate and b.stats.calib == 2.5
        assert b.data.dtype == np.float32
        np.testing.assert_allclose(b.data, a.data, rtol=1e-6, atol=1e-4)
        assert "apply_to_stream" in b.stats.processing[-1]
    assert out[0].stats.processing[0] == "earlier step"
    for a, b in zip(st, before):  # input untouched
        np.testing.assert_array_equal(a.data, b.data)
        assert a.stats.get("processing") == b.stats.get("processing")


def test_gaps_stay_masked_and_segments_processed_separately():
    tr = make_trace(2000)
    a, b = tr.slice(endtime=tr.stats.starttime + 5), tr.slice(starttime=tr.stats.starttime + 8)
    calls = []

    def fn(batch):
        calls.append(batch.shape)
        return batch * 2

    out, _ = run(obspy.Stream([a, b]), fn)
    assert len(out) == 1
    o = out[0]
    assert o.stats.starttime == tr.stats.starttime and o.stats.npts == 2000
    assert np.ma.isMaskedArray(o.data)
    assert o.data.mask.sum() == 2000 - a.stats.npts - b.stats.npts
    assert segments(o.data.mask) == [(0, a.stats.npts), (800, 2000)]
    np.testing.assert_allclose(o.data[:501].data, 2 * a.data, rtol=1e-5)
    np.testing.assert_allclose(o.data[800:].data, 2 * b.data, rtol=1e-5)
    assert calls == [(7, 400)]  # both segments (2 + 5 windows) share one batch


def test_gap_samples_never_reach_fn_and_gappy_streams_batch_together():
    tr = make_trace(5000)
    data = tr.data.copy()
    mask = np.zeros(5000, bool)
    for k in range(0, 5000, 250):  # 20 segments of 240 samples, 10-sample gaps
        mask[k + 240:k + 250] = True
    data[mask] = 1e30  # would blow up the output if fed to fn
    tr.data = np.ma.masked_array(data, mask=mask)
    calls = []

    def fn(batch):
        calls.append(len(batch))
        assert np.abs(batch).max() < 1e6
        return batch

    out, _ = run(tr, fn, batch_size=8)
    assert calls == [8, 8, 4]  # 20 one-window segments in 3 calls, not 20
    np.testing.assert_array_equal(out[0].data.mask, mask)
    np.testing.assert_allclose(out[0].data.compressed(), data[~mask], rtol=1e-6, atol=1e-4)


def test_masked_input_trace():
    tr = make_trace(1000)
    mask = np.zeros(1000, bool)
    mask[300:350] = True
    tr.data = np.ma.masked_array(tr.data, mask=mask)
    out, _ = run(tr)
    np.testing.assert_array_equal(out[0].data.mask, mask)
    np.testing.assert_allclose(out[0].data.compressed(), tr.data.compressed(), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("rate", [20.0, 40.0, 50.0, 200.0, 250.0])
def test_native_rate_restored(rate):
    tr = make_trace(int(30 * rate), rate=rate, freq=0.5)
    seen = []

    def fn(batch):
        seen.append(batch.shape)
        return 3.0 * batch

    out, _ = run(tr, fn)
    o = out[0]
    assert o.stats.sampling_rate == rate and o.stats.npts == tr.stats.npts and o.stats.starttime == tr.stats.starttime
    # the model saw 100 Hz windows; the 30 s trace holds 3000 samples at 100 Hz: 14 windows of 400 with 50 % overlap
    assert sum(s[0] for s in seen) == 14 and all(s[1] == 400 for s in seen)
    clean = 3.0 * np.sin(2 * np.pi * 0.5 * np.arange(tr.stats.npts) / rate) * 100
    inner = slice(int(rate), -int(rate))  # away from the resampling edges
    assert np.max(np.abs(o.data[inner] - clean[inner])) < 0.05 * 300 + 3 * 4


def test_resample_ratio():
    assert resample_ratio(20.0, 100.0) == (5, 1)
    assert resample_ratio(100.0, 250.0) == (5, 2)
    assert resample_ratio(99.99, 100.0) == (1, 1)
    up, down = resample_ratio(99.99, 100.0, max_denominator=10 ** 5)
    assert abs(99.99 * up / down - 100.0) < 1e-9
    out, report = run(make_trace(500, rate=99.99))
    assert out[0].stats.sampling_rate == 99.99 and out[0].stats.npts == 500
    assert any("not exactly 100.0 Hz" in r for r in report)


def test_overlapping_traces_are_merged_and_reported():
    tr = make_trace(1000)
    a = tr.slice(endtime=tr.stats.starttime + 6)
    b = tr.slice(starttime=tr.stats.starttime + 5)
    b.data = b.data + 10.0
    with pytest.warns(UserWarning, match="overlap"):
        out, report = run(obspy.Stream([a, b]))
    assert len(out) == 1 and out[0].stats.npts == 1000 and not np.ma.isMaskedArray(out[0].data)
    assert any("overlap" in r and "method=1" in r for r in report)
    assert any("overlap" in p for p in out[0].stats.processing)
    np.testing.assert_allclose(out[0].data[600:], b.data[100:], rtol=1e-5)  # the later trace wins


def test_mixed_sampling_rates():
    st = obspy.Stream([make_trace(1000, 100.0, "HHZ"), make_trace(500, 50.0, "BHZ"), make_trace(250, 250.0, "HHZ", start=100)])
    out, report = run(st)
    assert [(tr.id, tr.stats.sampling_rate, tr.stats.npts) for tr in out] == [
        ("XX.STA.00.HHZ", 100.0, 1000), ("XX.STA.00.BHZ", 50.0, 500), ("XX.STA.00.HHZ", 250.0, 250)]
    assert any("several sampling rates" in r for r in report)


def test_short_and_degenerate_traces():
    one = make_trace(1, channel="HH1")
    short = make_trace(37, channel="HH2")
    zeros = make_trace(500, channel="HH3")
    zeros.data[:] = 0
    counts = make_trace(600, channel="HH4")
    counts.data = (counts.data * 1000).astype(np.int32)
    out, report = run(obspy.Stream([one, short, zeros, counts]), lambda b: b * 1.0)
    o = {tr.stats.channel: tr for tr in out}
    assert o["HH1"].data.tolist() == [np.float32(one.data[0])] and any("1-sample" in r for r in report)
    assert o["HH2"].stats.npts == 37
    np.testing.assert_allclose(o["HH2"].data, short.data, rtol=1e-5, atol=1e-3)
    assert np.all(o["HH3"].data == 0) and any("constant" in r for r in report)
    assert o["HH4"].data.dtype == np.float32
    np.testing.assert_allclose(o["HH4"].data, counts.data, rtol=1e-5, atol=1e-1)


@pytest.mark.parametrize("bad, match", [
    (np.nan, r"XX.STA.00.HHZ: 1 NaN or inf sample\(s\), first at index 10"),
    (np.inf, "NaN or inf"),
])
def test_nonfinite_samples_raise(bad, match):
    tr = make_trace(100)
    tr.data[10] = bad
    with pytest.raises(ValueError, match=match):
        run(tr)


def test_nan_under_mask_is_a_gap_not_an_error():
    tr = make_trace(600)
    tr.data[100:110] = np.nan
    tr.data = np.ma.masked_invalid(tr.data)
    out, _ = run(tr)
    assert out[0].data.mask.sum() == 10


@pytest.mark.parametrize("stream, match", [
    (obspy.Stream(), "empty Stream"),
    (obspy.Trace(np.zeros(0)), "zero samples"),
    (obspy.Trace(np.array([b"a", b"b"])), "numeric"),
])
def test_bad_streams(stream, match):
    with pytest.raises(ValueError, match=match):
        apply_to_stream(stream, identity, 100, 100.0)
    with pytest.raises(TypeError, match="Expected an obspy.Stream or obspy.Trace. Received ndarray"):
        apply_to_stream(np.zeros(10), identity, 100, 100.0)


def test_bad_fn_output():
    with pytest.raises(ValueError, match="fn"):
        run(make_trace(500), lambda b: b[:, :10])


def test_no_warning_for_clean_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(make_trace(800))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 700), rate=st.sampled_from([20.0, 50.0, 100.0, 250.0]),
       gaps=st.lists(st.tuples(st.integers(0, 699), st.integers(1, 30)), max_size=4), seed=st.integers(0, 99))
@example(n=2, rate=250.0, gaps=[], seed=0)  # 2 samples at 250 Hz = 1 at 100 Hz: once gave NaN
def test_property_nothing_is_lost(n, rate, gaps, seed):
    x = np.random.default_rng(seed).standard_normal(n) * 50
    mask = np.zeros(n, bool)
    for a, length in gaps:
        mask[a:a + length] = True
    tr = obspy.Trace(np.ma.masked_array(x, mask=mask) if mask.any() else x,
                     header=dict(station="P", channel="HHZ", sampling_rate=rate))
    if mask.all():
        return  # nothing to process: covered by the fully-masked case below
    out, report = run(tr, window_length=64, overlap=0.25)
    o = out[0]
    assert len(out) == 1 and o.stats.npts == n and o.stats.sampling_rate == rate
    assert o.stats.starttime == tr.stats.starttime and o.data.dtype == np.float32
    np.testing.assert_array_equal(np.ma.getmaskarray(o.data), mask)
    assert np.all(np.isfinite(np.ma.getdata(o.data)[~mask]))
    if rate == 100.0:  # no resampling: identity is exact up to float32
        np.testing.assert_allclose(np.ma.getdata(o.data)[~mask], x[~mask], rtol=1e-5, atol=1e-3)


def test_fully_masked_trace_is_kept():
    tr = obspy.Trace(np.ma.masked_all(50), header=dict(sampling_rate=100.0))
    out, _ = run(tr)
    assert out[0].stats.npts == 50 and out[0].data.mask.all()


def test_differing_calib_in_one_id_is_a_clear_error():
    a, b = make_trace(300), make_trace(300, start=10)
    b.stats.calib = 1.0
    with pytest.raises(TraceError, match="XX.STA.00.HHZ: cannot merge its 2 traces"):
        run(obspy.Stream([a, b]))


def test_data_layer_never_imports_models_and_pairs_is_light():
    import subprocess
    import sys

    code = ("import sys; import geokeras.data.pairs, geokeras.data.synthetic, geokeras.data.windows, "
            "geokeras.data.normalize, geokeras.metrics; assert 'tensorflow' not in sys.modules, 'tf'; "
            "import geokeras.data.io, geokeras.data.process, geokeras.data.datasets; "
            "assert not [m for m in sys.modules if m.startswith('geokeras.models')], 'models'; "
            "assert 'keras' not in sys.modules, 'keras'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_skip_bad_traces_rate_range_noise_and_one_processing_line():
    good, bad, slow = make_trace(800, channel="HHZ"), make_trace(800, channel="HHN"), make_trace(60, 1.0, "LHZ")
    bad.data[3] = np.nan
    st = obspy.Stream([good, bad, slow])
    with pytest.raises(TraceError, match="HHN"):
        apply_to_stream(st, identity, 400, 100.0)
    seen = []
    out, residual, report = apply_to_stream(
        st, lambda b: 0.5 * b, 400, 100.0, on_error="skip", rate_range=(20.0, 250.0), return_noise=True,
        return_report=True, progress=lambda done, total: seen.append((done, total)), processing="my call")
    assert [tr.id for tr in out] == [good.id] == [tr.id for tr in residual]
    assert [(type(e), e.trace_id) for e in report.skipped] == [(TraceError, bad.id), (OutOfBandError, slow.id)]
    assert "sampling rate 1 Hz is outside the model's range 20-250 Hz" in str(report.skipped[1])
    np.testing.assert_allclose(out[0].data + residual[0].data, good.data, rtol=1e-5, atol=1e-4)
    assert out[0].stats.processing == ["my call"] and residual[0].stats.processing == ["my call; residual: input - output"]
    assert seen[-1] == (3, 3)  # 800 samples, windows of 400 with 50 % overlap
    with pytest.warns(UserWarning, match="LHZ.*passed through unchanged"):
        out = apply_to_stream(slow, identity, 400, 100.0, rate_range=(20.0, 250.0), out_of_band="passthrough")
    np.testing.assert_array_equal(out[0].data, slow.data.astype(np.float32))
    assert out[0].stats.processing[-1].endswith("sampling rate 1 Hz is outside the model's range 20-250 Hz: passed "
                                                "through unchanged")


@pytest.mark.parametrize("detrended", [False, True])
def test_clip_bounds_every_window_and_detrend_removes_each_windows_prefix_line(detrended):
    tr = make_trace(1000)
    tr.data = tr.data + 1000.0 + 0.2 * np.arange(1000)
    out = apply_to_stream(tr, lambda b: 10.0 * b, 400, 100.0, detrend=detrended, clip=1.1)[0].data
    x = tr.data
    ref, bounds, starts = causal_reference(x, lambda b: 10.0 * b, 400, line=detrended)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6 * np.max(np.abs(ref)))
    cover = np.zeros(1000)  # no output sample exceeds 1.1 x the peak of the windows covering it
    for s, b in zip(starts, bounds):
        cover[s:s + 400] = np.maximum(cover[s:s + 400], b)
    assert np.all(np.abs(out) <= cover * (1 + 1e-6))
    if not detrended:
        return
    neg = tr.copy()
    neg.data = -tr.data
    np.testing.assert_array_equal(apply_to_stream(neg, lambda b: 10.0 * b, 400, 100.0, detrend=True,
                                                  clip=1.1)[0].data, -out)


def _grid_sensitive(b):
    """A nonlinear fn whose output depends on where each window starts (it reverses the window)."""
    return np.tanh(b / 30.0) * 40.0 + 0.5 * b[:, ::-1]


@pytest.mark.parametrize("rate", [100.0, 40.0, 250.0, 200.0])
def test_long_segments_in_pieces_equal_one_piece_within_float_rounding(rate):
    tr = make_trace(n=int(rate * 60), rate=rate, seed=3, dtype=np.float32)
    tr.data += np.linspace(-50, 80, tr.stats.npts).astype(np.float32)  # an offset and a trend to remove
    tr.data[: tr.stats.npts // 7] *= 20  # an event: the clip bound is set by the whole segment
    gappy = tr.copy()
    gappy.data = np.ma.masked_array(gappy.data, mask=np.zeros(gappy.stats.npts, bool))
    gappy.data.mask[int(rate * 41):int(rate * 43)] = True
    for st in (obspy.Stream([tr]), obspy.Stream([gappy])):
        kw = dict(window_length=400, sampling_rate=100.0, detrend=True, clip=1.1, return_noise=True)
        whole, whole_noise = apply_to_stream(st, _grid_sensitive, **kw)
        for chunk in (997, 1600, 2 * 400 * 3):
            parts, parts_noise = apply_to_stream(st, _grid_sensitive, chunk_samples=chunk, **kw)
            peak = np.abs(whole[0].data).max()
            np.testing.assert_allclose(parts[0].data, whole[0].data, rtol=0, atol=2e-6 * peak)
            np.testing.assert_allclose(parts_noise[0].data, whole_noise[0].data, rtol=0, atol=2e-6 * peak)
            assert np.array_equal(np.ma.getmaskarray(parts[0].data), np.ma.getmaskarray(whole[0].data))
            assert parts[0].stats.processing == whole[0].stats.processing


def test_pieces_run_every_window_of_the_whole_segment_and_report_progress():
    tr = make_trace(n=6000, dtype=np.float32)
    calls = []
    apply_to_stream(tr, identity, window_length=400, sampling_rate=100.0, batch_size=8, chunk_samples=1000,
                    progress=lambda done, total: calls.append((done, total)))
    assert calls[-1][0] == calls[-1][1] and len({t for _, t in calls}) == 1
    whole = apply_to_stream(tr, identity, window_length=400, sampling_rate=100.0)
    assert np.array_equal(apply_to_stream(tr, identity, window_length=400, sampling_rate=100.0,
                                          chunk_samples=1000)[0].data, whole[0].data)


@pytest.mark.parametrize("seed", range(4))
def test_property_window_frames_is_the_least_squares_prefix_line_whatever_the_grouping(seed):
    """`window_frames` against `numpy.linalg.lstsq` of samples ``[0, end)`` for every window: the running sums
    read and advanced in random groups of windows (as the pieces of the batch path and the packets of the stream
    do), a large offset and a trend, 1 sample to a few windows."""
    from geokeras.data.process import PrefixLine, window_frames
    from geokeras.data.windows import Windowing

    rng = np.random.default_rng(seed)
    for _ in range(25):
        n, L = int(rng.integers(1, 300)), int(rng.choice([4, 16, 64]))
        x = rng.normal(size=n) * 10 + rng.normal() * 1e4 + rng.normal() * np.arange(n)
        starts = Windowing(L, float(rng.choice([0.0, 0.5, 0.75]))).starts(n)
        ends = np.minimum(starts + L, n)
        padded = np.concatenate([x, np.zeros(L)])
        want = []
        for s, e in zip(starts, ends):
            t = np.arange(s, s + L)
            a, b = np.linalg.lstsq(np.vstack([np.ones(e), np.arange(e) - (e - 1) / 2]).T, x[:e], rcond=None)[0]
            want.append(np.where(t < e, padded[s:s + L] - a - (b if e > 1 else 0.0) * (t - (e - 1) / 2), 0.0))
        prefix, got, i = PrefixLine(), [], 0
        while i < starts.size:
            k = int(rng.integers(1, 4))
            later = i + k < starts.size and starts[min(i + k, starts.size - 1)] >= prefix.pos
            nxt = int(starts[i + k]) if later and rng.random() < 0.5 else None
            off = min(int(starts[i]), prefix.pos)
            got.append(window_frames(x[off:], off, starts[i:i + k], ends[i:i + k], L, prefix, advance_to=nxt)[0])
            i += k
        np.testing.assert_allclose(np.concatenate(got), np.array(want), rtol=0, atol=1e-9 * np.abs(x).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
@pytest.mark.parametrize("clip, detrend", [(1.1, True), (None, True), (1.1, False), (None, False)])
def test_window_frames_of_full_windows_are_the_bits_of_the_masked_path(dtype, clip, detrend, rng):
    """A block of windows that all lie inside the segment skips the masking (issue 19): the same bits as the same
    windows framed in a block that holds a short last window (which takes the masked path)."""
    from geokeras.data.process import PrefixLine, window_frames

    x = (rng.normal(size=2000) * 1e3 + 5e4).astype(dtype)
    L = 300
    starts = np.arange(0, 1600, 150)
    full = window_frames(x, 0, starts, starts + L, L, PrefixLine(), clip, detrend)
    short = np.append(starts, 1900)  # its last window runs past the end: masked path for the whole block
    masked = window_frames(x, 0, short, np.minimum(short + L, x.size), L, PrefixLine(), clip, detrend)
    assert full[0].dtype == masked[0].dtype == np.float64
    assert np.array_equal(full[0], masked[0][:-1]) and np.array_equal(full[1], masked[1][:-1])
