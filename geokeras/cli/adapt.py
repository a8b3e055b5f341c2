"""``geokeras adapt``: fine-tune a denoiser on one station's continuous noise (`geokeras.adaptation.adapt`).

Refused with one line before any work: an OUTPUT that is not ``.keras`` or a budget that is not positive
(usage, exit 2); an existing OUTPUT without ``--force``, a base that is not a denoiser, records of several
stations (listed; ``--per-station`` writes ``OUTPUT.NET.STA.keras`` for each), a trace sampled outside the
base's rates, too little data for the minimum of noise (exit 1). What it kept of the records, the epochs and
the before/after figures go to stderr; the result line to stdout.
"""
import os
import sys

from geokeras.cli.common import CommandError, argument_type, check_output_folder
from geokeras.cli.train import keras_path
from geokeras.validation import check_number


def add_parser(sub, add):
    """Add the ``adapt`` subcommand."""
    from geokeras.adaptation import GENERAL_NOISE, MIN_NOISE_MINUTES

    p = add("adapt", "fine-tune the default denoiser on one station's continuous noise (geokeras.adapt)",
            "Fine-tune a denoiser (default: the shipped model) on the noise of one station's continuous records: "
            "noise-only stretches are found automatically (STA/LTA and the base model's signal estimate), the "
            "last 20 % by time is held out, and the before/after figures on it (SNR gain per level, STA/LTA "
            "recall at 2 false triggers per hour) go into the model's metadata and a .md card beside OUTPUT.")
    p.add_argument("records", nargs="+", metavar="RECORD", help="continuous data of one station (files, globs, "
                   "folders; any ObsPy format, gaps, any channel)")
    p.add_argument("-o", "--output", required=True, type=keras_path, help="the adapted model (.keras)")
    p.add_argument("--model", default=None, help="base denoiser .keras (default: the shipped model)")
    p.add_argument("--minutes", type=argument_type(check_number, "minutes", low=0.0, low_open=True), default=10.0,
                   help="time budget of the fine-tuning (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace OUTPUT (and its card) if it exists")
    p.add_argument("--per-station", action="store_true",
                   help="records of several stations: one model each, OUTPUT.NET.STA.keras")
    p.add_argument("--min-noise-minutes", type=argument_type(check_number, "min_noise_minutes", low=0.0),
                   default=MIN_NOISE_MINUTES, help=f"least noise-only data accepted (default {MIN_NOISE_MINUTES:g})")
    p.add_argument("--detection-hours", type=argument_type(check_number, "detection_hours", low=0.0), default=1.0,
                   help="length of the held-out detection record (0: no recall figures)")
    p.add_argument("--general-noise", type=argument_type(check_number, "general_noise", low=0.0, high=1.0,
                                                         high_open=True), default=GENERAL_NOISE,
                   help="share of the bundled training-station noise mixed into the station's for the fine-tuning "
                        f"pairs, against overfitting a few hours of one station (default {GENERAL_NOISE:g})")
    p.add_argument("--threads", type=argument_type(check_number, "threads", integer=True, low=1), default=None,
                   help="TensorFlow intra-op threads")
    p.set_defaults(func=run, needs_tensorflow=True)
    return p


def _log(text):
    print(text, file=sys.stderr, flush=True)


def run(args):
    """Run ``geokeras adapt``; return the exit status."""
    import contextlib

    from geokeras import adaptation

    if os.path.exists(args.output) and not args.force and not args.per_station:
        raise CommandError(f"refusing to overwrite {args.output!r}: it exists (--force replaces it)")
    check_output_folder(os.path.dirname(os.path.abspath(args.output)))
    kwargs = dict(base=args.model, minutes=args.minutes, seed=args.seed, force=args.force,
                  min_noise_minutes=args.min_noise_minutes, detection_hours=args.detection_hours,
                  general_noise=args.general_noise,
                  threads=args.threads, log=_log)
    with contextlib.redirect_stdout(sys.stderr):
        try:
            if args.per_station:
                done = adaptation.adapt_per_station(args.records, args.output, **kwargs)
                written = {sta: str(adaptation.per_station_path(args.output, sta)) for sta in done}
            else:
                done = {None: adaptation.adapt(args.records, output=args.output, **kwargs)}
                written = {None: args.output}
        except FileExistsError as exc:
            raise CommandError(str(exc)) from None
    for sta, (_, report) in done.items():
        g = report["figures"]["gain_db"]
        print(f"{report['station']}: {report['noise_hours']['kept']:.2f} h of noise kept; median SNR gain on "
              f"held-out noise {g['base']['all']:.2f} -> {g['adapted']['all']:.2f} dB; saved {written[sta]} and "
              f"{adaptation.card_path(written[sta])}")
    return 0
