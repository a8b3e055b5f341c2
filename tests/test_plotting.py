"""Tests of geokeras.plotting: PNG per record, components, gaps, atomic write, clear errors."""
import os

import numpy as np
import obspy
import pytest
from matplotlib.figure import Figure

from geokeras.plotting import plot_denoising


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
    from geokeras.plotting import _envelope

    x = np.zeros(1_000_001)
    x[123_457] = 5.0
    x[700_001] = -3.0
    t, y = _envelope(np.arange(x.size) / 100.0, x, 10_000)
    assert y.size <= 10_002 and y.max() == 5.0 and y.min() == -3.0
    assert np.all(np.diff(t) >= 0)
    x[-1] = 9.0  # in the last, partial block
    assert np.nanmax(_envelope(np.arange(x.size) / 100.0, x, 10_000)[1]) == 9.0


def test_unmerged_input_is_drawn_whole_next_to_the_merged_output():
    from geokeras.plotting import _merged, _pairs

    st = stream(n=2000)
    before = st.copy().trim(st[0].stats.starttime, st[0].stats.starttime + 5) + \
        st.copy().trim(st[0].stats.starttime + 10, st[0].stats.endtime)  # two segments per id
    after = before.copy().merge(method=1)  # what denoise returns: one masked trace per id
    pairs = _pairs(_merged(before), _merged(after))
    assert len(pairs) == 3
    for tr_b, tr_a in pairs:
        assert tr_b.stats.npts == tr_a.stats.npts == 2000
        assert np.ma.count_masked(tr_b.data) == np.ma.count_masked(tr_a.data) > 0
    assert len(before) == 6  # the caller's stream is not merged in place
