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
    opts = DenoiseOptions(overlap=0.25, precision="float32")
    record = opts.record(den)
    assert record["sha256"] == den.sha256 and record["overlap"] == 0.25 and record["output"] == "denoised"
    assert opts.record(den, "noise")["output"] == "noise"
    line = opts.processing_line(den)
    assert line == (f"geokeras {record['version']}: denoise(model=tiny, sha256={den.sha256[:16]}, "
                    "model_sampling_rate=100, window_length=300, overlap=0.25, detrend=prefix-linear, clip=1.1)")
    out = denoise(obspy.read(), model=den, overlap=0.25, precision="float32")
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


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu sse2 amx_bf16 amx_tile", True),
    ("fpu sse2 avx2 avx512f avx512_vnni", False),
])
def test_cpu_has_bfloat16_reads_the_cpu_flags(tmp_path, flags, expected):
    from geokeras.denoise.denoiser import cpu_has_bfloat16

    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n")
    assert cpu_has_bfloat16(str(info)) is expected
    assert cpu_has_bfloat16(str(tmp_path / "missing")) is False  # another system: float32


@pytest.mark.parametrize("env, native, expected", [
    ("0", True, "float32"),   # oneDNN switched off: bfloat16 would be no faster, only less precise
    (" 0 ", True, "float32"),
    ("1", True, "bfloat16"),
    (None, True, "bfloat16"),
    (None, False, "float32"),
])
def test_auto_precision_follows_the_cpu_and_onednn(monkeypatch, env, native, expected):
    from geokeras.denoise import denoiser as dn_module

    if env is None:
        monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    else:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", env)
    monkeypatch.setattr(dn_module, "cpu_has_bfloat16", lambda: native)
    dn_module._auto_precision.cache_clear()
    try:
        assert dn_module.resolve_precision("auto") == expected
    finally:
        dn_module._auto_precision.cache_clear()


@pytest.mark.parametrize("native", ["bfloat16", "float32"])
def test_auto_precision_is_resolved_once_and_recorded(den, monkeypatch, tmp_path, native):
    from geokeras.denoise import denoiser as dn_module

    monkeypatch.setattr(dn_module, "_auto_precision", lambda: native)  # what this machine's CPU flags gave
    opts = DenoiseOptions()
    assert opts.precision == native == DenoiseOptions(precision="auto").precision  # resolved where made
    assert ("precision" in opts.record(den)) is (native == "bfloat16")  # float32 sidecars as before
    assert DenoiseOptions(precision="float32").precision == "float32"  # always available
    with pytest.raises(ValueError, match=r"argument `precision`. Expected one of 'auto', 'float32', 'bfloat16'"):
        DenoiseOptions(precision="float16")
    src, out = str(tmp_path / "ev.mseed"), str(tmp_path / "out")
    obspy.read().write(src, format="MSEED")
    denoise_files(src, out, model=den, precision="float32")
    # an output of the other precision is redone by resume, one of the same is up to date
    summary = denoise_files(src, out, model=den, resume=True)
    assert (summary.done, summary.up_to_date) == ((1, 0) if native == "bfloat16" else (0, 1))
    with open(os.path.join(out, "ev.mseed.processing.json")) as f:
        assert all(e[SIDECAR_FIELD] == opts.record(den) for e in json.load(f))
