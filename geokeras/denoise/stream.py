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
import collections

import numpy as np
import obspy

import geokeras
from geokeras.data.process import PrefixLine, window_frames
from geokeras.data.windows import Windowing, crossfade_weights, map_batches, scale_to_unit_peak
from geokeras.denoise.denoiser import Denoiser
from geokeras.denoise.options import CLIP_FACTOR, DenoiseOptions, precision_note
from geokeras.errors import PacketError

__all__ = ["StreamingDenoiser"]

BATCH_SIZE = DenoiseOptions().batch_size  # windows per model call: the compiled graphs of `denoise`, shared
_HEADER = ("network", "station", "location", "channel", "sampling_rate")


_Frames = collections.namedtuple("_Frames", "starts bounds live windows exponents")  # a run of windows, framed


class _Segment:
    """The state of one gap-free segment of one id: what is needed to finish its windows, nothing more."""

    def __init__(self, stats, start):
        self.stats = {k: stats[k] for k in _HEADER}
        self.start = start  # time of the segment's sample 0
        self.n = 0  # samples received
        self.buf, self.buf_start = np.empty(0), 0  # raw samples [buf_start, n)
        self.prefix = PrefixLine()  # the running sums of the prefix lines (shared with the batch path)
        self.next_start = 0  # start of the next regular window
        self.staged = 0  # the samples [0, staged) are due out (`StreamingDenoiser.stage`; `emitted` once completed)
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
        load_model: load the model and its predictor now (default); False: at the first model call (a
            `~geokeras.denoise.Denoiser` of a file then reports a bad model there, e.g. in `run_model`'s thread).

    Attributes:
        denoiser: the resolved `~geokeras.denoise.Denoiser`; latency_s: the fixed delay in seconds;
        precision: the model's arithmetic (``"auto"`` resolved; named in `processing` unless float32).
    """

    def __init__(self, model=None, overlap=0.5, batch_size=BATCH_SIZE, precision="auto", load_model=True):
        self.denoiser = Denoiser.resolve(model)
        self.windowing = Windowing(self.denoiser.window_length, overlap)
        options = DenoiseOptions(overlap, batch_size, precision=precision)
        self.batch_size, self.precision = options.batch_size, options.precision  # "auto" resolved
        self._fn = self.denoiser.predictor(self.batch_size, self.precision) if load_model else None
        self._weights = crossfade_weights(self.windowing.window_length)
        self._segments = {}  # trace id -> _Segment
        self._pending = []  # outputs of segments ended by a refused packet
        den = self.denoiser
        self.processing = (f"geokeras {geokeras.__version__}: StreamingDenoiser(model={den.label}, "
                           f"sha256={den.sha256[:16]}, window_length={den.window_length}, "
                           f"overlap={self.windowing.overlap}, detrend=prefix-linear, clip={CLIP_FACTOR:g} per window"
                           f"{precision_note(self.precision)})")

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
        return self.complete(self.stage(trace))

    def flush(self):
        """End every open segment (as a gap would) and return the rest of their samples."""
        return self.complete(self.stage_flush())

    def stage(self, trace):
        """The first half of `push`: check ``trace`` and frame its windows (NumPy only, no model); return the
        steps that `run_model` and `complete` finish, in order.

        ``push(tr)`` is ``complete(stage(tr))``. A caller may stage the next packets while the steps of earlier
        ones are still in the model (``geokeras denoise`` runs `run_model` in another thread,
        `geokeras.denoise.pieces`), as long as it completes the steps in the order they were staged: the outputs
        are then those of `push`, bit for bit (the same model calls on the same windows).

        Raises:
            the errors of `push` (nothing staged then).
        """
        if not isinstance(trace, obspy.Trace):
            raise TypeError("Invalid value for argument `trace`. Expected an obspy.Trace. "
                            f"Received trace of type {type(trace).__name__}.")
        pieces = [tr for tr in (trace.split() if np.ma.isMaskedArray(trace.data) else [trace]) if tr.data.size]
        if pieces:
            self._check(trace, pieces[0])
        steps, self._pending = self._pending, []
        for tr in pieces:
            steps += self._push_piece(tr)
        return steps

    def stage_flush(self):
        """The first half of `flush` (see `stage`)."""
        steps, self._pending = self._pending, []
        for key in list(self._segments):
            steps += self._finish(self._segments.pop(key))
        return steps

    def predictor(self):
        """The model's batch callable (`geokeras.denoise.Denoiser.predictor`; loads the model if it was not)."""
        fn = self._fn
        if fn is None:
            fn = self._fn = self.denoiser.predictor(self.batch_size, self.precision)  # cached: one per model
        return fn

    def run_model(self, steps, in_flight=None):
        """The model's outputs for the windows of ``steps`` (one `map_batches` per step, as `push` runs them;
        the model is loaded here if it was not: ``load_model=False``). Safe to run in another thread than
        `stage` and `complete`, and in several threads at once on different steps. ``in_flight``: calls of the
        model at once within a step (default: the predictor's, `geokeras.denoise.denoiser.calls_in_flight`)."""
        fn = self.predictor()
        return [None if step[0] != "run" or step[2].windows is None else
                map_batches(fn, step[2].windows, self.batch_size, check_finite=False, in_flight=in_flight)
                for step in steps]

    def complete(self, steps, outputs=None):
        """The second half of `push`: add the model's outputs (``outputs`` of `run_model`; None: run it here) to
        the overlap-adds and return the samples that became final (a list of ``obspy.Trace``)."""
        outputs = self.run_model(steps) if outputs is None else outputs
        out = []
        for step, y in zip(steps, outputs):
            if step[0] == "run":
                self._add_windows(step[1], step[2], y)
            else:
                out.append(self._trace(step[1], step[1].take(step[2])))
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
        """The steps of one gap-free piece of a packet: ``("run", segment, _Frames)`` and ``("take", segment,
        stop)``."""
        tid = tr.id
        steps = []
        seg = self._segments.get(tid)
        if seg is not None and (tr.stats.starttime - seg.end_time()) * tr.stats.sampling_rate >= 0.5:
            steps += self._finish(self._segments.pop(tid))  # a gap ends the segment
            seg = None
        if seg is None:
            seg = self._segments[tid] = _Segment(tr.stats, tr.stats.starttime)
        seg.append(np.asarray(np.ma.getdata(tr.data), dtype=np.float64))
        L, hop = self.windowing.window_length, self.windowing.hop
        starts = list(range(seg.next_start, seg.n - L + 1, hop))
        if starts:
            steps.append(("run", seg, self._frames(seg, starts)))
            seg.next_start = starts[-1] + hop
        if seg.n - L > seg.staged:
            seg.staged = seg.n - L
            steps.append(("take", seg, seg.staged))
        seg.trim(L)
        return steps

    def _frames(self, seg, starts):
        """The windows starting at ``starts``, framed and clipped by `geokeras.data.process.window_frames` (as
        the batch path) and scaled as the batch path scales them (`geokeras.data.windows.scale_to_unit_peak`:
        any amplitude, the same numbers): what the model sees of them."""
        L = self.windowing.window_length
        starts = np.asarray(starts, dtype=np.int64)
        rows, bounds = window_frames(seg.buf, seg.buf_start, starts, np.minimum(starts + L, seg.n), L, seg.prefix,
                                     CLIP_FACTOR)
        live = bounds > 0  # a window with nothing in it gives zeros without the model
        windows = exponents = None
        if live.any():
            scaled, exponents = scale_to_unit_peak(rows[live])
            windows = scaled.astype(np.float32)
        return _Frames(starts, bounds, live, windows, exponents)

    def _add_windows(self, seg, frames, y):
        """Overlap-add the model's outputs ``y`` of ``frames`` (scaled back, clipped at their bounds)."""
        L = self.windowing.window_length
        out = np.zeros((frames.starts.size, L))
        if frames.windows is not None:
            out[frames.live] = np.ldexp(y.astype(np.float64), frames.exponents[:, None])
        out = np.clip(out, -frames.bounds[:, None], frames.bounds[:, None])
        seg.grow(int(frames.starts[-1]) + L)
        for s, w in zip(frames.starts, out):
            seg.add(int(s), w, self._weights)

    def _finish(self, seg):
        """The steps of the rest of a segment that ends here (a gap, a flush, a rate change)."""
        L, n = self.windowing.window_length, seg.n
        if n == 0:
            return []
        steps = []
        if n < L:  # one zero-padded window, seen whole
            steps.append(("run", seg, self._frames(seg, [0])))
        elif seg.next_start - self.windowing.hop + L < n:  # the window aligned to the end
            steps.append(("run", seg, self._frames(seg, [n - L])))
        seg.staged = n
        return steps + [("take", seg, n)]

    def _trace(self, seg, data):
        """A Trace of the samples ``[emitted - len(data), emitted)`` of a segment."""
        first = seg.emitted - data.size
        tr = obspy.Trace(np.asarray(data, dtype=np.float32), header=dict(seg.stats))
        tr.stats.starttime = seg.start + first / seg.stats["sampling_rate"]
        tr.stats.processing = [self.processing]
        return tr
