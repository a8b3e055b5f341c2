"""Where the three-component median path's detections fall short of a perfect mask: the threshold or the events?

    python bench/bench_detection_gap.py                      # validation records, as in the model card
    python bench/bench_detection_gap.py --split test

On the three-component records of `geokeras.detection.benchmark_records(components=3)` (the model-choice set of the
detection benchmark by default: ``--stations 10 --min-noise-s 55 --repeats 4``, levels -15..+5 dB), for the raw
vertical, the default model's median-mask path (`geokeras.denoise.denoise_components`) and the vertical's ideal ratio
mask with the floor 0.3 (`geokeras.evaluate.oracle_mask_baseline`, 64/32 framing), each event's largest recursive
STA/LTA value within -1..+4 s of its P time is compared with each record's threshold for 2 false triggers per hour
(`geokeras.detection.threshold_for_rate`): the method's own threshold (its recall, up to the trigger logic of the
benchmark) and the ideal mask's (what the method's events would give if its residual were as steady as a perfect
mask's). The difference between the two columns is what the residual's bursts cost; between the second and the
ideal mask's own row, what the events' weaker STA/LTA peaks cost (docs/detection_log.md, "Session 12").
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="validation", choices=("validation", "test"))
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--min-noise-s", type=float, default=55.0)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--levels", type=float, nargs="+", default=[-15, -10, -5, 0, 5])
    parser.add_argument("--floor", type=float, default=0.3, help="the ideal mask's floor (v4's)")
    args = parser.parse_args(argv)

    import numpy as np

    from geokeras import detection as D
    from geokeras.denoise import denoise_components
    from geokeras.evaluate import oracle_mask_baseline

    t0 = time.time()
    levels = tuple(int(v) if float(v).is_integer() else v for v in args.levels)
    records = D.benchmark_records(args.split, n_stations=args.stations, min_noise_s=args.min_noise_s,
                                  repeats=args.repeats, snr_levels=levels, components=3)
    print(f"{args.split}: {len(records)} three-component records, {sum(len(r['events']) for r in records)} events; "
          f"load {os.getloadavg()[0]:.2f}")
    methods = ("raw", "median", "ideal")
    peaks = {m: [] for m in methods}      # (level, peak, record index)
    thresholds = {m: [] for m in methods}
    for i, rec in enumerate(records):
        sr, noisy, clean = rec["sampling_rate"], rec["noisy"], rec["clean"]
        outputs = {"raw": noisy[-1],
                   "median": denoise_components(noisy, statistic="median", sampling_rate=sr)[-1],
                   "ideal": oracle_mask_baseline(clean[-1], noisy[-1] - clean[-1], nperseg=64, noverlap=32,
                                                 floor=args.floor)}
        quiet = D.noise_only_mask(noisy.shape[1], rec["events"], sr)
        lo, hi = (int(round(w * sr)) for w in D.HIT_WINDOW_S)
        for m, y in outputs.items():
            cf = D.characteristic_function(np.asarray(y, dtype=np.float64), sr, "recursive")
            thresholds[m].append(D.threshold_for_rate(cf, quiet, 2.0, sr))
            peaks[m] += [(ev.snr_db, float(cf[max(0, ev.p_index + lo):ev.p_index + hi + 1].max()), i)
                         for ev in rec["events"]]
    ideal_thr = np.array(thresholds["ideal"])
    print("\nshare of events whose STA/LTA peak near P passes each record's threshold (2 false triggers per hour)")
    print("| method | threshold | " + " | ".join(f"{lv:g} dB: own / ideal's" for lv in levels) + " |")
    print("|---|---|" + "---|" * len(levels))
    for m in methods:
        a = np.array(peaks[m])
        own_thr = np.array(thresholds[m])
        cells = []
        for lv in levels:
            sel = a[:, 0] == lv
            p, rec = a[sel, 1], a[sel, 2].astype(int)
            cells.append(f"{np.mean(p > own_thr[rec]):.0%} / {np.mean(p > ideal_thr[rec]):.0%}")
        print(f"| {m} | {np.median(own_thr):.2f} | " + " | ".join(cells) + " |")
    print(f"\n{time.time() - t0:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
