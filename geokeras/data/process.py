"""Apply a window-to-window function (a model) to every trace of an ObsPy Stream, losing nothing.

`apply_to_stream` is what `geokeras.denoise` runs. Its contract, for each input trace:

================================  ===========================================================
Input                             What happens
================================  ===========================================================
Stream / Trace                    worked on a copy; the input is never modified
empty Stream                      ValueError
header npts != number of samples  TraceError naming the trace (a truncated file)
zero-length trace                 `~geokeras.errors.TraceError` naming the trace; with
                                  ``on_error="skip"`` the trace is left out and reported, the
                                  other traces are processed
NaN or inf sample (unmasked)      TraceError naming the trace, the count and the first index
                                  (skipped likewise with ``on_error="skip"``)
non-numeric data (e.g. text)      TraceError naming the trace
traces of one id, with gaps       merged (ObsPy ``merge(method=1, fill_value=None)``): one trace
                                  whose gaps are masked; each gap-free segment is processed
                                  separately and masked samples stay masked (never filled)
overlapping traces of one id      merged the same way (ObsPy method=1: in the overlap the later
                                  trace's samples are kept); reported with a UserWarning, in the
                                  report and in ``stats.processing``
traces of one id that ObsPy       (e.g. differing ``calib``) TraceError naming the id
cannot merge
one id at several sampling rates  not merged: one output trace per rate, each processed at its
                                  own rate (noted in the report)
rate outside ``rate_range``       `~geokeras.errors.OutOfBandError` naming the id and rate
                                  (``out_of_band="refuse"``, skipped with ``on_error="skip"``),
                                  or passed through unchanged with a UserWarning and a note
                                  (``out_of_band="passthrough"``)
any native sampling rate          each segment is resampled to ``sampling_rate`` with
                                  ``scipy.signal.resample_poly`` (rational factor from
                                  ``fractions.Fraction.limit_denominator``), processed, resampled
                                  back and cut to exactly its native number of samples: the
                                  output has the input's rate, start time and npts; a ratio
                                  that is not exact (e.g. 99.99 Hz -> 100 Hz) is noted
segment shorter than a window     zero-padded to one window (see `geokeras.data.windows`), the
                                  output is cut back to the segment's length
1-sample segment                  passed through unchanged (no window can be made), noted;
                                  with ``detrend=True``: output 0 (its mean), noted
constant segment (e.g. all-zero)  passed through unchanged (nothing to process), noted;
                                  with ``detrend=True``: output zeros, noted
int32 (or other integer) counts   processed as float64; the output is float32
``fn`` output NaN or inf, or      TraceError naming the trace (skipped likewise with
beyond float32's range            ``on_error="skip"``: the other traces are kept)
any amplitude (1e-20, 1e30)       with ``scale_windows=True`` (the denoise path), each window
                                  is scaled by a power of two before ``fn`` and back after
================================  ===========================================================

Fidelity options (`geokeras.denoise` turns both on):

Both act per window and are causal (`window_frames`, the one definition shared with
`geokeras.stream.StreamingDenoiser` and the SavedModel's ``denoise_trace``): a window depends on no sample
after its end, so a stream with a fixed delay gives the same output as this batch path.

- ``detrend=True``: each window loses the least-squares line (mean and linear trend) of its segment's
  samples from the segment's start up to the window's end (the "prefix line"; the last window, aligned to
  the segment's end, loses the whole segment's line; a segment shorter than one window is detrended whole
  and zero-padded). Offsets and trends are not signal, and a step from an offset to the zero padding of a
  window would be an invented arrival. A segment at another rate than ``sampling_rate`` first loses its
  whole mean and trend at its native rate (closed form, `detrend`), since the resampler pads with zeros.
- ``clip=c``: each window's output is clipped to ``+-c`` times that window's input peak (the smaller of its
  peak about the prefix mean and about the prefix line) before the windows are stitched, so no output
  sample exceeds ``c`` times the peak of the windows that cover it, whatever ``fn`` does; a segment at
  another rate is also clipped, once resampled back, at ``c`` times its whole demeaned (and detrended) peak,
  as the resampler may overshoot.

Both are odd functions of the input, as is the rest of the path (resampling, windowing, stitching):
``apply_to_stream(-x, fn)`` is ``-apply_to_stream(x, fn)`` whenever ``fn`` is odd.

Output: one trace per (id, sampling rate), in order of first appearance, with the merged input's
stats (every header kept), ``npts``, start time and gap mask, float32 data (a masked array when
there are gaps), and exactly one ``stats.processing`` entry for the call, which carries the repairs
made to that trace (``"...; notes: ..."``). With ``return_noise=True`` a second Stream holds
``input - output`` per trace (same headers and gaps): what was removed.
"""
import dataclasses
import warnings
from fractions import Fraction

import numpy as np
import obspy

from geokeras.validation import check_bool, check_choice, check_number, check_positive_int
from geokeras.data.windows import Windowing, map_batches, scale_to_unit_peak, stitch
from geokeras.errors import NothingToProcessError, OutOfBandError, TraceError

__all__ = ["apply_to_stream", "PrefixLine", "Report", "detrend", "resample_ratio", "segments", "window_frames"]

NOTES_SEPARATOR = "; notes: "  # processing line + NOTES_SEPARATOR + the repairs made to that trace
RESIDUAL_NOTE = "; residual: input - output"  # ends the processing line of a noise estimate


@dataclasses.dataclass
class Report:
    """What `apply_to_stream` repaired and what it left out.

    Attributes:
        notes: one line per repair (merged overlaps, inexact resampling ratios, degenerate segments,
            traces passed through out of band), each starting with the trace id.
        skipped: the `~geokeras.errors.TraceError` of each trace left out (``on_error="skip"``).
    """

    notes: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)


def _checked_arguments(window_length, overlap, sampling_rate, batch_size, chunk_samples, detrend, clip, on_error,
                       out_of_band, rate_range):
    """`apply_to_stream`'s options checked: ``(windowing, sampling_rate, batch_size, chunk_samples, detrend,
    clip, rate_range)``."""
    windowing = Windowing(window_length, overlap)
    sampling_rate = check_number("sampling_rate", sampling_rate, low=0.0, low_open=True)
    batch_size = check_positive_int("batch_size", batch_size)
    chunk_samples = check_positive_int("chunk_samples", chunk_samples)
    detrend = check_bool("detrend", detrend)
    if clip is not None:
        clip = check_number("clip", clip, low=0.0, low_open=True)
    check_choice("on_error", on_error, ("raise", "skip"))
    check_choice("out_of_band", out_of_band, ("refuse", "passthrough"))
    if rate_range is not None:
        rate_range = tuple(check_number("rate_range", r, low=0.0, low_open=True) for r in rate_range)
    return windowing, sampling_rate, batch_size, chunk_samples, detrend, clip, rate_range


def _as_stream(stream):
    """A new Stream of new Traces with copied headers that share the input's samples (only read here)."""
    # the header's npts is kept as read: `_check_trace` refuses a trace whose header and samples disagree
    if isinstance(stream, obspy.Trace):
        return obspy.Stream([_with_data(stream, stream.data, stream.stats.npts)])
    if isinstance(stream, obspy.Stream):
        if len(stream) == 0:
            raise ValueError("Invalid value for argument `stream`. Expected at least one trace. Received an empty "
                             "Stream.")
        return obspy.Stream([_with_data(tr, tr.data, tr.stats.npts) for tr in stream])
    raise TypeError(f"Invalid value for argument `stream`. Expected an obspy.Stream or obspy.Trace. "
                    f"Received {type(stream).__name__}.")


def _with_data(tr, data, npts=None):
    """A new Trace with a copy of ``tr``'s headers and the samples ``data`` (not copied); ``npts`` (default:
    the number of samples) goes into its header."""
    out = obspy.Trace(data=data)
    out.stats = tr.stats.copy()
    out.stats.npts = len(data) if npts is None else npts
    return out


def resample_ratio(native_rate, model_rate, max_denominator=1000):
    """``(up, down)`` integers with ``native_rate * up / down ~= model_rate``.

    Example:
        >>> resample_ratio(250.0, 100.0), resample_ratio(40.0, 100.0), resample_ratio(100.0, 100.0)
        ((2, 5), (5, 2), (1, 1))
    """
    frac = Fraction(float(model_rate) / float(native_rate)).limit_denominator(max_denominator)
    return frac.numerator, frac.denominator


def _resample(x, up, down, padtype):
    """``resample_poly`` by ``up/down`` (edge padding for 1 sample, where a line is undefined and gives NaN)."""
    from scipy import signal as sps  # imported here: 0.7 s of start-up for every process that never resamples

    return sps.resample_poly(x, up, down, padtype=padtype if x.size > 1 else "edge")


def detrend(x):
    """Remove the mean and the least-squares linear trend of a 1-D array (float64), exactly odd in ``x``.

    The same result as ``scipy.signal.detrend(x, type="linear")`` up to rounding, in closed form so that
    ``detrend(-x) == -detrend(x)`` holds bit for bit.

    Example:
        >>> detrend(np.array([1.0, 3.0, 5.0, 8.0])).round(3).tolist()
        [0.2, -0.1, -0.4, 0.3]
    """
    x = np.asarray(x, dtype=np.float64)
    xc = x - np.mean(x)
    if x.size < 2:
        return xc
    t = np.arange(x.size, dtype=np.float64) - (x.size - 1) / 2.0
    return xc - t * (np.dot(t, xc) / np.dot(t, t))


def segments(mask):
    """``[(start, stop), ...]`` of the runs of False in a boolean mask (the unmasked segments), from
    ``numpy.ma.clump_unmasked``.

    Example:
        >>> segments(np.array([False, False, True, False]))
        [(0, 2), (3, 4)]
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return []
    if not mask.any():  # a gap-free trace (the common case): no float64 array of its length
        return [(0, int(mask.size))]
    return [(int(s.start), int(s.stop)) for s in np.ma.clump_unmasked(np.ma.masked_array(np.zeros(mask.size), mask))]


def _check_trace(tr):
    """Raise `TraceError` for a trace that cannot be processed."""
    if not (np.issubdtype(tr.data.dtype, np.integer) or np.issubdtype(tr.data.dtype, np.floating)):
        raise TraceError(tr.id, f"expected numeric samples. Received dtype {tr.data.dtype}.")
    if tr.stats.npts == 0 or tr.data.size == 0:
        raise TraceError(tr.id, f"it has zero samples ({tr.stats.starttime}).")
    if tr.stats.npts != tr.data.size:  # ObsPy keeps them equal; a reader of a damaged file may not
        raise TraceError(tr.id, f"its header says {tr.stats.npts} samples but it holds {tr.data.size} (a truncated "
                                "or inconsistent file).")
    if not tr.stats.sampling_rate > 0:
        raise TraceError(tr.id, f"expected a positive sampling rate. Received {tr.stats.sampling_rate}.")
    if np.issubdtype(tr.data.dtype, np.floating):
        bad = ~np.isfinite(np.ma.getdata(tr.data)) & ~np.ma.getmaskarray(tr.data)
        if bad.any():
            first = int(np.argmax(bad))
            raise TraceError(
                tr.id, f"{int(bad.sum())} NaN or inf sample(s), first at index {first} "
                f"({tr.stats.starttime + first * tr.stats.delta}). Mask them (numpy.ma.masked_invalid) to treat "
                "them as gaps, or remove them."
            )


def _merge_groups(st, notes):
    """Merge traces per (id, sampling rate); return ``[(trace, notes), ...]`` in input order."""
    groups = {}
    for tr in st:
        groups.setdefault((tr.id, float(tr.stats.sampling_rate)), []).append(tr)
    rates = {}
    for (tid, rate) in groups:
        rates.setdefault(tid, []).append(rate)
    for tid, rs in rates.items():
        if len(rs) > 1:
            notes.append(f"{tid}: traces at several sampling rates {rs} Hz are kept as separate traces")
    merged = []
    for (tid, rate), trs in groups.items():
        if len(trs) == 1:
            merged.append((trs[0], []))
            continue
        common = np.result_type(*[t.data.dtype for t in trs])  # ObsPy merges one dtype (int + float: float64)
        sub = obspy.Stream([_with_data(t, t.data.astype(common)) for t in trs])
        overlaps = [g for g in sub.get_gaps() if g[6] < 0]
        try:
            sub.merge(method=1, fill_value=None)
        except Exception as exc:  # ObsPy raises a bare Exception for e.g. differing calib
            raise TraceError(tid, f"cannot merge its {len(trs)} traces: {exc}") from exc
        own = []
        if overlaps:
            msg = (f"{tid}: {len(overlaps)} overlap(s) ({sum(-g[7] for g in overlaps)} samples) merged with "
                   "ObsPy merge(method=1): in each overlap the later trace's samples are kept")
            notes.append(msg)
            own.append(msg)
            warnings.warn(msg, UserWarning, stacklevel=4)  # the caller of apply_to_stream
        merged.append((sub[0], own))
    return merged


CHUNK_SAMPLES = 2 ** 19  # native samples per piece of a long segment: what bounds the memory of a long record
PENDING_SAMPLES = 2 ** 22  # window samples queued for ``fn`` before they run (at least one batch)


@dataclasses.dataclass(frozen=True)
class _Trend:
    """The whole-segment mean and linear trend's slope of a segment at its native rate, from a first cheap
    pass over chunks (`_trend`): what a segment at another rate than the model's loses before it is resampled
    (the resampler pads with zeros); and the bound its output is clipped at once resampled back (None: no
    clip), ``clip`` x its whole demeaned and detrended peak, since the resampler may overshoot the windows'."""

    n: int
    mean: float
    slope: float
    bound: float = None

    def samples(self, x, a, b):
        """Samples ``a:b`` of the segment ``x`` detrended (float64): the slice of `detrend` of the whole
        segment, to float rounding."""
        xc = np.asarray(x[a:b], dtype=np.float64) - self.mean
        if self.n < 2:
            return xc
        return xc - (np.arange(a, b, dtype=np.float64) - (self.n - 1) / 2.0) * self.slope


def _trend(x, chunk, clip=None):
    """`_Trend` of segment ``x`` computed over chunks of ``chunk`` samples (float64 one chunk at a time)."""
    n = x.size
    spans = [(a, min(n, a + chunk)) for a in range(0, n, chunk)]
    mean = sum(np.sum(np.asarray(x[a:b], dtype=np.float64)) for a, b in spans) / n
    slope = 0.0
    if n >= 2:
        half = (n - 1) / 2.0
        tx = tt = 0.0
        for a, b in spans:
            t = np.arange(a, b, dtype=np.float64) - half
            tx += np.dot(t, np.asarray(x[a:b], dtype=np.float64) - mean)
            tt += np.dot(t, t)
        slope = tx / tt
    trend = _Trend(n, mean, slope)
    if clip is None:
        return trend
    demeaned = max(float(np.max(np.abs(np.asarray(x[a:b], dtype=np.float64) - mean))) for a, b in spans)
    detrended = max(float(np.max(np.abs(trend.samples(x, a, b)))) for a, b in spans)
    return dataclasses.replace(trend, bound=clip * min(demeaned, detrended))


class PrefixLine:
    """Running sums of a gap-free segment, for the least-squares line of its first ``e`` samples.

    The sums are of ``x_i - x0`` and ``i (x_i - x0)`` (``x0`` the segment's first sample: no cancellation on a
    large offset), float64, from the segment's start up to `pos`; `window_frames` reads them at each
    window's end. Both the batch path (`apply_to_stream`) and `geokeras.stream.StreamingDenoiser` keep one per
    segment, so both compute the same lines whatever the pieces or packets.
    """

    def __init__(self):
        self.x0, self.pos, self.s1, self.s2 = None, 0, 0.0, 0.0

    def sums_at(self, x, offset, ends, advance_to=None):
        """``(S1, S2)`` at each of ``ends`` (each ``>= pos``), then the state moved to ``advance_to``
        (default: the last end). ``x`` holds the samples ``[offset, offset + len(x))`` of the segment,
        ``offset <= pos`` and ``max(ends) <= offset + len(x)``."""
        if self.x0 is None:
            self.x0 = float(x[0])
        ends = np.asarray(ends, dtype=np.int64)
        top = int(ends.max())
        y = np.asarray(x[self.pos - offset:top - offset], dtype=np.float64) - self.x0
        c1 = np.concatenate([[self.s1], self.s1 + np.cumsum(y)])
        c2 = np.concatenate([[self.s2], self.s2 + np.cumsum(np.arange(self.pos, top, dtype=np.float64) * y)])
        s1, s2 = c1[ends - self.pos], c2[ends - self.pos]
        to = top if advance_to is None else int(advance_to)
        self.s1, self.s2, self.pos = float(c1[to - self.pos]), float(c2[to - self.pos]), to
        return s1, s2


FRAME_BLOCK = 64  # windows per block of `window_frames` (bounds its float64 temporaries)


def window_frames(x, offset, starts, ends, window_length, prefix, clip=None, detrend=True, advance_to=None):
    """What the model sees of each window of a gap-free segment, and the window's clip bound.

    This is the one definition of the denoise path, used by `apply_to_stream` (``detrend=True``), by
    `geokeras.stream.StreamingDenoiser` and, in TensorFlow ops, by the ``denoise_trace`` signature of
    `geokeras.export`. It is causal: a window depends on no sample after its end, so a stream with a fixed
    delay computes exactly what the batch path computes. For window ``j`` (``starts[j]``, ``ends[j] =
    min(starts[j] + L, n)``):

    - it loses the least-squares line of the segment's samples ``[0, ends[j])`` (the "prefix line": from the
      segment's start to the window's end; on the last window, aligned to the segment's end, the whole
      segment's line); without ``detrend`` it is the samples as they are; samples past the segment's end (a
      segment shorter than one window) are zeros;
    - its output is to be clipped at ``clip`` times its input peak, the smaller of its peak about the prefix
      mean and about the prefix line (about the prefix mean alone without ``detrend``): a denoiser may
      remove signal, never invent it.

    Args:
        x: float samples ``[offset, offset + len(x))`` of the segment (every window's and the prefix's
            samples not yet summed).
        offset: index of ``x[0]`` in the segment.
        starts, ends: int arrays ``(k,)``.
        window_length: ``L``.
        prefix: the segment's `PrefixLine` (advanced here).
        clip: the clip factor, or None (bounds are then inf).
        advance_to: where `PrefixLine.sums_at` leaves the sums (default: the last end).

    Returns:
        ``(rows, bounds)``: float64 ``(k, L)`` and ``(k,)``.

    Example:
        >>> rows, bounds = window_frames(np.arange(6.0) ** 2, 0, np.array([0, 2]), np.array([4, 6]), 4,
        ...                              PrefixLine(), clip=1.1)
        >>> rows.round(2).tolist(), bounds.round(2).tolist()
        ([[1.0, -1.0, -1.0, 1.0], [-2.67, -2.67, -0.67, 3.33]], [1.1, 3.67])
    """
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    s1, s2 = prefix.sums_at(x, offset, ends, advance_to)
    e = ends.astype(np.float64)
    mean, tbar = s1 / e, (e - 1.0) / 2.0
    slope = np.zeros_like(e)
    np.divide(s2 - tbar * s1, e * (e * e - 1.0) / 12.0, out=slope, where=e > 1)
    L = int(window_length)
    rows, bounds = np.empty((starts.size, L)), np.full(starts.size, np.inf)
    x = np.asarray(x)
    for i in range(0, starts.size, FRAME_BLOCK):
        blk = slice(i, i + FRAME_BLOCK)
        if np.all(ends[blk] - starts[blk] == L):  # full windows (all but a segment's last): no masking
            _full_frames(x, offset, starts[blk], L, prefix.x0, mean[blk], slope[blk], tbar[blk], clip, detrend,
                         rows[blk], bounds[blk])
            continue
        t = starts[blk, None] + np.arange(L)
        valid = t < ends[blk, None]
        raw = np.where(valid, x[np.minimum(t, ends[blk, None] - 1) - offset], 0.0)
        about_mean = raw - prefix.x0 - mean[blk, None]
        if detrend:
            rows[blk] = np.where(valid, about_mean - slope[blk, None] * (t - tbar[blk, None]), 0.0)
        else:
            rows[blk] = raw
        if clip is not None:
            peak = np.max(np.abs(np.where(valid, about_mean, 0.0)), axis=1)
            if detrend:
                peak = np.minimum(peak, np.max(np.abs(rows[blk]), axis=1))
            bounds[blk] = clip * peak
    return rows, bounds


def _full_frames(x, offset, starts, L, x0, mean, slope, tbar, clip, detrend, rows, bounds):
    """`window_frames` of a block of windows that all lie inside the segment, written into ``rows`` and
    ``bounds``: the same operations on the same values in the same order (so the same bits), without the
    masks, index clipping and selections that windows past the segment's end need."""
    raw = np.lib.stride_tricks.sliding_window_view(x, L)[starts - offset]
    raw = raw.astype(np.result_type(raw.dtype, 0.0), copy=False)  # the dtype of `np.where(valid, raw, 0.0)`
    if not detrend:
        rows[:] = raw
        if clip is None:
            return
    about_mean = raw - x0
    if about_mean.dtype == np.float64:
        about_mean -= mean[:, None]
    else:  # float32 samples: the difference with the float64 mean is float64
        about_mean = about_mean - mean[:, None]
    if detrend:
        t = starts[:, None].astype(np.float64) + np.arange(L, dtype=np.float64)  # exact: integers below 2**53
        t -= tbar[:, None]
        t *= slope[:, None]
        np.subtract(about_mean, t, out=rows)
    if clip is not None:
        peak = np.max(np.abs(about_mean), axis=1)
        if detrend:
            peak = np.minimum(peak, np.max(np.abs(rows), axis=1))
        bounds[:] = clip * peak


def _resampled_length(n, up, down):
    """``resample_poly``'s output length for ``n`` samples."""
    return n if up == down else -(-n * up // down)


def _margin(up, down):
    """Samples at the rate ``native * up`` that reach past a piece's edge through ``resample_poly``'s
    filter (``10 * max(up, down)`` each side), doubled."""
    return 2 * (11 * max(up, down) + 1)


@dataclasses.dataclass(frozen=True)
class _Piece:
    """What one piece of a segment needs: native output samples ``a:b``, from the model-rate samples
    ``ka:kb`` (stitched from windows ``j0:j1``; ``ka`` a multiple of ``up`` when resampling)."""

    a: int
    b: int
    ka: int
    kb: int
    j0: int
    j1: int


def _pieces(n, up, down, windowing, chunk, resamplable=True):
    """The `_Piece` s of an ``n``-sample segment resampled by ``up/down``: one piece (the whole segment)
    when it is at most ``chunk`` samples long, else pieces of ``chunk`` native samples whose windows are
    those of the whole segment (a window across a boundary runs in both pieces)."""
    m = _resampled_length(n, up, down)
    starts = windowing.starts(m)
    L = windowing.window_length
    if n <= chunk or m < 2 * L or not resamplable:
        return starts, [_Piece(0, n, 0, m, 0, len(starts))]
    margin = _margin(up, down)
    pieces = []
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        if up == down:
            ka, kb = a, b
        else:
            ka = max(0, a * up // down - margin // down - 2)
            ka -= ka % up
            kb = min(m, -(-b * up // down) + margin // down + 2)
        j0 = int(np.searchsorted(starts + L, ka, side="right"))
        j1 = int(np.searchsorted(starts, kb, side="left"))
        pieces.append(_Piece(a, b, ka, kb, j0, j1))
    return starts, pieces


class _SegmentRunner:
    """Windows of many segments share the calls of ``fn``: few, full batches even on gappy streams.

    A segment is cut into pieces (`_pieces`: one for a segment of at most ``chunk`` samples); each piece is
    brought to the model rate and framed when added (`window_frames`: each window loses its prefix line and
    gets its clip bound; the segment's `PrefixLine` carries the sums from piece to piece). A segment at
    another rate first loses its whole mean and trend at its native rate (`_trend`, a first cheap pass:
    the resampler pads with zeros). The windows run through ``fn`` (`map_batches`, the one batching loop)
    when enough are pending (or at the end); then each window's output is clipped at its bound and every
    finished piece is stitched, resampled back and cut to its native samples. Memory holds a few pieces,
    whatever the length of the record.
    """

    def __init__(self, fn, windowing, model_rate, batch_size, max_denominator, detrend, clip, progress, total,
                 scale_windows=False, chunk=CHUNK_SAMPLES):
        self.fn, self.windowing, self.rate = fn, windowing, float(model_rate)
        self.batch_size, self.max_denominator = batch_size, max_denominator
        self.detrend, self.clip, self.chunk, self.scale_windows = detrend, clip, chunk, scale_windows
        self.padtype = "constant" if detrend else "line"  # zero padding is odd and fits a zero-mean segment
        self.progress, self.total, self.done = progress, total, 0
        self.flush_at = max(int(batch_size), min(16 * int(batch_size), PENDING_SAMPLES // windowing.window_length))
        self.pending, self.windows, self.exponents, self.n_windows = [], None, [], 0
        self.failed = {}  # key of a segment's trace -> why its output is unusable
        self.pool = self.sent = None  # the model's thread; the windows in it (`flush`)
        # the buffer of windows the model finished last, filled again by `_append_windows` (fresh pages of tens of
        # MB cost more to touch first than the windows cost to copy)
        self.spare = None

    def add(self, x, native_rate, out, key=None):
        """Queue segment ``x`` (any real dtype, native rate); its result is written into ``out`` (same length).

        ``key`` names the segment's trace in `failed` when ``fn``'s output for it is not finite."""
        up, down = resample_ratio(native_rate, self.rate, self.max_denominator)
        trend = _trend(x, self.chunk, self.clip) if up != down and self.detrend else None
        # padtype "line" fits a line to the whole input: only zero padding can be resampled piece by piece
        starts, pieces = _pieces(x.size, up, down, self.windowing, self.chunk, up == down or self.detrend)
        m, L, prefix = _resampled_length(x.size, up, down), self.windowing.window_length, PrefixLine()
        for i, piece in enumerate(pieces):
            xm = self._model_rate(x, trend, up, down, starts, piece)
            s = starts[piece.j0:piece.j1]
            nxt = starts[pieces[i + 1].j0] if i + 1 < len(pieces) else None
            w, bounds = window_frames(xm, int(s[0]), s, np.minimum(s + L, m), L, prefix, self.clip, self.detrend, nxt)
            exponents = np.zeros(len(w), dtype=np.int32)
            if self.scale_windows:  # exact, far from float32's limits (undone in `flush`)
                w, exponents = scale_to_unit_peak(w)
            self.pending.append((piece, starts, up, down, out, (bounds, trend and trend.bound), key))
            self._append_windows(w)
            self.exponents.append(exponents)
            if self.n_windows >= self.flush_at:
                self.flush()

    def _model_rate(self, x, trend, up, down, starts, piece):
        """The model-rate samples under the piece's windows (from ``starts[j0]``; float64)."""
        def native(a, b):
            return np.asarray(x[a:b], dtype=np.float64) if trend is None else trend.samples(x, a, b)

        m = _resampled_length(x.size, up, down)
        sa, sb = int(starts[piece.j0]), min(m, int(starts[piece.j1 - 1]) + self.windowing.window_length)
        if up == down:
            return native(sa, sb)
        if sa == 0 and sb == m:  # the whole segment
            return _resample(native(0, x.size), up, down, self.padtype)
        margin = _margin(up, down)
        a = max(0, sa * down // up - margin // up - 2)
        a -= a % down  # native sample a lands on model sample a * up / down: the same filter phases
        b = min(x.size, -(-sb * down // up) + margin // up + 2)
        y = _resample(native(a, b), up, down, self.padtype)
        return y[sa - a // down * up:sb - a // down * up]

    def _advance(self, rows, _):
        if self.progress is not None:
            self.progress(self.done + rows, self.total)

    def _append_windows(self, w):
        """Add windows (float64) to the pending ones, as float32, in one buffer (sent to the model as it is)."""
        k, n = len(w), self.n_windows
        spare = self.spare
        if self.windows is None and spare is not None and len(spare) >= k and spare.shape[1] == w.shape[1]:
            self.windows, self.spare = spare, None  # the buffer of the windows finished last: no new pages
        if self.windows is None or n + k > len(self.windows):
            grown = np.empty((max(self.flush_at, n) + k, w.shape[1]), np.float32)  # room for one more piece
            if n:
                grown[:n] = self.windows[:n]
            self.windows = grown
        self.windows[n:n + k] = w  # float64 -> float32 as astype rounds
        self.n_windows = n + k

    def _model(self, windows):
        y = map_batches(self.fn, windows, self.batch_size, progress=self._advance,
                        check_finite=False)  # checked per segment in `_finish`: a bad trace is named, not the run
        self.done += len(y)
        return y

    def flush(self):
        """Send the pending windows to ``fn``: in the model's thread, while this one frames the next windows (at
        most one batch of windows in the model and one pending: `PENDING_SAMPLES` bounds both); the windows sent
        before are finished meanwhile. The same calls of ``fn`` on the same windows as one after the other."""
        if not self.pending:
            return
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geokeras-model")
        sent = (self.pool.submit(self._model, self.windows[:self.n_windows]), self.pending,
                np.concatenate(self.exponents), self.windows)
        self.pending, self.windows, self.exponents, self.n_windows = [], None, [], 0
        self._complete()
        self.sent = sent

    def close(self):
        """Run and finish every window left."""
        self.flush()
        self.spare = None  # no more windows: not kept while the outputs are finished (the peak of memory)
        self._complete()
        self.spare = None

    def shutdown(self):
        """End the model's thread (after the call under way, if any; what is left is dropped)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool, self.sent = None, None

    def _complete(self):
        """Finish the windows sent to the model last (wait for its outputs)."""
        if self.sent is None:
            return
        (future, pending, exponents, windows), self.sent = self.sent, None
        y_all = future.result()
        self.spare = windows  # the model is done with it
        i = 0
        for piece, starts, up, down, out, bounds, key in pending:
            k = piece.j1 - piece.j0
            y = y_all[i:i + k]
            if self.scale_windows:  # per piece: no float64 copy of every output at once
                y = np.ldexp(y.astype(np.float64), exponents[i:i + k, None])
            self._finish(piece, starts, up, down, out, bounds, y, key)
            i += k

    def _finish(self, piece, starts, up, down, out, bounds, y_win, key):
        """Clip a piece's window outputs at their bounds, stitch them, resample them back (clipped at the
        segment's bound) and write its samples into ``out`` (a piece whose outputs are not finite marks
        ``key`` in `failed`)."""
        bounds, native_bound = bounds
        if not np.all(np.isfinite(y_win)):
            self.failed.setdefault(key, "the model's output holds NaN or inf")
            return
        if self.clip is not None:
            y_win = np.clip(y_win, -bounds[:, None], bounds[:, None])
        s = starts[piece.j0:piece.j1]
        first = int(s[0])
        ym = stitch(y_win, s - first, piece.kb - first)[piece.ka - first:]
        if up == down:
            y = ym[piece.a - piece.ka:piece.b - piece.ka]
        else:  # never shorter than the piece (see `_pieces`)
            q = piece.ka // up * down
            y = _resample(ym.astype(np.float64), down, up, self.padtype)[piece.a - q:piece.b - q]
            if native_bound is not None:
                y = np.clip(y, -native_bound, native_bound)
        with np.errstate(over="ignore", invalid="ignore"):
            out[piece.a:piece.b] = y
        if not np.all(np.isfinite(out[piece.a:piece.b])):
            self.failed.setdefault(key, f"the output peak {np.max(np.abs(y)):.3g} exceeds float32's range")


def _windows_of(windowing, n, native_rate, model_rate, max_denominator, chunk, detrend):
    """Windows run for an ``n``-sample segment (those across piece boundaries count once per piece)."""
    up, down = resample_ratio(native_rate, model_rate, max_denominator)
    return sum(p.j1 - p.j0 for p in _pieces(n, up, down, windowing, chunk, up == down or detrend)[1])


def apply_to_stream(stream, fn, window_length, sampling_rate, overlap=0.5, batch_size=256, progress=None,
                    return_report=False, max_denominator=1000, detrend=False, clip=None, on_error="raise",
                    rate_range=None, out_of_band="refuse", return_noise=False, processing=None,
                   scale_windows=False, chunk_samples=CHUNK_SAMPLES):
    """Apply ``fn`` window by window to every trace of a Stream and return a Stream just like the input.

    See the module docstring for what happens to each kind of input (merging, gaps, resampling,
    short and degenerate segments, bad traces, errors).

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
        progress: None, or a callable ``progress(windows_done, windows_total)`` called after each batch.
        return_report: also return the `Report` (repairs and skipped traces).
        max_denominator: largest ``down`` factor of the rational resampling ratio.
        detrend: remove from each window its segment's prefix line before ``fn`` (see the module docstring).
        clip: None, or ``c > 0``: clip each window's output to ``c`` times its input peak (module docstring).
        on_error: ``"raise"`` (default) raises the first `~geokeras.errors.TraceError`; ``"skip"`` leaves
            bad traces out and lists their errors in ``Report.skipped`` (ValueError if none is left).
        rate_range: None, or ``(low, high)`` in Hz: the native sampling rates ``fn`` is valid for.
        out_of_band: what happens to a trace outside ``rate_range``: ``"refuse"`` (an
            `~geokeras.errors.OutOfBandError`, subject to ``on_error``) or ``"passthrough"``.
        return_noise: also return the Stream ``input - output`` (same headers, gaps kept): what was removed,
            the noise estimate of a denoiser.
        processing: the ``stats.processing`` line of this call (default names this function).
        scale_windows: ``fn`` is scale-equivariant (``fn(a * x) == a * fn(x)``, ``a > 0``, as a geokeras denoiser):
            each window's peak is brought into ``[0.5, 1)`` by a power of two before ``fn`` and back after;
            exact, so any amplitude (1e-20, 1e30) stays clear of float32's underflow and overflow.
        chunk_samples: a gap-free segment longer than this (native samples) runs in pieces of this many samples
            (memory that does not grow with the record); equal to one piece within float rounding.

    Returns:
        ``obspy.Stream``; with ``return_noise`` and/or ``return_report``, a tuple
        ``(stream, [noise], [report])`` in that order.

    Raises:
        TraceError: a bad trace (``on_error="raise"``).
        NothingToProcessError: every trace was refused (``on_error="skip"``).
        ValueError: for bad arguments or an empty Stream.

    Example:
        >>> import obspy
        >>> st = obspy.read()  # 3 traces, 100 Hz, 3000 samples
        >>> out = apply_to_stream(st, lambda b: b, window_length=1000, sampling_rate=100.0)
        >>> [(tr.id, tr.stats.npts, str(tr.data.dtype)) for tr in out][:1]
        [('BW.RJOB..EHZ', 3000, 'float32')]
        >>> bool(np.allclose(out[0].data, st[0].data, rtol=1e-6, atol=1e-3))
        True
    """
    windowing, sampling_rate, batch_size, chunk_samples, detrend, clip, rate_range = _checked_arguments(
        window_length, overlap, sampling_rate, batch_size, chunk_samples, detrend, clip, on_error, out_of_band,
        rate_range)
    st = _as_stream(stream)
    report = Report()

    def refuse(err):
        if on_error == "raise":
            raise err
        report.skipped.append(err)

    merged = _merged_traces(st, refuse, report)
    processing = processing or (
        f"geokeras: apply_to_stream(fn={getattr(fn, '__name__', type(fn).__name__)}, "
        f"window_length={windowing.window_length}, sampling_rate={sampling_rate}, overlap={windowing.overlap})")
    jobs, outputs, kept = _segments_to_run(merged, sampling_rate, max_denominator, detrend, rate_range,
                                           out_of_band, refuse, report)

    failed = _run(jobs, fn, windowing, sampling_rate, batch_size, max_denominator, detrend, clip, progress,
                  scale_windows, chunk_samples)
    kept = _drop_failed(kept, failed, refuse, report)
    result, noise = _assemble(kept, outputs, processing, return_noise)
    extra = ([noise] if return_noise else []) + ([report] if return_report else [])
    return (result, *extra) if extra else result


def _run(jobs, fn, windowing, sampling_rate, batch_size, max_denominator, detrend, clip, progress, scale_windows,
         chunk):
    """Run every segment through ``fn`` (`_SegmentRunner`: shared batches), writing into their outputs; return
    ``{id(trace): reason}`` of the traces whose output is not finite."""
    total = sum(_windows_of(windowing, x.size, rate, sampling_rate, max_denominator, chunk, detrend)
                for x, rate, _, _ in jobs)
    runner = _SegmentRunner(fn, windowing, sampling_rate, batch_size, max_denominator, detrend, clip, progress,
                            total, scale_windows, chunk)
    try:
        for x, rate, out, key in jobs:
            runner.add(x, rate, out, key)
        runner.close()
    finally:
        runner.shutdown()
    return runner.failed


def _drop_failed(kept, failed, refuse, report):
    """The kept traces less those whose output failed (each refused: a `TraceError` naming it)."""
    for tr, _ in kept:
        if id(tr) in failed:
            refuse(TraceError(tr.id, failed[id(tr)]))
    kept = [(tr, notes) for tr, notes in kept if id(tr) not in failed]
    if not kept:
        raise NothingToProcessError(report.skipped)
    return kept


def _segments_to_run(merged, sampling_rate, max_denominator, detrend, rate_range, out_of_band, refuse, report):
    """``(jobs, outputs, kept)``: the segments for ``fn`` (`_segment_jobs`), the output array of each trace
    (by ``id``) and the traces kept, with their notes; out-of-range traces refused or passed through."""
    jobs, outputs, kept = [], {}, []
    for tr, notes in merged:
        outputs[id(tr)] = out = np.zeros(tr.stats.npts, dtype=np.float32)
        if rate_range is not None and not rate_range[0] <= tr.stats.sampling_rate <= rate_range[1]:
            if _out_of_band(tr, rate_range, out_of_band, refuse, report, notes, out):
                kept.append((tr, notes))
            continue
        kept.append((tr, notes))
        _note_inexact_ratio(tr, sampling_rate, max_denominator, report, notes)
        jobs += _segment_jobs(tr, out, detrend, report, notes)
    if not kept:
        raise NothingToProcessError(report.skipped)
    return jobs, outputs, kept


def _merged_traces(st, refuse, report):
    """The usable traces of ``st`` merged per (id, rate), in input order: ``[(trace, notes), ...]``."""
    good = obspy.Stream()
    for tr in st:
        try:
            _check_trace(tr)
            good.append(tr)
        except TraceError as err:
            refuse(err)
    merged = []
    for key in dict.fromkeys(tr.id for tr in good):  # ids that cannot be merged are refused alone
        try:
            merged += _merge_groups([t for t in good if t.id == key], report.notes)
        except TraceError as err:
            refuse(err)
    if not merged:
        raise NothingToProcessError(report.skipped)
    order = {(tr.id, float(tr.stats.sampling_rate)): i for i, tr in reversed(list(enumerate(st)))}
    merged.sort(key=lambda item: order[item[0].id, float(item[0].stats.sampling_rate)])  # input order
    return merged


def _note(report, notes, note):
    report.notes.append(note)
    notes.append(note)


def _out_of_band(tr, rate_range, out_of_band, refuse, report, notes, out):
    """Refuse a trace outside ``rate_range`` (False) or pass it through into ``out`` with a note (True)."""
    lo, hi = rate_range
    reason = f"sampling rate {tr.stats.sampling_rate:g} Hz is outside the model's range {lo:g}-{hi:g} Hz"
    if out_of_band == "refuse":
        refuse(OutOfBandError(tr.id, reason))
        return False
    note = f"{tr.id}: {reason}: passed through unchanged"
    warnings.warn(note, UserWarning, stacklevel=4)  # the caller of apply_to_stream
    _note(report, notes, note)
    out[:] = np.ma.getdata(tr.data)
    return True


def _note_inexact_ratio(tr, sampling_rate, max_denominator, report, notes):
    rate = tr.stats.sampling_rate
    up, down = resample_ratio(rate, sampling_rate, max_denominator)
    effective = rate * up / down
    if abs(effective - sampling_rate) > 1e-9 * sampling_rate:
        _note(report, notes, f"{tr.id}: {rate} Hz resampled by {up}/{down} to {effective:.6g} Hz, "
                             f"not exactly {float(sampling_rate)} Hz (raise `max_denominator` for a closer ratio)")


def _segment_jobs(tr, out, detrend, report, notes):
    """``[(segment view, rate, output view), ...]`` of a trace's gap-free segments; degenerate segments
    (1 sample, constant) are written into ``out`` here, with a note."""
    jobs = []
    for a, b in segments(np.ma.getmaskarray(tr.data)):
        x = np.ma.getdata(tr.data)[a:b]  # a view: converted piece by piece (`_SegmentRunner`)
        where = f"{tr.id} samples {a}:{b} ({tr.stats.starttime + a * tr.stats.delta})"
        note = None
        if x.size == 1:
            note = f"{where}: 1-sample segment " + ("set to 0 (its mean removed)" if detrend else
                                                    "passed through unchanged")
        elif x.min() == x.max():
            note = f"{where}: constant segment (value {x[0]:g}) " + (
                "set to zeros (its mean removed)" if detrend else "passed through unchanged")
        if note:
            out[a:b] = 0.0 if detrend else x
            _note(report, notes, note)
        else:
            jobs.append((x, tr.stats.sampling_rate, out[a:b], id(tr)))
    return jobs


def _assemble(kept, outputs, processing, return_noise):
    """The output Stream (and the noise Stream) from the processed samples, each trace with its line."""
    result, noise = obspy.Stream(), obspy.Stream()
    for tr, notes in kept:
        mask = np.ma.getmaskarray(tr.data)
        line = processing + (NOTES_SEPARATOR + "; ".join(notes) if notes else "")
        if return_noise:
            data, removed = np.ma.getdata(tr.data), np.empty(tr.stats.npts, dtype=np.float32)
            for a in range(0, removed.size, CHUNK_SAMPLES):  # float64 a piece at a time
                b = a + CHUNK_SAMPLES
                removed[a:b] = np.asarray(data[a:b], dtype=np.float64) - outputs[id(tr)][a:b]
            res = _with_data(tr, np.ma.masked_array(removed, mask=mask) if mask.any() else removed)
            res.stats.setdefault("processing", []).append(line + RESIDUAL_NOTE)
            noise.append(res)
        tr.data = np.ma.masked_array(outputs[id(tr)], mask=mask) if mask.any() else outputs[id(tr)]
        tr.stats.setdefault("processing", []).append(line)
        result.append(tr)
    return result, noise
