"""Detection scoring on continuous records: what a network operator sees after denoising.

A denoiser is judged here as an observatory uses it: on a continuous record, by an STA/LTA detector run at
a fixed false-alarm rate, by the P picks made around its triggers, by the amplitudes it keeps, and by how
steady the noise it leaves behind is (a detector's threshold is set by the worst bursts of that noise).

- `continuous_record` builds an hour-long record by overlap-adding real noise windows of one station with
  equal-power cross-fades and injecting real events of other stations at known P times and window SNRs.
- `characteristic_function`: ObsPy's ``recursive_sta_lta`` or ``classic_sta_lta``.
- `threshold_for_rate` finds the lowest trigger threshold (``obspy.signal.trigger.trigger_onset``) that
  gives at most a given number of false triggers per hour in the noise-only stretches of a record.
- `score_detections` matches triggers to the known P times, picks P around each hit (`pick_at_trigger`:
  ObsPy's Akaike criterion ``aic_simple``, refined on the input trace, or ``pk_baer``), and measures peak
  amplitudes; `noise_stationarity` gives the 1-s RMS percentiles of noise-only stretches.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=60_000)
    >>> for p in (20_000, 40_000):
    ...     x[p:p + 300] += 20 * rng.normal(size=300)
    >>> cf = characteristic_function(x, 100.0)
    >>> events = [Event(p, 300, 0.0) for p in (20_000, 40_000)]
    >>> quiet = noise_only_mask(x.size, events, 100.0)
    >>> thr = threshold_for_rate(cf, quiet, rate_per_hour=0.0, sampling_rate=100.0)
    >>> hits = match_triggers(trigger_onsets(cf, thr), events, 100.0)
    >>> [h is not None for h in hits]
    [True, True]
"""
import dataclasses

import numpy as np

from geokeras import metrics
from geokeras.validation import check_choice, check_positive_int

DETECTORS = ("recursive", "classic")
"""The ObsPy STA/LTA characteristic functions: ``recursive_sta_lta`` and ``classic_sta_lta``."""

STA_S, LTA_S = 0.5, 10.0
"""Short and long STA/LTA windows in seconds (a local-earthquake detector)."""

THR_OFF = 1.0
"""``trigger_onset``'s release level: a trigger ends when the short-term average falls below the long-term."""

HIT_WINDOW_S = (-1.0, 4.0)
"""A trigger onset within these seconds of a known P time detects that event."""

EVENT_GUARD_S = (-5.0, 15.0)
"""Seconds before P and after the end of an event that are not noise-only (the long window's memory)."""


@dataclasses.dataclass(frozen=True)
class Event:
    """One injected event of a continuous record.

    Attributes:
        p_index: sample of the P arrival.
        length: samples of the injected signal from ``p_index`` on.
        snr_db: its window SNR (signal power over noise power in the 30 s window starting 10 s before P).
        station: the station the event was recorded at.
    """

    p_index: int
    length: int
    snr_db: float
    station: str = ""


def _check_rate(sampling_rate):
    sampling_rate = float(sampling_rate)
    if not sampling_rate > 0:
        raise ValueError("Invalid value for argument `sampling_rate`. Expected a positive number. "
                         f"Received sampling_rate={sampling_rate!r}.")
    return sampling_rate


# ------------------------------------------------------------------------------------ building records
def _fade(n):
    """Equal-power fade-in of ``n`` samples (``sin``); the fade-out is its reverse (``cos``)."""
    return np.sin(0.5 * np.pi * (np.arange(n) + 0.5) / n)


def overlap_add_noise(noises, n, sampling_rate, crossfade_s=2.0, seed=0, min_piece_s=8.0):
    """A continuous noise trace of ``n`` samples from pieces of real noise joined by equal-power cross-fades.

    Each piece is cut from a randomly chosen source at a random offset (at most the source's length), flipped
    in polarity and reversed in time with probability 1/2 each, and cross-faded into the next with
    ``sin``/``cos`` fades, which keep the power of uncorrelated noise constant across the joint. Each
    source is scaled to the median RMS of all sources first, so that the record's level is that of one
    station on one day, with each source's own variability inside it.

    Args:
        noises: list of 1-D arrays of one station's noise (at least ``min_piece_s + crossfade_s`` long).
        n: samples of the output.
        sampling_rate: Hz.
        crossfade_s: length of each cross-fade in seconds.
        seed: seed of the draws.
        min_piece_s: shortest piece in seconds.

    Returns:
        float64 array of ``n`` samples.

    Raises:
        ValueError: if no source is long enough.
    """
    sampling_rate = _check_rate(sampling_rate)
    fade = max(1, int(round(crossfade_s * sampling_rate)))
    shortest = int(round(min_piece_s * sampling_rate)) + fade
    sources = [np.asarray(s, dtype=np.float64) for s in noises if len(s) >= shortest]
    if not sources:
        raise ValueError(f"Invalid value for argument `noises`. Expected at least one source of >= {shortest} "
                         f"samples. Received lengths {[len(s) for s in noises]}.")
    level = np.median([np.sqrt(np.mean((s - s.mean()) ** 2)) for s in sources])
    sources = [(s - s.mean()) * (level / max(np.sqrt(np.mean((s - s.mean()) ** 2)), 1e-30)) for s in sources]
    rng = np.random.default_rng(seed)
    up = _fade(fade)
    down = up[::-1]
    out = np.zeros(n + 2 * fade)
    pos = 0
    while pos < n + fade:
        src = sources[rng.integers(len(sources))]
        length = int(rng.integers(shortest, src.size + 1))
        start = int(rng.integers(0, src.size - length + 1))
        piece = src[start:start + length].copy()
        if rng.random() < 0.5:
            piece = -piece
        if rng.random() < 0.5:
            piece = piece[::-1]
        piece[:fade] *= up
        piece[-fade:] *= down
        end = min(pos + length, out.size)
        out[pos:end] += piece[:end - pos]
        pos += length - fade
    return out[fade:fade + n]


def quiet_noise(noises, sampling_rate, highpass_hz=1.0, max_ratio=3.0, zero_run_s=0.2, min_piece_s=10.0):
    """The quiet stretches of noise windows: no zero-filled runs, no transient well above their own level.

    Pre-event windows of real records are not always noise only: some hold runs of exact zeros (data filled
    in) and some hold transients, often small earthquakes (the validation stations of The Geysers are in a
    geothermal field with constant microseismicity, and no catalogue says which they are). A detector is
    right to trigger on those, so a benchmark that counts them as false triggers scores a good denoiser as
    a bad one. Each window is split at runs of at least ``zero_run_s`` seconds of exact zeros, and a piece
    is kept when, high-passed at ``highpass_hz``, no 1-s block's RMS exceeds ``max_ratio`` times the median
    of its blocks (the screen sees the raw data only, never a model's output). Micro-events buried below the
    noise still pass; they count against every method alike.

    Args:
        noises: 1-D arrays.
        sampling_rate: Hz.
        highpass_hz: the benchmark's in-band high-pass for the screen (None: as recorded).
        max_ratio: largest allowed 1-s RMS over the piece's median 1-s RMS.
        zero_run_s: runs of exact zeros at least this long split a window.
        min_piece_s: shorter pieces are dropped.

    Returns:
        tuple ``(pieces, report)``: the kept 1-D arrays, and a dict with the counts ``windows``, ``kept``,
        ``transient`` (dropped for a transient), ``short`` (dropped for length) and the seconds ``kept_s`` of
        ``total_s``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> calm, spiky = rng.normal(size=3000), rng.normal(size=3000)
        >>> spiky[1500:1550] += 30.0
        >>> pieces, report = quiet_noise([calm, spiky], 100.0)
        >>> len(pieces), report["transient"]
        (1, 1)
    """
    from obspy.signal.filter import highpass
    from scipy.signal.windows import tukey

    sampling_rate = _check_rate(sampling_rate)
    block = int(round(sampling_rate))
    run = max(1, int(round(zero_run_s * sampling_rate)))
    shortest = int(round(min_piece_s * sampling_rate))
    report = {"windows": len(noises), "kept": 0, "transient": 0, "short": 0, "kept_s": 0.0, "total_s": 0.0}
    kept = []
    for x in noises:
        x = np.asarray(x, dtype=np.float64)
        report["total_s"] += x.size / sampling_rate
        bad = np.zeros(x.size, bool)
        for sl in np.ma.clump_masked(np.ma.masked_array(x, x == 0.0)):
            if sl.stop - sl.start >= run:
                bad[sl] = True
        for sl in np.ma.clump_unmasked(np.ma.masked_array(x, bad)):
            piece = x[sl]
            if piece.size < shortest:
                report["short"] += 1
                continue
            test = piece - piece.mean()
            if highpass_hz:
                test = highpass(test * tukey(test.size, 0.1), highpass_hz, sampling_rate, corners=4, zerophase=True)
            nb = test.size // block
            rms = np.sqrt(np.mean(test[: nb * block].reshape(nb, block) ** 2, axis=1))[1:-1]
            med = np.median(rms) if rms.size else 0.0
            if med <= 0 or rms.max() > max_ratio * med:
                report["transient"] += 1
                continue
            kept.append(piece)
            report["kept"] += 1
            report["kept_s"] += piece.size / sampling_rate
    return kept, report


def _event_window(p_index, sampling_rate, window_s):
    """The slice of the window ``window_s`` (seconds) around sample ``p_index``."""
    return slice(max(0, p_index + int(round(window_s[0] * sampling_rate))),
                 p_index + int(round(window_s[1] * sampling_rate)))


def window_snr_db(signal, noise, p_index, sampling_rate, window_s=(-10.0, 20.0)):
    """Window SNR in dB: signal power over noise power in the window ``window_s`` around ``p_index``."""
    w = _event_window(p_index, sampling_rate, window_s)
    s, q = signal[w], noise[w]
    return 10.0 * np.log10(np.mean(s ** 2) / np.mean(q ** 2))


def continuous_record(noises, signals, duration_s, sampling_rate=100.0, snr_levels=(-10, -5, 0, 5),
                      spacing_s=(90.0, 150.0), max_event_s=30.0, lead_s=40.0, crossfade_s=2.0, highpass_hz=None,
                      seed=0, signal_stations=None):
    """A continuous record: real noise of one station, real events of others injected at known P times.

    Events follow each other ``spacing_s`` seconds apart (uniform) after a lead of ``lead_s`` seconds (the
    detector's long window fills there); their SNR levels cycle through ``snr_levels`` in a shuffled order.
    Each event keeps at most ``max_event_s`` seconds after P (faded out over its last 2 s), so that most of
    the record is noise only, and is scaled so that its window SNR (`window_snr_db`) against the record's
    own noise is its level.

    Three-component records: with ``noises`` and ``signals`` given as ``(C, m)`` arrays (a station's components
    recorded together, the vertical last), each component's noise is overlap-added from the same pieces (the
    same draws: one seed), every component of an event is scaled by one factor, that which makes the window
    SNR of the last component (Z) its level, and the outputs are ``(C, n)``.

    Args:
        noises: 1-D noise arrays of one station (`overlap_add_noise`), or ``(C, m)`` arrays of its components.
        signals: 1-D event signals starting 0.5 s before P (`geokeras.data.pairs.split_event`'s signal part), or
            ``(C, m)`` arrays of their components (the same C).
        duration_s: length of the record in seconds.
        max_event_s: seconds of each event kept after P.
        sampling_rate: Hz of noises and signals.
        snr_levels: window SNRs in dB.
        spacing_s: ``(min, max)`` seconds between consecutive P times.
        lead_s: seconds before the first P.
        crossfade_s: cross-fade between noise pieces.
        highpass_hz: if set, noise and signals are high-passed there first (zero-phase Butterworth, ObsPy):
            the in-band condition, whose noise a band-pass cannot remove.
        seed: seed of every draw.
        signal_stations: optional station of each signal (kept in the events).

    Returns:
        tuple ``(noisy, clean, events)``: float64 arrays of the record and of the injected signals alone
        (``(n,)``, or ``(C, n)`` for components), and the list of `Event`.
    """
    from obspy.signal.filter import highpass

    sampling_rate = _check_rate(sampling_rate)
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sampling_rate))
    components = np.ndim(noises[0]) == 2
    rows = [noises] if not components else [[x[c] for x in noises] for c in range(np.shape(noises[0])[0])]
    noise = np.stack([overlap_add_noise(r, n, sampling_rate, crossfade_s=crossfade_s, seed=seed + 1) for r in rows])
    if highpass_hz:
        noise = np.stack([highpass(row, highpass_hz, sampling_rate, corners=4, zerophase=True) for row in noise])
    pre = int(round(0.5 * sampling_rate))
    clean = np.zeros((len(rows), n))
    events = []
    p = int(round(lead_s * sampling_rate))
    levels = []
    while True:
        gap = rng.uniform(*spacing_s)
        if not levels:
            levels = list(rng.permutation(snr_levels))
        k = int(rng.integers(len(signals)))
        sig = np.atleast_2d(np.asarray(signals[k], dtype=np.float64))
        if highpass_hz:
            sig = np.stack([highpass(row, highpass_hz, sampling_rate, corners=4, zerophase=True) for row in sig])
        length = min(sig.shape[1] - pre, int(round(max_event_s * sampling_rate)))
        if p + length + int(20 * sampling_rate) >= n:
            break
        sig = sig[:, :pre + length].copy()
        tail = min(length, int(round(2.0 * sampling_rate)))
        sig[:, -tail:] *= _fade(tail)[::-1]
        piece = np.zeros(n)
        piece[p - pre:p + length] = sig[-1]
        level = float(levels.pop())
        scale = 10.0 ** ((level - window_snr_db(piece, noise[-1], p, sampling_rate)) / 20.0)
        clean[:, p - pre:p + length] += scale * sig
        station = "" if signal_stations is None else signal_stations[k]
        events.append(Event(p, length, level, station))
        p += int(round(gap * sampling_rate))
    if not components:
        return noise[0] + clean[0], clean[0], events
    return noise + clean, clean, events


# ------------------------------------------------------------------------------------------- detecting
def characteristic_function(x, sampling_rate, detector="recursive", sta_s=STA_S, lta_s=LTA_S):
    """STA/LTA characteristic function of a trace (ObsPy); zero where the long window is not yet filled.

    Args:
        x: 1-D array.
        sampling_rate: Hz.
        detector: ``"recursive"`` (``recursive_sta_lta``) or ``"classic"`` (``classic_sta_lta``).
        sta_s, lta_s: short and long windows in seconds.

    Returns:
        float64 array of ``len(x)``.
    """
    from obspy.signal import trigger

    if detector not in DETECTORS:
        raise ValueError(f"Invalid value for argument `detector`. Expected one of {list(DETECTORS)}. "
                         f"Received detector={detector!r}.")
    sampling_rate = _check_rate(sampling_rate)
    nsta, nlta = int(round(sta_s * sampling_rate)), int(round(lta_s * sampling_rate))
    x = np.ascontiguousarray(x, dtype=np.float64)
    fn = trigger.recursive_sta_lta if detector == "recursive" else trigger.classic_sta_lta
    cf = np.asarray(fn(x - x.mean(), nsta, nlta), dtype=np.float64)
    cf[:nlta] = 0.0
    return cf


def trigger_onsets(cf, threshold, thr_off=THR_OFF):
    """Sample indices where ``cf`` switches a trigger on (``obspy.signal.trigger.trigger_onset``)."""
    from obspy.signal.trigger import trigger_onset

    on = trigger_onset(cf, threshold, min(thr_off, threshold))
    return np.asarray([o[0] for o in on], dtype=np.int64)


def noise_only_mask(n, events, sampling_rate, guard_s=EVENT_GUARD_S, lead_s=LTA_S):
    """Boolean mask of the samples far from every event (and after the detector's first long window)."""
    sampling_rate = _check_rate(sampling_rate)
    mask = np.ones(n, dtype=bool)
    mask[: int(round(lead_s * sampling_rate))] = False
    for ev in events:
        lo = max(0, ev.p_index + int(round(guard_s[0] * sampling_rate)))
        hi = ev.p_index + ev.length + int(round(guard_s[1] * sampling_rate))
        mask[lo:hi] = False
    return mask


def false_triggers(onsets, noise_only):
    """Number of trigger onsets that fall in the noise-only samples."""
    onsets = np.asarray(onsets, dtype=np.int64)
    return int(np.count_nonzero(noise_only[onsets])) if onsets.size else 0


def threshold_for_rate(cf, noise_only, rate_per_hour, sampling_rate, thresholds=None, thr_off=THR_OFF):
    """The lowest STA/LTA threshold that gives at most ``rate_per_hour`` false triggers per hour.

    False triggers are onsets in the noise-only samples; the hours are those of the noise-only samples. The
    thresholds are scanned from the highest down, and the scan stops at the first one that gives too many, so
    that every threshold above the result meets the rate too.

    Args:
        cf: characteristic function (`characteristic_function`).
        noise_only: boolean mask of the noise-only samples (`noise_only_mask`).
        rate_per_hour: allowed false triggers per hour (``floor(rate * hours)`` in all).
        sampling_rate: Hz.
        thresholds: candidate thresholds (default: 40 log-spaced from 1.01 to just above the largest
            noise-only value, then 40 more between the last that passed and the first that failed).
        thr_off: release level of each trigger.

    Returns:
        float threshold.
    """
    sampling_rate = _check_rate(sampling_rate)
    hours = np.count_nonzero(noise_only) / sampling_rate / 3600.0
    allowed = int(np.floor(rate_per_hour * hours + 1e-9))

    def scan(candidates, best):
        for thr in sorted(candidates, reverse=True):
            if false_triggers(trigger_onsets(cf, thr, thr_off), noise_only) > allowed:
                return best, float(thr)
            best = float(thr)
        return best, None

    if thresholds is not None:
        return scan(thresholds, float(max(thresholds)) * 1.001)[0]
    top = max(float(cf[noise_only].max()) if np.any(noise_only) else 2.0, 1.02) * 1.001
    best, failed = scan(np.geomspace(1.01, top, 40), top)
    if failed is not None:
        best = scan(np.geomspace(failed, best, 42)[1:-1], best)[0]
    return best


def match_triggers(onsets, events, sampling_rate, window_s=HIT_WINDOW_S):
    """For each event, the first trigger onset within ``window_s`` of its P time, or None."""
    sampling_rate = _check_rate(sampling_rate)
    onsets = np.sort(np.asarray(onsets, dtype=np.int64))
    lo_off, hi_off = (int(round(w * sampling_rate)) for w in window_s)
    hits = []
    for ev in events:
        i = np.searchsorted(onsets, ev.p_index + lo_off)
        hits.append(int(onsets[i]) if i < onsets.size and onsets[i] <= ev.p_index + hi_off else None)
    return hits


PK_BAER = {"tdownmax": 0.2, "tupevent": 0.6, "thr1": 7.0, "thr2": 12.0, "preset_len": 1.0, "p_dur": 1.0}
"""``pk_baer`` settings of `pick_near` (durations in seconds): ObsPy's tutorial values at 100 Hz."""

PICKERS = ("aic", "pk_baer")
"""The P pickers of `pick_at_trigger`: ``"aic"`` (`pick_aic`) and ``"pk_baer"`` (`pick_near`)."""

AIC_WINDOW_S = (5.0, 3.0)
"""Seconds before and after a trigger onset searched by `pick_aic` (chosen on the validation stations)."""

REFINE_HALF_S, REFINE_MIN_RATIO = 0.3, 3.0
"""`refine_pick`: search half-width in seconds, and the RMS ratio (1 s after / 2 s before the pick) of the
reference trace above which the pick is refined on it (chosen on the validation stations)."""


def pick_near(x, onset, sampling_rate, before_s=10.0, after_s=10.0):
    """P pick (sample index) by ObsPy's ``pk_baer`` in a window around a trigger onset; None if nothing.

    ``pk_baer`` runs with `PK_BAER` on the demeaned window ``onset - before_s .. onset + after_s``. It
    answers sample 1 when it finds nothing, and an onset inside its ``preset_len`` set-up stretch is not a
    pick either: both give None.
    """
    from obspy.signal.trigger import pk_baer

    sampling_rate = _check_rate(sampling_rate)
    lo = max(0, onset - int(round(before_s * sampling_rate)))
    hi = min(len(x), onset + int(round(after_s * sampling_rate)))
    w = np.asarray(x[lo:hi], dtype=np.float64)
    n = {k: max(1, int(round(PK_BAER[k] * sampling_rate))) for k in ("tdownmax", "tupevent", "preset_len", "p_dur")}
    if w.size <= 2 * n["preset_len"] or not np.any(w):
        return None
    p, _ = pk_baer((w - w.mean()).astype(np.float32), sampling_rate, n["tdownmax"], n["tupevent"],
                   PK_BAER["thr1"], PK_BAER["thr2"], n["preset_len"], n["p_dur"])
    return lo + int(p) if p > n["preset_len"] else None


def _aic_minimum(x, lo, hi, margin):
    """Sample of the minimum of ObsPy's ``aic_simple`` over ``x[lo:hi]`` (``margin`` samples kept off each
    end, where the criterion compares a handful of samples); None if the window is too short or flat."""
    from obspy.signal.trigger import aic_simple

    lo, hi = max(0, lo), min(len(x), hi)
    w = np.asarray(x[lo:hi], dtype=np.float64)
    if w.size < 2 * margin + 3 or not np.any(w - w.mean()):
        return None
    aic = np.asarray(aic_simple(w - w.mean()))[margin:w.size - margin]
    return lo + margin + int(np.argmin(aic)) if np.all(np.isfinite(aic)) else None


def pick_aic(x, onset, sampling_rate, before_s=AIC_WINDOW_S[0], after_s=AIC_WINDOW_S[1]):
    """P pick (sample index) at the minimum of the Akaike criterion around a trigger onset; None if nothing.

    ObsPy's ``aic_simple`` (Maeda, 1985) splits the demeaned window ``onset - before_s .. onset + after_s``
    where the variances before and after fit best: the onset of the strongest change of level. The 0.1 s at
    each end of the window are not candidates.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=3000)
        >>> x[1500:] += 10 * rng.normal(size=1500)   # an onset at sample 1500
        >>> abs(pick_aic(x, 1530, 100.0) - 1500) <= 2
        True
    """
    sampling_rate = _check_rate(sampling_rate)
    return _aic_minimum(x, onset - int(round(before_s * sampling_rate)), onset + int(round(after_s * sampling_rate)),
                        max(1, int(round(0.1 * sampling_rate))))


def refine_pick(reference, pick, sampling_rate, half_s=REFINE_HALF_S, min_ratio=REFINE_MIN_RATIO):
    """A pick moved to the Akaike minimum of a reference trace within ``+-half_s``, where the reference
    shows the onset clearly; otherwise the pick unchanged.

    A denoiser's STFT frames (0.64 s for the default) smear an onset over the frame before it, so a pick on
    the denoised trace is found reliably but placed less sharply; where the input trace itself shows the
    onset (RMS over the second after the pick at least ``min_ratio`` times the RMS over the two seconds
    before it), its own Akaike minimum near the pick places it more sharply.

    Args:
        reference: the trace to refine on (for a denoised trace: its input), the same length and sampling.
        pick: sample index (None is passed through).
        sampling_rate: Hz.
        half_s: search half-width in seconds.
        min_ratio: RMS ratio of the reference around the pick required for a refinement.

    Returns:
        sample index or None.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> raw = rng.normal(size=3000)
        >>> raw[1500:] += 10 * rng.normal(size=1500)
        >>> abs(refine_pick(raw, 1480, 100.0) - 1500) <= 2   # 0.2 s early, moved to the onset
        True
        >>> refine_pick(rng.normal(size=3000), 1480, 100.0)  # no clear onset in the reference: unchanged
        1480
    """
    sampling_rate = _check_rate(sampling_rate)
    if pick is None:
        return None
    sec = int(round(sampling_rate))
    after = np.asarray(reference[pick:pick + sec], dtype=np.float64)
    before = np.asarray(reference[max(0, pick - 2 * sec):pick], dtype=np.float64)
    if after.size == 0 or before.size == 0:
        return pick
    ratio = np.sqrt(np.mean((after - before.mean()) ** 2) / max(np.var(before), np.finfo(float).tiny))
    if not ratio > min_ratio:
        return pick
    half, margin = int(round(half_s * sampling_rate)), max(1, int(round(0.03 * sampling_rate)))
    refined = _aic_minimum(reference, pick - half - margin, pick + half + margin + 1, margin)
    return pick if refined is None else refined


def pick_at_trigger(x, onset, sampling_rate, picker="aic", reference=None):
    """P pick around a trigger onset: `pick_aic` (refined on ``reference`` by `refine_pick` if given) or
    `pick_near` (``pk_baer``); None if the picker finds nothing.

    Args:
        x: the trace the trigger came from.
        onset: the trigger's onset (sample).
        sampling_rate: Hz.
        picker: one of `PICKERS`.
        reference: for ``"aic"``, the trace to refine the pick on (a denoised trace's input), or None.
    """
    if check_choice("picker", picker, PICKERS) == "pk_baer":
        return pick_near(x, onset, sampling_rate)
    pick = pick_aic(x, onset, sampling_rate)
    return pick if reference is None else refine_pick(reference, pick, sampling_rate)


def peak_ratio(y, clean, event, sampling_rate, max_s=20.0):
    """Peak of ``|y|`` over the peak of ``|clean|`` from P to the event's end (at most ``max_s`` seconds)."""
    hi = event.p_index + min(event.length, int(round(max_s * sampling_rate)))
    ref = np.abs(clean[event.p_index:hi]).max()
    return float(np.abs(y[event.p_index:hi]).max() / ref) if ref > 0 else float("nan")


def event_window_scores(y, clean, event, sampling_rate, window_s=(-10.0, 20.0)):
    """``(SNR gain in dB, correlation)`` of the processed trace on an event's window (`window_snr_db`'s window).

    The injected event is the clean reference and the window's input SNR is the event's level (its definition),
    so the gain is ``10 log10(sum clean^2 / sum (y - clean)^2) - event.snr_db``: the mixture benchmark's SNR
    gain, measured on the continuous record's own event windows. The correlation is Pearson's, of ``y`` with
    the clean event over the same window.
    """
    w = _event_window(event.p_index, sampling_rate, window_s)
    c, out = clean[w], y[w]
    return float(metrics.snr_db(c, out - c)) - event.snr_db, float(metrics.correlation(c, out))


def noise_stationarity(y, noise_only, sampling_rate, block_s=1.0, percentiles=(10, 50, 99)):
    """1-s RMS of the noise-only stretches of a trace, relative to their median.

    Args:
        y: 1-D array.
        noise_only: boolean mask of the noise-only samples; only blocks entirely inside it are used.
        sampling_rate: Hz.
        block_s: block length in seconds.
        percentiles: percentiles reported.

    Returns:
        dict ``{"p10": ..., "p50": ..., "p99": ..., "ratio": p99 / p10, "median_rms": ...}`` (keys follow
        ``percentiles``; ``ratio`` is the last over the first).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = noise_stationarity(rng.normal(size=360_000), np.ones(360_000, bool), 100.0)
        >>> round(s["ratio"], 2)   # chi-square: sqrt(135.8 / 82.4) for 100 samples a block
        1.28
    """
    sampling_rate = _check_rate(sampling_rate)
    m = int(round(block_s * sampling_rate))
    nb = len(y) // m
    blocks = np.asarray(y[: nb * m], dtype=np.float64).reshape(nb, m)
    keep = np.asarray(noise_only[: nb * m]).reshape(nb, m).all(axis=1)
    rms = np.sqrt(np.mean(blocks[keep] ** 2, axis=1))
    med = float(np.median(rms))
    rel = rms / med if med > 0 else rms
    out = {f"p{p}": float(np.percentile(rel, p)) for p in percentiles}
    lo, hi = out[f"p{percentiles[0]}"], out[f"p{percentiles[-1]}"]
    out["ratio"] = hi / lo if lo > 0 else float("inf")
    out["median_rms"] = med
    return out


# --------------------------------------------------------------------------------------------- scoring
def score_detections(y, clean, events, sampling_rate, rates_per_hour=(1.0, 2.0), detectors=DETECTORS,
                     picker="aic", reference=None):
    """Detections, picks and amplitudes of one processed trace of a continuous record.

    Args:
        y: the processed (raw, filtered or denoised) trace.
        clean: the injected signals alone.
        events: the `Event` list of the record.
        sampling_rate: Hz.
        rates_per_hour: false-trigger rates at which thresholds are set.
        detectors: characteristic functions to use (`DETECTORS`).
        picker: the P picker around each hit (`PICKERS`, see `pick_at_trigger`).
        reference: the trace ``y`` was made from (its input), to refine ``"aic"`` picks on; None: no refinement.

    Returns:
        dict with ``"events"``: per event ``{"snr_db", "peak_ratio", "snr_gain_db", "correlation", (detector, rate):
        {"hit", "pick_error_s", "pick_offset_s"}}`` (`event_window_scores`; ``pick_offset_s`` is ``pick - P`` in
        seconds, negative for an early pick, ``pick_error_s`` its absolute value; both NaN without a hit or a
        pick), ``"thresholds"``: ``{(detector, rate): threshold}``,
        ``"false"``: ``{(detector, rate): false triggers}``, and ``"stationarity"`` (`noise_stationarity`).
    """
    check_choice("picker", picker, PICKERS)
    y = np.asarray(y, dtype=np.float64)
    if reference is not None and np.shape(reference) != y.shape:
        raise ValueError(f"Invalid value for argument `reference`. Expected the shape of `y`, {y.shape}. "
                         f"Received reference of shape {np.shape(reference)}.")
    quiet = noise_only_mask(y.size, events, sampling_rate)
    per_event = [{"snr_db": ev.snr_db, "peak_ratio": peak_ratio(y, clean, ev, sampling_rate),
                  **dict(zip(("snr_gain_db", "correlation"), event_window_scores(y, clean, ev, sampling_rate)))}
                 for ev in events]
    thresholds, false = {}, {}
    for det in detectors:
        cf = characteristic_function(y, sampling_rate, det)
        for rate in rates_per_hour:
            thr = threshold_for_rate(cf, quiet, rate, sampling_rate)
            onsets = trigger_onsets(cf, thr)
            thresholds[(det, rate)] = thr
            false[(det, rate)] = false_triggers(onsets, quiet)
            for ev, row, hit in zip(events, per_event, match_triggers(onsets, events, sampling_rate)):
                offset = float("nan")
                if hit is not None:
                    pick = pick_at_trigger(y, hit, sampling_rate, picker, reference)
                    offset = float("nan") if pick is None else (pick - ev.p_index) / sampling_rate
                row[(det, rate)] = {"hit": hit is not None, "pick_error_s": abs(offset), "pick_offset_s": offset}
    return {"events": per_event, "thresholds": thresholds, "false": false,
            "stationarity": noise_stationarity(y, quiet, sampling_rate)}


def summarize(scores, snr_levels, detector="recursive", rate=2.0):
    """Per SNR level (and ``"all"``): recall, median pick error (s) and median peak ratio over records.

    Args:
        scores: list of `score_detections` results (one per record) for one method.
        snr_levels: the levels to report.
        detector, rate: which threshold setting to report.

    Returns:
        list of dicts ``{"snr_db", "n", "recall", "pick_error_s", "peak_ratio", "snr_gain_db", "correlation"}``
        (the last three: medians over the events).
    """
    rows = []
    events = [ev for s in scores for ev in s["events"]]
    for level in list(snr_levels) + ["all"]:
        sel = [ev for ev in events if level == "all" or ev["snr_db"] == level]
        hits = [ev[(detector, rate)]["hit"] for ev in sel]
        errs = np.array([ev[(detector, rate)]["pick_error_s"] for ev in sel])
        errs = errs[np.isfinite(errs)]
        peaks = np.array([ev["peak_ratio"] for ev in sel])
        rows.append({"snr_db": level, "n": len(sel), "recall": float(np.mean(hits)) if sel else float("nan"),
                     "pick_error_s": float(np.median(errs)) if errs.size else float("nan"),
                     "peak_ratio": float(np.nanmedian(peaks)) if sel else float("nan"),
                     **{key: float(np.nanmedian([ev[key] for ev in sel])) if sel else float("nan")
                        for key in ("snr_gain_db", "correlation")}})
    return rows


# ----------------------------------------------------------------------------------- the benchmark
def event_components(rec, screen=True, highpass_hz=1.0):
    """The three components of one bundled event record, split at P into signal and pre-P noise.

    The components are split at P and stacked with the vertical last (E, N, Z or 1, 2, Z) by
    `geokeras.data.component_pairs.split_components`, then the noise is screened. `benchmark_records`
    (``components=3``) builds its three-component sources from them; ``bench/bench_transients.py`` cuts its
    three-component transients from the noise.

    Args:
        rec: an event record of `geokeras.data.datasets.load_events` (``rec.stream`` at 100 Hz, ``rec.p_time``).
        screen: keep the noise only when `quiet_noise` keeps each component's noise window whole.
        highpass_hz: the in-band filter `quiet_noise` screens with (None: the noise as recorded).

    Returns:
        tuple ``(signal, noise, report)``: ``signal`` and ``noise`` are float64 ``(3, m)`` arrays (their own
        ``m`` each); ``noise`` is None when the record has no pre-P noise, or (with ``screen``) when a component's
        noise window is not kept whole; ``report`` counts the record's noise window as `quiet_noise` does
        (``{"windows", "kept", "transient", "short", "kept_s", "total_s"}``). ``(None, None, None)`` for a record
        that does not hold exactly three traces, one of them vertical (channel ``..Z``).

    Raises:
        ValueError: P outside a component's record (`geokeras.data.pairs.split_event`).
    """
    from geokeras.data.component_pairs import split_components

    signal, noise = split_components(rec)
    if signal is None:
        return None, None, None
    report = {"windows": 1, "kept": 0, "transient": 0, "short": 0, "kept_s": 0.0, "total_s": 0.0}
    m_noise = noise.shape[1]
    report["total_s"] = m_noise / 100.0
    if not m_noise:
        report["short"] = 1
        return signal, None, report
    if screen:
        checks = [quiet_noise([row], 100.0, highpass_hz=highpass_hz) for row in noise]
        if not all(len(kept) == 1 and len(kept[0]) == m_noise for kept, _ in checks):
            report["transient" if any(r["transient"] for _, r in checks) else "short"] = 1
            return signal, None, report
    report["kept"], report["kept_s"] = 1, m_noise / 100.0
    return signal, noise, report


def benchmark_records(split="test", n_stations=8, hours=2.0, snr_levels=(-10, -5, 0, 5), seed=0,
                      highpass_hz=1.0, min_noise_s=90.0, screen=True, repeats=1, components=1):
    """Continuous records for the detection benchmark, from the bundled events of one station split.

    The ``n_stations`` stations of the split with the most pre-P noise (at least ``min_noise_s`` seconds,
    all components) each give one record of ``hours`` hours (`continuous_record`): that station's real
    noise, with real events of the *other* stations of the split injected at known P times. The split's
    records are all of the split's events (`geokeras.data.datasets.split_records`): test stations for the
    figures reported, validation stations for choosing models. ``highpass_hz=1.0`` (the default) makes it
    the in-band condition of `geokeras.evaluate`: noise and events both high-passed at 1 Hz.

    Args:
        split: ``"test"`` or ``"validation"``.
        n_stations: records (one per noise station).
        hours: length of each record.
        snr_levels: window SNRs of the events (dB).
        seed: seed of record ``i`` is ``seed + 1000 * i`` (and ``+ 100000 * r`` for its repeat ``r``).
        highpass_hz: in-band filter, or None for the noise as recorded.
        min_noise_s: stations with less (screened) pre-P noise are not used for noise.
        screen: keep only the quiet stretches of the noise windows (`quiet_noise`).
        repeats: records per station, each with its own seed (other cross-fades of the same noise, other
            events at other times): more events per level where a split has few stations with enough noise.
        components: 1 (default): each component's noise window and each component of an event is a source of
            its own, and a record is one trace; 3: three-component records (`continuous_record` with ``(3, m)``
            sources, the vertical last): a record's noise window counts when it is quiet on all three
            components at once (with ``screen``, each whole), its seconds count three times towards
            ``min_noise_s`` (all components, as with 1), and every event keeps its three components, scaled
            so that the vertical's window SNR is its level. Records missing a component are left out.

    Returns:
        list of dicts ``{"station", "noisy", "clean", "events", "sampling_rate", "noise_report"}``
        (``noise_report``: `quiet_noise`'s counts, or None without ``screen``); ``noisy`` and ``clean`` are
        ``(3, n)`` with ``components=3``.
    """
    from geokeras.data import datasets, pairs

    if split not in ("test", "validation"):
        raise ValueError(f"Invalid value for argument `split`. Expected 'test' or 'validation'. Received split={split!r}.")
    _, validation, test = datasets.split_records(datasets.load_events(
        stations=datasets.TEST_STATIONS if split == "test" else datasets.VALIDATION_STATIONS))
    if components not in (1, 3):
        raise ValueError("Invalid value for argument `components`. Expected 1 or 3. "
                         f"Received components={components!r}.")
    records = test if split == "test" else validation
    noises, signals, signal_stations = {}, [], []
    reports = {}
    for rec in records:
        if components == 3:
            sig, noi, report = event_components(rec, screen, highpass_hz)
            if sig is None:
                continue
            sig, noi = [sig], [] if noi is None else [noi]
            if screen:
                total = reports.setdefault(rec.station_id, dict.fromkeys(report, 0))
                for key, value in report.items():
                    total[key] += value
        else:
            sig, noi = pairs.sources_from_events([rec])
        noises.setdefault(rec.station_id, []).extend(noi)
        signals += sig
        signal_stations += [rec.station_id] * len(sig)
    if screen and components == 1:
        for sta in noises:
            noises[sta], reports[sta] = quiet_noise(noises[sta], 100.0, highpass_hz=highpass_hz)
    amount = {sta: sum(np.size(x) for x in v) / 100.0 for sta, v in noises.items()}
    stations = sorted((s for s in amount if amount[s] >= min_noise_s), key=lambda s: (-amount[s], s))[:n_stations]
    out = []
    for r in range(check_positive_int("repeats", repeats)):
        for i, sta in enumerate(stations):
            keep = [k for k, s in enumerate(signal_stations) if s != sta]
            noisy, clean, events = continuous_record(
                noises[sta], [signals[k] for k in keep], hours * 3600.0, 100.0, snr_levels=snr_levels,
                highpass_hz=highpass_hz, seed=seed + 1000 * i + 100000 * r,
                signal_stations=[signal_stations[k] for k in keep])
            out.append({"station": sta, "noisy": noisy, "clean": clean, "events": events, "sampling_rate": 100.0,
                        "noise_report": reports.get(sta)})
    return out


BASELINE_METHODS = ("bandpass", "wiener")
"""The benchmark's non-learned methods: the 1-20 Hz band-pass and the classical Wiener filter
(`geokeras.evaluate.wiener_baseline`, each trace's own running noise spectrum, the networks' floor 0.3)."""


def standard_methods(denoisers, overlap=0.5, baselines=BASELINE_METHODS):
    """The methods of the benchmark: ``raw``, the non-learned ``baselines`` and each denoiser.

    Args:
        denoisers: dict ``{name: model}``, each anything `geokeras.denoise.Denoiser.resolve` takes.
        overlap: the denoisers' window overlap (`geokeras.denoise.denoise`'s ``overlap``).
        baselines: any of `BASELINE_METHODS`: ``"bandpass"`` (1-20 Hz, `geokeras.evaluate.bandpass_baseline`)
            and ``"wiener"`` (`geokeras.evaluate.wiener_baseline` at its defaults: a decision-directed Wiener
            filter with the record's own running noise spectrum, floor 0.3).

    Returns:
        dict ``{name: fn(noisy, sampling_rate) -> processed}`` for `evaluate_detection`.
    """
    from geokeras.denoise import Denoiser, denoise
    from geokeras.evaluate import bandpass_baseline, wiener_baseline

    for name in baselines:
        check_choice("baselines", name, BASELINE_METHODS)
    table = {"bandpass": lambda x, sr: bandpass_baseline(vertical(x), sr),
             "wiener": lambda x, sr: wiener_baseline(vertical(x), sr)}
    methods = {"raw": lambda x, sr: vertical(x)}
    methods.update({name: table[name] for name in BASELINE_METHODS if name in baselines})
    for name, model in denoisers.items():
        den = Denoiser.resolve(model)
        methods[name] = (lambda d: lambda x, sr: np.asarray(
            denoise(vertical(x), model=d, sampling_rate=sr, overlap=overlap)))(den)
    return methods


def vertical(x):
    """The trace a detector runs on: ``x`` itself, or the last row (the vertical) of a three-component record."""
    return x[-1] if np.ndim(x) == 2 else x


def component_methods(denoisers, statistics=("median",), overlap=0.5, wiener=False):
    """Methods for three-component records (`benchmark_records(components=3)`): each denoiser run on the
    station's three components with one combined mask per window (`geokeras.denoise.denoise_components`),
    scored on the vertical.

    Args:
        denoisers: dict ``{name: model}`` of spectrogram-mask denoisers (anything `Denoiser.resolve` takes).
        statistics: the mask combinations (`geokeras.layers.ComponentMask`); ``"own"`` is the single-component
            denoiser through the same path, at the same (float32) precision.
        overlap: the window overlap.
        wiener: also ``"wiener 3c-median"``: the classical Wiener filter (`geokeras.evaluate.wiener_baseline`) with
            the median of the three components' gains, the non-learned counterpart of the median mask.

    Returns:
        dict ``{"<name> 3c-<statistic>": fn(noisy (3, n), sampling_rate) -> processed vertical}``.
    """
    from geokeras.denoise import Denoiser, denoise_components
    from geokeras.evaluate import wiener_baseline

    methods = {"wiener 3c-median": lambda x, sr: wiener_baseline(x, sr, components="median")[-1]} if wiener else {}
    for name, model in denoisers.items():
        den = Denoiser.resolve(model)
        for statistic in statistics:
            methods[f"{name} 3c-{statistic}"] = (lambda d, st: lambda x, sr: denoise_components(
                x, model=d, sampling_rate=sr, statistic=st, overlap=overlap)[-1])(den, statistic)
    return methods


def evaluate_detection(methods, records, rates_per_hour=(1.0, 2.0), detectors=DETECTORS, picker="aic",
                       refine=True):
    """Score processing methods on continuous records.

    Args:
        methods: dict ``{name: fn}``, ``fn(noisy, sampling_rate) -> processed`` (1-D arrays; for three-component
            records ``noisy`` is ``(3, n)`` and ``processed`` the vertical, which is scored).
        records: `benchmark_records`' output.
        rates_per_hour, detectors, picker: see `score_detections`.
        refine: refine ``"aic"`` picks on each record's noisy input (`refine_pick`), for every method alike
            (for the raw trace, on itself).

    Returns:
        dict ``{name: [score_detections result per record]}``.
    """
    return {name: [score_detections(fn(rec["noisy"], rec["sampling_rate"]), vertical(rec["clean"]), rec["events"],
                                    rec["sampling_rate"], rates_per_hour, detectors, picker,
                                    vertical(rec["noisy"]) if refine else None) for rec in records]
            for name, fn in methods.items()}


def pooled_stationarity(scores):
    """`noise_stationarity` percentiles averaged (median) over the records of one method."""
    keys = scores[0]["stationarity"].keys()
    return {k: float(np.median([s["stationarity"][k] for s in scores])) for k in keys}


PAIRED_METRICS = ("recall", "snr_gain_db", "correlation", "peak_ratio")
"""What `paired_differences` compares: the hits, or a per-event value of `score_detections`."""


def paired_differences(scores, records, reference, snr_levels, metric="recall", *, detector="recursive", rate=2.0,
                       n_boot=2000, confidence=0.95, seed=0, resample=("noise", "event")):
    """Each method's recall (or SNR gain, peak ratio, correlation) minus the ``reference`` method's on the same
    events, with an interval from resampling the stations of the benchmark.

    The methods are scored on the same records and events, so the difference is paired event by event (for recall,
    of the hits; for another metric, of its per-event values, events where either is NaN left out), and averaged. What a
    denoiser must generalize over is stations: the station whose noise it sees and the stations whose events it
    must keep. The interval comes from a two-way cluster bootstrap: the records' noise stations and the events'
    source stations (`Event.station`) are drawn with replacement, independently, and each draw weighs every event
    by how often its noise station and its source station were drawn. It shows how much a difference depends on
    which few stations happen to be in the benchmark; with 8 noise stations, a difference whose interval holds 0
    is one that another 8 stations could reverse. ``resample=("noise",)`` draws the noise stations only.

    Args:
        scores: `evaluate_detection`'s result ``{method: [score per record]}`` (every method on the same records).
        records: the records scored (`benchmark_records`: each with ``"station"``, its noise station, and
            ``"events"``, the `Event` list whose ``station`` is each event's source).
        reference: the method the others are compared with (a key of ``scores``).
        snr_levels: the event levels (each gets a row, then ``"all"``).
        metric: ``"recall"`` (the hits at ``detector`` and ``rate``) or a per-event value of `score_detections`:
            ``"snr_gain_db"``, ``"correlation"`` or ``"peak_ratio"``.
        detector, rate: the threshold setting of ``"recall"`` (`DETECTORS`; false triggers per hour).
        n_boot: bootstrap draws; confidence: the interval's coverage in ``(0, 1)``; seed: the draws' seed.
        resample: what the bootstrap draws: ``"noise"`` (the records' noise stations) and/or ``"event"`` (the
            events' source stations).

    Returns:
        list of dicts ``{"method", "snr_db", "n", "difference", "low", "high", "by_station"}``: mean differences
        (for recall fractions: 0.05 = 5 points); ``by_station`` maps each noise station to its own difference at that
        level.

    Raises:
        ValueError: an unknown ``reference``, ``metric`` or ``resample``, or ``records`` that are not the scored ones.

    Example:
        >>> ev = lambda hit: {"snr_db": 0, ("recursive", 2.0): {"hit": hit}}
        >>> scores = {"raw": [{"events": [ev(False), ev(True)]}, {"events": [ev(False), ev(False)]}],
        ...           "new": [{"events": [ev(True), ev(True)]}, {"events": [ev(True), ev(False)]}]}
        >>> records = [{"station": sta, "events": [Event(0, 1, 0.0, "X"), Event(9, 1, 0.0, "Y")]} for sta in "AB"]
        >>> row = paired_differences(scores, records, "raw", [0], n_boot=200)[0]
        >>> row["method"], row["n"], row["difference"], row["by_station"]
        ('new', 4, 0.5, {'A': 0.5, 'B': 0.5})
    """
    if reference not in scores:
        raise ValueError(f"Invalid value for argument `reference`. Expected one of the methods {sorted(scores)}. "
                         f"Received reference={reference!r}.")
    check_choice("metric", metric, PAIRED_METRICS)
    if not resample or not set(resample) <= {"noise", "event"}:
        raise ValueError("Invalid value for argument `resample`. Expected 'noise' and/or 'event'. "
                         f"Received resample={resample!r}.")
    if [len(r["events"]) for r in records] != [len(s["events"]) for s in scores[reference]]:
        raise ValueError("Invalid value for argument `records`. Expected the records scored, with as many events "
                         f"each. Received {len(records)} records for {len(scores[reference])} scored.")
    check_positive_int("n_boot", n_boot)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"Invalid value for argument `confidence`. Expected a number in (0, 1). "
                         f"Received confidence={confidence!r}.")
    noise = {sta: k for k, sta in enumerate(dict.fromkeys(r["station"] for r in records))}  # station -> index
    sources = {sta: k for k, sta in enumerate(dict.fromkeys(ev.station for r in records for ev in r["events"]))}
    cell = [[(noise[r["station"]], sources[ev.station]) for ev in r["events"]] for r in records]
    rng = np.random.default_rng(seed)

    def weights(n, drawn):  # (n_boot, n) multiplicities of n clusters, or ones where they are not drawn
        if not drawn:
            return np.ones((n_boot, n))
        return np.stack([np.bincount(d, minlength=n) for d in rng.integers(0, n, size=(n_boot, n))]).astype(float)

    wn, we = weights(len(noise), "noise" in resample), weights(len(sources), "event" in resample)
    key = (detector, rate)
    value = (lambda ev: float(ev[key]["hit"])) if metric == "recall" else (lambda ev: float(ev[metric]))
    tail = 50.0 * (1.0 - confidence)
    rows = []
    for method, method_scores in scores.items():
        if method == reference:
            continue
        for level in list(snr_levels) + ["all"]:
            diff = np.zeros((len(noise), len(sources)))  # summed hit differences per (noise, source) station
            n = np.zeros_like(diff)  # events per cell
            for cells, ref, got in zip(cell, scores[reference], method_scores):
                for (i, j), a, b in zip(cells, ref["events"], got["events"]):
                    if level == "all" or a["snr_db"] == level:
                        d = value(b) - value(a)
                        if np.isfinite(d):
                            diff[i, j] += d
                            n[i, j] += 1
            if not n.sum():
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = np.einsum("bi,ij,bj->b", wn, diff, we) / np.einsum("bi,ij,bj->b", wn, n, we)
            low, high = np.nanpercentile(boot, [tail, 100.0 - tail])
            per = diff.sum(axis=1), n.sum(axis=1)
            rows.append({"method": method, "snr_db": level, "n": int(n.sum()), "difference": float(diff.sum() / n.sum()),
                         "low": float(low), "high": float(high),
                         "by_station": {sta: float(per[0][k] / per[1][k]) for k, sta in enumerate(noise) if per[1][k]}})
    return rows


def format_paired(rows, reference, snr_levels, confidence=0.95, metric="recall"):
    """`paired_differences`' rows as a Markdown-like table: the differences against ``reference`` (recall in
    points) with their station-bootstrap interval, one line per method."""
    scale, unit, digits = ((100.0, "points", 1) if metric == "recall" else
                           (1.0, "dB" if metric == "snr_gain_db" else "mean", 2))
    lines = ["", f"{metric} minus {reference}'s on the same events, {unit} [{confidence:.0%} interval, stations "
                 "resampled]", "| method | " + " | ".join([f"{lv:g} dB" for lv in snr_levels] + ["all"]) + " |",
             "|---|" + "---|" * (len(snr_levels) + 1)]
    for method in dict.fromkeys(r["method"] for r in rows):
        cells = {r["snr_db"]: r for r in rows if r["method"] == method}
        lines.append(f"| {method} | " + " | ".join(
            f"{scale * cells[lv]['difference']:+.{digits}f} [{scale * cells[lv]['low']:+.{digits}f}, "
            f"{scale * cells[lv]['high']:+.{digits}f}]"
            if lv in cells else "-" for lv in list(snr_levels) + ["all"]) + " |")
    return "\n".join(lines)


def detection_tables(scores, snr_levels, rates_per_hour=(1.0, 2.0), detectors=DETECTORS):
    """`summarize` for every method, detector and rate: ``{(method, detector, rate): rows}``."""
    return {(m, det, rate): summarize(s, snr_levels, det, rate)
            for m, s in scores.items() for det in detectors for rate in rates_per_hour}


def format_detection(scores, snr_levels, rates_per_hour=(1.0, 2.0), detectors=DETECTORS):
    """The detection benchmark's tables as text: recall and pick error per level, peak ratio, stationarity, and the
    SNR gain and correlation on the event windows.

    Args:
        scores: `evaluate_detection`'s result.
        snr_levels: the event levels.
        rates_per_hour, detectors: the threshold settings to print.

    Returns:
        str (several Markdown-like tables).
    """
    tables = detection_tables(scores, snr_levels, rates_per_hour, detectors)

    def head(title, columns):
        cells = [f"{lv:g} dB" for lv in snr_levels] + list(columns)
        return ["", title, "| method | " + " | ".join(cells) + " |", "|---|" + "---|" * len(cells)]

    lines = []
    for det in detectors:
        for rate in rates_per_hour:
            lines += head(f"{det}_sta_lta at <= {rate:g} false triggers per hour: recall (median |pick - P| in s); "
                          "threshold: median over records", ["all", "threshold"])
            for m, s in scores.items():
                rows = {r["snr_db"]: r for r in tables[(m, det, rate)]}
                thr = float(np.median([x["thresholds"][(det, rate)] for x in s]))
                cells = " | ".join(f"{rows[lv]['recall']:.0%} ({rows[lv]['pick_error_s']:.2f})" for lv in snr_levels)
                lines.append(f"| {m} | {cells} | {rows['all']['recall']:.0%} | {thr:.2f} |")
    summaries = {m: {r["snr_db"]: r for r in summarize(s, snr_levels)} for m, s in scores.items()}
    lines += head("peak-amplitude ratio to the clean event (median) and residual noise: 1-s RMS percentiles of the "
                  "noise-only stretches relative to their median (median over records)", ["p10", "p99", "p99/p10"])
    for m, s in scores.items():
        st = pooled_stationarity(s)
        lines.append(f"| {m} | " + " | ".join(f"{summaries[m][lv]['peak_ratio']:.3f}" for lv in snr_levels)
                     + f" | {st['p10']:.2f} | {st['p99']:.2f} | {st['ratio']:.2f} |")
    lines += head("the event windows (-10..+20 s around P) as mixtures: SNR gain in dB (correlation with the clean "
                  "event), medians over the events", ["all"])
    for m, rows in summaries.items():
        lines.append(f"| {m} | " + " | ".join(f"{rows[lv]['snr_gain_db']:.2f} ({rows[lv]['correlation']:.3f})"
                                             for lv in list(snr_levels) + ["all"]) + " |")
    return "\n".join(lines)
