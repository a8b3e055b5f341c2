"""Train a joint three-component mask network (issue 15, session 12: tried, not shipped).

    python bench/train_joint.py -o joint.keras [--epochs 12] [--lr 3e-4] [--snapshot-every 5]

`geokeras.models.components.build_joint_mask_denoiser` (one mask from the sign-invariant features of the three
components together), warm-started from the shipped network (`copy_mask_network`: the first convolution's kernel
divided by three on each component's channels, so training starts from the shipped network on the mean of the
components' features; floor 0 in training, as the shipped recipe), trained with the mean squared error on
three-component pairs (`geokeras.data.component_pairs.ComponentPairGenerator`, the recipe's SNRs, shift,
amplitudes, noise-only and in-band fractions, noise augmentation and time stretch) of the bundled training stations;
``val_loss`` on the validation stations' pairs (records at or above 20 dB, as the recipe's), the test stations never
read. Writes the network at the best ``val_loss`` to ``-o`` and, every ``--snapshot-every`` epochs, ``-o`` with
``_eN`` before ``.keras``, each with the mask floor ``--floor`` (0.3, v4's). Score them on the validation stations' three-component records (floors set there):

    python bench/bench_detection.py joint_e5.keras --split validation --stations 10 --min-noise-s 55 --repeats 4 \
        --levels -15 -10 -5 0 5 --components 3 --statistics median

Result (docs/detection_log.md, "Session 12"): the joint network detects fewer weak events than the median of the shipped
network's three masks, and fewer the longer it trains, while it keeps weak events' amplitudes better.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=200, help="batches per epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--snapshot-every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--floor", type=float, default=0.3, help="the mask floor of the networks written (not trained)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from geokeras.data import datasets
    from geokeras.data.component_pairs import ComponentPairGenerator, component_sources
    from geokeras.data.normalize import normalize_pairs
    from geokeras.models.components import build_joint_mask_denoiser, copy_mask_network
    from geokeras.pretrained import load_default
    from geokeras.training.recipe import SHIPPED_RECIPE as R, recipe_shift

    L = R["window_length"]
    train, val, _ = datasets.split_records(datasets.load_events())
    options = dict(window_length=L, snr_db=R["snr_db"], shift=recipe_shift(L), noise_augment=R["noise_augment"],
                   noise_only_fraction=R["noise_only_fraction"], inband_fraction=R["inband_fraction"])
    gen = ComponentPairGenerator(**component_sources(train, min_snr_db=R["min_record_snr_db"]),
                                 stretch=R["stretch"], seed=args.seed, **options)
    val_gen = ComponentPairGenerator(**component_sources(val, min_snr_db=20.0), seed=args.seed + 7, **options)
    print(f"training {gen}\nvalidation {val_gen}", flush=True)
    val_data = normalize_pairs(*[np.concatenate(part) for part in zip(
        *[val_gen.batch(i, args.batch_size) for i in range(R["validation_steps"])])])

    def batches():
        i = 0
        while True:
            yield normalize_pairs(*gen.batch(i, args.batch_size))
            i += 1

    spec = tf.TensorSpec((args.batch_size, L, 3), tf.float32)
    ds = tf.data.Dataset.from_generator(batches, output_signature=(spec, spec)).prefetch(2)
    model = build_joint_mask_denoiser()
    copy_mask_network(load_default(), model)
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss="mse")
    print(f"before training: val_loss {model.evaluate(*val_data, batch_size=args.batch_size, verbose=0):.5f}",
          flush=True)
    t0, best = time.time(), [np.inf]

    def save(path):  # the network with the floor, as v4 is v3's network with its floor
        floored = build_joint_mask_denoiser(mask_floor=args.floor)
        copy_mask_network(model, floored)
        floored.save(path)

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"epoch {epoch + 1}: loss {logs['loss']:.5f} val_loss {logs['val_loss']:.5f} "
                  f"({time.time() - t0:.0f} s, load {os.getloadavg()[0]:.2f})", flush=True)
            if args.snapshot_every and (epoch + 1) % args.snapshot_every == 0:
                save(args.output.replace(".keras", f"_e{epoch + 1}.keras"))
            if logs["val_loss"] < best[0]:
                best[0] = logs["val_loss"]
                save(args.output)

    model.fit(ds, steps_per_epoch=args.steps, epochs=args.epochs, validation_data=val_data, verbose=0,
              callbacks=[Report()])
    print(f"best val_loss {best[0]:.5f}")


if __name__ == "__main__":
    main()
