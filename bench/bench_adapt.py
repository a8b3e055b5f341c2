"""Does `geokeras adapt` help at a station? Fine-tune the default on a test station's noise, score on held-out noise.

Usage:
    python bench/bench_adapt.py --minutes 2 --hours 2 --stations 3          # a quick run
    python bench/bench_adapt.py --minutes 10 --hours 2 --stations 3 --json adapt.json
    python bench/bench_adapt.py --minutes 2 --only BK.SAO --general-noise 0 --learning-rate 1e-4   # one setting

The bundled data hold no continuous records, only the pre-P noise windows of the bundled events (about 30 s
per component and event): the test stations with the most of it have 6-9 minutes (the script prints each
station's minutes). For each of the ``--stations`` test stations (`geokeras.data.datasets.TEST_STATIONS`)
with the most screened noise (`geokeras.detection.quiet_noise`), its events are sorted by time and split:

- the noise windows of the earlier two thirds of its events are the *adaptation noise*: each event's windows
  (its three components) are overlap-added with 2-s equal-power cross-fades, random polarity and time
  reversal (`geokeras.detection.overlap_add_noise`, as `geokeras.detection.benchmark_records` does) into an
  equal share of a continuous record of ``--hours`` hours, in the events' time order, so that the record's
  noise changes over time as a real station's does (and `geokeras.adapt`'s time split puts the noise of
  the last events into its validation part); the record is written as an ObsPy trace of that station, and
  `geokeras.adapt` runs on it (``--minutes`` of fine-tuning);
- the noise windows of the last third of its events are *held out* and score the default and the adapted
  model: the median SNR gain over ``--n-per-level`` in-band mixtures per level at -10..10 dB
  (`geokeras.evaluate.evaluate`), and the recall of recursive STA/LTA at 2 false triggers per hour on a
  continuous record of ``--detection-hours`` hours of that held-out noise (`geokeras.detection`). The events
  of both are those of the *other* test stations; the fine-tuning used training-station events only.

Targets (issue 16): for every station, median SNR gain >= 1.5 dB above the default and recall at 2 false/h
not below the default's; ``--hours 2`` adapts in <= 15 minutes on 2 cores. The load average is printed with
every timing (the build machine is shared).
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

RATE = 100.0


def station_noise(n_stations):
    """``[(station, adapt_windows_per_event, heldout_windows, minutes)]`` for the test stations with the most noise."""
    from geokeras.data import datasets, pairs
    from geokeras.detection import quiet_noise

    by_station = {}
    for rec in datasets.load_events(stations=datasets.TEST_STATIONS):
        by_station.setdefault(rec.station_id, []).append(rec)
    out = []
    for sta, recs in by_station.items():
        recs = sorted(recs, key=lambda r: r.p_time)
        n_held = int(np.ceil(len(recs) / 3))
        if len(recs) < 3:
            continue
        per_event = [quiet_noise(pairs.sources_from_events([r])[1], RATE)[0] for r in recs]
        adapt_w = [w for w in per_event[:-n_held] if w]
        held = [x for w in per_event[-n_held:] for x in w]
        minutes = [sum(x.size for w in adapt_w for x in w) / RATE / 60, sum(x.size for x in held) / RATE / 60]
        out.append((sta, adapt_w, held, minutes))
    out.sort(key=lambda s: -sum(s[3]))
    return out[:n_stations]


def other_signals(station):
    from geokeras.evaluate import heldout_sources

    signals, _, sig_sta, _ = heldout_sources(with_stations=True)
    return [s for s, st in zip(signals, sig_sta) if st != station]


def adapt_station(sta, windows, hours, minutes, seed, threads, learning_rate, **options):
    """Build the continuous adaptation record and run `geokeras.adapt` on it: ``(model, report, wall_s)``."""
    import obspy

    import geokeras
    from geokeras.detection import overlap_add_noise

    n = int(hours * 3600 * RATE)
    bounds = np.linspace(0, n, len(windows) + 1).astype(int)
    data = np.zeros(n)
    for i, event_windows in enumerate(windows):  # each event's noise in its share of the record, in time order
        data[bounds[i]:bounds[i + 1]] = overlap_add_noise(event_windows, bounds[i + 1] - bounds[i], RATE, seed=seed + i)
    net, code = sta.split(".")
    header = {"network": net, "station": code, "channel": "HHZ", "sampling_rate": RATE,
              "starttime": obspy.UTCDateTime(2024, 1, 1)}
    tr = obspy.Trace(data.astype(np.float32), header=header)
    t0 = time.perf_counter()
    model, report = geokeras.adapt(obspy.Stream([tr]), minutes=minutes, seed=seed, threads=threads,
                                   learning_rate=learning_rate, **options,
                                   detection_hours=0.5, n_per_level=30,
                                   log=lambda s: print("   ", s, file=sys.stderr, flush=True))
    return model, report, time.perf_counter() - t0


def score(models, signals, noise, n_per_level, detection_hours, seed):
    """Median in-band SNR gain per level and recall at 2 false/h of each model on the held-out noise."""
    from geokeras.adaptation.report import _recall
    from geokeras.evaluate import evaluate

    gains = {}
    for name, model in models.items():
        rows = evaluate(model, signals=signals, noise=noise, n_per_level=n_per_level, baselines=("bandpass",),
                        seed=seed, model_name=name, condition="inband")
        gains[name] = {str(r["snr_db"]): r["snr_gain_db"] for r in rows if r["method"] == name}
    recall, n_events = _recall({"raw": None, **models}, noise, signals, RATE, detection_hours, seed)
    return gains, recall, n_events


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=3)
    parser.add_argument("--hours", type=float, default=2.0, help="hours of adaptation noise per station")
    parser.add_argument("--minutes", type=float, default=10.0, help="fine-tuning budget per station")
    parser.add_argument("--n-per-level", type=int, default=100)
    parser.add_argument("--detection-hours", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=3e-4, help="of the fine-tuning (geokeras.adapt's)")
    parser.add_argument("--general-noise", type=float, default=None,
                        help="share of bundled training-station noise in the fine-tuning noise (default: "
                             "geokeras.adapt's, geokeras.adaptation.GENERAL_NOISE)")
    parser.add_argument("--steps-per-epoch", type=int, default=50, help="of the fine-tuning (geokeras.adapt's)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NET.STA", help="just these of the stations")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.general_noise is None:
        from geokeras.adaptation import GENERAL_NOISE

        args.general_noise = GENERAL_NOISE

    from geokeras.pretrained import load_default

    default = load_default()
    results = []
    for sta, adapt_w, held_w, minutes in station_noise(args.stations):
        if args.only and sta not in args.only:
            continue
        print(f"{sta}: {minutes[0]:.2f} min of real noise for adaptation ({sum(map(len, adapt_w))} windows of "
              f"{len(adapt_w)} events), "
              f"{minutes[1]:.2f} min held out ({len(held_w)} windows)", flush=True)
        model, report, wall = adapt_station(sta, adapt_w, args.hours, args.minutes, args.seed, args.threads,
                                            args.learning_rate, general_noise=args.general_noise,
                                            steps_per_epoch=args.steps_per_epoch)
        load = os.getloadavg()
        gains, recall, n_events = score({"default": default, "adapted": model}, other_signals(sta), held_w,
                                        args.n_per_level, args.detection_hours, args.seed)
        row = {"station": sta, "noise_minutes": minutes, "adapt_wall_s": wall, "load_after_adapt": load,
               "fine_tune": report["fine_tune"], "noise_hours": report["noise_hours"], "gain_db": gains,
               "recall": recall, "detection_events": n_events}
        results.append(row)
        print(f"{sta}: adapt {wall / 60:.1f} min ({report['fine_tune']['train_s'] / 60:.1f} min fine-tuning; "
              f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
              f"{report['fine_tune']['steps']} steps, best epoch {report['fine_tune']['best_epoch']}); held-out "
              f"median gain {gains['default']['all']:.2f} -> {gains['adapted']['all']:.2f} dB; recall at 2 false/h "
              f"{recall['default']['all']:.0%} -> {recall['adapted']['all']:.0%} (raw {recall['raw']['all']:.0%}, "
              f"{n_events} events)", flush=True)
    print_table(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1, default=float)


def print_table(results, args):
    levels = ["-10", "-5", "0", "5", "10", "all"]
    print(f"\nheld-out noise, in band; --hours {args.hours:g} --minutes {args.minutes:g} --threads {args.threads} "
          f"--learning-rate {args.learning_rate:g} --general-noise {args.general_noise:g} "
          f"--steps-per-epoch {args.steps_per_epoch}")
    print("| station | real noise min (adapt / held out) | adapt min | gain default / adapted (dB), "
          + " / ".join(levels) + " | recall at 2 false/h default / adapted | targets |")
    print("|---|---|---|---|---|---|")
    for r in results:
        g = r["gain_db"]
        cells = " / ".join(f"{g['default'][lv]:.1f}->{g['adapted'][lv]:.1f}" for lv in levels)
        rec = r["recall"]
        met = (g["adapted"]["all"] >= g["default"]["all"] + 1.5, rec["adapted"]["all"] >= rec["default"]["all"],
               r["adapt_wall_s"] <= 900 or args.hours < 2)
        print(f"| {r['station']} | {r['noise_minutes'][0]:.1f} / {r['noise_minutes'][1]:.1f} | "
              f"{r['adapt_wall_s'] / 60:.1f} | {cells} | {rec['default']['all']:.0%} / {rec['adapted']['all']:.0%} | "
              f"gain +1.5 dB: {'met' if met[0] else 'NOT met'}; recall: {'met' if met[1] else 'NOT met'}; "
              f"time: {'met' if met[2] else 'NOT met'} |")


if __name__ == "__main__":
    main()
