"""Package-level checks: the TensorFlow backend is enforced; the package data an installed wheel needs."""
import configparser
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _run(code, **env):
    import os

    full_env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)


def test_other_backend_is_refused_with_clear_message():
    res = _run("import geokeras", KERAS_BACKEND="jax")
    assert res.returncode == 1, res.stderr
    assert res.stderr.rstrip().splitlines()[-1] == (
        "ImportError: geokeras needs the TensorFlow backend of Keras. Received KERAS_BACKEND='jax'; "
        "unset it or set KERAS_BACKEND=tensorflow."
    )


def test_default_backend_is_tensorflow():
    res = _run("import geokeras, keras; print(keras.backend.backend())")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("tensorflow")


def test_version_is_exposed():
    import geokeras

    assert geokeras.__version__.count(".") == 2


def test_atomic_path_leaves_nothing_on_failure_and_normal_permissions(tmp_path):
    import os
    import stat

    from geokeras.utils import atomic_path

    target = tmp_path / "out.mseed"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="^disk full$"):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.mseed"]

    with atomic_path(target) as tmp:
        assert tmp.endswith(".mseed") and os.path.dirname(tmp) == str(tmp_path)
        with open(tmp, "w") as f:
            f.write("new")
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~mask


# ------------------------------------------------------------------ works from a wheel: the package data
REPO = Path(__file__).resolve().parents[1]


def _package_data_script():
    spec = importlib.util.spec_from_file_location("package_data", REPO / "datasets" / "package_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _index_files(dataset):
    from geokeras.data import datasets

    with open(datasets.REPOSITORY_DATASETS / dataset / "index.csv") as f:
        return [line.split(",")[0] for line in f.read().splitlines()[1:]]


def test_packaged_datasets_are_exactly_the_generated_copy():
    """A stale, extra, missing or edited file in geokeras/data/bundled-datasets fails (rerun package_data.py)."""
    from geokeras.data import datasets

    script = _package_data_script()
    expected = script.plan()
    assert script.TARGET == datasets.PACKAGED_DATASETS
    assert script.differences(expected) == []
    events = datasets.load_events(stations=datasets.TEST_STATIONS)  # read from the repository's datasets/
    assert {r.station_id for r in events} == set(datasets.TEST_STATIONS)
    assert sorted(k for k in expected if k.endswith(".mseed")) == sorted(
        [f"{r.path.parent.name}/{r.path.name}" for r in events] + [f"ncedc-noisy/{name}" for name in
                                                                   _index_files("ncedc-noisy")]
    )


def test_setup_cfg_package_data_matches_the_files():
    """Every package_data pattern matches a file, and every data file of the package is matched by one."""
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    patterns = [p.strip() for p in parser["options.package_data"]["geokeras"].split(",")]
    root = REPO / "geokeras"
    matched = set()
    for pattern in patterns:
        files = {p for p in root.glob(pattern) if p.is_file()}
        assert files, f"package_data pattern {pattern!r} matches no file"
        matched |= files
    data = {p for p in root.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert sorted(str(p.relative_to(root)) for p in data - matched) == []


def _installed_layout(monkeypatch, tmp_path):
    """The package as installed from a wheel: no repository datasets/ folder, no GEOKERAS_DATASETS."""
    from geokeras.data import datasets

    monkeypatch.delenv("GEOKERAS_DATASETS", raising=False)
    monkeypatch.setattr(datasets, "REPOSITORY_DATASETS", tmp_path / "no-repository" / "datasets")
    return datasets


def test_installed_package_reads_test_stations_and_noisy_records_from_the_package(monkeypatch, tmp_path):
    from geokeras.evaluate import heldout_sources

    monkeypatch.delenv("GEOKERAS_DATASETS", raising=False)
    from_repository = heldout_sources()  # the default records of `geokeras evaluate`
    datasets = _installed_layout(monkeypatch, tmp_path)
    assert datasets.datasets_dir() == datasets.PACKAGED_DATASETS
    events = datasets.load_events(stations=datasets.TEST_STATIONS)
    assert len(events) == 52 and {r.station_id for r in events} == set(datasets.TEST_STATIONS)
    assert all(r.path.is_relative_to(datasets.PACKAGED_DATASETS) for r in events)
    assert len(datasets.load_noisy()) == 82
    from_package = heldout_sources()
    for got, want in zip(from_package, from_repository):  # signals, then noises: the same arrays
        assert len(got) == len(want) > 0
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_installed_package_names_the_records_it_does_not_ship(monkeypatch, tmp_path):
    datasets = _installed_layout(monkeypatch, tmp_path)
    folder = datasets.PACKAGED_DATASETS / "ncedc-events"
    with pytest.raises(FileNotFoundError) as err:
        datasets.load_events(sets=["ncedc-events"])  # training needs the train stations too
    assert str(err.value) == (
        f"58 of the 73 requested records of dataset 'ncedc-events' are missing from {str(folder)!r}: "
        "AZ_KNW_2012080816512091.mseed, BK_BDM_2014121812320543.mseed, BK_BDM_2016090306015235.mseed and 55 more. "
        "An installed geokeras ships only the records that `geokeras evaluate` and the demo use. To use the "
        "others (for example to train on the bundled data), get the repository's datasets/ folder and set "
        "GEOKERAS_DATASETS to it."
    )


def test_geokeras_datasets_variable_is_checked(monkeypatch, tmp_path):
    from geokeras.data import datasets

    monkeypatch.setenv("GEOKERAS_DATASETS", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        datasets.datasets_dir()
    assert str(err.value) == (
        f"Bundled datasets not found in {str(tmp_path)!r}. Set GEOKERAS_DATASETS to the repository's datasets/ folder."
    )
    (tmp_path / "ncedc-events").mkdir()
    (tmp_path / "ncedc-events" / "index.csv").write_text("file,network,station,p_time\nX_Y_1.mseed,X,Y,2020-01-01\n")
    with pytest.raises(FileNotFoundError, match=r"^1 of the 1 requested records of dataset 'ncedc-events' are "
                                                r"missing from .*: X_Y_1\.mseed\. Restore them, or point "
                                                r"GEOKERAS_DATASETS to a complete copy"):
        datasets.load_events(sets=["ncedc-events"])


def test_the_suite_refuses_connections_to_other_machines():
    import socket

    with pytest.raises(OSError, match="tests do not use the network"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never a real host
