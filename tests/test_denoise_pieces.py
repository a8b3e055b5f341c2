"""Long MiniSEED files denoised a piece of records at a time (geokeras.denoise.pieces): the outputs, sidecars and
notes of the whole-file path; the files it cannot serve take the whole-file path."""
import io as bytes_io
import json
import os

import keras
import numpy as np
import obspy
import pytest

from geokeras.data import io
from geokeras.denoise import Denoiser, denoise_files, pieces
from geokeras.errors import InputError
from geokeras.models.denoiser import build_denoiser, build_stft_mask_denoiser

T0 = obspy.UTCDateTime(2020, 12, 31, 23, 59, 30)


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return Denoiser(build_denoiser("unet1d", window_length=64, sampling_rate=100.0, filters=(2, 4)))


def _trace(sta, cha, data, start):
    return obspy.Trace(np.asarray(data), dict(network="XX", station=sta, channel=cha, sampling_rate=100.0,
                                              starttime=start))


def _records(traces, reclen=512):
    buf = bytes_io.BytesIO()
    obspy.Stream(traces).write(buf, format="MSEED", reclen=reclen, encoding="STEIM2")
    return buf.getvalue()


def _file(path, extra=()):
    """Two ids whose records interleave, an offset and a trend, a gap, a constant and a 1-sample segment."""
    rng = np.random.default_rng(1)
    x = (rng.normal(size=6000) * 100 + 3000 + 0.3 * np.arange(6000)).astype(np.int32)
    y = (rng.normal(size=5000) * 50).astype(np.int32)
    parts = [[_trace("A", "HHZ", x[:2000], T0)], [_trace("B", "HHE", y[:2500], T0 + 5)],
             [_trace("A", "HHZ", x[2000:3000], T0 + 20)], [_trace("A", "HHZ", x[3300:], T0 + 33)],
             [_trace("B", "HHE", y[2500:], T0 + 30)],
             [_trace("A", "HHZ", np.full(40, 7, np.int32), T0 + 70), _trace("A", "HHZ", np.array([5], np.int32), T0 + 71)],
             list(extra)]
    with open(path, "wb") as f:
        for p in parts:
            if p:
                f.write(_records(p))
    return path


def _outputs(folder):
    st = io.read(os.path.join(folder, "x.mseed"))
    with open(os.path.join(folder, "x.mseed.processing.json")) as f:
        return sorted(st, key=lambda t: (t.id, t.stats.starttime)), json.load(f)


def _run(path, out, tiny, monkeypatch, piecewise):
    calls = []
    real = pieces.denoise_mseed_in_pieces

    def spy(*args, **kwargs):
        calls.append(args[0])
        result = real(*args, **kwargs)
        calls.append("served")  # not refused (NotPiecewise)
        return result

    monkeypatch.setattr(pieces, "denoise_mseed_in_pieces", spy)
    monkeypatch.setattr(pieces, "MIN_BYTES", 0 if piecewise else 2 ** 62)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 2048)  # several pieces, records of both ids in each
    summary = denoise_files(path, out, model=tiny)
    assert summary.done == 1 and summary.failed == 0
    return summary, calls


def _assert_same(a_dir, b_dir):
    (a, side_a), (b, side_b) = _outputs(a_dir), _outputs(b_dir)
    assert [(t.id, t.stats.starttime, t.stats.npts, t.stats.mseed.encoding) for t in a] == \
           [(t.id, t.stats.starttime, t.stats.npts, t.stats.mseed.encoding) for t in b]
    for ta, tb in zip(a, b):
        peak = max(float(np.max(np.abs(tb.data))), 1e-12)
        assert np.max(np.abs(ta.data - tb.data)) <= 1e-6 * peak, ta.id
    assert side_a == side_b  # processing lines with the same notes, the same fields for --resume


def test_a_long_file_in_pieces_gives_the_whole_file_paths_outputs(tiny, tmp_path, monkeypatch):
    path = _file(str(tmp_path / "x.mseed"))
    whole, calls = _run(path, str(tmp_path / "whole"), tiny, monkeypatch, piecewise=False)
    assert not calls
    parts, calls = _run(path, str(tmp_path / "parts"), tiny, monkeypatch, piecewise=True)
    assert calls == [path, "served"]
    _assert_same(str(tmp_path / "parts"), str(tmp_path / "whole"))
    (rw,), (rp,) = whole.results, parts.results
    assert (rp.traces, rp.samples, rp.ids, rp.notes) == (rw.traces, rw.samples, rw.ids, rw.notes)
    assert len(rp.notes) == 2 and "constant segment" in rp.notes[0] and "1-sample" in rp.notes[1]
    monkeypatch.setattr(pieces, "MIN_BYTES", 0)
    assert denoise_files(path, str(tmp_path / "parts"), model=tiny, resume=True).up_to_date == 1


@pytest.mark.parametrize("extra", ["overlap", "rate"])
def test_a_file_the_pieces_cannot_serve_takes_the_whole_file_path(tiny, tmp_path, monkeypatch, extra):
    rng = np.random.default_rng(2)
    if extra == "overlap":  # records of A that go back in time: ObsPy's merge decides (a note)
        tr = _trace("A", "HHZ", (rng.normal(size=500) * 100).astype(np.int32), T0 + 10)
    else:  # another rate: resampling needs the whole segment
        tr = _trace("C", "BHZ", (rng.normal(size=500) * 100).astype(np.int32), T0)
        tr.stats.sampling_rate = 40.0
    path = _file(str(tmp_path / "x.mseed"), extra=[tr])
    _run(path, str(tmp_path / "whole"), tiny, monkeypatch, piecewise=False)
    parts, calls = _run(path, str(tmp_path / "parts"), tiny, monkeypatch, piecewise=True)
    assert calls == [path]  # tried, refused (NotPiecewise), then denoised whole
    _assert_same(str(tmp_path / "parts"), str(tmp_path / "whole"))


def test_pieces_are_whole_records_and_a_cut_file_is_refused(tmp_path):
    path = _file(str(tmp_path / "x.mseed"))
    got = [st for st in io.read_mseed_pieces(path, 2048)]
    assert len(got) == os.path.getsize(path) // 2048
    merged = obspy.Stream([tr for st in got for tr in st]).merge(method=1)
    assert sorted((t.id, int(np.ma.count(t.data))) for t in merged) == [("XX.A..HHZ", 5741), ("XX.B..HHE", 5000)]
    with open(path, "ab") as f:
        f.write(b"\0" * 100)
    with pytest.raises(InputError, match="not a multiple of its record length"):
        list(io.read_mseed_pieces(path, 2048))
    assert not pieces.piecewise_candidate(path, min_bytes=2 ** 40)
    open(path + ".processing.json", "w").write("[]")
    assert not pieces.piecewise_candidate(path, min_bytes=0)  # a sidecar to restore: the whole-file path


def _jitter_file(path):
    """Records whose times ObsPy's reader and merge place on the grid of each id's first sample: a drift of 0.3
    sample per record (joined, each record is within half a sample of the previous record's end), a gap off
    the sample grid (merged at the nearest sample, a 1-sample segment 2.5 samples later too), a record exactly
    half a sample late (joined), and a second id."""
    rng = np.random.default_rng(3)
    x = (rng.normal(size=4000) * 100 + 500).astype(np.int32)
    parts, t, i = [], T0, 0
    for n, late in [(700, 0.0), (300, 0.3), (300, 0.3), (300, 0.3), (300, 0.3), (400, 1000.4), (1, 2.5),
                    (500, 700.0), (500, 0.5)]:
        t += late * 0.01
        parts.append([_trace("A", "HHZ", x[i:i + n], t)])
        if n == 300:
            parts.append([_trace("B", "HHN", x[i:i + n][::-1].copy(), T0 + 0.004 + i * 0.01)])
        t, i = t + n * 0.01, i + n
    with open(path, "wb") as f:
        for p in parts:
            f.write(_records(p))
    return path


def test_record_times_off_the_grid_give_the_whole_file_paths_segments_and_times(tiny, tmp_path, monkeypatch):
    path = _jitter_file(str(tmp_path / "x.mseed"))
    whole, _ = _run(path, str(tmp_path / "whole"), tiny, monkeypatch, piecewise=False)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 512)  # one record a piece: every record boundary is a piece's
    parts, calls = _run(path, str(tmp_path / "parts"), tiny, monkeypatch, piecewise=True)
    assert calls == [path, "served"]  # piece by piece, one record a piece
    _assert_same(str(tmp_path / "parts"), str(tmp_path / "whole"))
    (rw,), (rp,) = whole.results, parts.results
    assert (rp.traces, rp.samples, rp.notes) == (rw.traces, rw.samples, rw.notes)


def test_a_model_output_that_is_not_finite_is_never_written(tiny, tmp_path, monkeypatch):
    path = _file(str(tmp_path / "x.mseed"))
    monkeypatch.setattr(Denoiser, "predictor", lambda self, *a, **k: lambda b: np.full_like(b, np.nan))
    monkeypatch.setattr(pieces, "MIN_BYTES", 0)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 2048)
    summary = denoise_files(path, str(tmp_path / "out"), model=tiny)
    [result] = summary.results
    assert result.status == "failed" and not os.path.exists(tmp_path / "out" / "x.mseed")
    assert sorted(e.split(":")[0] for e in result.errors) == ["Invalid trace XX.A..HHZ", "Invalid trace XX.B..HHE"]
    assert all("NaN or inf" in e for e in result.errors)  # as the whole-file path names them


@pytest.mark.parametrize("seed", [0, 1])
def test_property_random_record_times_give_the_whole_file_paths_outputs(tiny, tmp_path, monkeypatch, seed):
    """Records of two ids with random sizes (1 sample to 700) and random times: jitter within half a sample,
    exactly half a sample, gaps on and off the sample grid; one record a piece."""
    rng = np.random.default_rng(seed)
    path = str(tmp_path / "x.mseed")
    with open(path, "wb") as f:
        for sta in ("A", "B"):
            t = T0
            for k in range(int(rng.integers(4, 9))):
                n = int(rng.choice([1, 2, 50, 130, 300, 700]))
                late = rng.choice([rng.uniform(-0.45, 0.5), 0.5, rng.uniform(0.5, 40), rng.integers(1, 9) + 0.5, 0.0])
                t += float(late) * 0.01 if k else 0.0
                f.write(_records([_trace(sta, "HHZ", (rng.normal(size=n) * 100 + 50).astype(np.int32), t)]))
                t += n * 0.01
    whole, _ = _run(path, str(tmp_path / "whole"), tiny, monkeypatch, piecewise=False)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 512)
    parts, calls = _run(path, str(tmp_path / "parts"), tiny, monkeypatch, piecewise=True)
    assert calls == [path, "served"]
    _assert_same(str(tmp_path / "parts"), str(tmp_path / "whole"))
    (rw,), (rp,) = whole.results, parts.results
    assert (rp.traces, rp.samples, rp.notes) == (rw.traces, rw.samples, rw.notes)


def test_records_of_several_lengths_in_a_piece_take_the_whole_file_path(tiny, tmp_path, monkeypatch):
    """The end of each id's last record in a piece is read from the record headers, scanned back from the piece's
    end one record length at a time: inside a longer record that scan would read sample bytes as a header."""
    rng = np.random.default_rng(4)
    x = (rng.normal(size=4000) * 1000).astype(np.int32)
    path = str(tmp_path / "x.mseed")
    with open(path, "wb") as f:
        f.write(_records([_trace("A", "HHZ", x[:300], T0)]) + _records([_trace("B", "HHE", x[:3000], T0)], 4096)
                + _records([_trace("A", "HHZ", x[300:600], T0 + 3)]))
    with pytest.raises(InputError, match="no record header at byte"):
        list(io.read_mseed_pieces(path, 2 ** 16, record_ends=True))
    _run(path, str(tmp_path / "whole"), tiny, monkeypatch, piecewise=False)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 2 ** 16)
    _, calls = _run(path, str(tmp_path / "parts"), tiny, monkeypatch, piecewise=True)
    assert calls == [path]  # refused, denoised whole
    _assert_same(str(tmp_path / "parts"), str(tmp_path / "whole"))


def test_a_piece_holds_as_many_samples_in_steim2_as_in_float32(tmp_path, monkeypatch):
    """Pieces are sized in samples, not bytes: a compressed file's pieces hold no more samples than float32's
    (a STEIM2 day read 2 MiB at a time held ~4x the samples in each piece ahead of the model: 1.25 GB)."""
    monkeypatch.setattr(pieces, "PIECE_BYTES", 2 ** 16)
    x = (np.random.default_rng(0).normal(size=100_000) * 100).astype(np.int32)
    paths = {}
    for enc, dtype in (("FLOAT32", np.float32), ("STEIM2", np.int32)):
        paths[enc] = str(tmp_path / f"{enc}.mseed")
        obspy.Trace(x.astype(dtype)).write(paths[enc], format="MSEED", encoding=enc, reclen=4096)
    assert pieces.piece_bytes(paths["FLOAT32"]) == 2 ** 16  # 4 bytes a sample: as before
    assert pieces.piece_bytes(paths["STEIM2"]) < 2 ** 16 / 1.5
    npts = {enc: [st[0].stats.npts for st in io.read_mseed_pieces(path, pieces.piece_bytes(path))]
            for enc, path in paths.items()}
    assert sum(npts["STEIM2"]) == sum(npts["FLOAT32"]) == x.size
    assert 0.8 < np.median(npts["STEIM2"]) / np.median(npts["FLOAT32"]) < 1.2


def test_a_piece_that_ends_inside_a_longer_record_is_an_input_error(tmp_path):
    """ObsPy's reader fails on a piece cut inside a record of another length: the whole-file path takes it."""
    x = (np.random.default_rng(4).normal(size=4000) * 1000).astype(np.int32)
    path = str(tmp_path / "x.mseed")
    with open(path, "wb") as f:
        f.write(_records([_trace("A", "HHZ", x[:300], T0)]) + _records([_trace("B", "HHE", x[:3000], T0)], 4096))
    with pytest.raises(InputError, match=r"in pieces: the piece at byte \d+ does not read"):
        list(io.read_mseed_pieces(path, 1024))


@pytest.fixture(scope="module")
def mask():
    keras.utils.set_random_seed(0)
    return Denoiser(build_stft_mask_denoiser(window_length=128, sign_invariant=True, filters=(2, 4), mask_floor=0.3))


def _station_file(path, interleaved):
    """Station A's three components (the north one 0.2 sample late: aligned), records channel after channel as
    ObsPy writes a Stream, or interleaved as a digitizer writes them; station C's three, one with a gap (the
    one-trace path, as B's lone vertical with its constant segment)."""
    rng = np.random.default_rng(5)
    a = [(rng.normal(size=7000) * 100 + 3000 + 0.2 * np.arange(7000)).astype(np.int32) for _ in range(3)]
    starts = [T0, T0 + 0.002, T0]
    chunks = [(0, 7000)] if not interleaved else [(i, min(7000, i + 900)) for i in range(0, 7000, 900)]
    parts = [[_trace("A", cha, x[i:j], t + i * 0.01)] for i, j in chunks
             for cha, x, t in zip(("HHE", "HHN", "HHZ"), a, starts)]
    c = (rng.normal(size=(3, 3000)) * 50).astype(np.int32)
    parts += [[_trace("C", "BHZ", c[0], T0 + 1), _trace("C", "BH1", c[1], T0 + 1)],
              [_trace("C", "BH2", c[2][:1000], T0 + 1), _trace("C", "BH2", c[2][1500:], T0 + 16)],
              [_trace("B", "HHZ", np.concatenate([c[0][:2000], np.full(300, 9, np.int32)]), T0 + 2)]]
    with open(path, "wb") as f:
        for p in parts:
            f.write(_records(p))
    return path


@pytest.mark.parametrize("interleaved", [False, True], ids=["channel after channel", "interleaved"])
def test_a_station_file_with_components_in_pieces_gives_the_whole_file_paths_outputs(mask, tmp_path, monkeypatch,
                                                                                    interleaved):
    """``--components``: a group's components are read a piece at a time wherever their records lie, and denoised
    by `denoise_components`' own core: the same bits as the file read whole; the other traces go the one-trace
    path (its float rounding), with the same notes and sidecars."""
    path = _station_file(str(tmp_path / "x.mseed"), interleaved)
    monkeypatch.setattr(pieces, "CACHED", 1)  # the three components of an interleaved file still read in order
    held, real_read = [], pieces._Components.read

    def read(self, a, b):  # the samples a group's components hold: a batch and a piece, never a component whole
        rows = real_read(self, a, b)
        held.append(max(sum(x.size for x in h) for h in self.held))
        return rows

    monkeypatch.setattr(pieces._Components, "read", read)
    runs = {}
    for name, piecewise in (("whole", False), ("parts", True)):
        calls = []
        real_pieces = pieces.denoise_mseed_in_pieces
        monkeypatch.setattr(pieces, "denoise_mseed_in_pieces",
                            lambda *a, **k: calls.append("served") or real_pieces(*a, **k))
        monkeypatch.setattr(pieces, "MIN_BYTES", 0 if piecewise else 2 ** 62)
        monkeypatch.setattr(pieces, "PIECE_BYTES", 2048)
        summary = denoise_files(path, str(tmp_path / name), model=mask, components="median", precision="float32",
                                batch_size=8)
        monkeypatch.setattr(pieces, "denoise_mseed_in_pieces", real_pieces)
        assert summary.done == 1 and calls == (["served"] if piecewise else [])
        runs[name] = summary.results[0]
    assert len(held) == 14 and max(held) < 7000 / 4  # 14 batches of 8 windows
    _assert_same(str(tmp_path / "parts"), str(tmp_path / "whole"))
    (a, _), (b, _) = _outputs(str(tmp_path / "parts")), _outputs(str(tmp_path / "whole"))
    for ta, tb in zip(a, b):
        if ta.stats.station == "A":  # the group: the same bits
            assert np.array_equal(ta.data, tb.data) and "components=median" in ta.stats.processing[-1], ta.id
    rw, rp = runs["whole"], runs["parts"]
    assert (rp.traces, rp.samples, rp.windows, rp.ids, rp.notes, rp.peaks) == \
           (rw.traces, rw.samples, rw.windows, rw.ids, rw.notes, rw.peaks)
    assert rp.notes[-1].startswith("XX.B..HHZ, XX.C..BH1, XX.C..BH2, XX.C..BHZ: not three aligned")
    monkeypatch.setattr(pieces, "MIN_BYTES", 0)
    assert denoise_files(path, str(tmp_path / "parts"), model=mask, components="median", precision="float32",
                         batch_size=8, resume=True).up_to_date == 1


def test_a_components_file_the_pieces_cannot_serve_is_refused_before_any_output(mask, tmp_path):
    """The first pass finds what the whole-file path must decide (here a record of a grouped component that goes
    back in time) before anything is written."""
    from geokeras.denoise.options import DenoiseOptions

    path = _station_file(str(tmp_path / "x.mseed"), interleaved=True)
    with open(path, "ab") as f:
        f.write(_records([_trace("A", "HHE", np.arange(300, dtype=np.int32), T0 + 5)]))
    with pytest.raises(pieces.NotPiecewise, match="XX.A..HHE: a trace starting at .* goes back in time"):
        pieces.denoise_mseed_in_pieces(path, str(tmp_path / "out" / "x.mseed"), mask,
                                       DenoiseOptions(components="median", precision="float32"))
    assert not os.path.exists(tmp_path / "out")
