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


# -- 3. model files: the loader reads what was inspected --------------------------------------------------------

def _hdf5_with_zip_appended(tmp_path, model_path):
    import keras

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    h5 = str(tmp_path / "legacy.h5")
    inner.save(h5)
    with open(h5, "ab") as f, open(model_path, "rb") as z:
        f.write(z.read())  # zipfile finds the appended archive: its config is what the old code inspected
    return h5


def test_an_hdf5_model_with_a_keras_zip_appended_is_refused_whatever_its_name(model_path, tmp_path, capsys):
    import zipfile

    from geokeras.denoise import Denoiser
    from geokeras.saving import load_model

    h5 = _hdf5_with_zip_appended(tmp_path, model_path)
    assert zipfile.is_zipfile(h5)
    link = tmp_path / "model.keras"
    link.symlink_to(h5)
    for path in (h5, str(link)):
        with pytest.raises(ValueError, match=r"an HDF5 file: its signature is at byte 0; legacy HDF5 models are "
                                             r"refused"):
            load_model(path)
        with pytest.raises(ValueError, match="legacy HDF5 models are refused"):
            Denoiser.resolve(path)
    (tmp_path / "in").mkdir()
    _float_stream().write(str(tmp_path / "in" / "x.mseed"), format="MSEED")
    for command in (["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(link)],
                    ["export", str(link), str(tmp_path / "exported")]):
        assert cli.main(command) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "legacy HDF5 models are refused" in err[0], err
    assert not (tmp_path / "out").exists() and not (tmp_path / "exported").exists()


def test_a_keras_zip_is_recognized_by_its_bytes_not_its_extension(model_path, tmp_path):
    import shutil

    from geokeras.saving import load_model

    renamed = str(tmp_path / "model.h5")
    shutil.copy(model_path, renamed)
    assert load_model(renamed).count_params() == load_model(model_path).count_params()


def test_a_decompression_bomb_config_is_refused_before_it_is_read(tmp_path):
    import tracemalloc
    import zipfile

    from geokeras import saving

    bomb = str(tmp_path / "bomb.keras")
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", "{}")
        with z.open("config.json", "w") as f:  # valid JSON, 80 MiB uncompressed, 80 kB on disk
            f.write(b'{"class_name": "Sequential", "config": {"name": "')
            chunk = b"x" * 2**20
            for _ in range(80):
                f.write(chunk)
            f.write(b'"}}')
    assert os.path.getsize(bomb) < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"its config\.json is 83886\d\d\d bytes uncompressed, more than the "
                                             r"67108864 a model's config\.json may have"):
            saving.load_model(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # nothing was decompressed
