"""Apply a window-to-window function (a model) to every trace of an ObsPy Stream, losing nothing.

`apply_to_stream` is what `geokeras.denoise` runs. Its contract, for each input trace:

================================  ===========================================================
Input                             What happens
================================  ===========================================================
Stream / Trace                    worked on a copy; the input is never modified
empty Stream                      ValueError
zero-length trace                 ValueError naming the trace
NaN or inf sample (unmasked)      ValueError naming the trace, the count and the first index
non-numeric data (e.g. text)      ValueError naming the trace
traces of one id, with gaps       merged (ObsPy ``merge(method=1, fill_value=None)``): one trace
                                  whose gaps are masked; each gap-free segment is processed
                                  separately and masked samples stay masked (never filled)
overlapping traces of one id      merged the same way (ObsPy method=1: in the overlap the later
                                  trace's samples are kept); reported with a UserWarning, in the
                                  report and in ``stats.processing``
one id at several sampling rates  not merged: one output trace per rate, each processed at its
                                  own rate (noted in the report)
any native sampling rate          each segment is resampled to ``sampling_rate`` with
                                  ``scipy.signal.resample_poly`` (rational factor from
                                  ``fractions.Fraction.limit_denominator``), processed, resampled
                                  back and cut to exactly its native number of samples: the
                                  output has the input's rate, start time and npts; a ratio
                                  that is not exact (e.g. 99.99 Hz -> 100 Hz) is noted
segment shorter than a window     zero-padded to one window (see `geokeras.data.windows`), the
                                  output is cut back to the segment's length
1-sample segment                  passed through unchanged (no window can be made), noted
constant segment (e.g. all-zero)  passed through unchanged (nothing to process), noted
int32 (or other integer) counts   processed as float64; the output is float32
================================  ===========================================================

Output: one trace per (id, sampling rate), in order of first appearance, with the merged input's
stats (every header kept), ``npts``, start time and gap mask, float32 data (a masked array when
there are gaps), and one ``stats.processing`` entry for the call (plus one per repair).
"""
import warnings
from fractions import Fraction

import numpy as np
import obspy
from scipy import signal as sps

from geokeras.data.windows import map_batches, sliding_windows, stitch

__all__ = ["apply_to_stream", "resample_ratio", "segments"]


def _as_stream(stream):
    if isinstance(stream, obspy.Trace):
        return obspy.Stream([stream.copy()])
    if isinstance(stream, obspy.Stream):
        return stream.copy()
    raise ValueError(f"Invalid value for argument `stream`. Expected an obspy.Stream or obspy.Trace. "
                     f"Received {type(stream).__name__}.")


def resample_ratio(native_rate, model_rate, max_denominator=1000):
    """``(up, down)`` integers with ``native_rate * up / down ~= model_rate``.

    Example:
        >>> resample_ratio(250.0, 100.0), resample_ratio(40.0, 100.0), resample_ratio(100.0, 100.0)
        ((2, 5), (5, 2), (1, 1))
    """
    frac = Fraction(float(model_rate) / float(native_rate)).limit_denominator(max_denominator)
    return frac.numerator, frac.denominator


def _resample(x, up, down):
    """``resample_poly`` by ``up/down``; edges padded along a fitted line (by the edge value for 1 sample,
    where a line is undefined and would give NaN)."""
    return sps.resample_poly(x, up, down, padtype="line" if x.size > 1 else "edge")


def segments(mask):
    """``[(start, stop), ...]`` of the runs of False in a boolean mask (the unmasked segments).

    Example:
        >>> segments(np.array([False, False, True, False]))
        [(0, 2), (3, 4)]
    """
    valid = np.r_[False, ~np.asarray(mask, dtype=bool), False].astype(np.int8)
    edges = np.flatnonzero(np.diff(valid))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _note(tr, text):
    """Append to ``stats.processing`` (created when missing, as ObsPy does)."""
    if "processing" not in tr.stats:
        tr.stats.processing = []
    tr.stats.processing.append(text)


def _validate(tr):
    if not (np.issubdtype(tr.data.dtype, np.integer) or np.issubdtype(tr.data.dtype, np.floating)):
        raise ValueError(f"Invalid trace {tr.id}: expected numeric samples. Received dtype {tr.data.dtype}.")
    if tr.stats.npts == 0 or tr.data.size == 0:
        raise ValueError(f"Invalid trace {tr.id}: it has zero samples ({tr.stats.starttime}).")
    if not tr.stats.sampling_rate > 0:
        raise ValueError(f"Invalid trace {tr.id}: expected a positive sampling rate. "
                         f"Received {tr.stats.sampling_rate}.")
    if np.issubdtype(tr.data.dtype, np.floating):
        bad = ~np.isfinite(np.ma.getdata(tr.data)) & ~np.ma.getmaskarray(tr.data)
        if bad.any():
            raise ValueError(
                f"Invalid trace {tr.id}: {int(bad.sum())} NaN or inf sample(s), first at index "
                f"{int(np.argmax(bad))} ({tr.stats.starttime + np.argmax(bad) * tr.stats.delta}). "
                "Mask them (numpy.ma.masked_invalid) to treat them as gaps, or remove them."
            )


def _merge_groups(st, report):
    """Merge traces per (id, sampling rate); return the list of merged traces in input order."""
    groups = {}
    for tr in st:
        groups.setdefault((tr.id, float(tr.stats.sampling_rate)), []).append(tr)
    rates = {}
    for (tid, rate) in groups:
        rates.setdefault(tid, []).append(rate)
    for tid, rs in rates.items():
        if len(rs) > 1:
            report.append(f"{tid}: traces at several sampling rates {rs} Hz are kept as separate traces")
    merged = []
    for (tid, rate), trs in groups.items():
        if len(trs) == 1:
            merged.append(trs[0])
            continue
        sub = obspy.Stream([t.copy() for t in trs])
        for t in sub:
            if not np.issubdtype(t.data.dtype, np.float64):
                t.data = t.data.astype(np.float64)
        overlaps = [g for g in sub.get_gaps() if g[6] < 0]
        try:
            sub.merge(method=1, fill_value=None)
        except Exception as exc:  # ObsPy raises bare Exception for e.g. differing calib
            raise ValueError(f"Cannot merge the {len(trs)} traces of {tid}: {exc}") from exc
        tr = sub[0]
        if overlaps:
            msg = (f"{tid}: {len(overlaps)} overlap(s) ({sum(-g[7] for g in overlaps)} samples) merged with "
                   "ObsPy merge(method=1): in each overlap the later trace's samples are kept")
            report.append(msg)
            warnings.warn(msg, UserWarning, stacklevel=3)
            _note(tr, f"geokeras: {msg}")
        merged.append(tr)
    return merged


class _SegmentRunner:
    """Windows of many segments share the calls of ``fn``: few, full batches even on gappy streams.

    Each segment is resampled to the model rate and windowed when added; the windows are run through
    ``fn`` (`map_batches`) when enough are pending (or at the end), then every finished segment is
    stitched, resampled back to its native rate and cut to its native length.
    """

    def __init__(self, fn, window_length, model_rate, overlap, batch_size, max_denominator, progress):
        self.fn, self.L, self.rate, self.overlap = fn, int(window_length), float(model_rate), overlap
        self.batch_size, self.max_denominator, self.progress = batch_size, max_denominator, progress
        self.flush_at = max(int(batch_size) * 16, 1)
        self.pending, self.windows, self.n_windows = [], [], 0

    def add(self, x, native_rate, out):
        """Queue segment ``x`` (float64, native rate); its result is written into ``out`` (same length)."""
        up, down = resample_ratio(native_rate, self.rate, self.max_denominator)
        xm = x if up == down else _resample(x, up, down)
        w, starts = sliding_windows(xm.astype(np.float32), self.L, self.overlap)
        self.pending.append((starts, xm.size, up, down, out))
        self.windows.append(w)
        self.n_windows += len(w)
        if self.n_windows >= self.flush_at:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        y_all = map_batches(self.fn, np.concatenate(self.windows), self.batch_size)
        i = 0
        for starts, m, up, down, out in self.pending:
            ym = stitch(y_all[i:i + len(starts)], starts, m)
            i += len(starts)
            if up == down:
                out[:] = ym
            else:
                y = _resample(ym.astype(np.float64), down, up)
                out[:] = y[:out.size]  # ceil lengths: y is never shorter than the native segment
        if self.progress is not None:
            self.progress.update(len(self.pending))
        self.pending, self.windows, self.n_windows = [], [], 0


def apply_to_stream(stream, fn, window_length, sampling_rate, overlap=0.5, batch_size=256, progress=False,
                    return_report=False, max_denominator=1000):
    """Apply ``fn`` window by window to every trace of a Stream and return a Stream just like the input.

    See the module docstring for what happens to each kind of input (merging, gaps, resampling,
    short and degenerate segments, errors).

    Args:
        stream: ``obspy.Stream`` or ``obspy.Trace`` (not modified).
        fn: callable mapping a float32 array ``(k, window_length)`` to the same shape (a trailing
            axis of 1 in the output is accepted), e.g.
            ``lambda b: model.predict(b[..., None], verbose=0)``.
        window_length: samples per window at ``sampling_rate``.
        sampling_rate: the rate ``fn`` expects (the model's rate), Hz.
        overlap: window overlap fraction in ``[0, 1)``.
        batch_size: windows per call of ``fn``; windows of different segments and traces share
            batches, so a gappy stream costs few calls.
        progress: show a tqdm progress bar over segments.
        return_report: also return the list of notes (repairs) as strings.
        max_denominator: largest ``down`` factor of the rational resampling ratio.

    Returns:
        ``obspy.Stream`` (and the report list when ``return_report``).

    Raises:
        ValueError: for the bad inputs listed in the module docstring.

    Example:
        >>> import obspy
        >>> st = obspy.read()  # 3 traces, 100 Hz, 3000 samples
        >>> out = apply_to_stream(st, lambda b: b, window_length=1000, sampling_rate=100.0)
        >>> [(tr.id, tr.stats.npts, str(tr.data.dtype)) for tr in out][:1]
        [('BW.RJOB..EHZ', 3000, 'float32')]
        >>> bool(np.allclose(out[0].data, st[0].data, rtol=1e-6, atol=1e-3))
        True
    """
    from tqdm.auto import tqdm

    if not (np.isfinite(sampling_rate) and sampling_rate > 0):
        raise ValueError(f"Invalid value for argument `sampling_rate`. Expected a positive number. "
                         f"Received sampling_rate={sampling_rate!r}.")
    st = _as_stream(stream)
    if len(st) == 0:
        raise ValueError("Invalid value for argument `stream`. Expected at least one trace. Received an empty Stream.")
    for tr in st:
        _validate(tr)
    report = []
    merged = _merge_groups(st, report)
    call = (f"geokeras: apply_to_stream(fn={getattr(fn, '__name__', type(fn).__name__)}, window_length={window_length}, "
            f"sampling_rate={float(sampling_rate)}, overlap={overlap})")
    jobs = []
    for tr in merged:
        up, down = resample_ratio(tr.stats.sampling_rate, sampling_rate, max_denominator)
        effective = tr.stats.sampling_rate * up / down
        if abs(effective - sampling_rate) > 1e-9 * sampling_rate:
            note = (f"{tr.id}: {tr.stats.sampling_rate} Hz resampled by {up}/{down} to {effective:.6g} Hz, "
                    f"not exactly {float(sampling_rate)} Hz (raise `max_denominator` for a closer ratio)")
            report.append(note)
            _note(tr, f"geokeras: {note}")
        mask = np.ma.getmaskarray(tr.data)
        jobs.extend((tr, a, b) for a, b in segments(mask))
    outputs = {id(tr): np.zeros(tr.stats.npts, dtype=np.float32) for tr in merged}
    bar = tqdm(total=len(jobs), disable=not progress, desc="segments", unit="seg")
    runner = _SegmentRunner(fn, window_length, sampling_rate, overlap, batch_size, max_denominator, bar)
    for tr, a, b in jobs:
        x = np.asarray(np.ma.getdata(tr.data)[a:b], dtype=np.float64)
        where = f"{tr.id} samples {a}:{b} ({tr.stats.starttime + a * tr.stats.delta})"
        note = None
        if x.size == 1:
            note = f"{where}: 1-sample segment passed through unchanged"
        elif np.all(x == x[0]):
            note = f"{where}: constant segment (value {x[0]:g}) passed through unchanged"
        if note:
            outputs[id(tr)][a:b] = x
            report.append(note)
            _note(tr, f"geokeras: {note}")
            bar.update(1)
        else:
            runner.add(x, tr.stats.sampling_rate, outputs[id(tr)][a:b])
    runner.flush()
    bar.close()
    out = obspy.Stream()
    for tr in merged:
        mask = np.ma.getmaskarray(tr.data)
        tr.data = np.ma.masked_array(outputs[id(tr)], mask=mask) if mask.any() else outputs[id(tr)]
        _note(tr, call)
        out.append(tr)
    return (out, report) if return_report else out
