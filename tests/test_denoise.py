"""Tests of geokeras.denoise: the resolved Denoiser, types in/out, headers, gaps, rates, fidelity, noise, errors."""
import hashlib
import os
import warnings

import keras
import numpy as np
import obspy
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geokeras import denoise as dn
from geokeras.data.process import detrend
from geokeras.errors import ModelError, NotADenoiserError, NothingToProcessError, OutOfBandError, TraceError
from geokeras.layers.normalization import WindowStandardization
from geokeras.models.denoiser import build_denoiser

from causal_reference import causal_peak, causal_reference

L = 256


def linear_model(gain=1.0, window_length=L, sampling_rate=100.0):
    """A denoiser returning ``gain * input`` exactly (an odd function); carries the denoiser metadata."""
    inputs = keras.Input((window_length, 1))
    xn, _ = WindowStandardization(sampling_rate=sampling_rate, window_length=window_length)(inputs)
    out = keras.layers.Add()([keras.layers.Rescaling(gain)(inputs), keras.layers.Rescaling(0.0)(xn)])
    return keras.Model(inputs, out, name=f"linear_{gain:g}")


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return dn.Denoiser(build_denoiser("unet1d", window_length=L, sampling_rate=100.0, filters=(4, 8)))


@pytest.fixture(scope="module")
def identity():
    return dn.Denoiser(linear_model(1.0))


@pytest.fixture(scope="module")
def amplifier():
    """A model that invents amplitude (3x its input): what the clip must stop."""
    return dn.Denoiser(linear_model(3.0))


def make_trace(n=1000, rate=100.0, channel="HHZ", seed=0, dtype="float32"):
    tr = obspy.Trace(np.random.default_rng(seed).normal(scale=100.0, size=n).astype(dtype))
    tr.stats.update(dict(network="XX", station="STA", location="00", channel=channel, sampling_rate=rate,
                         starttime=obspy.UTCDateTime(2020, 1, 1, 0, 0, 0.01)))
    return tr


def outputs_by_segment(st_in, st_out):
    """``[(max |output|, input samples), ...]`` for every gap-free segment."""
    pairs, ins, outs = [], st_in.copy().merge(method=1).split(), st_out.copy().split()
    assert len(ins) == len(outs)
    for a, b in zip(ins, outs):
        assert (a.id, a.stats.starttime, a.stats.npts) == (b.id, b.stats.starttime, b.stats.npts)
        pairs.append((float(np.max(np.abs(b.data))), np.asarray(a.data, np.float64)))
    return pairs


def peaks_by_segment(st_in, st_out):
    """``[(max |output|, demeaned input peak), ...]`` for every gap-free segment."""
    pairs, ins, outs = [], st_in.copy().merge(method=1).split(), st_out.copy().split()
    assert len(ins) == len(outs)
    for a, b in zip(ins, outs):
        assert (a.id, a.stats.starttime, a.stats.npts) == (b.id, b.stats.starttime, b.stats.npts)
        x = np.asarray(a.data, np.float64)
        pairs.append((float(np.max(np.abs(b.data))), float(np.max(np.abs(x - x.mean())))))
    return pairs


# --------------------------------------------------------------------------------------------- Denoiser
def test_denoiser_reads_the_model_once_and_resolves_every_form(tiny, tmp_path):
    assert (tiny.window_length, tiny.sampling_rate, tiny.label) == (L, 100.0, "unet1d_denoiser")
    lo, hi = tiny.sampling_rate_range_hz
    assert lo < 100.0 < hi and tiny.band_hz[1] <= 50.0
    assert dn.Denoiser.resolve(tiny) is tiny
    path = tmp_path / "tiny.keras"
    tiny.model.save(path)
    d1, d2 = dn.Denoiser.resolve(str(path)), dn.Denoiser.resolve(path)
    assert d1 is d2 and d1.label == "tiny.keras"  # loaded once per file version
    assert d1.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    out = dn.denoise(make_trace(), model=str(path))
    assert f"denoise(model=tiny.keras, sha256={d1.sha256[:16]}" in out.stats.processing[-1]
    np.testing.assert_allclose(out.data, tiny(make_trace()).data, rtol=1e-5, atol=1e-4)
    in_memory = dn.Denoiser.resolve(tiny.model)
    assert in_memory.sha256 != d1.sha256 and in_memory.label == "unet1d_denoiser"  # weights hashed, not the file


def test_denoiser_refusals_are_typed(tmp_path):
    from geokeras.models import build_dense_autoencoder

    with pytest.raises(ModelError, match="no such file"):
        dn.Denoiser.resolve("does-not-exist.keras")
    with pytest.raises(TypeError, match="Received model of type int"):
        dn.Denoiser.resolve(3)
    autoencoder = build_dense_autoencoder(8, hidden_units=(2,))
    with pytest.raises(NotADenoiserError, match="is not a geokeras denoiser"):
        dn.Denoiser.resolve(autoencoder)
    path = tmp_path / "ae.keras"
    autoencoder.save(path)
    with pytest.raises(NotADenoiserError):
        dn.denoise(make_trace(), model=path)


def test_predictor_pads_a_batch_and_refuses_more_than_one(tiny):
    x = np.random.default_rng(3).normal(size=(3, L)).astype("float32")
    pred = tiny.predictor(batch_size=4, precision="float32")
    assert tiny.predictor(batch_size=4, precision="float32") is pred
    expected = np.asarray(tiny.model(x[:, :, None], training=False))[:, :, 0]
    np.testing.assert_allclose(pred(x), expected, rtol=1e-5, atol=1e-5)
    assert sorted(pred._graphs) == [4]  # 3 windows padded to 4
    with pytest.raises(ValueError, match=f"Expected 1 to 4 windows of shape \\(k, {L}\\)"):
        pred(np.zeros((5, L), "float32"))  # the loop over batches is map_batches, not the predictor


def test_predictor_cache_does_not_keep_models_alive():
    import gc
    import weakref

    model = linear_model(2.0)
    dn.denoise(np.ones(300, "float32"), model=model)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


# --------------------------------------------------------------------------------------------- types
def test_stream_in_stream_out_keeps_headers_and_adds_one_processing_line(tiny):
    st = obspy.Stream([make_trace(channel=c, seed=i) for i, c in enumerate(["HHE", "HHN", "HHZ"])])
    st[0].stats.processing = ["earlier step"]
    before = st.copy()
    out = dn.denoise(st, model=tiny)
    assert isinstance(out, obspy.Stream) and out is not st
    assert [tr.id for tr in out] == [tr.id for tr in st]
    for a, b in zip(out, st):
        assert a.stats.starttime == b.stats.starttime
        assert a.stats.npts == b.stats.npts and a.stats.sampling_rate == b.stats.sampling_rate
        assert a.data.dtype == np.float32 and np.all(np.isfinite(a.data))
        assert len(a.stats.processing) == len(b.stats.get("processing", [])) + 1  # exactly one line per call
        line = a.stats.processing[-1]
        assert line.startswith("geokeras 0.1.0: denoise(model=unet1d_denoiser, sha256=")
        assert f"window_length={L}" in line and "detrend=prefix-linear, clip=1.1" in line
    for a, b in zip(st, before):  # input untouched
        np.testing.assert_array_equal(a.data, b.data)
        assert a.stats.get("processing") == b.stats.get("processing")


def test_trace_in_trace_out(tiny):
    tr = make_trace()
    out = dn.denoise(tr, model=tiny)
    assert isinstance(out, obspy.Trace)
    assert (out.id, out.stats.npts, out.stats.starttime) == (tr.id, tr.stats.npts, tr.stats.starttime)


def test_arrays_1d_and_2d_same_shape_rows_independent(tiny):
    x = np.random.default_rng(1).normal(size=(2, 700)).astype("float32")
    one = dn.denoise(x[1], model=tiny)
    assert isinstance(one, np.ndarray) and one.shape == (700,) and one.dtype == np.float32
    x[0] = 0.0
    both = dn.denoise(x, model=tiny, sampling_rate=100.0)
    assert both.shape == (2, 700)
    np.testing.assert_array_equal(both[0], 0.0)  # an all-zero row stays exactly zero, no NaN
    np.testing.assert_allclose(both[1], one, rtol=1e-5, atol=1e-5)


def test_long_record_is_stitched_to_exact_length_and_values(identity):
    x = np.random.default_rng(2).normal(scale=1e4, size=10 * L + 37).astype("float32")
    y = dn.denoise(x, model=identity, precision="float32")  # float32 sums: the identity to rounding
    assert y.shape == x.shape
    # the identity returns each window less its prefix line, stitched (the causal definition)
    np.testing.assert_allclose(y, causal_reference(x, lambda b: b, L)[0], rtol=1e-5, atol=1e-1)
    half = dn.denoise(x, model=linear_model(0.5), overlap=0.25, batch_size=3, precision="float32")
    np.testing.assert_allclose(half, causal_reference(x, lambda b: 0.5 * b, L, overlap=0.25)[0], rtol=1e-5,
                               atol=1e-1)


def test_three_components_are_denoised_independently(tiny):
    st = obspy.Stream([make_trace(n=900, channel=c, seed=i) for i, c in enumerate(["HHE", "HHN", "HHZ"])])
    together = dn.denoise(st, model=tiny)
    alone = dn.denoise(st[2], model=tiny)
    np.testing.assert_allclose(together.select(channel="HHZ")[0].data, alone.data, rtol=1e-5, atol=1e-4)


def test_gaps_stay_masked(identity):
    tr = make_trace(n=2000)
    a, b = tr.slice(endtime=tr.stats.starttime + 5), tr.slice(starttime=tr.stats.starttime + 9)
    out = dn.denoise(obspy.Stream([a, b]), model=identity)
    merged = out.copy().merge()
    assert len(merged) == 1
    gap = np.ma.getmaskarray(merged[0].data)
    assert gap.sum() == 2000 - a.stats.npts - b.stats.npts
    assert sum(tr.stats.npts for tr in out.copy().split()) == a.stats.npts + b.stats.npts
    masked = tr.copy()
    masked.data = np.ma.masked_array(masked.data, mask=np.zeros(2000, bool))
    masked.data.mask[500:650] = True
    out_tr = dn.denoise(masked, model=identity)
    assert isinstance(out_tr, obspy.Trace) and out_tr.stats.npts == 2000
    np.testing.assert_array_equal(np.ma.getmaskarray(out_tr.data), masked.data.mask)
    arr = dn.denoise(masked.data, model=identity)
    assert np.ma.isMaskedArray(arr)
    np.testing.assert_array_equal(arr.mask, masked.data.mask)


@pytest.mark.parametrize("rate", [40.0, 250.0])
def test_native_rate_is_restored(identity, rate):
    n = int(20 * rate)
    t = np.arange(n) / rate
    tr = make_trace(n=n, rate=rate)
    tr.data = (1000 * np.sin(2 * np.pi * 1.0 * t)).astype("float32")
    out = dn.denoise(tr, model=identity)
    assert out.stats.sampling_rate == rate and out.stats.npts == n
    assert out.stats.starttime == tr.stats.starttime
    inner = slice(int(rate), n - int(rate))
    # 0.998: each window loses its prefix line (for a sine, a line of slope up to ~1/prefix length)
    assert np.corrcoef(out.data[inner], tr.data[inner])[0, 1] > 0.995


# --------------------------------------------------------------------------------------------- fidelity (issue 8)
@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 1500), offset=st.floats(-1e5, 1e5), slope=st.floats(-50.0, 50.0),
       rate=st.sampled_from([40.0, 100.0, 200.0]), gap_at=st.one_of(st.none(), st.floats(0.05, 0.95)),
       seed=st.integers(0, 9))
@example(n=500, offset=5000.0, slope=0.0, rate=100.0, gap_at=None, seed=0)  # issue 8: a 5 s piece + 5000: 2.3x
@example(n=3, offset=0.0, slope=10.0, rate=100.0, gap_at=None, seed=1)
@example(n=900, offset=-300.0, slope=2.0, rate=200.0, gap_at=0.97, seed=2)  # a 17-sample segment after a gap
def test_no_output_sample_exceeds_1_1x_the_causal_input_peak(amplifier, tiny, n, offset, slope, rate, gap_at, seed):
    x = np.random.default_rng(seed).normal(scale=100.0, size=n) + offset + slope * np.arange(n)
    tr = make_trace(n=n, rate=rate)
    tr.data = x.astype(np.float64)
    if gap_at is not None and n >= 40:  # segment ends at a gap: 10 masked samples
        k = int(gap_at * (n - 10))
        tr.data = np.ma.masked_array(tr.data, mask=np.zeros(n, bool))
        tr.data.mask[k:k + 10] = True
    for den in (amplifier, tiny):
        out = dn.denoise(tr, model=den)
        for got, x in outputs_by_segment(obspy.Stream([tr]), obspy.Stream([out])):
            # each window clipped at 1.1 x its peak about its prefix mean; a resampled segment also at 1.1 x its
            # whole detrended peak, once resampled back
            peak = causal_peak(x) if rate == 100.0 else np.max(np.abs(detrend(x)))
            assert got <= 1.1 * peak * (1 + 1e-6) + 1e-9, den.label


def test_obspy_example_piece_with_offset_and_gappy_segments_stay_bounded(tiny):
    tr = obspy.read()[0]
    piece = tr.slice(tr.stats.starttime + 10, tr.stats.starttime + 15)  # 5 s, a real onset
    piece.data = piece.data.astype(np.float64) + 5000.0
    out = dn.denoise(piece, model=tiny)
    (got, peak), = peaks_by_segment(obspy.Stream([piece]), obspy.Stream([out]))
    assert got <= 1.1 * peak * (1 + 1e-6)
    gaps_file = os.path.join(os.path.dirname(obspy.__file__), "io", "mseed", "tests", "data", "gaps.mseed")
    if os.path.isfile(gaps_file):  # ObsPy's own test file: 4 segments of 412 to 50668 samples at 200 Hz
        gappy = obspy.read(gaps_file)
    else:  # an installation without ObsPy's tests: the same shape by hand
        t = obspy.read()[0]
        gappy = obspy.Stream([t.slice(t.stats.starttime + a, t.stats.starttime + b) for a, b in
                              [(0, 2), (4, 8), (10, 14), (18, 29)]])
    gappy = gappy.slice(gappy[0].stats.starttime, gappy[0].stats.starttime + 40)  # keep the test fast
    out = dn.denoise(gappy, model=tiny)
    pairs = peaks_by_segment(gappy, out)
    assert len(pairs) == len(gappy) == 4
    for got, peak in pairs:
        assert got <= 1.1 * peak * (1 + 1e-6)


def test_offset_and_trend_are_removed_before_the_model(identity):
    rng = np.random.default_rng(4)
    x = rng.normal(scale=100.0, size=700)
    tr = make_trace(n=700)
    tr.data = x + 5000.0 + 3.0 * np.arange(700)
    y = dn.denoise(tr, model=identity, precision="float32").data
    # not the offset, not the trend: each window loses its prefix line, which holds them whole
    np.testing.assert_allclose(y, causal_reference(x, lambda b: b, L)[0], rtol=1e-4, atol=0.05)
    from scipy.signal import detrend as scipy_detrend

    np.testing.assert_allclose(detrend(tr.data), scipy_detrend(tr.data, type="linear"), atol=1e-6)


def test_the_path_is_odd_for_an_odd_model(amplifier):
    tr = make_trace(n=1500, rate=40.0)  # resampled to 100 Hz and back, the clip engaged (gain 3)
    tr.data = tr.data.astype(np.float64) + 300.0 + 0.5 * np.arange(1500)
    tr.data = np.ma.masked_array(tr.data, mask=np.zeros(1500, bool))
    tr.data.mask[600:640] = True
    neg = tr.copy()
    neg.data = -tr.data
    a, b = dn.denoise(tr, model=amplifier), dn.denoise(neg, model=amplifier)
    np.testing.assert_array_equal(np.ma.getdata(b.data), -np.ma.getdata(a.data))
    assert np.max(np.abs(a.data)) > 0  # not trivially zero


# --------------------------------------------------------------------------------------------- out of band
def test_out_of_band_record_is_refused_or_passed_through(tiny):
    lo, hi = tiny.sampling_rate_range_hz
    slow = make_trace(n=400, rate=1.0, channel="LHZ")
    assert not lo <= 1.0 <= hi
    with pytest.raises(OutOfBandError, match=r"XX.STA.00.LHZ: sampling rate 1 Hz is outside the model's range "
                       r"20-250 Hz \(out_of_band='passthrough' passes it through unchanged\)"):
        dn.denoise(slow, model=tiny)
    with pytest.warns(UserWarning, match="XX.STA.00.LHZ: sampling rate 1 Hz.*passed through unchanged"):
        out, noise = dn.denoise(slow, model=tiny, out_of_band="passthrough", return_noise=True)
    np.testing.assert_array_equal(out.data, slow.data)
    assert not np.any(noise.data)
    assert "passed through unchanged" in out.stats.processing[-1] and len(out.stats.processing) == 1
    st_mixed = obspy.Stream([slow, make_trace(n=600)])
    out, report = dn.denoise(st_mixed, model=tiny, on_error="skip", return_report=True)
    assert [tr.id for tr in out] == ["XX.STA.00.HHZ"]
    assert [type(e) for e in report.skipped] == [OutOfBandError] and report.skipped[0].trace_id == slow.id
    with pytest.raises(ValueError, match="argument `out_of_band`"):
        dn.denoise(slow, model=tiny, out_of_band="ignore")


# --------------------------------------------------------------------------------------------- noise, bad traces
def test_return_noise_is_input_minus_output_with_headers_and_gaps(tiny):
    tr = make_trace(n=1200)
    tr.stats.calib = 0.25
    tr.data = np.ma.masked_array(tr.data, mask=np.zeros(1200, bool))
    tr.data.mask[300:420] = True
    out, noise = dn.denoise(tr, model=tiny, return_noise=True)
    assert (noise.id, noise.stats.starttime, noise.stats.npts, noise.stats.calib) == (tr.id, tr.stats.starttime,
                                                                                       1200, 0.25)
    np.testing.assert_array_equal(np.ma.getmaskarray(noise.data), tr.data.mask)
    np.testing.assert_allclose((out.data + noise.data).compressed(), tr.data.compressed(), rtol=1e-5, atol=1e-3)
    assert "residual: input - output" in noise.stats.processing[-1]
    assert np.std(noise.data.compressed()) > 0


def test_bad_trace_is_named_and_skipped_the_others_denoised(tiny):
    bad = make_trace(n=600, channel="HHN")
    bad.data[50:53] = np.nan
    good = make_trace(n=600, channel="HHZ", seed=1)
    with pytest.raises(TraceError, match=r"XX.STA.00.HHN: 3 NaN or inf sample\(s\), first at index 50"):
        dn.denoise(obspy.Stream([bad, good]), model=tiny)
    out, report = dn.denoise(obspy.Stream([bad, good]), model=tiny, on_error="skip", return_report=True)
    assert [tr.id for tr in out] == [good.id] and [e.trace_id for e in report.skipped] == [bad.id]
    with pytest.raises(NothingToProcessError, match="No trace could be processed: Invalid trace XX.STA.00.HHN"):
        dn.denoise(obspy.Stream([bad]), model=tiny, on_error="skip")


# --------------------------------------------------------------------------------------------- arguments, progress
def test_bad_arguments_have_clear_messages(tiny):
    tr = make_trace()
    with pytest.raises(ValueError, match="argument `overlap`.*Received overlap=1"):
        dn.denoise(tr, model=tiny, overlap=1)
    with pytest.raises(ValueError, match="argument `overlap`.*Received overlap='half'"):
        dn.denoise(tr, model=tiny, overlap="half")
    with pytest.raises(ValueError, match="argument `batch_size`.*Received batch_size=0"):
        dn.denoise(tr, model=tiny, batch_size=0)
    with pytest.raises(ValueError, match="Expected None for an obspy Stream or Trace"):
        dn.denoise(tr, model=tiny, sampling_rate=100.0)
    with pytest.raises(ValueError, match="Received an array of shape \\(1, 2, 3\\)"):
        dn.denoise(np.zeros((1, 2, 3)), model=tiny)
    with pytest.raises(TypeError, match="Received data of type list"):
        dn.denoise([1.0, 2.0], model=tiny)
    with pytest.raises(ValueError, match="empty Stream"):
        dn.denoise(obspy.Stream(), model=tiny)
    with pytest.raises(ValueError, match="argument `return_noise`"):
        dn.denoise(tr, model=tiny, return_noise="yes")


def test_progress_callback_and_bar_count_windows(identity, capsys):
    x = np.arange(10 * L, dtype="float32")
    seen = []
    y = dn.denoise(x, model=identity, progress=lambda done, total: seen.append((done, total)), batch_size=4)
    assert y.shape == x.shape
    assert seen[-1] == (19, 19) and len(seen) == 5  # 10 windows of 256 with a 128 hop: 19 windows, 5 batches
    dn.denoise(x, model=identity, progress=True, batch_size=4)
    cap = capsys.readouterr()
    assert "19/19" in cap.err and cap.out == ""  # the bar is on stderr


def test_default_model_on_a_bundled_noisy_record():
    from geokeras.data import datasets

    tr = datasets.load_noisy()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = dn.denoise(tr)
    assert out.stats.npts == tr.stats.npts and np.all(np.isfinite(out.data))
    assert "denoise(model=default, sha256=" in out.stats.processing[-1]
    assert dn.Denoiser.resolve(None) is dn.Denoiser.resolve(None)  # loaded once
    assert 0 < np.std(out.data) < np.std(tr.data)
