"""``geokeras train``: train a denoiser and save the best model (`geokeras.training.train_denoiser`).

The output is checked before any training: it must be a ``.keras`` file (usage error, exit 2), in a folder
that can be written, and neither it nor an earlier run's checkpoint in ``OUTPUT.ckpt/`` may exist unless
``--force`` (start anew: the checkpoint files of the earlier run are removed before training, the output
replaced) or ``--resume`` (continue from ``OUTPUT.ckpt/``, with its recipe) is given; the two together are a
usage error (exit 2): one discards the checkpoint the other continues. Keras' progress bar goes to stderr
(``--quiet``: none); the result line to stdout.

The defaults are the shipped model's recipe (`geokeras.training.recipe`): ``geokeras train -o v3.keras``
trains the network of ``default.keras`` on the bundled training stations. The records and stations the run
trains and validates on are printed to stderr before the first epoch.
"""
import argparse
import ast
import contextlib
import os
import sys

from geokeras.validation import check_number
from geokeras.cli.common import CommandError, argument_type, check_output_folder, finite_float, positive_int
from geokeras.training.families import DENOISER_FAMILIES
from geokeras.training.recipe import SHIPPED_MODEL_KWARGS, SHIPPED_RECIPE as R, recipe_shift
from geokeras.training.strategies import STRATEGIES


def keras_path(text):
    """``argparse`` type of ``-o``: a path ending in ``.keras``."""
    if not text.endswith(".keras"):
        raise argparse.ArgumentTypeError(
            f"Invalid value for argument `output`. Expected a path ending in .keras. Received output={text!r}.")
    return text


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written, and an option's default after its help (unless the help gives it)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "default" not in text and not (default is None or default is False or default == [] or
                                          default == argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


def model_option(text):
    """``argparse`` type of ``--model-option``: ``KEY=LITERAL`` -> ``(key, value)``."""
    key, sep, value = text.partition("=")
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        sep = ""
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(
            f"Invalid value for argument `model_option`. Expected KEY=LITERAL. Received model_option={text!r}.")
    return key.strip(), parsed


def fraction(name):
    return argument_type(check_number, name, low=0.0, high=1.0)


def positive(name):
    return argument_type(check_number, name, low=0.0, low_open=True)


def add_parser(sub, add):
    """Add the ``train`` subcommand (every option of `geokeras.training.train_denoiser` the command exposes)."""
    p = add("train", "train a denoiser on signal and noise records (geokeras.training.train_denoiser)",
            "Train a denoiser and save the best model to OUTPUT (geokeras.training.train_denoiser). The defaults "
            "are the shipped model's recipe (geokeras.training.recipe): `geokeras train -o v3.keras` trains its "
            "network on the bundled training stations. The records and stations it trains and validates on "
            "are printed first.")
    p.formatter_class = HelpFormatter
    p.add_argument("--signals", nargs="+", help="signal files/globs/directories (default: bundled events)")
    p.add_argument("--noise", nargs="+", help="noise files/globs/directories (default: bundled pre-P noise)")
    p.add_argument("-o", "--output", required=True, type=keras_path, help="output .keras file (best model)")
    start = p.add_mutually_exclusive_group()  # --force discards the checkpoint that --resume continues
    start.add_argument("--force", action="store_true",
                       help="start anew: replace OUTPUT and remove the earlier run's checkpoint files in OUTPUT.ckpt/ "
                            "(last.keras, best.keras, state.json, history.json); not with --resume")
    p.add_argument("--family", choices=DENOISER_FAMILIES, default=R["family"], help="denoiser architecture")
    p.add_argument("--window-length", type=positive_int("window_length"), default=R["window_length"],
                   help="samples per training window (at --sampling-rate)")
    p.add_argument("--sampling-rate", type=positive("sampling_rate"), default=R["sampling_rate"],
                   help="the model's sampling rate, Hz (records are resampled to it)")
    p.add_argument("--epochs", type=positive_int("epochs"), default=R["epochs"], help="training epochs (at most)")
    p.add_argument("--steps-per-epoch", type=positive_int("steps_per_epoch"), default=R["steps_per_epoch"],
                   help="batches per epoch")
    p.add_argument("--batch-size", type=positive_int("batch_size"), default=R["batch_size"], help="windows per batch")
    p.add_argument("--validation", nargs="+", default=None,
                   help="held-out NET.STA codes, or one fraction of stations (default: bundled hold-out / 0.2)")
    p.add_argument("--no-validation", action="store_true", help="train without validation (keeps the last model)")
    p.add_argument("--validation-steps", type=positive_int("validation_steps"), default=R["validation_steps"],
                   help="validation batches (drawn once, seeded)")
    p.add_argument("--patience", type=positive_int("patience"), default=R["patience"],
                   help="EarlyStopping patience in epochs (the learning rate is halved after patience // 3)")
    p.add_argument("--seed", type=int, default=R["seed"], help="seed of the pair generators, synthetic signals and weights")
    p.add_argument("--learning-rate", type=positive("learning_rate"), default=R["learning_rate"],
                   help="Adam learning rate")
    p.add_argument("--snr-db", type=finite_float("snr_db"), nargs=2, default=R["snr_db"], metavar=("LOW", "HIGH"),
                   help="training SNR range, dB (window power ratio)")
    p.add_argument("--n-synthetic", type=argument_type(check_number, "n_synthetic", integer=True, low=0),
                   default=R["n_synthetic"], help="synthetic seismograms added to the training signals")
    p.add_argument("--min-record-snr-db", type=finite_float("min_record_snr_db"), default=R["min_record_snr_db"],
                   help="bundled data only: minimum pre/post-P SNR of the records used as signals, dB")
    p.add_argument("--tensorboard-dir", default=None, help="write TensorBoard logs here")
    start.add_argument("--resume", action="store_true",
                       help="continue from OUTPUT.ckpt/last.keras, with its recipe: other loss weights, data options "
                            "(--target-floor, --snr-db, ...) or run options (--seed, --batch-size, --learning-rate, "
                            "--model-option, --signals, ...) than the checkpoint's are refused; --epochs, --patience, "
                            "--time-limit-s, --threads may change")
    p.add_argument("--threads", type=positive_int("threads"), default=None,
                   help="TensorFlow intra-op threads (default: TensorFlow's)")
    p.add_argument("--model-option", type=model_option, action="append", default=[], metavar="KEY=VALUE",
                   help="builder option, Python literal value (e.g. filters=(8,16,32) or log_power=True); repeatable; "
                        "for stftmask it replaces that key of the recipe's "
                        + ", ".join(f"{k}={v}" for k, v in SHIPPED_MODEL_KWARGS.items()))
    p.add_argument("--time-limit-s", type=positive("time_limit_s"), default=None,
                   help="stop after this many seconds of training")
    p.add_argument("--noise-augment", action=argparse.BooleanOptionalAction, default=R["noise_augment"],
                   help="random polarity flips, time reversals and sums of two noise windows")
    p.add_argument("--noise-only-fraction", type=fraction("noise_only_fraction"), default=R["noise_only_fraction"],
                   help="fraction of noise-only pairs (target zero)")
    p.add_argument("--stationarity-weight", type=argument_type(check_number, "stationarity_weight", low=0.0),
                   default=R.get("stationarity_weight", 0.0),
                   help="weight of the penalty on bursty output in noise-only pairs (default: 0, plain MSE)")
    p.add_argument("--gain-weight", type=argument_type(check_number, "gain_weight", low=0.0),
                   default=R.get("gain_weight", 0.0),
                   help="weight of a loss term on the amplitude bias of the output along the signal (keeps weak "
                        "events whole; default: 0, none)")
    p.add_argument("--target-floor", type=argument_type(check_number, "target_floor", low=0.0, high=1.0,
                                                         high_open=True),
                   default=R.get("target_floor", 0.0),
                   help="the training target keeps this fraction of the noise, clean + F * noise (with "
                        "--model-option mask_floor=F: what the ideal mask gives; default: 0, the clean signal)")
    p.add_argument("--log-power-weight", type=argument_type(check_number, "log_power_weight", low=0.0),
                   default=R.get("log_power_weight", 0.0),
                   help="weight of a loss term on the output's log power in 0.5-s blocks (bursts and weak events "
                        "held back cost alike; not with --stationarity-weight/--gain-weight; default: 0, none)")
    p.add_argument("--noise-burst-fraction", type=fraction("noise_burst_fraction"),
                   default=R.get("noise_burst_fraction", 0.0),
                   help="fraction of noise windows given a noise burst (0-12 dB, 0.5-6 s) that the target "
                        "leaves out: teaches the network not to pass noise transients (default: 0)")
    p.add_argument("--noise-surrogate-fraction", type=fraction("noise_surrogate_fraction"),
                   default=R.get("noise_surrogate_fraction", 0.0),
                   help="fraction of noise windows replaced by a Fourier surrogate of themselves (same spectrum, "
                        "random phases): new noise realizations of the training stations (default: 0)")
    p.add_argument("--horizontal-rotations", type=argument_type(check_number, "horizontal_rotations", integer=True, low=0),
                   default=R.get("horizontal_rotations", 0), metavar="K",
                   help="bundled data only: add K rotations to random azimuths of each training record's two "
                        "horizontal components as more signals and noise (default: 0)")
    p.add_argument("--inband-fraction", type=fraction("inband_fraction"), default=R["inband_fraction"],
                   help="fraction of pairs with signal and noise high-passed at 1 Hz")
    p.add_argument("--stretch", type=positive("stretch"), nargs=2, default=R["stretch"], metavar=("LOW", "HIGH"),
                   help="add two time-stretched copies of each training signal (factors in [LOW, HIGH])")
    p.add_argument("--no-stretch", dest="stretch", action="store_const", const=None, help="no stretched copies")
    p.add_argument("--shift", type=argument_type(check_number, "shift", integer=True), nargs=2, default=None,
                   metavar=("LOW", "HIGH"),
                   help="signal start in the window, samples; negative starts the window inside the signal "
                        "(default: the recipe's -window_length // 3 .. 2 * window_length // 3, -1000 2000 for 3000)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress (otherwise a bar on a terminal, one line per epoch elsewhere)")
    p.add_argument("--strategy", choices=[s for s in STRATEGIES if s], default=None,
                   help="mirrored: one replica per local GPU (or per --devices); --batch-size is the global batch")
    p.add_argument("--devices", nargs="+", default=None, metavar="DEVICE",
                   help="devices for --strategy mirrored, e.g. /gpu:0 /gpu:1 (default: all local GPUs)")
    p.set_defaults(func=run, needs_tensorflow=True)
    return p


def _validation(args):
    """``validation`` of `train_denoiser`: False, None, a fraction of stations or a list of NET.STA codes."""
    if args.no_validation:
        return False
    if not args.validation:
        return None
    if len(args.validation) == 1:
        try:
            value = float(args.validation[0])
        except ValueError:  # one NET.STA code
            return list(args.validation)
        return check_number("validation", value, low=0.0, high=1.0, low_open=True, high_open=True)
    return list(args.validation)


def _verbosity(quiet):
    """Keras verbosity: 0 with ``--quiet``; its progress bar (ANSI colour codes, carriage returns) only on a
    terminal; one plain line per epoch in a log file or pipe."""
    if quiet:
        return 0
    return 1 if sys.stderr.isatty() else 2


def train_kwargs(args):
    """The keyword arguments of `geokeras.training.train_denoiser` for parsed ``train`` options."""
    return dict(
        signals=args.signals, noise=args.noise, output=args.output, family=args.family,
        window_length=args.window_length, sampling_rate=args.sampling_rate, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, validation=_validation(args),
        validation_steps=args.validation_steps, patience=args.patience, seed=args.seed,
        learning_rate=args.learning_rate, snr_db=tuple(args.snr_db), n_synthetic=args.n_synthetic,
        min_record_snr_db=args.min_record_snr_db, tensorboard_dir=args.tensorboard_dir, resume=args.resume,
        threads=args.threads, verbose=_verbosity(args.quiet), time_limit_s=args.time_limit_s,
        model_kwargs=_model_kwargs(args), noise_augment=args.noise_augment,
        noise_only_fraction=args.noise_only_fraction, stationarity_weight=args.stationarity_weight,
        noise_burst_fraction=args.noise_burst_fraction, gain_weight=args.gain_weight,
        target_floor=args.target_floor, log_power_weight=args.log_power_weight,
        noise_surrogate_fraction=args.noise_surrogate_fraction, horizontal_rotations=int(args.horizontal_rotations),
        inband_fraction=args.inband_fraction, stretch=tuple(args.stretch) if args.stretch else None,
        shift=tuple(args.shift) if args.shift else recipe_shift(args.window_length), strategy=args.strategy,
        devices=args.devices, log=_log,
    )


def _model_kwargs(args):
    """The builder options: for ``stftmask`` the recipe's (`SHIPPED_MODEL_KWARGS`), updated by ``--model-option``."""
    base = dict(SHIPPED_MODEL_KWARGS) if args.family == "stftmask" else {}
    return {**base, **dict(args.model_option)} or None


def _log(text):
    """The records and stations of the run, on stderr (stdout keeps the result line)."""
    print(text, file=sys.stderr, flush=True)


def run(args):
    """Run ``geokeras train``; return the exit status."""
    from geokeras import training
    from geokeras.training.train import CHECKPOINT_FILES, checkpoint_dir

    if not (args.force or args.resume):
        if os.path.exists(args.output):
            raise CommandError(f"refusing to overwrite {args.output!r}: it exists (--force replaces it, "
                               "--resume continues its training)")
        ckpt = checkpoint_dir(args.output)
        if any((ckpt / name).exists() for name in CHECKPOINT_FILES):
            raise CommandError(f"refusing to start over the checkpoint of an earlier run in {str(ckpt)!r} "
                               "(--resume continues it, --force removes it and starts anew)")
    check_output_folder(os.path.dirname(os.path.abspath(args.output)))
    kwargs = train_kwargs(args)
    with contextlib.redirect_stdout(sys.stderr):  # Keras' progress bar: stderr, stdout keeps the result
        _, history = training.train_denoiser(**kwargs)
    if history:
        key = "val_loss" if "val_loss" in history else "loss"
        best = min(history[key])
        print(f"best {key}: {best:.4f} (epoch {history[key].index(best) + 1} of {len(history[key])}); "
              f"saved {args.output}")
    else:
        print(f"nothing to train (already at the last epoch); model in {args.output}")
    return 0
