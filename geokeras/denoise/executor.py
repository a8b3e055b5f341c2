"""Run one job per file in this process or on a Dask cluster (generic): the executor behind ``geokeras denoise``.

`run_files` takes a list of jobs and a picklable job function:

- ``workers=None`` and ``client=None``: the jobs run one after the other in this process (Dask not needed);
- ``workers=N``: a ``dask.distributed.LocalCluster`` of N worker processes (one task at a time each, the
  cores shared out between their TensorFlow threads: `worker_threads`) is started for the run and closed
  after it;
- ``client=``: a ``dask.distributed.Client``, or the address of a running scheduler (``"tcp://host:8786"``),
  e.g. one started by dask-jobqueue on SLURM or by dask-kubernetes.

One task per file. A job that raises is reported in its `FileResult` and the others go on; a worker that
dies (killed, out of memory) has its task started again on another worker by the scheduler, up to
``retries`` times on a cluster started here (``distributed.scheduler.allowed-failures``; an external
scheduler uses its own setting). With ``resume=True`` the jobs for which ``func.is_done(job)`` holds are
up to date: not sent. Every worker runs `geokeras.denoise.worker.WorkerSetup` first (TensorFlow threads, Keras
imported, and ``func.warm()`` where the job function has one: `geokeras.denoise.DenoiseFile` loads its model
and traces its graph there, once per worker, all workers at once, before the first task).

The executor knows nothing of what a job does: ``geokeras denoise`` passes `geokeras.denoise.DenoiseFile`,
which carries its `geokeras.denoise.Denoiser` (pickled as its ``.keras`` bytes, sent once per worker).

Example:
    >>> def square(job):
    ...     if job.input == "bad":
    ...         raise ValueError("bad input")
    ...     return {"traces": 1}
    >>> summary = run_files([FileJob("a", "out/a"), FileJob("bad", "out/bad")], square)
    >>> [(r.input, r.status, r.errors) for r in summary.results]
    [('a', 'done', ()), ('bad', 'failed', ('bad input',))]
"""
import collections
import dataclasses
import os
import sys
import time
import traceback

from geokeras.errors import one_line

__all__ = ["FileJob", "FileResult", "RunSummary", "run_files", "run_job", "job_paths", "local_cluster",
           "SINGLE_THREAD_ENV", "thread_env", "worker_threads"]

FileJob = collections.namedtuple("FileJob", "input output explicit", defaults=(True,))
FileJob.__doc__ = """One job: its ``input`` (a path, or a tuple of paths read together: a group, such as a station's
three SDS day files of one day), the ``output`` it writes (for `geokeras.denoise.DenoiseFile`: the output path
without extension) and whether the input was named ``explicit``-ly."""


def job_paths(input):
    """The paths of a job's ``input``: ``(input,)`` for one path, the paths themselves for a group.

    Example:
        >>> job_paths("a.mseed"), job_paths(("e", "n", "z"))
        (('a.mseed',), ('e', 'n', 'z'))
    """
    return tuple(input) if isinstance(input, (tuple, list)) else (input,)


def _recorded(input):
    """`FileResult.input` of a job's ``input``: the path as a str, or a group's paths as a tuple of str."""
    return tuple(str(p) for p in input) if isinstance(input, (tuple, list)) else str(input)


@dataclasses.dataclass(frozen=True)
class FileResult:
    """What happened to one job's input: a file, or a group of files read together.

    ``input``: the job's path (a str), or the tuple of paths of a group job; ``label`` says it in one line.
    ``status``: ``"done"``, ``"up_to_date"`` (``resume``), ``"ignored"`` (not a waveform file,
    found in a folder or by a glob) or ``"failed"``. ``errors``: one line per problem (a ``"done"`` file may
    have some: traces left out), ``error_types`` the exception class name of each; ``traceback``: the Python traceback of a failure. ``stages``: ``(name,
    seconds)`` of the job's steps; ``cpu_seconds``: CPU time of the process that ran it during the job.
    """

    input: object
    status: str
    outputs: tuple = ()
    traces: int = 0
    windows: int = 0
    samples: int = 0
    ids: tuple = ()
    peaks: tuple = ()
    notes: tuple = ()
    errors: tuple = ()
    error_types: tuple = ()
    traceback: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    stages: tuple = ()

    @property
    def label(self):
        """The input in one line: its path, or a group's paths joined with ``" + "``."""
        return " + ".join(job_paths(self.input))


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The results of a `run_files` call in job order, its wall time and its number of worker processes.

    The counts are of input files: a group job (``input`` a tuple of paths) counts each of its files.
    """

    results: tuple
    seconds: float
    workers: int

    def _count(self, status=None):
        return sum(len(job_paths(r.input)) for r in self.results if status in (None, r.status))

    files = property(lambda self: self._count(), doc="number of input files")
    done = property(lambda self: self._count("done"), doc="files of the jobs run to the end")
    up_to_date = property(lambda self: self._count("up_to_date"), doc="files of the jobs up to date (``resume``)")
    ignored = property(lambda self: self._count("ignored"), doc="inputs that were not waveform files")
    failed = property(lambda self: self._count("failed"), doc="files of the jobs that raised or whose worker kept "
                                                               "dying")
    traces = property(lambda self: sum(r.traces for r in self.results), doc="output traces written")
    windows = property(lambda self: sum(r.windows for r in self.results), doc="windows through the model")
    failures = property(lambda self: [r for r in self.results if r.errors], doc="the results with errors")

    def __str__(self):
        where = f"{self.workers} worker process(es)" if self.workers else "this process"
        return (f"{self.files} file(s): {self.done} done, {self.up_to_date} up to date, {self.failed} failed"
                + (f", {self.ignored} not waveforms" if self.ignored else "")
                + f"; {self.traces} traces, {self.windows} windows in {self.seconds:.1f} s on {where}")


def run_job(func, job, raise_errors=False):
    """Run ``func(job)`` and return its `FileResult`; an exception becomes a ``"failed"`` result.

    ``func`` returns a dict of `FileResult` fields (``status`` defaults to ``"done"``). With
    ``raise_errors=True`` an exception propagates instead.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        out = dict(func(job) or {})
    except Exception as exc:  # noqa: BLE001 - reported per file; the run goes on
        if raise_errors:
            raise
        out = dict(status="failed", errors=(one_line(exc),), error_types=(type(exc).__name__,),
                   traceback=traceback.format_exc())
    out.setdefault("status", "done")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}
    return FileResult(_recorded(job.input), seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
                      **fields)


def run_files(jobs, func, client=None, workers=None, retries=3, resume=False, progress=False, on_result=None,
              raise_errors=False, prepare=None):
    """Run ``func`` on every job, one task per job, and return a `RunSummary`.

    Args:
        jobs: `FileJob` s (objects with an ``input`` attribute), in the order of the results.
        func: a picklable callable ``func(job) -> dict`` (see `run_job`); with ``resume=True`` it also needs
            ``func.is_done(job) -> bool``.
        client: a ``dask.distributed.Client`` or a scheduler address; None: see ``workers``.
        workers: start a ``LocalCluster`` of this many worker processes for the run (one task at a time each,
            `worker_threads` TensorFlow threads each: the cores shared out); None
            (with ``client=None``) runs the jobs here, one after the other.
        retries: times a task whose worker died is started again (on a cluster started here).
        resume: skip the jobs for which ``func.is_done(job)`` is true (checked here, before any work).
        progress: a tqdm bar over files on stderr.
        on_result: called with each `FileResult` as soon as it is known (in completion order).
        raise_errors: in this process, let the first exception of a job propagate (``--debug``); on Dask
            a failure's traceback is in its result.
        prepare: None, or a callable run once in this process when some job is left after the ``resume``
            check, before the first job runs or a cluster starts (e.g. load a model: its errors come before
            any work, and a run with nothing to do never pays for it).

    Returns:
        `RunSummary`.

    Raises:
        ValueError: ``workers`` and ``client`` both given, ``workers`` or ``retries`` out of range.
    """
    from tqdm.auto import tqdm

    from geokeras.validation import check_number, check_positive_int

    if workers is not None:
        check_positive_int("workers", workers)
        if client is not None:
            raise ValueError("Invalid arguments. Give `workers` (start a local cluster) or `client` (use a running "
                             f"one), not both. Received workers={workers!r} and client={client!r}.")
    retries = int(check_number("retries", retries, low=0))
    jobs = list(jobs)
    t0 = time.perf_counter()
    results = [None] * len(jobs)
    bar = tqdm(total=sum(len(job_paths(job.input)) for job in jobs), desc="files", unit="file", file=sys.stderr,
               disable=not progress)

    def record(i, result):
        results[i] = result
        bar.update(len(job_paths(result.input)))
        if on_result is not None:
            on_result(result)

    n_workers = 0
    try:
        todo = []
        for i, job in enumerate(jobs):
            if resume and func.is_done(job):
                record(i, FileResult(_recorded(job.input), "up_to_date"))
            else:
                todo.append(i)
        if todo and prepare is not None:
            prepare()
        if client is None and workers is None:
            for i in todo:
                record(i, run_job(func, jobs[i], raise_errors))
        elif todo:
            n_workers = _run_dask(jobs, todo, func, record, client, workers, retries)
    finally:
        bar.close()
    return RunSummary(tuple(results), time.perf_counter() - t0, n_workers)


# What one single-threaded worker process may use: TensorFlow reads these when it starts, so they hold even
# where `WorkerSetup` comes too late (without them a "single-threaded" worker used more than one core).
SINGLE_THREAD_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def thread_env(threads):
    """The environment of a worker process whose TensorFlow uses ``threads`` intra-op threads (and one
    inter-op thread): `SINGLE_THREAD_ENV` for 1.

    Example:
        >>> thread_env(2)["TF_NUM_INTRAOP_THREADS"], thread_env(1) == SINGLE_THREAD_ENV
        ('2', True)
    """
    return dict(SINGLE_THREAD_ENV, TF_NUM_INTRAOP_THREADS=str(int(threads)), OMP_NUM_THREADS=str(int(threads)))


def worker_threads(n_workers, cores=None):
    """TensorFlow threads per worker for ``n_workers`` worker processes on ``cores`` cores (default: the cores
    this process may use): the cores shared out, at least one (``--workers 1`` on 2 cores: 2 threads).

    Example:
        >>> worker_threads(1, cores=2), worker_threads(2, cores=2), worker_threads(4, cores=2)
        (2, 1, 1)
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, int(cores) // int(n_workers))


def local_cluster(n_workers, retries=3, silence_logs=None, threads=1):
    """A ``dask.distributed.LocalCluster`` of ``n_workers`` worker processes, one task at a time each.

    Each worker runs one task at a time and its TensorFlow uses ``threads`` intra-op threads (`thread_env`),
    so N workers use N x ``threads`` cores; a task whose worker dies is retried up to ``retries`` times.

    Args:
        n_workers: number of worker processes.
        retries: ``distributed.scheduler.allowed-failures`` for the cluster's scheduler.
        silence_logs: logging level of the cluster's own messages (default: Dask's).
        threads: TensorFlow intra-op threads per worker.
    """
    import logging

    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        # no dashboard; the scheduler's HTTP server (health routes, always started) on a free local port, not 8787
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                            silence_logs=logging.WARNING if silence_logs is None else silence_logs,
                            env=thread_env(threads))


def check_scheduler_address(address):
    """Return ``address`` if it names a scheduler in a form Dask can connect to (``tcp://host:port``,
    ``tls://``, ``inproc://``, ...; a bare ``host:port`` means ``tcp://``).

    Raises:
        ValueError: another scheme (``http://``, ...) or no host and port.

    Example:
        >>> check_scheduler_address("tcp://10.0.0.5:8786")
        'tcp://10.0.0.5:8786'
        >>> check_scheduler_address("http://10.0.0.5:8787/status")
        Traceback (most recent call last):
        ...
        ValueError: Invalid value for argument `scheduler`. Expected a dask.distributed scheduler address such as tcp://host:8786. Received scheduler='http://10.0.0.5:8787/status' (scheme 'http' is not a Dask protocol; the dashboard's http:// address is not the scheduler's).
    """
    from distributed.comm import parse_address
    from distributed.comm.registry import backends

    def invalid(why):
        return ValueError("Invalid value for argument `scheduler`. Expected a dask.distributed scheduler address "
                          f"such as tcp://host:8786. Received scheduler={address!r} ({why}).")

    try:
        scheme, location = parse_address(address)
    except (ValueError, TypeError) as exc:
        raise invalid(one_line(exc)) from None
    if scheme not in backends:
        raise invalid(f"scheme {scheme!r} is not a Dask protocol; the dashboard's http:// address is not the "
                      "scheduler's" if scheme.startswith("http") else f"scheme {scheme!r} is not a Dask protocol")
    if scheme in ("tcp", "tls") and not location.rpartition(":")[2].isdigit():
        raise invalid("no port")
    return address


def _connect(client_class, address):
    """A ``Client`` of the scheduler at ``address``; a failure is one line that names the address."""
    from geokeras.errors import SchedulerError

    check_scheduler_address(address)
    try:
        return client_class(address)
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, MemoryError (a non-Dask reply read as a size)
        why = "what answered there does not speak the Dask protocol" if isinstance(exc, MemoryError) else one_line(exc)
        raise SchedulerError(f"cannot use the Dask scheduler at {address!r}: {why}") from None


def _reason(exc):
    """One line for a task that did not return (a ``KilledWorker`` says how often its worker died)."""
    if type(exc).__name__ == "KilledWorker":
        return (f"its worker process died on each of {exc.allowed_failures + 1} attempts (killed, or out of "
                "memory?)")
    return one_line(exc)


def _run_dask(jobs, todo, func, record, client, workers, retries):
    import logging

    try:
        import dask
        from dask.distributed import Client, as_completed
    except ImportError as exc:
        raise ImportError(f"Running on Dask (`workers` or `client`) needs dask.distributed ({exc}); install it "
                          "with `pip install geokeras[dask]`.") from None

    owned = []
    if client is None:
        cluster = local_cluster(workers, retries=retries, silence_logs=logging.CRITICAL,  # failures: in the results
                                threads=worker_threads(workers))
        client = Client(cluster)
        owned = [client, cluster]
    elif isinstance(client, str):
        client = _connect(Client, client)
        owned = [client]
    try:
        from geokeras.denoise.worker import WorkerSetup  # imports dask.distributed: only on this path

        try:
            client.register_plugin(WorkerSetup(warm=getattr(func, "warm", None)))
        except Exception as exc:  # noqa: BLE001 - Dask passes a worker's error on as a bare Exception
            raise RuntimeError(f"the workers could not get ready, no file was run: {one_line(exc)}") from None
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
        [shared] = client.scatter([func], broadcast=True, hash=False)  # sent once, not once per task
        run = f"geokeras-{os.getpid()}-{time.time_ns()}"
        futures = {client.submit(run_job, shared, jobs[i], key=f"{run}-{i}", pure=False): i for i in todo}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker (died too often), lost scheduler, ...
                result = FileResult(_recorded(jobs[i].input), "failed", errors=(_reason(exc),),
                                    error_types=(type(exc).__name__,))
            record(i, result)
            fut.release()
        return n_workers
    finally:
        for obj in owned:
            obj.close()
