"""Reading from every kind of source, bad files, atomic writing, and read -> window -> stitch -> write round trips."""
import os

import numpy as np
import obspy
import pytest

from geokeras.data import io
from geokeras.data.process import apply_to_stream
from geokeras.errors import FormatError, InputError, UnknownFormatError


@pytest.fixture
def st():
    return obspy.read()  # ObsPy's bundled example: 3 traces BW.RJOB..EH?, 100 Hz, 3000 samples


def test_read_stream_trace_path_glob_dir(tmp_path, st):
    assert len(io.read(st)) == 3 and io.read(st) is not st
    assert len(io.read(st[0])) == 1
    for i, tr in enumerate(st):
        tr.write(str(tmp_path / f"t{i}.mseed"), format="MSEED")
    assert len(io.read(tmp_path / "t0.mseed")) == 1
    assert len(io.read(str(tmp_path / "t*.mseed"))) == 3
    (tmp_path / "notes.txt").write_text("not a waveform")
    (tmp_path / ".hidden").write_text("ignored")
    with pytest.warns(UserWarning, match=r"Skipped 1 file.*notes.txt"):
        assert len(io.read(tmp_path)) == 3
    with pytest.raises(FileNotFoundError):
        io.read(tmp_path / "nope.mseed")
    with pytest.raises(FileNotFoundError):
        io.read(str(tmp_path / "*.sac"))
    with pytest.raises(ValueError, match="Stream"):
        io.read(42)


def test_read_sds(tmp_path, st):
    tr = st[0]
    t = tr.stats.starttime
    folder = tmp_path / str(t.year) / "BW" / "RJOB" / "EHZ.D"
    folder.mkdir(parents=True)
    tr.write(str(folder / f"BW.RJOB..EHZ.D.{t.year}.{t.julday:03d}"), format="MSEED")
    got = io.read_sds(tmp_path, "BW", "RJOB", "", "EHZ", t + 5, t + 10)
    assert len(got) == 1 and got[0].id == "BW.RJOB..EHZ" and abs(got[0].stats.starttime - (t + 5)) < 0.01
    with pytest.raises(ValueError, match="No data"):
        io.read_sds(tmp_path, "BW", "RJOB", "", "EHN", t, t + 10)
    with pytest.raises(FileNotFoundError):
        io.read_sds(tmp_path / "missing", "BW", "RJOB", "", "EHZ", t, t + 10)


def test_bad_files(tmp_path, st):
    empty = tmp_path / "empty.mseed"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        io.read(empty)
    unknown = tmp_path / "x.dat"
    unknown.write_text("hello world\n" * 20)
    with pytest.raises(ValueError, match="unknown format"):
        io.read(unknown)
    good = tmp_path / "good.mseed"
    st.write(str(good), format="MSEED")
    corrupt = tmp_path / "corrupt.mseed"
    corrupt.write_bytes(good.read_bytes()[:1000])  # truncated inside the first record
    with pytest.raises(ValueError, match="corrupt"):
        io.read(corrupt)
    with pytest.raises(ValueError, match="corrupt"):
        io.read(corrupt, format="MSEED")
    with pytest.raises(ValueError, match="empty Stream"):
        io.read(obspy.Stream())


def test_write_is_atomic(tmp_path, st, monkeypatch):
    path = tmp_path / "out.mseed"
    io.write(st, path)
    before = path.read_bytes()

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(obspy.Stream, "write", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        io.write(st.copy().trim(st[0].stats.starttime, st[0].stats.starttime + 1), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.mseed"]  # no temp file left, no sidecar (no history)


def test_write_int_and_int64(tmp_path):
    tr = obspy.Trace(np.arange(500, dtype=np.int64) - 250, header=dict(station="I", sampling_rate=20.0))
    back = io.read(io.write(tr, tmp_path / "i.mseed"))
    assert back[0].data.dtype == np.int32 and back[0].data.tolist() == tr.data.tolist()
    # types MiniSEED cannot store as they are are written as float64, values kept
    for dtype, values in ((np.int64, [0, 2 ** 31 + 5, -3]), (np.uint16, [0, 65535, 7]), (np.int8, [-128, 0, 127])):
        tr = obspy.Trace(np.array(values * 10, dtype=dtype), header=dict(station="I", sampling_rate=20.0))
        back = io.read(io.write(tr, tmp_path / f"{np.dtype(dtype).name}.mseed"))
        assert back[0].data.dtype == np.float64 and back[0].data.tolist() == tr.data.astype(float).tolist()


def test_glob_skips_processing_sidecars(tmp_path, st):
    st[0].stats.processing = ["step one"]
    io.write(st, tmp_path / "a.mseed")
    assert (tmp_path / ("a.mseed" + io.SIDECAR_SUFFIX)).is_file()
    back = io.read(str(tmp_path / "*"))
    assert len(back) == len(st) and back.select(id=st[0].id)[0].stats.processing == ["step one"]


@pytest.mark.parametrize("fmt", ["MSEED", "SAC"])
def test_round_trip_headers_processing_gaps(tmp_path, st, fmt):
    src = tmp_path / "src.mseed"
    gapped = st.copy()
    t0 = gapped[0].stats.starttime
    gapped = gapped.cutout(t0 + 10, t0 + 12)  # a 2 s gap in each channel
    for tr in gapped:
        tr.stats.location = "10"
    gapped.write(str(src), format="MSEED")
    original = io.read(src, merge=True)
    assert all(np.ma.isMaskedArray(tr.data) for tr in original)
    processed = apply_to_stream(original, lambda b: b, window_length=512, sampling_rate=100.0)
    out = tmp_path / f"out.{fmt.lower()}"
    written = io.write(processed, out, format=fmt)
    if fmt == "SAC":
        assert len(written) == 6  # one file per trace and per gap-free segment
        assert sorted(os.path.basename(w) for w in written) == sorted(
            f"out.{tr.id}.{k}.sac" for tr in original for k in (0, 1))  # named by io.output_paths
        back = io.read(str(tmp_path / "out.*.sac"), merge=True)
    else:
        assert written == str(out) and os.path.isfile(str(out) + io.SIDECAR_SUFFIX)
        back = io.read(out, merge=True)
    back.sort(keys=["channel"])
    original.sort(keys=["channel"])
    assert len(back) == 3
    for a, b in zip(original, back):
        for key in ("network", "station", "location", "channel", "starttime", "sampling_rate", "npts"):
            assert a.stats[key] == b.stats[key], key
        np.testing.assert_array_equal(np.ma.getmaskarray(a.data), np.ma.getmaskarray(b.data))
        assert np.ma.getmaskarray(b.data).sum() == 199
        np.testing.assert_allclose(b.data.compressed(), a.data.compressed(), rtol=1e-5, atol=1e-3)
        assert any("apply_to_stream" in p for p in b.stats.processing)


def test_write_warns_for_traces_with_nothing_to_write(tmp_path):
    gap = obspy.Trace(np.ma.masked_all(10, dtype=np.float32), header=dict(station="GAP"))
    empty = obspy.Trace(np.zeros(0, np.float32), header=dict(station="NIL"))
    ok = obspy.Trace(np.ones(10, np.float32), header=dict(station="OK"))
    with pytest.warns(UserWarning) as record:
        path = io.write(obspy.Stream([gap, empty, ok]), tmp_path / "w.mseed")
    text = " ".join(str(w.message) for w in record)
    assert ".GAP.." in text and ".NIL.." in text
    assert [tr.stats.station for tr in io.read(path)] == ["OK"]


def test_existing_paths_are_literal_never_patterns(tmp_path, st):
    st[0].write(str(tmp_path / "ev1.mseed"), format="MSEED")
    st[1].write(str(tmp_path / "ev[1].mseed"), format="MSEED")
    assert io.read(str(tmp_path / "ev[1].mseed"))[0].id == st[1].id  # that file, not ev1.mseed
    assert io.read(str(tmp_path / "ev1.mseed"))[0].id == st[0].id
    assert [f.relative for f in io.find_files(str(tmp_path / "ev?.mseed"))] == ["ev1.mseed"]  # a pattern
    with pytest.raises(FileNotFoundError, match="No such file"):
        io.read(str(tmp_path / "ev2.mseed"))


def test_find_files_relative_paths_mirror_the_input_tree(tmp_path, st):
    for ev in ("ev1", "ev2"):
        (tmp_path / "data" / ev).mkdir(parents=True)
        st[0].write(str(tmp_path / "data" / ev / "STA.BHZ.sac"), format="SAC")
    (tmp_path / "data" / ".cache").mkdir()
    (tmp_path / "data" / ".cache" / "x.sac").write_text("hidden")
    rel = [f.relative for f in io.find_files(tmp_path / "data")]
    assert rel == [os.path.join("ev1", "STA.BHZ.sac"), os.path.join("ev2", "STA.BHZ.sac")]
    assert [f.relative for f in io.find_files(str(tmp_path / "data" / "*" / "*.sac"))] == rel
    named = io.find_files([tmp_path / "data" / "ev1" / "STA.BHZ.sac", tmp_path / "data" / "ev2" / "STA.BHZ.sac"])
    assert [f.relative for f in named] == rel and all(f.explicit for f in named)
    assert len(io.find_files([tmp_path / "data", str(tmp_path / "data" / "ev1" / "*")])) == 2  # each file once


def test_headers_mseed_cannot_hold_are_kept_and_ids_it_would_change_refused(tmp_path):
    tr = obspy.Trace(np.arange(500, dtype=np.float32), header=dict(
        network="XX", station="STA", channel="HHZ", sampling_rate=100.0, calib=0.0949))
    path = io.write(tr, tmp_path / "c.mseed")
    back = io.read(path)[0]
    assert back.stats.calib == 0.0949  # MiniSEED alone gives 1.0
    assert obspy.read(path)[0].stats.calib == 1.0
    assert "restored calib=0.0949" in back.stats.processing[-1]
    long_id = tr.copy()
    long_id.stats.network = "ABCD"
    with pytest.raises(FormatError, match=r"MSEED cannot hold the trace id 'ABCD.STA..HHZ'.*'AB.STA..HHZ'.*SAC"):
        io.write(long_id, tmp_path / "d.mseed")
    assert sorted(os.listdir(tmp_path)) == ["c.mseed", "c.mseed" + io.SIDECAR_SUFFIX]  # nothing half-written
    sac = io.write(long_id, tmp_path / "d.sac", format="SAC")
    back = io.read(sac)[0]
    assert (back.id, back.stats.calib) == ("ABCD.STA..HHZ", pytest.approx(0.0949))


def test_typed_read_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("not a waveform")
    (tmp_path / "empty.mseed").write_bytes(b"")
    with pytest.raises(UnknownFormatError, match="unknown format"):
        io.read(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="is empty"):
        io.read(tmp_path / "empty.mseed")


def test_read_mseed_pieces_names_a_bad_piece_size(tmp_path):
    path = str(tmp_path / "x.mseed")
    obspy.read().write(path, format="MSEED", reclen=512)
    for bad in (0, -512, 1.5):
        with pytest.raises(ValueError, match=r"`piece_bytes`. Expected a strictly positive integer. Received piece_bytes="):
            next(io.read_mseed_pieces(path, bad))
    assert sum(tr.stats.npts for st in io.read_mseed_pieces(path, 1) for tr in st) == 9000  # one record a piece


def test_read_mseed_pieces_fails_on_obspys_warnings_only(tmp_path, monkeypatch):
    """``catch_warnings`` is process-wide: a warning another thread raises while a piece is read (a model loading in
    the background) is passed on, not taken for a problem of the file; ObsPy's own warnings still refuse it."""
    import warnings

    path = str(tmp_path / "x.mseed")
    obspy.read().write(path, format="MSEED", reclen=512)
    real_read = obspy.read

    def read_warning_from(filename, category=UserWarning):
        def read(*args, **kwargs):
            warnings.warn_explicit("something happened", category, filename, 1)
            return real_read(*args, **kwargs)
        return read

    monkeypatch.setattr(obspy, "read", read_warning_from("/venv/site-packages/urllib3/contrib/socks.py"))
    with pytest.warns(UserWarning, match="something happened"):
        assert sum(tr.stats.npts for st in io.read_mseed_pieces(path) for tr in st) == 9000
    monkeypatch.setattr(obspy, "read", read_warning_from("/venv/site-packages/obspy/io/mseed/core.py"))
    with pytest.raises(InputError, match="in pieces: something happened"):
        next(io.read_mseed_pieces(path))


def test_append_mseed_refuses_an_id_mseed_would_change(tmp_path):
    tr = obspy.read()[0]
    tr.stats.network = "ABCD"  # MiniSEED holds 2 characters: written as 'AB', under another id
    path = tmp_path / "x.mseed"
    with open(path, "wb") as f:
        with pytest.raises(FormatError, match=r"MSEED cannot hold the trace id 'ABCD\.RJOB\.\.EHZ'"):
            io.append_mseed(f, [tr])
    assert path.stat().st_size == 0
