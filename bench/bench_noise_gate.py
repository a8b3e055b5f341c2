"""Experiment (issue 15, session 17): a noise gate on the network's output from the record's own noise statistics.

The issue asks for a residual that is "a steady, attenuated copy of the input noise". Where a record is no louder
than its own noise, nothing a network does there can be signal: this gate puts those cells back to exactly the
floor. Per STFT cell (the network's 64/32 Hann framing) of each component, ``gamma = |X|^2 / lambda``, the input's
power over the record's running noise power (`geokeras.evaluate.noise_referenced_stft`: a 5-minute running median,
as the Wiener baseline's), optionally averaged over ``B x F`` neighbouring bins and frames; the gate is ``g =
clip((gamma - lo) / (hi - lo), 0, 1)``, with a station's three components given the median (or max) of their gates;
the output's STFT becomes ``g * Y + (1 - g) * floor * X`` (``Y`` the denoised trace's, ``X`` the input's), back by
the inverse STFT. Cells louder than ``hi`` times the noise keep the network's output as it is.

Records: the validation three-component records of `bench_detection.py --components 3` (``--transients``: with
`bench_transients.py`'s real noise transients, 5 an hour). The reference is the shipped pair under the median
(`denoise_components` with the shipped defaults); each gate runs on its output. Scores and intervals as in
`bench_detection.py --compare`.

    python bench/bench_noise_gate.py --repeats 4 --gates 1:2:median 1:3:median 1.2:1.6:median::3x5
    python bench/bench_noise_gate.py --transients --repeats 2 --gates 1:2:median 1.2:1.6:median::3x5

A gate is ``lo:hi[:median|max[:floor[:BxF]]]`` (floor: the pair's 0.2 unless given). Not a shipped path: the
result is in docs/detection_log.md ("Session 17").
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

FLOOR = 0.2  # the shipped three-component network's floor


def noise_gate(noisy, denoised, sampling_rate, lo, hi, combine=None, floor=FLOOR, smooth=(1, 1),
               noise_window_s=300.0, noise_step_s=30.0, nperseg=64, noverlap=32):
    """The gated output (module docstring), rows of ``noisy`` and ``denoised`` ``(..., n)`` alike."""
    from scipy import signal
    from scipy.ndimage import uniform_filter

    from geokeras.evaluate import noise_referenced_stft

    kw = dict(nperseg=nperseg, noverlap=noverlap, window="hann")
    zx, noise = noise_referenced_stft(noisy, sampling_rate, noise_window_s, noise_step_s, nperseg, noverlap)
    _, _, zy = signal.stft(np.asarray(denoised, dtype=np.float64), boundary="even", padded=True, **kw)
    gamma = np.abs(zx) ** 2 / np.maximum(noise, np.finfo(np.float64).tiny)
    if tuple(smooth) != (1, 1):
        gamma = uniform_filter(gamma, size=(1,) * (gamma.ndim - 2) + tuple(smooth), mode="nearest")
    gate = np.clip((gamma - lo) / (hi - lo), 0.0, 1.0) if hi > lo else (gamma > lo).astype(np.float64)
    if combine in ("median", "max") and gate.ndim == 3:
        gate = np.broadcast_to((np.median if combine == "median" else np.max)(gate, axis=0), gate.shape)
    _, y = signal.istft(gate * zy + (1.0 - gate) * floor * zx, **kw)
    return y[..., : np.shape(noisy)[-1]]


def parse_gate(spec):
    """``lo:hi[:combine[:floor[:BxF]]]`` -> keyword arguments of `noise_gate`."""
    parts = spec.split(":")
    if len(parts) < 2:
        raise ValueError(f"Invalid value for argument `--gates`. Expected lo:hi[:median|max[:floor[:BxF]]]. "
                         f"Received {spec!r}.")
    kw = dict(lo=float(parts[0]), hi=float(parts[1]), combine=(parts[2] or None) if len(parts) > 2 else None)
    if len(parts) > 3 and parts[3]:
        kw["floor"] = float(parts[3])
    if len(parts) > 4:
        kw["smooth"] = tuple(int(v) for v in parts[4].split("x"))
    return kw


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", nargs="+", default=["1:2:median"], help="lo:hi[:median|max[:floor[:BxF]]]")
    parser.add_argument("--repeats", type=int, default=4, help="records per station (default 4; 2 with --transients)")
    parser.add_argument("--split", choices=("validation", "test"), default="validation",
                        help="test: for a report after a choice made on validation (never to choose)")
    parser.add_argument("--levels", type=float, nargs="+", default=[-15, -10, -5, 0, 5],
                        help="event window SNRs in dB (default -15 -10 -5 0 5; the test report's: -10 -5 0 5)")
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--min-noise-s", type=float, default=55.0)
    parser.add_argument("--transients", action="store_true",
                        help="bench_transients.py's records: real noise transients added, --per-hour of them")
    parser.add_argument("--per-hour", type=float, default=5.0)
    args = parser.parse_args(argv)
    gates = {f"gate {spec}": parse_gate(spec) for spec in args.gates}

    from bench_detection import LEVELS, compare, paired_picks, targets
    from geokeras.denoise import denoise_components
    from geokeras.detection import (benchmark_records, detection_tables, evaluate_detection, format_detection,
                                    pooled_stationarity)

    t0 = time.time()
    levels = tuple(int(lv) if float(lv).is_integer() else lv for lv in args.levels)
    if args.transients and args.split != "validation":
        parser.error("--transients: validation records only (bench_transients.py's)")
    records = benchmark_records(args.split, n_stations=args.stations, min_noise_s=args.min_noise_s,
                                repeats=args.repeats, snr_levels=levels, seed=0, components=3)
    if args.transients:
        from bench_transients import add_transients, training_transients

        transients = training_transients(components=3)
        records = [add_transients(rec, transients, args.per_hour, 7 * i)[0] for i, rec in enumerate(records)]
    print(f"{len(records)} {args.split} three-component records x 2 h, {sum(len(r['events']) for r in records)} events"
          f"{', with noise transients' if args.transients else ''}; load average {os.getloadavg()[0]:.2f}")
    pair = {}  # the shipped pair's output of each record, computed once

    def shipped(x, sr):
        if id(x) not in pair:
            pair[id(x)] = denoise_components(x, sampling_rate=sr, statistic="median")
        return pair[id(x)]

    methods = {"raw": lambda x, sr: x[-1], "default 3c-median": lambda x, sr: shipped(x, sr)[-1]}
    for name, kw in gates.items():
        methods[name] = (lambda kw: lambda x, sr: noise_gate(x, shipped(x, sr), sr, **kw)[-1])(kw)
    scores = evaluate_detection(methods, records, rates_per_hour=(2.0,), detectors=("recursive",))
    print(format_detection(scores, levels, rates_per_hour=(2.0,), detectors=("recursive",)))
    print(paired_picks(scores, levels))
    if not set(LEVELS) - set(levels):  # the targets, on its levels
        tables = detection_tables(scores, levels, rates_per_hour=(2.0,), detectors=("recursive",))
        stationarity = {m: pooled_stationarity(s) for m, s in scores.items()}
        for m in list(scores)[1:]:
            print(f"\ntargets for {m} (recursive_sta_lta, 2 false triggers / h):")
            for desc, value, met in targets(tables, stationarity, m):
                print(f"  [{'met' if met else 'NOT met'}] {desc}: {value}")
    compare(scores, records, "default 3c-median", levels)
    print(f"\n{time.time() - t0:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
