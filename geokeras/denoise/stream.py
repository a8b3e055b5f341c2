"""`StreamingDenoiser`: denoise real-time packets (SeedLink records) as they arrive, with a fixed delay.

``push(trace)`` takes a packet of any size and returns the denoised samples that are final (a list of
Traces, possibly empty); ``flush()`` ends every open segment and returns the rest. Joined per id (e.g.
``Stream(outputs).merge()``), the outputs cover exactly the samples pushed, with their ids and times.

What happens to each packet:

- several ids at once: each id has its own state;
- a gap (a packet starting half a sample or more after the end of the previous one) ends the segment:
  the rest of the old segment is returned and a new segment starts;
- a packet at another sampling rate than the model's is refused (`~geokeras.errors.PacketError`: the
  streaming denoiser does not resample), and it ends its id's open segment (the segment's last samples
  come out with the next ``push`` or ``flush``);
- a packet that starts half a sample or more before the end of the data received for its id (out of
  order, or overlapping) is refused with a `~geokeras.errors.PacketError` saying which, and changes
  nothing; so are packets holding NaN or inf samples (masked samples are gaps);
- memory per id stays bounded: the last window of raw samples, the overlap-add of the windows not yet
  final, and three running sums.

**Delay.** A sample is final once the sample one window later has arrived: ``latency_s`` is the window
length in seconds (plus the packet's own length: a sample waits for the packet that completes its delay).

**Semantics: those of `geokeras.denoise.denoise`.** Both use one causal definition,
`geokeras.data.process.window_frames` (a window depends on no sample after its end):

- the windows, the model and the cross-fade stitching are those of the batch path (same starts, the last
  window aligned to the segment's end, same weights, same powers-of-two scaling);
- each window loses the least-squares line of its segment *from the segment's start up to the window's
  end* (the "prefix line"; the model removes each window's mean itself, so only the slope matters); the
  last window, aligned to the segment's end, loses the whole segment's line;
- each window's output is clipped at 1.1 x the window's input peak (the smaller of its peak about the
  prefix mean and about the prefix line) before stitching, so no output sample exceeds 1.1 x the peak of
  the windows covering it;
- a segment shorter than one window is one zero-padded window, detrended whole.

So joined, the output equals ``denoise`` of the same data (to float rounding: the running sums are added
packet by packet), for segments of any length, and it does not depend on how the data are cut into
packets (tested over random packet sizes and gaps; `bench/bench_stream.py` reports the difference).

Example:
    >>> import numpy as np, obspy
    >>> from geokeras.models.denoiser import build_denoiser
    >>> sd = StreamingDenoiser(build_denoiser("unet1d", window_length=64, sampling_rate=100.0, filters=(2,)))
    >>> sd.latency_s
    0.64
    >>> tr = obspy.Trace(np.random.default_rng(0).normal(size=100), header={"sampling_rate": 100.0})
    >>> [t.stats.npts for t in sd.push(tr)]  # samples 0..35 are final once sample 99 has arrived
    [36]
    >>> [t.stats.npts for t in sd.flush()]
    [64]
"""
import numpy as np
import obspy

import geokeras
from geokeras.data.process import PrefixLine, window_frames
from geokeras.data.windows import Windowing, crossfade_weights, map_batches, scale_to_unit_peak
from geokeras.denoise.denoiser import Denoiser
from geokeras.denoise.options import CLIP_FACTOR, DenoiseOptions
from geokeras.errors import PacketError

__all__ = ["StreamingDenoiser"]

BATCH_SIZE = DenoiseOptions().batch_size  # windows per model call: the compiled graphs of `denoise`, shared
_HEADER = ("network", "station", "location", "channel", "sampling_rate")


class _Segment:
    """The state of one gap-free segment of one id: what is needed to finish its windows, nothing more."""

    def __init__(self, stats, start):
        self.stats = {k: stats[k] for k in _HEADER}
        self.start = start  # time of the segment's sample 0
        self.n = 0  # samples received
        self.buf, self.buf_start = np.empty(0), 0  # raw samples [buf_start, n)
        self.prefix = PrefixLine()  # the running sums of the prefix lines (shared with the batch path)
        self.next_start = 0  # start of the next regular window
        self.acc, self.norm, self.emitted = np.empty(0), np.empty(0), 0  # overlap-add of [emitted, ...)

    def end_time(self):
        return self.start + self.n / self.stats["sampling_rate"]

    def samples(self, a, b):
        return self.buf[a - self.buf_start:b - self.buf_start]

    def append(self, x):
        self.buf = np.concatenate([self.buf, x])
        self.n += x.size

    def grow(self, end):
        """Make room in the overlap-add for the samples up to ``end`` (once per run of windows)."""
        if end - self.emitted > self.acc.size:
            grow = end - self.emitted - self.acc.size
            self.acc = np.concatenate([self.acc, np.zeros(grow)])
            self.norm = np.concatenate([self.norm, np.zeros(grow)])

    def add(self, start, y, weights):
        """Overlap-add window output ``y`` (already clipped) starting at ``start``."""
        self.grow(start + y.size)
        a = start - self.emitted
        self.acc[a:a + y.size] += weights * y
        self.norm[a:a + y.size] += weights

    def take(self, stop):
        """The stitched samples ``[emitted, stop)``, dropped from the state."""
        k = stop - self.emitted
        out = self.acc[:k] / self.norm[:k]
        self.acc, self.norm, self.emitted = self.acc[k:], self.norm[k:], stop
        return out

    def trim(self, window_length):
        keep = max(0, self.n - window_length)  # the end window starts at n_final - L >= n - L
        if keep > self.buf_start:
            self.buf, self.buf_start = self.buf[keep - self.buf_start:], keep


class StreamingDenoiser:
    """Denoise packets of continuous data as they arrive (see the module docstring for the semantics).

    Args:
        model: what `geokeras.denoise.Denoiser.resolve` takes (``None``: the shipped default model).
        overlap: window overlap in ``[0, 1)``, as in `geokeras.denoise.denoise`.
        batch_size, precision: windows per model call and the model's arithmetic, as in
            `geokeras.denoise.DenoiseOptions`.

    Attributes:
        denoiser: the resolved `~geokeras.denoise.Denoiser`; latency_s: the fixed delay in seconds;
        precision: the model's arithmetic (``"auto"`` resolved; named in `processing` unless float32).
    """

    def __init__(self, model=None, overlap=0.5, batch_size=BATCH_SIZE, precision="auto"):
        self.denoiser = Denoiser.resolve(model)
        self.windowing = Windowing(self.denoiser.window_length, overlap)
        options = DenoiseOptions(overlap, batch_size, precision=precision)
        self.batch_size, self.precision = options.batch_size, options.precision  # "auto" resolved
        self._fn = self.denoiser.predictor(self.batch_size, self.precision)
        self._weights = crossfade_weights(self.windowing.window_length)
        self._segments = {}  # trace id -> _Segment
        self._pending = []  # outputs of segments ended by a refused packet
        den = self.denoiser
        self.processing = (f"geokeras {geokeras.__version__}: StreamingDenoiser(model={den.label}, "
                           f"sha256={den.sha256[:16]}, window_length={den.window_length}, "
                           f"overlap={self.windowing.overlap}, detrend=prefix-linear, clip={CLIP_FACTOR:g} per window"
                           + (f", precision={self.precision})" if self.precision != "float32" else ")"))

    def __repr__(self):
        return (f"StreamingDenoiser({self.denoiser.label!r}, overlap={self.windowing.overlap:g}, "
                f"latency_s={self.latency_s:g}, open={sorted(self._segments)})")

    @property
    def latency_s(self):
        """Seconds from a sample's arrival to its output: one window (a sample is final when the sample one
        window later has arrived)."""
        return self.windowing.window_length / self.denoiser.sampling_rate

    def push(self, trace):
        """Add a packet; return the denoised samples that became final (a list of ``obspy.Trace``).

        Raises:
            TypeError: ``trace`` is not an ``obspy.Trace``.
            geokeras.errors.PacketError: the packet is refused (out of order, overlapping, another
                sampling rate, NaN or inf samples); nothing changed, except that a packet at another rate
                ends its id's open segment.
        """
        if not isinstance(trace, obspy.Trace):
            raise TypeError("Invalid value for argument `trace`. Expected an obspy.Trace. "
                            f"Received trace of type {type(trace).__name__}.")
        pieces = [tr for tr in (trace.split() if np.ma.isMaskedArray(trace.data) else [trace]) if tr.data.size]
        if pieces:
            self._check(trace, pieces[0])
        out, self._pending = self._pending, []
        for tr in pieces:
            out += self._push_piece(tr)
        return out

    def flush(self):
        """End every open segment (as a gap would) and return the rest of their samples."""
        out, self._pending = self._pending, []
        for key in list(self._segments):
            out += self._finish(self._segments.pop(key))
        return out

    def _check(self, trace, first):
        tid, rate = trace.id, float(trace.stats.sampling_rate)
        if rate != self.denoiser.sampling_rate:
            if tid in self._segments:
                self._pending += self._finish(self._segments.pop(tid))
            raise PacketError(tid, f"sampling rate {rate:g} Hz differs from the model's "
                              f"{self.denoiser.sampling_rate:g} Hz (the streaming denoiser does not resample; "
                              "geokeras.denoise.denoise resamples records)")
        data = np.ma.getdata(trace.data)
        if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
            raise PacketError(tid, f"expected real numeric samples. Received dtype {data.dtype}.")
        bad = ~np.isfinite(data) & ~np.ma.getmaskarray(trace.data)
        if bad.any():
            raise PacketError(tid, f"{int(bad.sum())} NaN or inf sample(s), first at index {int(np.argmax(bad))} "
                              "(mask them to make them a gap)")
        seg = self._segments.get(tid)
        if seg is not None:
            shift = (first.stats.starttime - seg.end_time()) * rate
            if shift <= -0.5:
                expected = seg.end_time()
                if trace.stats.endtime < expected - 0.5 / rate:
                    why = f"out of order: it ends at {trace.stats.endtime}, before the end of the data received"
                else:
                    why = f"overlapping: its first {min(-round(shift), trace.stats.npts)} sample(s) were received"
                raise PacketError(tid, f"packet starting at {first.stats.starttime} refused, {why} "
                                  f"(next expected sample at {expected})")

    def _push_piece(self, tr):
        tid = tr.id
        out = []
        seg = self._segments.get(tid)
        if seg is not None and (tr.stats.starttime - seg.end_time()) * tr.stats.sampling_rate >= 0.5:
            out += self._finish(self._segments.pop(tid))  # a gap ends the segment
            seg = None
        if seg is None:
            seg = self._segments[tid] = _Segment(tr.stats, tr.stats.starttime)
        seg.append(np.asarray(np.ma.getdata(tr.data), dtype=np.float64))
        L, hop = self.windowing.window_length, self.windowing.hop
        starts = list(range(seg.next_start, seg.n - L + 1, hop))
        if starts:
            self._run(seg, starts)
            seg.next_start = starts[-1] + hop
        if seg.n - L > seg.emitted:
            out.append(self._trace(seg, seg.take(seg.n - L)))
        seg.trim(L)
        return out

    def _run(self, seg, starts):
        """Run the windows starting at ``starts`` through the model (framed and clipped by
        `geokeras.data.process.window_frames`, as the batch path), into the overlap-add."""
        L = self.windowing.window_length
        starts = np.asarray(starts, dtype=np.int64)
        rows, bounds = window_frames(seg.buf, seg.buf_start, starts, np.minimum(starts + L, seg.n), L, seg.prefix,
                                     CLIP_FACTOR)
        live = bounds > 0  # a window with nothing in it gives zeros without the model
        out = np.zeros_like(rows)
        if live.any():
            out[live] = self._model_of(rows[live])
        out = np.clip(out, -bounds[:, None], bounds[:, None])
        seg.grow(int(starts[-1]) + L)
        for s, y in zip(starts, out):
            seg.add(int(s), y, self._weights)

    def _finish(self, seg):
        """The rest of a segment that ends here (a gap, a flush, a rate change)."""
        L, n = self.windowing.window_length, seg.n
        if n == 0:
            return []
        if n < L:  # one zero-padded window, seen whole
            self._run(seg, [0])
        elif seg.next_start - self.windowing.hop + L < n:  # the window aligned to the end
            self._run(seg, [n - L])
        return [self._trace(seg, seg.take(n))]

    def _model_of(self, windows):
        """The model's output for float64 ``windows``, scaled as the batch path scales them
        (`geokeras.data.windows.scale_to_unit_peak`: any amplitude, the same numbers)."""
        scaled, exponents = scale_to_unit_peak(windows)
        y = map_batches(self._fn, scaled.astype(np.float32), self.batch_size, check_finite=False)
        return np.ldexp(y.astype(np.float64), exponents[:, None])

    def _trace(self, seg, data):
        """A Trace of the samples ``[emitted - len(data), emitted)`` of a segment."""
        first = seg.emitted - data.size
        tr = obspy.Trace(np.asarray(data, dtype=np.float32), header=dict(seg.stats))
        tr.stats.starttime = seg.start + first / seg.stats["sampling_rate"]
        tr.stats.processing = [self.processing]
        return tr
