"""Does denoising help detection? STA/LTA on continuous records, raw vs band-passed vs denoised (issue 15).

Usage:
    python bench/bench_detection.py                                  # shipped model, test stations
    python bench/bench_detection.py a.keras b.keras --split validation   # model choice: validation only
    python bench/bench_detection.py --stations 8 --hours 2 --plot recall.png --json out.json
    python bench/bench_detection.py a.keras b.keras --split validation --stations 10 --min-noise-s 55 --repeats 2 \
        --levels -15 -10 -5 0 5                                      # the model-choice set (240 events a level)
    python bench/bench_detection.py a.keras b.keras --split validation --stations 10 --min-noise-s 55 --no-screen \
        --levels -15 -10 -5 0 5                                      # the same stations, noise transients kept
    python bench/bench_detection.py default --oracle 0 0.3           # + the ideal ratio mask, floors 0 and 0.3
    python bench/bench_detection.py default --oracle 0.2 --oracle-frame 32   # the ideal mask on 32/16-sample frames

The records (`geokeras.detection.benchmark_records`): for each of ``--stations`` stations of the split (those
with the most real pre-P noise, >= 90 s), the station's real noise windows are overlap-added with 2-s
equal-power cross-fades into a continuous record of ``--hours`` hours, and real events of the *other*
stations of the split are injected every 90-150 s at known P times, at window SNRs of -10, -5, 0 and +5 dB
(power ratio of the event's -10..+20 s window to the noise's there). Noise and events are high-passed at
1 Hz first: the in-band condition of `geokeras.evaluate`, where a band-pass cannot win by removing
microseism. ObsPy's ``recursive_sta_lta`` and ``classic_sta_lta`` (0.5 s / 10 s) with ``trigger_onset``
(off at 1.0) run on each trace (raw, band-passed 1-20 Hz, ``wiener``: the classical decision-directed Wiener filter
with the record's own running noise spectrum and the networks' floor 0.3, `geokeras.evaluate.wiener_baseline`, since
session 16; and each denoiser) at the lowest threshold giving at most 1 and 2 false triggers per hour
(triggers in noise-only stretches). A hit is a trigger -1..+4 s around the P time; its pick
(`geokeras.detection.pick_at_trigger`) is the minimum of ObsPy's Akaike criterion (``aic_simple``) within
-5..+3 s of the trigger, refined within +-0.3 s on the record's noisy input where the input shows the onset
clearly (RMS ratio > 3 across the pick; for the raw trace, on itself), or with ``--picker pk_baer`` ObsPy's
``pk_baer`` within +-10 s of the trigger (the picker of sessions 1-5). Reported per SNR level: recall, median |pick - P| (s), median
peak-amplitude ratio (max |output| / max |clean| within 20 s after P), and the stationarity of the output
in noise-only stretches (1-s RMS percentiles relative to their median; p99/p10).

Three-component records (``--components 3``, `geokeras.detection.benchmark_records(components=3)`): the noise
of all three components of a station's records (a record counts when its noise window is quiet on all three
at once; its seconds count three times towards ``--min-noise-s``, as the single traces' do), overlap-added from
the same pieces, and real three-component events of the other stations, each scaled by one factor so that the
vertical's window SNR is its level. The detector runs on the vertical: the raw and band-passed vertical, each
denoiser on the vertical alone (`denoise`), and each denoiser on the three components with one combined mask per
window (`geokeras.denoise.denoise_components`, ``--statistics``; ``own`` is each component's own mask through the
same float32 path), and ``wiener 3c-median``: the Wiener filter with the median of the three components' gains.

    python bench/bench_detection.py default --split validation --stations 10 --min-noise-s 55 --repeats 4 \
        --levels -15 -10 -5 0 5 --components 3 --statistics median mean own

A three-component network (`geokeras.models.components.build_joint_mask_denoiser`, e.g. from
``bench/train_joint.py``) is scored with ``--components 3`` only, as ``NAME 3c-joint`` (its own single mask: the
statistics do not apply to it).

Model choice uses ``--split validation``; the figures of the model card and README use ``--split test``.

``default`` is the shipped pair: v4 on one trace, and under ``--components 3`` the shipped three-component network
(`geokeras.pretrained.load_components`, `Denoiser.for_components`); ``geokeras/pretrained/default.keras`` named as a
file is v4 on both paths (the three-component figures before session 15 are of that).
``--compare METHOD`` prints every method's recall, SNR gain and peak ratio minus METHOD's on the same events with
95 % intervals from resampling the noise and event stations (`geokeras.detection.paired_differences`).
"""
import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from geokeras.detection import PICKERS  # noqa: E402  (NumPy only: no TensorFlow before the arguments are read)

LEVELS = (-10, -5, 0, 5)


def model_names(paths):
    """``{name: model}`` for `geokeras.detection.standard_methods`: ``"default"`` (the shipped model) or a file
    named by its base name (the shipped model when ``paths`` is empty)."""
    return {p if p == "default" else os.path.basename(p): None if p == "default" else p for p in (paths or ["default"])}


def split_joint(models):
    """``(single, joint)``: the single-component denoisers of ``{name: model}`` and the three-component ones
    (`geokeras.models.components.build_joint_mask_denoiser`, scored on three-component records only)."""
    from geokeras.denoise import Denoiser

    single, joint = {}, {}
    for name, model in models.items():
        den = Denoiser.resolve(model)
        (joint if den.model.input_shape[-1] > 1 else single)[name] = den
    return single, joint


def targets(tables, stationarity, name, rate=2.0, detector="recursive"):
    """Issue 15's detection targets for method ``name`` as (description, value, met) tuples."""
    def row(method, level):
        return next(r for r in tables[(method, detector, rate)] if r["snr_db"] == level)

    out = [
        ("recall at -5 dB >= 1.5x raw", f"{row(name, -5)['recall']:.0%} vs {row('raw', -5)['recall']:.0%}",
         row(name, -5)["recall"] >= 1.5 * row("raw", -5)["recall"]),
        ("recall at 0 dB >= 90 %", f"{row(name, 0)['recall']:.0%}", row(name, 0)["recall"] >= 0.9),
        ("recall at no level below raw", ", ".join(f"{row(name, lv)['recall']:.0%}/{row('raw', lv)['recall']:.0%}"
                                                   for lv in LEVELS),
         all(row(name, lv)["recall"] >= row("raw", lv)["recall"] for lv in LEVELS)),
        ("pick error <= raw at every level", ", ".join(f"{row(name, lv)['pick_error_s']:.2f}/"
                                                        f"{row('raw', lv)['pick_error_s']:.2f}" for lv in LEVELS),
         all(_pick_no_worse(row(name, lv)["pick_error_s"], row("raw", lv)["pick_error_s"]) for lv in LEVELS)),
        ("residual p99/p10 <= 2x raw's", f"{stationarity[name]['ratio']:.2f} vs {stationarity['raw']['ratio']:.2f}",
         stationarity[name]["ratio"] <= 2 * stationarity["raw"]["ratio"]),
    ]
    return out


def _pick_no_worse(error, raw_error):
    """A method's median pick error is no worse than the raw trace's; a method with no picks where the raw trace
    has some (an output of exact zeros: no Akaike minimum) is worse, a level where the raw trace has none is not
    counted."""
    if math.isnan(raw_error):
        return True
    return not math.isnan(error) and error <= raw_error


def paired_picks(scores, levels, rate=2.0, detector="recursive"):
    """Median |pick - P| per level on the events that both the raw trace and each method detect and pick."""
    import numpy as np

    lines = ["", f"pick error on the events both the raw trace and the method pick ({detector}, {rate:g} false/h): "
                 "n, median s raw / method",
             "| method | " + " | ".join(f"{lv:g} dB" for lv in levels) + " |", "|---|" + "---|" * len(levels)]
    for m in scores:
        if m == "raw":
            continue
        pairs = [(a["snr_db"], a[(detector, rate)]["pick_error_s"], b[(detector, rate)]["pick_error_s"])
                 for ra, rb in zip(scores["raw"], scores[m]) for a, b in zip(ra["events"], rb["events"])]
        cells = []
        for lv in levels:
            e = np.array([(x, y) for level, x, y in pairs if level == lv and np.isfinite(x) and np.isfinite(y)])
            cells.append(f"{len(e)}: {np.median(e[:, 0]):.2f} / {np.median(e[:, 1]):.2f}" if len(e) else "0")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(scores, records, reference, levels, detector="recursive", rate=2.0):
    """Print (and return) the paired recall differences against ``reference``
    (`geokeras.detection.paired_differences`) and each noise station's own difference, then the paired
    differences of the event windows' SNR gain and of the peak ratio."""
    from geokeras.detection import format_paired, paired_differences

    if reference not in scores:
        sys.exit(f"--compare {reference!r}: not a method of this run ({', '.join(scores)})")
    rows = paired_differences(scores, records, reference, levels, detector=detector, rate=rate)
    print(format_paired(rows, reference, levels))
    noise_only = paired_differences(scores, records, reference, levels, detector=detector, rate=rate,
                                    resample=("noise",))
    print(format_paired(noise_only, reference, levels).replace("stations resampled", "the noise stations resampled, "
                                                                "not the events' stations"))
    stations = list(dict.fromkeys(r["station"] for r in records))
    print(f"\neach noise station's own difference against {reference}, points: all levels ("
          + " / ".join(f"{lv:g} dB" for lv in levels) + ")")
    print("| method | " + " | ".join(stations) + " |\n|---|" + "---|" * len(stations))
    for method in dict.fromkeys(r["method"] for r in rows):
        by = {r["snr_db"]: r["by_station"] for r in rows if r["method"] == method}
        print(f"| {method} | " + " | ".join(
            f"{100 * by['all'].get(sta, float('nan')):+.0f} (" + "/".join(
                f"{100 * by[lv].get(sta, float('nan')):+.0f}" for lv in levels if lv in by) + ")"
            for sta in stations) + " |")
    for metric in ("snr_gain_db", "peak_ratio"):  # what the detections cost or give: the same events' waveforms
        print(format_paired(paired_differences(scores, records, reference, levels, metric), reference, levels,
                            metric=metric))
    return rows


def oracle_method(records, floor, frame=64):
    """The ideal ratio mask with a floor as a method of `evaluate_detection` (it needs each record's clean part),
    on Hann frames of ``frame`` samples with a hop of half a frame (64: the networks' framing).

    ``evaluate_detection`` hands a method only the noisy trace; the records' noisy arrays are looked up by
    identity to find their injected events.
    """
    from geokeras.detection import vertical
    from geokeras.evaluate import oracle_mask_baseline

    clean_of = {id(r["noisy"]): r["clean"] for r in records}

    def method(noisy, sampling_rate):  # on three-component records the vertical's own ideal mask
        clean = vertical(clean_of[id(noisy)])
        return oracle_mask_baseline(clean, vertical(noisy) - clean, nperseg=frame, noverlap=frame // 2, floor=floor)
    return method


def plot(tables, path, rate=2.0):
    """Recall vs window SNR at ``rate`` false triggers per hour, both detectors."""
    import matplotlib.pyplot as plt

    methods = sorted({m for m, _, _ in tables}, key=lambda m: (m not in ("raw", "bandpass"), m))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, det in zip(axes, ("recursive", "classic")):
        for m in methods:
            rows = [r for r in tables[(m, det, rate)] if r["snr_db"] != "all"]
            ax.plot([r["snr_db"] for r in rows], [100 * r["recall"] for r in rows], "o-", label=m)
        ax.set_title(f"{det}_sta_lta, {rate:g} false triggers / h")
        ax.set_xlabel("event window SNR (dB)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall (%)")
    axes[0].set_ylim(0, 105)
    axes[1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model files or 'default' (default: the shipped model)")
    parser.add_argument("--split", choices=("test", "validation"), default="test")
    parser.add_argument("--stations", type=int, default=8, help="records, one per noise station (default 8)")
    parser.add_argument("--hours", type=float, default=2.0, help="length of each record (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-noise-s", type=float, default=90.0,
                        help="stations with less screened noise are left out (default 90)")
    parser.add_argument("--levels", type=float, nargs="+", default=list(LEVELS),
                        help="event window SNRs in dB (default -10 -5 0 5, the issue's; the targets are "
                             "checked only for those)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="records per station, each with its own seed (default 1)")
    parser.add_argument("--no-screen", dest="screen", action="store_false",
                        help="keep the noise windows whole, transients included (a burstier record; the "
                             "default screens them with geokeras.detection.quiet_noise)")
    parser.add_argument("--picker", choices=PICKERS, default="aic",
                        help="P picker around each hit (default aic; pk_baer: the earlier benchmark's)")
    parser.add_argument("--no-refine", dest="refine", action="store_false",
                        help="aic picks on the processed trace alone, not refined on the noisy input")
    parser.add_argument("--oracle", type=float, nargs="+", metavar="FLOOR",
                        help="also score the ideal ratio mask (from the injected events and the record's noise, "
                             "the network's 64/32 STFT framing) with each of these floors: what a perfect mask "
                             "would give on the same records, an upper reference for the denoisers; on three-component records the vertical's own ideal mask")
    parser.add_argument("--oracle-frame", type=int, default=64, metavar="N",
                        help="the ideal mask's STFT frame in samples, hop N/2 (default 64: the networks' framing; "
                             "another N names the method oracle_fF_nN): how much of what the ideal mask can "
                             "reach the framing itself sets")
    parser.add_argument("--overlap", type=float, default=0.5,
                        help="the denoisers' window overlap (default 0.5, denoise's)")
    parser.add_argument("--components", type=int, choices=(1, 3), default=1,
                        help="3: three-component records (geokeras.detection.benchmark_records(components=3)); the "
                             "detector runs on the vertical, and each denoiser also runs on the three components "
                             "with one combined mask per window (--statistics)")
    parser.add_argument("--statistics", nargs="+", default=["median", "own"], choices=("median", "mean", "own"),
                        help="with --components 3: the mask combinations scored (default median and own: 'own' is "
                             "each component's own mask through the same float32 path, the control)")
    parser.add_argument("--compare", nargs="+", metavar="METHOD",
                        help="also print each method's recall minus this method's (e.g. 'default 3c-median') on the "
                             "same events, with a 95 %% interval from resampling the noise stations and the events' "
                             "stations (geokeras.detection.paired_differences), each station's own "
                             "difference, and the same for the SNR gain and peak ratio of the event windows")
    parser.add_argument("--plot", help="write the recall-vs-SNR figure (2 false triggers / h) here")
    parser.add_argument("--json", help="write all tables here")
    args = parser.parse_args(argv)

    from geokeras.detection import (benchmark_records, component_methods, detection_tables, evaluate_detection,
                                    format_detection, pooled_stationarity, standard_methods)

    t0 = time.time()
    levels = tuple(int(lv) if float(lv).is_integer() else lv for lv in args.levels)
    records = benchmark_records(args.split, n_stations=args.stations, hours=args.hours, seed=args.seed,
                                min_noise_s=args.min_noise_s, repeats=args.repeats, snr_levels=levels,
                                screen=args.screen, components=args.components)
    n_events = sum(len(r["events"]) for r in records)
    stations = list(dict.fromkeys(r["station"] for r in records))
    print(f"{args.split} stations, {args.components}-component records: {len(records)} x {args.hours:g} h "
          f"({', '.join(stations)}; "
          f"{args.repeats} record(s) each), "
          f"{n_events} events at {levels} dB; load average {os.getloadavg()[0]:.2f}")
    for r in {r["station"]: r for r in records}.values():  # once per station (repeats share the noise)
        rep = r["noise_report"]
        if rep:
            print(f"  {r['station']}: noise screen kept {rep['kept']} pieces ({rep['kept_s']:.0f} of {rep['total_s']:.0f} s) "
                  f"of {rep['windows']} windows; dropped {rep['transient']} with a transient, {rep['short']} short")
    single, joint = split_joint(model_names(args.models))
    if joint and args.components != 3:
        parser.error(f"{', '.join(joint)}: a three-component network scores --components 3 records only")
    methods = standard_methods(single, overlap=args.overlap)
    if args.components == 3:
        methods.update(component_methods(single, args.statistics, overlap=args.overlap, wiener=True))
        methods.update({f"{name} 3c-joint": fn for name, fn in  # its own one mask: no statistic
                        zip(joint, component_methods(joint, ("median",), overlap=args.overlap).values())})
    for floor in args.oracle or ():
        suffix = "" if args.oracle_frame == 64 else f"_n{args.oracle_frame}"
        methods[f"oracle_f{floor:g}{suffix}"] = oracle_method(records, floor, args.oracle_frame)
    scores = evaluate_detection(methods, records, picker=args.picker, refine=args.refine)
    print(f"picker: {args.picker}" + (", refined on the noisy input" if args.picker == "aic" and args.refine else ""))
    tables = detection_tables(scores, levels)
    stationarity = {m: pooled_stationarity(s) for m, s in scores.items()}
    print(format_detection(scores, levels))
    print(paired_picks(scores, levels))
    for m in scores:
        if m in ("raw", "bandpass") or set(LEVELS) - set(levels):
            continue
        print(f"\ntargets for {m} (recursive_sta_lta, 2 false triggers / h):")
        for desc, value, met in targets(tables, stationarity, m):
            print(f"  [{'met' if met else 'NOT met'}] {desc}: {value}")
    paired = {ref: compare(scores, records, ref, levels) for ref in args.compare or ()}
    if args.plot:
        plot(tables, args.plot)
        print(f"\nwrote {args.plot}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"split": args.split, "levels": levels, "stations": [r["station"] for r in records], "hours": args.hours,
                       "repeats": args.repeats, "min_noise_s": args.min_noise_s, "screen": args.screen,
                       "components": args.components,
                       "picker": args.picker, "refine": args.refine,
                       "tables": {"|".join(map(str, k)): v for k, v in tables.items()},
                       "stationarity": stationarity, "paired": paired}, f, indent=1)
    print(f"\n{time.time() - t0:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
