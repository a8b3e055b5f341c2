"""The ``geokeras`` command: denoise records, train, evaluate and export denoiser models.

Usage::

    geokeras denoise INPUT... -o OUTDIR [--model MODEL.keras] [--format MSEED|SAC] [--plot]
    geokeras train --signals ... --noise ... -o model.keras [...]
    geokeras evaluate MODEL [--plot PNG] [...]
    geokeras export MODEL OUTDIR
    geokeras --version

Errors in the input (unreadable file, bad samples, a model file that cannot be loaded, an output that
would overwrite an input, ...) end the command with exit status 1 and one line on stderr that says why;
``--debug`` shows the full traceback instead. Usage errors exit with status 2 (argparse).

``geokeras denoise`` writes one output per input file into OUTDIR:

- ``--format MSEED`` (default): ``OUTDIR/<name>.mseed``, all traces of the input, gaps kept as gaps
  (one MiniSEED record sequence per contiguous segment);
- ``--format SAC``: ``OUTDIR/<name>.<trace id>.sac`` per trace (``.<k>.sac`` per segment when a trace has gaps,
  since SAC has no gaps);
- ``--plot``: ``OUTDIR/<name>.png`` with waveforms and spectrograms before/after;
- next to each waveform file, ``<file>.processing.json`` with the traces' ``stats.processing`` (formats
  cannot store it; ``geokeras.data.io.read`` puts it back);

where ``<name>`` is the input's file name without a seismic extension (.mseed, .miniseed, .ms, .msd, .sac).
Files are written atomically (temporary file + rename); an existing output is replaced, an input never:
the command refuses before any work when an output path is one of its inputs, or when two inputs would
write the same output. Inputs may be files, directories (every regular, non-hidden file below them) and
glob patterns (quote them); files of unknown format found in folders or by globs (README, ...) are skipped
with a warning, every other file that fails is reported and skipped, and the exit status is then 1.
"""
import argparse
import glob
import os
import sys

import geokeras

SIDECAR_SUFFIX = ".processing.json"  # geokeras.data.io.SIDECAR_SUFFIX (not imported: keep `geokeras --version` light)
SEISMIC_EXTENSIONS = (".mseed", ".miniseed", ".ms", ".msd", ".sac")
FORMATS = ("MSEED", "SAC")


DENOISE_EPILOG = """outputs (NAME = input file name without .mseed/.miniseed/.ms/.msd/.sac):
  OUTDIR/NAME.mseed                 --format MSEED: all traces, gaps kept as gaps
  OUTDIR/NAME.<trace id>[.k].sac    --format SAC: one file per trace (per segment when there are gaps)
  <output>.processing.json          the traces' stats.processing (read back by geokeras.data.io.read)
  OUTDIR/NAME.png                   --plot: waveforms and spectrograms before/after
every record keeps its ids, start time, sampling rate and number of samples (float32 samples).

exit status: 0 all inputs denoised (repairs such as merged overlaps are printed as notes);
             1 an input or the model could not be used (one line per problem on stderr);
             2 usage error."""


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def _one_line(exc, limit=600):
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    name = type(exc).__name__
    if not text:
        return name
    if isinstance(exc, (CommandError, ValueError)):
        return text
    return f"{name}: {text}"


# ---------------------------------------------------------------------------------------------- denoise
def expand_inputs(inputs):
    """Expand INPUT arguments (files, directories, glob patterns) into a sorted list of files.

    Args:
        inputs: the INPUT arguments, in order.

    Returns:
        list of file paths (no duplicates, in argument order; directory contents and glob matches sorted;
        hidden files and ``.processing.json`` sidecars of `geokeras.data.io.write` left out).

    Raises:
        CommandError: when an argument names nothing.
    """
    files = []
    for item in inputs:
        if os.path.isdir(item):
            found = []
            for root, dirs, names in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(root, n) for n in sorted(names)
                          if not n.startswith(".") and not n.endswith(SIDECAR_SUFFIX)
                          and os.path.isfile(os.path.join(root, n))]
            if not found:
                raise CommandError(f"input folder {item!r} has no files")
        elif os.path.exists(item):
            if not os.path.isfile(item):
                raise CommandError(f"input {item!r} is not a regular file")
            found = [item]
        elif glob.has_magic(item):
            found = sorted(p for p in glob.glob(item, recursive=True)
                           if os.path.isfile(p) and not p.endswith(SIDECAR_SUFFIX))
            if not found:
                raise CommandError(f"no files match {item!r}")
        else:
            raise CommandError(f"input {item!r} does not exist")
        files += found
    unique, seen = [], set()
    for f in files:
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def output_stem(path):
    """File name of ``path`` without a seismic extension (``a/b.mseed`` -> ``b``; ``a/b.D.001`` -> ``b.D.001``)."""
    name = os.path.basename(path)
    root, ext = os.path.splitext(name)
    return root if ext.lower() in SEISMIC_EXTENSIONS and root else name


def sac_names(stem, stream):
    """Output file names for SAC: ``<stem>.<id>.sac``, or ``<stem>.<id>.<k>.sac`` for several segments."""
    ids = [tr.id for tr in stream]
    names, count = [], {}
    for tr in stream:
        k = count.get(tr.id, 0)
        count[tr.id] = k + 1
        suffix = f".{k}" if ids.count(tr.id) > 1 else ""
        names.append(f"{stem}.{tr.id}{suffix}.sac")
    return names


def _check_not_input(path, input_set):
    if os.path.realpath(path) in input_set:
        raise CommandError(f"refusing to overwrite input file {path!r}; choose another output folder with -o")


def _cmd_denoise(args):
    import numpy as np
    from tqdm.auto import tqdm

    from geokeras.data import io
    from geokeras.denoise import denoise, resolve_model

    fmt = args.format.upper()
    files = expand_inputs(args.inputs)
    input_set = {os.path.realpath(f) for f in files}
    outdir = args.output
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise CommandError(f"output {outdir!r} exists and is not a folder")
    stems = [output_stem(f) for f in files]
    by_stem = {}
    for f, stem in zip(files, stems):
        if stem in by_stem:
            raise CommandError(f"inputs {by_stem[stem]!r} and {f!r} would both write {stem!r} outputs; "
                               "denoise them into different output folders")
        by_stem[stem] = f
        if fmt == "MSEED":
            _check_not_input(os.path.join(outdir, stem + ".mseed"), input_set)
            _check_not_input(os.path.join(outdir, stem + ".mseed" + io.SIDECAR_SUFFIX), input_set)
        if args.plot:
            _check_not_input(os.path.join(outdir, stem + ".png"), input_set)

    _, label, digest = resolve_model(args.model)  # load once (cached) and fail early on a bad model file
    os.makedirs(outdir, exist_ok=True)
    show = not args.no_progress and sys.stderr.isatty()
    failures = 0
    bar = tqdm(list(zip(files, stems)), desc="files", unit="file", disable=not show or len(files) < 2)
    explicit = {os.path.realpath(item) for item in args.inputs if os.path.isfile(item)}
    skipped = 0
    for path, stem in bar:
        try:
            try:
                stream = io.read(path)
            except ValueError as exc:
                if os.path.realpath(path) in explicit or "unknown format" not in str(exc):
                    raise
                skipped += 1  # a non-waveform file found in a folder or by a glob (README, ...): skip it
                print(f"geokeras denoise: warning: skipped {path}: not a waveform file", file=sys.stderr)
                continue
            cleaned, notes = denoise(stream, model=args.model, overlap=args.overlap, batch_size=args.batch_size,
                                     progress=show, return_report=True)
            if fmt == "MSEED":
                written = [io.write(cleaned, os.path.join(outdir, stem + ".mseed"), format="MSEED")]
            else:
                parts = cleaned.copy().split()
                targets = [os.path.join(outdir, n) for n in sac_names(stem, parts)]
                for target in targets:
                    _check_not_input(target, input_set)
                written = [io.write(type(parts)([tr]), target, format="SAC") for tr, target in zip(parts, targets)]
            if args.plot:
                from geokeras.plotting import plot_denoising

                written.append(plot_denoising(stream, cleaned, os.path.join(outdir, stem + ".png")))
        except Exception as exc:  # report, skip this file, exit 1 at the end
            if args.debug:
                raise
            failures += 1
            print(f"geokeras denoise: error: {path}: {_one_line(exc)}", file=sys.stderr)
            continue
        npts = int(sum(np.ma.count(tr.data) for tr in cleaned))
        ids = ", ".join(sorted({tr.id for tr in cleaned}))
        peak_in = max(float(np.nanmax(np.abs(tr.data))) if tr.stats.npts else 0.0 for tr in stream)
        peak_out = max(float(np.nanmax(np.abs(tr.data))) if tr.stats.npts else 0.0 for tr in cleaned)
        print(f"{path} -> {', '.join(written)}  [{ids}; {npts} samples; peak {peak_in:.4g} -> {peak_out:.4g}]")
        for note in notes:  # the documented repairs of geokeras.data.process.apply_to_stream
            print(f"  note: {note}")
    done = len(files) - failures - skipped
    print(f"denoised {done} of {len(files)} file(s) into {outdir} with model {label} (sha256 {digest[:16]})"
          + (f"; {skipped} non-waveform file(s) skipped" if skipped else ""))
    if not done and not failures:
        raise CommandError("no waveform file among the inputs")
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------------- train
def _cmd_train(args):
    from geokeras.train import run_from_args

    history = run_from_args(args)
    if history:
        key = "val_loss" if "val_loss" in history else "loss"
        best = min(history[key])
        print(f"best {key}: {best:.4f} (epoch {history[key].index(best) + 1} of {len(history[key])}); "
              f"saved {args.output}")
    else:
        print(f"nothing to train (already at the last epoch); model in {args.output}")
    return 0


# ---------------------------------------------------------------------------------------------- evaluate
def _cmd_evaluate(args):
    from geokeras.denoise import resolve_model
    from geokeras.evaluate import evaluate, format_table

    model, label, digest = resolve_model(None if args.model == "default" else args.model)
    rows = evaluate(model, snr_levels=tuple(args.snr_levels), n_per_level=args.n_per_level,
                    baselines=tuple(args.baselines), seed=args.seed, batch_size=args.batch_size, plot=args.plot,
                    model_name=label)
    print(f"model {label} (sha256 {digest[:16]}) on the held-out stations, real held-out noise, "
          f"{args.n_per_level} windows per input SNR level, seed {args.seed}; medians:")
    print(format_table(rows))
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


# ---------------------------------------------------------------------------------------------- export
def _cmd_export(args):
    import tensorflow as tf

    from geokeras.export import export_saved_model
    from geokeras.saving import load_model

    if os.path.exists(args.outdir) and (not os.path.isdir(args.outdir) or os.listdir(args.outdir)):
        raise CommandError(f"refusing to overwrite {args.outdir!r}: it exists and is not an empty folder")
    if args.model == "default":
        from geokeras.pretrained import DEFAULT_MODEL_PATH

        args.model = str(DEFAULT_MODEL_PATH)
    model = load_model(args.model)
    path = export_saved_model(model, args.outdir, batch_size=args.batch_size)
    loaded = tf.saved_model.load(path)
    print(f"Exported {args.model} as a TensorFlow SavedModel to {path}")
    print("It loads without geokeras or Keras: y = tf.saved_model.load(path).serve(x), x float32.")
    try:
        from geokeras.models.denoiser import denoiser_info

        info = denoiser_info(model)
        print(f"Denoiser: x holds raw windows of {info['window_length']} samples at {info['sampling_rate']:g} Hz "
              "in counts (any scale); normalization is inside the graph; y is in the units of x.")
    except ValueError:
        pass
    for name, fn in sorted(loaded.signatures.items()):
        _, kwargs = fn.structured_input_signature
        print(f"signature {name!r}:")
        for key, spec in sorted(kwargs.items()):
            print(f"  input  {key}: {spec.dtype.name} {list(spec.shape)}")
        for key, spec in sorted(fn.structured_outputs.items()):
            print(f"  output {key}: {spec.dtype.name} {list(spec.shape)}")
    return 0


# ---------------------------------------------------------------------------------------------- parser
def build_parser():
    """Return the ``argparse.ArgumentParser`` of the ``geokeras`` command."""
    parser = argparse.ArgumentParser(prog="geokeras", description="Autoencoders and a seismic waveform denoiser "
                                     "on Keras 3.")
    parser.add_argument("--version", action="version", version=f"geokeras {geokeras.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, help_text, description=None, epilog=None):
        p = sub.add_parser(name, help=help_text, description=description or help_text, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks instead of one-line errors")
        return p

    p = add("denoise", "denoise seismic records (any ObsPy-readable format) with a denoiser model",
            "Denoise seismic records and write the results into OUTDIR (one output per input file; inputs are "
            "never overwritten).", DENOISE_EPILOG)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder or quoted glob pattern")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (created if needed)")
    p.add_argument("--model", default=None, metavar="MODEL", help="a .keras denoiser (default: the shipped model)")
    p.add_argument("--format", default="MSEED", type=str.upper, choices=FORMATS, help="output format")
    p.add_argument("--plot", action="store_true", help="also write a before/after PNG per input")
    p.add_argument("--overlap", type=float, default=0.5, help="window overlap in [0, 1) (default 0.5)")
    p.add_argument("--batch-size", type=int, default=256, help="windows per model call (default 256)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_denoise)

    from geokeras import train

    p = add("train", "train a denoiser on signal and noise records (geokeras.train.train_denoiser)",
            "Train a denoiser and save the best model to OUTPUT (geokeras.train.train_denoiser).")
    train.add_arguments(p)
    p.set_defaults(func=_cmd_train)

    from geokeras.evaluate import BASELINES

    p = add("evaluate", "score a denoiser against baselines on held-out stations (geokeras.evaluate.evaluate)",
            "Score a denoiser and the baselines per input SNR level on the bundled held-out stations, with real "
            "held-out noise added; print the table of medians.")
    p.add_argument("model", metavar="MODEL", help="a .keras denoiser, or 'default' for the shipped model")
    p.add_argument("--plot", default=None, metavar="PNG", help="also write a figure of the table")
    p.add_argument("--snr-levels", type=float, nargs="+", default=[-10, -5, 0, 5, 10], metavar="DB",
                   help="input SNR levels in dB (default -10 -5 0 5 10)")
    p.add_argument("--n-per-level", type=int, default=100, help="test windows per level (default 100)")
    p.add_argument("--baselines", nargs="*", choices=BASELINES, default=list(BASELINES),
                   help="baselines scored next to the model (default all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the test windows")
    p.add_argument("--batch-size", type=int, default=64, help="model batch size")
    p.set_defaults(func=_cmd_evaluate)

    p = add("export", "export a model as a TensorFlow SavedModel taking raw float32 windows")
    p.add_argument("model", metavar="MODEL", help="a .keras model file, or 'default' for the shipped denoiser")
    p.add_argument("outdir", metavar="OUTDIR", help="SavedModel folder to create (must not exist or be empty)")
    p.add_argument("--batch-size", type=int, default=None, help="fix the batch size (default: free)")
    p.set_defaults(func=_cmd_export)
    return parser


def main(argv=None):
    """Run the ``geokeras`` command; return its exit status.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
    """
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    previous = warnings.showwarning

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"geokeras {args.command}: warning: {_one_line(message)}", file=sys.stderr)

    if not args.debug:
        warnings.showwarning = one_line_warning
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"geokeras {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"geokeras {args.command}: error: {_one_line(exc)} (--debug shows the traceback)", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
