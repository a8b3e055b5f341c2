"""Quality of denoisers on station-disjoint data, side by side with the baselines (issue 8's benchmark).

Usage:
    python bench/bench_quality.py                            # the shipped default model, test stations
    python bench/bench_quality.py a.keras b.keras --split validation   # model choice: validation stations
    python bench/bench_quality.py --n-per-level 200 --plot quality.png
    python bench/bench_quality.py --conditions inband --no-noisy --oracle-floors 0 0.3   # + a perfect mask, floored

For each condition (``inband``: signal and noise high-passed at 1 Hz, the headline; ``recorded``: as
recorded), real pre-P noise of another station of the split is added to the split's signals at -10, -5, 0,
+5, +10 dB (window power ratio); see geokeras.evaluate. Prints one table per model and condition, the
baselines, the issue's targets (in-band condition; met or not) and, for every model, the figures on the 82
real noisy records of datasets/ncedc-noisy (no clean reference: noise RMS before P and peak ratio).
Model choice uses ``--split validation``; the figures reported in the model card use ``--split test``.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def targets(rows, name):
    """Issue 8's targets (in-band condition) for method ``name`` as (description, value, met) tuples."""
    def get(method, level, key):
        return next(r[key] for r in rows if r["method"] == method and r["snr_db"] == level)

    gain = get(name, "all", "snr_gain_db")
    bp = get("bandpass", "all", "snr_gain_db")
    over = get(name, "all", "gain_over_bandpass_db")
    return [
        ("median SNR gain over all levels >= 8 dB", f"{gain:.2f} dB", gain >= 8),
        ("median gain above the band-pass >= 5 dB", f"{over:.2f} dB (per window; medians {gain:.2f} vs {bp:.2f})",
         over >= 5),
        ("median correlation at 0 dB >= 0.90", f"{get(name, 0, 'correlation'):.3f}", get(name, 0, "correlation") >= 0.90),
        ("median correlation at -5 dB >= 0.80", f"{get(name, -5, 'correlation'):.3f}", get(name, -5, "correlation") >= 0.80),
        ("median peak-amplitude ratio at 0 dB in [0.9, 1.1]", f"{get(name, 0, 'peak_ratio'):.3f}",
         0.9 <= get(name, 0, "peak_ratio") <= 1.1),
        ("fraction of the oracle mask's gain (report)", f"{get(name, 'all', 'oracle_fraction'):.2f}", None),
    ]


def noisy_records(model, batch_size=32):
    """Median figures of ``model`` on the 82 real noisy records (one 3000-sample window each)."""
    import numpy as np

    from geokeras.data import datasets
    from geokeras.evaluate import noisy_record_figures

    traces = datasets.load_noisy()
    x = np.stack([np.asarray(tr.data, np.float32) for tr in traces])
    y = np.asarray(model.predict(x[..., None], batch_size=batch_size, verbose=0))[..., 0]
    figs = [noisy_record_figures(a, b, tr.stats.sampling_rate) for a, b, tr in zip(x, y, traces)]
    return {
        "n": len(figs),
        "noise_reduction_db": float(np.median([f["noise_reduction_db"] for f in figs])),
        "peak_ratio": float(np.median([f["peak_ratio"] for f in figs])),
        "picked_in": int(np.sum([np.isfinite(f["pick_before"]) for f in figs])),
        "picked_out": int(np.sum([np.isfinite(f["pick_after"]) for f in figs])),
    }


def oracle_floor_table(records, floors, n_per_level=100, seed=0, condition="inband", levels=(-10, -5, 0, 5, 10)):
    """The ideal ratio mask with each floor (the network's 64/32 framing) on `evaluate`'s windows: a table.

    What a perfect mask would gain with v4's post-processing (``floor + (1 - floor) * mask``): the residual
    noise is at least ``floor`` times the input noise, so the SNR gain cannot exceed ``-20 log10(floor)`` dB.
    """
    import numpy as np

    from geokeras import metrics
    from geokeras.evaluate import heldout_sources, make_test_windows, oracle_mask_baseline

    signals, noise, sig_sta, noi_sta = heldout_sources(records, with_stations=True)
    gains = {f: {} for f in floors}
    corr = {f: {} for f in floors}
    for i, level in enumerate(levels):
        noisy, clean = make_test_windows(signals, noise, float(level), n_per_level, seed=seed + i,
                                         condition=condition, signal_stations=sig_sta, noise_stations=noi_sta)
        for f in floors:
            out = oracle_mask_baseline(clean, noisy - clean, nperseg=64, noverlap=32, floor=f)
            gains[f][level] = np.asarray(metrics.snr_gain_db(clean, noisy, out))
            corr[f][level] = np.asarray(metrics.correlation(clean, out))
    lines = [f"| oracle floor | SNR gain (dB) {' / '.join(map(str, levels))} | all | correlation at 0 / -5 dB |",
             "|---|---|---|---|"]
    for f in floors:
        med = [float(np.median(gains[f][lv])) for lv in levels]
        lines.append(f"| {f:g} | {' / '.join(f'{g:.2f}' for g in med)} | "
                     f"{float(np.median(np.concatenate(list(gains[f].values())))):.2f} | "
                     f"{float(np.median(corr[f][0])):.3f} / {float(np.median(corr[f][-5])):.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help=".keras files (default: the shipped default model)")
    parser.add_argument("--split", choices=("test", "validation"), default="test")
    parser.add_argument("--conditions", nargs="+", choices=("inband", "recorded"), default=["inband", "recorded"])
    parser.add_argument("--n-per-level", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plot", default=None, help="PNG of the first model's in-band table")
    parser.add_argument("--no-noisy", action="store_true", help="skip the 82 real noisy records")
    parser.add_argument("--oracle-floors", type=float, nargs="+", metavar="FLOOR",
                        help="also the ideal ratio mask with these floors (64/32 framing, in band): the most a "
                             "perfect mask could gain with v4's post-processing")
    args = parser.parse_args(argv)

    from geokeras.utils import set_threads

    set_threads(args.threads)
    from geokeras.data import datasets
    from geokeras.evaluate import BASELINES, evaluate, format_table
    from geokeras.models.denoiser import estimate_flops
    from geokeras.pretrained import DEFAULT_MODEL_PATH
    from geokeras.saving import load_model

    train, val, test = datasets.split_records(datasets.load_events())
    records = test if args.split == "test" else val
    print(f"# {args.split} stations: {len({r.station_id for r in records})} stations, {len(records)} records; "
          f"{args.n_per_level} windows per level; load average {os.getloadavg()[0]:.2f}")
    paths = args.models or [str(DEFAULT_MODEL_PATH)]
    summary = []
    for condition in args.conditions:
        baseline_rows = []
        for i, path in enumerate(paths):
            model = load_model(path)
            name = os.path.splitext(os.path.basename(path))[0]
            t0 = time.perf_counter()
            # same seed, same windows: the baselines are computed with the first model only
            rows = evaluate(model, records=records, n_per_level=args.n_per_level, seed=args.seed, model_name=name,
                            baselines=() if i else BASELINES, condition=condition,
                            plot=args.plot if i == 0 and condition == "inband" else None)
            if i:  # the oracle's gains come from the first run (same windows)
                oracle = {r["snr_db"]: r["snr_gain_db"] for r in baseline_rows if r["method"] == "oracle_mask"}
                for r in rows:
                    r["oracle_fraction"] = r["snr_gain_db"] / oracle[r["snr_db"]]
            dt = time.perf_counter() - t0
            print(f"\n## {name}, condition {condition}: {path} ({os.path.getsize(path) / 1e6:.2f} MB, "
                  f"{model.count_params()} parameters, {estimate_flops(model) / 1e6:.1f} MFLOPs/window, "
                  f"evaluation {dt:.0f} s)")
            model_rows = [r for r in rows if r["method"] == name]
            baseline_rows = baseline_rows or [r for r in rows if r["method"] != name]
            print(format_table(model_rows))
            summary += [dict(r, method=f"{name} ({condition})") for r in model_rows if r["snr_db"] == "all"]
            if condition == "inband":
                print("\nTargets (in-band condition):")
                for desc, value, met in targets(model_rows + baseline_rows, name):
                    print(f"- {desc}: {value}" + ("" if met is None else f" -> {'MET' if met else 'NOT MET'}"))
        print(f"\n## Baselines, condition {condition}")
        print(format_table(baseline_rows))
        summary += [dict(r, method=f"{r['method']} ({condition})") for r in baseline_rows if r["snr_db"] == "all"]
    if args.oracle_floors:
        print(f"\n## The ideal ratio mask with a floor (in band, {args.n_per_level} windows a level)")
        print(oracle_floor_table(records, args.oracle_floors, args.n_per_level, args.seed))
    print("\n## Summary (all levels)")
    print(format_table(summary).replace("| method |", "| method (condition) |", 1))
    if not args.no_noisy:
        print("\n## 82 real noisy records (datasets/ncedc-noisy, no clean reference)")
        print("| model | noise RMS before P (dB, median) | peak ratio (median) | P picked in -> out |")
        print("|---|---|---|---|")
        for path in paths:
            fig = noisy_records(load_model(path))
            print(f"| {os.path.splitext(os.path.basename(path))[0]} | {fig['noise_reduction_db']:+.1f} | "
                  f"{fig['peak_ratio']:.2f} | {fig['picked_in']} -> {fig['picked_out']} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
