"""Tests of geokeras.stream.StreamingDenoiser: packets of any size give the same output, gaps end segments,
refused packets change nothing, memory stays bounded, and joined it is the batch denoise (one definition)."""
import io

import keras
import numpy as np
import obspy
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from geokeras.data.windows import Windowing, stitch
from geokeras.denoise import Denoiser, denoise
from geokeras.errors import PacketError, TraceError
from geokeras.models.denoiser import build_denoiser
from geokeras.stream import StreamingDenoiser

L = 64  # window length of the tiny test model (hop 32)
T0 = obspy.UTCDateTime(2021, 3, 4, 23, 59, 50)


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return Denoiser(build_denoiser("unet1d", window_length=L, sampling_rate=100.0, filters=(2, 4)))


def record(n, seed_=0, offset=2000.0, slope=0.5):
    rng = np.random.default_rng(seed_)
    x = rng.normal(scale=30.0, size=n) + offset + slope * np.arange(n)
    x[n // 2:] += 300.0 * np.exp(-np.arange(n - n // 2) / 20.0) * np.sin(np.arange(n - n // 2) / 2.0)
    return x


def packet(x, start, tid="XX.STA.00.HHZ", rate=100.0):
    net, sta, loc, cha = tid.split(".")
    header = dict(network=net, station=sta, location=loc, channel=cha, sampling_rate=rate, starttime=start)
    return obspy.Trace(x if np.ma.isMaskedArray(x) else np.asarray(x), header=header)


def joined(traces, tid):
    """``{starttime: data}`` of the segments of ``tid`` in the outputs, each joined (contiguous pieces merged)."""
    sub = obspy.Stream([t for t in traces if t.id == tid]).merge(method=1)
    return {str(t.stats.starttime): np.asarray(t.data, np.float64) for t in sub.split()}


def replay(sd, x, sizes, tid="XX.STA.00.HHZ", gaps=()):
    """Push ``x`` in packets of ``sizes`` samples; the samples in ``gaps`` (index ranges) are not sent."""
    missing = np.zeros(x.size, bool)
    for a, b in gaps:
        missing[a:b] = True
    out, i = [], 0
    for k in sizes:
        keep = ~missing[i:i + k]
        if keep.any():
            data = np.ma.masked_array(x[i:i + k], mask=~keep) if not keep.all() else x[i:i + k]
            out += sd.push(packet(data, T0 + i / 100.0, tid))
        i += k
    return out


def prefix_line_reference(x, den):
    """The documented streaming semantics for one whole gap-free segment, written independently (np.polyfit)."""
    n = x.size
    if n <= L:
        return np.asarray(denoise(x, model=den, sampling_rate=100.0), np.float64)
    starts = Windowing(L, 0.5).starts(n)
    outs = []
    for s in starts:  # window [s, s + L) loses the line fitted to samples [0, s + L)
        line = np.polyfit(np.arange(s + L), x[:s + L], 1)
        w = x[s:s + L] - np.polyval(line, np.arange(s, s + L))
        bound = 1.1 * min(np.max(np.abs(x[s:s + L] - np.mean(x[:s + L]))), np.max(np.abs(w)))
        outs.append(np.clip(den.predictor()(w[None].astype(np.float32))[0], -bound, bound))
    return stitch(np.array(outs), starts, n).astype(np.float64)


@st.composite
def layouts(draw):
    n = draw(st.integers(1, 400))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, n - 1)), max_size=12))) if n > 1 else []
    sizes = list(np.diff([0] + [c for c in cuts if c < n] + [n]))
    gap_starts = sorted(draw(st.sets(st.integers(0, n - 1), max_size=3)))
    gaps = [(a, min(n, a + draw(st.integers(1, 40)))) for a in gap_starts]
    return n, sizes, gaps, draw(st.integers(0, 2**16))


@seed(17)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(layouts())
def test_any_packets_and_gaps_give_the_same_output_and_whole_segments_equal_batch(tiny, layout):
    n, sizes, gaps, data_seed = layout
    x = record(n, data_seed)
    sd, ref = StreamingDenoiser(tiny), StreamingDenoiser(tiny)
    many = replay(sd, x, sizes, gaps=gaps) + sd.flush()
    one = replay(ref, x, [n], gaps=gaps) + ref.flush()
    a, b = joined(one, "XX.STA.00.HHZ"), joined(many, "XX.STA.00.HHZ")
    assert a.keys() == b.keys()
    # the batch denoise of the same data, gaps masked
    masked = np.ma.masked_array(x, mask=np.zeros(n, bool))
    for g0, g1 in gaps:
        masked.mask[g0:g1] = True
    if masked.mask.all():
        assert not a
        return
    batch = denoise(packet(masked, T0), model=tiny)
    expected = joined([batch] if not np.ma.isMaskedArray(batch.data) else batch.split(), "XX.STA.00.HHZ")
    assert a.keys() == expected.keys()  # the same segments: every sample sent comes out, once
    for key, ya in a.items():
        yb, ye = b[key], expected[key]
        assert ya.shape == yb.shape == ye.shape
        peak = max(float(np.max(np.abs(ye))), 1e-12)
        assert np.max(np.abs(ya - yb)) <= 1e-6 * peak  # packet sizes do not matter
        assert np.max(np.abs(ya - ye)) <= 1e-3 * peak, key  # whole segments of any length: the batch denoise
        i0 = int(round((obspy.UTCDateTime(key) - T0) * 100.0))
        ref = prefix_line_reference(x[i0:i0 + ya.size], tiny)  # the semantics of the module docstring
        assert np.max(np.abs(ya - ref)) <= 1e-4 * max(float(np.max(np.abs(ref))), 1e-12), key


def test_long_segment_equals_the_batch_output_from_its_first_sample(tiny):
    """One definition (`window_frames`): a long segment with an offset and a trend equals batch everywhere,
    its first windows included (they differed by up to 7 % of the peak before batch adopted it)."""
    x = record(4000, 3, slope=0.05)
    sd = StreamingDenoiser(tiny)
    out = joined(replay(sd, x, [97] * 41 + [23]) + sd.flush(), "XX.STA.00.HHZ")
    (y,) = out.values()
    expected = denoise(packet(x, T0), model=tiny).data
    assert np.max(np.abs(y - expected)) <= 1e-6 * np.max(np.abs(expected))


def test_several_ids_interleaved_and_a_gap_ends_the_segment(tiny):
    a, b = record(300, 1), record(300, 2)
    sd = StreamingDenoiser(tiny)
    out = []
    for i in range(0, 300, 50):
        out += sd.push(packet(a[i:i + 50], T0 + i / 100.0, "XX.A..HHZ"))
        if i != 100:  # samples 100-149 of B never come: a gap
            out += sd.push(packet(b[i:i + 50], T0 + i / 100.0, "XX.B..HHZ"))
    out += sd.flush()
    got_a, got_b = joined(out, "XX.A..HHZ"), joined(out, "XX.B..HHZ")
    assert [v.size for v in got_a.values()] == [300]
    assert list(got_b) == [str(T0), str(T0 + 1.5)] and [v.size for v in got_b.values()] == [100, 150]
    np.testing.assert_allclose(got_b[str(T0)], prefix_line_reference(b[:100], tiny), rtol=0, atol=1e-3)
    line = "geokeras 0.1.0: StreamingDenoiser(model=unet1d_denoiser, sha256="
    assert all(t.stats.processing[-1].startswith(line) for t in out)


def test_latency_is_one_window_and_memory_stays_bounded(tiny):
    sd = StreamingDenoiser(tiny)
    assert sd.latency_s == L / 100.0 <= (L + sd.windowing.hop) / 100.0
    x = record(3000, 4)
    emitted = 0
    for i in range(3000):  # one sample per packet: sample j comes out with sample j + L
        out = sd.push(packet(x[i:i + 1], T0 + i / 100.0))
        emitted += sum(t.stats.npts for t in out)
        assert emitted == max(0, i + 1 - L)
        seg = sd._segments["XX.STA.00.HHZ"]
        assert seg.buf.size <= L and seg.acc.size <= L + sd.windowing.hop
    assert sum(t.stats.npts for t in sd.flush()) == L


def test_refused_packets_say_why_and_change_nothing(tiny):
    x = record(400, 5)
    sd, ref = StreamingDenoiser(tiny), StreamingDenoiser(tiny)
    out = sd.push(packet(x[:200], T0))
    with pytest.raises(PacketError, match=r"XX.STA.00.HHZ: packet starting at .* refused, overlapping: its "
                                          r"first 50 sample\(s\) were received"):
        sd.push(packet(x[150:250], T0 + 1.5))
    with pytest.raises(PacketError, match="out of order: it ends at"):
        sd.push(packet(x[0:100], T0))
    bad = x[200:300].copy()
    bad[7] = np.nan
    with pytest.raises(PacketError, match=r"1 NaN or inf sample\(s\), first at index 7"):
        sd.push(packet(bad, T0 + 2.0))
    with pytest.raises(TypeError, match="Expected an obspy.Trace"):
        sd.push(x)
    out += sd.push(packet(x[200:], T0 + 2.0)) + sd.flush()
    expected = ref.push(packet(x[:200], T0)) + ref.push(packet(x[200:], T0 + 2.0)) + ref.flush()
    assert isinstance(PacketError("a", "b"), TraceError)
    np.testing.assert_array_equal(np.concatenate([t.data for t in out]), np.concatenate([t.data for t in expected]))


def test_a_rate_change_ends_the_segment_and_is_refused(tiny):
    x = record(200, 6)
    sd = StreamingDenoiser(tiny)
    first = sd.push(packet(x[:150], T0))
    with pytest.raises(PacketError, match=r"sampling rate 200 Hz differs from the model's 100 Hz"):
        sd.push(packet(x[:100], T0 + 1.5, rate=200.0))
    assert not sd._segments  # the open segment was ended...
    rest = sd.push(packet(x[150:], T0 + 1.5))  # ...its last samples come out with the next call
    assert [t.stats.npts for t in first + rest][:2] == [150 - L, L]
    assert str(rest[0].stats.starttime) == str(T0 + (150 - L) / 100.0)


def test_replayed_seedlink_records_in_random_packet_sizes(tiny):
    """The README's EasySeedLinkClient subclass, fed by replayed MiniSEED records instead of a server."""
    from obspy.clients.seedlink.easyseedlink import EasySeedLinkClient

    class DenoisingClient(EasySeedLinkClient):
        def __init__(self, server_url, model=None, **kwargs):
            super().__init__(server_url, **kwargs)
            self.denoiser, self.out = StreamingDenoiser(model), obspy.Stream()

        def on_data(self, trace):
            for tr in self.denoiser.push(trace):
                self.out += tr

    st = obspy.read().slice(endtime=obspy.read()[0].stats.starttime + 6)  # 3 ids, 601 samples each
    for tr in st:
        tr.stats.sampling_rate = 100.0
        tr.data = tr.data.astype(np.int32)
    buf = io.BytesIO()
    st.write(buf, format="MSEED", reclen=512, encoding="STEIM2")
    raw = buf.getvalue()
    records = [obspy.read(io.BytesIO(raw[i:i + 512]))[0] for i in range(0, len(raw), 512)]
    rng = np.random.default_rng(7)
    client = DenoisingClient("localhost:18000", model=tiny, autoconnect=False)
    for rec in records:  # each record cut again into packets of random sizes
        cuts = np.sort(rng.choice(np.arange(1, rec.stats.npts), size=2, replace=False))
        for a, b in zip([0, *cuts], [*cuts, rec.stats.npts]):
            client.on_data(rec.slice(rec.stats.starttime + a / 100.0, rec.stats.starttime + (b - 1) / 100.0))
    client.out += obspy.Stream(client.denoiser.flush())
    client.out.merge(method=1)
    assert sorted(tr.id for tr in client.out) == sorted(tr.id for tr in st)
    ref = StreamingDenoiser(tiny)
    for tr in client.out:
        src = st.select(id=tr.id)[0]
        assert (tr.stats.starttime, tr.stats.npts) == (src.stats.starttime, src.stats.npts)
        whole = ref.push(src) + ref.flush()
        np.testing.assert_allclose(tr.data, np.concatenate([t.data for t in whole]), rtol=0,
                                   atol=1e-6 * np.max(np.abs(tr.data)))


@pytest.mark.parametrize("scale", [1e-20, 1e30])
def test_any_amplitude_gives_the_scaled_output_like_the_batch_path(tiny, scale):
    """The stream scales windows by powers of two around the model, as `denoise` does (issue 18): a record of
    peak 1e-18 or 1e32 gives the scaled output of the same record at ordinary amplitude, not float32's
    underflow (without the scaling the 1e-20 record came out about 100x the batch output)."""
    x = record(3 * L, seed_=4)
    outs = {}
    for a in (1.0, scale):
        sd = StreamingDenoiser(tiny)
        outs[a] = joined(replay(sd, a * x, [37] * (3 * L // 37 + 1)) + sd.flush(), "XX.STA.00.HHZ")
    [(key, plain)] = outs[1.0].items()
    np.testing.assert_allclose(outs[scale][key] / scale, plain, rtol=0, atol=1e-5 * np.abs(plain).max())
    short = packet(scale * x[:L], T0)  # one window: seen whole, the batch path exactly
    sd = StreamingDenoiser(tiny)
    got = np.concatenate([t.data for t in sd.push(short.copy()) + sd.flush()]).astype(np.float64)
    want = np.asarray(denoise(obspy.Stream([short]), model=tiny)[0].data, np.float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-3 * np.abs(want).max())
