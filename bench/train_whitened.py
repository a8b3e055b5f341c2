"""Experiment (issue 15, session 16): the shipped recipe on pairs whitened by their noise's spectrum.

The classical Wiener filter (`geokeras.evaluate.wiener_baseline`) knows one thing the network does not: the
station's noise spectrum over minutes of record. On steady noise it ties the network on detections. This trains the
shipped network's recipe (`geokeras train`'s defaults, `geokeras.training.recipe.SHIPPED_RECIPE`) on pairs whose
noisy input and clean target are both divided, frequency bin by bin, by the square root of the noise window's median
STFT power (Hann 64-sample frames, 32-sample hop: the network's framing), then normalized again: the network sees
each cell's level relative to the noise, the a posteriori SNR, and learns the event's shape there. The network's
graph is unchanged (one waveform in, one out); the whitening is outside it.

At inference (`whitened_denoise`), a continuous record is whitened by its own running noise spectrum
(`geokeras.evaluate.running_noise_power`, 5-minute median, as the Wiener baseline), denoised, and coloured back
with the same spectrum.

    python bench/train_whitened.py -o W.keras --time-limit-s 1800
    python bench/make_default_v4.py W.keras -o W_f0.3.keras --floor 0.3
    python bench/train_whitened.py --score W_f0.3.keras [--components 3] [--transients]   # validation, v4 beside it

Not a shipped path: the result is in docs/detection_log.md ("Session 16").
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

FRAME, HOP = 64, 32


def whiten_pairs_tf(noisy, clean, relative_floor=1e-4):
    """Whiten a batch of ``(noisy, clean)`` pairs ``(B, L, 1)`` by the noise's median power per bin, renormalized."""
    import tensorflow as tf

    n, c = noisy[..., 0], clean[..., 0]
    length = tf.shape(n)[1]

    def stft(x):
        return tf.signal.stft(tf.pad(x, [[0, 0], [FRAME, FRAME]], mode="REFLECT"), FRAME, HOP,
                              window_fn=tf.signal.hann_window)

    def istft(spec):
        window = tf.signal.inverse_stft_window_fn(HOP, forward_window_fn=tf.signal.hann_window)
        return tf.signal.inverse_stft(spec, FRAME, HOP, window_fn=window)[:, FRAME:FRAME + length]

    power = tf.abs(stft(n - c)) ** 2  # (B, frames, bins)
    frames = tf.shape(power)[1]
    lam = tf.sort(power, axis=1)[:, frames // 2, :]
    lam = tf.maximum(lam, relative_floor * tf.reduce_mean(lam, axis=-1, keepdims=True) + 1e-30)
    gain = tf.cast(tf.math.rsqrt(lam)[:, None, :], tf.complex64)
    wn, wc = istft(stft(n) * gain), istft(stft(c) * gain)
    scale = tf.math.reduce_std(wn, axis=1, keepdims=True) + 1e-12
    return (wn / scale)[..., None], (wc / scale)[..., None]


def whitened_denoise(x, sampling_rate, model, window_s=300.0, step_s=30.0):
    """Denoise a continuous record in its whitened domain (its own running noise spectrum), colour it back.

    ``x``: a 1-D record, or a station's components ``(C, n)``: each component whitened by its own spectrum, then
    denoised together under the median mask (`geokeras.denoise.denoise_components`), then coloured back.
    """
    import numpy as np
    from scipy import signal

    from geokeras.denoise import denoise, denoise_components
    from geokeras.evaluate import running_noise_power

    x = np.asarray(x, dtype=np.float64)
    rows = np.atleast_2d(x)
    kw = dict(nperseg=FRAME, noverlap=FRAME - HOP, window="hann")
    _, _, z = signal.stft(rows - rows.mean(axis=-1, keepdims=True), boundary="even", padded=True, **kw)
    hop_s = HOP / sampling_rate
    lam = running_noise_power(np.abs(z) ** 2, window_s / hop_s, step_s / hop_s)
    lam = np.maximum(lam, 1e-4 * lam.mean(axis=-2, keepdims=True) + 1e-30)
    _, xw = signal.istft(z / np.sqrt(lam), **kw)
    xw = xw[..., : rows.shape[-1]].astype(np.float32)
    if x.ndim == 2:
        yw = np.asarray(denoise_components(xw, model=model, sampling_rate=sampling_rate), np.float64)
    else:
        yw = np.asarray(denoise(xw[0], model=model, sampling_rate=sampling_rate), np.float64)[None]
    _, _, zy = signal.stft(yw, boundary="even", padded=True, **kw)
    frames = min(zy.shape[-1], lam.shape[-1])
    _, y = signal.istft(zy[..., :frames] * np.sqrt(lam[..., :frames]), **kw)
    y = y[..., : rows.shape[-1]]
    return y if x.ndim == 2 else y[0]


def train(args):
    import geokeras.training.train as T
    from geokeras.cli import main as cli

    plain_dataset, plain_validation = T.pair_dataset, T._validation_data

    def dataset(*a, **k):
        return plain_dataset(*a, **k).map(whiten_pairs_tf)

    def validation(*a, **k):
        import numpy as np
        import tensorflow as tf

        noisy, clean = plain_validation(*a, **k)
        noisy, clean = whiten_pairs_tf(tf.constant(noisy), tf.constant(clean))
        return np.asarray(noisy), np.asarray(clean)

    T.pair_dataset, T._validation_data = dataset, validation
    return cli(["train", "-o", args.output, "--threads", "2", "--quiet", "--seed", str(args.seed)]
               + (["--time-limit-s", str(args.time_limit_s)] if args.time_limit_s else []))


def score(args):
    from bench_detection import compare
    from geokeras.detection import (benchmark_records, component_methods, evaluate_detection, format_detection,
                                    standard_methods, vertical)
    from geokeras.denoise import Denoiser

    levels = (-15, -10, -5, 0, 5)
    three = args.components == 3
    if args.transients:  # bench_transients.py's set, as bench/score_candidate.sh runs it (--repeats 2 --per-hour 5)
        from bench_transients import add_transients, training_transients

        transients = training_transients(components=args.components)
        records = benchmark_records("validation", n_stations=10, min_noise_s=55.0, repeats=2, snr_levels=levels,
                                    seed=0, components=args.components)
        records = [add_transients(rec, transients, 5.0, 7 * i)[0] for i, rec in enumerate(records)]
    else:
        records = benchmark_records("validation", n_stations=10 if three else 17, hours=2.0, seed=0,
                                    min_noise_s=55 if three else 25, repeats=4 if three else 2, snr_levels=levels,
                                    components=args.components)
    print(f"{len(records)} validation records, {sum(len(r['events']) for r in records)} events; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    den = Denoiser.resolve(args.score)
    methods = standard_methods({"default": None})
    name = f"whitened {os.path.basename(args.score)}"
    methods[name] = lambda x, sr: whitened_denoise(vertical(x), sr, den)
    ref = "default"
    if three:
        methods.update(component_methods({"default": None}, ("median",)))
        methods[f"{name} 3c-median"] = lambda x, sr: whitened_denoise(x, sr, den)[-1]
        ref = "default 3c-median"
    scores = evaluate_detection(methods, records)
    print(format_detection(scores, levels))
    for reference in dict.fromkeys(["default", ref]):  # v4 on the same trace, and the shipped pair under the median
        compare(scores, records, reference, levels)
    print(f"load {os.getloadavg()[0]:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", help="train: the network written (no floor)")
    parser.add_argument("--time-limit-s", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score", metavar="NET", help="score NET (a floored network) on the validation sets instead")
    parser.add_argument("--components", type=int, choices=(1, 3), default=1)
    parser.add_argument("--transients", action="store_true",
                        help="score on bench_transients.py's records (real noise transients added, 5 an hour)")
    args = parser.parse_args(argv)
    if args.score:
        return score(args)
    if not args.output:
        parser.error("-o is required to train")
    return train(args)


if __name__ == "__main__":
    sys.exit(main())
