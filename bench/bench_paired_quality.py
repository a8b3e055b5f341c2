"""Paired quality of denoise settings (precision, overlap) against the default, record by record (issue 19).

Usage::

    python bench/bench_paired_quality.py                               # validation and test stations
    python bench/bench_paired_quality.py --configs 0.5:bfloat16 0.25:float32 --n-per-level 200

Records: ``--length`` samples at 100 Hz (default 12000: two minutes, seven model windows at overlap 0.5, so
the seams of the cross-fade count) of a station's event signal in the in-band condition, with in-band noise
of another station of the same split at -10, -5, 0, +5 and +10 dB (`geokeras.evaluate.make_test_windows`).
Every record goes through the whole ``denoise`` path (detrending, windows, the model, the stitch, clipping)
once per setting ``OVERLAP:PRECISION``; the first setting (default ``0.5:float32``, the shipped defaults)
is the reference.

Printed per split and setting: model windows per hour, the CPU time of its ``denoise`` calls, the median SNR
gain per level and over all levels, and the paired comparison with the reference on the same records: the
difference of the medians (with a 95 % bootstrap interval resampling the records, paired), and the median
and the 5-95 % range of the per-record differences. A setting holds the issue's "quality unchanged within
0.05 dB" (the last column) when, at every level and over all levels, both the difference of the medians and
the median per-record difference lie within +-0.05 dB; the intervals say how firmly (a median of a few
hundred records moves by a few hundredths of a dB with the sample). Also printed: whether
``denoise(-x) == -denoise(x)`` holds to the last bit on 20 records.
"""
import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def parse_config(text):
    """``"0.25:bfloat16"`` -> ``(0.25, "bfloat16")``."""
    overlap, _, precision = text.partition(":")
    return float(overlap), precision or "float32"


def bootstrap_median_diff(a, b, n_boot=2000, seed=0):
    """95 % interval of ``median(b) - median(a)`` resampling the paired records (same indices in both)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    d = np.median(b[idx], axis=1) - np.median(a[idx], axis=1)
    return np.percentile(d, [2.5, 97.5])


def records_of(split, levels, n_per_level, length):
    """``{level: (noisy, clean)}`` of in-band records of the split's stations."""
    from geokeras.data import datasets
    from geokeras.evaluate import heldout_sources, make_test_windows

    _, val, test = datasets.split_records(datasets.load_events())
    signals, noises, ss, ns = heldout_sources(val if split == "validation" else test, with_stations=True)
    return {level: make_test_windows(signals, noises, level, n_per_level, window_length=length, seed=i,
                                     condition="inband", signal_stations=ss, noise_stations=ns)
            for i, level in enumerate(levels)}


def run_split(den, split, configs, args):
    from geokeras import metrics
    from geokeras.data.windows import window_starts
    from geokeras.denoise import denoise

    sets = records_of(split, args.levels, args.n_per_level, args.length)
    gains, cpu = {}, {}
    for overlap, precision in configs:
        c = time.process_time()
        gains[(overlap, precision)] = {
            lv: np.asarray(metrics.snr_gain_db(clean, noisy, denoise(noisy.astype(np.float32), model=den,
                                                                     sampling_rate=100.0, overlap=overlap,
                                                                     precision=precision)))
            for lv, (noisy, clean) in sets.items()}
        cpu[(overlap, precision)] = time.process_time() - c
    ref = configs[0]
    print(f"\n# {split} stations: {len(args.levels)} levels x {args.n_per_level} records of {args.length} samples, "
          f"in-band; model {den.label} (sha256 {den.sha256[:16]}); load average {os.getloadavg()[0]:.2f}")
    levels = list(args.levels) + ["all"]
    print("| setting | windows per hour | CPU s | " + " | ".join(f"gain {lv} dB" for lv in levels) + " |")
    print("|" + "---|" * (3 + len(levels)))
    for cfg in configs:
        g = dict(gains[cfg], all=np.concatenate([gains[cfg][lv] for lv in args.levels]))
        per_hour = len(window_starts(360000, den.window_length, cfg[0]))
        print(f"| {cfg[0]:g} {cfg[1]} | {per_hour} | {cpu[cfg]:.1f} | "
              + " | ".join(f"{np.median(g[lv]):.3f}" for lv in levels) + " |")
    print(f"\npaired against {ref[0]:g} {ref[1]} (same records): difference of medians [95 % bootstrap], "
          "median per-record difference (5 % .. 95 %), dB")
    print("| setting | " + " | ".join(f"{lv}" for lv in levels) + " | within 0.05 dB |")
    print("|" + "---|" * (2 + len(levels)))
    a_all = np.concatenate([gains[ref][lv] for lv in args.levels])
    for cfg in configs[1:]:
        cells, ok = [], True
        for lv in levels:
            a = a_all if lv == "all" else gains[ref][lv]
            b = np.concatenate([gains[cfg][x] for x in args.levels]) if lv == "all" else gains[cfg][lv]
            dm = np.median(b) - np.median(a)
            lo, hi = bootstrap_median_diff(a, b)
            d = b - a
            q5, q50, q95 = np.percentile(d, [5, 50, 95])
            ok &= bool(abs(dm) <= 0.05 and abs(q50) <= 0.05)
            cells.append(f"{dm:+.3f} [{lo:+.3f}, {hi:+.3f}]; {q50:+.4f} ({q5:+.3f} .. {q95:+.3f})")
        print(f"| {cfg[0]:g} {cfg[1]} | " + " | ".join(cells) + f" | {'yes' if ok else 'no'} |")
    noisy = sets[args.levels[0]][0][:20].astype(np.float32)
    for overlap, precision in configs:
        y = denoise(noisy, model=den, sampling_rate=100.0, overlap=overlap, precision=precision)
        z = denoise(-noisy, model=den, sampling_rate=100.0, overlap=overlap, precision=precision)
        print(f"sign symmetry {overlap:g} {precision}: denoise(-x) == -denoise(x) exactly: "
              f"{bool(np.array_equal(z, -y))}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", choices=("validation", "test"), default=["validation", "test"])
    parser.add_argument("--configs", nargs="+", default=["0.5:bfloat16", "0.25:float32", "0.25:bfloat16"],
                        help="OVERLAP:PRECISION settings compared with --reference")
    parser.add_argument("--reference", default="0.5:float32")
    parser.add_argument("--levels", type=float, nargs="+", default=[-10.0, -5.0, 0.0, 5.0, 10.0])
    parser.add_argument("--n-per-level", type=int, default=200)
    parser.add_argument("--length", type=int, default=12000, help="samples per record (100 Hz)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=None)
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from geokeras.denoise import Denoiser

    den = Denoiser.resolve(args.model)
    configs = [parse_config(c) for c in [args.reference, *args.configs]]
    for split in args.splits:
        run_split(den, split, configs, args)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
