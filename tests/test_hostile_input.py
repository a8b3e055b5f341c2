"""Hostile and awkward input (issue 18): nothing escapes OUTDIR, no model file bypasses the checks, no good
trace is lost, and every failure is one line.

Each test pins one case of the README section "Awkward and hostile input"; each failed on the code before.
"""
import os

import numpy as np
import obspy
import pytest

from geokeras import cli
from geokeras.denoise import denoise_files
from geokeras.errors import InputError
from geokeras.models.denoiser import build_denoiser

OBSPY_IO = os.path.join(os.path.dirname(obspy.__file__), "io")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("model") / "tiny.keras")
    build_denoiser("stftmask", window_length=300, filters=(4,)).save(path)
    return path


def _tree(folder):
    return sorted(os.path.relpath(os.path.join(root, n), folder) for root, _, names in os.walk(folder) for n in names)


def _float_stream():
    st = obspy.read()
    for tr in st:
        tr.data = tr.data.astype(np.float32)
    return st


# -- 1. names built from trace ids stay inside OUTDIR --------------------------------------------------------

def test_trace_ids_with_slashes_and_dots_write_nothing_outside_outdir(model_path, tmp_path):
    st = _float_stream()
    st[0].stats.network, st[1].stats.station, st[2].stats.channel = "/../../", "./../", "/pwn"
    st[2].stats.station = "A/B"
    (tmp_path / "in").mkdir()
    st.write(str(tmp_path / "in" / "h.slist"), format="SLIST")
    out = tmp_path / "deep" / "out"
    victim = tmp_path / "deep" / ".RJOB..EHZ.sac"  # where the old code wrote (replacing this file)
    assert str(victim) == os.path.normpath(f"{out}/h.slist./../../.RJOB..EHZ.sac")
    os.makedirs(out)
    victim.write_text("keep me")
    summary = denoise_files(str(tmp_path / "in" / "h.slist"), str(out), model=model_path, format="SAC")
    assert (summary.done, summary.failed, summary.traces) == (1, 0, 3), summary.failures
    assert victim.read_text() == "keep me"
    outputs = ["h.slist.BW.A_B.._pwn.sac", "h.slist.BW.._.._..EHN.sac", "h.slist._.._.._.RJOB..EHZ.sac"]
    assert _tree(str(out)) == sorted(outputs + [n + ".processing.json" for n in outputs])
    assert _tree(str(tmp_path)) == sorted(["in/h.slist", "deep/.RJOB..EHZ.sac"] + [f"deep/out/{n}" for n in _tree(str(out))])
    back = obspy.read(str(out / "h.slist.BW.A_B.._pwn.sac"))
    assert back[0].id == "BW.A/B../pwn"  # the id itself is kept; only the file name is made safe


# -- 2. per-trace names collide across inputs: refused before any work ---------------------------------------

def test_per_trace_names_colliding_across_inputs_are_refused_before_any_work(model_path, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    _float_stream().write(str(tmp_path / "in" / "x.mseed"), format="MSEED")
    _float_stream()[:1].write(str(tmp_path / "in" / "x.BW.RJOB..EHZ.sac"), format="SAC")
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"would both write .*x\.BW\.RJOB\.\.EHZ\.sac"):
        denoise_files(str(tmp_path / "in"), str(out), model=model_path, format="SAC")
    assert not out.exists()
    status = cli.main(["denoise", str(tmp_path / "in"), "-o", str(out), "--model", model_path, "--format", "SAC"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1 and "would both write" in err[0] and not out.exists()
