"""The shipped three-component network (``components.keras``): loads safely, is v4's architecture with its own
weights and a floor of 0.2, is what every three-component path runs when no model is named (the API, the stream, the
command, SDS), and stays sign-symmetric under the median mask."""
import json
import os
import zipfile

import numpy as np
import obspy
import pytest

from geokeras.pretrained import COMPONENTS_MODEL_PATH, DEFAULT_MODEL_PATH, MODEL_CARD_PATH, load_components


@pytest.fixture(scope="module")
def components_model():
    return load_components()


@pytest.fixture(scope="module")
def station():
    """ObsPy's example (evaluation only): one station's three aligned components, 3000 samples at 100 Hz."""
    st = obspy.read()
    for tr in st:
        tr.data = tr.data.astype(np.float32)
    return st


def test_components_file_is_v4s_architecture_with_its_own_weights_and_floor(components_model):
    from geokeras.models.denoiser import denoiser_info
    from geokeras.models.mask_floor import mask_settings
    from geokeras.pretrained import load_default

    assert COMPONENTS_MODEL_PATH.stat().st_size < 2_000_000
    with zipfile.ZipFile(COMPONENTS_MODEL_PATH) as zf:
        config = zf.read("config.json").decode()
    assert "Lambda" not in config and "SignInvariantFeatures" in config
    default = load_default()
    assert denoiser_info(components_model) == denoiser_info(default)
    assert mask_settings(components_model) == {**mask_settings(default), "floor": 0.2}  # v4: 0.3; no smoothing
    assert components_model.count_params() == default.count_params()
    same = [np.array_equal(a, b) for a, b in zip(components_model.get_weights(), default.get_weights())]
    assert len(same) > 10 and not any(s for s, w in zip(same, default.get_weights()) if w.size > 16)
    card = MODEL_CARD_PATH.read_text()
    assert "components.keras" in card and "--gain-weight 0.2 --noise-burst-fraction 0.2" in card


def test_the_shipped_default_runs_the_components_network_on_every_three_component_path(station, tmp_path):
    from geokeras.denoise import Denoiser, denoise, denoise_components
    from geokeras.denoise.denoiser import _received
    from geokeras.denoise.files import plan_denoise
    from geokeras.stream import StreamingDenoiser

    den = Denoiser.resolve(None)
    assert den.label == "default" and den.for_components().label == "components"
    assert den.for_components().sha256 != den.sha256
    named = Denoiser.resolve(str(DEFAULT_MODEL_PATH))  # a model named by its path is its own on every path
    assert named.for_components() is named
    got = denoise(station, components="median", precision="float32")
    want = denoise(station, model=str(COMPONENTS_MODEL_PATH), components="median", precision="float32")
    v4 = denoise(station, model=named, components="median", precision="float32")
    for a, b, c in zip(got, want, v4):
        np.testing.assert_array_equal(a.data, b.data)
        assert np.abs(a.data - c.data).max() > 1e-3 * np.abs(c.data).max()  # not v4's network
        assert "denoise(model=default, sha256=" in a.stats.processing[-1]
        assert (f"components=median, components_model=components, "
                f"components_sha256={den.for_components().sha256[:16]})") in a.stats.processing[-1]
    # a trace that is no station group goes one trace at a time through v4, as without components
    alone = denoise(station[2:], components="median", precision="float32")
    np.testing.assert_array_equal(alone[0].data, denoise(station[2:], model=named, precision="float32")[0].data)
    assert "components" not in alone[0].stats.processing[-1]
    x = np.stack([tr.data for tr in station])
    np.testing.assert_array_equal(denoise_components(x, precision="float32"),
                                  denoise_components(x, model=str(COMPONENTS_MODEL_PATH), precision="float32"))
    sd = StreamingDenoiser(components="median", load_model=False)
    assert sd.denoiser is den and f"components_sha256={den.for_components().sha256[:16]})" in sd.group_processing
    path = str(tmp_path / "in.mseed")
    station.write(path, format="MSEED")
    for layout in ("mirror", "sds"):
        assert plan_denoise([path], str(tmp_path / layout), layout=layout,
                            components="median").func.denoiser.for_components().label == "components"
    # the pair travels to Dask workers: a process that receives the default receives its partner too
    other = _received("default-copy", den.sha256, DEFAULT_MODEL_PATH.read_bytes(), den.for_components())
    assert other.for_components() is den.for_components()


def test_the_command_runs_the_components_network_with_components_and_records_its_digest(station, tmp_path, capsys):
    from geokeras.cli import main
    from geokeras.denoise import Denoiser, denoise

    path = str(tmp_path / "in.mseed")
    station.write(path, format="MSEED", encoding="FLOAT32")
    assert main(["denoise", path, "-o", str(tmp_path / "out"), "--components", "median", "--no-progress",
                 "--precision", "float32"]) == 0
    den = Denoiser.resolve(None)
    assert (f"with model default (sha256 {den.sha256[:16]}), station groups with components (sha256 "
            f"{den.for_components().sha256[:16]})") in capsys.readouterr().out
    got = obspy.read(str(tmp_path / "out" / "in.mseed"))
    want = denoise(obspy.read(path), components="median", precision="float32")
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.data, b.data)
    with open(os.path.join(tmp_path, "out", "in.mseed.processing.json")) as f:
        entries = json.load(f)
    den = Denoiser.resolve(None)
    assert {(e["denoise"]["model"], e["denoise"]["components_model"]) for e in entries} == {("default", "components")}
    assert {e["denoise"]["components_sha256"] for e in entries} == {den.for_components().sha256}
    # resume: up to date with the same shipped pair
    assert main(["denoise", path, "-o", str(tmp_path / "out"), "--components", "median", "--quiet", "--resume",
                 "--precision", "float32"]) == 0
    with open(os.path.join(tmp_path, "out", "in.mseed.processing.json")) as f:
        assert json.load(f) == entries


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_components_network_is_sign_symmetric_under_the_median(station, precision):
    from geokeras.denoise import denoise

    negative = station.copy()
    negative[0].data = -negative[0].data  # one component negated: its output negated, the others unchanged
    out = denoise(station, components="median", precision=precision)
    out_neg = denoise(negative, components="median", precision=precision)
    np.testing.assert_array_equal(out_neg[0].data, -out[0].data)
    for a, b in zip(out[1:], out_neg[1:]):
        np.testing.assert_array_equal(a.data, b.data)


def test_no_model_loads_while_a_background_load_prepares(monkeypatch):
    """``geokeras denoise`` loads the default in a background thread after ``prepare()`` (importing TensorFlow) while
    it reads the first file; the station groups' network, loaded in the main thread, must wait for that import: two
    threads importing TensorFlow at once failed with a partially initialized module (a day file, ``--components
    median``)."""
    import time

    from geokeras.denoise import denoiser as module
    from geokeras.denoise.denoiser import Denoiser, peek_info

    events, load_bytes = [], module._load_bytes
    monkeypatch.setattr(module, "_load_bytes", lambda *a, **k: (events.append("load"), load_bytes(*a, **k))[1])
    data, cdata = DEFAULT_MODEL_PATH.read_bytes(), COMPONENTS_MODEL_PATH.read_bytes()
    den = Denoiser._lazy(data, "d", "0" * 64, peek_info(data))
    partner = den.components_denoiser = Denoiser._lazy(cdata, "c", "1" * 64, peek_info(cdata))
    den.load_in_background(prepare=lambda: (time.sleep(0.5), events.append("prepared")))
    partner.load()  # in this thread, at once: it waits for the prepare
    den.wait_loaded()
    assert events == ["prepared", "load", "load"]
    assert den._model is not None and partner._model is not None
