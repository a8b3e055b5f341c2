"""Fine-tune a trained denoiser for a few minutes with one training option changed: a quick candidate (issue 15).

Usage:
    python bench/finetune_candidate.py BASE.keras -o cand.keras --minutes 14 [--learning-rate 1e-4]
        [--noise-burst-fraction F] [--stationarity-weight W] [--gain-weight G] [--threads 2] [--seed 1]

The pairs are the shipped recipe's (`geokeras.training.recipe`: bundled training-station events and noise,
time-stretched copies, synthetic seismograms, noise augmentation, half in band), drawn with ``--seed``; the
options change the pairs (``--noise-burst-fraction``: `geokeras.data.pairs.PairGenerator`) or the loss
(``--stationarity-weight``, ``--gain-weight``: `geokeras.training.losses.NoiseStationarityMSE`). Adam at
``--learning-rate``, epochs of 100 batches of 32, validated on the recipe's validation-station pairs (with the
same noise bursts), until ``--minutes`` of training have passed; the best validation epoch is kept and saved.
The validation loss of the base and of the result is printed with and without bursts.

A fine-tuning is the cheap way to see where an option leads (14 minutes instead of the 40 or more of a
training from scratch); a candidate to ship is then trained from scratch with ``geokeras train`` and the
same option, so that one command reproduces it. Score candidates on validation stations only:
``bench/bench_detection.py --split validation ...`` and ``bench/bench_quality.py --split validation ...``
(model card: "Choosing the mask floor").
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the trained .keras denoiser to start from (e.g. v3, or v4 with its floor)")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--minutes", type=float, default=14.0)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--noise-burst-fraction", type=float, default=0.0)
    parser.add_argument("--stationarity-weight", type=float, default=0.0)
    parser.add_argument("--gain-weight", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import keras

    from geokeras.saving import load_model
    from geokeras.training.callbacks import best_weights, time_limit
    from geokeras.training.losses import NoiseStationarityMSE
    from geokeras.training.recipe import SHIPPED_AUGMENTATION as A, SHIPPED_RECIPE as R, recipe_shift
    from geokeras.training.sources import training_signals, training_sources
    from geokeras.training.train import fit, pair_dataset, validation_pairs
    from geokeras.utils import set_threads

    set_threads(args.threads)
    L, sr = R["window_length"], R["sampling_rate"]
    src = training_sources(None, None, None, sr, L, args.seed, R["min_record_snr_db"])
    sig = training_signals(src["train_signals"], A["stretch"], A["n_synthetic"], L, sr, args.seed)
    aug = dict(noise_augment=A["noise_augment"], inband_fraction=A["inband_fraction"], sampling_rate=sr)
    val_opts = dict(snr_db=A["snr_db"], inband_fraction=A["inband_fraction"], sampling_rate=sr)
    val = validation_pairs(src["val_signals"], src["val_noise"], L, 20 * 32, R["seed"],
                           noise_burst_fraction=args.noise_burst_fraction, **val_opts)
    plain = validation_pairs(src["val_signals"], src["val_noise"], L, 20 * 32, R["seed"], **val_opts)
    ds = pair_dataset(sig, src["train_noise"], L, 32, args.seed, snr_db=A["snr_db"],
                      noise_only_fraction=A["noise_only_fraction"], shift=recipe_shift(L),
                      noise_burst_fraction=args.noise_burst_fraction, **aug)
    model = load_model(args.base)
    loss = (NoiseStationarityMSE(args.stationarity_weight, gain_weight=args.gain_weight)
            if args.stationarity_weight or args.gain_weight else "mse")
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=loss)
    print(f"base validation loss with / without bursts: {model.evaluate(*val, verbose=0):.5f} / "
          f"{model.evaluate(*plain, verbose=0):.5f}; load average {os.getloadavg()[0]:.2f}", flush=True)
    history = fit(model, ds, epochs=10_000, steps_per_epoch=100, validation_data=val, verbose=2,
                  callbacks=[time_limit(args.minutes * 60.0), best_weights("val_loss")])
    print("val_loss per epoch:", [round(v, 5) for v in history["val_loss"]])
    print(f"result validation loss with / without bursts: {model.evaluate(*val, verbose=0):.5f} / "
          f"{model.evaluate(*plain, verbose=0):.5f}; load average {os.getloadavg()[0]:.2f}")
    model.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
