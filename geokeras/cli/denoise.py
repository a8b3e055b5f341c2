"""``geokeras denoise``: denoise records with a denoiser model and write the results into OUTDIR.

The shell around `geokeras.denoise.denoise`: everything that can be checked is checked before any work
(usage errors exit 2 once; inputs that name nothing, outputs that would overwrite an input or each other,
an output folder that cannot be written, a model that is not a denoiser: exit 1, one line, nothing
written); then each input file is read, denoised with the one `geokeras.denoise.Denoiser` resolved for
the command, and written.
"""
import os
import sys

from geokeras._checks import check_number
from geokeras.cli.common import CommandError, argument_type, check_output_folder, one_line, positive_int

SEISMIC_EXTENSIONS = (".mseed", ".miniseed", ".ms", ".msd", ".sac")
FORMATS = ("MSEED", "SAC")
EXTENSIONS = {"MSEED": ".mseed", "SAC": ".sac"}

DESCRIPTION = ("Denoise seismic records and write the results into OUTDIR (one output per input file, the "
               "input tree mirrored; inputs are never overwritten).")
EPILOG = """inputs: files (an existing path is taken literally, e.g. 'ev[1].mseed'), folders (every regular,
  non-hidden file below them) and quoted glob patterns; files of unknown format found in folders or by
  globs (README, ...) are skipped with a warning, and so are files inside OUTDIR (earlier outputs).

outputs (REL = the input's path relative to its folder, glob root, or the common folder of the files
named, without .mseed/.miniseed/.ms/.msd/.sac):
  OUTDIR/REL.mseed                  --format MSEED: all traces, gaps kept as gaps
  OUTDIR/REL.sac                    --format SAC, one trace; REL.<trace id>[.k].sac for several traces
                                    (per segment k when a trace has gaps)
  OUTDIR/REL.noise.mseed|.sac       --write-noise: what was removed (input - output), same headers, gaps
  <output>.processing.json          stats.processing and the headers the format cannot hold (MiniSEED:
                                    calib), read back by geokeras.data.io.read
  OUTDIR/REL.png                    --plot: waveforms and spectrograms before/after
every record keeps its ids, start time, sampling rate and number of samples (float32 samples). Each gap-free
segment loses its mean and linear trend, and no output sample exceeds 1.1 x the segment's demeaned input
peak. A record sampled outside the model's range is refused (or passed through: --out-of-band passthrough).

exit status: 0 all inputs denoised (repairs such as merged overlaps are printed as notes);
             1 an input, a trace or the model could not be used (one line per problem on stderr; the other
               traces and files are still written);
             2 usage error."""


def add_parser(sub, add):
    """Add the ``denoise`` subcommand to the ``sub`` parsers (``add(name, help, description, epilog)``)."""
    p = add("denoise", "denoise seismic records (any ObsPy-readable format) with a denoiser model", DESCRIPTION,
            EPILOG)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder or quoted glob pattern")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (created if needed)")
    p.add_argument("--model", default=None, metavar="MODEL", help="a .keras denoiser (default: the shipped model)")
    p.add_argument("--format", default="MSEED", type=str.upper, choices=FORMATS, help="output format")
    p.add_argument("--plot", action="store_true", help="also write a before/after PNG per input")
    p.add_argument("--write-noise", action="store_true",
                   help="also write the noise estimate (input - output) next to each output")
    p.add_argument("--out-of-band", default="refuse", choices=("refuse", "passthrough"),
                   help="records sampled outside the model's range: refuse them (default) or pass them "
                        "through unchanged with a warning")
    p.add_argument("--overlap", type=argument_type(check_number, "overlap", low=0.0, high=1.0, high_open=True),
                   default=0.5, help="window overlap in [0, 1) (default 0.5)")
    p.add_argument("--batch-size", type=positive_int("batch_size"), default=256,
                   help="windows per model call (default 256)")
    p.add_argument("--quiet", action="store_true", help="print only warnings and errors (no progress bar)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run, needs_tensorflow=True)
    return p


def output_base(outdir, relative):
    """``OUTDIR/<relative path without a seismic extension>`` (``ev1/STA.BHZ.sac`` -> ``OUTDIR/ev1/STA.BHZ``)."""
    root, ext = os.path.splitext(relative)
    stem = root if ext.lower() in SEISMIC_EXTENSIONS and os.path.basename(root) else relative
    return os.path.join(outdir, stem)


def plan_outputs(files, outdir, fmt, plot=False, noise=False):
    """``{found_file: base}`` for the inputs, refusing (CommandError) outputs that collide or are inputs.

    The names known before reading (the waveform file of a multi-trace format, the sidecar, the noise file
    and the figure) are checked here; the per-trace names of a single-trace format once the file is read.
    """
    inputs = {os.path.realpath(f.path): f.path for f in files}
    claimed, bases = {}, {}
    ext = EXTENSIONS[fmt]
    for f in files:
        base = output_base(outdir, f.relative)
        names = [base + ext, base + ext + ".processing.json"]  # SAC: the name of a single-trace output
        if noise:
            names.append(base + ".noise" + ext)
        if plot:
            names.append(base + ".png")
        for name in names:
            check_not_input(name, inputs)
            key = os.path.realpath(name)
            if key in claimed and claimed[key] != f.path:
                raise CommandError(f"inputs {claimed[key]!r} and {f.path!r} would both write {name!r}; "
                                   "denoise them into different output folders")
            claimed[key] = f.path
        bases[f] = base
    return bases, inputs


def check_not_input(path, inputs):
    """Refuse (CommandError) an output path that is one of the inputs (``{realpath: path}``)."""
    if os.path.realpath(path) in inputs:
        raise CommandError(f"refusing to overwrite input file {path!r}; choose another output folder with -o")


def run(args):
    """Run ``geokeras denoise``; return the exit status."""
    import numpy as np

    from geokeras.data import io
    from geokeras.denoise import Denoiser, ProgressBar, denoise
    from geokeras.errors import FormatError, InputError, NothingToProcessError, OutOfBandError, UnknownFormatError
    from geokeras.utils import clean_stale_temporaries

    fmt = args.format
    outdir = os.path.realpath(args.output) + os.sep
    files = [f for f in io.find_files(args.inputs)  # outputs of earlier runs inside an input folder are not inputs
             if f.explicit or not os.path.realpath(f.path).startswith(outdir)]
    if not files:
        raise CommandError(f"no input file outside the output folder {args.output!r}")
    bases, inputs = plan_outputs(files, args.output, fmt, plot=args.plot, noise=args.write_noise)
    den = Denoiser.resolve(args.model)
    check_output_folder(args.output)
    for folder in sorted({os.path.dirname(b) for b in bases.values()}):
        for path in clean_stale_temporaries(folder):
            print(f"geokeras denoise: warning: removed {path}, left by an interrupted run", file=sys.stderr)

    say = (lambda *a: None) if args.quiet else print
    show = not (args.quiet or args.no_progress) and sys.stderr.isatty()
    failures = skipped = done = 0

    def error(path, exc, hint=False):
        nonlocal failures
        failures += 1
        more = " (--out-of-band passthrough passes it through unchanged)" if hint else ""
        print(f"geokeras denoise: error: {path}: {one_line(exc)}{more}", file=sys.stderr)

    for f in files:
        base = bases[f]
        try:
            try:
                stream = io.read(f.path)
            except UnknownFormatError:
                if f.explicit:
                    raise
                skipped += 1  # a non-waveform file found in a folder or by a glob (README, ...)
                print(f"geokeras denoise: warning: skipped {f.path}: not a waveform file", file=sys.stderr)
                continue
            io.check_ids(stream, fmt)  # before the work: MiniSEED would change a long network code
            bar = ProgressBar(f.relative) if show else None
            try:
                cleaned, noise, report = denoise(
                    stream, model=den, overlap=args.overlap, batch_size=args.batch_size, progress=bar or False,
                    out_of_band=args.out_of_band, on_error="skip", return_noise=True, return_report=True)
            finally:
                if bar is not None:
                    bar.close()
            for exc in report.skipped:  # bad traces: named, left out; the others are written
                error(f.path, exc, hint=isinstance(exc, OutOfBandError))
            targets = io.output_paths(cleaned, base + EXTENSIONS[fmt], fmt)
            for target in targets:
                check_not_input(target, inputs)
            os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
            written = io.write(cleaned, base + EXTENSIONS[fmt], format=fmt)
            written = written if isinstance(written, list) else [written]
            if args.write_noise:
                extra = io.write(noise, base + ".noise" + EXTENSIONS[fmt], format=fmt)
                written += extra if isinstance(extra, list) else [extra]
            if args.plot:
                from geokeras.plotting import plot_denoising

                written.append(plot_denoising(stream, cleaned, base + ".png"))
        except NothingToProcessError as exc:
            for err in exc.errors:
                error(f.path, err, hint=isinstance(err, OutOfBandError))
            continue
        except (InputError, FormatError, OSError, ValueError) as exc:  # this file only; the others go on
            if args.debug:
                raise
            error(f.path, exc)
            continue
        done += 1
        npts = int(sum(np.ma.count(tr.data) for tr in cleaned))
        ids = ", ".join(sorted({tr.id for tr in cleaned}))
        say(f"{f.path} -> {', '.join(written)}  [{ids}; {npts} samples; peak {_peak(stream):.4g} -> "
            f"{_peak(cleaned):.4g}]")
        for note in report.notes:  # the documented repairs of geokeras.data.process.apply_to_stream
            say(f"  note: {note}")
    say(f"denoised {done} of {len(files)} file(s) into {args.output} with model {den.label} "
        f"(sha256 {den.sha256[:16]})" + (f"; {skipped} non-waveform file(s) skipped" if skipped else ""))
    if not done and not failures:
        raise CommandError("no waveform file among the inputs")
    return 1 if failures else 0


def _peak(stream):
    import numpy as np

    peaks = [np.nanmax(np.abs(np.ma.compressed(tr.data).astype(np.float64))) for tr in stream if np.ma.count(tr.data)]
    return float(np.nanmax(peaks)) if peaks and not np.all(np.isnan(peaks)) else 0.0
