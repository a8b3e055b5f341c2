"""Throughput of training-pair generation for 3000-sample windows (NumPy generator and tf.data).

Sources: the bundled events (post-P signals, pre-P real noise, all components) from
`geokeras.data.pairs.sources_from_events`. Prints pairs per second; not a timed test.

    python bench/bench_pairs.py [--batch-size 256] [--seconds 5] [--threads 2]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # this tree's geokeras, not the installed one

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per figure")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra/inter-op threads")
    parser.add_argument("--window-length", type=int, default=3000)
    args = parser.parse_args()

    from geokeras.data import datasets
    from geokeras.data.pairs import PairGenerator, make_pair_dataset, sources_from_events

    signals, noises = sources_from_events(datasets.load_events())
    L, B = args.window_length, args.batch_size
    print(f"sources: {len(signals)} signals, {len(noises)} noises; window_length={L}, batch_size={B}, "
          f"cpus={os.cpu_count()}")

    gen = PairGenerator(signals, noises, window_length=L, noise_only_fraction=0.1, seed=0)
    gen.sample(B)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        gen.sample(B)
        n += B
    numpy_rate = n / (time.perf_counter() - t0)
    print(f"numpy PairGenerator.sample: {numpy_rate:,.0f} pairs/s ({n} pairs)")

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    for par in (1, 2):
        ds = make_pair_dataset(signals, noises, window_length=L, batch_size=B, seed=0, noise_only_fraction=0.1,
                               num_parallel_calls=par)
        it = iter(ds)
        next(it)  # warm-up (graph build, first prefetch)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            noisy, clean = next(it)
            n += int(noisy.shape[0])
        tf_rate = n / (time.perf_counter() - t0)
        print(f"tf.data make_pair_dataset (numpy_function map, num_parallel_calls={par}, prefetch): "
              f"{tf_rate:,.0f} pairs/s ({n} pairs)")


if __name__ == "__main__":
    main()
