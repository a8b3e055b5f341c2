"""Speed and memory of `geokeras.denoise.denoise` on a day of three-component 100 Hz data.

Usage::

    python bench/bench_speed.py                 # 24 h x 3 components at 100 Hz, default model
    python bench/bench_speed.py --hours 1 --no-profile --threads 2

Data: synthetic continuous records (pink noise + secondary microseism + 6 synthetic local earthquakes,
``geokeras.data.synthetic``), float32, 8,640,000 samples per component for 24 h (25.9 M in all), in one
``obspy.Stream``. The default (shipped) model is loaded and its graphs are traced before timing on the first
``--warm-minutes`` of the day (default 120: full batches of ``--batch-size`` windows, the graph the day's batches run
through; one minute, the warm-up before session 8, traced only the small-batch graphs, so the timed call also
traced the large-batch graph and compiled its XLA features: 0.5-1 s of the figure), so the wall time is that of a
warm ``denoise(stream)`` call, as in a process that denoises day after day.

Figures printed (all measured here):

- wall time of ``denoise(stream)`` and the real-time factor (wall time / record duration), with the
  process's CPU time and the machine's load average (on a shared machine the wall time includes waiting
  for the CPU: CPU time / available cores is what a quiet machine would take);
- peak memory: the process's resident set size sampled every 10 ms in a thread during the call
  (``/proc/self/statm``), its increase over the RSS before the call, and ``ru_maxrss`` (whole process);
- FLOPs per window: counted by TensorFlow's graph profiler on the frozen forward graph of one window
  (``tf.compat.v1.profiler``, float operations), next to `geokeras.models.denoiser.estimate_flops`
  (a hand count of multiply-adds); and the achieved FLOP rate of the whole call;
- the model alone: ms per window through denoise's compiled predictor and through ``model.predict``;
- with ``--profile`` (default), the per-file job of ``geokeras denoise`` (`geokeras.denoise.DenoiseFile`: the
  day written as float32 MiniSEED, read, denoised, written with its sidecar) under ``cProfile``: a table of
  where the time goes (reading, checks and merging, detrending, resampling, framing, the model, batching,
  stitching, output assembly and clipping, writing, the rest).

``--precision`` is that of ``geokeras denoise`` (default ``auto``: bfloat16 on a CPU with native bfloat16
arithmetic, else float32; ``float32`` runs the model as trained).

``--components median`` times ``denoise(stream, components="median")``: the day's three components with one
combined mask per window (its warm-up too; the profile and ``--paired-with`` stay one trace at a time).

``--encoding STEIM2`` writes the day file of ``--profile`` and ``--paired-with`` as archives keep it (int32 counts,
compressed; default float32), which ``geokeras denoise`` reads in pieces of its own size (session 10).

``--paired-with OTHER_TREE`` measures instead whole ``geokeras denoise DAY -o OUT --quiet`` processes of this
source tree (A) and of another checkout (B, for example ``git worktree add /tmp/base main``), alternated
A B B A A B ... for ``--rounds`` pairs on the same day written once as float32 MiniSEED: wall and CPU time of
each child (``RUSAGE_CHILDREN``), the load average before each run, the medians and the ratio B / A (>1: this
tree is faster); the outputs of the last pair are compared sample by sample.
"""
import argparse
import cProfile
import os
import pstats
import resource
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # this tree's geokeras, not the installed one

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_day(hours=24.0, rate=100.0, components=("HHE", "HHN", "HHZ"), n_events=6, seed=0):
    """A continuous synthetic 3-component record as an obspy Stream (float32)."""
    import obspy

    from geokeras.data import synthetic

    npts = int(round(hours * 3600 * rate))
    rng = np.random.default_rng(seed)
    ev_len = int(60 * rate)
    events = synthetic.synthetic_seismogram(ev_len, rate, n=n_events * len(components), seed=seed)
    onsets = np.sort(rng.integers(0, max(1, npts - ev_len), n_events))
    amps = rng.uniform(5.0, 50.0, n_events)
    st = obspy.Stream()
    for c, channel in enumerate(components):
        x = synthetic.noise("colored", npts, rate, seed=seed + 10 * c + 1, alpha=1.0)
        x += 0.5 * synthetic.noise("microseism", npts, rate, seed=seed + 10 * c + 2)
        for k, onset in enumerate(onsets):
            stop = min(npts, onset + ev_len)
            x[onset:stop] += amps[k] * events[k * len(components) + c][:stop - onset]
        tr = obspy.Trace((100.0 * x).astype(np.float32))
        tr.stats.update(dict(network="XX", station="BENCH", location="00", channel=channel, sampling_rate=rate,
                             starttime=obspy.UTCDateTime(2024, 1, 1)))
        st.append(tr)
    return st


def _load_text():
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Sample the resident set size every ``interval`` seconds in a thread; ``peak`` in bytes."""

    def __init__(self, interval=0.01):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = _rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def graph_flops(model, window_length):
    """Float operations of one forward pass of one window, counted by TensorFlow's graph profiler."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec((1, window_length, 1), tf.float32))
    graph = convert_variables_to_constants_v2(concrete).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops)


# stage -> [(file suffix, function names)] whose cumulative times add up (minus the `_MINUS` ones)
_STAGES = {
    "reading (io.read)": [("geokeras/data/io.py", "read")],
    "checks, merging (_merged_traces)": [("geokeras/data/process.py", "_merged_traces")],
    "segments to float64 (_segments_to_run)": [("geokeras/data/process.py", "_segments_to_run")],
    "detrending (detrend)": [("geokeras/data/process.py", "detrend")],
    "resampling (resample_poly)": [("geokeras/data/process.py", "_resample")],
    "framing (Windowing.cut)": [("geokeras/data/windows.py", "cut")],
    "the model (_BatchPredictor.__call__)": [("geokeras/denoise/denoiser.py", "__call__")],
    "batching (map_batches minus the model)": [("geokeras/data/windows.py", "map_batches")],
    "stitching (stitch)": [("geokeras/data/windows.py", "stitch")],
    "output, noise, clipping (_assemble, flush)": [("geokeras/data/process.py", "_assemble|flush")],
    "writing (io.write, sidecars)": [("geokeras/data/io.py", "write")],
}
_MINUS = {"batching (map_batches minus the model)": ["the model (_BatchPredictor.__call__)"],
          "output, noise, clipping (_assemble, flush)": ["batching (map_batches minus the model)",
                                                         "the model (_BatchPredictor.__call__)", "stitching (stitch)",
                                                         "resampling (resample_poly)"]}


def profile_breakdown(stats, total):
    """``[(stage, seconds)]`` of a cProfile run of the per-file job (read, denoise, write), and the rest.

    Cumulative times of the stage functions; a stage that contains another has the other's time taken out
    (`_MINUS`); resampling includes both directions (to the model's rate and back), so the flush row is
    approximate when a record is resampled.
    """
    found = dict.fromkeys(_STAGES, 0.0)
    for (filename, _, func), row in stats.stats.items():
        name = filename.replace(os.sep, "/")
        for label, parts in _STAGES.items():
            if any(name.endswith(part) and func in funcs.split("|") for part, funcs in parts):
                found[label] += row[3]
    for label, others in _MINUS.items():
        found[label] -= sum(found[o] for o in others if o != label)
    rows = list(found.items())
    rows.append(("everything else", total - sum(s for _, s in rows)))
    return rows


def write_day(st, path, encoding="FLOAT32"):
    """Write ``st`` to ``path`` as MiniSEED: ``encoding="FLOAT32"`` as is, ``"STEIM2"`` (what archives keep) with the
    samples rounded to int32 counts (``st`` is left unchanged)."""
    if encoding == "STEIM2":
        st = st.copy()
        for tr in st:
            tr.data = np.round(tr.data).astype(np.int32)
    st.write(path, format="MSEED", encoding=encoding)


def profile_file_job(st, den, overlap, batch_size, precision="float32", encoding="FLOAT32"):
    """Run `geokeras.denoise.DenoiseFile` (read, denoise, write) on ``st`` written as MiniSEED (``encoding``, see
    `write_day`), under cProfile."""
    import tempfile

    from geokeras.denoise import DenoiseFile, DenoiseOptions
    from geokeras.denoise.executor import FileJob

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "day.mseed")
        write_day(st, path, encoding)
        job = DenoiseFile(den, DenoiseOptions(overlap, batch_size, precision=precision))
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        result = job(FileJob(path, os.path.join(tmp, "out", "day")))
        prof.disable()
        total = time.perf_counter() - t0
    return profile_breakdown(pstats.Stats(prof), total), total, dict(result["stages"])


def _child(cmd, env, cwd=None):
    """``(wall s, CPU s, load average before)`` of one child process run to its end."""
    import subprocess

    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), load


def paired_trees(st, trees, rounds, extra=(), encoding="FLOAT32"):
    """Whole ``python -m geokeras denoise`` processes of each source tree in ``trees`` ({label: path}) on ``st``
    written once as MiniSEED (``encoding``, see `write_day`), alternated per round; prints every run, the medians
    and the ratios."""
    import shutil
    import sys
    import tempfile

    import obspy

    labels = list(trees)
    times = {label: [] for label in labels}
    with tempfile.TemporaryDirectory() as tmp:
        day = os.path.join(tmp, "XX.BENCH.day.mseed")
        write_day(st, day, encoding)
        for r in range(rounds):
            for label in (labels if r % 2 == 0 else labels[::-1]):
                env = dict(os.environ, PYTHONPATH=os.path.abspath(trees[label]))
                out = os.path.join(tmp, label)
                shutil.rmtree(out, ignore_errors=True)  # a fresh output folder every run
                cmd = [sys.executable, "-m", "geokeras", "denoise", day, "-o", out, "--quiet", *extra]
                wall, cpu, load = _child(cmd, env, cwd=tmp)  # not here: `-m` would import this tree's geokeras
                times[label].append((wall, cpu))
                print(f"round {r + 1} {label}: wall {wall:.2f} s, CPU {cpu:.2f} s (load average before "
                      f"{load:.2f})", flush=True)
        outs = [obspy.read(os.path.join(tmp, label, "*.mseed")) for label in labels]
    med = {label: np.median(np.array(v), axis=0) for label, v in times.items()}
    a = labels[0]
    for label in labels:
        print(f"median {label}: wall {med[label][0]:.2f} s, CPU {med[label][1]:.2f} s; ratio {label} / {a}: "
              f"wall {med[label][0] / med[a][0]:.3f}, CPU {med[label][1] / med[a][1]:.3f}")
    for tr_a, tr_b in zip(*outs[:2]):
        diff = np.max(np.abs(tr_a.data.astype(np.float64) - tr_b.data))
        print(f"{tr_a.id}: max |{labels[0]} - {labels[1]}| = {diff:.3g} ({diff / np.max(np.abs(tr_a.data)):.2e} of "
              "the peak)")
    print(_load_text())


def inference_path(den, args):
    """The model alone: ms per window through denoise's predictor and through ``model.predict``, same windows."""
    from geokeras.data.windows import map_batches

    model, L = den.model, den.window_length
    # the compiled fixed-shape predictor that denoise() uses, against keras' model.predict, same windows
    windows = np.random.default_rng(0).normal(scale=100.0, size=(4 * args.batch_size, L)).astype(np.float32)
    predictor = den.predictor(args.batch_size, args.precision)
    model.predict(windows[:args.batch_size, :, None], batch_size=args.batch_size, verbose=0)  # warm-up
    t0 = time.perf_counter()
    map_batches(predictor, windows, args.batch_size)
    t_pred = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict(windows[:, :, None], batch_size=args.batch_size, verbose=0)
    t_keras = time.perf_counter() - t0
    print(f"inference path     : {1e3 * t_pred / len(windows):.2f} ms/window (denoise's compiled predictor), "
          f"{1e3 * t_keras / len(windows):.2f} ms/window (model.predict), {len(windows)} windows each")


def _parser():
    from geokeras.denoise.denoiser import BATCH_SIZE  # NumPy only: no TensorFlow before the arguments

    parser = argparse.ArgumentParser(description="Speed and memory of geokeras.denoise on continuous data.")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help=f"windows per model call (default {BATCH_SIZE}, denoise's; before session 8: 256)")
    parser.add_argument("--model", default=None, help="a .keras denoiser (default: the shipped model)")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (default: TF's)")
    parser.add_argument("--in-flight", type=int, default=None,
                        help="model calls at once (default: geokeras.denoise.denoiser.calls_in_flight())")
    parser.add_argument("--warm-minutes", type=float, default=120.0,
                        help="minutes of the day denoised before timing (traces the graphs; 1: the warm-up before "
                             "session 8)")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cProfile run")
    parser.add_argument("--paired-with", default=None, metavar="OTHER_TREE",
                        help="whole-process A/B runs of `geokeras denoise` against another source tree")
    parser.add_argument("--rounds", type=int, default=4, help="pairs of runs for --paired-with")
    parser.add_argument("--components", default=None, choices=("median", "mean"),
                        help="denoise the day's three components together (denoise(components=...); README, "
                             "'Three components, one mask'); default: one trace at a time")
    parser.add_argument("--encoding", default="FLOAT32", choices=("FLOAT32", "STEIM2"),
                        help="MiniSEED encoding of the day file of --profile and --paired-with (STEIM2: int32 "
                             "counts, as archives keep them; read in pieces since session 10)")
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.paired_with:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        extra = ["--precision", args.precision] if args.precision != "auto" else []  # auto: each tree's default
        paired_trees(make_day(args.hours, args.rate), {"this": here, "other": args.paired_with}, args.rounds, extra,
                     args.encoding)
        return 0

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    from geokeras.data.windows import window_starts
    from geokeras.denoise import Denoiser, denoise
    from geokeras.denoise.denoiser import resolve_precision
    from geokeras.models.denoiser import estimate_flops

    t = time.perf_counter()
    st = make_day(args.hours, args.rate)
    n_samples = sum(tr.stats.npts for tr in st)
    duration = st[0].stats.npts / args.rate
    print(f"data: {len(st)} components x {st[0].stats.npts} samples at {args.rate:g} Hz "
          f"({duration / 3600:g} h, {n_samples / 1e6:.1f} M samples, {n_samples * 4 / 2**20:.0f} MiB float32), "
          f"made in {time.perf_counter() - t:.1f} s")

    den = Denoiser.resolve(args.model)  # resolved once, passed down (as the command line does)
    if args.in_flight:  # the cached predictor `denoise` will use
        den.predictor(args.batch_size, args.precision).in_flight = args.in_flight
    model, label, digest = den.model, den.label, den.sha256
    L, model_rate = den.window_length, den.sampling_rate
    warm = st.slice(st[0].stats.starttime, st[0].stats.starttime + 60 * args.warm_minutes).copy()
    denoise(warm, model=den, overlap=args.overlap, batch_size=args.batch_size, precision=args.precision,
            components=args.components)  # trace the graphs
    n_model_samples = int(round(st[0].stats.npts * model_rate / args.rate))
    n_windows = len(st) * len(window_starts(n_model_samples, L, args.overlap))
    print(f"model: {label} {model.name} (sha256 {digest[:16]}), {L} samples at {model_rate:g} Hz per window, "
          f"overlap {args.overlap:g} -> {n_windows} windows; precision {resolve_precision(args.precision)}; "
          f"components {args.components or 'one trace at a time'}"
          + (f" through {den.for_components().label} (sha256 {den.for_components().sha256[:16]})"
             if args.components and den.for_components() is not den else "") + "; "
          f"{den.predictor(args.batch_size, args.precision).in_flight} model call(s) in flight; TF intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'} on {os.cpu_count()} CPUs")

    rss_before = _rss_bytes()
    load_before = os.getloadavg()[0]
    with PeakRSS() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        out = denoise(st, model=den, overlap=args.overlap, batch_size=args.batch_size,
                      precision=args.precision, components=args.components)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load_after = os.getloadavg()[0]
    assert [tr.stats.npts for tr in out] == [tr.stats.npts for tr in st]
    assert all(np.all(np.isfinite(tr.data)) for tr in out)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    flops_graph = graph_flops(model, L)
    flops_hand = estimate_flops(model)
    print(f"wall time          : {wall:.1f} s (target <= 30 s)")
    print(f"CPU time           : {cpu:.1f} s (user+system, all threads); {cpu / wall:.2f} cores busy on average; "
          f"machine load average {load_before:.1f} before, {load_after:.1f} after (other processes compete)")
    print(f"real-time factor   : {wall / duration:.2e} (1 s of processing per {duration / wall:.0f} s of record)")
    print(f"throughput         : {n_samples / wall / 1e6:.2f} M samples/s, {n_windows / wall:.0f} windows/s")
    print(f"peak RSS in call   : {mem.peak / 2**30:.2f} GiB (RSS before the call {rss_before / 2**30:.2f} GiB, "
          f"increase {(mem.peak - rss_before) / 2**30:.2f} GiB; target <= 2 GB)")
    print(f"ru_maxrss (process): {maxrss / 2**30:.2f} GiB")
    print(f"FLOPs per window   : {flops_graph / 1e6:.2f} M (TF graph profiler), {flops_hand / 1e6:.2f} M "
          "(estimate_flops hand count)")
    print(f"achieved           : {flops_graph * n_windows / wall / 1e9:.1f} GFLOP/s over the whole call")

    inference_path(den, args)

    if args.profile:
        rows, total, stages = profile_file_job(st, den, args.overlap, args.batch_size, args.precision,
                                                 args.encoding)
        print(f"profile: the per-file job (DenoiseFile: read the day's MiniSEED, denoise, write) under cProfile, "
              f"{total:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in stages.items())}; {_load_text()}):")
        print("| stage | seconds | share |")
        print("|---|---:|---:|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.2f} | {100 * seconds / total:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
