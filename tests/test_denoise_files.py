"""Denoising files (geokeras.denoise.files) here and on Dask (geokeras.denoise.executor, --workers/--scheduler):
two worker processes give the plain run's outputs; failures, killed workers, resume.

One LocalCluster (2 single-threaded worker processes) is shared by the module: starting one costs seconds.
"""
import dataclasses
import glob
import json
import os
import signal
import sys

import numpy as np
import obspy
import pytest

distributed = pytest.importorskip("distributed")

from geokeras import cli  # noqa: E402
from geokeras.denoise import Denoiser, DenoiseFile, denoise_files, plan_denoise, worker_model_loads  # noqa: E402
from geokeras.denoise import executor  # noqa: E402
from geokeras.errors import InputError  # noqa: E402
from geokeras.models.denoiser import build_denoiser  # noqa: E402

N_FILES = 4


def _inputs(folder):
    """Four 3-component records (ObsPy's example stream, scaled and shifted), the last with a gap."""
    paths = []
    for i in range(N_FILES):
        st = obspy.read()
        for tr in st:
            tr.data = np.roll(tr.data, 200 * i) * (i + 1)
        if i == N_FILES - 1:
            st = st.cutout(st[0].stats.starttime + 10, st[0].stats.starttime + 12)
        path = os.path.join(folder, f"day{i}.mseed")
        st.write(path, format="MSEED")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    model_path = str(root / "tiny.keras")
    build_denoiser("stftmask", window_length=300, filters=(4,)).save(model_path)
    inputs = _inputs(str(root))
    reference = str(root / "plain")
    summary = denoise_files(inputs, reference, model=model_path)
    assert summary.done == N_FILES
    return dict(root=root, model=model_path, inputs=inputs, reference=reference)


@pytest.fixture(scope="module")
def client():
    import logging

    from dask.distributed import Client

    from geokeras.distributed import local_cluster

    # this module's jobs must unpickle on the workers, which cannot import tests/
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = local_cluster(2, retries=3, silence_logs=logging.ERROR)
    with Client(cluster) as c:
        yield c
    cluster.close()


def _files(folder):
    return sorted(os.listdir(folder))


def _assert_same_outputs(folder, reference):
    assert _files(folder) == _files(reference)
    for name in _files(reference):
        a, b = os.path.join(folder, name), os.path.join(reference, name)
        if name.endswith(".processing.json"):
            with open(a) as fa, open(b) as fb:
                assert json.load(fa) == json.load(fb), name
            continue
        got, want = obspy.read(a), obspy.read(b)
        assert [(tr.id, tr.stats.starttime, tr.stats.npts, tr.stats.sampling_rate) for tr in got] == \
               [(tr.id, tr.stats.starttime, tr.stats.npts, tr.stats.sampling_rate) for tr in want]
        for g, w in zip(got, want):
            assert g.data.dtype == w.data.dtype == np.float32
            scale = float(np.abs(w.data).max())
            np.testing.assert_allclose(g.data, w.data, rtol=0, atol=1e-5 * scale)


def test_two_workers_write_the_plain_runs_outputs_and_load_the_model_once(data, client, tmp_path):
    out = str(tmp_path / "dask")
    summary = denoise_files(data["inputs"], out, model=data["model"], client=client)
    assert (summary.files, summary.done, summary.failed, summary.workers) == (N_FILES, N_FILES, 0, 2)
    assert summary.traces == 3 * N_FILES  # the gappy trace is one (masked) trace
    assert summary.windows > 0 and summary.seconds > 0
    _assert_same_outputs(out, data["reference"])
    # one model, loaded at most once in each worker process (not once per file)
    loads = client.run(worker_model_loads)
    assert len(loads) == 2 and all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1


def test_on_dask_the_workers_load_the_model_file_and_a_broken_one_fails_before_any_task(data, client, tmp_path):
    import zipfile

    from geokeras.errors import ModelError

    broken = tmp_path / "broken.keras"  # its config.json is a denoiser's, its weights are not weights
    with zipfile.ZipFile(data["model"]) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, b"not hdf5" if item.filename.endswith(".h5") else src.read(item))
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="the workers could not get ready, no file was run: .*file signature"):
        denoise_files(data["inputs"], str(out), model=str(broken), client=client)
    assert not out.exists() or not list(out.iterdir())  # nothing written
    assert Denoiser.resolve(str(broken))._model is None  # this process never loaded it: the workers did
    with pytest.raises(ModelError, match="cannot load the model"):  # in this process: before the first file
        denoise_files(data["inputs"], str(out), model=str(broken))
    assert not list(out.iterdir())


def test_a_failing_file_is_reported_and_the_others_are_written(data, client, tmp_path):
    import shutil

    (tmp_path / "in").mkdir()
    copies = [shutil.copy(p, tmp_path / "in") for p in data["inputs"]]  # one folder: outputs side by side
    bad = str(tmp_path / "in" / "broken.mseed")
    with open(bad, "wb") as f:
        f.write(b"not a waveform" * 100)
    inputs = copies[:2] + [bad] + copies[2:]
    out = str(tmp_path / "out")
    summary = denoise_files(inputs, out, model=data["model"], client=client)
    assert (summary.done, summary.failed) == (N_FILES, 1)
    [failure] = summary.failures
    assert failure.input == bad and "broken.mseed" in failure.errors[0] and failure.status == "failed"
    assert not os.path.exists(os.path.join(out, "broken.mseed"))
    _assert_same_outputs(out, data["reference"])


@dataclasses.dataclass(frozen=True)
class KillOnce(DenoiseFile):
    """Denoise, but the first time day1 is processed: half-write its output, then SIGKILL this worker."""

    marker: str = ""

    def __call__(self, job):
        if job.input.endswith("day1.mseed") and not os.path.exists(self.marker):
            from geokeras.utils import atomic_path

            open(self.marker, "w").close()
            with atomic_path(job.output + ".mseed") as tmp, open(tmp, "wb") as f:
                f.write(b"\0" * 4096)
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(job)


def test_a_killed_worker_has_its_file_retried_elsewhere_without_partial_output(data, client, tmp_path):
    marker = str(tmp_path / "killed")
    (tmp_path / "out").mkdir()
    plan = plan_denoise(data["inputs"], str(tmp_path / "out"), model=data["model"])
    fields = {f.name: getattr(plan.func, f.name) for f in dataclasses.fields(plan.func)}
    plan = dataclasses.replace(plan, func=KillOnce(**fields, marker=marker))
    with pytest.warns(UserWarning, match=r"removed .*\.day1\.mseed\.\d+\..*\.tmp\.mseed, left by an interrupted run"):
        summary = plan.run(client=client)
    assert os.path.exists(marker)  # the worker was killed once
    assert (summary.done, summary.failed) == (N_FILES, 0), summary.failures
    _assert_same_outputs(str(tmp_path / "out"), data["reference"])  # no half-written file, no leftover
    client.wait_for_workers(2, timeout=120)  # the nanny restarted the killed worker


def test_resume_after_a_finished_run_rewrites_nothing(data, client, tmp_path):
    out = str(tmp_path / "out")
    denoise_files(data["inputs"], out, model=data["model"])
    before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in _files(out)}
    summary = denoise_files(data["inputs"], out, model=data["model"], client=client, resume=True)
    assert (summary.up_to_date, summary.done) == (N_FILES, 0)
    assert {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in _files(out)} == before


def test_resume_with_nothing_to_do_starts_no_cluster_and_no_tensorflow(data, tmp_path):
    import subprocess

    out = str(tmp_path / "out")
    denoise_files(data["inputs"], out, model=data["model"])
    code = (
        "import sys\n"
        "from geokeras import cli\n"
        "from geokeras.denoise import executor\n"
        "def no_cluster(*a, **k):\n"
        "    raise AssertionError('a cluster was started')\n"
        "executor.local_cluster = no_cluster\n"
        f"rc = cli.main(['denoise', *{data['inputs']!r}, '-o', {out!r}, '--model', {data['model']!r}, "
        "'--workers', '2', '--resume', '--quiet'])\n"
        "print(rc, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "False", "False"], proc.stdout + proc.stderr


def test_resume_redoes_missing_stale_and_differently_made_outputs(data, tmp_path):
    out = str(tmp_path / "out")
    inputs = data["inputs"]
    denoise_files(inputs, out, model=data["model"])
    os.unlink(os.path.join(out, "day0.mseed"))  # interrupted before this file
    os.unlink(os.path.join(out, "day1.mseed.processing.json"))  # killed between the waveform and its sidecar
    os.utime(inputs[2])  # input changed after its output was written
    os.utime(os.path.join(out, "day2.mseed"), ns=(0, 0))
    summary = denoise_files(inputs, out, model=data["model"], resume=True)
    assert [r.status for r in summary.results] == ["done", "done", "done", "up_to_date"]
    _assert_same_outputs(out, data["reference"])
    # other options or another model: nothing is up to date
    assert denoise_files(inputs, out, model=data["model"], resume=True, overlap=0.25).done == N_FILES
    other = str(tmp_path / "other.keras")
    build_denoiser("stftmask", window_length=300, filters=(2,)).save(other)
    assert denoise_files(inputs, out, model=other, resume=True).done == N_FILES


def test_arguments_are_checked_before_any_work(data, tmp_path):
    func = DenoiseFile(Denoiser.resolve(data["model"]))
    with pytest.raises(ValueError, match=r"argument `workers`. Expected a strictly positive integer. Received workers=0"):
        executor.run_files([], func, workers=0)
    with pytest.raises(ValueError, match="Give `workers`"):
        executor.run_files([], func, workers=2, client="tcp://127.0.0.1:1")
    with pytest.raises(InputError, match="refusing to overwrite input file"):
        denoise_files(data["inputs"], os.path.dirname(data["inputs"][0]), model=data["model"], workers=2)


def test_an_in_memory_model_travels_to_the_workers_as_bytes(data, client, tmp_path):
    import keras

    keras.utils.set_random_seed(7)
    model = build_denoiser("stftmask", window_length=300, filters=(2,), name="in_memory")
    den = Denoiser.resolve(model)
    reduced = den.__reduce__()[1]
    assert reduced[0] == "in_memory" and reduced[2][:2] == b"PK"  # pickled as the bytes of a .keras file (a zip)
    here, there = str(tmp_path / "here"), str(tmp_path / "there")
    denoise_files(data["inputs"][:2], here, model=model)
    assert denoise_files(data["inputs"][:2], there, model=model, client=client).done == 2
    _assert_same_outputs(there, here)  # same samples and processing lines (label, weights' sha256)


def test_the_command_on_a_scheduler_and_on_its_own_local_cluster(data, client, tmp_path, capsys):
    out = str(tmp_path / "out")
    argv = ["denoise", *data["inputs"], "-o", out, "--model", data["model"]]
    assert cli.main(argv + ["--scheduler", client.scheduler.address]) == 0
    _assert_same_outputs(out, data["reference"])
    assert f"{N_FILES} of {N_FILES} file(s)" in capsys.readouterr().out
    before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in _files(out)}
    assert cli.main(argv + ["--scheduler", client.scheduler.address, "--resume"]) == 0
    assert capsys.readouterr().out.count("up to date (--resume)") == N_FILES
    assert {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in _files(out)} == before
    # its own LocalCluster (one process: cheaper to start); a broken file: reported, the others written, exit status 1
    import shutil

    (tmp_path / "in").mkdir()
    good = shutil.copy(data["inputs"][0], tmp_path / "in")
    bad = tmp_path / "in" / "broken.mseed"
    bad.write_bytes(b"not a waveform" * 100)
    own = str(tmp_path / "own")
    assert cli.main(["denoise", str(good), str(bad), "-o", own, "--model", data["model"], "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "error: " in err and "broken.mseed" in err
    assert _files(own) == ["day0.mseed", "day0.mseed.processing.json"]
    with pytest.raises(SystemExit):  # usage error: one or the other
        cli.main(argv + ["--workers", "2", "--scheduler", client.scheduler.address])


def test_resume_with_sac_outputs_checks_every_trace_file(data, tmp_path):
    out = tmp_path / "out"
    first = denoise_files(data["inputs"][:2], str(out), model=data["model"], format="SAC")
    assert first.done == 2 and len(list(out.glob("day0.*.sac"))) == 3  # one file per trace
    again = denoise_files(data["inputs"][:2], str(out), model=data["model"], format="SAC", resume=True)
    assert [r.status for r in again.results] == ["up_to_date", "up_to_date"]
    sorted(out.glob("day1.*.sac"))[1].unlink()  # interrupted between two traces of day1
    again = denoise_files(data["inputs"][:2], str(out), model=data["model"], format="SAC", resume=True)
    assert [r.status for r in again.results] == ["up_to_date", "done"]


def test_local_cluster_workers_are_single_threaded(client):
    # TensorFlow in each worker uses one thread: N workers use N cores (measured: 1.6 cores without the env)
    import os

    env = client.run(lambda: {k: os.environ.get(k) for k in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS")})
    assert len(env) == 2 and all(e == {"TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1"} for e in env.values())
    assert all(n == 1 for n in client.nthreads().values())


def test_resume_counts_files_with_repair_notes_and_noise_outputs(data, tmp_path):
    # a file whose traces carry repair notes ("; notes: merged overlaps") is still up to date
    st = obspy.read(data["inputs"][0])
    first = st[0].copy().trim(endtime=st[0].stats.starttime + 20)
    second = st[0].copy().trim(starttime=st[0].stats.starttime + 15)  # overlaps the first piece by 5 s
    overlapping = str(tmp_path / "overlap.mseed")
    obspy.Stream([first, second]).write(overlapping, format="MSEED")
    out = str(tmp_path / "out")
    denoise_files([overlapping], out, model=data["model"])
    with open(os.path.join(out, "overlap.mseed.processing.json")) as f:
        assert "; notes: " in json.load(f)[0]["processing"][-1]
    assert denoise_files([overlapping], out, model=data["model"], resume=True).up_to_date == 1
    # the noise estimate is an output too: missing, or from another run, means not up to date
    sac = str(tmp_path / "sac")
    denoise_files(data["inputs"][:1], sac, model=data["model"], format="SAC", write_noise=True)
    assert denoise_files(data["inputs"][:1], sac, model=data["model"], format="SAC", write_noise=True,
                         resume=True).up_to_date == 1
    os.unlink(sorted(glob.glob(os.path.join(sac, "day0.noise.*.sac")))[0])  # killed before this noise file
    assert denoise_files(data["inputs"][:1], sac, model=data["model"], format="SAC", write_noise=True,
                         resume=True).done == 1
    mseed = str(tmp_path / "mseed")
    denoise_files(data["inputs"][:1], mseed, model=data["model"], write_noise=True)
    other = str(tmp_path / "other.keras")
    build_denoiser("stftmask", window_length=300, filters=(2,)).save(other)
    denoise_files(data["inputs"][:1], mseed, model=other)  # another model, no noise file written
    assert denoise_files(data["inputs"][:1], mseed, model=other, write_noise=True, resume=True).done == 1


def test_serial_path_does_not_import_dask():
    import subprocess

    code = ("import sys, geokeras.denoise, geokeras.denoise_files, geokeras.cli.denoise; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
