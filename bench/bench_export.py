"""`denoise_trace` (the exported SavedModel's whole-trace signature) against `geokeras.denoise.denoise`.

Usage::

    python bench/bench_export.py                  # 1 hour of one 100 Hz component, default model
    python bench/bench_export.py --hours 0.25 --rounds 3

Data: one component of `bench_speed.make_day` (pink noise, secondary microseism, synthetic local
earthquakes; float32). The default model is exported with `geokeras.export.export_saved_model` to a temporary
folder and loaded with ``tf.saved_model.load`` (as a deployment would, no geokeras on that path); the
SavedModel computes in float32, so ``denoise`` runs with ``precision="float32"`` here. Both paths
are warmed on the whole trace first, then timed in paired rounds (A, B, A, B, ...: on a shared machine the
load changes between rounds, not within a pair). Printed: the largest difference between the two outputs
over the output's peak (target <= 1e-3), the median wall and CPU time of each, their ratio (target: at
least as fast), the peak resident memory of one call of each (above the RSS before it), and the load
average before and after.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # this tree's geokeras, not the installed one

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description="denoise_trace (SavedModel) vs geokeras.denoise.denoise.")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default=None, help="a .keras denoiser (default: the shipped model)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from bench_speed import PeakRSS, _rss_bytes, make_day
    from geokeras.denoise import Denoiser, denoise
    from geokeras.export import export_saved_model

    den = Denoiser.resolve(args.model)
    tr = make_day(hours=args.hours, components=("HHZ",))[0]
    with tempfile.TemporaryDirectory() as tmp:
        loaded = tf.saved_model.load(export_saved_model(den.model, os.path.join(tmp, "sm")))
        x = tf.constant(tr.data)
        runs = {"denoise": lambda: np.asarray(denoise(tr, model=den, precision="float32").data),  # as the export
                "denoise_trace": lambda: loaded.denoise_trace(x).numpy()}
        outs, peaks = {}, {}
        for name, fn in runs.items():  # warm: graphs traced; then the memory of one call
            outs[name] = fn()
            start = _rss_bytes()
            with PeakRSS() as rss:
                fn()
            peaks[name] = (start, rss.peak)
        peak = float(np.max(np.abs(outs["denoise"])))
        diff = float(np.max(np.abs(outs["denoise_trace"] - outs["denoise"])))
        print(f"trace: {tr.stats.npts} samples ({args.hours:g} h at {tr.stats.sampling_rate:g} Hz), model "
              f"{den.label}; max |denoise_trace - denoise| / peak = {diff / peak:.2e} (target <= 1e-3)")
        times = {name: [] for name in runs}
        load_before = os.getloadavg()
        for _ in range(args.rounds):
            for name, fn in runs.items():
                _, wall, cpu = timed(fn)
                times[name].append((wall, cpu))
        load_after = os.getloadavg()
    med = {name: np.median(np.array(v), axis=0) for name, v in times.items()}
    for name, (wall, cpu) in med.items():
        print(f"{name:14s}: median wall {wall:.3f} s, CPU {cpu:.3f} s over {args.rounds} paired rounds")
    for name, (start, peak) in peaks.items():
        print(f"{name:14s}: peak RSS {peak / 2**30:.2f} GiB during one call "
              f"(+{(peak - start) / 2**30:.2f} GiB over the RSS before it)")
    ratio = med["denoise"][0] / med["denoise_trace"][0]
    print(f"denoise_trace is {ratio:.2f}x the speed of denoise (wall; target >= 1); CPU ratio "
          f"{med['denoise'][1] / med['denoise_trace'][1]:.2f}x")
    print(f"load average before {load_before}, after {load_after} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
