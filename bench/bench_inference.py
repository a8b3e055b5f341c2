"""The inference graph (`geokeras.models.inference.inference_model`) against the model's own graph (issue 19).

Usage::

    python bench/bench_inference.py                      # default model: outputs, quality, speed
    python bench/bench_inference.py --n-per-level 100 --rounds 8 --no-quality

What is measured (all here; the load average is printed with every timing):

- the outputs: max abs difference relative to the model's output peak per window on the demo record
  (``geokeras.demo.NOISY_RECORD``) and on 2000 in-band validation-station windows at 0 dB, both through
  `Denoiser.predictor` (which runs the inference graph) against ``model(x)``; whether ``f(-x) == -f(x)``
  holds exactly through the predictor;
- quality: median SNR gain (dB) per level on in-band validation-station windows (`geokeras.evaluate`, the
  same windows for every graph; ``--n-per-level`` per level), float32 and bfloat16, and the largest
  per-window difference from the float32 model;
- speed of the model alone: CPU and wall ms per window of the compiled batch graph (``tf.function`` of a
  batch of ``--batch-size`` windows) of the model and of its inference graph, float32 and bfloat16,
  interleaved rounds (A B B A ...) on the same random windows, medians and ratios.
"""
import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _load():
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def compare_outputs(den, checks):
    """Print the predictor's (inference graph's) outputs against ``model(x)``, and its sign symmetry."""
    pred = den.predictor(256, precision="float32")  # against model(x), which computes in float32
    for name, x in checks.items():
        fast = np.concatenate([pred(x[i:i + 256]) for i in range(0, len(x), 256)])
        ref = np.concatenate([np.asarray(den.model(x[i:i + 256, :, None], training=False))[:, :, 0]
                              for i in range(0, len(x), 256)])
        rel = np.max(np.abs(fast - ref), axis=-1) / np.maximum(np.max(np.abs(ref), axis=-1), 1e-30)
        odd = all(np.array_equal(pred(-x[i:i + 256]), -fast[i:i + 256]) for i in range(0, len(x), 256))
        print(f"{name}: {x.shape}; max |inference graph - model| / peak: max {rel.max():.2e}, median "
              f"{np.median(rel):.2e}; predictor(-x) == -predictor(x): {odd}")


def time_graphs(models, batch_size, rounds, window_length):
    """``{name: (median CPU ms, median wall ms)}`` per window of each model's compiled batch graph."""
    import tensorflow as tf

    x = np.random.default_rng(0).normal(scale=100.0, size=(batch_size, window_length, 1)).astype(np.float32)
    fns = {n: tf.function(lambda a, m=m: m(a, training=False)) for n, m in models.items()}
    for f in fns.values():
        f(x), f(x)  # trace, compile
    res = {n: [] for n in fns}
    names = list(fns)
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            t, c = time.perf_counter(), time.process_time()
            for _ in range(3):
                fns[n](x)
            res[n].append((1e3 * (time.process_time() - c) / 3 / batch_size,
                           1e3 * (time.perf_counter() - t) / 3 / batch_size))
    return {n: tuple(np.median(np.array(v), axis=0)) for n, v in res.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--n-per-level", type=int, default=100, help="validation windows per SNR level")
    parser.add_argument("--no-quality", dest="quality", action="store_false")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from bench_precision import quality, validation_windows

    from geokeras.data import datasets, io
    from geokeras.demo import NOISY_RECORD
    from geokeras.denoise import Denoiser
    from geokeras.denoise.denoiser import bfloat16_copy
    from geokeras.models.inference import inference_model

    den = Denoiser.resolve(args.model)
    record = io.read(str(datasets.datasets_dir() / "ncedc-noisy" / NOISY_RECORD))
    _, val, _ = datasets.split_records(datasets.load_events())
    L = den.window_length
    demo = np.stack([tr.data.astype(np.float32) for tr in record])
    demo = demo[:, :demo.shape[1] // L * L].reshape(-1, L)
    compare_outputs(den, {"demo record windows": demo, "validation windows": validation_windows(val, n=2000)})

    if args.quality:
        t0 = time.perf_counter()
        bf16 = bfloat16_copy(den.model)
        table = quality({"model": den.model, "inference graph": inference_model(den.model),
                         "model bfloat16": bf16, "inference graph bfloat16": inference_model(bf16)},
                        val, args.n_per_level)
        levels = list(table["model"][0])
        print(f"median SNR gain (dB), in-band, validation stations, {args.n_per_level} windows per level "
              f"({time.perf_counter() - t0:.0f} s):")
        print("| graph | " + " | ".join(str(k) for k in levels) + " | max per-window difference |")
        for name, (gains, diff) in table.items():
            print(f"| {name} | " + " | ".join(f"{gains[k]:.3f}" for k in levels) + f" | {diff:.4f} dB |")

    bf16 = bfloat16_copy(den.model)
    models = {"model float32": den.model, "inference float32": inference_model(den.model),
              "model bfloat16": bf16, "inference bfloat16": inference_model(bf16)}
    times = time_graphs(models, args.batch_size, args.rounds, L)
    print(f"model alone, batch {args.batch_size}, {args.threads} threads, {args.rounds} interleaved rounds "
          f"({_load()}):")
    for name, (cpu, wall) in times.items():
        base = times[name.replace("inference", "model")]
        print(f"  {name:20s}: CPU {cpu:.3f} ms/window, wall {wall:.3f} ms/window; model graph / this: CPU "
              f"{base[0] / cpu:.2f}x, wall {base[1] / wall:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
