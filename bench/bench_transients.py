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

With ``--components 3`` the records are three-component (`geokeras.detection.benchmark_records(components=3)`)
and so are the transients (cut where any component has a loud second, each component kept), and the denoisers
also run on the three components with the median mask; the detector runs on the vertical.

Usage:
    python bench/bench_transients.py default a.keras --repeats 2 --per-hour 20
    python bench/bench_transients.py default --repeats 2 --per-hour 5 --components 3
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from bench_detection import compare, model_names  # noqa: E402

SR = 100.0


def _block_rms(x):
    """RMS of each whole 1-s block of ``x``."""
    m = x.size // int(SR)
    return np.sqrt(np.mean(x[: m * int(SR)].reshape(m, int(SR)) ** 2, axis=1))


def training_transients(max_ratio=3.0, pad_s=1.0, max_s=10.0, taper_s=0.5, components=1):
    """Transients of the training stations' noise windows, each in units of its own window's median 1-s RMS.

    With ``components=3``: ``(3, m)`` arrays from the records with three components (the vertical last), cut where
    any component has a loud second, every component in units of its own median (a transient keeps what it does
    on each component: a passing truck shakes all three)."""
    from obspy.signal.filter import highpass

    from geokeras.data import datasets, pairs
    from geokeras.detection import event_components

    train, _, _ = datasets.split_records(datasets.load_events())
    out = []
    for rec in train:
        if components == 3:
            noise = event_components(rec, screen=False, highpass_hz=None)[1]
            sources = [] if noise is None else [noise]
        else:
            sources = [np.asarray(x, float)[None] for x in pairs.sources_from_events([rec])[1]]
        for x in sources:
            x = np.stack([highpass(row - np.mean(row), 1.0, SR, corners=4, zerophase=True) for row in x])
            rms = np.stack([_block_rms(row) for row in x])
            med = np.median(rms[:, 1:-1], axis=1) if rms.shape[1] > 2 else np.zeros(len(x))
            if not np.all(med > 0):
                continue
            loud = np.flatnonzero((rms[:, 1:-1] > max_ratio * med[:, None]).any(axis=0)) + 1
            if len(loud) == 0:
                continue
            lo = max(0, int((loud[0] - pad_s) * SR))
            hi = min(x.shape[1], int((loud[-1] + 1 + pad_s) * SR), lo + int(max_s * SR))
            seg = x[:, lo:hi] / med[:, None]
            k = min(int(taper_s * SR), seg.shape[1] // 2)
            ramp = np.sin(0.5 * np.pi * (np.arange(k) + 0.5) / k) ** 2
            seg[:, :k] *= ramp
            seg[:, -k:] *= ramp[::-1]
            out.append(seg if components == 3 else seg[0])
    return out


def add_transients(rec, transients, per_hour, seed, ratio=(1.5, 3.0)):
    """The record with transients added in its noise-only stretches (a copy); the number added. Each is scaled
    so that its loudest 1-s RMS is ``ratio`` (uniform) times the record's median noise 1-s RMS: transients that
    the benchmark's noise screen (3x) would have let through, as in the screened test-station records. A
    three-component record takes three-component transients, each component in units of the record's median on
    that component, all scaled by one factor (set by the loudest component)."""
    from geokeras.detection import noise_only_mask

    rng = np.random.default_rng(seed)
    noisy, clean, events = rec["noisy"], rec["clean"], rec["events"]
    rows = np.atleast_2d(noisy)
    n = rows.shape[1]
    quiet = noise_only_mask(n, events, SR)
    noise = rows - np.atleast_2d(clean)
    blocks_quiet = None
    levels = []
    for row in noise:
        rms = _block_rms(row)
        if blocks_quiet is None:
            blocks_quiet = quiet[: rms.size * int(SR)].reshape(rms.size, int(SR)).all(axis=1)
        levels.append(np.median(rms[blocks_quiet]))
    levels = np.array(levels)[:, None]
    out, added = rows.copy(), 0
    for _ in range(rng.poisson(per_hour * n / SR / 3600.0)):
        seg = np.atleast_2d(transients[rng.integers(len(transients))]) * (1 if rng.random() < 0.5 else -1)
        loudest = max((_block_rms(row).max() for row in seg if row.size >= SR), default=1.0)
        seg = seg * (rng.uniform(*ratio) / loudest)
        for _try in range(20):
            at = int(rng.integers(0, n - seg.shape[1]))
            if quiet[at:at + seg.shape[1]].all():
                out[:, at:at + seg.shape[1]] += levels * seg
                added += 1
                break
    return dict(rec, noisy=out if np.ndim(noisy) == 2 else out[0]), added


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model files or 'default'")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--per-hour", type=float, default=20.0, help="transients per hour on average")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ratio", type=float, nargs=2, default=(1.5, 3.0), metavar=("LOW", "HIGH"),
                        help="loudest 1-s RMS of a transient over the record's median (default 1.5 3)")
    parser.add_argument("--components", type=int, choices=(1, 3), default=1,
                        help="3: three-component records and transients (bench_detection.py --components 3), the "
                             "detector on the vertical; the denoisers also on the three components, median mask")
    parser.add_argument("--min-noise-s", type=float, default=55.0)
    parser.add_argument("--compare", nargs="+", metavar="METHOD",
                        help="also print each method's recall minus this method's on the same events, with a 95 %% "
                             "interval from resampling the noise and event stations (bench_detection.py --compare)")
    args = parser.parse_args(argv)

    from geokeras.detection import (benchmark_records, component_methods, evaluate_detection, format_detection,
                                    pooled_stationarity, standard_methods)

    t0 = time.time()
    levels = (-15, -10, -5, 0, 5)
    transients = training_transients(components=args.components)
    records = benchmark_records("validation", n_stations=10, min_noise_s=args.min_noise_s, repeats=args.repeats,
                                snr_levels=levels, seed=args.seed, components=args.components)
    bursty, added = [], 0
    for i, rec in enumerate(records):
        r, k = add_transients(rec, transients, args.per_hour, args.seed + 7 * i, args.ratio)
        bursty.append(r)
        added += k
    print(f"{len(records)} validation records ({args.components} component(s)) x 2 h, "
          f"{sum(len(r['events']) for r in records)} events; "
          f"{len(transients)} training-station transients, {added} added; load average {os.getloadavg()[0]:.2f}")
    methods = standard_methods(model_names(args.models))
    if args.components == 3:
        methods.update(component_methods(model_names(args.models), ("median", "own"), wiener=True))
    scores = evaluate_detection(methods, bursty, rates_per_hour=(2.0,), detectors=("recursive",))
    print(format_detection(scores, levels, rates_per_hour=(2.0,), detectors=("recursive",)))
    print(f"raw residual p99/p10 {pooled_stationarity(scores['raw'])['ratio']:.2f}")
    for ref in args.compare or ():
        compare(scores, bursty, ref, levels)
    print(f"\n{time.time() - t0:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
