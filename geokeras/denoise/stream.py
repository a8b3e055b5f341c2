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

**Three components** (``components="median"``, ``"mean"`` or ``"median-max"``): a station's three components are
denoised together, one combined mask per window, as ``denoise(stream, components=...)``
(`geokeras.denoise.components.denoise_components`: the same framing, model graph and stitching). The rule,
per station:

- *Which ids.* As `geokeras.denoise.components.station_groups`: ids with the same ``NET.STA.LOC`` and
  channel less its last letter are one station; three of them with distinct last letters, one ``Z``, are its
  components (while no fourth id of the station has a segment open). Every other id (a lone channel,
  components that are not sample-aligned) goes the one-trace path, bit for bit as with ``components=None``.
- *When a group segment starts.* Every id starts in a segment of its own. When the three components of a
  station all have one open, sample-aligned (their sample times within a quarter sample) and none more than a
  window behind another, a group segment starts at the latest of: for each component, its segment's start if it
  has returned nothing yet (a segment returns nothing until it holds more than a window: its samples are all
  still held), else its end. So components whose first packets all arrive before any of them holds more than a
  window start the group at their latest start, and when they start together, joined, the outputs equal
  ``denoise(stream, components=...)`` of the same data, in any packet sizes and interleavings that keep them
  within a window of one another (tested). A component's samples before the group's start are a
  segment of its own, ended there (like a segment ended by a gap).
- *In a group.* A window runs once all three components have samples up to its end (the same windows as the
  batch path); samples become final one window after the slowest component has them (``latency_s``, counted
  from the slowest), on all three at once: a lagging component holds the others back.
- *When it ends.* A gap in one component (its next packet starts half a sample or more after its end), a
  refused packet at another rate, a component more than one window ahead of another (one that lags or stops),
  or `flush` ends the group's segment for all three at their common end ``m`` (the end of the data all three
  have): ``[0, m)`` is finished as `denoise_components` finishes it, and each component's samples after ``m`` go
  on in a segment of its own, from which a new group starts by the rule above. With packets in time order,
  ``m`` is where the gapped component stopped; after a short gap in one component the new group starts at its
  first sample after the gap (the other two alone in between); a component that catches up after lagging
  restarts the group at the others' ends. Every sample pushed comes out exactly once.
- *Memory* per station: each component's samples from one window before the common end to its own end (at
  most two windows), the overlap-add of the windows not yet final, three prefix sums; it does not grow with
  time, whatever a component does.

The model must be a spectrogram-mask denoiser (`geokeras.models.components.component_denoiser`).

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

    Three components, one mask per window (a spectrogram-mask model of 600-sample windows):

    >>> from geokeras.models.denoiser import build_stft_mask_denoiser
    >>> mask = build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8), mask_floor=0.3)
    >>> sd = StreamingDenoiser(mask, components="median")
    >>> out = []
    >>> for i in range(0, 1000, 250):  # 2.5-s packets, the components interleaved
    ...     for channel in ("HHE", "HHN", "HHZ"):
    ...         header = {"sampling_rate": 100.0, "channel": channel, "starttime": obspy.UTCDateTime(i / 100.0)}
    ...         out += sd.push(obspy.Trace(np.random.default_rng(i).normal(size=250), header=header))
    >>> [(t.stats.channel, t.stats.npts) for t in out]  # final on the three at once, a window behind
    [('HHE', 150), ('HHN', 150), ('HHZ', 150), ('HHE', 250), ('HHN', 250), ('HHZ', 250)]
    >>> [t.stats.npts for t in sd.flush()]
    [600, 600, 600]
"""
import collections

import numpy as np
import obspy

import geokeras
from geokeras.data.process import PrefixLine, window_frames
from geokeras.data.windows import Windowing, crossfade_weights, map_batches, scale_to_unit_peak
from geokeras.data.windows import overlap_add
from geokeras.denoise.components import frame_components, unframe_components
from geokeras.denoise.denoiser import Denoiser
from geokeras.denoise.options import CLIP_FACTOR, DenoiseOptions, components_note, precision_note
from geokeras.errors import PacketError

__all__ = ["StreamingDenoiser"]

BATCH_SIZE = DenoiseOptions().batch_size  # windows per model call: the compiled graphs of `denoise`, shared
_HEADER = ("network", "station", "location", "channel", "sampling_rate")


_Frames = collections.namedtuple("_Frames", "starts bounds live windows exponents")  # a run of windows, framed
_GroupFrames = collections.namedtuple("_GroupFrames", "starts bounds exponents windows")  # (k, L, 3) windows


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


def _group_key(stats):
    """The station key of `geokeras.denoise.components.station_groups`: NET, STA, LOC and the channel less its last
    letter (the component)."""
    return stats["network"], stats["station"], stats["location"], stats["channel"][:-1]


class _Group:
    """The state of one group segment of a station's three components: their samples from the group's start,
    one prefix line each, and one overlap-add of the windows not yet final (``(samples, 3)``)."""

    def __init__(self, key, ids, stats, starts):
        self.key, self.ids = key, ids  # component c is ids[c] (the vertical last, as `station_groups`)
        self.stats = [{k: s[k] for k in _HEADER} for s in stats]
        self.starts = starts  # time of each component's sample 0 (within a quarter sample of one another)
        self.rate = self.stats[0]["sampling_rate"]
        self.n = [0] * len(ids)  # samples received, per component
        self.bufs, self.buf_start = [np.empty(0) for _ in ids], 0  # raw samples [buf_start, n[c])
        self.prefixes = [PrefixLine() for _ in ids]
        self.next_start, self.staged = 0, 0  # as `_Segment`'s, on the common end min(n)
        self.acc, self.norm, self.emitted = np.empty((0, len(ids))), np.empty(0), 0

    def end_time(self, c):
        return self.starts[c] + self.n[c] / self.rate

    def samples(self, c, a, b):
        return self.bufs[c][a - self.buf_start:b - self.buf_start]

    def append(self, c, x):
        self.bufs[c] = np.concatenate([self.bufs[c], x])
        self.n[c] += x.size

    def add(self, starts, y, weights):
        """Overlap-add the windows ``y`` ``(k, L, 3)`` (scaled back, clipped) starting at ``starts``."""
        end = int(starts[-1]) + y.shape[1] - self.emitted
        if end > self.norm.size:
            grow = end - self.norm.size
            self.acc = np.concatenate([self.acc, np.zeros((grow, self.acc.shape[1]))])
            self.norm = np.concatenate([self.norm, np.zeros(grow)])
        overlap_add(self.acc, self.norm, y, starts - self.emitted, weights)

    def take(self, stop):
        """The stitched samples ``[emitted, stop)`` of the components, ``(k, 3)``, dropped from the state."""
        k = stop - self.emitted
        out = self.acc[:k] / self.norm[:k, None]
        self.acc, self.norm, self.emitted = self.acc[k:], self.norm[k:], stop
        return out

    def trim(self, window_length):
        keep = max(0, min(self.n) - window_length)  # the end window starts at or after min(n) - L
        if keep > self.buf_start:
            self.bufs = [b[keep - self.buf_start:] for b in self.bufs]
            self.buf_start = keep


class StreamingDenoiser:
    """Denoise packets of continuous data as they arrive (see the module docstring for the semantics).

    Args:
        model: what `geokeras.denoise.Denoiser.resolve` takes (``None``: the shipped default model; with
            ``components``, its groups go through the shipped three-component network, `Denoiser.for_components`).
        overlap: window overlap in ``[0, 1)``, as in `geokeras.denoise.denoise`.
        batch_size, precision: windows per model call and the model's arithmetic, as in
            `geokeras.denoise.DenoiseOptions`.
        components: ``None`` (default: each id on its own) or ``"median"`` / ``"mean"``: a station's three
            components are denoised together, one combined mask per window, as ``denoise(...,
            components=...)`` (module docstring, "Three components"; the model must be a spectrogram-mask
            denoiser).
        load_model: load the model and its predictor now (default); False: at the first model call (a
            `~geokeras.denoise.Denoiser` of a file then reports a bad model there, e.g. in `run_model`'s thread).

    Attributes:
        denoiser: the resolved `~geokeras.denoise.Denoiser`; latency_s: the fixed delay in seconds;
        precision: the model's arithmetic (``"auto"`` resolved; named in `processing` unless float32);
        components: as given; processing: the ``stats.processing`` line of the outputs denoised one trace at a
        time; group_processing: that of a group's outputs (``processing`` with ``components=...``; None without
        ``components``), as `geokeras.denoise.denoise` names what was done to each trace.

    Raises:
        ValueError: a bad argument (the message names it); with ``components``, a model that is not a mask
            denoiser (when the model is loaded).
    """

    def __init__(self, model=None, overlap=0.5, batch_size=BATCH_SIZE, precision="auto", components=None,
                 load_model=True):
        self.denoiser = Denoiser.resolve(model)
        self.windowing = Windowing(self.denoiser.window_length, overlap)
        options = DenoiseOptions(overlap, batch_size, precision=precision, components=components)
        self.batch_size, self.precision = options.batch_size, options.precision  # "auto" resolved
        self.components = options.components
        self._fn = self.denoiser.predictor(self.batch_size, self.precision) if load_model else None
        self._component_fn = None
        if load_model and self.components:
            self.component_predictor()
        self._weights = crossfade_weights(self.windowing.window_length)
        self._segments = {}  # trace id -> _Segment (its own segment, or its lead-in to a group's start)
        self._groups = {}  # station key -> _Group (components mode)
        self._routes = {}  # trace id -> (_Group, component index) while its samples go to that group
        self._keys = collections.defaultdict(set)  # station key -> the ids seen (components mode)
        self._pending = []  # outputs of segments ended by a refused packet
        den = self.denoiser
        self.processing = (f"geokeras {geokeras.__version__}: StreamingDenoiser(model={den.label}, "
                           f"sha256={den.sha256[:16]}, window_length={den.window_length}, "
                           f"overlap={self.windowing.overlap}, detrend=prefix-linear, clip={CLIP_FACTOR:g} per window"
                           f"{precision_note(self.precision)})")
        self.group_processing = (f"{self.processing[:-1]}{components_note(den, self.components)})" if self.components
                                 else None)

    def __repr__(self):
        return (f"StreamingDenoiser({self.denoiser.label!r}, overlap={self.windowing.overlap:g}, "
                f"latency_s={self.latency_s:g}, open={sorted(set(self._segments) | set(self._routes))})")

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
        for group in list(self._groups.values()):
            steps += self._end_group(group)
        for key in list(self._segments):
            steps += self._finish(self._segments.pop(key))
        return steps

    def predictor(self):
        """The model's batch callable (`geokeras.denoise.Denoiser.predictor`; loads the model if it was not)."""
        fn = self._fn
        if fn is None:
            fn = self._fn = self.denoiser.predictor(self.batch_size, self.precision)  # cached: one per model
        return fn

    def component_predictor(self):
        """The model's callable on a station's three components with one combined mask
        (`geokeras.denoise.Denoiser.component_predictor`; loads it if it was not)."""
        fn = self._component_fn
        if fn is None:
            fn = self._component_fn = self.denoiser.component_predictor(3, self.components, self.precision)
        return fn

    def run_model(self, steps, in_flight=None):
        """The model's outputs for the windows of ``steps`` (one `map_batches` per step, as `push` runs them;
        the model is loaded here if it was not: ``load_model=False``). Safe to run in another thread than
        `stage` and `complete`, and in several threads at once on different steps. ``in_flight``: calls of the
        model at once within a step (default: the predictor's, `geokeras.denoise.denoiser.calls_in_flight`)."""
        fn = self.predictor()
        return [None if step[0] != "run" or step[2].windows is None else
                map_batches(self.component_predictor() if isinstance(step[1], _Group) else fn, step[2].windows,
                            self.batch_size, check_finite=False, in_flight=in_flight)
                for step in steps]

    def complete(self, steps, outputs=None):
        """The second half of `push`: add the model's outputs (``outputs`` of `run_model`; None: run it here) to
        the overlap-adds and return the samples that became final (a list of ``obspy.Trace``)."""
        outputs = self.run_model(steps) if outputs is None else outputs
        out = []
        for step, y in zip(steps, outputs):
            grouped = isinstance(step[1], _Group)
            if step[0] == "run":
                if grouped:
                    step[1].add(step[2].starts, unframe_components(y, step[2].bounds, step[2].exponents),
                                self._weights)
                else:
                    self._add_windows(step[1], step[2], y)
            elif grouped:
                out += self._group_traces(step[1], step[1].take(step[2]))
            else:
                out.append(self._trace(step[1], step[1].take(step[2])))
        return out

    def _check(self, trace, first):
        tid, rate = trace.id, float(trace.stats.sampling_rate)
        if rate != self.denoiser.sampling_rate:
            self._pending += self._end_id(tid)
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
        expected = self._end_time(tid)
        if expected is not None:
            shift = (first.stats.starttime - expected) * rate
            if shift <= -0.5:
                if trace.stats.endtime < expected - 0.5 / rate:
                    why = f"out of order: it ends at {trace.stats.endtime}, before the end of the data received"
                else:
                    why = f"overlapping: its first {min(-round(shift), trace.stats.npts)} sample(s) were received"
                raise PacketError(tid, f"packet starting at {first.stats.starttime} refused, {why} "
                                  f"(next expected sample at {expected})")

    def _end_time(self, tid):
        """The time of the next sample expected for ``tid`` (None: no open segment)."""
        seg = self._segments.get(tid)
        if seg is not None:  # its own segment (or its lead-in to a group)
            return seg.end_time()
        route = self._routes.get(tid)
        return None if route is None else route[0].end_time(route[1])

    def _end_id(self, tid):
        """The steps that end ``tid``'s open segment (and its group's, components mode)."""
        route = self._routes.get(tid)
        steps = [] if route is None else self._end_group(route[0])
        if tid in self._segments:
            steps += self._finish(self._segments.pop(tid))
        return steps

    def _push_piece(self, tr):
        """The steps of one gap-free piece of a packet: ``("run", target, frames)`` and ``("take", target, stop)``
        (target: a `_Segment`, or a `_Group` of three components)."""
        x = np.asarray(np.ma.getdata(tr.data), dtype=np.float64)
        if self.components is None:
            return self._push_own(tr.id, tr.stats, tr.stats.starttime, x)
        return self._push_grouped(tr.id, tr.stats, tr.stats.starttime, x)

    def _push_own(self, tid, stats, start, x):
        """The steps of samples ``x`` from ``start`` on ``tid``'s own segment (a gap ends it)."""
        steps = []
        seg = self._segments.get(tid)
        if seg is not None and (start - seg.end_time()) * stats["sampling_rate"] >= 0.5:
            steps += self._finish(self._segments.pop(tid))  # a gap ends the segment
            seg = None
        if seg is None:
            seg = self._segments[tid] = _Segment(stats, start)
        return steps + self._extend(seg, x)

    def _extend(self, seg, x):
        """The steps of samples ``x`` appended to a segment: its windows now complete, its samples now final."""
        steps = []
        seg.append(x)
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

    # components mode: a station's three components in one group segment ("Three components" in the module docstring)

    def _push_grouped(self, tid, stats, start, x):
        """The steps of samples ``x`` of ``tid`` from ``start``, components mode: to its group if it is in one
        (its lead-in first, samples before the group's start), else to its own segment, then a group is formed if
        its station's three components can start one."""
        route = self._routes.get(tid)
        if route is not None and (start - self._end_time(tid)) * stats["sampling_rate"] >= 0.5:
            steps = self._end_group(route[0])  # a gap in one component ends the group's segment for all three
            route = None
        else:
            steps = []
        if route is None:
            self._keys[_group_key(stats)].add(tid)
            return steps + self._push_own(tid, stats, start, x) + self._form(_group_key(stats))
        group, c = route
        lead = self._segments.get(tid)
        if lead is not None:  # its samples before the group's start: its own segment, ended there
            k = min(x.size, int(round((group.starts[c] - start) * group.rate)))
            steps += self._extend(lead, x[:k])
            if round((group.starts[c] - lead.end_time()) * group.rate) > 0:
                return steps + self._advance(group)
            steps += self._finish(self._segments.pop(tid))
            x = x[k:]
        if x.size:
            group.append(c, x)
        return steps + self._advance(group)

    def _form(self, key):
        """Start a group segment of station ``key`` if three of its ids (distinct component letters, one ``Z``)
        run their own segments, aligned, within one window of one another; return the steps."""
        if key in self._groups:
            return []
        ids = sorted(tid for tid in self._keys[key] if tid in self._segments and tid not in self._routes)
        segs = [self._segments[tid] for tid in ids]
        letters = {seg.stats["channel"][-1:] for seg in segs}
        if len(segs) != 3 or len(letters) != 3 or "Z" not in letters:
            return []
        L, rate = self.windowing.window_length, self.denoiser.sampling_rate
        ends = [seg.end_time() for seg in segs]
        if (max(ends) - min(ends)) * rate > L:  # one lags by more than a window: not now
            return []
        # the group's start: each segment's start while it has returned nothing (then all its samples are held),
        # else its end (its returned samples are final): the latest of these
        start = max(seg.start if seg.staged == 0 else seg.end_time() for seg in segs)
        offsets = [(start - seg.start) * rate for seg in segs]
        if any(abs(d - round(d)) >= 0.25 for d in offsets):  # not sample-aligned
            return []
        order = sorted(range(3), key=lambda i: (segs[i].stats["channel"][-1:] == "Z", segs[i].stats["channel"]))
        heads = [int(round(offsets[i])) for i in order]  # samples of each before the group's start
        group = self._groups[key] = _Group(key, [ids[i] for i in order], [segs[i].stats for i in order],
                                           [segs[i].start + k / rate for i, k in zip(order, heads)])
        steps = []
        for c, (i, k) in enumerate(zip(order, heads)):
            seg = segs[i]
            self._routes[ids[i]] = (group, c)
            if seg.n > k:  # past the group's start: it has returned nothing, all its samples are held
                del self._segments[ids[i]]
                if k:  # its samples before the start: a segment of their own
                    head = _Segment(seg.stats, seg.start)
                    steps += self._extend(head, seg.samples(0, k).copy()) + self._finish(head)
                group.append(c, seg.samples(k, seg.n))
            elif seg.n == k:  # it ends at the group's start
                steps += self._finish(self._segments.pop(ids[i]))
            # else: its own segment goes on up to the group's start (its lead-in, `_push_grouped`)
        return steps + self._advance(group)

    def _advance(self, group):
        """The steps of a group after new samples: its windows and final samples; its end if one component is
        more than a window ahead of another (its lead-in counted)."""
        ends = []
        for c, tid in enumerate(group.ids):
            lead = self._segments.get(tid)
            ends.append(group.n[c] if lead is None else round((lead.end_time() - group.starts[c]) * group.rate))
        if max(ends) - min(ends) > self.windowing.window_length:
            return self._end_group(group)
        return self._group_windows(group)

    def _group_windows(self, group):
        """The group's windows that all three components complete, and its samples that became final."""
        L, hop, m = self.windowing.window_length, self.windowing.hop, min(group.n)
        steps = []
        starts = list(range(group.next_start, m - L + 1, hop))
        if starts:
            steps.append(("run", group, self._group_frames(group, starts, m)))
            group.next_start = starts[-1] + hop
        if m - L > group.staged:
            group.staged = m - L
            steps.append(("take", group, group.staged))
        group.trim(L)
        return steps

    def _end_group(self, group):
        """End a group's segment at the components' common end ``m`` (finished as `denoise_components` would
        finish ``[0, m)``); each component's samples after ``m`` go on in its own segment."""
        steps = self._group_windows(group)
        L, m = self.windowing.window_length, min(group.n)
        if m:
            if m < L:  # one zero-padded window, seen whole
                steps.append(("run", group, self._group_frames(group, [0], m)))
            elif group.next_start - self.windowing.hop + L < m:  # the window aligned to the end
                steps.append(("run", group, self._group_frames(group, [m - L], m)))
            group.staged = m
            steps.append(("take", group, m))
        del self._groups[group.key]
        for c, tid in enumerate(group.ids):
            del self._routes[tid]
            if group.n[c] > m:
                steps += self._push_own(tid, group.stats[c], group.starts[c] + m / group.rate,
                                        group.samples(c, m, group.n[c]).copy())
        return steps

    def _group_frames(self, group, starts, end):
        """The group's windows at ``starts`` on its samples ``[0, end)`` (`frame_components`, as the batch path)."""
        L = self.windowing.window_length
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.minimum(starts + L, end)
        a = group.buf_start
        windows, bounds, exponents = frame_components([group.samples(c, a, int(ends[-1])) for c in range(3)], a,
                                                      starts, ends, L, group.prefixes)
        return _GroupFrames(starts, bounds, exponents, windows)

    def _group_traces(self, group, data):
        """Traces of the samples ``[emitted - len(data), emitted)`` of a group's components."""
        first = group.emitted - len(data)
        out = []
        for c, stats in enumerate(group.stats):
            tr = obspy.Trace(np.asarray(data[:, c], dtype=np.float32), header=dict(stats))
            tr.stats.starttime = group.starts[c] + first / group.rate
            tr.stats.processing = [self.group_processing]
            out.append(tr)
        return out

    def _trace(self, seg, data):
        """A Trace of the samples ``[emitted - len(data), emitted)`` of a segment."""
        first = seg.emitted - data.size
        tr = obspy.Trace(np.asarray(data, dtype=np.float32), header=dict(seg.stats))
        tr.stats.starttime = seg.start + first / seg.stats["sampling_rate"]
        tr.stats.processing = [self.processing]
        return tr
