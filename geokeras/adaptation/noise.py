"""The noise of one station's continuous record: read it, check it, keep its noise-only stretches, split by time.

`station_traces` reads the records (any ObsPy format, gaps, any channel) and refuses records of several
stations or sampling rates outside the base model's range. `find_noise` cuts every gap-free segment (NaN and
inf samples are gaps; resampled to the model's rate) into the stretches that hold no event:

1. ``stalta``: ObsPy's recursive STA/LTA (`geokeras.detection.characteristic_function`, 0.5 s / 10 s, on
   the segment high-passed at 1 Hz) above `STALTA_ON`;
2. ``model``: the base model's signal estimate (its output) with a 1-s RMS above `MODEL_RATIO` times the
   segment's median for `MODEL_MIN_S` seconds in a row: the mask opened, something that looks like signal
   to the model;
3. each flagged sample is widened by `EVENT_MARGIN_S` (a margin before P, a coda after), the first long
   window of each segment (``startup``) is dropped, what is left is cut into pieces of `PIECE_S` seconds;
4. ``transient``: `geokeras.detection.quiet_noise`'s screen (no 1-s RMS above 3 x the piece's median, no runs
   of zeros) drops the pieces that still hold a burst or filled-in zeros; ``short``: pieces under
   `MIN_PIECE_S`.

The report gives the seconds kept and dropped for each reason. `split_by_time` splits the kept pieces at
the times that leave given fractions of the noise after them (the last part for held-out scoring).

Example:
    >>> import numpy as np
    >>> pieces = [NoisePiece("XX.STA..HHZ", 0.0, 100.0, np.zeros(1000)),
    ...           NoisePiece("XX.STA..HHZ", 20.0, 100.0, np.zeros(1000))]
    >>> [[(p.start, p.data.size) for p in part] for part in split_by_time(pieces, (0.5, 0.5))]
    [[(0.0, 1000)], [(20.0, 1000)]]
"""
import dataclasses

import numpy as np

from geokeras.errors import InputError, OutOfBandError, SeveralStationsError

__all__ = ["NoisePiece", "station_traces", "find_noise", "split_by_time", "STALTA_ON", "MODEL_RATIO",
           "MODEL_MIN_S", "EVENT_MARGIN_S", "PIECE_S", "MIN_PIECE_S"]

STALTA_ON = 4.5
"""Recursive STA/LTA (0.5 s / 10 s, 1 Hz high-pass) level above which a sample looks like an event (raw noise
reaches about 5 at 2 false triggers per hour on the bundled stations, `geokeras.detection`: 3 drops much noise)."""

MODEL_RATIO = 4.0
"""1-s RMS of the base model's output above this times its segment median for at least `MODEL_MIN_S` seconds:
the model sees signal there (brief noise bursts that open the mask for a second are not flagged)."""

MODEL_MIN_S = 2

EVENT_MARGIN_S = (20.0, 90.0)
"""Seconds dropped before and after every flagged sample (the P margin, an event's coda)."""

PIECE_S = 120.0
"""Noise is kept in pieces of at most this many seconds (a transient drops one piece, not the segment)."""

MIN_PIECE_S = 40.0
"""Shorter noise pieces are dropped (a training window is 30 s)."""


@dataclasses.dataclass
class NoisePiece:
    """A noise-only stretch of one channel: ``data`` (1-D) from ``start`` (POSIX seconds) at ``sampling_rate``."""

    trace_id: str
    start: float
    sampling_rate: float
    data: np.ndarray

    @property
    def end(self):
        return self.start + self.data.size / self.sampling_rate


def station_traces(records, sampling_rate_range_hz, per_station=False):
    """Read records of one station: an ``obspy.Stream`` of their traces (or ``{station: Stream}``).

    Args:
        records: paths, globs or folders of waveform files (any ObsPy format), an ``obspy.Stream``, or a list
            of them.
        sampling_rate_range_hz: ``(low, high)`` record rates the base model accepts.
        per_station: return ``{"NET.STA": Stream}`` for any number of stations instead of refusing several.

    Raises:
        SeveralStationsError: traces of several stations (without ``per_station``); the message lists them.
        OutOfBandError: a trace sampled outside ``sampling_rate_range_hz``.
        InputError: no trace.
    """
    import obspy

    from geokeras.data.io import read

    st = obspy.Stream()
    for item in records if isinstance(records, (list, tuple)) else [records]:
        st += item.copy() if isinstance(item, obspy.Stream) else read(item)
    if not len(st):
        raise InputError(f"Invalid value for argument `records`. No trace in {records!r}.")
    low, high = sampling_rate_range_hz
    for tr in st:
        rate = tr.stats.sampling_rate
        if not low <= rate <= high:
            raise OutOfBandError(tr.id, f"sampled at {rate:g} Hz, outside the {low:g}-{high:g} Hz the base model "
                                        "accepts")
    groups = {}
    for tr in st:
        groups.setdefault(f"{tr.stats.network}.{tr.stats.station}", obspy.Stream()).append(tr)
    if per_station:
        return groups
    if len(groups) > 1:
        raise SeveralStationsError(groups, " (--per-station adapts one model for each)")
    return st


def _segments(st, sampling_rate):
    """Gap-free segments of every trace at ``sampling_rate`` (demeaned float64), and the gap seconds (NaN and inf
    samples are gaps: a logger's fill drops those samples, not their segment)."""
    st = st.copy()
    for tr in st:
        if tr.data.dtype.kind == "f" and not np.all(np.isfinite(np.ma.getdata(tr.data))):
            tr.data = np.ma.masked_invalid(tr.data)
    st.merge(method=1, fill_value=None)  # one trace per channel, gaps masked (split below)
    segments, gap_s = [], 0.0
    for tr in st:
        span = tr.stats.endtime - tr.stats.starttime + tr.stats.delta
        for seg in tr.split():
            if abs(seg.stats.sampling_rate - sampling_rate) > 1e-6 * sampling_rate:
                seg.resample(sampling_rate)
            data = np.asarray(seg.data, dtype=np.float64)
            if data.size and np.all(np.isfinite(data)):
                segments.append((seg.id, float(seg.stats.starttime.timestamp), data - data.mean()))
            span -= seg.stats.npts * seg.stats.delta
        gap_s += max(0.0, span)
    return segments, gap_s


def _dilate(flag, sampling_rate):
    """``flag`` widened by `EVENT_MARGIN_S` (before, after) around every flagged sample."""
    before, after = (int(round(m * sampling_rate)) for m in EVENT_MARGIN_S)
    idx = np.flatnonzero(np.diff(np.concatenate([[0], flag.astype(np.int8), [0]])))
    out = np.zeros_like(flag)
    for on, off in zip(idx[::2], idx[1::2]):
        out[max(0, on - before):min(flag.size, off + after)] = True
    return out


def _event_flags(data, sampling_rate, denoiser):
    """``(stalta, model)`` boolean flags of the samples that look like events (before the margins)."""
    from geokeras.data.pairs import highpass
    from geokeras.detection import characteristic_function

    hp = highpass(data, 1.0, sampling_rate)
    stalta = characteristic_function(hp, sampling_rate) > STALTA_ON
    model = np.zeros(data.size, bool)
    if denoiser is not None:
        from geokeras.denoise import denoise

        # float32, not the machine's "auto": the noise kept must not depend on the CPU
        y = np.asarray(denoise(data.astype(np.float32), model=denoiser, sampling_rate=sampling_rate,
                               precision="float32"), np.float64)
        block = int(round(sampling_rate))
        nb = y.size // block
        if nb >= 3:
            rms = np.sqrt(np.mean(y[: nb * block].reshape(nb, block) ** 2, axis=1))
            loud = rms > MODEL_RATIO * max(np.median(rms), 1e-30)
            runs = np.convolve(loud, np.ones(MODEL_MIN_S), "valid") >= MODEL_MIN_S  # MODEL_MIN_S loud blocks in a row
            loud = np.convolve(runs, np.ones(MODEL_MIN_S), "full")[: loud.size] > 0 if runs.size else loud & False
            model[: nb * block] = np.repeat(loud, block)
    return stalta, model


def _pieces(trace_id, start, data, keep, sampling_rate):
    """The kept runs of ``keep`` as `NoisePiece`s of at most `PIECE_S` seconds (shorter runs dropped)."""
    step, shortest = int(round(PIECE_S * sampling_rate)), int(round(MIN_PIECE_S * sampling_rate))
    out, short = [], 0.0
    for sl in np.ma.clump_unmasked(np.ma.masked_array(data, ~keep)):
        for lo in range(sl.start, sl.stop, step):
            hi = min(lo + step, sl.stop)
            if hi - lo < shortest:
                short += (hi - lo) / sampling_rate
                continue
            out.append(NoisePiece(trace_id, start + lo / sampling_rate, sampling_rate, data[lo:hi]))
    return out, short


def find_noise(st, sampling_rate, denoiser=None):
    """The noise-only pieces of a station's traces, and why the rest was dropped.

    Args:
        st: ``obspy.Stream`` of one station (`station_traces`).
        sampling_rate: the model's rate (Hz): segments are resampled to it.
        denoiser: the base model (anything `geokeras.denoise.Denoiser.resolve` takes) whose signal estimate
            flags events too, or None for STA/LTA alone.

    Returns:
        tuple ``(pieces, report)``: `NoisePiece` list sorted by time, and a dict of seconds: ``total_s``
        (the records' spans, all channels), ``gaps_s``, ``startup_s``, ``stalta_s``, ``model_s`` (flagged by
        the model and not by STA/LTA), ``short_s``, ``transient_s`` and ``kept_s``.
    """
    from geokeras.detection import LTA_S, quiet_noise

    segments, gap_s = _segments(st, sampling_rate)
    report = {"total_s": gap_s, "gaps_s": gap_s, "startup_s": 0.0, "stalta_s": 0.0, "model_s": 0.0,
              "short_s": 0.0, "transient_s": 0.0, "kept_s": 0.0}
    pieces = []
    for trace_id, start, data in segments:
        report["total_s"] += data.size / sampling_rate
        stalta, model = _event_flags(data, sampling_rate, denoiser)
        stalta, model = _dilate(stalta, sampling_rate), _dilate(model, sampling_rate)
        startup = np.zeros(data.size, bool)
        startup[: int(round(LTA_S * sampling_rate))] = True
        report["startup_s"] += np.count_nonzero(startup) / sampling_rate
        report["stalta_s"] += np.count_nonzero(stalta & ~startup) / sampling_rate
        report["model_s"] += np.count_nonzero(model & ~stalta & ~startup) / sampling_rate
        found, short = _pieces(trace_id, start, data, ~(stalta | model | startup), sampling_rate)
        report["short_s"] += short
        for p in found:
            kept, _ = quiet_noise([p.data], sampling_rate, min_piece_s=MIN_PIECE_S)
            if len(kept) == 1 and kept[0].size == p.data.size:  # no burst, no run of zeros
                pieces.append(p)
                report["kept_s"] += p.data.size / sampling_rate
            else:
                report["transient_s"] += p.data.size / sampling_rate
    return sorted(pieces, key=lambda p: (p.start, p.trace_id)), report


def _noise_after(pieces, t):
    return sum(max(0.0, p.end - max(p.start, t)) for p in pieces)


def split_by_time(pieces, fractions):
    """Split noise pieces by time into consecutive parts holding the given fractions of the noise.

    The cut times are found by bisection so that the noise after each cut (all channels together) is the sum
    of the later fractions; a piece that straddles a cut is cut there. Every sample goes to exactly one part.

    Args:
        pieces: `NoisePiece` list.
        fractions: positive numbers, normalized to sum 1 (the first part is the earliest noise).

    Returns:
        list of `NoisePiece` lists, one per fraction.

    Raises:
        ValueError: no piece, or a fraction that is not a positive number.
    """
    if not len(pieces):
        raise ValueError("Invalid value for argument `pieces`. Expected at least one NoisePiece. Received none.")
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or not fractions.size or not np.all(np.isfinite(fractions) & (fractions > 0)):
        raise ValueError(f"Invalid value for argument `fractions`. Expected positive numbers. Received "
                         f"fractions={fractions.tolist()}.")
    fractions = fractions / np.sum(fractions)
    total = _noise_after(pieces, -np.inf)
    lo0, hi0 = min(p.start for p in pieces), max(p.end for p in pieces)
    cuts = []
    for later in np.cumsum(fractions[::-1])[:-1][::-1]:  # noise wanted after each cut
        lo, hi = lo0, hi0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _noise_after(pieces, mid) > later * total else (lo, mid)
        cuts.append(hi)
    bounds = [-np.inf] + cuts + [np.inf]
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        part = []
        for p in pieces:
            i, j = (int(np.clip(np.ceil((t - p.start) * p.sampling_rate), 0, p.data.size)) for t in (a, b))
            if j > i:
                part.append(NoisePiece(p.trace_id, p.start + i / p.sampling_rate, p.sampling_rate, p.data[i:j]))
        parts.append(part)
    return parts
