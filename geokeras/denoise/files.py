"""Denoise waveform files into an output folder: the per-file job of ``geokeras denoise``, here or on Dask.

`denoise_files` finds the inputs (`geokeras.data.io.find_files`), plans every output before any work
(`plan_outputs`: the input tree mirrored, no output may be an input or collide with another; names from
`geokeras.denoise.naming.output_names`), resolves the model once, and runs `DenoiseFile` on each file with
`geokeras.denoise.executor.run_files`: in this process, on a ``LocalCluster`` of ``workers`` processes, or on
a running cluster (``client``). The command line runs exactly this job, so outputs, sidecars and processing
lines do not depend on where a file was denoised.

Per file (`DenoiseFile`): read; refuse ids the format would change (`geokeras.data.io.check_ids`);
`geokeras.denoise.denoise_stream` (bad traces are left out and reported, the others written); write the
output, its ``.processing.json`` sidecar (which also stores `geokeras.denoise.DenoiseOptions.record` as the
field ``"denoise"``), optionally the noise estimate and a figure, all atomically. A MiniSEED file of
`geokeras.denoise.pieces.MIN_BYTES` or more (MiniSEED out, no figure, no noise estimate) is denoised a piece of
records at a time instead (`geokeras.denoise.pieces`: the same outputs, in memory that does not grow with the
file), unless it needs the whole-file path (overlaps, another rate, ...).

``resume=True`` skips an input whose outputs exist, are not older than the input, and whose sidecars record
for every trace this run's fields (same model sha256, overlap, geokeras version, ...): rerunning an
interrupted command finishes it.

Example:
    >>> import os, tempfile, obspy
    >>> from geokeras.models.denoiser import build_denoiser
    >>> d = tempfile.mkdtemp()
    >>> obspy.read().write(os.path.join(d, "ev.mseed"), format="MSEED")
    >>> model = build_denoiser("stftmask", window_length=300, filters=(4,))
    >>> summary = denoise_files(os.path.join(d, "ev.mseed"), os.path.join(d, "out"), model=model)
    >>> summary.done, summary.failed, summary.traces, sorted(os.listdir(os.path.join(d, "out")))
    (1, 0, 3, ['ev.mseed', 'ev.mseed.processing.json'])
    >>> denoise_files(os.path.join(d, "ev.mseed"), os.path.join(d, "out"), model=model, resume=True).up_to_date
    1
"""
import dataclasses
import os
import time
import warnings

from geokeras.denoise.denoiser import Denoiser
from geokeras.denoise.executor import FileJob, job_paths, run_files
from geokeras.denoise.naming import EXTENSIONS, output_base, output_names
from geokeras.denoise.options import BATCH_SIZE, DenoiseOptions

__all__ = ["DenoiseFile", "DenoisePlan", "denoise_files", "plan_denoise", "plan_outputs", "SIDECAR_FIELD"]

SIDECAR_FIELD = "denoise"  # the sidecar field holding `DenoiseOptions.record` (what ``resume`` compares)


def _check_not_input(path, inputs):
    from geokeras.errors import InputError

    if os.path.realpath(path) in inputs:
        raise InputError(f"refusing to overwrite input file {path!r}; choose another output folder with -o")


def _trace_stream(path):
    """The merged stream of an input (its per-trace output names), or None when it cannot be read (the run
    reports why; warnings are given then, not here)."""
    from geokeras.data import io

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return io.read(path, merge=True)
    except Exception:  # noqa: BLE001 - unreadable: the job reports it
        return None


def _planned_names(path, base, fmt, plot, noise):
    """Every output name of one input: those known before reading and, for a single-trace format (SAC), the
    per-trace names of its traces (the input is read here)."""
    names = output_names(base, fmt, noise=noise, plot=plot).all()
    stream = _trace_stream(path) if fmt == "SAC" else None
    if stream is not None:
        names += output_names(base, fmt, stream=stream, noise=noise).all()
    return list(dict.fromkeys(names))


def _check_inside(name, outdir):
    from geokeras.errors import InputError

    root = os.path.normpath(os.path.abspath(outdir))
    if os.path.commonpath([root, os.path.normpath(os.path.abspath(name))]) != root:
        raise InputError(f"refusing to write {name!r}: it is outside the output folder {os.fspath(outdir)!r}")


def plan_outputs(files, outdir, fmt, plot=False, noise=False):
    """``({found_file: base}, {realpath: path} of the inputs)``, refusing outputs that collide or are inputs.

    Every name is checked here, before any work: for a single-trace format (SAC) the inputs are read for
    their per-trace names (``<base>.<trace id>.sac``; ids made safe as file names, so no name leaves
    ``outdir``).

    Raises:
        geokeras.errors.InputError: an output would overwrite an input, two inputs would write one output,
            or a name is outside ``outdir``.
    """
    from geokeras.errors import InputError

    inputs = {os.path.realpath(f.path): f.path for f in files}
    claimed, bases = {}, {}
    for f in files:
        base = output_base(outdir, f.relative)
        for name in _planned_names(f.path, base, fmt, plot, noise):
            _check_inside(name, outdir)
            _check_not_input(name, inputs)
            key = os.path.realpath(name)
            if key in claimed and claimed[key] != f.path:
                raise InputError(f"inputs {claimed[key]!r} and {f.path!r} would both write {name!r}; "
                                 "denoise them into different output folders")
            claimed[key] = f.path
        bases[f] = base
    return bases, inputs


def _peak(stream):
    """The largest finite absolute sample of a Stream (NaN, inf and gaps ignored; 0.0 for none), without a
    float64 copy of the samples."""
    import numpy as np

    def peak(tr):
        x = np.ma.compressed(tr.data) if np.ma.isMaskedArray(tr.data) else tr.data
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a signalling NaN (SH files hold some)
            if x.dtype.kind == "f":
                finite = np.isfinite(x)
                x = x if finite.all() else x[finite]
            return max(abs(float(x.max())), abs(float(x.min()))) if x.size else 0.0

    return max([0.0] + [peak(tr) for tr in stream if np.ma.count(tr.data)])


@dataclasses.dataclass(frozen=True)
class DenoiseFile:
    """The job for one file: ``job.input`` -> the outputs at ``job.output`` (see the module docstring).

    Args:
        denoiser: the `geokeras.denoise.Denoiser` (pickled with its model for Dask workers).
        options: the `geokeras.denoise.DenoiseOptions`.
        format: ``"MSEED"`` or ``"SAC"``.
        plot: also write ``<output>.png`` (`geokeras.plotting.plot_denoising`).
        write_noise: also write the noise estimate ``<output>.noise.<ext>``.
        inputs: real paths of every input of the run (never overwritten).
        window_progress: a tqdm bar over each file's windows (for a run in this process).
    """

    denoiser: Denoiser
    options: DenoiseOptions = DenoiseOptions()
    format: str = "MSEED"
    plot: bool = False
    write_noise: bool = False
    inputs: frozenset = frozenset()
    window_progress: bool = False

    def __call__(self, job):
        """The `~geokeras.denoise.executor.FileResult` fields of one file. UserWarnings given meanwhile (repairs,
        ObsPy's remarks, an encoding written another way) become the result's ``notes``, each once: they
        reach the caller from a Dask worker too, and a command prints them once."""
        caught = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                warnings.showwarning = _recorder(caught, warnings.showwarning)
                result = self._run(job)
        except BaseException:
            _warn_again(caught)  # the job failed: its warnings stay warnings
            raise
        _warn_again([w for w in caught if not issubclass(w.category, UserWarning)])  # NumPy's RuntimeWarnings & co.
        notes = list(result.get("notes", ()))
        for w in caught:
            text = " ".join(str(w.message).split())
            if issubclass(w.category, UserWarning) and text not in notes:
                notes.append(text)
        return dict(result, notes=tuple(notes)) if notes else result

    def _run(self, job):
        from geokeras.errors import NothingToProcessError, UnknownFormatError, one_line

        done = self._in_pieces(job)
        if done is not None:
            return done
        t = [time.perf_counter()]
        try:
            stream = self._read(job)
        except UnknownFormatError:
            if job.explicit:
                raise
            return dict(status="ignored")  # a non-waveform file found in a folder or by a glob (README, ...)
        t.append(time.perf_counter())
        try:
            cleaned, noise, report, windows = self._denoise(job, stream)
        except NothingToProcessError as exc:
            return dict(status="failed", errors=[one_line(e) for e in exc.errors],
                        error_types=[type(e).__name__ for e in exc.errors])
        t.append(time.perf_counter())
        written = self._write(job, stream, cleaned, noise)
        t.append(time.perf_counter())
        return self._result(stream, cleaned, report, windows, written, t)

    def _in_pieces(self, job):
        """The result of a long MiniSEED file denoised a piece at a time (`geokeras.denoise.pieces`: memory that
        does not grow with the file), or None when the file takes the whole-file path."""
        from geokeras.denoise import pieces

        if (self.format != "MSEED" or self.plot or self.write_noise
                or not pieces.piecewise_candidate(job.input)):
            return None
        target = output_names(job.output, self.format).waveforms[0]
        _check_not_input(target, self.inputs)
        bar = None  # the output's folder is made at its first write (a model that fails to load leaves none)
        if self.window_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=os.path.getsize(job.input), desc=os.path.basename(job.input), unit="B", unit_scale=True)
        try:
            result = pieces.denoise_mseed_in_pieces(job.input, target, self.denoiser, self.options,
                                                    fields={SIDECAR_FIELD: self.options.record(self.denoiser)},
                                                    progress=bar and (lambda done, _: bar.update(done - bar.n)))
        except pieces.NotPiecewise:
            return None
        finally:
            if bar is not None:
                bar.close()
        return dict(result, outputs=[target], errors=(), error_types=())

    def _read(self, job):
        from geokeras.data import io

        stream = io.read(job.input)
        io.check_ids(stream, self.format)  # before the work: MiniSEED would change a long network code
        return stream

    def _denoise(self, job, stream):
        """``(denoised, noise, report, windows run)`` of one file's stream."""
        from geokeras.denoise.api import ProgressBar, denoise_stream

        counted = [0]
        name = " + ".join(os.path.basename(path) for path in job_paths(job.input))  # a group: its files
        bar = ProgressBar(name) if self.window_progress else None

        def progress(done, total):
            counted[0] = done
            if bar is not None:
                bar(done, total)

        try:
            cleaned, noise, report = denoise_stream(stream, self.denoiser, self.options, progress=progress,
                                                    on_error="skip", return_noise=self.write_noise)
        finally:
            if bar is not None:
                bar.close()
        return cleaned, noise, report, counted[0]

    def _write(self, job, stream, cleaned, noise):
        """Write the outputs (`output_names`); return the files written."""
        from geokeras.data import io

        files = output_names(job.output, self.format, noise=self.write_noise, plot=self.plot)  # io.write splits
        written = output_names(job.output, self.format, stream=cleaned, noise=self.write_noise)
        for target in written.waveforms + written.noise:
            _check_not_input(target, self.inputs)
        os.makedirs(os.path.dirname(job.output) or ".", exist_ok=True)
        out = []
        for st, paths, kind in ((cleaned, files.waveforms, "denoised"), (noise, files.noise, "noise")):
            for path in paths:
                done = io.write(st, path, format=self.format,
                                sidecar_fields={SIDECAR_FIELD: self.options.record(self.denoiser, kind)})
                out += done if isinstance(done, list) else [done]
        if files.plot:
            from geokeras.plotting import plot_denoising

            out.append(plot_denoising(stream, cleaned, files.plot))
        return out

    @staticmethod
    def _result(stream, cleaned, report, windows, written, t):
        import numpy as np

        from geokeras.errors import one_line

        return dict(outputs=written, traces=len(cleaned), windows=windows,
                    samples=int(sum(np.ma.count(tr.data) for tr in cleaned)),
                    ids=tuple(sorted({tr.id for tr in cleaned})), peaks=(_peak(stream), _peak(cleaned)),
                    notes=tuple(report.notes), errors=tuple(one_line(e) for e in report.skipped),
                    error_types=tuple(type(e).__name__ for e in report.skipped),
                    stages=tuple(zip(("read", "denoise", "write"), np.diff(t).tolist())))

    def warm(self):
        """Load the model and trace its graph for a full batch (run by each Dask worker at its start-up), and with
        ``components`` the three-component graph too (its first call traces it: ~3 s on the 2-core machine)."""
        import numpy as np

        den, n = self.denoiser.load(), self.options.batch_size
        den.predictor(n, self.options.precision)(np.zeros((n, den.window_length), np.float32))
        if self.options.components:
            fn = den.component_predictor(3, self.options.components, self.options.precision)
            fn(np.zeros((n, den.window_length, 3), np.float32))

    def is_done(self, job):
        """True when every output exists, none is older than the input, and the sidecar of each waveform
        output (the noise estimate's too, with ``write_noise``) records for every trace this run's
        `DenoiseOptions.record` (field ``"denoise"``: same model sha256, overlap, version, ...)."""
        from geokeras.data import io

        stream = None
        if self.format == "SAC":  # one file per trace and segment: the names follow from the input's traces
            stream = _trace_stream(job.input)
            if stream is None:  # unreadable: not up to date (the run reports why)
                return False
        names = output_names(job.output, self.format, stream=stream, noise=self.write_noise, plot=self.plot)
        expected = dict.fromkeys(names.waveforms, self.options.record(self.denoiser, "denoised"))
        expected.update(dict.fromkeys(names.noise, self.options.record(self.denoiser, "noise")))
        try:
            since = os.stat(job.input).st_mtime_ns
            if any(os.stat(p).st_mtime_ns < since for p in list(expected) + ([names.plot] if names.plot else [])):
                return False
            for path, want in expected.items():
                entries = io.read_sidecar(path)
                if not entries or any(e.get(SIDECAR_FIELD) != want for e in entries):
                    return False
        except (OSError, ValueError, TypeError, AttributeError):
            return False
        return True


@dataclasses.dataclass(frozen=True)
class DenoisePlan:
    """A checked denoise run: its jobs, its per-file job function and the output folders (`plan_denoise`)."""

    jobs: tuple
    func: DenoiseFile
    folders: tuple

    @property
    def denoiser(self):
        """The `geokeras.denoise.Denoiser` of the run (resolved once, by `plan_denoise`)."""
        return self.func.denoiser

    def run(self, client=None, workers=None, resume=False, retries=3, progress=False, on_result=None,
            raise_errors=False, prepare=None):
        """Run the plan (`geokeras.denoise.executor.run_files`) and return its `~geokeras.denoise.executor.RunSummary`.

        The model is loaded only when some file is left after the ``resume`` check: in this process in a
        background thread (`Denoiser.load_in_background`, after ``prepare()``, e.g.
        `geokeras.utils.quiet_tensorflow`) while the first file is read and framed, or on Dask by each worker at
        its start-up (`DenoiseFile.warm`; this process does not import TensorFlow for a model file). A model that
        fails to load raises its ModelError from here, as a load before any work would (no file is reported, no
        output written). A run with nothing to do neither imports TensorFlow nor starts a cluster.

        Temporary files left by killed runs in the output folders are removed before and after (UserWarning
        per file). ``progress``: a bar over each file's windows in this process, over files on Dask.
        """
        serial = client is None and workers is None
        func = dataclasses.replace(self.func, window_progress=bool(progress and serial))
        _clean(self.folders)
        def before_work():
            if serial:  # on Dask the workers load it at their start-up (`warm`), this process never
                self.denoiser.load_in_background(prepare)

        def checked(result):  # a model that failed to load: its error, not the file's result
            if serial:
                self.denoiser.wait_loaded()
            if on_result is not None:
                on_result(result)

        summary = run_files(self.jobs, func, client=client, workers=workers, retries=retries, resume=resume,
                            progress=bool(progress and not serial), on_result=checked, raise_errors=raise_errors,
                            prepare=before_work)
        _clean(self.folders)  # a worker killed during this run left its temporary file
        return summary


def plan_denoise(inputs, outdir, model=None, format="MSEED", overlap=0.5, batch_size=BATCH_SIZE, plot=False,
                 write_noise=False, out_of_band="refuse", precision="auto", layout="mirror", channel_code=None,
                 components=None):
    """Find the inputs, plan every output and resolve the model: all the checks, before any work.

    Files found in folders or by globs inside ``outdir`` (outputs of an earlier run) are not inputs; with
    ``layout="sds"`` only those that are outputs of an earlier run (`geokeras.denoise.sds.is_output`) are left
    out, so an SDS archive can be denoised into itself under another channel code.

    ``layout``: ``"mirror"`` (the input tree mirrored, `plan_outputs`) or ``"sds"`` (one MiniSEED file per id and
    UTC day in the SDS archive ``outdir``, channels renamed with ``channel_code``: `geokeras.denoise.sds`;
    MiniSEED only, without ``plot`` and ``write_noise``; with ``components``, a station's three day files of a
    day are one job, `geokeras.denoise.sds.component_groups`). In the mirror layout each file is a job: with
    ``components`` a station's components are denoised together where one file holds them.

    Returns:
        `DenoisePlan`.

    Raises:
        ValueError: a bad argument; FileNotFoundError: an input that names nothing;
        geokeras.errors.InputError: no input outside ``outdir``, outputs that collide or overwrite an input;
        geokeras.errors.ModelError: a bad model.
    """
    from geokeras.data import io
    from geokeras.errors import InputError
    from geokeras.validation import check_choice

    format = check_choice("format", str(format).upper(), tuple(EXTENSIONS))
    options = DenoiseOptions(overlap, batch_size, out_of_band, precision, components)
    sds = check_layout(layout, channel_code, format, plot, write_noise)
    inside = os.path.realpath(outdir) + os.sep
    files = [f for f in io.find_files(inputs)  # outputs of earlier runs inside an input folder are not inputs
             if f.explicit or not os.path.realpath(f.path).startswith(inside) or (sds and not sds.is_output(f.path))]
    if not files:
        raise InputError(f"no input file outside the output folder {os.fspath(outdir)!r}")
    if sds:
        found, folders, jobs = sds.plan_sds(files, outdir, channel_code, components)
        func = sds.DenoiseToSDS(Denoiser.resolve(model), options, inputs=frozenset(found), channel_code=channel_code)
        return DenoisePlan(jobs, func, folders)
    bases, found = plan_outputs(files, outdir, format, plot=plot, noise=write_noise)
    func = DenoiseFile(Denoiser.resolve(model), options, format, bool(plot), bool(write_noise), frozenset(found))
    jobs = tuple(FileJob(f.path, bases[f], f.explicit) for f in files)
    return DenoisePlan(jobs, func, tuple(sorted({os.path.dirname(b) for b in bases.values()})))


LAYOUTS = ("mirror", "sds")  # the output layouts of ``geokeras denoise``


def check_layout(layout, channel_code, format, plot, write_noise):
    """Check the layout options (the one check: `plan_denoise` and ``geokeras denoise``); return the
    `geokeras.denoise.sds` module for ``layout="sds"``, else None.

    ``components`` goes with both layouts (with ``layout="sds"`` a station's three day files of a day are one
    job: `geokeras.denoise.sds.plan_sds`), so it is not checked here.

    Raises:
        ValueError: an unknown layout, a channel code without ``layout="sds"`` or not one letter or digit, or
            ``format``, ``plot`` or ``write_noise`` that SDS day files cannot hold.
    """
    from geokeras.validation import check_choice

    if check_choice("layout", layout, LAYOUTS) == "mirror":
        if channel_code is not None:
            raise ValueError("Invalid value for argument `channel_code`. Expected None with layout='mirror' (a new "
                             f"channel code names SDS day files). Received channel_code={channel_code!r}.")
        return None
    from geokeras.denoise import sds

    if channel_code is not None:
        sds.check_channel_code("channel_code", channel_code)
    for name, value, allowed in (("format", format, "MSEED"), ("plot", plot, False),
                                 ("write_noise", write_noise, False)):
        if value != allowed:
            raise ValueError(f"Invalid value for argument `{name}`. Expected {allowed!r} with layout='sds'. "
                             f"Received {name}={value!r}.")
    return sds


def denoise_files(inputs, outdir, model=None, format="MSEED", client=None, workers=None, resume=False,
                  overlap=0.5, batch_size=BATCH_SIZE, plot=False, write_noise=False, out_of_band="refuse", retries=3,
                  progress=False, on_result=None, raise_errors=False, precision="auto", layout="mirror",
                  channel_code=None, components=None):
    """Denoise waveform files into ``outdir``, in this process or on a Dask cluster.

    ``plan_denoise(...).run(...)``: every check before any work, then one job per file.

    Args:
        inputs: files, folders and glob patterns (`geokeras.data.io.find_files`); the output tree mirrors them.
        outdir: output folder (created).
        model: None (the shipped model), a ``.keras`` path, a ``keras.Model`` or a `geokeras.denoise.Denoiser`:
            resolved once, here.
        format: ``"MSEED"`` or ``"SAC"``.
        client, workers, retries, resume, on_result, raise_errors: see `geokeras.denoise.executor.run_files`.
        progress: a tqdm bar on stderr: over each file's windows in this process, over files on Dask.
        overlap, batch_size, out_of_band, precision, components: see `geokeras.denoise.DenoiseOptions`;
            plot, write_noise: see `DenoiseFile`; layout, channel_code: see `plan_denoise`.

    Returns:
        `geokeras.denoise.executor.RunSummary` (``summary.failures``: the files with errors).

    Raises:
        the errors of `plan_denoise`, before any work.
    """
    plan = plan_denoise(inputs, outdir, model=model, format=format, overlap=overlap, batch_size=batch_size,
                        plot=plot, write_noise=write_noise, out_of_band=out_of_band, precision=precision,
                        layout=layout, channel_code=channel_code, components=components)
    os.makedirs(outdir, exist_ok=True)
    return plan.run(client=client, workers=workers, resume=resume, retries=retries, progress=progress,
                    on_result=on_result, raise_errors=raise_errors)


def _recorder(caught, show):
    """A ``warnings.showwarning`` that appends the job's warnings to ``caught`` and shows those of the model's
    background load (`geokeras.denoise.Denoiser.load_in_background`, another thread) with ``show``, as a load
    before the job showed them: they are not the file's."""
    import threading

    from geokeras.denoise.denoiser import LOADER_THREAD

    def record(message, category, filename, lineno, file=None, line=None):
        if threading.current_thread().name == LOADER_THREAD:
            show(message, category, filename, lineno, file, line)
        else:
            caught.append(warnings.WarningMessage(message, category, filename, lineno, file, line))

    return record


def _warn_again(caught):
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _clean(folders):
    from geokeras.utils import clean_stale_temporaries

    for folder in folders:
        for path in clean_stale_temporaries(folder):
            warnings.warn(f"removed {path}, left by an interrupted run", UserWarning, stacklevel=3)
