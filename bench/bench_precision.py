"""bfloat16 inference against float32: speed (paired), output differences, sign symmetry (issue 19).

Usage::

    python bench/bench_precision.py                       # default model, 1 h of 3C data, 4 pairs
    python bench/bench_precision.py --save-copy /tmp/default_bf16.keras
    python bench/bench_quality.py geokeras/pretrained/default.keras /tmp/default_bf16.keras \\
        --split validation --conditions inband --no-noisy   # quality of both, same windows

What is measured (all here, on this machine; the load average is printed with every timing):

- the model alone: CPU and wall ms per window through `Denoiser.predictor` at each precision, in
  interleaved pairs (A B A B ...) on the same 1024 random windows;
- a whole ``denoise(stream)`` call on ``--hours`` of synthetic 3C 100 Hz data (``bench_speed.make_day``) at
  each precision, interleaved;
- the outputs: max abs difference relative to the float32 output's peak on the demo record
  (``geokeras.demo.NOISY_RECORD``) and on 2000 validation-station windows (in-band, mixed with
  validation noise at -10..+10 dB, ``geokeras.data.pairs``), and whether ``denoise(-x) == -denoise(x)`` holds
  exactly at bfloat16 on both;
- ``--save-copy``: writes the `geokeras.denoise.denoiser.bfloat16_copy` of the model as a ``.keras`` file,
  for ``bench/bench_quality.py`` (quality in dB on validation stations).
"""
import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _load():
    return f"load average {os.getloadavg()[0]:.2f}"


def paired(fns, rounds):
    """``{name: [(wall, cpu), ...]}`` of calling each of ``fns`` once per round, order alternated."""
    names = list(fns)
    out = {n: [] for n in names}
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            t, c = time.perf_counter(), time.process_time()
            fns[n]()
            out[n].append((time.perf_counter() - t, time.process_time() - c))
    return out


def validation_windows(records, n=500, seed=0):
    """``n`` noisy in-band windows of validation stations at 0 dB (3000 samples, float32)."""
    from geokeras.evaluate import heldout_sources, make_test_windows

    signals, noises, ss, ns = heldout_sources(records, with_stations=True)
    noisy, _ = make_test_windows(signals, noises, 0.0, n, seed=seed, condition="inband", signal_stations=ss,
                                 noise_stations=ns)
    return noisy.astype(np.float32)


def quality(models, records, n_per_level):
    """Median SNR gain (dB) per level of each model on the same in-band validation windows, and the
    largest per-window gain difference from the first model."""
    from geokeras.evaluate import evaluate

    table, first = {}, None
    for name, model in models.items():
        rows, scores = evaluate(model, records=records, n_per_level=n_per_level, baselines=(), condition="inband",
                                model_name=name, return_scores=True)
        gains = {r["snr_db"]: r["snr_gain_db"] for r in rows if r["method"] == name}
        per_window = np.concatenate([scores[k]["snr_gain_db"] for k in sorted(scores, key=str) if k[0] == name])
        first = per_window if first is None else first
        table[name] = (gains, float(np.max(np.abs(per_window - first))))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-per-level", type=int, default=100, help="validation windows per SNR level")
    parser.add_argument("--save-copy", default=None, metavar="PATH.keras")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from bench_speed import make_day

    from geokeras.data import datasets, io
    from geokeras.data.windows import map_batches
    from geokeras.demo import NOISY_RECORD
    from geokeras.denoise import Denoiser, denoise
    from geokeras.denoise.denoiser import bfloat16_copy

    den = Denoiser.resolve(args.model)
    if args.save_copy:
        bfloat16_copy(den.model).save(args.save_copy)
        print(f"wrote {args.save_copy}")

    # outputs and sign symmetry
    record = io.read(str(datasets.datasets_dir() / "ncedc-noisy" / NOISY_RECORD))
    _, val, _ = datasets.split_records(datasets.load_events())
    checks = {"demo record": np.stack([tr.data.astype(np.float32) for tr in record]),
              "validation windows": validation_windows(val)}
    for name, x in checks.items():
        a = den(x, precision="float32")
        b = den(x, precision="bfloat16")
        rel = np.max(np.abs(a - b), axis=-1) / np.maximum(np.max(np.abs(a), axis=-1), 1e-30)
        odd = np.array_equal(den(-x, precision="bfloat16"), -b)
        print(f"{name}: {x.shape}; max |bf16 - fp32| / peak(fp32): max {rel.max():.2e}, median "
              f"{np.median(rel):.2e}; bfloat16 denoise(-x) == -denoise(x): {odd}")

    # quality on validation stations, same windows
    t0 = time.perf_counter()
    table = quality({"float32": den.model, "bfloat16": bfloat16_copy(den.model)}, val, args.n_per_level)
    levels = list(table["float32"][0])
    print(f"median SNR gain (dB), in-band, validation stations, {args.n_per_level} windows per level "
          f"({time.perf_counter() - t0:.0f} s):")
    print("| precision | " + " | ".join(str(k) for k in levels) + " | max per-window difference |")
    for name, (gains, diff) in table.items():
        print(f"| {name} | " + " | ".join(f"{gains[k]:.3f}" for k in levels) + f" | {diff:.4f} dB |")

    # the model alone
    L = den.window_length
    windows = np.random.default_rng(0).normal(scale=100.0, size=(1024, L)).astype(np.float32)
    preds = {p: den.predictor(256, precision=p) for p in ("float32", "bfloat16")}
    for p in preds.values():
        map_batches(p, windows[:256], 256)  # trace
    res = paired({p: (lambda f=f: map_batches(f, windows, 256)) for p, f in preds.items()}, args.rounds)
    for p, v in res.items():
        print(f"model alone {p:8s}: ms/window wall {[round(1e3 * w / len(windows), 3) for w, _ in v]}, "
              f"CPU {[round(1e3 * c / len(windows), 3) for _, c in v]}")
    ratio = [a[1] / b[1] for a, b in zip(res["float32"], res["bfloat16"])]
    print(f"model alone CPU-time ratio float32/bfloat16 per pair: {[round(r, 2) for r in ratio]} ({_load()})")

    # a whole denoise() call
    st = make_day(args.hours)
    for p in preds:
        denoise(st.slice(st[0].stats.starttime, st[0].stats.starttime + 60), model=den, precision=p)
    res = paired({p: (lambda p=p: denoise(st, model=den, precision=p)) for p in preds}, args.rounds)
    for p, v in res.items():
        print(f"denoise({args.hours:g} h x 3C) {p:8s}: wall {[round(w, 2) for w, _ in v]} s, "
              f"CPU {[round(c, 2) for _, c in v]} s")
    wall = [a[0] / b[0] for a, b in zip(res["float32"], res["bfloat16"])]
    cpu = [a[1] / b[1] for a, b in zip(res["float32"], res["bfloat16"])]
    print(f"denoise ratio float32/bfloat16 per pair: wall {[round(r, 2) for r in wall]}, "
          f"CPU {[round(r, 2) for r in cpu]} ({_load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
