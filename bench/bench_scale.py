"""Scaling of ``geokeras denoise`` over files: 1 vs 2 Dask worker processes, resume, and a 100-station year on paper.

Usage::

    python bench/bench_scale.py                       # 8 files x 3 h x 3 components at 100 Hz, default model
    python bench/bench_scale.py --files 4 --hours 1   # quicker
    python bench/bench_scale.py --files 16 --hours 24 # issue 19's 16 station-days (~15 min on an idle machine)

Data: ``--files`` MiniSEED files (STEIM2, int32 counts) of ``--hours`` h x 3 components at 100 Hz, each a
different synthetic continuous record of `bench_speed.make_day` (pink noise, microseism, local events).

Measured (all here, with the load average of the machine next to each figure):

1. the plain run (`geokeras.denoise.denoise_files` in this process, TensorFlow's own threads): reference;
2. the same files on a ``LocalCluster`` of 1 and of 2 worker processes, the cores shared out between their
   TensorFlow threads as ``--workers`` does (`geokeras.denoise.executor.worker_threads`; cluster start-up
   timed apart): speed-up, scaling efficiency and ratio to the plain run; samples compared with the plain run.
   Also (unless ``--no-single-core``) one worker with one TensorFlow thread: the scaling from one core to two
   (1 worker x 1 thread -> 2 workers x 1 thread each), next to the speed-up over one worker that has both
   cores (1 worker x 2 threads; its model already uses both cores, so that ratio measures how much of a file's
   job one process leaves on one core: reading, detrending, stitching, writing);
3. ``resume=True`` after the finished 2-worker run: its wall time and whether any output was rewritten, and
   the whole ``geokeras denoise --workers 2 --resume`` process (which decides before starting a cluster);
4. the per-file cost in the 1-worker run split into reading, the model (denoise) and writing, and Dask's
   per-task overhead (2000 empty tasks on the 2-worker cluster).

On paper (printed, from the figures above): the wall time of a 100-station year (36,500 station-days of
24 h x 3 components) on 64, 256 and 1024 single-threaded workers and which stage limits it. Compute scales
with the workers; reading and writing share a filesystem whose aggregate bandwidth is an assumption
(``--fs-gbps``, default 2 GB/s: a mid-size parallel filesystem; a single NFS server gives ~0.1-1 GB/s);
the scheduler handles one task at a time (measured overhead per task).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def load():
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}/{fifteen:.1f}"


def make_inputs(folder, files, hours):
    from bench_speed import make_day

    paths = []
    for i in range(files):
        st = make_day(hours=hours, seed=100 + i)
        for tr in st:
            tr.stats.station = f"S{i:03d}"
            tr.data = np.round(tr.data).astype(np.int32)
        path = os.path.join(folder, f"XX.S{i:03d}.D.2024.001.mseed")
        st.write(path, format="MSEED", encoding="STEIM2")
        paths.append(path)
    return paths


def mtimes(folder):
    return {n: os.stat(os.path.join(folder, n)).st_mtime_ns for n in sorted(os.listdir(folder))}


def compare(folder, reference):
    import obspy

    worst, equal, total = 0.0, 0, 0
    for name in sorted(os.listdir(reference)):
        if not name.endswith(".mseed"):
            continue
        for a, b in zip(obspy.read(os.path.join(folder, name)), obspy.read(os.path.join(reference, name))):
            assert (a.id, a.stats.starttime, a.stats.npts) == (b.id, b.stats.starttime, b.stats.npts)
            worst = max(worst, float(np.abs(a.data - b.data).max() / np.abs(b.data).max()))
            equal += int(np.array_equal(a.data, b.data))
            total += 1
    return worst, equal, total


def stage_totals(summary):
    totals = {}
    for r in summary.results:
        for name, seconds in r.stages:
            totals[name] = totals.get(name, 0.0) + seconds
    return totals


def noop(x):
    return x


def command_resume(inputs, out, workers):
    """Wall seconds of the whole ``geokeras denoise INPUTS -o OUT --workers N --resume`` process."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "geokeras", "denoise", *inputs, "-o", out, "--workers", str(workers),
                    "--resume", "--quiet"], env=env, check=True)
    return time.perf_counter() - t


def warm_up(func, path, folder):
    """Run on every worker (``client.run``): load the model, trace the graphs (one warm-up file each)."""
    from geokeras.denoise.executor import FileJob

    func(FileJob(path, os.path.join(folder, f"warm-{os.getpid()}")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fs-gbps", type=float, default=2.0, help="assumed aggregate filesystem bandwidth, GB/s")
    parser.add_argument("--keep", default=None, help="keep the files in this folder")
    parser.add_argument("--no-single-core", dest="single_core", action="store_false",
                        help="skip the run of one worker with one TensorFlow thread")
    args = parser.parse_args()

    import logging

    from dask.distributed import Client

    from geokeras.denoise import Denoiser, DenoiseFile, denoise_files
    from geokeras.denoise.executor import local_cluster, worker_threads

    root = args.keep or tempfile.mkdtemp(prefix="bench_scale.")
    os.makedirs(root, exist_ok=True)
    t0 = time.perf_counter()
    inputs = make_inputs(root, args.files, args.hours)
    os.makedirs(os.path.join(root, "warm"))
    [warm_file] = make_inputs(os.path.join(root, "warm"), 1, 1.0)
    in_bytes = sum(os.path.getsize(p) for p in inputs)
    print(f"inputs: {args.files} files x {args.hours:g} h x 3 components at 100 Hz, {in_bytes / 1e6:.1f} MB STEIM2 "
          f"(made in {time.perf_counter() - t0:.1f} s); {os.cpu_count()} cores; {load()}")

    plain = denoise_files(inputs, os.path.join(root, "plain"))
    out_bytes = sum(os.path.getsize(os.path.join(root, "plain", n)) for n in os.listdir(os.path.join(root, "plain")))
    print(f"plain run (this process): {plain.seconds:.1f} s, {plain}; outputs {out_bytes / 1e6:.1f} MB; {load()}")

    runs = {}
    configs = [(1, 1)] if args.single_core and worker_threads(1) > 1 else []
    configs += [(n, worker_threads(n)) for n in sorted({1, args.workers})]
    for n, threads in configs:
        t = time.perf_counter()
        cluster = local_cluster(n, retries=3, silence_logs=logging.CRITICAL, threads=threads)
        client = Client(cluster)
        start = time.perf_counter() - t
        t = time.perf_counter()
        client.run(warm_up, DenoiseFile(Denoiser.resolve(None)), warm_file, os.path.join(root, "warm"))
        warm = time.perf_counter() - t
        out = os.path.join(root, f"w{n}x{threads}")
        summary = denoise_files(inputs, out, client=client)
        assert summary.done == args.files, summary.failures
        worst, equal, total = compare(out, os.path.join(root, "plain"))
        runs[n, threads] = summary
        cpu = sum(r.cpu_seconds for r in summary.results)
        print(f"{n} worker(s) x {threads} TensorFlow thread(s): {summary.seconds:.1f} s (+{start:.1f} s cluster "
              f"start, +{warm:.1f} s warm-up: "
              f"model load and graph tracing on a 1 h file per worker), {summary.done} files, "
              f"{cpu:.1f} s CPU in the jobs (CPU/wall {cpu / summary.seconds:.2f}), "
              f"max |diff| / peak vs plain {worst:.1e} ({equal} of {total} traces bit-identical); {load()}")
        if n == args.workers and (n, threads) == configs[-1]:
            before = mtimes(out)
            again = denoise_files(inputs, out, client=client, resume=True)
            rewritten = sum(before[k] != v for k, v in mtimes(out).items())
            print(f"resume after the finished run: {again.seconds:.2f} s = {again.seconds / summary.seconds:.1%} "
                  f"of the run, {again.up_to_date} up to date, {again.done} run, {rewritten} files rewritten; {load()}")
            print(f"the command `geokeras denoise ... --workers {n} --resume` after it, whole process: "
                  f"{command_resume(inputs, out, n):.2f} s; {load()}")
            t = time.perf_counter()
            client.gather(client.map(noop, range(2000), pure=False))
            per_task = (time.perf_counter() - t) / 2000
            print(f"dask overhead: {per_task * 1e3:.2f} ms per empty task (2000 tasks, {n} workers); {load()}")
        client.close()
        cluster.close()

    s1, sn = runs[1, worker_threads(1)], runs[args.workers, worker_threads(args.workers)]
    speedup = s1.seconds / sn.seconds
    print(f"speed-up {args.workers} vs 1 worker ({worker_threads(1)} threads): {speedup:.2f}x; "
          f"{args.workers} workers vs the plain run: {plain.seconds / sn.seconds:.2f}x; {load()}")
    if (1, 1) in runs and worker_threads(1) > 1:
        single = runs[1, 1].seconds / sn.seconds
        print(f"scaling from one core to {args.workers} workers x {worker_threads(args.workers)} thread(s): "
              f"{single:.2f}x (1 worker x 1 thread {runs[1, 1].seconds:.1f} s; efficiency "
              f"{single / (args.workers * worker_threads(args.workers)):.2f}); {load()}")

    stages = stage_totals(s1)
    cpu_file = sum(r.cpu_seconds for r in s1.results) / args.files
    wall_file = sum(stages.values()) / args.files
    print("per file in the 1-worker run: " + ", ".join(f"{k} {v / args.files:.2f} s" for k, v in stages.items())
          + f" wall ({s1.seconds / args.files:.2f} s per file in all), {cpu_file:.2f} s CPU")
    # On paper, a dedicated core: the job's CPU time (not its wall time, stretched by the other jobs of this
    # shared machine), split between the stages as their wall times are.
    per_file = {k: cpu_file * v / args.files / wall_file for k, v in stages.items()}

    # ------------------------------------------------------------------ a 100-station year on paper
    scale = 24.0 / args.hours  # station-day / measured file
    days = 100 * 365
    day_s = {k: v * scale for k, v in per_file.items()}
    day_in, day_out = in_bytes / args.files * scale, out_bytes / args.files * scale
    cpu_day = sum(day_s.values())
    print(f"\na station-day (24 h x 3 components) on one dedicated core: {cpu_day:.0f} s CPU ("
          + ", ".join(f"{k} {v:.0f} s" for k, v in day_s.items())
          + f"), {day_in / 1e6:.0f} MB in, {day_out / 1e6:.0f} MB out; {days} station-days a year: "
          f"{days * cpu_day / 3600:.0f} core-hours")
    print(f"{'cores':>6} {'compute':>9} {'fs I/O':>9} {'scheduler':>10} {'wall':>9}  limited by")
    for cores in (64, 256, 1024):
        compute = days * cpu_day / cores
        # reading + writing bytes through a shared filesystem of fs_gbps aggregate bandwidth
        fs = days * (day_in + day_out) / (args.fs_gbps * 1e9)
        sched = days * per_task
        wall = max(compute, fs, sched)
        name = {compute: "the model (compute)", fs: "the filesystem (reading+writing)", sched: "the scheduler"}[wall]
        if name.startswith("the model") and day_s.get("write", 0) + day_s.get("read", 0) > day_s["denoise"]:
            name = "reading/writing (CPU: decode/encode)"
        print(f"{cores:>6} {compute / 3600:>8.1f}h {fs / 3600:>8.1f}h {sched / 3600:>9.2f}h {wall / 3600:>8.1f}h  {name}")
    print(f"(compute = station-days x per-day cost / cores; fs I/O = bytes read+written / {args.fs_gbps:g} GB/s "
          "(assumed); scheduler = station-days x measured per-task overhead; wall = the largest)")
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
