"""``geokeras evaluate``: score a denoiser against baselines on held-out stations (`geokeras.evaluate.evaluate`)."""
import os

from geokeras.cli.common import argument_type, check_output_folder, finite_float, positive_int
from geokeras.denoise.options import COMPONENTS
from geokeras.validation import check_number

BASELINES = ("bandpass", "wavelet", "wiener", "oracle_mask")  # geokeras.evaluate.BASELINES (a test keeps them equal)


def add_parser(sub, add):
    """Add the ``evaluate`` subcommand."""
    p = add("evaluate", "score a denoiser against baselines on test stations (geokeras.evaluate.evaluate)",
            "Score a denoiser and the baselines per input SNR level on the bundled test stations (never used for "
            "training or model choice), with real noise of another test station added; print the table of medians.")
    p.add_argument("model", metavar="MODEL", help="a .keras denoiser, or 'default' for the shipped model")
    p.add_argument("--plot", default=None, metavar="PNG", help="also write a figure of the table")
    p.add_argument("--snr-levels", type=finite_float("snr_levels"), nargs="+", default=[-10, -5, 0, 5, 10],
                   metavar="DB", help="input SNR levels in dB (default -10 -5 0 5 10)")
    p.add_argument("--n-per-level", type=positive_int("n_per_level"), default=100,
                   help="test windows per level (default 100)")
    p.add_argument("--baselines", nargs="*", choices=BASELINES, default=list(BASELINES),
                   help="baselines scored next to the model (default all)")
    p.add_argument("--condition", choices=("inband", "recorded"), default="inband",
                   help="inband: signal and noise high-passed at 1 Hz (noise a band-pass cannot remove; default); "
                        "recorded: as recorded")
    p.add_argument("--seed", type=int, default=0, help="seed of the test windows")
    p.add_argument("--batch-size", type=positive_int("batch_size"), default=64, help="model batch size")
    p.add_argument("--detection", action="store_true",
                   help="also run the detection benchmark (geokeras.detection): STA/LTA on continuous records of "
                        "test-station noise with test-station events injected, raw vs band-pass vs the model")
    p.add_argument("--hours", type=argument_type(check_number, "hours", low=0.5), default=2.0,
                   help="--detection: length of each continuous record (default 2)")
    p.add_argument("--stations", type=positive_int("stations"), default=8,
                   help="--detection: records, one per noise station (default 8)")
    p.add_argument("--components", default=None, choices=COMPONENTS,
                   help="--detection on three-component records (the detector on the vertical), the model also "
                        "run on the three components with this mask combination (denoise --components)")
    p.set_defaults(func=run, needs_tensorflow=True)
    return p


def run(args):
    """Run ``geokeras evaluate``; return the exit status."""
    from geokeras.denoise import Denoiser
    from geokeras.evaluate import evaluate, format_table

    den = Denoiser.resolve(None if args.model == "default" else args.model)  # refuses a non-denoiser here
    if args.plot:
        check_output_folder(os.path.dirname(os.path.abspath(args.plot)))
    rows = evaluate(den.model, snr_levels=tuple(args.snr_levels), n_per_level=args.n_per_level,
                    baselines=tuple(args.baselines), seed=args.seed, batch_size=args.batch_size, plot=args.plot,
                    model_name=den.label, condition=args.condition)
    print(f"model {den.label} (sha256 {den.sha256[:16]}) on the test stations, real noise of other test stations "
          f"({args.condition} condition), {args.n_per_level} windows per input SNR level, seed {args.seed}; medians:")
    print(format_table(rows))
    if args.plot:
        print(f"wrote {args.plot}")
    if args.detection:
        _detection(den, args)
    return 0


def _detection(den, args):
    """Print the detection benchmark's tables for ``den`` on the test stations, and each method's recall minus the
    raw trace's with its station-resampled interval (`geokeras.detection.paired_differences`)."""
    from geokeras.detection import (benchmark_records, component_methods, evaluate_detection, format_detection,
                                    format_paired, paired_differences, standard_methods)

    levels = (-10, -5, 0, 5)
    three = {"components": 3, "min_noise_s": 55.0} if args.components else {}  # a quiet 3-C window is ~89 s
    records = benchmark_records("test", n_stations=args.stations, hours=args.hours, snr_levels=levels, seed=args.seed,
                                **three)
    n_events = sum(len(r["events"]) for r in records)
    kind = "three-component " if args.components else ""
    print(f"\ndetection on {len(records)} {kind}continuous records x {args.hours:g} h of test-station noise (in band), "
          f"{n_events} test-station events at {', '.join(f'{lv:g}' for lv in levels)} dB:")
    methods = standard_methods({den.label: den})
    if args.components:
        methods.update(component_methods({den.label: den}, (args.components,), wiener=True))
    scores = evaluate_detection(methods, records)
    print(format_detection(scores, levels))
    print(format_paired(paired_differences(scores, records, "raw", levels), "raw", levels))
