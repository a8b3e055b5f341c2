"""Quality of denoisers on the station-disjoint held-out set, side by side with the baselines.

Usage:
    python bench/bench_quality.py                       # the shipped default model
    python bench/bench_quality.py a.keras b.keras       # several models (e.g. the two families)
    python bench/bench_quality.py --n-per-level 200 --plot quality.png

Real pre-P noise of the held-out stations (geokeras.data.datasets.HOLDOUT_STATIONS) is added to the
held-out signals at -10, -5, 0, +5, +10 dB (window power ratio); see geokeras.evaluate. Prints the table,
the issue's targets (met or not) and the fraction of the oracle mask's gain reached.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def targets(rows, name):
    """The issue's targets for method ``name`` as (description, value, met) tuples."""
    def get(method, level, key):
        return next(r[key] for r in rows if r["method"] == method and r["snr_db"] == level)

    gain = get(name, "all", "snr_gain_db")
    bp = get("bandpass", "all", "snr_gain_db")
    oracle = get("oracle_mask", "all", "snr_gain_db")
    return [
        ("median SNR gain over all levels >= 8 dB", f"{gain:.2f} dB", gain >= 8),
        ("median correlation at 0 dB >= 0.90", f"{get(name, 0, 'correlation'):.3f}", get(name, 0, "correlation") >= 0.90),
        ("median correlation at -5 dB >= 0.80", f"{get(name, -5, 'correlation'):.3f}", get(name, -5, "correlation") >= 0.80),
        ("median peak-amplitude ratio at 0 dB in [0.9, 1.1]", f"{get(name, 0, 'peak_ratio'):.3f}",
         0.9 <= get(name, 0, "peak_ratio") <= 1.1),
        ("SNR gain >= bandpass + 5 dB", f"{gain:.2f} vs {bp:.2f} + 5 dB", gain >= bp + 5),
        ("fraction of the oracle mask's gain (report)", f"{gain / oracle:.2f} ({gain:.2f} / {oracle:.2f} dB)", None),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help=".keras files (default: the shipped default model)")
    parser.add_argument("--n-per-level", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plot", default=None, help="PNG of the first model's table")
    args = parser.parse_args(argv)

    from geokeras.train import set_threads

    set_threads(args.threads)
    from geokeras.evaluate import evaluate, format_table
    from geokeras.models.denoiser import estimate_flops
    from geokeras.pretrained import DEFAULT_MODEL_PATH
    from geokeras.saving import load_model

    paths = args.models or [str(DEFAULT_MODEL_PATH)]
    all_rows, baseline_rows = [], []
    for i, path in enumerate(paths):
        model = load_model(path)
        name = os.path.splitext(os.path.basename(path))[0]
        t0 = time.perf_counter()
        # same seed, same test windows: the baselines are computed once, with the first model
        rows = evaluate(model, n_per_level=args.n_per_level, seed=args.seed, model_name=name,
                        baselines=() if i else ("bandpass", "wavelet", "oracle_mask"),
                        plot=args.plot if i == 0 else None)
        dt = time.perf_counter() - t0
        print(f"## {name}: {path} ({os.path.getsize(path) / 1e6:.2f} MB, {model.count_params()} parameters, "
              f"{estimate_flops(model) / 1e6:.1f} MFLOPs/window, evaluation {dt:.0f} s)")
        model_rows = [r for r in rows if r["method"] == name]
        all_rows += model_rows
        baseline_rows = baseline_rows or [r for r in rows if r["method"] != name]
        print(format_table(model_rows))
        print()
        print("Targets:")
        for desc, value, met in targets(model_rows + baseline_rows, name):
            print(f"- {desc}: {value}" + ("" if met is None else f" -> {'MET' if met else 'NOT MET'}"))
        print()
    print("## Baselines")
    print(format_table(baseline_rows))
    if len(paths) > 1:
        print()
        print("## Comparison (all levels)")
        print(format_table([r for r in all_rows + baseline_rows if r["snr_db"] == "all"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
