"""``geokeras evaluate``: score a denoiser against baselines on held-out stations (`geokeras.evaluate.evaluate`)."""
import os

from geokeras.cli.common import check_output_folder, finite_float, positive_int

BASELINES = ("bandpass", "wavelet", "oracle_mask")  # geokeras.evaluate.BASELINES (a test keeps them equal)


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
    return 0
