"""Write the shipped default v4 from a trained v3 network: the mask floor chosen on validation stations.

Usage:
    python bench/make_default_v4.py V3.keras -o geokeras/pretrained/default.keras [--floor 0.3]
    python bench/make_default_v4.py NET.keras -o C.keras --floor 0.3 --exponent 0.7     # a candidate's post-processing
    python bench/make_default_v4.py A.keras B.keras C.keras -o E.keras [--statistic median]   # an ensemble

V3.keras is what the `geokeras train` command of the model card writes (the v3 network). v4 is the same
network and weights with `geokeras.layers.MaskSmoothing(floor=0.3)` between the mask and its application
(`geokeras.models.mask_floor.with_mask_smoothing`). The floor was chosen on the validation stations by
``bench/bench_detection.py --split validation`` and ``bench/bench_quality.py --split validation`` (model
card: "Choosing the mask floor"); ``--floor 0`` gives back v3 exactly.

With several networks (the same STFT), the output is their ensemble (`geokeras.models.ensemble.mask_ensemble`: the
median, or ``--statistic mean``, of their masks, cell by cell) with the floor and exponent on the combined mask
(docs/detection_log.md, "Session 13").
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", nargs="+", help="the trained v3 .keras file (several: an ensemble of them)")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--floor", type=float, default=0.3)
    parser.add_argument("--exponent", type=float, default=1.0, help="the mask raised to this power before the floor")
    parser.add_argument("--statistic", default="median", choices=("median", "mean"),
                        help="how an ensemble combines its networks' masks")
    args = parser.parse_args(argv)

    import numpy as np

    from geokeras.models.ensemble import ensemble_size, mask_ensemble
    from geokeras.models.mask_floor import mask_settings, with_mask_smoothing
    from geokeras.saving import load_model

    bases = [load_model(path) for path in args.base]
    base = bases[0] if len(bases) == 1 else mask_ensemble(bases, statistic=args.statistic, floor=0.0)
    model = with_mask_smoothing(base, floor=args.floor, exponent=args.exponent)
    x = np.random.default_rng(0).normal(size=(4, base.input_shape[1], 1)).astype("float32")
    y, y_neg = model.predict(x, verbose=0), model.predict(-x, verbose=0)
    if not np.array_equal(y_neg, -y):
        raise SystemExit("sign symmetry lost")  # cannot happen: the floor acts on the sign-invariant mask
    model.save(args.output)
    saved = load_model(args.output)
    print(f"wrote {args.output}: {mask_settings(saved)}, {ensemble_size(saved)} network(s)")


if __name__ == "__main__":
    main()
