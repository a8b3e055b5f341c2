"""`denoise` of a long Stream of several ids, one id per thread: the same result as one call per id, in the
order of a single call; any failure falls back to the single call, which raises or reports it itself."""
import numpy as np
import obspy
import pytest

from geokeras import denoise as dn
from geokeras.denoise import api
from geokeras.errors import TraceError
from geokeras.models.denoiser import build_denoiser

L = 256


@pytest.fixture(scope="module")
def tiny():
    return dn.Denoiser(build_denoiser("unet1d", window_length=L, sampling_rate=100.0, filters=(4, 8)))


def trace(channel, n, seed, rate=100.0, station="STA"):
    tr = obspy.Trace(np.random.default_rng(seed).normal(scale=50.0, size=n).astype("float32"))
    tr.stats.update(dict(network="XX", station=station, channel=channel, sampling_rate=rate,
                         starttime=obspy.UTCDateTime(2024, 1, 1)))
    return tr


def mixed_stream():
    """Ids interleaved, one at two rates, one in two pieces with a gap, one with a constant segment (a note)."""
    z1, z2 = trace("HHZ", 900, 1), trace("HHZ", 700, 2)
    z2.stats.starttime = z1.stats.endtime + 5.0  # a gap
    e = trace("HHE", 1500, 3)
    e.data[200:400] = 7.0  # a constant stretch: no note (not a whole segment); its output is clipped
    n50 = trace("HHN", 600, 4, rate=50.0)
    n = trace("HHN", 1100, 5)
    flat = trace("HH1", 800, 6)
    flat.data[:] = 3.0  # a constant trace: noted, set to zeros
    return obspy.Stream([z1, n50, e, z2, flat, n])  # a single call: HHZ, HHN at 50 Hz, HHE, HH1, HHN


def run(stream, tiny, threaded, monkeypatch, **kwargs):
    monkeypatch.setattr(api, "THREADED_MIN_SAMPLES", 0 if threaded else 10 ** 12)
    return dn.denoise(stream, model=tiny, precision="float32", return_noise=True, return_report=True, **kwargs)


def test_one_id_per_thread_is_each_id_alone_in_the_order_of_one_call(tiny, monkeypatch):
    st = mixed_stream()
    (one, noise_one, report_one) = run(st, tiny, False, monkeypatch)
    (many, noise_many, report_many) = run(st, tiny, True, monkeypatch)
    assert [(t.id, t.stats.sampling_rate, t.stats.npts) for t in many] == \
        [(t.id, t.stats.sampling_rate, t.stats.npts) for t in one]
    assert [t.id for t in noise_many] == [t.id for t in noise_one]
    assert sorted(report_many.notes) == sorted(report_one.notes) and report_many.notes
    for tid in dict.fromkeys(tr.id for tr in st):  # each id exactly as denoised on its own
        alone, noise_alone, _ = run(st.select(id=tid), tiny, False, monkeypatch)
        for a, b in zip(alone, many.select(id=tid)):
            assert np.ma.allequal(a.data, b.data) and a.stats.processing == b.stats.processing
        for a, b in zip(noise_alone, noise_many.select(id=tid)):
            assert np.ma.allequal(a.data, b.data)
    for a, b in zip(one, many):  # and here the same as the single call (every batch below 64 windows)
        np.testing.assert_allclose(np.ma.filled(a.data, 0), np.ma.filled(b.data, 0), rtol=1e-5, atol=1e-4)
        assert np.array_equal(np.ma.getmaskarray(a.data), np.ma.getmaskarray(b.data))
    assert all("processing" not in tr.stats for tr in st)  # the input is not modified


def test_a_failing_id_falls_back_to_the_single_call(tiny, monkeypatch):
    st = mixed_stream()
    st[1].data[10] = np.nan  # the 50 Hz trace
    with pytest.raises(TraceError, match="XX.STA..HHN") as threaded_err:
        run(st, tiny, True, monkeypatch)
    with pytest.raises(TraceError) as single_err:
        run(st, tiny, False, monkeypatch)
    assert str(threaded_err.value) == str(single_err.value)
    many = run(st, tiny, True, monkeypatch, on_error="skip")
    one = run(st, tiny, False, monkeypatch, on_error="skip")
    assert [str(e) for e in many[2].skipped] == [str(e) for e in one[2].skipped] and one[2].skipped
    assert [t.id for t in many[0]] == [t.id for t in one[0]]
    for a, b in zip(many[0], one[0]):  # the fallback is the single call itself
        assert np.ma.allequal(a.data, b.data)


def test_short_ids_share_one_call(tiny, monkeypatch):
    calls = []
    by_id = api._by_id
    monkeypatch.setattr(api, "_by_id", lambda *a: calls.append(a) or by_id(*a))
    assert api.THREADED_MIN_SAMPLES is None  # off by default: every Stream in one call
    dn.denoise(obspy.Stream([trace("HHZ", 1500, 1), trace("HHE", 1000, 2)]), model=tiny, precision="float32")
    assert calls == []
    monkeypatch.setattr(api, "THREADED_MIN_SAMPLES", 1000)
    st = obspy.Stream([trace("HHZ", 1500, 1), trace("HHE", 900, 2)])  # one id under the threshold: one call
    dn.denoise(st, model=tiny, precision="float32")
    assert calls == []
    dn.denoise(obspy.Stream([trace("HHZ", 1500, 1), trace("HHE", 1000, 2)]), model=tiny, precision="float32")
    assert len(calls) == 1
