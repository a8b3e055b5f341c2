"""Throughput, delay and batch agreement of `geokeras.stream.StreamingDenoiser` on replayed real-time packets.

Usage::

    python bench/bench_stream.py                  # 1 hour x 3 components at 100 Hz, 1-s packets, one core
    python bench/bench_stream.py --hours 0.25 --packet-s 0.5
    python bench/bench_stream.py --components median   # the three components with one mask per window

Data: `bench_speed.make_day` (pink noise, secondary microseism, synthetic local earthquakes; float32),
cut into packets of ``--packet-s`` seconds per component and pushed in arrival order (the components
interleaved), as SeedLink delivers them. The process is pinned to one CPU (``os.sched_setaffinity``) and
TensorFlow to one thread, so the throughput is per core. The denoiser is warmed on 2 minutes of other data.

Printed (all measured here, with the load average):

- throughput: seconds of data per channel processed per second of wall time (target >= 100x real time
  per channel on one core), with CPU time;
- delay: for every output sample, the data time of the newest sample pushed when it came out, minus its own
  time (max and median; ``latency_s`` plus at most one packet; target <= one window plus one hop), and the
  wall time of one ``push`` (median, 99th percentile, max);
- agreement with `geokeras.denoise.denoise` of the same record: the largest difference over the batch
  output's peak, over the whole record and after the first ``--warmup-min`` minutes of it, and the fraction
  of samples that differ by more than 1e-3 of the peak (the semantics: `geokeras.stream`'s docstring);
  and the same largest difference on whole short segments cut from the first component (``--segments``,
  in samples, each at 3 offsets), as after gaps.

With ``--components median`` (or ``mean``) the stream and the batch path both denoise the three components
together (``StreamingDenoiser(components=...)``, ``denoise(st, components=...)``), and the short segments are
cut from all three at once.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # this tree's geokeras, not the installed one

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from geokeras.denoise.options import COMPONENTS  # noqa: E402  (no TensorFlow: the choices of --components)


def replay(sd, st, packet_s):
    """Push ``st`` in packets; return ``(outputs, delays in s, push wall times in s)``."""
    import obspy

    rate = st[0].stats.sampling_rate
    k = max(1, int(round(packet_s * rate)))
    outputs, delays, pushes = [], [], []
    for i in range(0, st[0].stats.npts, k):
        for tr in st:
            header = {key: tr.stats[key] for key in ("network", "station", "location", "channel", "sampling_rate")}
            pkt = obspy.Trace(tr.data[i:i + k], header=dict(header, starttime=tr.stats.starttime + i / rate))
            t = time.perf_counter()
            out = sd.push(pkt)
            pushes.append(time.perf_counter() - t)
            for o in out:  # newest sample pushed minus each output sample's time
                delays.append(pkt.stats.endtime - o.stats.starttime - np.arange(o.stats.npts) / rate)
            outputs += out
    outputs += sd.flush()
    return outputs, np.concatenate(delays or [np.zeros(0)]), np.array(pushes)


def agreement(st, outputs, den, warmup_s, components=None, precision="auto"):
    """Per channel ``(max diff / peak, same after warmup, fraction of samples beyond 1e-3 of the peak)``."""
    import obspy

    from geokeras.denoise import denoise

    batch = denoise(st, model=den, components=components, precision=precision)
    joined = obspy.Stream(outputs).merge(method=1)
    rows = []
    for tr in batch:
        got = np.asarray(joined.select(id=tr.id)[0].data, np.float64)
        ref = np.asarray(tr.data, np.float64)
        peak = np.max(np.abs(ref))
        diff = np.abs(got - ref) / peak
        skip = int(warmup_s * tr.stats.sampling_rate)
        rows.append((tr.id, diff.max(), diff[skip:].max(), float(np.mean(diff > 1e-3))))
    return rows


def short_segments(st, den, lengths, offsets=(0, 100000, 200000), components=None, precision="auto", packet_s=1.0):
    """``[(length, [max |stream - batch| / peak at each offset]), ...]`` for whole segments cut from ``st[0]`` (from
    all of ``st`` with ``components``, replayed in packets; the largest over its traces)."""
    import obspy

    from geokeras.denoise import denoise
    from geokeras.stream import StreamingDenoiser

    traces = st if components else st[:1]
    rows = []
    for n in lengths:
        diffs = []
        for off in offsets:
            if off + n > st[0].stats.npts:
                continue
            seg = obspy.Stream([tr.copy() for tr in traces])
            for tr in seg:
                tr.data = tr.data[off:off + n].copy()
            ref = denoise(seg, model=den, components=components, precision=precision)
            sd = StreamingDenoiser(den, components=components, precision=precision)
            got = obspy.Stream(replay(sd, seg, packet_s)[0]).merge(method=1)
            diffs.append(max(float(np.max(np.abs(got.select(id=tr.id)[0].data - tr.data)) / np.max(np.abs(tr.data)))
                             for tr in ref))
        rows.append((n, diffs))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description="StreamingDenoiser throughput, delay and batch agreement.")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--packet-s", type=float, default=1.0)
    parser.add_argument("--warmup-min", type=float, default=10.0)
    parser.add_argument("--model", default=None, help="a .keras denoiser (default: the shipped model)")
    parser.add_argument("--segments", default="3000,4000,6000,12000,30000,60000",
                        help="lengths (samples) of whole segments compared with batch denoise")
    parser.add_argument("--components", choices=COMPONENTS, default=None,
                        help="denoise the three components together, one combined mask per window")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                        help="the model's arithmetic, in the stream and in the batch path")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    from geokeras.utils import set_threads

    set_threads(1)
    from bench_speed import make_day
    from geokeras.denoise import Denoiser
    from geokeras.stream import StreamingDenoiser

    den = Denoiser.resolve(args.model)
    st = make_day(hours=args.hours)
    warm = StreamingDenoiser(den, components=args.components, precision=args.precision)
    replay(warm, make_day(hours=2 / 60, seed=1), args.packet_s)  # graphs traced
    sd = StreamingDenoiser(den, components=args.components, precision=args.precision)
    load_before, cpu = os.getloadavg(), time.process_time()
    wall = time.perf_counter()
    outputs, delays, pushes = replay(sd, st, args.packet_s)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load_after = os.getloadavg()
    duration = st[0].stats.npts / st[0].stats.sampling_rate
    n_out = sum(o.stats.npts for o in outputs)
    print(f"{len(st)} channels x {args.hours:g} h at {st[0].stats.sampling_rate:g} Hz in {args.packet_s:g}-s packets "
          f"({len(pushes)} pushes), model {den.label}, components={args.components}, precision={sd.precision}, "
          f"one core, one TF thread; {n_out} samples out of {sum(tr.stats.npts for tr in st)} in")
    print(f"throughput: {duration * len(st) / wall:.0f}x real time per channel on one core "
          f"(wall {wall:.1f} s, CPU {cpu:.1f} s for {duration * len(st):.0f} channel-seconds; target >= 100x)")
    hop = sd.windowing.hop / sd.denoiser.sampling_rate
    print(f"delay: latency_s = {sd.latency_s:g} s; measured max {delays.max():.2f} s, "
          f"median {np.median(delays):.2f} s (target <= window + hop = {sd.latency_s + hop:g} s); "
          f"push wall time median {1e3 * np.median(pushes):.2f} ms, p99 {1e3 * np.percentile(pushes, 99):.2f} ms, "
          f"max {1e3 * pushes.max():.1f} ms")
    print(f"load average before {load_before}, after {load_after} on {os.cpu_count()} CPUs")
    batch = f"denoise(components={args.components})" if args.components else "denoise"
    for tid, whole, late, frac in agreement(st, outputs, den, 60 * args.warmup_min, args.components, sd.precision):
        print(f"vs batch {batch} {tid}: max |stream - batch| / peak {whole:.2e} over the record, {late:.2e} after "
              f"the first {args.warmup_min:g} min; {100 * frac:.2f} % of samples beyond 1e-3 of the peak")
    for n, diffs in short_segments(st, den, [int(v) for v in args.segments.split(",") if v],
                                   components=args.components, precision=sd.precision, packet_s=args.packet_s):
        print(f"whole segment of {n} samples: max |stream - batch| / peak "
              f"{', '.join(f'{d:.2e}' for d in diffs)} at {len(diffs)} offsets")


if __name__ == "__main__":
    main()
