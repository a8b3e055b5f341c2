"""Golden outputs of the denoise path, for refactors that must leave every sample bit-identical.

Usage::

    python bench/golden_outputs.py --save /tmp/golden.npz    # on the reference tree
    python bench/golden_outputs.py --check /tmp/golden.npz   # on the changed tree: exit 1 on any difference

What is recorded (float32 samples unless noted):

- ``demo/...``: the demo's record (`geokeras.demo.NOISY_RECORD`) denoised with the shipped model, as in part 1
  of ``python -m geokeras.demo``;
- ``cli/...``: ``geokeras denoise --write-noise`` (the command's Python path, `geokeras.cli.main`) on a small
  folder built here deterministically: ObsPy's example stream with a 3 s gap cut out of one trace and
  another trace resampled to 50 Hz, plus the same stream written as SAC traces; every output file's samples;
- ``pairs/...``: the in-band training pairs of `geokeras.data.pairs.PairGenerator` (taper, high-pass) and the
  in-band held-out traces of the demo's controlled part (float64);
- ``sidecar/...``: the ``stats.processing`` lines of every sidecar the command wrote (text);
- ``picks/...``: `geokeras.metrics.pick_p` of the demo record before and after (float64).
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # this tree's geokeras, not the installed one


def _gappy_folder(root):
    import obspy

    os.makedirs(os.path.join(root, "sac"))
    st = obspy.read()
    z = st.select(component="Z")[0]
    t0 = z.stats.starttime
    st.remove(z)
    st.extend([z.slice(t0, t0 + 10), z.slice(t0 + 13, None)])  # a 3 s gap
    n = st.select(component="N")[0]
    n.resample(50.0)  # another rate than the model's
    st.write(os.path.join(root, "gappy.mseed"), format="MSEED")
    for tr in obspy.read():
        tr.write(os.path.join(root, "sac", f"{tr.id}.sac"), format="SAC")
    return root


def collect(precision="float32"):
    """Return ``{name: array}`` of every golden output (the model at ``precision``: float32 by default, the
    precision the golden files were recorded at before the default became "auto")."""
    import obspy

    from geokeras import metrics
    from geokeras.cli import main as cli_main
    from geokeras.data import datasets, io
    from geokeras.denoise import Denoiser, denoise
    from geokeras.demo import NOISY_RECORD, _controlled_pairs

    out = {}
    den = Denoiser.resolve(None)
    before = io.read(str(datasets.datasets_dir() / "ncedc-noisy" / NOISY_RECORD))[0]
    after = denoise(before, model=den, precision=precision)
    out["demo/denoised"] = np.asarray(after.data, np.float32)
    rate = before.stats.sampling_rate
    out["picks/demo"] = np.array([metrics.pick_p(before.data, rate), metrics.pick_p(after.data, rate)])

    with tempfile.TemporaryDirectory() as tmp:
        src = _gappy_folder(os.path.join(tmp, "in"))
        dst = os.path.join(tmp, "out")
        for fmt in ("MSEED", "SAC"):
            rc = cli_main(["denoise", src, "-o", os.path.join(dst, fmt), "--format", fmt, "--write-noise",
                           "--quiet", "--precision", precision])
            if rc != 0:
                raise SystemExit(f"geokeras denoise --format {fmt} exited {rc}")
        for folder, _, names in sorted(os.walk(dst)):
            for name in sorted(names):
                path = os.path.join(folder, name)
                if name.endswith(".json"):  # the sidecar: every trace's processing lines, as text
                    with open(path) as f:
                        lines = [line for entry in json.load(f) for line in entry.get("processing", [])]
                    out[f"sidecar/{os.path.relpath(path, dst)}"] = np.array(lines, dtype=str)
                    continue
                for tr in obspy.read(path):
                    key = f"cli/{os.path.relpath(path, dst)}/{tr.id}/{tr.stats.starttime}/{tr.stats.sampling_rate:g}"
                    data = np.ma.filled(np.ma.masked_invalid(np.ma.asarray(tr.data, np.float32)), np.nan)
                    out[key] = np.asarray(data, np.float32)

    from geokeras.data.pairs import PairGenerator

    rng = np.random.default_rng(0)
    gen = PairGenerator([rng.normal(size=4000) for _ in range(3)], [rng.normal(size=2500) for _ in range(3)],
                        window_length=1000, inband_fraction=1.0, noise_augment=True, seed=1)
    noisy, clean = gen.sample(8)
    out["pairs/generator_noisy"], out["pairs/generator_clean"] = noisy, clean
    items = _controlled_pairs(inband=True)
    out["pairs/controlled_inband"] = np.concatenate([x for _, _, _, x in items]).astype(np.float64)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--save", metavar="FILE.npz")
    what.add_argument("--check", metavar="FILE.npz")
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"),
                        help="the model's arithmetic (default float32: the golden files' own)")
    args = parser.parse_args(argv)
    from geokeras.utils import quiet_tensorflow

    quiet_tensorflow()
    got = collect(args.precision)
    if args.save:
        np.savez(args.save, **got)
        print(f"saved {len(got)} arrays to {args.save}")
        return 0
    want = dict(np.load(args.check))
    bad = sorted(set(want) ^ set(got))
    worst = 0.0
    for key in sorted(set(want) & set(got)):
        a, b = want[key], got[key]
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind or (a.dtype.kind == "f" and a.dtype != b.dtype):
            bad.append(f"{key} ({a.dtype}{a.shape} -> {b.dtype}{b.shape})")
        elif a.dtype.kind == "U":
            if not np.array_equal(a, b):
                bad.append(f"{key} (text)")
        elif not np.array_equal(a, b, equal_nan=True):
            diff = float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64))))
            worst = max(worst, diff)
            bad.append(f"{key} (max abs difference {diff:.3g})")
    for line in bad:
        print("differs:", line)
    print(f"{len(got)} arrays checked; {len(bad)} differ; max abs difference {worst:.3g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
