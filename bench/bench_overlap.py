"""Quality and cost of the window overlap of `geokeras.denoise.denoise` on validation stations (issue 19).

Usage::

    python bench/bench_overlap.py                      # overlaps 0, 0.25, 0.5, 0.75; validation stations
    python bench/bench_overlap.py --split test --n-per-level 100

Records: 60 s (6000 samples at 100 Hz, two model windows and more) of a validation-station event signal in
the in-band condition, with in-band noise of another validation station at -5, 0 and +5 dB
(`geokeras.evaluate.make_test_windows`; the noise sources are 29.5 s long and are extended by mirroring).
Each set of records goes through the whole denoise path (`denoise(array, overlap=...)`: detrending, windows,
the model, the cross-fade stitch, clipping) at each overlap; the same records for every overlap.

Printed per overlap: model windows per hour of one component, the CPU time of the ``denoise`` calls
(rounds in alternating order; the load average is printed), the median SNR gain over the records (dB, per
level and all) and the median correlation with the clean signal.
"""
import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--overlaps", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75])
    parser.add_argument("--levels", type=float, nargs="+", default=[-5.0, 0.0, 5.0])
    parser.add_argument("--n-per-level", type=int, default=64)
    parser.add_argument("--length", type=int, default=6000, help="samples per record (100 Hz)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=None)
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from geokeras import metrics
    from geokeras.data import datasets
    from geokeras.data.windows import window_starts
    from geokeras.denoise import Denoiser, denoise
    from geokeras.evaluate import heldout_sources, make_test_windows

    den = Denoiser.resolve(args.model)
    _, val, test = datasets.split_records(datasets.load_events())
    records = val if args.split == "validation" else test
    signals, noises, ss, ns = heldout_sources(records, with_stations=True)
    sets = {}
    for i, level in enumerate(args.levels):
        sets[level] = make_test_windows(signals, noises, level, args.n_per_level, window_length=args.length, seed=i,
                                        condition="inband", signal_stations=ss, noise_stations=ns)
    outputs, cpu = {}, {o: [] for o in args.overlaps}
    for o in args.overlaps:  # trace the graphs
        denoise(sets[args.levels[0]][0][:2].astype(np.float32), model=den, sampling_rate=100.0, overlap=o)
    for r in range(args.rounds):
        for o in (args.overlaps if r % 2 == 0 else args.overlaps[::-1]):
            c = time.process_time()
            outputs[o] = {lv: denoise(noisy.astype(np.float32), model=den, sampling_rate=100.0, overlap=o)
                          for lv, (noisy, _) in sets.items()}
            cpu[o].append(time.process_time() - c)
    print(f"# {args.split} stations, {len(args.levels)} levels x {args.n_per_level} records of {args.length} samples, "
          f"in-band; model {den.label} (sha256 {den.sha256[:16]}); load average {os.getloadavg()[0]:.2f}")
    head = " | ".join(f"gain {lv:+g} dB" for lv in args.levels)
    print(f"| overlap | windows per hour | CPU s per round | {head} | gain, all | correlation, all |")
    print("|" + "---|" * (5 + len(args.levels)))
    for o in args.overlaps:
        gains, corrs = [], []
        for lv, (noisy, clean) in sets.items():
            gains.append(metrics.snr_gain_db(clean, noisy, outputs[o][lv]))
            corrs.append(metrics.correlation(clean, outputs[o][lv]))
        per_hour = len(window_starts(360000, den.window_length, o))
        cells = " | ".join(f"{np.median(g):.3f}" for g in gains)
        print(f"| {o:g} | {per_hour} | {', '.join(f'{c:.2f}' for c in cpu[o])} | {cells} | "
              f"{np.median(np.concatenate(gains)):.3f} | {np.median(np.concatenate(corrs)):.4f} |")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
