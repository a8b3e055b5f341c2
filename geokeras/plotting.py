"""Before/after figures of a denoised record: waveforms and spectrograms, written as PNG.

Gaps are never drawn: waveform lines break at masked samples, spectrogram columns that touch a gap are
left blank (`spectrogram_db`), and fill values never reach the figure. The input is drawn demeaned per
gap-free segment (`demeaned`), so that it overlays the output (`geokeras.denoise` also removes each segment's
linear trend: a trend in the input shows as a slope the output does not have); spectrogram
rows carry a colour bar in dB.

Example:
    >>> import numpy as np, obspy, os, tempfile
    >>> from geokeras.plotting import plot_denoising
    >>> tr = obspy.Trace(np.random.default_rng(0).normal(size=600).astype("float32"))
    >>> tr.stats.update(dict(network="XX", station="TEST", channel="HHZ", sampling_rate=100.0))
    >>> out = tr.copy(); out.data = out.data * 0.1
    >>> path = plot_denoising(tr, out, os.path.join(tempfile.mkdtemp(), "fig.png"))
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
"""
import os
import warnings

import numpy as np
import obspy

from geokeras.utils import atomic_path

__all__ = ["plot_denoising", "envelope", "spectrogram_db", "demeaned", "merged_pairs"]


def _as_stream(x, name):
    if isinstance(x, obspy.Trace):
        return obspy.Stream([x])
    if isinstance(x, obspy.Stream):
        return x
    raise TypeError(f"Invalid value for argument `{name}`. Expected an obspy Stream or Trace. "
                    f"Received {type(x).__name__}.")


def merged_pairs(before, after):
    """``[(before_trace, after_trace), ...]`` matched by id and start time, both merged (gaps masked)."""
    return _pairs(_merged(_as_stream(before, "before")), _merged(_as_stream(after, "after")))


def _merged(st):
    """A merged copy (gaps masked, one trace per id and rate), as the denoised output is.

    Streams ObsPy cannot merge (one id at several rates, differing calib) are drawn as they are.
    """
    st = st.copy()
    try:
        st.merge(method=1)
    except Exception:  # ObsPy raises a bare Exception for ids with differing rates or calib
        pass
    return st


def _pairs(before, after):
    """Match traces of ``after`` to ``before`` by id and start time (segments after gaps included)."""
    pairs = []
    for tr_a in after:
        candidates = [tr_b for tr_b in before.select(id=tr_a.id)
                      if abs(tr_b.stats.starttime - tr_a.stats.starttime) < tr_a.stats.delta / 2]
        if not candidates:
            candidates = before.select(id=tr_a.id)
        if candidates:
            pairs.append((candidates[0], tr_a))
    if not pairs:
        raise ValueError("Nothing to plot: no trace of `after` has a matching id in `before`.")
    return pairs


def envelope(t, x, max_points):
    """Decimate a line for drawing: min and max of each block (NaN at gaps), so peaks stay visible.

    Returns ``(t, y)``: unchanged (gaps as NaN) when ``x`` has at most ``max_points`` samples.

    Example:
        >>> x = np.ma.masked_array([0, 5, -1, 2, 0, 0], mask=[0, 0, 0, 1, 0, 0])
        >>> envelope(np.arange(6.0), x, 20)[1].tolist()
        [0.0, 5.0, -1.0, nan, 0.0, 0.0]
        >>> envelope(np.arange(6.0), x, 4)[1].tolist()  # blocks of 3: (min, max) of each
        [-1.0, 5.0, 0.0, 0.0]
    """
    xf = np.ma.filled(np.ma.masked_invalid(np.ma.asarray(x, dtype=np.float64)), np.nan)  # gaps: NaN, never fill
    k = int(np.ceil(len(x) / max(2, max_points // 2)))
    if k <= 1:
        return np.asarray(t, dtype=np.float64), xf
    m = -(-len(x) // k) * k  # the last, partial block is padded with NaN (its peaks are drawn too)
    xb = np.pad(xf, (0, m - len(x)), constant_values=np.nan).reshape(-1, k)
    tb = np.pad(np.asarray(t, dtype=np.float64), (0, m - len(t)), mode="edge").reshape(-1, k)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks (gaps)
        lo, hi = np.nanmin(xb, axis=1), np.nanmax(xb, axis=1)
    return np.repeat(tb[:, 0], 2), np.column_stack([lo, hi]).ravel()


def demeaned(tr):
    """The samples of ``tr`` as float64, each gap-free segment minus its mean, gaps masked.

    Example:
        >>> tr = obspy.Trace(np.ma.masked_array([1.0, 3.0, 0.0, 10.0, 12.0], mask=[0, 0, 1, 0, 0]))
        >>> demeaned(tr).tolist()
        [-1.0, 1.0, None, -1.0, 1.0]
    """
    from geokeras.data.process import segments

    data = np.ma.masked_invalid(np.ma.asarray(tr.data, dtype=np.float64))
    mask = np.ma.getmaskarray(data)
    out = np.ma.masked_array(np.zeros(len(data)), mask=mask)
    values = np.ma.getdata(data)
    for a, b in segments(mask):
        out[a:b] = values[a:b] - values[a:b].mean()
    return out


def spectrogram_db(tr, max_columns=2000):
    """Spectrogram of a trace in dB (``scipy.signal.spectrogram``), NaN in columns that touch a gap.

    Each gap-free segment is demeaned and gaps are zero for the transform only; every column whose
    window holds a masked sample is then set to NaN, so a gap (or its fill value) is never drawn.
    Segments are ~2 s (shorter for short records, at least ~40 columns); long records average blocks of
    columns (mean power) to at most ``max_columns``.

    Returns:
        ``(t, f, db)``, or None when the trace is too short (fewer than 8 samples).
    """
    from scipy import signal

    x = demeaned(tr)
    gap = np.ma.getmaskarray(x)
    x = np.ma.filled(x, 0.0)
    fs = tr.stats.sampling_rate
    nperseg = int(2 ** np.round(np.log2(max(fs * 2.0, 16))))
    nperseg = int(min(nperseg, max(32, 2 ** np.floor(np.log2(max(len(x) / 40, 1))))))
    nperseg = min(nperseg, len(x)) if len(x) >= 8 else len(x)
    if nperseg < 8:
        return None
    step = nperseg - nperseg // 2
    f, t, sxx = signal.spectrogram(x, fs=fs, nperseg=nperseg, noverlap=nperseg // 2, detrend="constant")
    starts = np.arange(sxx.shape[1]) * step  # column j transforms samples starts[j]:starts[j] + nperseg
    gaps_before = np.r_[0, np.cumsum(gap)]
    touched = gaps_before[np.minimum(starts + nperseg, len(x))] - gaps_before[starts] > 0
    sxx[:, touched] = np.nan
    k = int(np.ceil(sxx.shape[1] / max_columns))
    if k > 1:  # long records: average blocks of k columns (mean power; a block touching a gap stays blank)
        m = sxx.shape[1] // k * k
        sxx, t = sxx[:, :m].reshape(len(f), -1, k).mean(axis=2), t[:m].reshape(-1, k).mean(axis=1)
    return t, f, 10 * np.log10(sxx + 1e-20)


def _spectrogram(ax, tr, vmin=None, vmax=None):
    result = spectrogram_db(tr)
    if result is None:
        ax.text(0.5, 0.5, "too short for a spectrogram", ha="center", va="center", transform=ax.transAxes)
        return None, None
    t, f, db = result
    if vmax is None:
        finite = db[np.isfinite(db)]
        vmax = float(np.percentile(finite, 99.5)) if finite.size else 0.0
        vmin = vmax - 80.0
    mesh = ax.pcolormesh(t, f, np.ma.masked_invalid(db), shading="auto", vmin=vmin, vmax=vmax, cmap="viridis",
                         rasterized=True)
    ax.set_ylabel("Hz")
    return (vmin, vmax), mesh


def plot_denoising(before, after, path, spectrogram=True, dpi=100, max_points=200_000):
    """Plot a record before and after denoising, one row per component, and write a PNG.

    Each trace gets a waveform row (before in grey, demeaned per gap-free segment; after in colour; same
    axes; gaps left blank) and, with ``spectrogram=True``, two spectrogram rows (before, after) on the same
    colour scale, each with a colour bar in dB (columns touching a gap blank). The title
    of each row names the trace id and its start and end times. Long traces are decimated for
    drawing only: ``max_points`` per line, keeping each block's minimum and maximum so that peaks
    stay visible; spectrogram columns are averaged in blocks to at most 2000.

    The file is written atomically: to a temporary file in the same folder, then renamed.

    Args:
        before: the input ``obspy.Stream`` or ``Trace``.
        after: the denoised ``obspy.Stream`` or ``Trace`` (ids matched to ``before``).
        path: the PNG file to write.
        spectrogram: also draw spectrograms (``scipy.signal.spectrogram``).
        dpi: resolution.
        max_points: largest number of points drawn per waveform.

    Returns:
        ``path`` as a string.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    pairs = merged_pairs(before, after)
    rows_per = 3 if spectrogram else 1
    fig = Figure(figsize=(11, 2.3 * rows_per * len(pairs)), dpi=dpi, layout="constrained")
    axes = fig.subplots(rows_per * len(pairs), 1, squeeze=False)[:, 0]
    for i, (tr_b, tr_a) in enumerate(pairs):
        ax = axes[i * rows_per]
        for tr, colour, label in ((tr_b, "0.6", "before (demeaned)"), (tr_a, "C0", "after")):
            t, y = envelope(tr.times() + (tr.stats.starttime - tr_a.stats.starttime), demeaned(tr), max_points)
            ax.plot(t, y, color=colour, lw=0.6, label=label)
        ax.set_title(f"{tr_a.id}  {tr_a.stats.starttime} - {tr_a.stats.endtime}  "
                     f"({tr_a.stats.sampling_rate:g} Hz)", fontsize=9)
        ax.set_ylabel("counts")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_xlim(0, max(tr_a.stats.endtime - tr_a.stats.starttime, tr_a.stats.delta))
        if spectrogram:
            scale, mesh = _spectrogram(axes[i * rows_per + 1], tr_b)
            axes[i * rows_per + 1].set_title(f"{tr_b.id} before: spectrogram (dB)", fontsize=9)
            _, mesh_after = _spectrogram(axes[i * rows_per + 2], tr_a, *(scale or (None, None)))
            axes[i * rows_per + 2].set_title(f"{tr_a.id} after: spectrogram (dB)", fontsize=9)
            for row, m in ((1, mesh), (2, mesh_after)):
                if m is not None:
                    fig.colorbar(m, ax=axes[i * rows_per + row], label="dB", pad=0.01)
            axes[i * rows_per + 1].set_xlim(ax.get_xlim())
            axes[i * rows_per + 2].set_xlim(ax.get_xlim())
    axes[-1].set_xlabel(f"seconds after {pairs[0][1].stats.starttime}")

    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
