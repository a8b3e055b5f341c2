"""geokeras.denoise.options and geokeras.denoise.naming: options checked once, the record stored as sidecar
fields and compared by resume (no processing-line parsing), one naming function."""
import json
import os

import obspy
import pytest

from geokeras.denoise import Denoiser, DenoiseOptions, denoise, denoise_files, output_names
from geokeras.denoise.files import SIDECAR_FIELD
from geokeras.models.denoiser import build_denoiser


@pytest.fixture(scope="module")
def den():
    return Denoiser(build_denoiser("stftmask", window_length=300, filters=(4,), name="tiny"))


@pytest.mark.parametrize("kwargs, match", [
    (dict(overlap=1.0), r"argument `overlap`. Expected a number in \[0.0, 1.0\). Received overlap=1.0"),
    (dict(batch_size=0), r"argument `batch_size`. Expected a strictly positive integer. Received batch_size=0"),
    (dict(out_of_band="drop"), r"argument `out_of_band`. Expected one of 'refuse', 'passthrough'"),
])
def test_options_are_checked_where_they_are_made(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DenoiseOptions(**kwargs)


def test_the_processing_line_is_generated_from_the_record(den):
    opts = DenoiseOptions(overlap=0.25)
    record = opts.record(den)
    assert record["sha256"] == den.sha256 and record["overlap"] == 0.25 and record["output"] == "denoised"
    assert opts.record(den, "noise")["output"] == "noise"
    line = opts.processing_line(den)
    assert line == (f"geokeras {record['version']}: denoise(model=tiny, sha256={den.sha256[:16]}, "
                    "model_sampling_rate=100, window_length=300, overlap=0.25, detrend=prefix-linear, clip=1.1)")
    out = denoise(obspy.read(), model=den, overlap=0.25)
    assert all(tr.stats.processing[-1] == line for tr in out)


def test_output_names_of_a_sac_stream_follow_its_traces():
    names = output_names("out/ev", "SAC", stream=obspy.read(), noise=True)
    assert names.waveforms == ["out/ev.BW.RJOB..EHZ.sac", "out/ev.BW.RJOB..EHN.sac", "out/ev.BW.RJOB..EHE.sac"]
    assert names.noise[0] == "out/ev.noise.BW.RJOB..EHZ.sac" and names.plot is None
    assert len(names.all()) == 12  # 6 waveform files and their sidecars


def test_sidecars_store_the_options_and_resume_compares_those_fields_not_the_text(den, tmp_path):
    src = str(tmp_path / "ev.mseed")
    obspy.read().write(src, format="MSEED")
    out = str(tmp_path / "out")
    denoise_files(src, out, model=den, write_noise=True)
    sidecar = os.path.join(out, "ev.mseed.processing.json")
    with open(sidecar) as f:
        entries = json.load(f)
    assert all(e[SIDECAR_FIELD] == DenoiseOptions().record(den) for e in entries)
    for e in entries:  # the text is history for people; resume does not read it
        e["processing"] = ["edited by hand"]
    with open(sidecar, "w") as f:
        json.dump(entries, f)
    assert denoise_files(src, out, model=den, write_noise=True, resume=True).up_to_date == 1
    for e in entries:
        e[SIDECAR_FIELD]["overlap"] = 0.25
    with open(sidecar, "w") as f:
        json.dump(entries, f)
    assert denoise_files(src, out, model=den, write_noise=True, resume=True).done == 1
