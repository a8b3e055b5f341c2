"""Denoise waveform files into an output folder: the per-file job of ``geokeras denoise``, here or on Dask.

`denoise_files` finds the inputs (`geokeras.data.io.find_files`), plans every output before any work
(`plan_outputs`: the input tree mirrored, no output may be an input or collide with another), resolves the
model once, and runs `DenoiseFiles` on each file with `geokeras.distributed.run_files`: in this process, on
a ``LocalCluster`` of ``workers`` processes, or on a running cluster (``client``). The command line runs
exactly this job, so outputs, sidecars and processing lines do not depend on where a file was denoised.

Per file (`DenoiseFiles`): read; refuse ids the format would change (`geokeras.data.io.check_ids`);
`geokeras.denoise.denoise` (bad traces are left out and reported, the others written); write the output,
its ``.processing.json`` sidecar, optionally the noise estimate and a figure, all atomically.

``resume=True`` skips an input whose outputs exist, are not older than the input, and whose sidecars give
every trace this run's processing line (same model sha256, overlap, geokeras version); so rerunning an
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
    >>> denoise_files(os.path.join(d, "ev.mseed"), os.path.join(d, "out"), model=model, resume=True).skipped
    1
"""
import dataclasses
import json
import os
import time
import warnings

from geokeras.distributed import FileJob, ModelRef, run_files

__all__ = ["DenoiseFiles", "DenoisePlan", "denoise_files", "plan_denoise", "plan_outputs", "output_base",
           "SEISMIC_EXTENSIONS", "EXTENSIONS"]

SEISMIC_EXTENSIONS = (".mseed", ".miniseed", ".ms", ".msd", ".sac")
EXTENSIONS = {"MSEED": ".mseed", "SAC": ".sac"}


def output_base(outdir, relative):
    """``OUTDIR/<relative path without a seismic extension>`` (``ev1/STA.BHZ.sac`` -> ``OUTDIR/ev1/STA.BHZ``)."""
    root, ext = os.path.splitext(relative)
    stem = root if ext.lower() in SEISMIC_EXTENSIONS and os.path.basename(root) else relative
    return os.path.join(outdir, stem)


def _check_not_input(path, inputs):
    from geokeras.errors import InputError

    if os.path.realpath(path) in inputs:
        raise InputError(f"refusing to overwrite input file {path!r}; choose another output folder with -o")


def plan_outputs(files, outdir, fmt, plot=False, noise=False):
    """``({found_file: base}, {realpath: path} of the inputs)``, refusing outputs that collide or are inputs.

    The names known before reading (the waveform file of a multi-trace format, the sidecar, the noise file
    and the figure) are checked here; the per-trace names of a single-trace format once the file is read.

    Raises:
        geokeras.errors.InputError: an output would overwrite an input, or two inputs would write one output.
    """
    from geokeras.data import io
    from geokeras.errors import InputError

    inputs = {os.path.realpath(f.path): f.path for f in files}
    claimed, bases = {}, {}
    ext = EXTENSIONS[fmt]
    for f in files:
        base = output_base(outdir, f.relative)
        names = [base + ext, base + ext + io.SIDECAR_SUFFIX]  # SAC: the name of a single-trace output
        if noise:
            names.append(base + ".noise" + ext)
        if plot:
            names.append(base + ".png")
        for name in names:
            _check_not_input(name, inputs)
            key = os.path.realpath(name)
            if key in claimed and claimed[key] != f.path:
                raise InputError(f"inputs {claimed[key]!r} and {f.path!r} would both write {name!r}; "
                                 "denoise them into different output folders")
            claimed[key] = f.path
        bases[f] = base
    return bases, inputs


def _peak(stream):
    import numpy as np

    peaks = [np.nanmax(np.abs(np.ma.compressed(tr.data).astype(np.float64))) for tr in stream if np.ma.count(tr.data)]
    return float(np.nanmax(peaks)) if peaks and not np.all(np.isnan(peaks)) else 0.0


@dataclasses.dataclass(frozen=True)
class DenoiseFiles:
    """The per-file job: ``job.input`` -> ``job.output`` + extension (see the module docstring).

    Args:
        model: a `geokeras.distributed.ModelRef`.
        format: ``"MSEED"`` or ``"SAC"``.
        overlap, batch_size, out_of_band: as in `geokeras.denoise.denoise`.
        plot: also write ``<output>.png`` (`geokeras.plotting.plot_denoising`).
        write_noise: also write the noise estimate ``<output>.noise.<ext>``.
        inputs: real paths of every input of the run (never overwritten).
        window_progress: a tqdm bar over each file's windows (for a run in this process).
    """

    model: ModelRef
    format: str = "MSEED"
    overlap: float = 0.5
    batch_size: int = 256
    plot: bool = False
    write_noise: bool = False
    out_of_band: str = "refuse"
    inputs: frozenset = frozenset()
    window_progress: bool = False

    def __call__(self, job):
        from geokeras.data import io
        from geokeras.denoise import ProgressBar, denoise
        from geokeras.errors import NothingToProcessError, UnknownFormatError, one_line

        den = self.model.get()
        ext = EXTENSIONS[self.format]
        t = [time.perf_counter()]
        try:
            stream = io.read(job.input)
        except UnknownFormatError:
            if job.explicit:
                raise
            return dict(status="ignored")  # a non-waveform file found in a folder or by a glob (README, ...)
        io.check_ids(stream, self.format)  # before the work: MiniSEED would change a long network code
        t.append(time.perf_counter())
        counted = [0]
        bar = ProgressBar(os.path.basename(job.input)) if self.window_progress else None

        def progress(done, total):
            counted[0] = done
            if bar is not None:
                bar(done, total)

        try:
            cleaned, noise, report = denoise(
                stream, model=den, overlap=self.overlap, batch_size=self.batch_size, progress=progress,
                out_of_band=self.out_of_band, on_error="skip", return_noise=True, return_report=True)
        except NothingToProcessError as exc:
            return dict(status="failed", errors=[one_line(e) for e in exc.errors],
                        error_types=[type(e).__name__ for e in exc.errors])
        finally:
            if bar is not None:
                bar.close()
        t.append(time.perf_counter())
        for target in io.output_paths(cleaned, job.output + ext, self.format):
            _check_not_input(target, self.inputs)
        os.makedirs(os.path.dirname(job.output) or ".", exist_ok=True)
        written = io.write(cleaned, job.output + ext, format=self.format)
        written = written if isinstance(written, list) else [written]
        if self.write_noise:
            extra = io.write(noise, job.output + ".noise" + ext, format=self.format)
            written += extra if isinstance(extra, list) else [extra]
        if self.plot:
            from geokeras.plotting import plot_denoising

            written.append(plot_denoising(stream, cleaned, job.output + ".png"))
        t.append(time.perf_counter())
        import numpy as np

        return dict(outputs=written, traces=len(cleaned), windows=counted[0],
                    samples=int(sum(np.ma.count(tr.data) for tr in cleaned)),
                    ids=tuple(sorted({tr.id for tr in cleaned})), peaks=(_peak(stream), _peak(cleaned)),
                    notes=tuple(report.notes), errors=tuple(one_line(e) for e in report.skipped),
                    error_types=tuple(type(e).__name__ for e in report.skipped),
                    stages=tuple(zip(("read", "denoise", "write"), np.diff(t).tolist())))

    def _waveform_outputs(self, job, suffix=""):
        """The waveform files a finished job wrote under ``job.output + suffix`` (``".noise"`` for the noise
        estimate), or None when that cannot be told without the input."""
        from geokeras.data import io

        path = job.output + suffix + EXTENSIONS[self.format]
        if self.format != "SAC":
            return [path]
        try:  # SAC: one file per trace and segment: the names follow from the input's traces
            stream = io.read(job.input, merge=True)
        except Exception:  # noqa: BLE001 - unreadable: not up to date (the run reports why)
            return None
        return io.output_paths(stream, path, self.format)

    def is_done(self, job):
        """True when every output exists, none is older than the input, and each waveform output's sidecar
        (the noise estimate's too, with ``write_noise``) gives every trace this run's processing line (same
        model sha256, overlap and version; repair notes after it do not count)."""
        from geokeras.data.io import SIDECAR_SUFFIX
        from geokeras.data.process import RESIDUAL_NOTE

        line = self.model.get().processing_line(self.overlap)
        expected = {"": line}
        if self.write_noise:
            expected[".noise"] = line + RESIDUAL_NOTE
        waveforms = {}
        for suffix, want in expected.items():
            paths = self._waveform_outputs(job, suffix)
            if not paths:
                return False
            waveforms.update(dict.fromkeys(paths, want))
        others = [job.output + ".png"] if self.plot else []
        try:
            since = os.stat(job.input).st_mtime_ns
            if any(os.stat(p).st_mtime_ns < since for p in list(waveforms) + others):
                return False
            for path, want in waveforms.items():
                with open(path + SIDECAR_SUFFIX) as f:
                    entries = json.load(f)
                calls = [[p for p in e.get("processing", []) if ": denoise(" in p] for e in entries]
                if not entries or any(not c or _without_notes(c[-1]) != want for c in calls):
                    return False
        except (OSError, ValueError, TypeError, AttributeError):
            return False
        return True


def _without_notes(line):
    """A denoise processing line without the repair notes that `apply_to_stream` inserts before its suffix."""
    from geokeras.data.process import NOTES_SEPARATOR, RESIDUAL_NOTE

    head, sep, rest = line.partition(NOTES_SEPARATOR)
    return head + (RESIDUAL_NOTE if sep and rest.endswith(RESIDUAL_NOTE) else "")


@dataclasses.dataclass(frozen=True)
class DenoisePlan:
    """A checked denoise run: its jobs, its per-file job function and the output folders (`plan_denoise`)."""

    jobs: tuple
    func: DenoiseFiles
    folders: tuple

    def run(self, client=None, workers=None, resume=False, retries=3, progress=False, on_result=None,
            raise_errors=False):
        """Run the plan (`geokeras.distributed.run_files`) and return its `geokeras.distributed.RunSummary`.

        Temporary files left by killed runs in the output folders are removed before and after (UserWarning
        per file). ``progress``: a bar over each file's windows in this process, over files on Dask.
        """
        serial = client is None and workers is None
        func = dataclasses.replace(self.func, window_progress=bool(progress and serial))
        _clean(self.folders)
        summary = run_files(self.jobs, func, client=client, workers=workers, retries=retries, resume=resume,
                            progress=bool(progress and not serial), on_result=on_result, raise_errors=raise_errors)
        _clean(self.folders)  # a worker killed during this run left its temporary file
        return summary


def plan_denoise(inputs, outdir, model=None, format="MSEED", overlap=0.5, batch_size=256, plot=False,
                 write_noise=False, out_of_band="refuse"):
    """Find the inputs, plan every output and resolve the model: all the checks, before any work.

    Files found in folders or by globs inside ``outdir`` (outputs of an earlier run) are not inputs.

    Returns:
        `DenoisePlan`.

    Raises:
        ValueError: a bad argument; FileNotFoundError: an input that names nothing;
        geokeras.errors.InputError: no input outside ``outdir``, outputs that collide or overwrite an input;
        geokeras.errors.ModelError: a bad model.
    """
    from geokeras.validation import check_choice, check_number, check_positive_int
    from geokeras.data import io
    from geokeras.denoise import OUT_OF_BAND
    from geokeras.errors import InputError

    format = check_choice("format", str(format).upper(), tuple(EXTENSIONS))
    check_number("overlap", overlap, low=0.0, high=1.0, high_open=True)
    check_positive_int("batch_size", batch_size)
    check_choice("out_of_band", out_of_band, OUT_OF_BAND)
    inside = os.path.realpath(outdir) + os.sep
    files = [f for f in io.find_files(inputs)  # outputs of earlier runs inside an input folder are not inputs
             if f.explicit or not os.path.realpath(f.path).startswith(inside)]
    if not files:
        raise InputError(f"no input file outside the output folder {os.fspath(outdir)!r}")
    bases, found = plan_outputs(files, outdir, format, plot=plot, noise=write_noise)
    func = DenoiseFiles(ModelRef.resolve(model), format, float(overlap), int(batch_size), bool(plot),
                        bool(write_noise), out_of_band, frozenset(found))
    jobs = tuple(FileJob(f.path, bases[f], f.explicit) for f in files)
    return DenoisePlan(jobs, func, tuple(sorted({os.path.dirname(b) for b in bases.values()})))


def denoise_files(inputs, outdir, model=None, format="MSEED", client=None, workers=None, resume=False,
                  overlap=0.5, batch_size=256, plot=False, write_noise=False, out_of_band="refuse", retries=3,
                  progress=False, on_result=None, raise_errors=False):
    """Denoise waveform files into ``outdir``, in this process or on a Dask cluster.

    ``plan_denoise(...).run(...)``: every check before any work, then one job per file.

    Args:
        inputs: files, folders and glob patterns (`geokeras.data.io.find_files`); the output tree mirrors them.
        outdir: output folder (created).
        model: None (the shipped model), a ``.keras`` path, a ``keras.Model`` or a `geokeras.denoise.Denoiser`:
            resolved once, here.
        format: ``"MSEED"`` or ``"SAC"``.
        client, workers, retries, resume, on_result, raise_errors: see `geokeras.distributed.run_files`.
        progress: a tqdm bar on stderr: over each file's windows in this process, over files on Dask.
        overlap, batch_size, plot, write_noise, out_of_band: see `DenoiseFiles`.

    Returns:
        `geokeras.distributed.RunSummary` (``summary.failures``: the files with errors).

    Raises:
        the errors of `plan_denoise`, before any work.
    """
    plan = plan_denoise(inputs, outdir, model=model, format=format, overlap=overlap, batch_size=batch_size,
                        plot=plot, write_noise=write_noise, out_of_band=out_of_band)
    os.makedirs(outdir, exist_ok=True)
    return plan.run(client=client, workers=workers, resume=resume, retries=retries, progress=progress,
                    on_result=on_result, raise_errors=raise_errors)


def _clean(folders):
    from geokeras.utils import clean_stale_temporaries

    for folder in folders:
        for path in clean_stale_temporaries(folder):
            warnings.warn(f"removed {path}, left by an interrupted run", UserWarning, stacklevel=3)
