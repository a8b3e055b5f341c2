"""Detection on validation records with real noise transients added (exploratory, issue 15).

The validation stations' noise is steady (raw 1-s RMS p99/p10 about 2) where most test stations' is bursty
(3.5-11), so the model-choice set of `bench_detection.py` cannot show whether a candidate handles noise
transients. This script adds real ones: the transients of the *training* stations' pre-P noise windows (the
1-s blocks above 3x their window's median 1-s RMS, high-passed at 1 Hz, with 1 s on either side, at most 10 s,
tapered over 0.5 s), scaled so that their loudest second is ``--ratio`` times the record's median 1-s RMS (what
the benchmark's 3x noise screen lets through, as in the screened test records), are added at random times
(``--per-hour`` on average) into the noise-only stretches of the model-choice records (`bench_detection.py
--split validation --stations 10 --min-noise-s 55`), where they count as noise: a trigger on one is a false
trigger. Caveat: every network trained on those training windows (as noise), so the set flatters the networks
against the raw trace; it compares candidates with each other. Test stations are not used.

Usage:
    python bench/bench_transients.py default a.keras --repeats 2 --per-hour 20
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from bench_detection import model_names  # noqa: E402

SR = 100.0


def _block_rms(x):
    """RMS of each whole 1-s block of ``x``."""
    m = x.size // int(SR)
    return np.sqrt(np.mean(x[: m * int(SR)].reshape(m, int(SR)) ** 2, axis=1))


def training_transients(max_ratio=3.0, pad_s=1.0, max_s=10.0, taper_s=0.5):
    """Transients of the training stations' noise windows, each in units of its own window's median 1-s RMS."""
    from obspy.signal.filter import highpass

    from geokeras.data import datasets, pairs

    train, _, _ = datasets.split_records(datasets.load_events())
    out = []
    for rec in train:
        for x in pairs.sources_from_events([rec])[1]:
            x = highpass(np.asarray(x, float) - np.mean(x), 1.0, SR, corners=4, zerophase=True)
            rms = _block_rms(x)
            med = np.median(rms[1:-1]) if rms.size > 2 else 0.0
            loud = np.flatnonzero(rms[1:-1] > max_ratio * med) + 1 if med > 0 else []
            if len(loud) == 0:
                continue
            lo = max(0, int((loud[0] - pad_s) * SR))
            hi = min(x.size, int((loud[-1] + 1 + pad_s) * SR), lo + int(max_s * SR))
            seg = x[lo:hi] / med
            k = min(int(taper_s * SR), seg.size // 2)
            ramp = np.sin(0.5 * np.pi * (np.arange(k) + 0.5) / k) ** 2
            seg[:k] *= ramp
            seg[-k:] *= ramp[::-1]
            out.append(seg)
    return out


def add_transients(rec, transients, per_hour, seed, ratio=(1.5, 3.0)):
    """The record with transients added in its noise-only stretches (a copy); the number added. Each is scaled
    so that its loudest 1-s RMS is ``ratio`` (uniform) times the record's median noise 1-s RMS: transients that
    the benchmark's noise screen (3x) would have let through, as in the screened test-station records."""
    from geokeras.detection import noise_only_mask

    rng = np.random.default_rng(seed)
    noisy, clean, events = rec["noisy"], rec["clean"], rec["events"]
    quiet = noise_only_mask(noisy.size, events, SR)
    noise = noisy - clean
    rms = _block_rms(noise)
    level = np.median(rms[quiet[: rms.size * int(SR)].reshape(rms.size, int(SR)).all(axis=1)])
    out, added = noisy.copy(), 0
    for _ in range(rng.poisson(per_hour * noisy.size / SR / 3600.0)):
        seg = transients[rng.integers(len(transients))] * (1 if rng.random() < 0.5 else -1)
        blocks = _block_rms(seg)
        seg = seg * (rng.uniform(*ratio) / (blocks.max() if blocks.size else 1.0))
        for _try in range(20):
            at = int(rng.integers(0, noisy.size - seg.size))
            if quiet[at:at + seg.size].all():
                out[at:at + seg.size] += level * seg
                added += 1
                break
    return dict(rec, noisy=out), added


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model files or 'default'")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--per-hour", type=float, default=20.0, help="transients per hour on average")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ratio", type=float, nargs=2, default=(1.5, 3.0), metavar=("LOW", "HIGH"),
                        help="loudest 1-s RMS of a transient over the record's median (default 1.5 3)")
    args = parser.parse_args(argv)

    from geokeras.detection import (benchmark_records, evaluate_detection, format_detection, pooled_stationarity,
                                    standard_methods)

    t0 = time.time()
    levels = (-15, -10, -5, 0, 5)
    transients = training_transients()
    records = benchmark_records("validation", n_stations=10, min_noise_s=55, repeats=args.repeats,
                                snr_levels=levels, seed=args.seed)
    bursty, added = [], 0
    for i, rec in enumerate(records):
        r, k = add_transients(rec, transients, args.per_hour, args.seed + 7 * i, args.ratio)
        bursty.append(r)
        added += k
    print(f"{len(records)} validation records x 2 h, {sum(len(r['events']) for r in records)} events; "
          f"{len(transients)} training-station transients, {added} added; load average {os.getloadavg()[0]:.2f}")
    scores = evaluate_detection(standard_methods(model_names(args.models)), bursty, rates_per_hour=(2.0,), detectors=("recursive",))
    print(format_detection(scores, levels, rates_per_hour=(2.0,), detectors=("recursive",)))
    print(f"raw residual p99/p10 {pooled_stationarity(scores['raw'])['ratio']:.2f}")
    print(f"\n{time.time() - t0:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
