"""Experiment (issue 15, session 17): how much the training stations limit the shipped network.

Sixteen sessions of candidates (wider and deeper networks, losses, floors, smoothing, ensembles, whitening) sit on
one frontier, at about 57 % of the ideal mask's SNR gain. Is the mask estimate short of data? This trains the shipped
recipe (`geokeras train`'s defaults, `geokeras.training.recipe.SHIPPED_RECIPE`, seed 0, EarlyStopping as ever) on a
seeded fraction of the 78 training stations: every record of the chosen stations gives its noise, those above the
recipe's 15 dB give their signals (plus the recipe's 1000 synthetic signals and time stretches); the validation
pairs are the recipe's own (`geokeras.training.sources.bundled_sources`), so the validation losses compare. With
``1.0`` the run is the shipped recipe itself: on the 2-core build machine, at 2 threads, it reproduces v3's weights
bit for bit (v4 is v3 with the 0.3 floor).

    python bench/learning_curve.py 0.25 -o lc_0.25.keras
    python bench/learning_curve.py 0.5 -o lc_0.5.keras
    python bench/learning_curve.py 1.0 -o lc_1.0.keras
    python bench/make_default_v4.py lc_0.5.keras -o lc_0.5_f0.3.keras --floor 0.3     # each, then score:
    python bench/bench_quality.py lc_0.25_f0.3.keras lc_0.5_f0.3.keras lc_1.0_f0.3.keras --split validation \\
        --conditions inband --no-noisy
    python bench/bench_detection.py lc_0.25_f0.3.keras lc_0.5_f0.3.keras geokeras/pretrained/default.keras \\
        --split validation --stations 10 --min-noise-s 55 --repeats 4 --levels -15 -10 -5 0 5 --components 3 \\
        --statistics median --compare "default.keras 3c-median" default.keras

Not a shipped path: the result is in docs/detection_log.md ("Session 17").
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def station_subset(fraction, seed=1234):
    """The training records of a seeded ``fraction`` of the training stations, and the stations' count.

    Returns:
        ``(records, kept, total)``: the `EventRecord` list of the kept stations and the numbers of kept and of
        all training stations.
    """
    import numpy as np

    from geokeras.data import datasets

    train, _, _ = datasets.split_records(datasets.load_events(), validation=datasets.VALIDATION_STATIONS,
                                         test=set(datasets.TEST_STATIONS))
    stations = sorted({r.station_id for r in train})
    keep = set(np.random.default_rng(seed).permutation(stations)[: max(1, int(round(fraction * len(stations))))])
    return [r for r in train if r.station_id in keep], len(keep), len(stations)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fraction", type=float, help="fraction of the training stations, in (0, 1]")
    parser.add_argument("-o", "--output", required=True, help="the network written (no floor)")
    parser.add_argument("--epochs", type=int, default=120,
                        help="at most (default 120; EarlyStopping, patience 40, ends the recipe's run at 82)")
    parser.add_argument("--station-seed", type=int, default=1234, help="seed of the stations drawn")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if not 0.0 < args.fraction <= 1.0:
        parser.error(f"fraction: expected a number in (0, 1], received {args.fraction}")

    from geokeras.data import pairs
    from geokeras.training import train_denoiser
    from geokeras.training.recipe import SHIPPED_MODEL_KWARGS, SHIPPED_RECIPE, recipe_shift
    from geokeras.training.sources import bundled_sources

    recipe = dict(SHIPPED_RECIPE)
    min_snr = recipe.pop("min_record_snr_db")  # applied here: train_denoiser applies it to the bundled data only
    full = bundled_sources(min_record_snr_db=min_snr)
    records, kept, total = station_subset(args.fraction, args.station_seed)
    ranked = pairs.rank_records(records, component=None, min_snr_db=min_snr)
    signals, _ = pairs.sources_from_events([rec for rec, _ in ranked])
    _, noise = pairs.sources_from_events(records)
    print(f"fraction {args.fraction:g}: {kept} of {total} training stations, {len(records)} records, {len(ranked)} "
          f"above {min_snr:g} dB ({len(signals)} signal traces), {len(noise)} noise traces (all stations: "
          f"{len(full['train_signals'])} and {len(full['train_noise'])})", flush=True)
    recipe["epochs"] = args.epochs
    train_denoiser(signals=signals, noise=noise, validation=(full["val_signals"], full["val_noise"]),
                   output=args.output, model_kwargs=dict(SHIPPED_MODEL_KWARGS),
                   shift=recipe_shift(recipe["window_length"]), threads=args.threads, verbose=2, **recipe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
