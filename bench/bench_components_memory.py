"""Peak memory and wall time of ``geokeras denoise DAYS.mseed -o OUT --components median --quiet`` on a long file.

Usage::

    python bench/bench_components_memory.py --days 2 --data /tmp/cm/days.mseed            # this tree
    python bench/bench_components_memory.py --days 2 --data /tmp/cm/days.mseed --tree /tmp/base --out /tmp/cm/b
    python bench/bench_components_memory.py --compare /tmp/cm/a/days.mseed /tmp/cm/b/days.mseed

Data: ``--days`` of synthetic three-component 100 Hz records (`bench_speed.make_day`, one day at a time, the days
joined end to end so the file is continuous), written once as float32 MiniSEED (`bench_speed.write_day`) to
``--data`` (kept and reused when it exists).

Figures printed (all measured here): the command's wall time, CPU time and peak resident set size (``ru_maxrss``
of the child, from ``/usr/bin/time -v``), with the machine's load average before and after the run (a shared
machine: the wall time includes waiting for the CPU; memory is what this measures). ``--tree`` runs the command of
another checkout (``PYTHONPATH``; e.g. ``git archive HEAD geokeras | tar -x -C /tmp/base``). ``--compare A B``
prints the largest absolute difference between two outputs, per trace and relative to the trace's peak.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))


def make_days(path, days):
    """Write ``days`` continuous synthetic days of 3 components at 100 Hz (float32 MiniSEED) to ``path``."""
    import obspy

    from bench_speed import make_day, write_day

    st = obspy.Stream()
    for d in range(days):
        day = make_day(hours=24.0, seed=d)
        for tr in day:
            tr.stats.starttime += 86400 * d
        st += day
    st.merge()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_day(st, path)


def _loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def run(path, out, tree=None, model=None):
    """Run the command in a child process under ``/usr/bin/time -v``; return its figures."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if tree:
        env["PYTHONPATH"] = tree
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", "import sys; from geokeras.cli import console; "
           "sys.argv[0] = 'geokeras'; sys.exit(console())", "denoise", path, "-o", out, "--components", "median",
           "--quiet"] + (["--model", model] if model else [])
    load = _loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          cwd=tree or os.path.join(HERE, ".."))  # ``-c`` puts the working folder first on sys.path
    wall = time.perf_counter() - t0
    fields = {}
    for line in proc.stderr.splitlines():
        key, _, value = line.strip().rpartition(": ")
        fields[key] = value
    if proc.returncode:
        print(proc.stdout, proc.stderr, file=sys.stderr)
    return dict(rc=proc.returncode, wall_s=round(wall, 1),
                cpu_s=round(float(fields.get("User time (seconds)", 0)) + float(fields.get("System time (seconds)", 0)), 1),
                maxrss_gb=round(int(fields.get("Maximum resident set size (kbytes)", 0)) * 1024 / 1e9, 3),
                load_before=" ".join(load), load_after=" ".join(_loadavg()))


def compare(a, b):
    """The largest absolute difference between two outputs, per id (and relative to the peak of ``b``)."""
    import obspy

    sa, sb = obspy.read(a), obspy.read(b)
    sa.merge()
    sb.merge()
    for ta in sorted(sa, key=lambda t: t.id):
        (tb,) = sb.select(id=ta.id)
        assert (ta.stats.starttime, ta.stats.npts) == (tb.stats.starttime, tb.stats.npts), ta.id
        d = np.max(np.abs(ta.data.astype(np.float64) - tb.data))
        print(f"{ta.id}: {ta.stats.npts} samples, max |diff| {d:.3g} ({d / np.max(np.abs(tb.data)):.3g} of the "
              f"peak), identical: {np.array_equal(ta.data, tb.data)}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--data", default="/tmp/geokeras_bench/days.mseed")
    p.add_argument("--out", default=None, help="output folder (default: beside --data, 'out')")
    p.add_argument("--tree", default=None, help="another checkout's folder holding geokeras/ (PYTHONPATH)")
    p.add_argument("--model", default=None)
    p.add_argument("--compare", nargs=2, metavar=("A", "B"))
    args = p.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if not os.path.exists(args.data):
        make_days(args.data, args.days)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.data)), "out")
    print(f"{args.data}: {os.path.getsize(args.data) / 1e6:.0f} MB", run(args.data, out, args.tree, args.model))


if __name__ == "__main__":
    main()
