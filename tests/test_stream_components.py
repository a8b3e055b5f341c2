"""Tests of `StreamingDenoiser(components=...)`: a station's three components streamed in any packets and
interleavings equal ``denoise(..., components="median")``; gaps, a lagging and a missing component follow the
documented rule; every sample comes out once, at the one-trace latency; ids outside a group go the one-trace path."""
import keras
import numpy as np
import obspy
import pytest

from geokeras.denoise import Denoiser, denoise, denoise_components
from geokeras.errors import PacketError
from geokeras.models.denoiser import build_denoiser, build_stft_mask_denoiser
from geokeras.stream import StreamingDenoiser

L, SR = 600, 100.0  # the tiny mask model's window (hop 300)
T0 = obspy.UTCDateTime(2022, 5, 6, 7, 8, 9)
ENZ = ("XX.STA.00.HHE", "XX.STA.00.HHN", "XX.STA.00.HHZ")  # `station_groups`' order: the vertical last
LONE = "XX.LONE..HHZ"


@pytest.fixture(scope="module")
def den():
    keras.utils.set_random_seed(0)
    return Denoiser(build_stft_mask_denoiser(window_length=L, sign_invariant=True, filters=(4, 8), mask_floor=0.3))


def record(n, seed, channels=3):
    """``(channels, n)``: noise, an offset and a trend per component, and an event on all of them."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = rng.normal(scale=40.0, size=(channels, n)) + rng.uniform(-3e3, 3e3, (channels, 1)) + 0.2 * t
    onset = n // 3
    x[:, onset:] += rng.uniform(100, 400, (channels, 1)) * np.exp(-(t[onset:] - onset) / 80.0) * np.sin(t[onset:] / 3.0)
    return x


def packet(tid, data, i):
    net, sta, loc, cha = tid.split(".")
    return obspy.Trace(np.asarray(data), header=dict(network=net, station=sta, location=loc, channel=cha,
                                                     sampling_rate=SR, starttime=T0 + i / SR))


def cut(n, rng, largest=200, a=0):
    """Random packet bounds ``[(a, b), ...]`` covering ``[a, n)``."""
    edges = [a]
    while edges[-1] < n:
        edges.append(min(n, edges[-1] + int(rng.integers(1, largest + 1))))
    return list(zip(edges[:-1], edges[1:]))


def interleave(packets, rng, lag=L):
    """A random arrival order of ``{tid: [(a, b), ...]}``: each id's packets in order, and a component of ``ENZ``
    pushed only while it stays within ``lag`` samples of the slowest (a lagging component is another test)."""
    nxt, order = {tid: 0 for tid in packets}, []
    while any(nxt[t] < len(p) for t, p in packets.items()):
        ends = [packets[t][nxt[t] - 1][1] if nxt[t] else 0 for t in ENZ if t in packets]
        ready = [t for t, p in packets.items() if nxt[t] < len(p) and (t not in ENZ or p[nxt[t]][1] - min(ends) <= lag)]
        tid = ready[rng.integers(len(ready))]
        order.append((tid,) + packets[tid][nxt[tid]])
        nxt[tid] += 1
    return order


def in_time_order(packets):
    """``{tid: [(a, b), ...]}`` in arrival order by start (as SeedLink delivers them)."""
    return sorted(((tid, a, b) for tid, p in packets.items() for a, b in p), key=lambda q: (q[1], q[0]))


def play(sd, data, order, sign=None):
    """Push ``data[tid][a:b]`` for each ``(tid, a, b)`` of ``order``; the outputs of each push, and of the flush."""
    sign = sign or {}
    pushes = [sd.push(packet(tid, sign.get(tid, 1.0) * data[tid][a:b], a)) for tid, a, b in order]
    return pushes, sd.flush()


def joined(traces, tid):
    """``{start index: samples}`` of the segments of ``tid`` in ``traces``, contiguous pieces merged."""
    sub = obspy.Stream([t.copy() for t in traces if t.id == tid]).merge(method=1)
    return {int(round((t.stats.starttime - T0) * SR)): np.asarray(t.data, np.float64) for t in sub.split()}


def coverage(traces, tid, n):
    """How many times each of the samples ``[0, n)`` of ``tid`` came out."""
    count = np.zeros(n, int)
    for t in traces:
        if t.id == tid:
            i = int(round((t.stats.starttime - T0) * SR))
            count[i:i + t.stats.npts] += 1
    return count


def close(got, want, rtol=2e-5):
    """``got`` equals ``want`` to float rounding (relative to the peak)."""
    peak = max(float(np.max(np.abs(want))), 1e-12)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= rtol * peak, np.max(np.abs(got - want)) / peak


@pytest.mark.parametrize("n, seed", [(2345, 0), (1800, 1), (450, 2)])
def test_three_components_in_any_packets_and_interleavings_equal_the_batch_path(den, n, seed):
    """The core oracle: joined, the outputs are ``denoise(stream, components="median")`` of the same data, the
    lone id beside them ``denoise`` of it; a group's samples come out on all three at once, one window behind the
    slowest component (``latency_s``); every sample once; memory bounded."""
    rng = np.random.default_rng(seed)
    x = record(n, seed, channels=4)
    data = dict(zip(ENZ + (LONE,), x))
    order = interleave({tid: cut(n, rng) for tid in data}, rng)
    sd = StreamingDenoiser(den, precision="float32", components="median")
    assert sd.latency_s == L / SR
    pos, pushes = dict.fromkeys(data, 0), []
    for tid, a, b in order:
        out = sd.push(packet(tid, data[tid][a:b], a))
        pos[tid] = b
        pushes.append(out)
        spans = {(t.id, str(t.stats.starttime), t.stats.npts) for t in out if t.id in ENZ}
        assert len({s[1:] for s in spans}) <= 1 and len(spans) in (0, 3)  # the three components together
        done = sum(t.stats.npts for o in pushes for t in o if t.id == ENZ[0])
        assert done == max(0, min(pos[t] for t in ENZ) - L)  # final one window after the slowest has it
        for group in sd._groups.values():
            assert all(b.size <= 2 * L + 200 for b in group.bufs) and group.norm.size <= L + sd.windowing.hop
    rest = sd.flush()
    outputs = [t for o in pushes for t in o] + rest
    stream = obspy.Stream([packet(tid, row, 0) for tid, row in data.items()])
    batch = denoise(stream, model=den, components="median", precision="float32")
    for tid in data:
        assert np.all(coverage(outputs, tid, n) == 1)
        (got,) = joined(outputs, tid).values()
        close(got, np.asarray(batch.select(id=tid)[0].data, np.float64))
    assert {t.stats.processing[-1] for t in outputs if t.id in ENZ} == {sd.group_processing}
    assert {t.stats.processing[-1] for t in outputs if t.id == LONE} == {sd.processing}  # as `denoise` names them
    assert sd.group_processing.endswith(", components=median)") and "components" not in sd.processing


def test_median_max_streams_as_the_batch_path(den):
    """``components="median-max"`` (the vertical the median, each horizontal the larger of its own mask and the
    median) goes through the same group graph: joined, the streamed outputs are the batch path's."""
    rng = np.random.default_rng(3)
    x = record(1800, 3, channels=3)
    data = dict(zip(ENZ, x))
    sd = StreamingDenoiser(den, precision="float32", components="median-max")
    pushes, rest = play(sd, data, interleave({tid: cut(1800, rng) for tid in data}, rng))
    outputs = [t for o in pushes for t in o] + rest
    stream = obspy.Stream([packet(tid, row, 0) for tid, row in data.items()])
    batch = denoise(stream, model=den, components="median-max", precision="float32")
    median = denoise(stream, model=den, components="median", precision="float32")
    for tid in data:
        (got,) = joined(outputs, tid).values()
        close(got, np.asarray(batch.select(id=tid)[0].data, np.float64))
    close(np.asarray(batch.select(component="Z")[0].data, np.float64),  # the vertical: the median path's
          np.asarray(median.select(component="Z")[0].data, np.float64), rtol=1e-6)
    assert sd.group_processing.endswith(", components=median-max)")


def test_each_component_is_odd_on_its_own(den):
    """Negating one component's packets negates that component's output and changes no other (exactly)."""
    rng = np.random.default_rng(3)
    n = 2100
    data = dict(zip(ENZ, record(n, 3)))
    order = interleave({tid: cut(n, rng) for tid in ENZ}, rng)
    plain = play(StreamingDenoiser(den, precision="float32", components="median"), data, order)
    flipped = play(StreamingDenoiser(den, precision="float32", components="median"), data, order,
                   sign={ENZ[1]: -1.0})
    for tid in ENZ:
        (a,) = joined([t for o in plain[0] for t in o] + plain[1], tid).values()
        (b,) = joined([t for o in flipped[0] for t in o] + flipped[1], tid).values()
        np.testing.assert_array_equal(b, -a if tid == ENZ[1] else a)


def test_a_gap_in_one_component_ends_the_group_for_all_three_and_a_new_one_starts_after_it(den):
    """The documented rule, packets in time order: the group's segment ends where the vertical stops (g); the
    other two go on alone from g until the vertical's next sample (g2), where the three start a new group."""
    n, g, g2 = 2600, 1100, 1250
    x = record(n, 4)
    data = dict(zip(ENZ, x))
    rng = np.random.default_rng(4)
    packets = {tid: cut(n, rng, largest=150) for tid in ENZ}
    packets[ENZ[2]] = cut(g, rng, 150) + cut(n, rng, 150, a=g2)
    pushes, rest = play(StreamingDenoiser(den, precision="float32", components="median"), data,
                        in_time_order(packets))
    outputs = [t for o in pushes for t in o] + rest
    first = denoise_components(x[:, :g], den, precision="float32")
    second = denoise_components(x[:, g2:], den, precision="float32")
    for c, tid in enumerate(ENZ):
        got = joined(outputs, tid)
        expected_cover = np.ones(n, int)
        if c == 2:
            expected_cover[g:g2] = 0
            assert sorted(got) == [0, g2]
            (head,), (tail,) = [got[0]], [got[g2]]
            close(head, first[c].astype(np.float64))
            close(tail, second[c].astype(np.float64))
        else:
            (whole,) = got.values()
            close(whole[:g], first[c].astype(np.float64))
            alone = denoise(x[c, g:g2], model=den, sampling_rate=SR, precision="float32").astype(np.float64)
            close(whole[g:g2], alone)  # alone between the group segments, as one trace
            close(whole[g2:], second[c].astype(np.float64))
        np.testing.assert_array_equal(coverage(outputs, tid, n), expected_cover)


def test_a_component_that_stops_ends_the_group_and_the_group_forms_again_when_it_catches_up(den):
    """E stops at 900 while Z and N go on to 2000: once they are more than a window ahead the group ends at 900
    and they go on alone. E comes back (from 900): when it is within a window of them, the group starts again
    at their end (2000; their returned samples are final), E alone up to there."""
    n, stop, far = 3000, 900, 2000
    x = record(n, 5)
    data = dict(zip(ENZ, x))
    rng = np.random.default_rng(5)
    packets = {tid: cut(far, rng, 100) + cut(n, rng, 100, a=far) for tid in ENZ}
    packets[ENZ[0]] = cut(stop, rng, 100) + cut(far, rng, 100, a=stop) + cut(n, rng, 100, a=far)
    arrivals = in_time_order(packets)
    alone = [q for q in arrivals if q[2] <= (stop if q[0] == ENZ[0] else far)]  # E stops at 900
    catching_up = [q for q in arrivals if q[0] == ENZ[0] and stop <= q[1] < far]
    after = [q for q in arrivals if q[1] >= far]
    sd = StreamingDenoiser(den, precision="float32", components="median")
    outputs = [t for tid, a, b in alone for t in sd.push(packet(tid, data[tid][a:b], a))]
    assert not sd._groups and sum(t.stats.npts for t in outputs if t.id == ENZ[0]) == stop  # ended at 900
    for tid, a, b in catching_up:
        outputs += sd.push(packet(tid, data[tid][a:b], a))
        assert bool(sd._groups) == (b >= far - L)  # formed again once E is within a window of the others
        if sd._groups:
            (group,) = sd._groups.values()
            assert [int(round((s - T0) * SR)) for s in group.starts] == [far] * 3
    for tid, a, b in after:
        outputs += sd.push(packet(tid, data[tid][a:b], a))
    outputs += sd.flush()
    first = denoise_components(x[:, :stop], den, precision="float32")
    second = denoise_components(x[:, far:], den, precision="float32")
    for c, tid in enumerate(ENZ):
        np.testing.assert_array_equal(coverage(outputs, tid, n), 1)
        (whole,) = joined(outputs, tid).values()
        close(whole[:stop], first[c].astype(np.float64))
        close(whole[stop:far], denoise(x[c, stop:far], model=den, sampling_rate=SR, precision="float32"))
        close(whole[far:], second[c].astype(np.float64))


def test_ids_outside_a_group_go_the_one_trace_path_bit_for_bit(den):
    """A lone vertical, and three components a half sample apart (not aligned), give what the one-trace
    streaming denoiser gives them."""
    rng = np.random.default_rng(6)
    n = 1500
    x = record(n, 6, channels=4)
    shifted = ("XX.OFF..HHE", "XX.OFF..HHN", "XX.OFF..HHZ")
    ids = (LONE,) + shifted
    order = interleave({tid: cut(n, rng) for tid in ids}, rng)
    outs = []
    for components in ("median", None):
        sd = StreamingDenoiser(den, precision="float32", components=components)
        outs.append([t for tid, a, b in order
                     for t in sd.push(packet(tid, x[ids.index(tid)][a:b], a + 0.5 * (tid == shifted[0])))]
                    + sd.flush())
        assert not sd._groups
    for tid in ids:
        a, b = (sorted(((str(t.stats.starttime), t.data.tolist()) for t in o if t.id == tid)) for o in outs)
        assert a == b


def test_refused_packets_of_a_component_change_nothing_and_a_rate_change_ends_the_group(den):
    x = record(1500, 7)
    data = dict(zip(ENZ, x))
    sd, ref = (StreamingDenoiser(den, precision="float32", components="median") for _ in range(2))
    first = [(tid, 0, 500) for tid in ENZ]
    out = [t for tid, a, b in first for t in sd.push(packet(tid, data[tid][a:b], a))]
    assert len(sd._groups) == 1
    with pytest.raises(PacketError, match=r"XX.STA.00.HHZ: packet starting at .* refused, overlapping: its "
                                          r"first 50 sample\(s\) were received"):
        sd.push(packet(ENZ[2], data[ENZ[2]][450:800], 450))
    out += [t for tid in ENZ for t in sd.push(packet(tid, data[tid][500:], 500))] + sd.flush()
    expected = [t for tid, a, b in first for t in ref.push(packet(tid, data[tid][a:b], a))]
    expected += [t for tid in ENZ for t in ref.push(packet(tid, data[tid][500:], 500))] + ref.flush()
    for tid in ENZ:
        np.testing.assert_array_equal(*(next(iter(joined(o, tid).values())) for o in (out, expected)))
    sd = StreamingDenoiser(den, precision="float32", components="median")
    out = [t for a in (0, 500) for tid in ENZ for t in sd.push(packet(tid, data[tid][a:a + 500], a))]
    bad = packet(ENZ[0], data[ENZ[0]][1000:1100], 1000)
    bad.stats.sampling_rate = 50.0
    with pytest.raises(PacketError, match="sampling rate 50 Hz differs"):
        sd.push(bad)
    assert not sd._groups  # the group's segment ended with it...
    out += sd.flush()  # ...and all of its samples come out
    group = denoise_components(x[:, :1000], den, precision="float32")
    for c, tid in enumerate(ENZ):
        (got,) = joined(out, tid).values()
        close(got, group[c].astype(np.float64))


def test_components_argument_is_checked(den):
    with pytest.raises(ValueError, match=r"Invalid value for argument `components`. Expected one of 'median', "
                                         r"'mean', 'median-max'. Received components='max'"):
        StreamingDenoiser(den, components="max")
    plain = Denoiser(build_denoiser("unet1d", window_length=64, sampling_rate=SR, filters=(2,)))
    with pytest.raises(ValueError, match="spectrogram-mask denoiser"):
        StreamingDenoiser(plain, components="median")
    assert StreamingDenoiser(den, components="mean").group_processing.endswith("components=mean)")
    assert StreamingDenoiser(den).group_processing is None
