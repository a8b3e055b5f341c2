"""The model's throughput with one call in flight against two calls from two threads (issue 19).

Usage::

    python bench/bench_in_flight.py                      # default model, auto precision, 3 rounds
    python bench/bench_in_flight.py --precision float32 --batches 16 --rounds 5

One call of the model keeps about 1.8 of the 2-core build machine's cores busy; since session 8 `geokeras.denoise`'s
pipelines run two calls at once where TensorFlow has two or more threads (`geokeras.denoise.denoiser.calls_in_flight`,
read by `geokeras.data.windows.map_batches` and the pieces pipeline). This measures that lever alone: the same
batches (``--batch-size`` random windows, ``--batches`` calls) run one call at a time and split over two threads with
a call each, alternated for ``--rounds`` rounds: ms per window, the cores busy (process CPU time / wall time) and the
load average. Run it on an idle machine: on a loaded one both settings only share what is left.
"""
import argparse
import os
import sys
import threading
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def timed(run, n_windows):
    """``(ms per window, cores busy)`` of ``run()``."""
    c0, t0 = time.process_time(), time.perf_counter()
    run()
    wall = time.perf_counter() - t0
    return wall / n_windows * 1e3, (time.process_time() - c0) / wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a .keras denoiser (default: the shipped model)")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=24, help="calls per setting and round (even)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from geokeras.denoise import Denoiser

    den = Denoiser.resolve(args.model)
    fn = den.predictor(args.batch_size, args.precision)
    x = np.random.default_rng(0).normal(size=(args.batch_size, den.window_length)).astype("float32")
    for _ in range(3):  # trace and warm up
        fn(x)
    n = args.batches - args.batches % 2

    def one():
        for _ in range(n):
            fn(x)

    def two():
        threads = [threading.Thread(target=lambda: [fn(x) for _ in range(n // 2)]) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    results = {"one call in flight": [], "two calls in flight": []}
    for _ in range(args.rounds):
        for name, run in zip(results, (one, two)):
            ms, busy = timed(run, n * args.batch_size)
            results[name].append(ms)
            print(f"{name}: {ms:.3f} ms/window, {busy:.2f} cores busy, load average {os.getloadavg()[0]:.2f}",
                  flush=True)
    one_ms, two_ms = (float(np.median(v)) for v in results.values())
    print(f"medians: one {one_ms:.3f}, two {two_ms:.3f} ms/window: two in flight {one_ms / two_ms:.2f}x "
          f"({args.batches} batches of {args.batch_size}, precision {args.precision})")


if __name__ == "__main__":
    main()
