"""Paired peer benchmark: ``geokeras denoise`` against SeisBench's DeepDenoiser on the same day (issue 19).

Usage::

    # once: SeisBench and PyTorch in a venv of their own (never part of `make test`, never geokeras' venv);
    # torch first, pinned to a CPU build (a bare `pip install seisbench` pulls a CUDA build of several GB)
    python3.11 -m venv /work/peer-venv && /work/peer-venv/bin/pip install torch==2.13.0 \
        && /work/peer-venv/bin/pip install seisbench torch==2.13.0
    # then, from the repository root, with geokeras' interpreter:
    python bench/bench_peer.py --peer-python /work/peer-venv/bin/python            # 24 h x 3C, 2 pairs
    python bench/bench_peer.py --hours 3 --pairs 3 --threads 2 --precision bfloat16

Data: one synthetic continuous record of ``--hours`` h x 3 components at 100 Hz (`bench_speed.make_day`),
written once as float32 MiniSEED. Each run is a whole process, timed from outside (wall time, CPU time and
peak RSS of the child from ``resource.getrusage(RUSAGE_CHILDREN)``), in the order A B A B ...:

- A: ``python -m geokeras denoise DAY -o OUT --quiet`` (the shipped model; ``--precision`` passed on, default
  ``auto``: bfloat16 on a CPU with native bfloat16 arithmetic);
- B: this file run by ``--peer-python`` with ``--peer-run``: ``seisbench.models.DeepDenoiser()`` (random
  weights: its speed does not depend on them; no download) and ``model.annotate(stream)``, written as
  MiniSEED. PyTorch gets ``--threads`` threads (``torch.set_num_threads``); geokeras' TensorFlow uses its own
  default (all cores).

Printed: each run's wall and CPU seconds and peak RSS, the ratio B / A per pair (>1: geokeras faster) and
the load average before each run (on a shared machine the ratios are what to read).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def peer_run(path, out, threads):
    """Run SeisBench's DeepDenoiser on the MiniSEED ``path`` (in the peer venv) and write ``out``."""
    import obspy
    import seisbench.models as sbm
    import torch

    torch.set_num_threads(threads)
    model = sbm.DeepDenoiser()  # random weights: same arithmetic, no download
    model.eval()
    st = obspy.read(path)
    with torch.no_grad():
        ann = model.annotate(st)
    for tr in ann:  # "DeepDenoiser_HHZ" and the like: MiniSEED channel codes have at most 3 characters
        tr.stats.channel = tr.stats.channel.split("_")[-1][-3:]
    ann.write(out, format="MSEED", encoding="FLOAT32")
    return len(ann)


def _child(cmd, env):
    """``(wall s, CPU s, peak RSS GiB, load average before)`` of one child process run to its end."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 2**20, load  # ru_maxrss: KiB, the largest child so far


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", default="/work/peer-venv/bin/python",
                        help="an interpreter with seisbench and torch (default /work/peer-venv/bin/python)")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads of the peer")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"),
                        help="geokeras denoise --precision (default auto, its own default)")
    parser.add_argument("--peer-run", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_run:
        print(peer_run(*args.peer_run, args.threads))
        return 0
    if not os.path.exists(args.peer_python):
        print(f"skipped: no peer interpreter at {args.peer_python}; create it with:\n  python3.11 -m venv "
              "/work/peer-venv && /work/peer-venv/bin/pip install torch==2.13.0 && /work/peer-venv/bin/pip "
              "install seisbench torch==2.13.0")
        return 0  # `make bench` goes on

    sys.path.insert(0, HERE)
    sys.path.insert(0, ROOT)
    from bench_speed import make_day

    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    peer_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory() as tmp:
        day = os.path.join(tmp, "XX.BENCH.day.mseed")
        make_day(args.hours).write(day, format="MSEED", encoding="FLOAT32")
        runs = {
            "geokeras": lambda i: [sys.executable, "-m", "geokeras", "denoise", day, "-o", os.path.join(tmp, f"g{i}"),
                                   "--quiet", "--precision", args.precision],
            "seisbench": lambda i: [args.peer_python, os.path.abspath(__file__), "--peer-run", day,
                                    os.path.join(tmp, f"s{i}.mseed"), "--threads", str(args.threads)],
        }
        print(f"data: {args.hours:g} h x 3 components at 100 Hz (float32 MiniSEED); {os.cpu_count()} cores; "
              f"geokeras --precision {args.precision}; SeisBench DeepDenoiser (random weights), torch threads "
              f"{args.threads}")
        results = {name: [] for name in runs}
        for i in range(args.pairs):
            for name in (("geokeras", "seisbench") if i % 2 == 0 else ("seisbench", "geokeras")):
                wall, cpu, rss, load = _child(runs[name](i), env if name == "geokeras" else peer_env)
                results[name].append((wall, cpu))
                print(f"pair {i + 1} {name:9s}: wall {wall:6.1f} s, CPU {cpu:6.1f} s, peak RSS of the children "
                      f"so far {rss:.2f} GiB; load average before {load:.2f}", flush=True)
    ratios = [s[0] / g[0] for g, s in zip(results["geokeras"], results["seisbench"])]
    cpu_ratios = [s[1] / g[1] for g, s in zip(results["geokeras"], results["seisbench"])]
    print(f"SeisBench / geokeras wall time per pair: {[round(r, 2) for r in ratios]}; CPU time: "
          f"{[round(r, 2) for r in cpu_ratios]} (>1: geokeras faster); load average now "
          f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
