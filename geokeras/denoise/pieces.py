"""Denoise a long MiniSEED file a piece of records at a time, in memory that does not grow with the file.

`denoise_mseed_in_pieces` reads the file's records a piece at a time (`geokeras.data.io.read_mseed_pieces`),
pushes each piece's traces through a `geokeras.stream.StreamingDenoiser` and appends the samples that are
final to the output's temporary file as MiniSEED records (`geokeras.data.io.append_mseed`); the file is moved
into place, with its sidecar, only once every record is written (an output file is never half-written).
The model runs in a thread of its own (`_Pipeline`), piece after piece, while this thread reads and frames the
next pieces (`StreamingDenoiser.stage`, at most `AHEAD` of them) and stitches and writes the earlier ones: the
same model calls on the same windows as one piece at a time, so the same bits.

The result is `geokeras.denoise.denoise` of the whole file, to float rounding: the stream and the batch path
share one causal definition (`geokeras.data.process.window_frames`), so no first pass over the file is
needed. The same traces, gaps, headers, processing lines and notes come out (a 1-sample or constant segment
is set to zeros and noted, as `denoise` notes it), and the same times: each trace of a piece is moved onto its
id's sample grid where ObsPy's reader and merge put it in the whole file (`_Id.place`: records within half a
sample of the previous record's end continue it, a gap off the grid becomes whole samples).

**Three components** (``options.components``, `geokeras.denoise.denoise_components`): a first pass reads the file a
piece at a time (`_scan`) and finds its ids as the whole-file path merges them (`_Id`); the groups are those
`geokeras.denoise.components.station_groups` would form of the merged traces (`component_groups`: three
components of one station, at the model's rate, aligned, gap-free). Each group is then denoised by
`geokeras.denoise.components.stitched_components`, the core of `denoise_components`, whose components are read a
piece at a time wherever their records lie in the file (`_Components`: the pieces holding each id's records, a few
cached, so records of the three that interleave are read once); its windows, batches, model calls and sums are
those of the whole-file path, so its outputs are the same bits. The other ids go the one-trace path above (with
the processing line and the note of ``components=None``, as `geokeras.denoise.denoise_stream` gives them).
Memory: a few pieces and a few batches of windows, as one trace at a time; time: the first pass reads the file
once more (a file with no group pays only that), while the model loads in the background.

It serves the files that need nothing else of the batch path; for any other file it raises `NotPiecewise`
before moving anything into place, and the caller denoises the file whole: records of one id that overlap or
go back in time, a trace at another rate than the model's (resampling needs the whole segment), NaN or inf
samples, a file ObsPy remarks on or that cannot be cut into whole records, an input with a sidecar, a model output
that is not finite (NaN, inf, beyond float32: the whole-file path names the trace and leaves it out).
"""
import collections
import dataclasses
import io as bytes_io
import os
import time
import threading

import numpy as np
from obspy import UTCDateTime
from obspy.core.compatibility import round_away

from geokeras.data.process import NOTES_SEPARATOR
from geokeras.data.windows import Windowing
from geokeras.errors import InputError, PacketError

__all__ = ["MIN_BYTES", "NotPiecewise", "denoise_mseed_in_pieces", "piece_bytes", "piecewise_candidate"]

MIN_BYTES = 2 ** 24  # files at least this large go piece by piece (smaller ones: the whole-file path)
PIECE_BYTES = 2 ** 21  # bytes of float32 records read at a time (`piece_bytes`: the same samples in any encoding)


class NotPiecewise(Exception):
    """The file needs the whole-file path (the reason is the message); nothing was written."""


def piecewise_candidate(path, min_bytes=None):
    """True for a MiniSEED file of at least ``min_bytes`` (default `MIN_BYTES`) with no sidecar
    (`geokeras.data.io.read` would restore headers from one)."""
    from obspy.io.mseed.core import _is_mseed

    from geokeras.data.io import SIDECAR_SUFFIX

    try:
        return (os.path.getsize(path) >= (MIN_BYTES if min_bytes is None else min_bytes) and not os.path.exists(str(path) + SIDECAR_SUFFIX)
                and bool(_is_mseed(path)))
    except OSError:
        return False


@dataclasses.dataclass
class _Segment:
    """A gap-free segment of one id as read: where it is in the merged trace, and what `denoise` notes."""

    start: object  # UTCDateTime of its first sample
    index: int  # its first sample's index in the merged trace (ObsPy's merge)
    n: int = 0
    first: object = None
    low: float = np.inf
    high: float = -np.inf


class _Id:
    """What one id needs: the header of its first trace (the merged trace's), its segments, its peaks."""

    def __init__(self, tr):
        self.stats = tr.stats.copy()
        self.segments = []
        self.in_peak = self.out_peak = 0.0
        self.record_end = None  # the time after its last record read, by that record's own time (io.read_mseed_pieces)
        self.pieces = []  # the numbers of the pieces holding its records (`_scan`)

    def place(self, tr, first_in_piece):
        """Move ``tr`` onto this id's sample grid where the whole-file path puts it; return its index there.

        ObsPy's reader joins a record to the id's previous record when it starts within half a sample of that
        record's end (in a piece it has done so: only an id's first trace of a piece may continue the last
        record of the piece before); its merge puts any other trace at the sample of the grid of the id's first
        sample nearest its start (half a sample rounds away from zero): a gap of whole samples, or none.

        Raises:
            NotPiecewise: ``tr`` overlaps the samples before it or goes back in time (the merge decides).
        """
        if not self.segments:
            return 0
        seg, rate, delta = self.segments[-1], tr.stats.sampling_rate, tr.stats.delta
        t0, n = self.segments[0].start, seg.index + seg.n  # the merged trace's start and length so far
        if (first_in_piece and self.record_end is not None
                and abs(tr.stats.starttime - self.record_end) <= 0.5 * delta + 1e-7):
            index = n  # the reader's tolerance (libmseed's, inclusive)
        else:
            k = int(round_away((tr.stats.starttime - (t0 + float(n - 1) * delta)) * rate)) - 1  # ObsPy's merge
            if k < 0:
                raise NotPiecewise(f"{tr.id}: a trace starting at {tr.stats.starttime} overlaps the samples before "
                                   "it or goes back in time")
            index = n + k
        tr.stats.starttime = t0 + delta * index  # as ObsPy's split cuts the merged trace
        return index

    def add_input(self, tr, first_in_piece):
        index = self.place(tr, first_in_piece)
        x = tr.data
        seg = self.segments[-1] if self.segments else None
        if seg is None or index > seg.index + seg.n:  # a gap of whole samples in the merged trace
            seg = _Segment(tr.stats.starttime, index, first=x[0])
            self.segments.append(seg)
        seg.n += x.size
        seg.low, seg.high = min(seg.low, float(x.min())), max(seg.high, float(x.max()))
        self.in_peak = max(self.in_peak, abs(float(x.min())), abs(float(x.max())))

    def notes(self, tid):
        """The notes `geokeras.data.process.apply_to_stream` gives this id's degenerate segments."""
        t0, delta, out = self.segments[0].start, self.stats.delta, []
        for seg in self.segments:
            where = f"{tid} samples {seg.index}:{seg.index + seg.n} ({t0 + seg.index * delta})"
            if seg.n == 1:
                out.append(f"{where}: 1-sample segment set to 0 (its mean removed)")
            elif seg.low == seg.high:
                out.append(f"{where}: constant segment (value {seg.first:g}) set to zeros (its mean removed)")
        return out


def _check_piece(tr, denoiser):
    """Raise `NotPiecewise` for a trace of a piece that the whole-file path must handle."""
    if tr.stats.sampling_rate != denoiser.sampling_rate:
        raise NotPiecewise(f"{tr.id}: {tr.stats.sampling_rate:g} Hz is not the model's rate")
    if not tr.data.size or tr.data.dtype.kind not in "iuf" or (tr.data.dtype.kind == "f" and not np.all(np.isfinite(tr.data))):
        raise NotPiecewise(f"{tr.id}: samples the whole-file path reports")


def _outputs(outs, ids):
    """The stream's output traces with the headers of their id's merged trace (as `denoise` keeps them).

    Raises:
        NotPiecewise: an output that is not finite (the model's NaN or inf, beyond float32): the whole-file path
            names its trace and leaves it out.
    """
    traces = []
    for out in outs:
        if not np.all(np.isfinite(out.data)):
            raise NotPiecewise(f"{out.id}: the model's output holds NaN or inf")
        state = ids[out.id]
        tr = out.copy()
        tr.stats = state.stats.copy()
        tr.stats.starttime, tr.stats.npts = out.stats.starttime, out.stats.npts
        tr.stats.pop("processing", None)
        state.out_peak = max(state.out_peak, float(np.max(np.abs(out.data))))
        traces.append(tr)
    return traces


MAX_IN_FLIGHT = 2  # model threads of `_Pipeline` (pieces in the model at once, at most)
AHEAD = 8  # pieces read and framed ahead of the model at most (~4 MB of float32 windows each: bounded memory)


class _Pipeline:
    """The model of each piece in background threads, while this thread reads and frames the next pieces and
    completes (stitches, writes) the earlier ones in order: at most `AHEAD` pieces between framing and writing.

    The model's calls are those `StreamingDenoiser.push` would make, on the same windows
    (`StreamingDenoiser.run_model`), so the outputs are the same bits. While the model is still loading
    (`geokeras.denoise.Denoiser.load_in_background`), this thread reads and frames up to `AHEAD` pieces.
    Up to ``in_flight`` model threads (default: the predictor's ``in_flight``,
    `geokeras.denoise.denoiser.calls_in_flight`, read once the model is loaded) run consecutive pieces at once,
    each piece's batches one after the other; the pieces are completed in order.
    """

    def __init__(self, sd, ahead=AHEAD, in_flight=None):
        from concurrent.futures import ThreadPoolExecutor

        self.sd, self.ahead, self.queue = sd, int(ahead), []
        self.in_flight = None if in_flight is None else int(in_flight)
        self.gate, self.lock = None, threading.Lock()  # at most `in_flight` pieces in the model (`_model`)
        self.pool = ThreadPoolExecutor(max_workers=self.in_flight or MAX_IN_FLIGHT, thread_name_prefix="geokeras-model")

    def submit(self, steps, ends):
        """Queue a piece's steps (`StreamingDenoiser.stage`) and its record ends; return the completed pieces
        that are due (``[(outputs, ends)]``, in order) once more than `ahead` are queued."""
        self.queue.append((self.pool.submit(self._model, steps), steps, ends))
        done = []
        while len(self.queue) > self.ahead:
            done.append(self._complete())
        return done

    def _model(self, steps):
        """The model's outputs for a piece (in a model thread; the first call waits for the model to load)."""
        with self.lock:  # one thread loads the model (never two threads importing TensorFlow at once)
            fn = self.sd.predictor()
            if self.gate is None:
                self.gate = threading.BoundedSemaphore(self.in_flight or getattr(fn, "in_flight", 1))
        with self.gate:
            return self.sd.run_model(steps, 1)  # a piece's batches one after the other

    def drain(self):
        """Complete every queued piece (``[(outputs, ends)]``, in order)."""
        return [self._complete() for _ in range(len(self.queue))]

    def _complete(self):
        future, steps, ends = self.queue.pop(0)
        return self.sd.complete(steps, future.result()), ends

    def close(self):
        """Drop what is queued and end the thread (after the model call under way, if any)."""
        for future, _, _ in self.queue:
            future.cancel()
        self.queue = []
        self.pool.shutdown(wait=True)


def _placed(st, ends, ids, denoiser, skip=()):
    """The traces of one piece, less those of the ids in ``skip``, checked and placed on their id's grid
    (`_Id.add_input`: ``ids`` updated), its ids' record ends noted."""
    out, seen = [], set()
    for tr in st:
        if tr.id in skip:
            continue
        _check_piece(tr, denoiser)
        (ids.get(tr.id) or ids.setdefault(tr.id, _Id(tr))).add_input(tr, tr.id not in seen)
        seen.add(tr.id)
        out.append(tr)
    for tid, end in ends.items():
        if tid in ids:
            ids[tid].record_end = end
    return out


def _stage(st, ends, sd, ids, skip=()):
    """The steps of one piece (`StreamingDenoiser.stage` of each of its traces but those of ``skip``, placed by
    `_placed`: at the times `add_input` gave them, so the stream's segments are the merge's)."""
    steps = []
    for tr in _placed(st, ends, ids, sd.denoiser, skip):
        steps += sd.stage(tr)
    return steps


def _run(path, f, sd, ids, t, progress, ahead, skip=()):
    """Push every piece of ``path`` through ``sd`` (`_Pipeline`: the model in a thread of its own), less the
    traces of the ids in ``skip``, and append the final samples to ``f``; ``t``: seconds spent reading, framing
    and waiting for the model, completing and writing; ``progress(bytes done, bytes in all)`` after each piece
    written."""
    from geokeras.data import io

    size, done, step = os.path.getsize(path), 0, piece_bytes(path)
    pipe = _Pipeline(sd, ahead)

    def write(completed):
        nonlocal done
        for outs, _ in completed:
            t2 = time.perf_counter()
            if outs:
                io.append_mseed(f, _outputs(outs, ids))
            t[2] += time.perf_counter() - t2
            done = min(size, done + step)  # pieces: at most `step` bytes
            if progress is not None:
                progress(done, size)

    try:
        pieces = iter(_pieces(path, step))
        while True:
            t0 = time.perf_counter()
            st, ends = next(pieces, (None, None))
            t1 = time.perf_counter()
            t[0] += t1 - t0
            if st is None:
                completed = pipe.submit(sd.stage_flush(), None) + pipe.drain()
            else:
                completed = pipe.submit(_stage(st, ends, sd, ids, skip), ends)
            t[1] += time.perf_counter() - t1
            write(completed)
            if st is None:
                if progress is not None:
                    progress(size, size)
                return t
    except PacketError as exc:  # out of order, overlapping: ObsPy's merge decides
        raise NotPiecewise(str(exc)) from None
    finally:
        pipe.close()


def piece_bytes(path):
    """Bytes of records read at a time from the MiniSEED file ``path``: `PIECE_BYTES`, or for a compressed file
    (fewer than 4 bytes a sample in its first record) as many samples as `PIECE_BYTES` of float32 records hold;
    a whole number of its records (`read_mseed_pieces` reads exactly that much a piece).

    Read `PIECE_BYTES` at a time, a compressed file (STEIM2 packs 3-4 times more samples into a byte) held that
    many times more samples in each of the `AHEAD` pieces: a day of 3-component STEIM2 peaked at 1.25 GB against
    0.93 GB for the same day in float32 (session 10).

    Example:
        >>> import numpy as np, obspy, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "x.mseed")
        >>> obspy.Trace(np.zeros(100_000, "int32")).write(path, format="MSEED", encoding="STEIM2", reclen=4096)
        >>> piece_bytes(path) < PIECE_BYTES        # zeros compress far beyond 4 bytes a sample
        True
    """
    from obspy.io.mseed.util import get_record_information

    try:
        info = get_record_information(path)
        reclen, npts = int(info["record_length"]), int(info["npts"])
    except Exception:  # noqa: BLE001 - not readable as a record: `read_mseed_pieces` says why
        return PIECE_BYTES
    if reclen <= 0 or npts <= 0:
        return PIECE_BYTES
    wanted = PIECE_BYTES if reclen >= 4 * npts else PIECE_BYTES // 4 * reclen // npts  # 4 bytes a sample or more:
    return max(1, wanted // reclen) * reclen  # as before; whole records (what `read_mseed_pieces` reads of it)


def _pieces(path, step):
    from geokeras.data import io

    try:
        yield from io.read_mseed_pieces(path, step, record_ends=True)
    except InputError as exc:
        raise NotPiecewise(str(exc)) from None


class _OutputFile:
    """The output's temporary file (`geokeras.utils.atomic_path`), made with its folder at the first write and
    moved into place when the block succeeds: a file whose model fails to load, or that is `NotPiecewise`,
    leaves nothing behind."""

    def __init__(self, output):
        self.output, self._atomic, self._file = output, None, None

    def write(self, data):
        if self._file is None:
            from geokeras.utils import atomic_path

            os.makedirs(os.path.dirname(os.path.abspath(self.output)), exist_ok=True)
            self._atomic = atomic_path(self.output)
            self._file = open(self._atomic.__enter__(), "wb")
        return self._file.write(data)

    def close(self):
        if self._file is not None:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        if self._atomic is None:
            if exc[0] is None:  # nothing written: an empty output, as before
                self.write(b"")
                self.close()
            else:
                return False
        return self._atomic.__exit__(*exc)


def _sidecar_entries(ids, line, fields, grouped=(), group_line=None):
    """The sidecar entries `geokeras.data.io.write` would give the merged traces, split at their gaps, and the
    notes of their degenerate segments; the ids in ``grouped`` (denoised as a station's components) have
    ``group_line`` and no notes (`geokeras.denoise.components.denoise_groups`)."""
    entries, notes = [], []
    for tid, state in ids.items():
        own = [] if tid in grouped else state.notes(tid)
        notes += own
        processing = [(group_line if tid in grouped else line) + (NOTES_SEPARATOR + "; ".join(own) if own else "")]
        for seg in state.segments:
            end = UTCDateTime(ns=seg.start.ns + int(round(float(seg.n - 1) * state.stats.delta * 1e9)))  # as ObsPy
            entries.append(dict(id=tid, starttime=str(seg.start), endtime=str(end), processing=processing,
                                **(fields or {})))
    return entries, notes


def denoise_mseed_in_pieces(path, output, denoiser, options, fields=None, progress=None, ahead=None):
    """Denoise the MiniSEED file ``path`` into ``output`` (MiniSEED, and its sidecar) a piece at a time.

    Args:
        path: the input file; output: the output file (replaced atomically).
        denoiser: a loaded `geokeras.denoise.Denoiser`; options: `geokeras.denoise.DenoiseOptions` (with
            ``components``, a station's three components are denoised together: module docstring).
        fields: JSON fields stored in every sidecar entry (`geokeras.data.io.write`'s ``sidecar_fields``).
        progress: None, or ``progress(bytes_read, file_size)`` called after each piece.
        ahead: pieces read and framed while the model runs (`_Pipeline`; default `AHEAD`; 0: one piece at a
            time, in order).

    The model is loaded at its first call, in the model's thread (a `~geokeras.denoise.Denoiser` loading in
    the background is waited for there); the output's folder and
    temporary file are made at the first write.

    Returns:
        ``{"traces", "samples", "windows", "ids", "peaks", "notes", "stages"}`` of
        `geokeras.denoise.executor.FileResult` (one trace per id, as `denoise` merges them).

    Raises:
        NotPiecewise: the file needs the whole-file path (nothing was written).
    """
    from geokeras.data import io
    from geokeras.denoise.components import ungrouped_note
    from geokeras.denoise.stream import StreamingDenoiser

    alone = dataclasses.replace(options, components=None)  # the options of the traces denoised one at a time
    sd = StreamingDenoiser(denoiser, alone.overlap, alone.batch_size, alone.precision, load_model=False)
    ids, t, ahead = {}, np.zeros(3), AHEAD if ahead is None else ahead
    scanned, groups, step = ({}, [], None) if not options.components else _scan(path, denoiser)
    grouped = {tid for group in groups for tid in group}
    share = _share(scanned, grouped)
    with _OutputFile(output) as f:
        if not grouped or len(scanned) > len(grouped):  # ids for the one-trace path
            _run(path, f, sd, ids, t, progress and (lambda done, size: progress(int(done * share), size)), ahead,
                 skip=grouped)
        if groups:
            _denoise_groups(path, step, groups, scanned, f, denoiser, options, t, progress, share)
        f.close()
        ids = {tid: ids.get(tid) or scanned[tid] for tid in scanned} if scanned else ids  # the file's order
        entries, notes = _sidecar_entries(ids, alone.processing_line(denoiser), fields, grouped,
                                          options.processing_line(denoiser))
    if options.components and len(ids) > len(grouped):
        notes.append(ungrouped_note(sorted(set(ids) - grouped), denoiser.sampling_rate))
    io.write_sidecar(output, entries)
    windowing = Windowing(denoiser.window_length, options.overlap)
    windows = sum(windowing.starts(seg.n).size for tid, state in ids.items()  # a group's window: 1 per component
                  for seg in state.segments if tid in grouped or (seg.n > 1 and seg.low != seg.high))
    return dict(traces=len(ids), samples=sum(seg.n for s in ids.values() for seg in s.segments),
                windows=windows, ids=tuple(sorted(ids)), notes=tuple(notes),
                peaks=(max(s.in_peak for s in ids.values()), max(s.out_peak for s in ids.values())),
                stages=tuple(zip(("read", "denoise", "write"), t.tolist())))


# three components ("Three components" in the module docstring)

CACHED = 4  # pieces of `_Components` kept decoded (the components of a file whose records interleave share them)


def _scan(path, denoiser):
    """The first pass of a components run: every piece of ``path`` read, checked and placed (`_placed`) without
    the model; return ``(ids, groups, step)``: the `_Id` of each id in the file's order (each with ``pieces``, the
    numbers of the pieces holding its records), the groups of three ids that the whole-file path denoises together
    (`geokeras.denoise.components.component_groups` of the merged traces: the vertical last) and the bytes of a
    piece (a whole number of records: piece ``i`` starts at byte ``i * step``).

    Raises:
        NotPiecewise: as the one-trace path (another rate, NaN, records that overlap or go back in time, ...).
    """
    from geokeras.denoise.components import component_groups

    step = piece_bytes(path)  # whole records: piece ``i`` starts at byte ``i * step`` (found again by number)
    ids = {}
    for number, (st, ends) in enumerate(_pieces(path, step)):
        for tr in _placed(st, ends, ids, denoiser):
            held = ids[tr.id].pieces
            if not held or held[-1] != number:
                held.append(number)
    tids, merged = list(ids), []
    for state in ids.values():  # the header of each id's merged trace
        stats = state.stats.copy()
        stats.starttime, stats.npts = state.segments[0].start, sum(seg.n for seg in state.segments)
        merged.append(stats)
    groups = component_groups(merged, denoiser.sampling_rate, lambda i: len(ids[tids[i]].segments) == 1)
    return ids, [[tids[i] for i in group] for group in groups], step


def _share(ids, grouped):
    """The fraction of the samples of ``ids`` that are not in ``grouped`` (1 when there are none)."""
    total = sum(seg.n for state in ids.values() for seg in state.segments)
    return 1.0 if not total else sum(seg.n for tid, state in ids.items() if tid not in grouped
                                     for seg in state.segments) / total


class _Components:
    """The samples of a group's components, read a piece at a time wherever their records lie in the file.

    `read` serves `geokeras.denoise.components.stitched_components`: the samples ``[a, b)`` of each component
    (``a`` and ``b`` never decrease); each component holds its samples from ``a`` to the end of the last piece it
    read; the last `CACHED` pieces read are kept decoded (the group's samples only), so a file whose records of the
    three interleave is read once. ``seconds``: time spent reading.
    """

    def __init__(self, path, step, tids, pieces):
        self.path, self.step, self.tids = path, step, list(tids)
        self.todo = [collections.deque(pieces[tid]) for tid in self.tids]  # piece numbers left, per component
        self.held = [[] for _ in self.tids]  # arrays of samples [start, ...), per component
        self.start = [0] * len(self.tids)
        self.cache, self.seconds = collections.OrderedDict(), 0.0

    def read(self, a, b):
        t0 = time.perf_counter()
        rows = [self._row(c, a, b) for c in range(len(self.tids))]
        self.seconds += time.perf_counter() - t0
        return rows

    def _row(self, c, a, b):
        held = self.held[c]
        while self.start[c] + sum(x.size for x in held) < b:
            if not self.todo[c]:
                raise NotPiecewise(f"{self.tids[c]}: fewer samples than the first pass read (the file changed?)")
            held += self._piece(self.todo[c].popleft())[self.tids[c]]
        while held and self.start[c] + held[0].size <= a:  # the arrays before ``a`` are done with
            self.start[c] += held.pop(0).size
        x = held[0] if len(held) == 1 else np.concatenate(held)  # (a copy, not kept)
        return x[a - self.start[c]:b - self.start[c]]

    def _piece(self, number):
        import obspy

        if number not in self.cache:
            with open(self.path, "rb") as fh:
                fh.seek(number * self.step)
                st = obspy.read(bytes_io.BytesIO(fh.read(self.step)), format="MSEED")  # checked by `_scan`
            self.cache[number] = {tid: [tr.data for tr in st if tr.id == tid] for tid in self.tids}
            while len(self.cache) > CACHED:
                self.cache.popitem(last=False)
        return self.cache[number]


def _denoise_groups(path, step, groups, ids, f, denoiser, options, t, progress, share):
    """Denoise each group of a station's components (`geokeras.denoise.components.stitched_components`, its
    components read by `_Components`) and append its outputs to ``f`` a block at a time."""
    import obspy

    from geokeras.data import io
    from geokeras.denoise.components import stitched_components

    windowing = Windowing(denoiser.window_length, options.overlap)
    total, size = sum(seg.n for state in ids.values() for seg in state.segments), os.path.getsize(path)
    done = total * share  # samples of the file denoised (the one-trace path's first)
    fn = denoiser.component_predictor(3, options.components, options.precision)
    for group in groups:
        source = _Components(path, step, group, {tid: ids[tid].pieces for tid in group})
        n, t0 = ids[group[0]].segments[0].n, time.perf_counter()
        writing = 0.0
        for a, block in stitched_components(source.read, n, 3, fn, windowing, options.batch_size):
            t2 = time.perf_counter()
            traces = []
            for tid, row in zip(group, block):
                stats = ids[tid].stats
                traces.append(obspy.Trace(row, header=dict(
                    network=stats.network, station=stats.station, location=stats.location, channel=stats.channel,
                    sampling_rate=stats.sampling_rate, starttime=ids[tid].segments[0].start + a / stats.sampling_rate)))
            io.append_mseed(f, _outputs(traces, ids))
            writing += time.perf_counter() - t2
            done += block.size
            if progress is not None:
                progress(int(size * min(1.0, done / total)), size)
        t += (source.seconds, time.perf_counter() - t0 - source.seconds - writing, writing)
