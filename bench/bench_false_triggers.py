"""Where do a denoiser's false triggers come from? The loudest noise-only STA/LTA peaks of its output (issue 15).

Usage:
    python bench/bench_false_triggers.py [MODEL.keras] [--stations 10] [--hours 1] [--top 8]

On the model-choice records of the detection benchmark (`geokeras.detection.benchmark_records`, validation
stations with >= 55 s of screened noise, events at -15 ... +5 dB; never the test stations), the ``--top``
largest peaks of the denoised trace's ``recursive_sta_lta`` (0.5 s / 10 s) in each record's noise-only
stretches (20 s apart) are looked up in the raw trace. Printed per peak set (10th / 50th / 90th percentile):

- the output's STA/LTA there over its threshold at 2 false triggers per hour;
- the raw trace's STA/LTA (max within +-1 s) over the raw trace's own threshold;
- the raw 1-s RMS (max over the peak's last 3 s) over its median in the noise-only stretches;
- the output's 1-s RMS the same way, and its gain there (output / raw RMS) over the median gain.

A raw RMS far above its median says the model passes noise transients; a raw RMS near its median with a gain
well above the median gain says the mask expands ordinary noise fluctuations (session 5: the second).
"""
import argparse
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def peak_rows(x, y, events, sr, top):
    """One row per peak: output cf / threshold, raw cf / threshold, raw RMS / median, output RMS / median, gain
    / median gain."""
    from geokeras import detection as D

    noise_only = D.noise_only_mask(x.size, events, sr)
    cfx, cfy = D.characteristic_function(x, sr), D.characteristic_function(y, sr)
    thx = D.threshold_for_rate(cfx, noise_only, 2.0, sr)
    thy = D.threshold_for_rate(cfy, noise_only, 2.0, sr)
    sec = int(sr)
    n1 = x.size // sec
    rms_x = np.sqrt((x[:n1 * sec].reshape(n1, sec) ** 2).mean(axis=1))
    rms_y = np.sqrt((y[:n1 * sec].reshape(n1, sec) ** 2).mean(axis=1))
    quiet = noise_only[:n1 * sec:sec]
    med_x, med_y = np.median(rms_x[quiet]), np.median(rms_y[quiet])
    cf = np.where(noise_only, cfy, 0.0)
    rows = []
    for _ in range(top):
        i = int(np.argmax(cf))
        if cf[i] <= 0:
            break
        s = slice(max(0, i // sec - 2), i // sec + 1)
        gain = (rms_y[s] / np.maximum(rms_x[s], 1e-30)).max() / (med_y / med_x)
        rows.append((cfy[i] / thy, cfx[max(0, i - sec):i + sec].max() / thx, rms_x[s].max() / med_x,
                     rms_y[s].max() / med_y, gain))
        cf[max(0, i - 20 * sec):i + 20 * sec] = 0.0
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="a .keras denoiser (default: the shipped model)")
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--top", type=int, default=8, help="peaks per record")
    args = parser.parse_args(argv)

    from geokeras import detection as D
    from geokeras.denoise import Denoiser, denoise

    records = D.benchmark_records("validation", n_stations=args.stations, hours=args.hours, min_noise_s=55.0,
                                  snr_levels=(-15, -10, -5, 0, 5))
    den = Denoiser.resolve(args.model)
    rows = []
    for rec in records:
        y = np.asarray(denoise(rec["noisy"], model=den, sampling_rate=rec["sampling_rate"]))
        rows += peak_rows(rec["noisy"], y, rec["events"], rec["sampling_rate"], args.top)
    rows = np.asarray(rows, dtype=float)
    print(f"{len(rows)} noise-only output peaks ({args.top} per record, {len(records)} validation records x "
          f"{args.hours:g} h); load average {os.getloadavg()[0]:.2f}")
    names = ("output cf / thr", "raw cf / thr", "raw 1-s RMS / median", "output 1-s RMS / median",
             "gain / median gain")
    print(f"{'percentile':>10} " + " ".join(f"{n:>24}" for n in names))
    for q in (10, 50, 90):
        print(f"{q:>10} " + " ".join(f"{v:>24.2f}" for v in np.percentile(rows, q, axis=0)))
    print(f"raw 1-s RMS above 1.5x / 2x its median at {np.mean(rows[:, 2] > 1.5):.0%} / {np.mean(rows[:, 2] > 2):.0%} "
          f"of the peaks; gain above 2x the median gain at {np.mean(rows[:, 4] > 2):.0%}")


if __name__ == "__main__":
    main()
