"""``geokeras denoise --layout sds``: day files split at UTC midnights, merged, read back by ObsPy's SDS client;
channel codes that collide refused before any work; ``--resume`` redoes only the day whose input grew; with
``--components`` a station's three day files of a day are one job, denoised together."""
import json
import os

import numpy as np
import obspy
import pytest
from obspy.clients.filesystem.sds import Client

from geokeras import cli
from geokeras.denoise import Denoiser, denoise, denoise_files, plan_denoise
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


def _station_day(root, channels=("HHE", "HHN", "HHZ"), station="STA", seed=10):
    """A station's channels of 2020-01-01, one SDS day file each: ``(traces, paths)``."""
    traces = [_trace("2020-01-01T01:00:00", 60.0, station=station, channel=ch, seed=seed + i)
              for i, ch in enumerate(channels)]
    return traces, [_write_sds(root, tr) for tr in traces]


def _day_file(root, tr, code="X"):
    net, sta, loc, cha = tr.id.split(".")
    return sds_path(root, f"{net}.{sta}.{loc}.{cha[0]}{code}{cha[2:]}", 2020, 1)


def test_a_stations_three_day_files_are_one_job_denoised_together(tmp_path, model):
    src, root = str(tmp_path / "in"), str(tmp_path / "sds")
    traces, paths = _station_day(src)
    plan = plan_denoise(src, root, model=model, layout="sds", channel_code="X", components="median",
                        precision="float32")
    assert [job.input for job in plan.jobs] == [tuple(paths)]
    summary = plan.run()
    assert (summary.files, summary.done, summary.failed) == (3, 3, 0)
    [result] = summary.results
    assert result.input == tuple(paths) and result.label == " + ".join(paths) and not result.notes
    want = denoise(obspy.Stream(traces), model=model, components="median", precision="float32")
    for tr, expected in zip(traces, want):
        got = obspy.read(_day_file(root, tr))
        assert len(got) == 1 and got[0].stats.starttime == tr.stats.starttime
        np.testing.assert_allclose(got[0].data, expected.data, rtol=0, atol=1e-6 * np.abs(expected.data).max())
        alone = denoise(tr, model=model, precision="float32").data  # the combined mask made a difference
        assert not np.allclose(got[0].data, alone, atol=1e-3 * np.abs(alone).max())
        [entry] = json.load(open(_day_file(root, tr) + ".processing.json"))
        assert entry["denoise"]["components"] == "median"
        assert sorted(entry["inputs"]) == sorted(os.path.realpath(p) for p in paths)  # each depends on all three


def test_a_lone_channel_beside_a_group_is_denoised_alone_and_named_in_a_note(tmp_path, model):
    src, root = str(tmp_path / "in"), str(tmp_path / "sds")
    group, _ = _station_day(src)
    [lone], [lone_path] = _station_day(src, channels=("EHZ",), seed=20)
    summary = denoise_files(src, root, model=model, layout="sds", channel_code="X", components="median",
                            precision="float32")
    assert (summary.files, summary.done, len(summary.results)) == (4, 4, 2)
    alone = next(r for r in summary.results if r.input == lone_path)
    assert alone.notes == ("XX.STA.00.EHZ: not three aligned gap-free components of one station at the model's "
                           "100 Hz: denoised one trace at a time",)
    np.testing.assert_array_equal(obspy.read(_day_file(root, lone))[0].data,
                                  denoise(lone, model=model, precision="float32").data)
    joint = denoise(obspy.Stream(group), model=model, components="median", precision="float32")
    np.testing.assert_allclose(obspy.read(_day_file(root, group[2]))[0].data, joint[2].data, rtol=0,
                               atol=1e-6 * np.abs(joint[2].data).max())


def test_resume_skips_an_up_to_date_group_and_redoes_it_when_one_input_changed(tmp_path, model):
    src, root = str(tmp_path / "in"), str(tmp_path / "sds")
    traces, paths = _station_day(src)

    def run(components="median"):
        return denoise_files(src, root, model=model, layout="sds", channel_code="X", components=components,
                             precision="float32", resume=True)

    assert run(components=None).done == 3  # one job a file, no combined mask recorded
    assert [r.status for r in run().results] == ["done"]  # made without components: redone, as one job
    assert [r.status for r in run().results] == ["up_to_date"]
    outputs = [_day_file(root, tr) for tr in traces]
    stamps = [os.stat(p).st_mtime_ns for p in outputs]
    changed = traces[1].copy()
    changed.data = changed.data[::-1].copy()  # new samples in the north component's file, same size
    changed.write(paths[1], format="MSEED", encoding="FLOAT32")
    before = os.stat(paths[0]).st_mtime_ns
    os.utime(paths[1], ns=(before + 10 ** 9, before + 10 ** 9))
    assert [r.status for r in run().results] == ["done"]
    assert all(os.stat(p).st_mtime_ns != t for p, t in zip(outputs, stamps))  # all three redone
    want = denoise(obspy.Stream([traces[0], changed, traces[2]]), model=model, components="median",
                   precision="float32")
    for path, expected in zip(outputs, want):
        np.testing.assert_allclose(obspy.read(path)[0].data, expected.data, rtol=0,
                                   atol=1e-6 * np.abs(expected.data).max())
    assert run().up_to_date == 3


def test_the_command_writes_the_archive_with_components(tmp_path, model, capsys):
    src, root = str(tmp_path / "in"), str(tmp_path / "sds")
    traces, paths = _station_day(src)
    model_path = str(tmp_path / "tiny.keras")
    model.model.save(model_path)
    assert cli.main(["denoise", src, "-o", root, "--layout", "sds", "--components", "median", "--channel-code", "X",
                     "--model", model_path, "--precision", "float32", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{' + '.join(paths)} -> " in out and "denoised 3 of 3 file(s)" in out
    want = denoise(obspy.Stream(traces), model=model_path, components="median", precision="float32")
    back = Client(root).get_waveforms("XX", "STA", "00", "HX?", T("2020-01-01"), T("2020-01-02"))
    assert sorted(tr.id for tr in back) == ["XX.STA.00.HXE", "XX.STA.00.HXN", "XX.STA.00.HXZ"]
    for expected in want:
        got = back.select(channel="HX" + expected.stats.channel[-1])[0]
        np.testing.assert_allclose(got.data, expected.data, rtol=0, atol=1e-6 * np.abs(expected.data).max())


def test_a_day_file_of_the_piecewise_size_is_read_whole(tmp_path, model, monkeypatch):
    from geokeras.denoise import pieces

    monkeypatch.setattr(pieces, "MIN_BYTES", 1000)  # as a real day of 100 Hz samples (16 MiB or more)
    src, root = str(tmp_path / "in"), str(tmp_path / "sds")
    tr = _trace("2020-01-01T00:00:00", 60.0, seed=30)
    _write_sds(src, tr)
    summary = denoise_files(src, root, model=model, layout="sds", channel_code="X")
    assert (summary.done, summary.failed) == (1, 0), summary.failures
    np.testing.assert_array_equal(obspy.read(_day_file(root, tr))[0].data, denoise(tr, model=model).data)


@pytest.mark.parametrize("bad, error", [("not a waveform", "UnknownFormatError"),
                                        ("an id that cannot name a day file", "InputError")])
def test_a_group_file_that_cannot_be_used_is_reported_and_the_others_are_still_denoised(tmp_path, model, bad, error):
    src, root = str(tmp_path / "in"), str(tmp_path / "sds")
    traces, paths = _station_day(src)
    if bad == "not a waveform":
        with open(paths[1], "wb") as f:
            f.write(b"not miniseed" * 100)
    else:
        hostile = traces[1].copy()
        hostile.stats.station = "A B"  # read from the headers, not the file's name
        hostile.write(paths[1], format="MSEED", encoding="FLOAT32")
    summary = denoise_files(src, root, model=model, layout="sds", channel_code="X", components="median",
                            precision="float32", resume=True)
    [result] = summary.results
    assert result.status == "done" and result.error_types == (error,) and paths[1] in result.label
    for tr in (traces[0], traces[2]):  # the two good files, each alone (no three components left)
        np.testing.assert_array_equal(obspy.read(_day_file(root, tr))[0].data,
                                      denoise(tr, model=model, precision="float32").data)
    assert not os.path.exists(_day_file(root, traces[1]))
    rerun = denoise_files(src, root, model=model, layout="sds", channel_code="X", components="median",
                          precision="float32", resume=True)
    assert [r.status for r in rerun.results] == ["done"]  # the bad file has no day file: the group is redone


def test_an_id_with_a_dot_is_refused_before_any_work_with_the_reason(tmp_path, model):
    src, root = tmp_path / "in", str(tmp_path / "sds")
    src.mkdir()
    _trace("2020-01-01T00:00:00", 60.0, station="A.B").write(str(src / "dotted.mseed"), format="MSEED")
    with pytest.raises(InputError, match=r"trace id 'XX.A.B.00.HHZ' cannot name an SDS file"):
        denoise_files(str(src), root, model=model, layout="sds", channel_code="X")
    assert not os.path.exists(root)
