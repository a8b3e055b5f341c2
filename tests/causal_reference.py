"""The causal definition of the denoise path (`geokeras.data.process.window_frames`), written out naively for
the tests: NumPy's polyfit per window, no running sums."""
import numpy as np

from geokeras.data.windows import Windowing, stitch


def causal_reference(x, fn, window_length, overlap=0.5, clip=1.1, line=True):
    """The denoise path's definition written out naively (NumPy's polyfit per window): each window loses the
    least-squares line of the segment's samples from its start to the window's end, its output is clipped at
    ``clip`` x the smaller of its peak about that prefix's mean and about that line, then stitched (``line=False``:
    windows as they are, clipped at their peak about the prefix mean)."""
    x = np.asarray(x, dtype=np.float64)
    n, L = x.size, window_length
    starts = Windowing(L, overlap).starts(n)
    rows, bounds = [], []
    for s in starts:
        e = min(s + L, n)
        t = np.arange(e, dtype=np.float64)
        slope, icpt = np.polyfit(t, x[:e], 1) if e > 1 else (0.0, x[0])
        w = x[s:e] - (icpt + slope * t[s:e]) if line else x[s:e]
        about_mean = np.max(np.abs(x[s:e] - x[:e].mean()))
        bounds.append(clip * (min(about_mean, np.max(np.abs(w))) if line else about_mean))
        rows.append(np.pad(w, (0, L - w.size)))
    y = np.clip(fn(np.array(rows)), -np.array(bounds)[:, None], np.array(bounds)[:, None])
    return stitch(y, starts, n), np.array(bounds), starts


def causal_peak(x):
    """``max over e of max_{i < e} |x_i - mean(x[:e])|``: no window's bound exceeds 1.1 x this (a window's
    peak about its prefix mean is at most this), so neither does any output sample."""
    x = np.asarray(x, dtype=np.float64)
    mean = np.cumsum(x) / np.arange(1, x.size + 1)
    return float(np.max(np.maximum(np.maximum.accumulate(x) - mean, mean - np.minimum.accumulate(x))))
