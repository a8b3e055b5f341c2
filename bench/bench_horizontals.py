"""What the three-component path does to the horizontals: amplitudes and SNR of every component (session 16).

The detection benchmark (`bench_detection.py --components 3`) scores the vertical only, where the median mask of
the three components helps detection most. A seismologist also reads the horizontals (S amplitudes for
magnitudes, S picks): one mask for all three components, the median of theirs, could hold back an arrival that
is strong on one horizontal alone. This benchmark measures it on the same records.

Records: `geokeras.detection.benchmark_records(components=3)`, the three-component continuous records of
`bench_detection.py --components 3` (real noise of each station's three components overlap-added with cross-fades,
real three-component events of other stations injected at known P times, each scaled by one factor so that the
vertical's window SNR is its level; everything high-passed at 1 Hz). For every method and component (E, N, Z
in the records' order; the horizontals have their own SNRs), per level of the vertical: the median peak-amplitude
ratio (max |output| / max |clean| from P to 20 s after it, `geokeras.detection.peak_ratio`; on the horizontals
of a local event that window holds the S wave) and the median SNR gain on the event's -10..+20 s window
(`geokeras.detection.event_window_scores`, against that component's own input SNR there).

Also each component's residual: the 1-s RMS p99/p10 of the noise-only stretches (`geokeras.detection.
noise_stationarity`, as the detection benchmark reports for the vertical).

Methods: the raw trace; each denoiser on each component alone (``own``, `denoise`); each denoiser under the median
mask (`denoise_components`) and under ``median-max`` (the vertical the median, each horizontal the larger of its own
mask and the median; session 17); the classical Wiener filter on each component alone and with the median of the
components' gains (`geokeras.evaluate.wiener_baseline`). ``default`` is the shipped pair (v4 alone, the
three-component network under the median); name ``geokeras/pretrained/default.keras`` for v4 under the median.

Usage:
    python bench/bench_horizontals.py default --split validation --stations 10 --min-noise-s 55 --repeats 4
    python bench/bench_horizontals.py default geokeras/pretrained/default.keras --split test --stations 8 \\
        --min-noise-s 55 --repeats 2                 # the records of the model card's three-component test table
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

COMPONENTS = ("E", "N", "Z")


def methods_for(models):
    """``{name: fn(noisy (3, n), sampling_rate) -> (3, n)}``: raw, the Wiener filter, each denoiser alone and under
    the median mask."""
    import numpy as np

    from geokeras.denoise import Denoiser, denoise, denoise_components
    from geokeras.evaluate import wiener_baseline

    methods = {"raw": lambda x, sr: x,
               "wiener own": lambda x, sr: wiener_baseline(x, sr),
               "wiener 3c-median": lambda x, sr: wiener_baseline(x, sr, components="median")}
    for name, model in models.items():
        den = Denoiser.resolve(model)
        methods[f"{name} own"] = (lambda d: lambda x, sr: np.stack(
            [np.asarray(denoise(row, model=d, sampling_rate=sr)) for row in x]))(den)
        for statistic in ("median", "median-max"):
            methods[f"{name} 3c-{statistic}"] = (lambda d, st: lambda x, sr: denoise_components(
                x, model=d, sampling_rate=sr, statistic=st))(den, statistic)
    return methods


def score(methods, records, levels):
    """``{(method, component, level): (peak ratios, SNR gains)}`` over the records' events, each component's event
    counted at the level nearest its own input SNR on the event window (within 2.5 dB; others are left out); and
    under ``(method, component, "p99/p10")`` the residual's 1-s RMS p99/p10 of each record's noise-only stretches
    (`geokeras.detection.noise_stationarity`)."""
    import numpy as np

    from geokeras.detection import (event_window_scores, noise_only_mask, noise_stationarity, peak_ratio,
                                    window_snr_db)

    out = {(name, comp, lv): ([], []) for name in methods for comp in COMPONENTS for lv in levels}
    out.update({(name, comp, "p99/p10"): [] for name in methods for comp in COMPONENTS})
    for rec in records:
        sr = rec["sampling_rate"]
        quiet = noise_only_mask(rec["noisy"].shape[-1], rec["events"], sr)
        own = [[window_snr_db(rec["clean"][c], rec["noisy"][c] - rec["clean"][c], ev.p_index, sr)
                for ev in rec["events"]] for c in range(len(COMPONENTS))]
        for name, fn in methods.items():
            y = fn(rec["noisy"], sr)
            for c, comp in enumerate(COMPONENTS):
                out[(name, comp, "p99/p10")].append(noise_stationarity(y[c], quiet, sr)["ratio"])
                for ev, snr in zip(rec["events"], own[c]):
                    level = levels[int(np.argmin([abs(snr - lv) for lv in levels]))]
                    if abs(snr - level) > 2.5:
                        continue
                    peaks, gains = out[(name, comp, level)]
                    peaks.append(peak_ratio(y[c], rec["clean"][c], ev, sr))
                    gains.append(event_window_scores(y[c], rec["clean"][c], ev, sr)[0] + ev.snr_db - snr)
    return out


def table(results, methods, levels, which):
    """Markdown table of the medians of ``which`` (0: peak ratio, 1: SNR gain) per method, component and level."""
    import numpy as np

    head = ("| method | component | " + " | ".join(f"{lv:g} dB" for lv in levels) + " | all |"
            + (" residual p99/p10 |" if which == 1 else ""))
    lines = [head, "|---|---|" + "---|" * (len(levels) + 1 + (which == 1))]
    for name in methods:
        for comp in COMPONENTS:
            vals = [np.asarray(results[(name, comp, lv)][which], dtype=float) for lv in levels]
            cells = [np.nanmedian(v) if len(v) else np.nan for v in vals] + [np.nanmedian(np.concatenate(vals))]
            fmt = "{:.3f}" if which == 0 else "{:.2f}"
            lines.append(f"| {name} | {comp} | " + " | ".join(fmt.format(v) for v in cells) + " |"
                         + (f" {np.median(results[(name, comp, 'p99/p10')]):.2f} |" if which == 1 else ""))
        if name == "raw":  # how many events each cell holds (the same for every method)
            lines.append("| (events) | E / N / Z | " + " | ".join(
                " / ".join(str(len(results[("raw", comp, lv)][0])) for comp in COMPONENTS) for lv in levels)
                + " | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["default"],
                        help="model files or 'default' (the shipped pair; default)")
    parser.add_argument("--split", choices=("test", "validation"), default="validation")
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--min-noise-s", type=float, default=55.0)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--levels", type=float, nargs="+", default=[-15, -10, -5, 0, 5])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from bench_detection import model_names
    from geokeras.detection import benchmark_records

    t0 = time.time()
    levels = tuple(int(lv) if float(lv).is_integer() else lv for lv in args.levels)
    records = benchmark_records(args.split, n_stations=args.stations, hours=args.hours, seed=args.seed,
                                min_noise_s=args.min_noise_s, repeats=args.repeats, snr_levels=levels, components=3)
    stations = list(dict.fromkeys(r["station"] for r in records))
    print(f"{args.split} stations, three-component records: {len(records)} x {args.hours:g} h ({', '.join(stations)}), "
          f"{sum(len(r['events']) for r in records)} events at {levels} dB (the vertical's); "
          f"load average {os.getloadavg()[0]:.2f}")
    methods = methods_for(model_names(args.models))
    results = score(methods, records, levels)
    print("\npeak-amplitude ratio to the clean event, P to 20 s after (median over the events), per component; "
          "columns: each component's own window SNR (nearest level)")
    print(table(results, methods, levels, 0))
    print("\nSNR gain on the event window (-10..+20 s), dB against each component's own input SNR (median); the "
          "residual's 1-s RMS p99/p10 on the noise-only stretches (median over the records)")
    print(table(results, methods, levels, 1))
    print(f"\n{time.time() - t0:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
