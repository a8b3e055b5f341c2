"""``geokeras denoise --layout sds``: day files split at UTC midnights, merged, read back by ObsPy's SDS client;
channel codes that collide refused before any work; ``--resume`` redoes only the day whose input grew."""
import os

import numpy as np
import obspy
import pytest
from obspy.clients.filesystem.sds import Client

from geokeras import cli
from geokeras.denoise import Denoiser, denoise, denoise_files
from geokeras.denoise.naming import sds_path
from geokeras.denoise.sds import merge_day, split_days
from geokeras.errors import InputError
from geokeras.models.denoiser import build_denoiser

T = obspy.UTCDateTime


@pytest.fixture(scope="module")
def model():
    return Denoiser(build_denoiser("stftmask", window_length=300, filters=(4,)))


def _trace(start, seconds, station="STA", channel="HHZ", seed=0, rate=100.0):
    x = np.random.default_rng(seed).normal(scale=100.0, size=int(seconds * rate)).astype(np.float32)
    return obspy.Trace(x, header=dict(network="XX", station=station, location="00", channel=channel,
                                      sampling_rate=rate, starttime=T(start)))


def _write_sds(root, tr):
    """Write ``tr`` as the SDS day file of its start (what slarchive does: one file per day)."""
    path = sds_path(root, tr.id, tr.stats.starttime.year, tr.stats.starttime.julday)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tr.write(path, format="MSEED", encoding="FLOAT32")
    return path


def test_split_days_keeps_every_sample_once_across_midnight_and_a_year_boundary():
    tr = _trace("2019-12-31T23:59:59.995", 2.0, rate=200.0)  # a sample on each side of midnight, and at it
    pieces = split_days(tr)
    assert [(d.year, d.julday) for d, _ in pieces] == [(2019, 365), (2020, 1)]
    assert [p.stats.npts for _, p in pieces] == [1, 399]
    assert pieces[1][1].stats.starttime == T("2020-01-01T00:00:00")
    assert np.array_equal(np.concatenate([p.data for _, p in pieces]), tr.data)


def test_day_files_across_midnight_and_new_year_read_back_with_the_sds_client(tmp_path, model):
    src, root = str(tmp_path / "in"), str(tmp_path / "sds")
    os.makedirs(src)
    year_end = _trace("2019-12-31T23:58:00", 240.0, seed=1)  # across 2019-365 -> 2020-001
    leap = _trace("2020-02-29T23:59:00", 120.0, station="STB", seed=2)  # across 2020-060 -> 2020-061
    obspy.Stream([year_end, leap]).write(os.path.join(src, "records.mseed"), format="MSEED")
    summary = denoise_files(src, root, model=model, layout="sds", channel_code="X")
    assert summary.done == 1 and summary.failed == 0
    names = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
                   if not f.startswith(".") and not f.endswith(".json"))
    assert names == ["2019/XX/STA/HXZ.D/XX.STA.00.HXZ.D.2019.365", "2020/XX/STA/HXZ.D/XX.STA.00.HXZ.D.2020.001",
                     "2020/XX/STB/HXZ.D/XX.STB.00.HXZ.D.2020.060", "2020/XX/STB/HXZ.D/XX.STB.00.HXZ.D.2020.061"]
    for tr in (year_end, leap):
        expected = denoise(tr, model=model)
        back = Client(root).get_waveforms("XX", tr.stats.station, "00", "HXZ", tr.stats.starttime - 60,
                                          tr.stats.endtime + 60)
        back.merge()
        assert len(back) == 1 and back[0].stats.starttime == tr.stats.starttime
        assert np.array_equal(back[0].data, expected.data)  # every sample once, bit for bit
    first = obspy.read(os.path.join(root, names[0]))[0]
    assert first.stats.endtime < T("2020-01-01") and first.stats.npts == 12000


def test_merge_day_new_samples_replace_those_they_cover_the_others_kept():
    for old_start, new_start in (("00:00:00", "00:00:05"), ("00:00:05", "00:00:00")):  # new after, before
        old = _trace(f"2020-01-01T{old_start}", 10.0, seed=3)
        new = _trace(f"2020-01-01T{new_start}", 10.0, seed=4)
        merged = merge_day(obspy.Stream([old]), obspy.Stream([new]))
        assert len(merged) == 1 and merged[0].stats.npts == 1500
        at = int(round((new.stats.starttime - merged[0].stats.starttime) * 100))
        assert np.array_equal(merged[0].data[at:at + 1000], new.data)  # the new samples win where both are
        kept = np.delete(merged[0].data, np.s_[at:at + 1000])
        assert np.array_equal(kept, old.data[:500] if at else old.data[500:])


def test_collisions_refused_before_any_work_in_one_line(tmp_path, model, capsys):
    src, root = str(tmp_path / "in"), str(tmp_path / "sds")
    _write_sds(src, _trace("2020-01-01T00:00:00", 60.0))
    _write_sds(src, _trace("2020-01-01T00:00:00", 60.0, channel="HXZ"))  # a real HX* channel
    with pytest.raises(InputError, match=r"--channel-code X: output channel XX.STA.00.HXZ \(from XX.STA.00.HHZ\) "
                                         r"would collide with input channel XX.STA.00.HXZ"):
        denoise_files(src, root, model=model, layout="sds", channel_code="X")
    assert not os.path.exists(root)
    model_path = str(tmp_path / "tiny.keras")
    model.model.save(model_path)
    assert cli.main(["denoise", src, "-o", root, "--layout", "sds", "--channel-code", "X", "--model", model_path]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "would collide with input channel XX.STA.00.HXZ" in err
    assert not os.path.exists(root)
    with pytest.raises(InputError, match="refusing to overwrite input file"):  # same root, same channel
        denoise_files(src, src, model=model, layout="sds")
    for argv in (["--channel-code", "XY", "--layout", "sds"], ["--channel-code", "X"], ["--layout", "sds", "--plot"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["denoise", src, "-o", root, "--model", model_path] + argv)
        assert exit_info.value.code == 2


def test_resume_in_place_redoes_only_the_day_whose_input_grew(tmp_path, model):
    root = str(tmp_path / "sds")
    day1 = _write_sds(root, _trace("2020-01-01T00:00:00", 120.0, seed=5))
    grown = _trace("2020-01-02T00:00:00", 240.0, seed=6)
    day2 = _write_sds(root, grown.slice(grown.stats.starttime, grown.stats.starttime + 119.995))

    def run():
        return denoise_files(root, root, model=model, layout="sds", channel_code="X", resume=True)

    first = run()
    assert (first.files, first.done, first.up_to_date) == (2, 2, 0)  # the HX* outputs in ROOT are not inputs
    again = run()
    assert (again.files, again.done, again.up_to_date) == (2, 0, 2)
    out1 = sds_path(root, "XX.STA.00.HXZ", 2020, 1)
    stamp = os.stat(out1).st_mtime_ns
    grown.write(day2, format="MSEED", encoding="FLOAT32")  # slarchive appended two more minutes
    third = run()
    assert [r.status for r in third.results] == ["up_to_date", "done"]
    assert os.stat(out1).st_mtime_ns == stamp
    back = obspy.read(sds_path(root, "XX.STA.00.HXZ", 2020, 2))
    assert sum(tr.stats.npts for tr in back) == grown.stats.npts  # stored once each (before any merge)
    back.merge()
    assert len(back) == 1 and back[0].stats.npts == grown.stats.npts  # no sample lost or duplicated
    assert np.array_equal(back[0].data, denoise(grown, model=model).data)
    assert run().up_to_date == 2
    assert os.path.isfile(day1)


def test_a_record_across_midnight_merges_into_the_next_day_without_loss_or_duplicates(tmp_path, model):
    src, root = str(tmp_path / "in"), str(tmp_path / "sds")
    whole = _trace("2020-01-01T23:59:00", 180.0, seed=7)
    t = whole.stats.starttime
    _write_sds(src, whole.slice(t, t + 89.995))  # slarchive: the record across midnight stays in day 001
    _write_sds(src, whole.slice(t + 90, None))
    for _ in range(2):  # a rerun replaces the samples it covers: nothing is duplicated
        assert denoise_files(src, root, model=model, layout="sds", channel_code="X").done == 2
        day2 = obspy.read(sds_path(root, "XX.STA.00.HXZ", 2020, 2))
        assert sum(tr.stats.npts for tr in day2) == 12000  # stored once each (before any merge)
        day2.merge()
        assert len(day2) == 1 and day2[0].stats.starttime == T("2020-01-02") and day2[0].stats.npts == 12000
        day1 = obspy.read(sds_path(root, "XX.STA.00.HXZ", 2020, 1))
        assert day1[0].stats.npts == 6000 and day1[0].stats.endtime < T("2020-01-02")
