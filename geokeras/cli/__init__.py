"""The ``geokeras`` command: denoise records, train, evaluate and export denoiser models.

Usage::

    geokeras denoise INPUT... -o OUTDIR [--model MODEL.keras] [--format MSEED|SAC] [--plot] [--write-noise]
    geokeras train [--signals ... --noise ...] -o model.keras [...]
    geokeras adapt RECORD... -o station.keras [--model BASE] [--minutes M] [--seed S] [--force] [--per-station]
    geokeras evaluate MODEL [--plot PNG] [...]
    geokeras export MODEL OUTDIR
    geokeras --version

also as ``python -m geokeras``. One module per subcommand (`geokeras.cli.denoise`, `~geokeras.cli.train`,
`~geokeras.cli.adapt`, `~geokeras.cli.evaluate`, `~geokeras.cli.export`), each with ``add_parser`` and
``run``; the library below raises typed exceptions (`geokeras.errors`), never matched by message here.

Errors: usage errors (a bad option value such as ``--overlap 1.5``, a train output that is not ``.keras``)
exit with status 2 and one argparse message, before any work. Errors in the input (unreadable file, bad
samples, a model file that cannot be loaded or is not a denoiser, an output that would overwrite an
input, an output folder that cannot be written ...) end the command with exit status 1 and one line on
stderr that says why; ``--debug`` shows the full traceback instead. TensorFlow's start-up and log lines
are silenced (``--debug`` keeps them); progress bars and Keras output go to stderr, results to stdout.
"""
import argparse
import sys

import geokeras
from geokeras.cli import adapt, denoise, evaluate, export, train
from geokeras.cli.common import one_line, quiet_tensorflow

__all__ = ["main", "console", "build_parser"]

SUBCOMMANDS = (denoise, train, adapt, evaluate, export)


def build_parser():
    """Return the ``argparse.ArgumentParser`` of the ``geokeras`` command."""
    parser = argparse.ArgumentParser(prog="geokeras", description="Autoencoders and a seismic waveform denoiser "
                                     "on Keras 3.")
    parser.add_argument("--version", action="version", version=f"geokeras {geokeras.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, help_text, description=None, epilog=None):
        p = sub.add_parser(name, help=help_text, description=description or help_text, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks and TensorFlow logs")
        return p

    for command in SUBCOMMANDS:
        command.add_parser(sub, add)
    return parser


def main(argv=None):
    """Run the ``geokeras`` command; return its exit status.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
    """
    return _main(argv)[0]


def console():
    """The ``geokeras`` program (``python -m geokeras``, the console script): `main`, then the process ends.

    After ``geokeras denoise`` in this process (TensorFlow loaded, no Dask), it ends without the interpreter's
    teardown of TensorFlow's thousands of modules (~1 s of a day's run): every output was written, closed and
    moved into place before, and stdout and stderr are flushed; the exit status is the command's.
    """
    status, args = _main(None)
    if getattr(args, "command", None) == "denoise" and "tensorflow" in sys.modules and "distributed" not in sys.modules:
        _exit_now(status)
    sys.exit(status)


def _exit_now(status):
    import logging
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken pipe: the ordinary exit reports it
        return
    logging.shutdown()
    os._exit(status)


def _main(argv):
    """``(exit status, parsed arguments)`` of the ``geokeras`` command."""
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: exit 2 here, before any work
    previous = warnings.showwarning

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"geokeras {args.command}: warning: {one_line(message)}", file=sys.stderr)

    if not args.debug:
        warnings.showwarning = one_line_warning
    try:
        if args.needs_tensorflow and not args.debug:
            quiet_tensorflow()
        return int(args.func(args) or 0), args
    except KeyboardInterrupt:
        print(f"geokeras {args.command}: interrupted", file=sys.stderr)
        return 130, args
    except Exception as exc:
        if args.debug:
            raise
        print(f"geokeras {args.command}: error: {one_line(exc)} (--debug shows the traceback)", file=sys.stderr)
        return 1, args
    finally:
        warnings.showwarning = previous
