"""Quality of `geokeras.denoise.denoise` on whole segments longer than one window (the path, not only the model).

``bench/bench_quality.py`` scores the model on single 29.5-s windows (``model.predict``): it never runs the
denoise path's detrending, clipping and stitching, so it cannot see a change of their definition. Here the
same kind of test windows (validation stations by default, an event 8-14 s in, station noise of another
station at -10..+10 dB) are made ``--seconds`` long, several model windows, and denoised with
``geokeras.denoise.denoise`` (the shipped model), each row one gap-free segment.

Usage::

    python bench/bench_long_segments.py --seconds 60 120 --tree /tmp/ref --tree .   # paired A/B of two trees

Printed per tree, length and condition: median SNR gain (dB), correlation and peak ratio over all levels, and
the SNR gain per level; with the load average.
"""
import argparse
import json
import os
import subprocess
import sys

LEVELS = (-10, -5, 0, 5, 10)


def measure(seconds, condition, split, n):
    """Score one tree (this process's ``geokeras``) and print a JSON line."""
    import numpy as np

    from geokeras.data import datasets
    from geokeras.denoise import Denoiser, denoise
    from geokeras.evaluate import _scores, heldout_sources, make_test_windows

    train, val, test = datasets.split_records(datasets.load_events())
    sig, noi, ss, ns = heldout_sources(val if split == "validation" else test, with_stations=True)
    den = Denoiser.resolve(None)
    scores = {}
    for i, level in enumerate(LEVELS):
        noisy, clean = make_test_windows(sig, noi, float(level), n, int(seconds * 100), 100.0, seed=i,
                                         condition=condition, signal_stations=ss, noise_stations=ns)
        out = denoise(noisy.astype(np.float32), model=den, sampling_rate=100.0).astype(np.float64)
        s = _scores(clean, noisy, out, 100.0, 0.0)
        scores[level] = {k: s[k].tolist() for k in ("snr_gain_db", "correlation", "peak_ratio")}
    print(json.dumps(scores))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 120.0])
    parser.add_argument("--conditions", nargs="+", default=["inband", "recorded"], choices=["inband", "recorded"])
    parser.add_argument("--split", default="validation", choices=["validation", "test"])
    parser.add_argument("--n-per-level", type=int, default=100)
    parser.add_argument("--tree", action="append", default=None, help="a geokeras source tree (repeat for A/B)")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        return measure(float(args.measure[0]), args.measure[1], args.split, args.n_per_level)
    import numpy as np

    trees = [os.path.abspath(t) for t in (args.tree or [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))])]
    for seconds in args.seconds:
        for condition in args.conditions:
            for tree in trees:
                env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="3")
                cmd = [sys.executable, os.path.abspath(__file__), "--measure", str(seconds), condition,
                       "--split", args.split, "--n-per-level", str(args.n_per_level)]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                s = {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
                med = {k: float(np.nanmedian(np.concatenate([s[lv][k] for lv in LEVELS])))
                       for k in ("snr_gain_db", "correlation", "peak_ratio")}
                per = ", ".join(f"{float(np.nanmedian(s[lv]['snr_gain_db'])):.2f}" for lv in LEVELS)
                print(f"{seconds:.0f} s {condition:8s} {tree}: SNR gain {med['snr_gain_db']:.3f} dB, correlation "
                      f"{med['correlation']:.4f}, peak ratio {med['peak_ratio']:.4f} (gain per level {LEVELS}: {per}); "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
