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
    everything = ["in/h.slist", "deep/.RJOB..EHZ.sac"] + [f"deep/out/{n}" for n in _tree(str(out))]
    assert _tree(str(tmp_path)) == sorted(everything)  # nothing written outside OUTDIR
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


# -- 4 and 6. any amplitude: scale-invariant, and a trace the model cannot process is named and left out ----

@pytest.fixture(scope="module")
def denoiser(model_path):
    from geokeras.denoise import Denoiser

    return Denoiser.resolve(model_path)


def test_records_of_any_amplitude_are_denoised_scale_invariantly(denoiser):
    from geokeras.denoise import denoise

    st = _float_stream()
    ref = denoise(st, model=denoiser)
    scaled = st.copy()
    scaled[0].data = scaled[0].data * np.float32(2.0 ** 100)  # peak ~1e33: float32 squares overflow
    scaled[1].data = scaled[1].data * np.float32(2.0 ** -80)  # peak ~1e-21: float32 squares underflow
    out = denoise(scaled, model=denoiser)
    assert np.abs(out[1].data).max() > 0  # never silent zeros
    for k, (a, b) in zip((100, -80, 0), zip(out, ref)):
        np.testing.assert_array_equal(a.data, b.data * np.float32(2.0 ** k))  # exactly: powers of two


def test_a_trace_whose_output_is_not_finite_is_named_and_left_out_and_its_neighbours_kept():
    from geokeras.data.process import apply_to_stream
    from geokeras.errors import TraceError

    def fn(batch):  # a model that overflows on large windows
        return np.where(np.abs(batch).max(axis=1, keepdims=True) > 1e20, np.inf, batch)

    st = _float_stream()
    st[1].data = st[1].data * np.float32(1e25)
    out, report = apply_to_stream(st, fn, 300, 100.0, detrend=True, on_error="skip", return_report=True)
    assert [tr.id for tr in out] == ["BW.RJOB..EHZ", "BW.RJOB..EHE"]
    [err] = report.skipped
    assert isinstance(err, TraceError) and err.trace_id == "BW.RJOB..EHN" and "NaN or inf" in str(err)
    with pytest.raises(TraceError, match=r"Invalid trace BW\.RJOB\.\.EHN: the model's output holds NaN or inf"):
        apply_to_stream(st, fn, 300, 100.0)


def test_a_file_with_huge_traces_keeps_its_good_traces(model_path, tmp_path):
    st = _float_stream()
    st[1].data = (st[1].data / np.abs(st[1].data).max() * np.float32(3.3e38)).astype(np.float32)  # ~float32 max
    st[2].data = st[2].data * np.float32(1e30)
    st.write(str(tmp_path / "x.mseed"), format="MSEED")
    summary = denoise_files(str(tmp_path / "x.mseed"), str(tmp_path / "out"), model=model_path)
    [result] = summary.results
    assert result.status == "done"
    assert {"BW.RJOB..EHZ", "BW.RJOB..EHE"} <= set(result.ids)  # 1e30: denoised like any record
    if "BW.RJOB..EHN" not in result.ids:  # beyond float32 after the model: named, not silently lost
        assert any("BW.RJOB..EHN" in e for e in result.errors)
    back = obspy.read(str(tmp_path / "out" / "x.mseed"))
    assert all(np.isfinite(tr.data).all() and np.abs(tr.data).max() > 0 for tr in back)


def test_the_tiny_amplitude_record_of_the_issue_is_not_erased(denoiser):
    from geokeras.denoise import denoise

    tr = _float_stream()[0]
    tr.data = (tr.data / np.abs(tr.data).max() * np.float32(1e-20)).astype(np.float32)
    out = denoise(tr, model=denoiser)
    assert 1e-22 < np.abs(out.data).max() <= 1.1e-20


# -- 5. internal errors become reasons ------------------------------------------------------------------------

def test_a_header_npts_larger_than_the_data_is_a_one_line_reason_naming_the_trace(model_path, tmp_path):
    path = os.path.join(OBSPY_IO, "ascii", "tests", "data", "mseed2ascii_miniseed_record.txt")
    summary = denoise_files(path, str(tmp_path / "out"), model=model_path)
    [result] = summary.results
    assert result.status == "failed" and len(result.errors) == 1
    assert result.errors[0] == ("Invalid trace CI.AGO..HNZ: its header says 360671 samples but it holds 422 (a "
                                "truncated or inconsistent file).")


def test_an_encoding_obspy_cannot_write_falls_back_with_a_note(model_path, tmp_path):
    from geokeras.data import io

    path = os.path.join(OBSPY_IO, "mseed", "tests", "data", "CDSN_encoding.mseed")
    summary = denoise_files(path, str(tmp_path / "out"), model=model_path)
    [result] = summary.results
    assert result.status == "done" and not result.errors, result.errors
    assert any("encoding 'CDSN' cannot be written" in n for n in result.notes), result.notes
    assert obspy.read(str(tmp_path / "out" / "CDSN_encoding.mseed"))[0].id == "CD.BJI..BHE"
    with pytest.warns(UserWarning, match=r"CD\.BJI\.\.BHE: MiniSEED encoding 'CDSN' cannot be written by ObsPy"):
        written = io.write(obspy.read(path), str(tmp_path / "raw.mseed"))  # int32 samples kept
    np.testing.assert_array_equal(obspy.read(written)[0].data, obspy.read(path)[0].data)


@pytest.mark.parametrize("fmt", ["MSEED", "SAC"])
def test_ids_too_long_for_any_format_give_one_line_without_pointing_to_the_same_format(fmt):
    from geokeras.data import io
    from geokeras.errors import FormatError

    st = _float_stream()[:1]
    st[0].stats.station = "KW1-REFTEK-0001"  # 15 characters: neither MiniSEED (5) nor SAC (8)
    with pytest.raises(FormatError) as err:
        io.check_ids(st, fmt)
    text = str(err.value)
    assert text.startswith(f"{fmt} cannot hold the trace id 'BW.KW1-REFTEK-0001..EHZ'") and "\n" not in text
    assert "format='SAC'" not in text and "No format geokeras writes holds codes this long" in text
    st[0].stats.station = "ABCDEF"  # 6: too long for MiniSEED only
    if fmt == "MSEED":
        with pytest.raises(FormatError, match=r"format='SAC'"):
            io.check_ids(st, fmt)
    else:
        io.check_ids(st, fmt)


# -- 10. smaller: notes once, -q, train --help, no colour codes, a quiet Python API ----------------------------

def test_a_repair_note_is_printed_once_and_quiet_sends_it_to_stderr(model_path, tmp_path, capsys):
    st = _float_stream()[:1]
    tr = st[0]
    overlapping = obspy.Stream([tr.slice(endtime=tr.stats.starttime + 20), tr.slice(tr.stats.starttime + 15)])
    overlapping.write(str(tmp_path / "ov.mseed"), format="MSEED")
    for flags in ([], ["-q"], ["--quiet"]):
        out = str(tmp_path / f"out{len(flags)}{''.join(flags)}")
        assert cli.main(["denoise", str(tmp_path / "ov.mseed"), "-o", out, "--model", model_path] + flags) == 0
        cap = capsys.readouterr()
        assert (cap.out + cap.err).count("1 overlap(s) (501 samples) merged") == 1, (cap.out, cap.err)
        assert (cap.out == "") == bool(flags)


# -- 7. disk full: one line per file -----------------------------------------------------------------------------

def test_a_full_disk_gives_one_line_per_file_and_no_partial_file(model_path, tmp_path, monkeypatch, capfd):
    import builtins
    import errno

    real_open = builtins.open

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def full_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return Full(f) if "w" in mode and ".tmp" in os.fspath(file) else f

    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        _float_stream().write(str(tmp_path / "in" / f"{name}.mseed"), format="MSEED")
    out = tmp_path / "out"
    monkeypatch.setattr(builtins, "open", full_open)
    summary = denoise_files(str(tmp_path / "in"), str(out), model=model_path)
    monkeypatch.undo()
    assert summary.failed == 2
    assert [r.errors for r in summary.results] == [("OSError: [Errno 28] No space left on device",)] * 2
    assert "Exception ignored" not in capfd.readouterr().err
    assert os.listdir(out) == []


# -- 8. a scheduler that is not one; a local cluster without a dashboard -----------------------------------------

@pytest.fixture
def not_a_scheduler():
    """A TCP server that answers every connection with HTTP (what a dashboard or a web server says)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)
                stop.wait(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


def test_a_non_dask_endpoint_as_scheduler_is_one_line(model_path, tmp_path, capsys, not_a_scheduler):
    pytest.importorskip("distributed")
    from geokeras.errors import SchedulerError

    (tmp_path / "in").mkdir()
    _float_stream().write(str(tmp_path / "in" / "x.mseed"), format="MSEED")
    with pytest.raises(SchedulerError, match=r"cannot use the Dask scheduler at 'tcp://127\.0\.0\.1:\d+': what "
                                             r"answered there does not speak the Dask protocol"):
        denoise_files(str(tmp_path / "in"), str(tmp_path / "out"), model=model_path, client=not_a_scheduler)
    status = cli.main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--model", model_path,
                       "--scheduler", not_a_scheduler])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1 and "does not speak the Dask protocol" in err[0], err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "o3"), "--scheduler", "http://127.0.0.1:8787"])
    assert exit_.value.code == 2 and "scheme 'http' is not a Dask protocol" in capsys.readouterr().err


def test_the_local_cluster_opens_no_dashboard_and_keeps_its_retries():
    pytest.importorskip("distributed")
    from geokeras.denoise.executor import local_cluster

    cluster = local_cluster(1, retries=2)
    try:
        scheduler = cluster.scheduler
        bound = [s.getsockname()[:2] for s in scheduler.http_server._sockets.values()]
        assert bound and all(host == "127.0.0.1" and port != 8787 for host, port in bound), bound
        assert scheduler.http_application.applications == []  # no Bokeh dashboard
        assert scheduler.allowed_failures == 2  # the retries reach the scheduler ...
    finally:
        cluster.close()


# -- 9. failure paths of the executor --------------------------------------------------------------------------

class _Job:
    def __call__(self, job):
        return {"traces": 1}


def test_a_file_whose_worker_dies_on_every_attempt_is_reported_failed(monkeypatch):
    distributed = pytest.importorskip("distributed")
    import dask.distributed

    from geokeras.denoise.executor import FileJob, run_files

    class Dead:  # the future of a task whose every worker died: the scheduler gave up
        def result(self):
            import types

            raise distributed.KilledWorker("geokeras-task", types.SimpleNamespace(address="tcp://127.0.0.1:1"), 3)

        def release(self):
            pass

    class Client:
        def register_plugin(self, plugin):
            pass

        def scheduler_info(self, n_workers=-1):
            return {"workers": {"tcp://127.0.0.1:1": {}}}

        def scatter(self, objects, broadcast=True, hash=False):
            return list(objects)

        def submit(self, *args, **kwargs):
            return Dead()

    monkeypatch.setattr(dask.distributed, "as_completed", lambda futures: list(futures))
    summary = run_files([FileJob("a.mseed", "out/a")], _Job(), client=Client())
    [result] = summary.results
    assert (result.status, result.error_types, summary.done, summary.failed) == ("failed", ("KilledWorker",), 0, 1)
    assert result.errors == ("its worker process died on each of 4 attempts (killed, or out of memory?)",)


def test_the_cluster_started_here_retries_a_dead_workers_task(monkeypatch, model_path, tmp_path):
    pytest.importorskip("distributed")
    from geokeras.denoise import executor

    asked = []

    def fake_cluster(n_workers, retries=None, silence_logs=None, **kwargs):
        asked.append(retries)
        raise RuntimeError("stop here")

    monkeypatch.setattr(executor, "local_cluster", fake_cluster)
    with pytest.raises(RuntimeError, match="stop here"):
        executor.run_files([executor.FileJob("a", "out/a")], _Job(), workers=1)
    _float_stream().write(str(tmp_path / "x.mseed"), format="MSEED")
    assert cli.main(["denoise", str(tmp_path / "x.mseed"), "-o", str(tmp_path / "out"), "--model", model_path,
                     "--workers", "1"]) == 1
    assert asked == [3, 3]  # the documented default reaches the cluster, from the API and the command


def test_train_help_explains_every_option_with_its_default(capsys):
    import re

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    options = text.split("options:")[1]
    entries = re.split(r"\n  (?=-)", options)[1:]
    bare = [e.split()[0] for e in entries if len(e.split("\n")[0].split("  ")) < 2 and len(e.split("\n")) < 2]
    assert bare == [], bare  # every option has a help text
    from geokeras.training.recipe import SHIPPED_RECIPE as R  # the command's defaults are the shipped recipe

    for flag, key in (("--epochs", "epochs"), ("--seed", "seed"), ("--patience", "patience"), ("--family", "family"),
                      ("--learning-rate", "learning_rate"), ("--inband-fraction", "inband_fraction"),
                      ("--noise-only-fraction", "noise_only_fraction"), ("--validation-steps", "validation_steps")):
        default = R[key]
        [entry] = [e for e in entries if e.split()[0].rstrip(",") == flag or f" {flag} " in e.split("\n")[0] + " "]
        assert f"(default: {default})" in " ".join(entry.split()), entry


def test_keras_progress_bar_only_on_a_terminal(tmp_path, capsys):
    from geokeras.cli import build_parser
    from geokeras.cli.train import train_kwargs

    args = build_parser().parse_args(["train", "-o", str(tmp_path / "m.keras")])
    assert train_kwargs(args)["verbose"] == 2  # stderr is captured here: one plain line per epoch, no ANSI
    assert train_kwargs(build_parser().parse_args(["train", "-o", str(tmp_path / "m.keras"), "-q"]))["verbose"] == 0


def test_the_python_api_keeps_tensorflows_start_up_lines_off_stderr(tmp_path, monkeypatch, capfd):
    import subprocess
    import sys

    from geokeras.utils import _QuietImport

    # import geokeras sets up the quiet first import of TensorFlow, unless the user chose a log level
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = ("import os, sys, geokeras; print(os.environ['TF_CPP_MIN_LOG_LEVEL'], "
            "[f.name for f in sys.meta_path if type(f).__name__ == '_QuietImport'])")
    for level, expected in ((None, "3 ['tensorflow']"), ("1", "1 []")):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=env if level is None else dict(env, TF_CPP_MIN_LOG_LEVEL=level))
        assert run.stdout.strip() == expected and run.stderr == ""
    # what that import prints on file descriptor 2 (as TensorFlow's C++ does) is not shown
    (tmp_path / "noisy_native.py").write_text("import os\nos.write(2, b'I0000 oneDNN custom operations are on\\n')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [_QuietImport("noisy_native")] + sys.meta_path)
    import noisy_native  # noqa: F401

    assert capfd.readouterr().err == "" and not any(isinstance(f, _QuietImport) for f in sys.meta_path)
