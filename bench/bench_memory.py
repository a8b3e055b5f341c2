"""Peak memory of denoising long records: 1, 4 and 10 days of one 100 Hz channel and one day of 3 components.

Usage::

    python bench/bench_memory.py                           # every case, this tree
    python bench/bench_memory.py --cases 1x1 --tree /tmp/ref --tree .   # paired A/B against another tree
    python bench/bench_memory.py --cases 1x3 --modes cli --encoding STEIM2  # the archive format

Each case is a MiniSEED file (float32, or with ``--encoding STEIM2`` int32 counts compressed as archives keep
them; one record per component, made here from the synthetic day of
``bench/bench_speed.py`` repeated with other seeds) denoised in a fresh Python process, so that the peak
resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is that of the run alone:

- ``api``: ``geokeras.data.io.read(file)`` then ``geokeras.denoise.denoise(stream)`` (the shipped model);
- ``cli``: ``geokeras denoise FILE -o OUT`` (the command's Python path), reading, denoising and writing (a
  MiniSEED file of 16 MiB or more a piece of records at a time: `geokeras.denoise.pieces`; the issue's
  targets are for this path). The model is loaded before the command runs, so what the command does while
  its model loads (it reads pieces ahead) is not in this figure: for the whole command, time it
  (``/usr/bin/time -f %M geokeras denoise FILE -o OUT``; on a STEIM2 day before session 10: 1.25 GB where
  this script gave 0.97 GB).

Printed per case and tree: peak RSS of the process (GiB, and GB for the targets); the RSS once TensorFlow and
the model are loaded, after ``io.read`` and the peak of the read (``api``); the peak sampled during the
``denoise`` call or the command (``PeakRSS`` of ``bench/bench_speed.py``); the wall time and the load average
before and after (the machine is shared: wall times are only comparable within a pair).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CASES = {"1x1": (1, 1), "4x1": (4, 1), "10x1": (10, 1), "1x3": (1, 3)}  # days x components
TARGETS_GB = {"10x1": 1.5, "1x3": 1.2}


def make_file(path, days, components, encoding="FLOAT32"):
    """Write ``days`` of synthetic ``components``-component 100 Hz data to ``path`` (MiniSEED, ``encoding``
    ``"FLOAT32"`` or ``"STEIM2"``: the samples rounded to int32 counts)."""
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_speed import make_day, write_day

    channels = ("HHZ", "HHN", "HHE")[:components]
    parts = [make_day(24.0, components=channels, seed=day) for day in range(days)]
    st = parts[0]
    for i, tr in enumerate(st):
        tr.data = np.concatenate([p[i].data for p in parts]).astype(np.float32)
    write_day(st, path, encoding)


def measure(path, mode, out):
    """Run one case in this (fresh) process and print a JSON line of what was measured."""
    import resource

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_speed import PeakRSS, _rss_bytes

    from geokeras.data import io
    from geokeras.denoise import Denoiser, denoise

    den = Denoiser.resolve(None)
    model_rss = _rss_bytes()
    stream = io.read(path) if mode == "api" else None
    floor, read_peak = _rss_bytes(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        if mode == "api":
            denoise(stream, model=den)
        else:
            from geokeras.cli import main

            rc = main(["denoise", path, "-o", out, "--quiet"])
            assert rc == 0, rc
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(dict(peak=peak, floor=floor, model=model_rss, read_peak=read_peak, call_peak=mem.peak,
                          wall=wall, load=[load, os.getloadavg()[0]])))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Peak memory of geokeras.denoise on long records.")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--modes", nargs="+", default=["api", "cli"], choices=["api", "cli"])
    parser.add_argument("--encoding", default="FLOAT32", choices=["FLOAT32", "STEIM2"],
                        help="the files' MiniSEED encoding (STEIM2: int32 counts, as archives keep them)")
    parser.add_argument("--tree", action="append", default=None,
                        help="a geokeras source tree to measure (repeat for A/B pairs; default: this one)")
    parser.add_argument("--measure", nargs=3, metavar=("FILE", "MODE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        return measure(*args.measure)
    trees = [os.path.abspath(t) for t in (args.tree or [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))])]
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            days, comps = CASES[case]
            path = os.path.join(tmp, f"{case}.mseed")
            make_file(path, days, comps, args.encoding)
            size = os.path.getsize(path) / 2 ** 20
            print(f"case {case}: {days} day(s) x {comps} component(s) at 100 Hz, {size:.0f} MiB {args.encoding} "
                  "MiniSEED", flush=True)
            for mode in args.modes:
                for tree in trees:  # paired: the trees run one after the other on the same file
                    env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="2")
                    cmd = [sys.executable, os.path.abspath(__file__), "--measure", path, mode, os.path.join(tmp, "out")]
                    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                    if done.returncode:
                        print(f"  {mode:3s} {tree}: failed ({done.returncode}): {done.stderr.strip()[-300:]}")
                        continue
                    r = json.loads(done.stdout.strip().splitlines()[-1])
                    target = TARGETS_GB.get(case)
                    gib = {k: r[k] / 2 ** 30 for k in ("peak", "model", "floor", "read_peak", "call_peak")}
                    print(f"  {mode:3s} {tree}: peak RSS {gib['peak']:.2f} GiB ({r['peak'] / 1e9:.2f} GB"
                          + (f"; target <= {target} GB" if target else "") + f"); RSS with the model loaded "
                          f"{gib['model']:.2f} GiB" + (f", after io.read {gib['floor']:.2f} GiB (read peak "
                          f"{gib['read_peak']:.2f} GiB)" if mode == "api" else "") + f", peak in the call "
                          f"{gib['call_peak']:.2f} GiB; {r['wall']:.0f} s wall, load average "
                          f"{r['load'][0]:.1f} -> {r['load'][1]:.1f}", flush=True)
            os.unlink(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
