"""Training pairs (noisy, clean) generated on the fly from signal sources and real-noise sources.

SNR definition (used everywhere in geokeras): the window power ratio

    snr_db = 10 * log10(sum(clean**2) / sum(noise**2))

over the whole window. `PairGenerator` scales the noise window so that each pair hits its drawn SNR
exactly (up to float32 rounding, far below 0.1 dB).

Sources:
    * signals: the post-P part of the bundled events (`split_event`, ranked with `record_snr_db` /
      `rank_records` because they still contain noise) and synthetic seismograms
      (`geokeras.data.synthetic`);
    * noises: real noise, e.g. the pre-P part of the bundled events (`split_event`).
`sources_from_events` does both for a list of `geokeras.data.datasets.EventRecord`.

Example:
    >>> import numpy as np
    >>> from geokeras.data.pairs import PairGenerator, snr_db
    >>> rng = np.random.default_rng(0)
    >>> signals = [np.sin(np.arange(600) / 5.0)]
    >>> noises = [rng.standard_normal(800)]
    >>> gen = PairGenerator(signals, noises, window_length=500, snr_db=(5.0, 5.0), seed=1)
    >>> noisy, clean = gen.sample(4)
    >>> noisy.shape, noisy.dtype
    ((4, 500), dtype('float32'))
    >>> np.allclose(snr_db(clean, noisy - clean), 5.0, atol=0.01)
    True
"""
import numpy as np

from geokeras.validation import check_nonnegative_int, check_number, check_positive_int, check_range
from geokeras.metrics import snr_db

__all__ = [
    "snr_db", "PairGenerator", "make_pair_dataset", "split_event", "record_snr_db", "rank_records",
    "sources_from_events", "rotated_horizontals", "time_stretch", "highpass", "phase_randomize",
]


def _cosine_taper(n, n_taper):
    """Weights of length ``n`` rising/falling over ``n_taper`` samples at both ends (Hann halves).

    Not ``scipy.signal.windows.tukey``: these ramps are sampled half a sample in (``(k + 0.5) / n_taper``,
    never exactly 0), Tukey's start at 0 (0.007 apart at ``n_taper=100``); the training pairs would change.
    """
    w = np.ones(n)
    n_taper = int(min(n_taper, n // 2))
    if n_taper > 0:
        ramp = 0.5 * (1.0 - np.cos(np.pi * (np.arange(n_taper) + 0.5) / n_taper))
        w[:n_taper] = ramp
        w[n - n_taper:] = ramp[::-1]
    return w


def _as_trace_data(record_trace, p_time, sampling_rate):
    """Return (data float64, p_index float) for an obspy Trace (p_time UTCDateTime) or an array."""
    if hasattr(record_trace, "stats"):
        tr = record_trace
        if np.ma.is_masked(tr.data):
            raise ValueError(
                f"Invalid value for argument `record_trace`. Expected a trace without gaps. "
                f"Received {tr.id} with masked samples; split it first."
            )
        rate = float(tr.stats.sampling_rate)
        p_index = (p_time - tr.stats.starttime) * rate
        return np.asarray(tr.data, dtype=np.float64), p_index, rate
    if sampling_rate is None:
        raise ValueError(
            "Invalid value for argument `sampling_rate`. Expected a positive number when `record_trace` "
            "is an array (then `p_time` is seconds from the first sample). Received sampling_rate=None."
        )
    return np.asarray(record_trace, dtype=np.float64), float(p_time) * sampling_rate, float(sampling_rate)


def split_event(record_trace, p_time, sampling_rate=None, noise_margin=0.5, signal_pre=0.5, taper=0.5):
    """Split one earthquake record into its pre-P noise and its post-P signal.

    Both parts are demeaned (each by its own mean). The signal part starts ``signal_pre`` seconds
    before P and gets a cosine taper of ``taper`` seconds at both ends, so that pasting it into
    a window of zeros adds no step. The noise part ends ``noise_margin`` seconds before P (pick
    uncertainty) and is not tapered: noise windows are cut from it at random offsets.

    Args:
        record_trace: ``obspy.Trace`` (then ``p_time`` is a ``UTCDateTime``) or a 1-D array (then
            ``p_time`` is seconds after the first sample and ``sampling_rate`` is required).
        p_time: the P arrival.
        sampling_rate: only for array input.
        noise_margin: seconds left out before P in the noise part.
        signal_pre: seconds before P kept at the start of the signal part.
        taper: seconds of cosine taper at each end of the signal part.

    Returns:
        tuple ``(noise_part, signal_part)`` of float64 arrays.

    Raises:
        ValueError: if P is outside the record or leaves no noise/signal sample, or the data are not finite.

    Example:
        >>> import numpy as np
        >>> x = np.r_[np.ones(300), 5 * np.ones(700)]
        >>> noise, signal = split_event(x, 3.0, sampling_rate=100.0)
        >>> noise.size, signal.size, float(abs(noise).max())
        (250, 750, 0.0)
    """
    data, p_index, rate = _as_trace_data(record_trace, p_time, sampling_rate)
    if data.ndim != 1 or not np.all(np.isfinite(data)):
        raise ValueError("Invalid value for argument `record_trace`. Expected a 1-D finite trace.")
    n = data.size
    noise_end = int(np.floor(p_index - noise_margin * rate))
    signal_start = max(0, int(np.floor(p_index - signal_pre * rate)))
    if noise_end < 1 or signal_start >= n:
        raise ValueError(
            f"Invalid value for argument `p_time`. Expected a P arrival inside the record with noise before it. "
            f"Received p_time at sample {p_index:.1f} of a {n}-sample record (noise_margin={noise_margin})."
        )
    noise_part = data[:noise_end] - data[:noise_end].mean()
    signal_part = data[signal_start:] - data[signal_start:].mean()
    signal_part = signal_part * _cosine_taper(signal_part.size, int(round(taper * rate)))
    return noise_part, signal_part


def record_snr_db(record_trace, p_time, sampling_rate=None, noise_window=(-20.0, -0.5), signal_window=(0.0, 20.0)):
    """Pre/post-P SNR of one record: ``10 * log10(mean(signal**2) / mean(noise**2))`` in dB.

    Mean powers (not sums) because the two windows may differ in length. Each window is demeaned.

    Args:
        record_trace, p_time, sampling_rate: as in `split_event`.
        noise_window: (start, end) seconds relative to P for the noise.
        signal_window: (start, end) seconds relative to P for the signal.

    Returns:
        float dB (``inf`` for zero noise).

    Example:
        >>> import numpy as np
        >>> x = np.r_[0.1 * np.cos(np.arange(3000)), np.cos(np.arange(3000))]
        >>> round(record_snr_db(x, 30.0, sampling_rate=100.0), 1)
        20.0
    """
    data, p_index, rate = _as_trace_data(record_trace, p_time, sampling_rate)

    def cut(window):
        i0 = int(np.clip(np.floor(p_index + window[0] * rate), 0, data.size))
        i1 = int(np.clip(np.floor(p_index + window[1] * rate), 0, data.size))
        if i1 - i0 < 1:
            raise ValueError(
                f"Invalid window {window} s around P at sample {p_index:.1f}: it holds no sample of the "
                f"{data.size}-sample record."
            )
        seg = data[i0:i1]
        return seg - seg.mean()

    noise, signal = cut(noise_window), cut(signal_window)
    with np.errstate(divide="ignore"):
        return float(10.0 * np.log10(np.mean(signal ** 2) / np.mean(noise ** 2)))


def rank_records(records, component="Z", min_snr_db=None, top=None, **snr_kwargs):
    """Rank event records by their pre/post-P SNR (`record_snr_db`), cleanest first.

    Args:
        records: list of `geokeras.data.datasets.EventRecord` (``stream`` and ``p_time``).
        component: last letter of the channel code used for the SNR (``"Z"``), or None for the mean
            over all components.
        min_snr_db: keep only records at or above this SNR.
        top: keep at most this many.
        **snr_kwargs: windows passed to `record_snr_db`.

    Returns:
        list of ``(record, snr_db)`` tuples sorted by decreasing SNR.
    """
    scored = []
    for rec in records:
        traces = [tr for tr in rec.stream if component is None or tr.stats.channel.endswith(component)]
        if not traces:
            raise ValueError(
                f"Invalid value for argument `component`. Record {rec.path} has no channel ending in {component!r}."
            )
        scored.append((rec, float(np.mean([record_snr_db(tr, rec.p_time, **snr_kwargs) for tr in traces]))))
    scored.sort(key=lambda item: -item[1])
    if min_snr_db is not None:
        scored = [item for item in scored if item[1] >= min_snr_db]
    return scored[:top] if top is not None else scored


def sources_from_events(records, components=None, **split_kwargs):
    """Signal and noise sources from event records: every trace split with `split_event`.

    Args:
        records: list of `EventRecord` (e.g. the output of `rank_records`, mapped to the records).
        components: iterable of channel last letters to use (e.g. ``"Z"`` or ``"ENZ"``); None for all.
        **split_kwargs: passed to `split_event`.

    Returns:
        tuple ``(signals, noises)``: two lists of 1-D float64 arrays.
    """
    signals, noises = [], []
    for rec in records:
        for tr in rec.stream:
            if components is not None and tr.stats.channel[-1:] not in components:
                continue
            noise, signal = split_event(tr, rec.p_time, **split_kwargs)
            noises.append(noise)
            signals.append(signal)
    return signals, noises


def _horizontal_pair(stream):
    """The record's two horizontal traces (``N``/``E`` or ``1``/``2``) when they share start, rate and length,
    else None."""
    by_letter = {tr.stats.channel[-1:]: tr for tr in stream}
    for a, b in (("N", "E"), ("1", "2")):
        first, second = by_letter.get(a), by_letter.get(b)
        if first is None or second is None:
            continue
        s1, s2 = first.stats, second.stats
        if (s1.starttime == s2.starttime and s1.sampling_rate == s2.sampling_rate and s1.npts == s2.npts
                and not np.ma.is_masked(first.data) and not np.ma.is_masked(second.data)):
            return first, second
    return None


def rotated_horizontals(records, copies=1, seed=0, **split_kwargs):
    """Signal and noise sources from event records' horizontal components rotated to random azimuths.

    Each record with two horizontal components (``N``/``E`` or ``1``/``2``, same start, rate and length) gives
    ``copies`` rotations: a back-azimuth drawn uniformly in [0, 360) degrees and both of ObsPy's rotated traces
    (`obspy.signal.rotate.rotate_ne_rt`, radial and transverse), each split with `split_event` at the record's
    P. A rotation of two horizontals is another pair of horizontals the station could have recorded: new signal
    and noise waveforms with the record's own spectra, polarizations and relative amplitudes (the sum of the
    two traces' powers is kept sample by sample). Records without such a pair are skipped.

    Args:
        records: list of `EventRecord` (``stream`` and ``p_time``).
        copies: rotations per record (0 gives nothing).
        seed: seed of the azimuth draws.
        **split_kwargs: passed to `split_event`.

    Returns:
        tuple ``(signals, noises)``: two lists of ``2 * copies`` 1-D float64 arrays per record used.

    Example:
        >>> import numpy as np
        >>> from obspy import Stream, Trace, UTCDateTime
        >>> from types import SimpleNamespace
        >>> t0 = UTCDateTime(2020, 1, 1)
        >>> st = Stream([Trace(np.random.default_rng(i).normal(size=2000), header=dict(
        ...     channel="HH" + c, sampling_rate=100.0, starttime=t0)) for i, c in enumerate("NEZ")])
        >>> signals, noises = rotated_horizontals([SimpleNamespace(stream=st, p_time=t0 + 10)], copies=2)
        >>> len(signals), len(noises)
        (4, 4)
    """
    from obspy.signal.rotate import rotate_ne_rt

    copies = check_nonnegative_int("copies", copies)
    rng = np.random.default_rng(seed)
    signals, noises = [], []
    for rec in records:
        pair = _horizontal_pair(rec.stream)
        if pair is None:
            continue
        north, east = (np.asarray(tr.data, dtype=np.float64) for tr in pair)
        p_s, rate = rec.p_time - pair[0].stats.starttime, float(pair[0].stats.sampling_rate)
        for back_azimuth in rng.uniform(0.0, 360.0, copies):
            for rotated in rotate_ne_rt(north, east, float(back_azimuth)):
                noise, signal = split_event(rotated, p_s, sampling_rate=rate, **split_kwargs)
                noises.append(noise)
                signals.append(signal)
    return signals, noises


def highpass(x, freq, sampling_rate, corners=4):
    """Zero-phase Butterworth high-pass of a 1-D array (SciPy ``sosfiltfilt``): the in-band condition's filter.

    Not ``obspy.signal.filter.highpass(zerophase=True)``: ObsPy filters forward and backward without the
    edge padding of ``sosfiltfilt``, so the edges differ (by 9 % of the peak on white noise); the in-band
    pairs and the evaluation's in-band condition would change.

    Args:
        x: 1-D array.
        freq: corner frequency (Hz).
        sampling_rate: Hz.
        corners: filter order (applied twice, forward and backward).

    Returns:
        float64 array of the same length.

    Example:
        >>> import numpy as np
        >>> t = np.arange(6000) / 100.0
        >>> y = highpass(np.sin(2 * np.pi * 0.1 * t) + np.sin(2 * np.pi * 5 * t), 1.0, 100.0)
        >>> bool(np.abs(y - np.sin(2 * np.pi * 5 * t))[1000:5000].max() < 0.01)
        True
    """
    from scipy import signal

    sos = signal.butter(corners, freq, btype="highpass", fs=sampling_rate, output="sos")
    x = np.asarray(x, dtype=np.float64)
    return signal.sosfiltfilt(sos, x) if x.size > 100 else signal.sosfiltfilt(sos, x, padlen=x.size - 1)


def time_stretch(sources, factors=(0.6, 1.8), copies=2, seed=0):
    """Time-stretched copies of signal sources, for training on a wider range of durations and frequencies.

    Each source gets ``copies`` versions stretched by factors drawn log-uniformly in ``factors`` (a factor
    of 2 doubles the duration and halves the frequencies), resampled with `scipy.signal.resample` (Fourier
    method: compressing a source low-passes it, nothing aliases). The originals are not included.

    Args:
        sources: list of 1-D arrays, or of ``(C, m)`` arrays (a record's components, stretched together along
            their last axis).
        factors: ``(low, high)`` stretch range, both positive.
        copies: stretched versions per source.
        seed: seed of the factor draws.

    Returns:
        list of ``len(sources) * copies`` float64 arrays.

    Example:
        >>> import numpy as np
        >>> out = time_stretch([np.sin(np.arange(1000) / 10.0)], factors=(2.0, 2.0), copies=1)
        >>> out[0].size
        2000
    """
    from scipy import signal

    low, high = check_range("factors", factors, low=0.0, low_open=True, allow_scalar=True)
    rng = np.random.default_rng(seed)
    out = []
    for s in sources:
        s = np.asarray(s, dtype=np.float64)
        for f in np.exp(rng.uniform(np.log(low), np.log(high), int(copies))):
            out.append(signal.resample(s, max(2, int(round(s.shape[-1] * f))), axis=-1))
    return out


def phase_randomize(x, rng):
    """Fourier surrogates of the rows of ``x``: each row's amplitude spectrum with new, uniformly random phases.

    A surrogate is another realization of a stationary Gaussian process with the row's power spectrum (the
    classic surrogate of nonlinear time-series analysis, Theiler et al. 1992): the same spectrum and variance,
    none of the row's transients or other non-stationary structure. The zero-frequency bin keeps its value (and,
    for an even length, the Nyquist bin its amplitude), so the mean is unchanged and the power exactly so.

    Args:
        x: real array ``(rows, n)`` (or ``(n,)``).
        rng: a ``numpy.random.Generator``.

    Returns:
        float32 array of the shape of ``x``.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(2, 1000)).astype("float32")
        >>> y = phase_randomize(x, np.random.default_rng(1))
        >>> bool(np.allclose(np.abs(np.fft.rfft(y)), np.abs(np.fft.rfft(x)), atol=1e-3))
        True
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    spec = np.fft.rfft(x, axis=-1)
    phases = np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, spec.shape))
    phases[..., 0] = 1.0
    if n % 2 == 0:
        phases[..., -1] = np.where(phases[..., -1].real < 0, -1.0, 1.0)  # a real bin: a random sign
    return np.fft.irfft(spec * phases, n=n, axis=-1).astype(np.float32)


def _flatten_sources(name, sources, pad=0):
    """Concatenate 1-D sources into one float32 array, each preceded by ``pad`` zeros (and ``pad`` at the end).

    Returns ``(flat, starts, lengths)``: ``starts`` is the index of each source's first sample.
    """
    sources = [np.asarray(s, dtype=np.float64) for s in _as_list(sources)]
    if not sources:
        raise ValueError(f"Invalid value for argument `{name}`. Expected at least one 1-D array. Received none.")
    for i, s in enumerate(sources):
        if s.ndim != 1 or s.size == 0:
            raise ValueError(f"Invalid value for argument `{name}`. Expected non-empty 1-D arrays. "
                             f"Received {name}[{i}] with shape {s.shape}.")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"Invalid value for argument `{name}`. Expected finite samples. "
                             f"Received NaN or inf in {name}[{i}].")
        if not np.any(s - s.mean()):
            raise ValueError(f"Invalid value for argument `{name}`. Expected sources with non-zero power. "
                             f"Received a constant {name}[{i}].")
    lengths = np.array([s.size for s in sources], dtype=np.int64)
    zeros = np.zeros(pad)
    flat = np.concatenate([part for s in sources for part in (zeros, s)] + [zeros]).astype(np.float32)
    starts = (np.cumsum(lengths + pad) - lengths).astype(np.int64)
    return flat, starts, lengths


def _as_list(sources):
    """The sources as a list of 1-D arrays (accepts a list, a 2-D array of rows or one 1-D array)."""
    if isinstance(sources, np.ndarray) and sources.ndim == 2:
        return list(sources)
    if isinstance(sources, np.ndarray) and sources.ndim == 1 and sources.dtype != object:
        return [sources]
    return list(sources)


def _power(x):
    """Row sums of squares of a float32 (n, L) array, accurate to ~1e-7 relative (float64 result)."""
    return np.matmul(x[:, None, :], x[:, :, None])[:, 0, 0].astype(np.float64)


class PairGenerator:
    """Vectorized NumPy generator of (noisy, clean) training windows.

    For each pair:

    1. a signal source is drawn; its start is placed ``shift`` samples into the window (zeros
       before it, zeros after its end; a negative shift starts the window inside the source);
       a draw whose window holds only zeros of the source is redrawn;
    2. the clean window is scaled to an RMS equal to the drawn ``amplitude``;
    3. a noise window is cut at a random offset of a random noise source and demeaned;
    4. the noise is scaled so that ``10*log10(sum(clean**2)/sum(noise**2))`` equals the drawn SNR
       exactly; ``noisy = clean + noise``.

    With probability ``noise_only_fraction`` a pair is noise-only: ``clean = 0`` and the noise is
    scaled to RMS ``amplitude``.

    Augmentation (off by default). ``noise_augment=True`` flips the polarity of each noise window and
    reverses it in time, each with probability 1/2, and with probability ``noise_sum_fraction`` adds a
    second noise window (another random source, weight drawn in [0.3, 1]) before the SNR scaling: noise
    has no preferred sign or direction, and real noise is often a sum of sources. With probability
    ``inband_fraction`` a pair is drawn *in band*: its signal and its noise come from copies of the
    sources high-passed at ``highpass_hz`` (4-pole Butterworth, zero phase, each source filtered whole),
    so that the noise left cannot be removed by a band-pass. Noise sources shorter than the window are extended by mirror
    reflection (same amplitude spectrum, continuous at the joint) to twice their length, repeated
    until they reach at least ``window_length`` samples. Whole batches are drawn at once with
    fancy indexing. Calls with the same seed give the same sequence of pairs.

    Noise bursts (off by default): with probability ``noise_burst_fraction`` a noise window gets a
    *burst*: a second noise window (another random source, any station) under a Hann envelope of
    ``burst_seconds`` duration at a random place in the window, scaled so that its RMS over the envelope's
    span is ``burst_db`` above the window's own RMS, is added before the SNR scaling. The target stays
    the clean signal: the network learns that a transient with the character of noise is noise (real
    continuous records hold such transients; a denoiser that passes them leaves a bursty residual on
    which an STA/LTA detector triggers falsely).

    Surrogate noise (off by default): with probability ``noise_surrogate_fraction`` a noise window is replaced
    by a Fourier surrogate of itself (`phase_randomize`: the same amplitude spectrum, new random phases), before
    any burst is added. The noise sources are short (the pre-P noise of the records: one window or little more),
    so the network sees the same few hundred noise realizations again and again and learns them; a surrogate is a
    new realization of the same station's noise spectrum, so it learns the spectrum instead, and the chance
    fluctuations of unseen noise (which a mask passes as bursts) look less like signal to it.

    Args:
        signals: list of 1-D arrays (or a 2-D array of rows), any lengths.
        noises: list of 1-D arrays of real noise.
        window_length: samples per window.
        snr_db: SNR range in dB ``(low, high)`` drawn uniformly, or one number.
        shift: True draws the signal start uniformly in ``[0, window_length // 2]``; False puts it at
            0; an int ``s`` draws in ``[0, s]``; a ``(low, high)`` pair draws in ``[low, high]``.
        amplitude: RMS of the clean window, ``(low, high)`` drawn uniformly, or one number.
        noise_only_fraction: probability of a noise-only pair, in ``[0, 1]``.
        seed: seed of the NumPy random generator.
        noise_augment: random polarity flip, time reversal and sums of two noise windows.
        noise_sum_fraction: with ``noise_augment``, probability that a second noise window is added.
        inband_fraction: probability of an in-band pair (signal and noise high-passed), in ``[0, 1]``.
        highpass_hz: corner of the in-band high-pass (Hz).
        sampling_rate: sampling rate of the sources (Hz), for the in-band high-pass.
        noise_burst_fraction: probability that a noise window gets a burst, in ``[0, 1]``.
        burst_db: ``(low, high)`` level of a burst above its window's RMS, dB, drawn uniformly.
        burst_seconds: ``(low, high)`` duration of a burst's envelope, seconds (at ``sampling_rate``).
        noise_surrogate_fraction: probability that a noise window is replaced by its Fourier surrogate, in
            ``[0, 1]``.
        signal_groups, noise_groups: optional labels (e.g. ``"NET.STA"``) of each signal and noise source;
            when both are given, a noise window from the signal's own group is redrawn (noise always from
            another station than the signal).
    """

    def __init__(self, signals, noises, window_length=3000, snr_db=(-10.0, 10.0), shift=True,
                 amplitude=(0.5, 2.0), noise_only_fraction=0.0, seed=0, noise_augment=False,
                 noise_sum_fraction=0.3, inband_fraction=0.0, highpass_hz=1.0, sampling_rate=100.0,
                 signal_groups=None, noise_groups=None, noise_burst_fraction=0.0, burst_db=(0.0, 12.0),
                 burst_seconds=(0.5, 6.0), noise_surrogate_fraction=0.0):
        self.window_length = L = check_positive_int("window_length", window_length, allow_float=True)
        self.snr_range = check_range("snr_db", snr_db, allow_scalar=True)
        self.amplitude_range = check_range("amplitude", amplitude, low=0.0, low_open=True, allow_scalar=True)
        if shift is True:
            self.shift_range = (0, L // 2)
        elif shift is False or shift is None:
            self.shift_range = (0, 0)
        else:
            lo, hi = check_range("shift", (0, shift) if np.isscalar(shift) else shift)
            if lo <= -L or hi >= L:
                raise ValueError(f"Invalid value for argument `shift`. Expected values in (-{L}, {L}). "
                                 f"Received shift={shift!r}.")
            self.shift_range = (int(lo), int(hi))
        self.noise_only_fraction = check_number("noise_only_fraction", noise_only_fraction, low=0.0, high=1.0)
        self.noise_sum_fraction = check_number("noise_sum_fraction", noise_sum_fraction, low=0.0, high=1.0)
        self.inband_fraction = check_number("inband_fraction", inband_fraction, low=0.0, high=1.0)
        self.noise_augment = bool(noise_augment)
        self.noise_burst_fraction = check_number("noise_burst_fraction", noise_burst_fraction, low=0.0, high=1.0)
        self.burst_db = check_range("burst_db", burst_db, allow_scalar=True)
        self.burst_seconds = check_range("burst_seconds", burst_seconds, low=0.0, low_open=True, allow_scalar=True)
        self.noise_surrogate_fraction = check_number("noise_surrogate_fraction", noise_surrogate_fraction, low=0.0,
                                                     high=1.0)
        if self.inband_fraction and not 0.0 < float(highpass_hz) < 0.5 * float(sampling_rate):
            raise ValueError("Invalid value for argument `highpass_hz`. Expected a value in (0, sampling_rate / 2). "
                             f"Received highpass_hz={highpass_hz!r} with sampling_rate={sampling_rate!r}.")
        self.highpass_hz = float(highpass_hz)
        self.sampling_rate = check_number("sampling_rate", sampling_rate, low=0.0, low_open=True)  # bursts' seconds
        self._groups = None
        if signal_groups is not None and noise_groups is not None:
            labels = {g: i for i, g in enumerate(sorted(set(signal_groups) | set(noise_groups)))}
            sig_g = np.array([labels[g] for g in signal_groups])
            noise_g = np.array([labels[g] for g in noise_groups])
            if sig_g.size != len(_as_list(signals)) or noise_g.size != len(_as_list(noises)):
                raise ValueError("Invalid value for argument `signal_groups`/`noise_groups`. Expected one label per "
                                 f"source. Received {sig_g.size} and {noise_g.size} labels for "
                                 f"{len(_as_list(signals))} signals and {len(_as_list(noises))} noises.")
            if np.all(np.isin(noise_g, np.unique(sig_g))) and np.unique(noise_g).size == 1:
                raise ValueError("Invalid value for argument `noise_groups`. Expected noise from at least one group "
                                 f"other than the signals'. Received only {noise_groups[0]!r}.")
            self._groups = (sig_g, noise_g)
        self.seed = seed
        # signals are padded with 2L zeros on each side: any shifted window is one contiguous slice
        self._sig, self._sig_start, self._sig_len = _flatten_sources("signals", signals, pad=2 * L)
        extended = []
        for s in (noises if not isinstance(noises, np.ndarray) or noises.ndim != 1 else [noises]):
            s = np.asarray(s, dtype=np.float64)
            while s.ndim == 1 and 0 < s.size < L:
                s = np.concatenate([s, s[::-1]])
            extended.append(s)
        self._noise, self._noise_start, self._noise_len = _flatten_sources("noises", extended)
        self._sig_rows = np.lib.stride_tricks.sliding_window_view(self._sig, L)
        self._noise_rows = np.lib.stride_tricks.sliding_window_view(self._noise, L)
        if self.inband_fraction:
            # same layout (starts, lengths) as the raw copies: the same indices cut the same windows
            hp_sig, _, _ = _flatten_sources("signals", [self._highpass(s) for s in _as_list(signals)], pad=2 * L)
            hp_noise, _, _ = _flatten_sources("noises", [self._highpass(s) for s in extended])
            self._sig_rows_hp = np.lib.stride_tricks.sliding_window_view(hp_sig, L)
            self._noise_rows_hp = np.lib.stride_tricks.sliding_window_view(hp_noise, L)
        self.rng = np.random.default_rng(seed)

    def _highpass(self, x):
        return highpass(x, self.highpass_hz, self.sampling_rate)

    def __repr__(self):
        return (f"PairGenerator(n_signals={self._sig_len.size}, n_noises={self._noise_len.size}, "
                f"window_length={self.window_length}, snr_db={self.snr_range}, shift={self.shift_range}, "
                f"amplitude={self.amplitude_range}, noise_only_fraction={self.noise_only_fraction}, seed={self.seed})")

    def reset(self, seed=None):
        """Restart the random sequence (from ``seed``, default the constructor's seed)."""
        self.rng = np.random.default_rng(self.seed if seed is None else seed)

    def _cut_noise(self, n, rng, inband):
        L = self.window_length
        idx = rng.integers(0, self._noise_len.size, n)
        offset = (rng.random(n) * (self._noise_len[idx] - L + 1)).astype(np.int64)
        rows = self._noise_start[idx] + offset
        win = self._noise_rows[rows]  # a copy: contiguous rows
        if inband is not None and inband.any():
            win[inband] = self._noise_rows_hp[rows[inband]]
        return win, idx

    def _noise_windows(self, n, rng, inband=None):
        win, idx = self._cut_noise(n, rng, inband)
        if self.noise_augment:
            win *= np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(np.float32)[:, None]
            reverse = rng.random(n) < 0.5
            win[reverse] = win[reverse, ::-1]
            add = rng.random(n) < self.noise_sum_fraction
            weight = rng.uniform(0.3, 1.0, n).astype(np.float32)
            if add.any():
                other, _ = self._cut_noise(int(add.sum()), rng, None if inband is None else inband[add])
                win[add] += weight[add, None] * other
        if self.noise_surrogate_fraction:  # no draw without it: the pairs of other recipes stay the same to the bit
            surrogate = rng.random(n) < self.noise_surrogate_fraction
            if surrogate.any():
                win[surrogate] = phase_randomize(win[surrogate], rng)
        if self.noise_burst_fraction:
            burst = rng.random(n) < self.noise_burst_fraction
            if burst.any():
                other, _ = self._cut_noise(int(burst.sum()), rng, None if inband is None else inband[burst])
                win[burst] += self._bursts(win[burst], other, rng)
        win -= win.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
        return win, idx

    def _bursts(self, win, other, rng):
        """``other`` under random Hann envelopes, scaled ``burst_db`` above the RMS of ``win`` (rows)."""
        n, L = win.shape
        width = np.clip(np.round(rng.uniform(*self.burst_seconds, n) * self.sampling_rate), 4, L).astype(np.int64)
        start = (rng.random(n) * (L - width + 1)).astype(np.int64)
        level = 10.0 ** (rng.uniform(*self.burst_db, n) / 20.0)
        t = np.arange(L)[None, :] - start[:, None]
        inside = (t >= 0) & (t < width[:, None])
        env = np.where(inside, 0.5 - 0.5 * np.cos(2 * np.pi * (t + 0.5) / width[:, None]), 0.0)
        other = other - other.mean(axis=1, keepdims=True)
        rms_other = np.sqrt((other ** 2 * inside).sum(axis=1) / width)
        rms_win = np.sqrt(_power(win) / L)
        # the Hann envelope's RMS is sqrt(3/8) of its peak; scale so the burst's RMS under it is `level` x win's
        scale = level * rms_win / np.where(rms_other > 0, rms_other * np.sqrt(3.0 / 8.0), 1.0)
        return (env * other * scale[:, None]).astype(np.float32)

    def _signal_windows(self, n, rng, inband=None):
        L = self.window_length
        shift = rng.integers(self.shift_range[0], self.shift_range[1] + 1, n)
        idx = rng.integers(0, self._sig_len.size, n)
        rows = self._sig_start[idx] - shift
        win = self._sig_rows[rows]
        if inband is not None and inband.any():
            win[inband] = self._sig_rows_hp[rows[inband]]
        return win, idx, shift

    def sample(self, n, return_info=False, rng=None):
        """Draw ``n`` pairs.

        Args:
            n: number of pairs.
            return_info: also return a dict of the drawn parameters (``snr_db``, ``shift``,
                ``amplitude``, ``signal_index``, ``noise_index``, ``noise_only``).
            rng: a ``numpy.random.Generator`` to draw from instead of the generator's own sequence
                (then the call is independent of, and does not advance, ``self.rng``: thread-safe).

        Returns:
            ``(noisy, clean)`` float32 arrays of shape ``(n, window_length)`` (and the info dict).
        """
        rng = self.rng if rng is None else rng
        L = self.window_length
        n = int(n)
        snr = rng.uniform(*self.snr_range, n)
        amp = rng.uniform(*self.amplitude_range, n)
        inband = rng.random(n) < self.inband_fraction if self.inband_fraction else None
        clean, sig_idx, shift = self._signal_windows(n, rng, inband)
        p_clean = _power(clean)
        for _ in range(100):                                     # redraw windows that miss the signal
            bad = p_clean == 0.0
            if not bad.any():
                break
            clean[bad], sig_idx[bad], shift[bad] = self._signal_windows(
                int(bad.sum()), rng, None if inband is None else inband[bad])
            p_clean[bad] = _power(clean[bad])
        else:
            raise ValueError("Invalid value for argument `signals`. Too many all-zero signal windows: "
                             "reduce `shift` or trim leading zeros of the sources.")
        noise_only = rng.random(n) < self.noise_only_fraction
        clean *= np.where(noise_only, 0.0, amp * np.sqrt(L / np.where(p_clean > 0, p_clean, 1.0)))[:, None].astype(np.float32)

        noisy, noise_idx = self._noise_windows(n, rng, inband)
        p_noise = _power(noisy)
        for _ in range(1000):           # redraw constant noise windows (rare) and noise of the signal's own group
            bad = p_noise == 0.0
            if self._groups is not None:
                bad |= (self._groups[1][noise_idx] == self._groups[0][sig_idx]) & ~noise_only
            if not bad.any():
                break
            noisy[bad], noise_idx[bad] = self._noise_windows(int(bad.sum()), rng, None if inband is None else inband[bad])
            p_noise[bad] = _power(noisy[bad])
        else:
            raise ValueError("Invalid value for argument `noises`. Too many constant noise windows, or too few from "
                             "other groups than the signals'.")
        # target noise power: the clean window's power (L * amp**2 after scaling) / 10**(snr/10);
        # noise-only pairs: L * amp**2 (noise RMS = amp)
        p_target = _power(clean)
        target = np.where(noise_only, L * amp ** 2, p_target / 10.0 ** (snr / 10.0))
        noisy *= np.sqrt(target / p_noise)[:, None].astype(np.float32)
        noisy += clean
        if return_info:
            info = dict(snr_db=np.where(noise_only, -np.inf, snr), shift=shift, amplitude=amp,
                        signal_index=np.where(noise_only, -1, sig_idx), noise_index=noise_idx, noise_only=noise_only,
                        inband=np.zeros(n, bool) if inband is None else inband)
            return noisy, clean, info
        return noisy, clean


def _dataset_from(gen, batch_size, n_batches, num_parallel_calls=1, first_batch=0):
    import tensorflow as tf

    batch_size, L = check_positive_int("batch_size", batch_size, allow_float=True), gen.window_length
    epoch = [0]

    def indices():
        # Iteration number e over the dataset (an epoch) yields (e, 0), (e, 1), ...: batch i of epoch e
        # is drawn from default_rng([seed, e, i]), reproducible and independent of thread timing.
        # An endless dataset starts again at (0, first_batch) each time: Keras under a tf.distribute strategy
        # reads one batch from a first iterator before fit starts, which must not shift the pairs of training
        # (model.fit with steps_per_epoch keeps one iterator over all epochs).
        e = epoch[0] if n_batches is not None else 0
        epoch[0] += 1
        i = 0 if n_batches is not None else int(first_batch)
        while n_batches is None or i < n_batches:
            yield e, i
            i += 1

    def draw(e, i):
        rng = np.random.default_rng(None if gen.seed is None else [int(gen.seed), int(e), int(i)])
        noisy, clean = gen.sample(batch_size, rng=rng)
        return noisy[..., None], clean[..., None]

    def to_tensors(e, i):
        noisy, clean = tf.numpy_function(draw, [e, i], (tf.float32, tf.float32), stateful=False)
        return tf.ensure_shape(noisy, (batch_size, L, 1)), tf.ensure_shape(clean, (batch_size, L, 1))

    ds = tf.data.Dataset.from_generator(indices, output_signature=(tf.TensorSpec((), tf.int64),) * 2)
    if n_batches is not None:
        ds = ds.apply(tf.data.experimental.assert_cardinality(int(n_batches)))
    ds = ds.map(to_tensors, num_parallel_calls=num_parallel_calls, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_pair_dataset(signals, noises, window_length=3000, batch_size=32, n_batches=None, seed=0,
                      num_parallel_calls=1, first_batch=0, **kwargs):
    """A ``tf.data.Dataset`` of ``(noisy, clean)`` batches generated on the fly.

    Wraps a `PairGenerator`: whole batches are drawn in NumPy inside ``tf.numpy_function``, mapped
    with ``num_parallel_calls`` in deterministic order, then prefetched. Batch ``i`` of iteration
    ``e`` over the dataset (epoch ``e`` in ``model.fit``) is drawn from
    ``numpy.random.default_rng([seed, e, i])``: the whole training run is reproducible, the pairs
    differ from epoch to epoch, and thread timing cannot change them. An endless dataset
    (``n_batches=None``) yields the batches drawn from ``[seed, 0, first_batch]``, ``[seed, 0, first_batch + 1]``,
    ... in every iteration (``model.fit`` with ``steps_per_epoch`` keeps one iterator for all epochs, so
    epoch ``k`` gets batches ``k * steps_per_epoch`` on; a resumed run passes ``first_batch`` to continue the
    same sequence).

    Args:
        signals, noises, window_length, seed: see `PairGenerator`; other `PairGenerator` options as
            keyword arguments (``snr_db``, ``shift``, ``amplitude``, ``noise_only_fraction``).
        batch_size: pairs per batch.
        n_batches: batches per iteration; None for an endless dataset (give ``steps_per_epoch`` to fit).
        num_parallel_calls: batches drawn concurrently (``tf.data.AUTOTUNE`` allowed).
        first_batch: index of the first batch of an endless dataset.

    Returns:
        ``tf.data.Dataset`` yielding ``(noisy, clean)`` float32 tensors of shape ``(batch_size, window_length, 1)``.
    """
    gen = PairGenerator(signals, noises, window_length=window_length, seed=seed, **kwargs)
    return _dataset_from(gen, batch_size, n_batches, num_parallel_calls, first_batch)
