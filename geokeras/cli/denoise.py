"""``geokeras denoise``: denoise records with a denoiser model and write the results into OUTDIR.

The shell around `geokeras.denoise.denoise`: everything that can be checked is checked before any work
(usage errors exit 2 once; inputs that name nothing, outputs that would overwrite an input or each other,
an output folder that cannot be written, a model that is not a denoiser: exit 1, one line, nothing
written); then each input file is read, denoised with the one `geokeras.denoise.Denoiser` resolved for
the command, and written: in this process, or one task per file on Dask (``--workers N``: a local cluster
of N processes sharing the cores out; ``--scheduler ADDRESS``: a running cluster), with the same per-file job
(`geokeras.denoise.DenoiseFile`). ``--resume`` skips the files already denoised with this model and
these options.
"""
import argparse
import sys

from geokeras.cli.common import CommandError, argument_type, check_output_folder, positive_int, quiet_tensorflow
from geokeras.data.windows import check_overlap
from geokeras.denoise.files import LAYOUTS
from geokeras.denoise.naming import EXTENSIONS
from geokeras.denoise.options import BATCH_SIZE, COMPONENTS, OUT_OF_BAND, PRECISION_CHOICES

FORMATS = tuple(EXTENSIONS)  # ("MSEED", "SAC")

DESCRIPTION = ("Denoise seismic records and write the results into OUTDIR (one output per input file, the "
               "input tree mirrored; inputs are never overwritten).")
EPILOG = """inputs: files (an existing path is taken literally, e.g. 'ev[1].mseed'), folders (every regular,
  non-hidden file below them) and quoted glob patterns; files of unknown format found in folders or by
  globs (README, ...) are skipped with a warning, and so are files inside OUTDIR (earlier outputs).

outputs (REL = the input's path relative to its folder, glob root, or the common folder of the files
named, without .mseed/.miniseed/.ms/.msd/.sac):
  OUTDIR/REL.mseed                  --format MSEED: all traces, gaps kept as gaps
  OUTDIR/REL.sac                    --format SAC, one trace; REL.<trace id>[.k].sac for several traces
                                    (per segment k when a trace has gaps; '/' and control characters
                                    of ids become '_' in the name)
  OUTDIR/REL.noise.mseed|.sac       --write-noise: what was removed (input - output), same headers, gaps
  <output>.processing.json          stats.processing and the headers the format cannot hold (MiniSEED:
                                    calib), read back by geokeras.data.io.read
  OUTDIR/REL.png                    --plot: waveforms and spectrograms before/after
  --layout sds: OUTDIR/YEAR/NET/STA/CHA.D/NET.STA.LOC.CHA.D.YEAR.DOY, one MiniSEED file per id and UTC day,
                merged with the samples already there (--channel-code X: HHZ -> HXZ; --resume redoes the
                day files whose input grew; --components: a station's three day files of a day together)
every record keeps its ids, start time, sampling rate and number of samples (float32 samples). Each window
loses the mean and linear trend of its gap-free segment from the segment's start up to the window's end, and
its output is clipped at 1.1 x its own input peak (as the streaming denoiser does: one definition). A record
sampled outside the model's range is refused (or passed through: --out-of-band passthrough). A MiniSEED file
of 16 MiB or more is read and written a piece at a time (memory that does not grow with the file, with
--components too; not with --layout sds: a day file is read whole).

exit status: 0 all inputs denoised (repairs such as merged overlaps are printed once, as notes);
             1 an input, a trace or the model could not be used (one line per problem on stderr; the other
               traces and files are still written);
             2 usage error (also a --scheduler that is not a Dask address).
hostile and awkward input (README "Awkward and hostile input"): nothing is written outside OUTDIR."""


def add_parser(sub, add):
    """Add the ``denoise`` subcommand to the ``sub`` parsers (``add(name, help, description, epilog)``)."""
    p = add("denoise", "denoise seismic records (any ObsPy-readable format) with a denoiser model", DESCRIPTION,
            EPILOG)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder or quoted glob pattern")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (created if needed)")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="a .keras denoiser (default: the shipped model, default.keras; with --components a station's "
                        "three components go through the shipped three-component network, components.keras)")
    p.add_argument("--format", default="MSEED", type=str.upper, choices=FORMATS, help="output format")
    p.add_argument("--plot", action="store_true", help="also write a before/after PNG per input")
    p.add_argument("--write-noise", action="store_true",
                   help="also write the noise estimate (input - output) next to each output")
    p.add_argument("--out-of-band", default="refuse", choices=OUT_OF_BAND,
                   help="records sampled outside the model's range: refuse them (default) or pass them "
                        "through unchanged with a warning")
    p.add_argument("--overlap", type=argument_type(check_overlap, "overlap"),
                   default=0.5, help="window overlap in [0, 1) (default 0.5)")
    p.add_argument("--batch-size", type=positive_int("batch_size"), default=BATCH_SIZE,
                   help=f"windows per model call (default {BATCH_SIZE}; two calls at once where TensorFlow has two "
                        "or more threads)")
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                   help="arithmetic of the model's layers: auto (default: bfloat16 on a CPU with native bfloat16 "
                        "arithmetic and oneDNN on, else float32), float32 (the model as trained) or bfloat16 "
                        "(faster on such CPUs; outputs differ by rounding; recorded in the sidecars; README)")
    p.add_argument("--components", default=None, choices=COMPONENTS,
                   help="denoise a station's three components together where a file holds them aligned and "
                        "gap-free at the model's rate: one mask per window for all three, their median or mean "
                        "(steadier residual, more STA/LTA detections; README 'Three components, one mask'); "
                        "median-max: the vertical the median, each horizontal the larger of its own mask and the "
                        "median (weak S amplitudes kept); other "
                        "traces one by one (long files a piece at a time, as without it); with --layout sds a station's three day "
                        "files of one day (same NET.STA.LOC, band and instrument code) are read together")
    p.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors (no progress bar)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int("workers"), default=None, metavar="N",
                       help="denoise the files on a local Dask cluster of N worker processes, one file at a time "
                            "each, the cores shared out between their TensorFlow threads (needs geokeras[dask])")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS", type=_scheduler_address,
                       help="denoise the files on a running dask.distributed scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true",
                   help="skip inputs whose outputs exist and record this model's sha256 and these options (with "
                        "--layout sds: and the inputs' size and modification time, so a grown day file is redone, "
                        "with --components the station's three together)")
    p.add_argument("--layout", default="mirror", choices=LAYOUTS,
                   help="mirror: the input tree mirrored (default); sds: an SDS archive OUTDIR/YEAR/NET/STA/CHA.D/"
                        "NET.STA.LOC.CHA.D.YEAR.DOY, one MiniSEED file per id and UTC day, merged with what is there")
    p.add_argument("--channel-code", default=None, metavar="X", type=_channel_code,
                   help="with --layout sds: replace the instrument code (second letter) of every output channel, "
                        "HHZ -> HXZ for X; a code that makes an input channel is refused")
    p.set_defaults(func=run, needs_tensorflow=False)  # imported (quietly) only when a file is left to denoise
    return p


def _channel_code(text):
    """``--channel-code``: one letter or digit (`geokeras.denoise.sds.check_channel_code`; a usage error
    otherwise). ObsPy is imported only here, so the command starts without it."""
    from geokeras.denoise.sds import check_channel_code

    try:
        return check_channel_code("channel_code", text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check_layout_usage(args):
    """--layout and --channel-code against the other options (`geokeras.denoise.files.check_layout`): a usage
    error, one line and exit status 2 as argparse's, before any work."""
    from geokeras.denoise.files import check_layout

    try:
        check_layout(args.layout, args.channel_code, args.format, args.plot, args.write_noise)
    except ValueError as exc:
        print(f"geokeras denoise: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _scheduler_address(text):
    """``--scheduler``: a Dask address (checked without connecting; a usage error otherwise)."""
    from geokeras.denoise.executor import check_scheduler_address

    try:
        return check_scheduler_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _quiet_start():
    """Import TensorFlow quietly (`quiet_tensorflow`), without the ``matplotlib.pyplot`` that Keras imports for
    plotting helpers this command never calls (`geokeras.utils.pyplot_on_first_use`: ~0.3 s of the start-up)."""
    from geokeras.utils import pyplot_on_first_use

    with pyplot_on_first_use():
        quiet_tensorflow()


def run(args):
    """Run ``geokeras denoise``; return the exit status."""
    from geokeras.denoise.files import plan_denoise

    _check_layout_usage(args)
    plan = plan_denoise(args.inputs, args.output, model=args.model, format=args.format, overlap=args.overlap,
                        batch_size=args.batch_size, plot=args.plot, write_noise=args.write_noise,
                        out_of_band=args.out_of_band, precision=args.precision, layout=args.layout,
                        channel_code=args.channel_code, components=args.components)  # every check, before any work
    check_output_folder(args.output)
    den = plan.denoiser

    say = (lambda *a: None) if args.quiet else print
    show = not (args.quiet or args.no_progress) and sys.stderr.isatty()
    errors = []

    def report(result):
        if result.status == "ignored":
            print(f"geokeras denoise: warning: skipped {result.label}: not a waveform file", file=sys.stderr)
        elif result.status == "up_to_date":
            say(f"{result.label}: up to date (--resume)")
        for line, kind in zip(result.errors, result.error_types):
            errors.append(line)
            more = " (--out-of-band passthrough passes it through unchanged)" if kind == "OutOfBandError" else ""
            print(f"geokeras denoise: error: {result.label}: {line}{more}", file=sys.stderr)
        if result.traceback and args.debug:
            print(result.traceback, file=sys.stderr)
        if result.status == "done":
            say(f"{result.label} -> {', '.join(result.outputs)}  [{', '.join(result.ids)}; {result.samples} samples; "
                f"peak {result.peaks[0]:.4g} -> {result.peaks[1]:.4g}]")
        for note in result.notes:  # the documented repairs (and warnings of the job): once each
            if args.quiet:
                print(f"geokeras denoise: warning: {result.label}: {note}", file=sys.stderr)
            else:
                print(f"  note: {note}" if result.status == "done" else f"{result.label}: note: {note}")

    summary = plan.run(client=args.scheduler, workers=args.workers, resume=args.resume, progress=show,
                       on_result=report, raise_errors=args.debug, prepare=None if args.debug else _quiet_start)
    where = f"{summary.workers} worker processes" if summary.workers else "this process"
    say(f"{summary.traces} traces, {summary.windows} windows in {summary.seconds:.1f} s on {where}")
    say(f"denoised {summary.done} of {summary.files} file(s) into {args.output} with model {den.label} "
        f"(sha256 {den.sha256[:16]})"
        + (f", station groups with {den.for_components().label} (sha256 {den.for_components().sha256[:16]})"
           if args.components and den.for_components() is not den else "")
        + (f"; {summary.up_to_date} up to date" if summary.up_to_date else "")
        + (f"; {summary.ignored} non-waveform file(s) skipped" if summary.ignored else ""))
    if not (summary.done or summary.up_to_date or errors):
        raise CommandError("no waveform file among the inputs")
    return 1 if errors else 0
