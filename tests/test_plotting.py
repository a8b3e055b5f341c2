"""Tests of geokeras.plotting: PNG per record, components, gaps, atomic write, clear errors."""
import os

import numpy as np
import obspy
import pytest
from matplotlib.figure import Figure

from geokeras.plotting import demeaned, plot_denoising, spectrogram_db


def stream(n=800, rate=100.0):
    rng = np.random.default_rng(0)
    st = obspy.Stream()
    for c in ("HHE", "HHN", "HHZ"):
        tr = obspy.Trace(rng.normal(size=n).astype("float32"))
        tr.stats.update(dict(network="XX", station="ABC", channel=c, sampling_rate=rate))
        st.append(tr)
    return st


def halved(st):
    out = st.copy()
    for tr in out:
        tr.data = tr.data * 0.5
    return out


def test_writes_png_with_one_block_per_component(tmp_path):
    st = stream()
    path = plot_denoising(st, halved(st), tmp_path / "a.png")
    assert path == str(tmp_path / "a.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    small = plot_denoising(st[:1], halved(st[:1]), tmp_path / "b.png", spectrogram=False)
    assert os.path.getsize(small) < os.path.getsize(path)
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.png"]


def test_traces_gaps_and_short_records(tmp_path):
    st = stream(n=2000)
    st[0].data = np.ma.masked_array(st[0].data, mask=np.zeros(2000, bool))
    st[0].data.mask[300:500] = True
    assert os.path.exists(plot_denoising(st[0], halved(st)[0], tmp_path / "gap.png"))
    tiny = stream(n=5)
    assert os.path.exists(plot_denoising(tiny, halved(tiny), tmp_path / "tiny.png"))


def test_failure_leaves_no_file(tmp_path, monkeypatch):
    st = stream()

    def boom(self, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(OSError, match="disk full"):
        plot_denoising(st, halved(st), tmp_path / "x.png")
    assert os.listdir(tmp_path) == []


def test_clear_errors():
    st = stream()
    other = halved(st)
    for tr in other:
        tr.stats.station = "OTHER"
    with pytest.raises(ValueError, match="no trace of `after` has a matching id"):
        plot_denoising(st, other, "never.png")
    with pytest.raises(TypeError, match="argument `before`"):
        plot_denoising(np.zeros(3), st, "never.png")


def test_long_lines_keep_their_peaks():
    from geokeras.plotting import envelope as _envelope

    x = np.zeros(1_000_001)
    x[123_457] = 5.0
    x[700_001] = -3.0
    t, y = _envelope(np.arange(x.size) / 100.0, x, 10_000)
    assert y.size <= 10_002 and y.max() == 5.0 and y.min() == -3.0
    assert np.all(np.diff(t) >= 0)
    x[-1] = 9.0  # in the last, partial block
    assert np.nanmax(_envelope(np.arange(x.size) / 100.0, x, 10_000)[1]) == 9.0


def test_unmerged_input_is_drawn_whole_next_to_the_merged_output():
    from geokeras.plotting import merged_pairs

    st = stream(n=2000)
    before = st.copy().trim(st[0].stats.starttime, st[0].stats.starttime + 5) + \
        st.copy().trim(st[0].stats.starttime + 10, st[0].stats.endtime)  # two segments per id
    after = before.copy().merge(method=1)  # what denoise returns: one masked trace per id
    pairs = merged_pairs(before, after)
    assert len(pairs) == 3
    for tr_b, tr_a in pairs:
        assert tr_b.stats.npts == tr_a.stats.npts == 2000
        assert np.ma.count_masked(tr_b.data) == np.ma.count_masked(tr_a.data) > 0
    assert len(before) == 6  # the caller's stream is not merged in place


def test_gaps_are_never_drawn_the_overlay_is_demeaned_and_spectrograms_carry_colour_bars(tmp_path, monkeypatch):
    """An int32 record with a gap, read as ObsPy merges it: the fill value must reach no line and no column."""
    rng = np.random.default_rng(1)
    tr = obspy.Trace((rng.normal(size=3000) * 100 + 5000).astype(np.int32),
                     header=dict(network="XX", station="GAP", channel="HHZ", sampling_rate=100.0))
    st = obspy.Stream([tr.slice(endtime=tr.stats.starttime + 10), tr.slice(starttime=tr.stats.starttime + 15)])
    merged = st.copy().merge(method=1)[0]
    merged.data.data[np.ma.getmaskarray(merged.data)] = -2147483648  # what an unmasked gap would draw
    x = demeaned(merged)
    assert np.ma.count_masked(x) == 499 and abs(float(x.mean())) < 1e-9 and float(np.abs(x).max()) < 1000
    t, f, db = spectrogram_db(merged)
    blank = np.all(np.isnan(db), axis=0)
    assert blank.any() and not blank.all()
    assert np.all(np.isnan(db[:, (t > 9.9) & (t < 15.1)]))  # every column overlapping the gap
    assert np.nanmax(db) < 10 * np.log10(1e5 ** 2)  # no -2.1e9 power anywhere
    drawn, colorbars = [], []
    real_plot = __import__("matplotlib.axes", fromlist=["Axes"]).Axes.plot
    monkeypatch.setattr("matplotlib.axes.Axes.plot", lambda self, x, y, *a, **k: drawn.append(np.asarray(y)) or
                        real_plot(self, x, y, *a, **k))
    real_colorbar = Figure.colorbar
    monkeypatch.setattr(Figure, "colorbar", lambda self, m, **k: colorbars.append(k) or real_colorbar(self, m, **k))
    after = merged.copy()
    after.data = np.ma.masked_array(demeaned(merged).filled(0) * 0.5, mask=np.ma.getmaskarray(merged.data))
    plot_denoising(merged, after, tmp_path / "gap.png")
    assert len(drawn) == 2 and all(np.nanmax(np.abs(y)) < 1000 for y in drawn)  # demeaned, no fill value
    assert all(np.isnan(y).sum() == 499 for y in drawn)  # the gap is a break in the line
    assert len(colorbars) == 2 and all(k["label"] == "dB" for k in colorbars)
