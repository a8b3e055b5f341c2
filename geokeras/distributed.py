"""Run one job per file (denoise a station-day, ...) in this process or on a Dask cluster.

`run_files` is the executor behind ``geokeras denoise --workers N / --scheduler ADDRESS``:

- ``workers=None`` and ``client=None``: the jobs run one after the other in this process (no Dask);
- ``workers=N``: a ``dask.distributed.LocalCluster`` of N single-threaded worker processes is started
  for the run and closed after it (each worker limits TensorFlow to its one thread);
- ``client=``: a ``dask.distributed.Client``, or the address of a running scheduler
  (``"tcp://host:8786"``), e.g. one started by dask-jobqueue on SLURM or by dask-kubernetes.

One task per file. A job that raises is reported in its `FileResult` (the others go on); a worker that
dies (killed, out of memory) has its task started again on another worker by the scheduler, up to
``retries`` times for a cluster started here (``distributed.scheduler.allowed-failures``; an external
scheduler uses its own setting); outputs are written atomically, so a killed worker leaves no partial
file. With ``resume=True`` the jobs whose ``func.is_done(job)`` is true are skipped without running.

`DenoiseFiles` is the per-file job of ``geokeras denoise``: read, `geokeras.denoise.denoise`, write
(`geokeras.data.io.write`, with its ``.processing.json`` sidecar). Its model is resolved once on the
calling side (`ModelRef`) and loaded at most once per worker process.

Example (in this process; ``workers=2`` gives the same outputs from two worker processes):
    >>> import os, tempfile, obspy
    >>> from geokeras.models.denoiser import build_denoiser
    >>> d = tempfile.mkdtemp()
    >>> obspy.read().write(os.path.join(d, "ev.mseed"), format="MSEED")
    >>> model = build_denoiser("stftmask", window_length=300, filters=(4,))
    >>> summary = denoise_files([os.path.join(d, "ev.mseed")], os.path.join(d, "out"), model=model)
    >>> summary.done, summary.failed, summary.traces, sorted(os.listdir(os.path.join(d, "out")))
    (1, 0, 3, ['ev.mseed', 'ev.mseed.processing.json'])
    >>> denoise_files([os.path.join(d, "ev.mseed")], os.path.join(d, "out"), model=model, resume=True).skipped
    1
"""
import collections
import dataclasses
import glob
import json
import os
import re
import sys
import threading
import time
import traceback

import numpy as np

__all__ = ["FileJob", "FileResult", "RunSummary", "ModelRef", "DenoiseFiles", "WorkerSetup", "run_files",
           "denoise_files", "worker_model_loads"]

FileJob = collections.namedtuple("FileJob", "input output")
FileJob.__doc__ = "One file to process: ``input`` path and ``output`` (the waveform file written)."


@dataclasses.dataclass(frozen=True)
class FileResult:
    """What happened to one input file: ``status`` is ``"done"``, ``"skipped"`` (resume) or ``"failed"``.

    ``stages`` holds ``(name, seconds)`` pairs of the job's steps (`DenoiseFiles`: read, denoise, write);
    ``cpu_seconds`` is the CPU time of the process that ran it (all its threads) during the job.
    """

    input: str
    status: str
    outputs: tuple = ()
    traces: int = 0
    windows: int = 0
    seconds: float = 0.0
    notes: tuple = ()
    error: str = ""
    stages: tuple = ()
    cpu_seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The results of a `run_files` call, in job order, with its wall time and number of workers."""

    results: tuple
    seconds: float
    workers: int

    def _count(self, status):
        return sum(r.status == status for r in self.results)

    files = property(lambda self: len(self.results), doc="number of jobs")
    done = property(lambda self: self._count("done"), doc="jobs run to the end")
    skipped = property(lambda self: self._count("skipped"), doc="jobs skipped by ``resume``")
    failed = property(lambda self: self._count("failed"), doc="jobs that raised or whose worker kept dying")
    traces = property(lambda self: sum(r.traces for r in self.results), doc="output traces written")
    windows = property(lambda self: sum(r.windows for r in self.results), doc="model windows (see `DenoiseFiles`)")
    failures = property(lambda self: [r for r in self.results if r.status == "failed"], doc="the failed results")

    def __str__(self):
        where = f"{self.workers} worker(s)" if self.workers else "this process"
        return (f"{self.files} file(s): {self.done} done, {self.skipped} skipped (up to date), {self.failed} failed; "
                f"{self.traces} traces, {self.windows} windows in {self.seconds:.1f} s on {where}")


def _one_line(exc):
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_job(func, job):
    """Run ``func(job)`` and return its `FileResult`; an exception becomes a ``"failed"`` result.

    ``func`` returns a dict with ``outputs``, ``traces``, ``windows``, ``notes`` and ``stages`` (all optional).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        out = func(job) or {}
    except Exception as exc:  # noqa: BLE001 - reported per file; the run goes on
        return FileResult(str(job.input), "failed", seconds=time.perf_counter() - t0, error=_one_line(exc),
                          notes=(traceback.format_exc(),), cpu_seconds=time.process_time() - c0)
    return FileResult(str(job.input), "done", outputs=tuple(out.get("outputs", ())), traces=int(out.get("traces", 0)),
                      windows=int(out.get("windows", 0)), seconds=time.perf_counter() - t0,
                      notes=tuple(out.get("notes", ())), stages=tuple(out.get("stages", ())),
                      cpu_seconds=time.process_time() - c0)


def _cluster_client(workers, retries):
    import logging

    import dask
    from dask.distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": int(retries)}):
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL)  # worker deaths and errors are in the results
    return Client(cluster), cluster


def run_files(jobs, func, client=None, workers=None, retries=3, resume=False, progress=False):
    """Run ``func`` on every job, one task per job, and return a `RunSummary`.

    Args:
        jobs: `FileJob` s (or any objects with an ``input`` attribute), in the order results are returned.
        func: a picklable callable ``func(job) -> dict`` (see `run_job`); with ``resume=True`` it also needs
            ``func.is_done(job) -> bool``.
        client: a ``dask.distributed.Client`` or a scheduler address; None for ``workers``.
        workers: start a ``LocalCluster`` of this many single-threaded worker processes for the run;
            None (with ``client=None``) runs the jobs here, one after the other.
        retries: how many times a task whose worker died is started again (cluster started here only).
        resume: skip the jobs for which ``func.is_done(job)`` is true (checked here, before any work).
        progress: a tqdm bar over files on stderr.

    Returns:
        `RunSummary`. Failed jobs are in ``summary.failures`` with their one-line error.

    Raises:
        ValueError: ``workers`` and ``client`` both given, or ``workers`` not a positive integer.
    """
    from tqdm.auto import tqdm

    from geokeras._checks import check_positive_int

    if workers is not None:
        check_positive_int("workers", workers)
        if client is not None:
            raise ValueError("Invalid arguments. Give `workers` (start a local cluster) or `client` (use a running "
                             f"one), not both. Received workers={workers!r} and client={client!r}.")
    retries = int(check_positive_int("retries", retries + 1)) - 1  # 0 allowed
    jobs = list(jobs)
    t0 = time.perf_counter()
    results = [None] * len(jobs)
    for i, job in enumerate(jobs):
        if resume and func.is_done(job):
            results[i] = FileResult(str(job.input), "skipped")
    todo = [i for i, r in enumerate(results) if r is None]
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="files", unit="file", file=sys.stderr,
               disable=not progress)
    n_workers = 0
    try:
        if client is None and workers is None:
            for i in todo:
                results[i] = run_job(func, jobs[i])
                bar.update(1)
        elif todo:
            n_workers = _run_dask(jobs, todo, func, results, client, workers, retries, bar)
    finally:
        bar.close()
    return RunSummary(tuple(results), time.perf_counter() - t0, n_workers)


def _run_dask(jobs, todo, func, results, client, workers, retries, bar):
    from dask.distributed import Client, as_completed

    owned = []
    if client is None:
        client, cluster = _cluster_client(workers, retries)
        owned = [client, cluster]
    elif isinstance(client, str):
        client = Client(client)
        owned = [client]
    try:
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"]) if not owned or workers is None else workers
        client.register_plugin(WorkerSetup())
        [shared] = client.scatter([func], broadcast=True, hash=False)  # sent once, not once per task
        futures = {client.submit(run_job, shared, jobs[i], pure=False, key=f"geokeras-file-{i}-{os.getpid()}-"
                                 f"{time.monotonic_ns()}"): i for i in todo}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker (died `retries` times), lost scheduler...
                results[i] = FileResult(str(jobs[i].input), "failed", error=_one_line(exc))
            bar.update(1)
            fut.release()
        return n_workers
    finally:
        for obj in owned:
            obj.close()


# ------------------------------------------------------------------------------------------ the model
_WORKER_MODELS = {}
_WORKER_LOCK = threading.Lock()
_LOADS = [0]


def worker_model_loads():
    """How many models this process has loaded through `ModelRef.get` (one per model per worker process)."""
    return _LOADS[0]


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """A denoiser model resolved once on the calling side, loaded at most once per worker process.

    ``source`` is what `geokeras.denoise.denoise` is given on the worker: None (the default model) or a
    model file path (the workers must see the same file: shared filesystem); an in-memory ``keras.Model``
    travels as the bytes of its ``.keras`` file (``data``). ``sha256`` is `geokeras.denoise.resolve_model`'s
    digest: a worker that finds another model at ``source`` refuses to run.
    """

    source: object
    label: str
    sha256: str
    sampling_rate: float
    window_length: int
    data: bytes = None

    @classmethod
    def resolve(cls, model=None):
        """Resolve a ``denoise`` ``model`` argument (None, a path or a ``keras.Model``) into a `ModelRef`."""
        import tempfile

        from geokeras.denoise import resolve_model
        from geokeras.models.denoiser import denoiser_info

        keras_model, label, digest = resolve_model(model)
        info = denoiser_info(keras_model)
        known = (label, digest, float(info["sampling_rate"]), int(info["window_length"]))
        if model is None or isinstance(model, (str, os.PathLike)):
            return cls(None if model is None else os.path.abspath(os.fspath(model)), *known)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            keras_model.save(path)
            with open(path, "rb") as f:
                return cls(None, *known, data=f.read())

    def get(self):
        """The ``model`` argument for `geokeras.denoise.denoise` in this process (loaded on first use)."""
        key = (self.source, self.sha256)
        with _WORKER_LOCK:
            if key not in _WORKER_MODELS:
                _WORKER_MODELS[key] = self._load()
                _LOADS[0] += 1
            return _WORKER_MODELS[key]

    def _load(self):
        import tempfile

        from geokeras.denoise import resolve_model
        from geokeras.saving import load_model

        if self.data is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.keras")
                with open(path, "wb") as f:
                    f.write(self.data)
                value = load_model(path)
        else:
            value = self.source
        _, label, digest = resolve_model(value)
        if (label, digest) != (self.label, self.sha256):
            raise ValueError(f"The model changed since the run started: {self.source or 'the default model'} "
                             f"has sha256 {digest[:16]}, the run uses {self.sha256[:16]}.")
        return value


try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # dask is optional: only the Dask path needs it
    _WorkerPlugin = object


class WorkerSetup(_WorkerPlugin):
    """Dask worker plugin: limit TensorFlow to the worker's threads and import Keras before any task runs.

    Registered by `run_files` on every worker of the cluster (also on workers that join or restart later).
    Importing Keras here, in the worker's main thread, matters: Dask's serializers import Keras lazily in
    that thread when a message holds a Keras object, and two threads importing TensorFlow at once can
    deadlock (``_DeadlockError`` on a ``tensorflow.python`` module).
    """

    name = "geokeras-worker-setup"

    def setup(self, worker):
        from geokeras.train import set_threads

        set_threads(worker.state.nthreads)
        import geokeras.denoise  # noqa: F401 - imports Keras and TensorFlow


# ------------------------------------------------------------------------------------------ the job
_CALL = re.compile(r"denoise\((.*)\)\s*$")


def denoise_options(line):
    """The ``key=value`` options of a ``denoise(...)`` processing line, as a dict of strings ({} if none).

    Example:
        >>> denoise_options("geokeras 0.1.0: denoise(model=default, sha256=ab12, overlap=0.5)")
        {'model': 'default', 'sha256': 'ab12', 'overlap': '0.5'}
    """
    m = _CALL.search(line)
    if not m:
        return {}
    return dict(item.strip().split("=", 1) for item in m.group(1).split(",") if "=" in item)


@dataclasses.dataclass(frozen=True)
class DenoiseFiles:
    """The per-file job of ``geokeras denoise``: read ``job.input``, denoise, write ``job.output`` (MiniSEED).

    Args:
        model: a `ModelRef`.
        overlap, batch_size: as in `geokeras.denoise.denoise`.
        plot: also write ``<output without extension>.png`` (`geokeras.plotting.plot_denoising`).

    The result's ``windows`` is the number of model windows of the output traces (gaps not subtracted).
    """

    model: ModelRef
    overlap: float = 0.5
    batch_size: int = 256
    plot: bool = False

    def outputs(self, job):
        """The files written for ``job``."""
        return [job.output] + ([os.path.splitext(job.output)[0] + ".png"] if self.plot else [])

    def __call__(self, job):
        from geokeras.data import io
        from geokeras.data.windows import window_starts
        from geokeras.denoise import denoise

        model = self.model.get()
        _remove_leftovers(self.outputs(job))
        t = [time.perf_counter()]
        stream = io.read(job.input)
        t.append(time.perf_counter())
        cleaned, notes = denoise(stream, model=model, overlap=self.overlap, batch_size=self.batch_size,
                                 return_report=True)
        t.append(time.perf_counter())
        written = [io.write(cleaned, job.output, format="MSEED")]
        if self.plot:
            from geokeras.plotting import plot_denoising

            written.append(plot_denoising(stream, cleaned, self.outputs(job)[1]))
        t.append(time.perf_counter())
        ref = self.model
        windows = sum(len(window_starts(max(1, round(tr.stats.npts * ref.sampling_rate / tr.stats.sampling_rate)),
                                        ref.window_length, self.overlap)) for tr in cleaned)
        stages = tuple(zip(("read", "denoise", "write"), np.diff(t).tolist()))
        return dict(outputs=written, traces=len(cleaned), windows=windows, notes=notes, stages=stages)

    def is_done(self, job):
        """True when every output exists, is newer than the input, and (waveforms) its sidecar records this
        model's sha256 and this overlap for every trace."""
        from geokeras.data.io import SIDECAR_SUFFIX

        try:
            since = os.stat(job.input).st_mtime_ns
            if any(os.stat(p).st_mtime_ns < since for p in self.outputs(job)):
                return False
            with open(job.output + SIDECAR_SUFFIX) as f:
                entries = json.load(f)
        except (OSError, ValueError):
            return False
        want = {"sha256": self.model.sha256[:16], "overlap": f"{float(self.overlap):g}"}
        for entry in entries or [None]:
            lines = [denoise_options(line) for line in (entry or {}).get("processing", [])]
            calls = [o for o in lines if "sha256" in o]
            if not calls or any(calls[-1].get(k) != v for k, v in want.items()):
                return False
        return True


def _remove_leftovers(paths):
    """Remove the temporary files of `geokeras.utils.atomic_path` left next to ``paths`` by a killed run."""
    for path in paths:
        folder, base = os.path.split(os.path.abspath(path))
        for name in (base, base + ".processing.json"):
            for tmp in glob.glob(os.path.join(glob.escape(folder), "." + glob.escape(name) + ".*.tmp*")):
                os.unlink(tmp)


def denoise_files(inputs, outdir, model=None, client=None, workers=None, resume=False, overlap=0.5,
                  batch_size=256, plot=False, retries=3, progress=False):
    """Denoise waveform files into ``outdir`` (``<name>.mseed`` + sidecar per input), here or on Dask.

    Args:
        inputs: input file paths (their file names, without a seismic extension, name the outputs).
        outdir: output folder (created).
        model: None (the shipped model), a ``.keras`` path or a ``keras.Model``: resolved once, here.
        client, workers, resume, retries, progress: see `run_files`.
        overlap, batch_size, plot: see `DenoiseFiles`.

    Returns:
        `RunSummary`.

    Raises:
        ValueError: two inputs would write the same output, or a bad argument (before any work).
    """
    from geokeras._checks import check_number, check_positive_int

    check_number("overlap", overlap, low=0.0, high=1.0, high_open=True)
    check_positive_int("batch_size", batch_size)
    func = DenoiseFiles(ModelRef.resolve(model), float(overlap), int(batch_size), bool(plot))
    jobs, seen = [], {}
    for path in inputs:
        name = os.path.basename(path)
        root, ext = os.path.splitext(name)
        stem = root if ext.lower() in (".mseed", ".miniseed", ".ms", ".msd", ".sac") and root else name
        if stem in seen:
            raise ValueError(f"Invalid value for argument `inputs`. {seen[stem]!r} and {path!r} would both write "
                             f"{stem}.mseed; denoise them into different folders.")
        seen[stem] = path
        jobs.append(FileJob(os.fspath(path), os.path.join(outdir, stem + ".mseed")))
    os.makedirs(outdir, exist_ok=True)
    return run_files(jobs, func, client=client, workers=workers, retries=retries, resume=resume, progress=progress)
