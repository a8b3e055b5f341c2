"""Three-component training pairs: a station's components drawn together (the joint network's data, issue 15).

`geokeras.data.pairs.PairGenerator` draws single traces. A network that estimates one mask from a station's three
components at once (`geokeras.models.components.build_joint_mask_denoiser`) must see them as they are recorded: the
same event on E, N and Z with their relative amplitudes, and noise that was recorded on the three components at the
same time. `split_components` cuts a three-component event record into its post-P signal and pre-P noise as
``(C, m)`` arrays (`geokeras.data.pairs.split_event` on each component; also the three-component sources of
`geokeras.detection`'s benchmark records), `component_sources` does it for a list of records, and
`ComponentPairGenerator` draws pairs from them:

1. a signal source and a start (``shift`` samples into the window; zeros before and after it); a draw that holds
   only zeros is redrawn;
2. the clean window is scaled (one factor for all components) to an RMS over the components of ``amplitude``;
3. a noise window of another station (all components, one offset), demeaned; with ``noise_augment`` each component's
   polarity is flipped with probability 1/2, the window reversed in time with probability 1/2 (all components), and
   with probability ``noise_sum_fraction`` a second noise window is added (weight in [0.3, 1]);
4. the noise is scaled (one factor for all components) so that ``10*log10(sum(clean**2)/sum(noise**2))`` over
   all components equals the drawn SNR: the components keep their own SNRs (an event strong on Z and weak on E stays
   so); with probability ``noise_only_fraction`` the pair is noise-only (clean zero, noise RMS ``amplitude``).

With probability ``inband_fraction`` the signal and the noise come from copies high-passed at ``highpass_hz`` (each
source filtered whole, `geokeras.data.pairs.highpass`). Batch ``i`` of `ComponentPairGenerator.batch` is drawn
from ``numpy.random.default_rng([seed, i])``: reproducible and independent of the order batches are asked for.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> signals = [np.stack([np.sin(np.arange(900) / 5.0)] * 3)]
    >>> noises = [rng.standard_normal((3, 1200))]
    >>> gen = ComponentPairGenerator(signals, noises, window_length=500, snr_db=(5.0, 5.0), shift=(0, 0),
    ...                              signal_groups=["A"], noise_groups=["B"])
    >>> noisy, clean = gen.sample(4, np.random.default_rng(1))
    >>> noisy.shape, noisy.dtype.name
    ((4, 500, 3), 'float32')
    >>> noise = (noisy - clean).astype("float64")
    >>> bool(np.allclose(10 * np.log10((clean ** 2).sum(axis=(1, 2)) / (noise ** 2).sum(axis=(1, 2))), 5.0, atol=0.01))
    True
"""
import numpy as np

from geokeras.validation import check_number, check_positive_int, check_range

__all__ = ["split_components", "component_sources", "ComponentPairGenerator"]


def split_components(rec):
    """One event record's three components split at P: ``(signal, noise)`` float64 ``(3, m)`` arrays (each its own
    ``m``), the vertical last (E, N, Z or 1, 2, Z); ``(None, None)`` for a record that does not hold exactly three
    traces, one of them vertical (channel ``..Z``).

    Each component is split with `geokeras.data.pairs.split_event`; the signal parts are cut to the shortest at
    their start, the noise parts at their end (next to P), so sample ``j`` of every row was recorded at the same
    time. ``noise`` has 0 columns for a record without pre-P noise.

    Raises:
        ValueError: P outside a component's record (`geokeras.data.pairs.split_event`).
    """
    from geokeras.data import pairs

    traces = sorted(rec.stream, key=lambda tr: (tr.stats.channel[-1:] == "Z", tr.stats.channel))
    if [tr.stats.channel[-1:] == "Z" for tr in traces] != [False, False, True]:
        return None, None
    parts = [pairs.split_event(tr, rec.p_time) for tr in traces]
    m_noise, m_signal = min(len(p[0]) for p in parts), min(len(p[1]) for p in parts)
    return (np.stack([np.asarray(p[1][:m_signal], dtype=np.float64) for p in parts]),
            np.stack([np.asarray(p[0][len(p[0]) - m_noise:], dtype=np.float64) for p in parts]))


def component_sources(records, min_snr_db=None, min_noise_samples=300):
    """The three-component signal and noise sources of event records (`split_components`: the vertical last).

    Args:
        records: `geokeras.data.datasets.EventRecord` list; records without three components are skipped.
        min_snr_db: signals only from records whose pre/post-P SNR (mean over the components,
            `geokeras.data.pairs.rank_records`) is at least this; None keeps every record's signal.
        min_noise_samples: shortest noise source kept (a source shorter than the window is extended by the
            generator).

    Returns:
        dict with ``signals``, ``noises`` (lists of ``(3, m)`` float64 arrays) and ``signal_groups``,
        ``noise_groups`` (the ``NET.STA`` of each): the keyword arguments of `ComponentPairGenerator`.
    """
    from geokeras.data import pairs

    kept = None
    if min_snr_db is not None:
        kept = {id(rec) for rec, _ in pairs.rank_records(records, component=None, min_snr_db=min_snr_db)}
    out = {"signals": [], "noises": [], "signal_groups": [], "noise_groups": []}
    for rec in records:
        signal, noise = split_components(rec)
        if signal is None:
            continue
        if kept is None or id(rec) in kept:
            out["signals"].append(signal)
            out["signal_groups"].append(rec.station_id)
        if noise.shape[1] >= min_noise_samples:
            out["noises"].append(noise)
            out["noise_groups"].append(rec.station_id)
    return out


def _check_sources(name, sources, components=None):
    sources = [np.asarray(s, dtype=np.float64) for s in sources]
    if not sources:
        raise ValueError(f"Invalid value for argument `{name}`. Expected at least one (C, m) array. Received none.")
    components = sources[0].shape[0] if components is None else components
    for i, s in enumerate(sources):
        if s.ndim != 2 or s.shape[0] != components or s.shape[1] == 0 or not np.all(np.isfinite(s)):
            raise ValueError(f"Invalid value for argument `{name}`. Expected finite ({components}, m) arrays. "
                             f"Received {name}[{i}] with shape {s.shape}.")
    return sources, components


class ComponentPairGenerator:
    """NumPy generator of three-component ``(noisy, clean)`` windows ``(n, window_length, C)`` (module docstring).

    Args:
        signals, noises: lists of ``(C, m)`` arrays (`component_sources`).
        signal_groups, noise_groups: the station of each source; a signal never gets noise of its own station.
        window_length: samples per window.
        snr_db: ``(low, high)`` SNR range over all components, dB.
        shift: ``(low, high)`` signal start in the window, samples (negative: the window starts inside the
            signal); None (default) is ``(0, window_length // 2)``.
        amplitude: ``(low, high)`` RMS of the clean window over the components.
        noise_only_fraction, inband_fraction, noise_sum_fraction: probabilities in ``[0, 1]``.
        noise_augment: polarity flips per component, time reversal and sums of two noise windows.
        highpass_hz, sampling_rate: the in-band high-pass (Hz) and the sources' rate.
        stretch: ``(low, high)`` factors: each signal gets two time-stretched copies (the same factor on its
            components, `geokeras.data.pairs.time_stretch`), or None.
        seed: seed of the stretch factors and of `batch`.
    """

    def __init__(self, signals, noises, signal_groups, noise_groups, window_length=3000, snr_db=(-10.0, 10.0),
                 shift=None, amplitude=(0.5, 2.0), noise_only_fraction=0.0, inband_fraction=0.0,
                 noise_augment=False, noise_sum_fraction=0.3, highpass_hz=1.0, sampling_rate=100.0, stretch=None,
                 seed=0):
        from geokeras.data.pairs import highpass, time_stretch

        self.window_length = L = check_positive_int("window_length", window_length)
        signals, c = _check_sources("signals", signals)
        noises, self.components = _check_sources("noises", noises, c)
        if len(signal_groups) != len(signals) or len(noise_groups) != len(noises):
            raise ValueError("Invalid value for argument `signal_groups`/`noise_groups`. Expected one label per "
                             f"source. Received {len(signal_groups)} and {len(noise_groups)} labels for "
                             f"{len(signals)} signals and {len(noises)} noises.")
        if not set(noise_groups) - set(signal_groups) and len(set(noise_groups)) == 1:
            raise ValueError("Invalid value for argument `noise_groups`. Expected noise from at least one station "
                             f"other than the signals'. Received only {noise_groups[0]!r}.")
        self.snr_db = check_range("snr_db", snr_db, allow_scalar=True)
        shift = (0, L // 2) if shift is None else shift
        self.shift = tuple(int(v) for v in check_range("shift", shift, allow_scalar=True))
        if self.shift[0] <= -L or self.shift[1] >= L:
            raise ValueError(f"Invalid value for argument `shift`. Expected values in (-{L}, {L}). "
                             f"Received shift={shift!r}.")
        self.amplitude = check_range("amplitude", amplitude, low=0.0, low_open=True, allow_scalar=True)
        self.noise_only_fraction = check_number("noise_only_fraction", noise_only_fraction, low=0.0, high=1.0)
        self.inband_fraction = check_number("inband_fraction", inband_fraction, low=0.0, high=1.0)
        self.noise_sum_fraction = check_number("noise_sum_fraction", noise_sum_fraction, low=0.0, high=1.0)
        self.noise_augment = bool(noise_augment)
        self.seed = seed
        groups = list(signal_groups)
        if stretch is not None:  # two stretched copies of each signal, its components together
            signals = signals + time_stretch(signals, stretch, copies=2, seed=seed)
            groups += [g for g in signal_groups for _ in range(2)]
        extended = []
        for s in noises:
            while s.shape[1] < L:
                s = np.concatenate([s, s[:, ::-1]], axis=1)
            extended.append(s)

        def hp(s):
            return np.stack([highpass(row, highpass_hz, sampling_rate) for row in s])

        self._signals = [(s, hp(s) if self.inband_fraction else None) for s in signals]
        self._noises = [(s, hp(s) if self.inband_fraction else None) for s in extended]
        self._signal_groups, self._noise_groups = groups, list(noise_groups)

    def __repr__(self):
        return (f"ComponentPairGenerator(n_signals={len(self._signals)}, n_noises={len(self._noises)}, "
                f"components={self.components}, window_length={self.window_length}, snr_db={self.snr_db})")

    def _noise(self, rng, inband, group):
        while True:
            j = rng.integers(len(self._noises))
            if self._noise_groups[j] != group:
                break
        source = self._noises[j][inband]
        offset = rng.integers(0, source.shape[1] - self.window_length + 1)
        return source[:, offset:offset + self.window_length].copy()

    def _signal(self, rng, inband):
        L = self.window_length
        for _ in range(1000):
            i = rng.integers(len(self._signals))
            source = self._signals[i][inband]
            shift = rng.integers(self.shift[0], self.shift[1] + 1)
            clean = np.zeros((self.components, L))
            start, skip = max(0, shift), max(0, -shift)  # index in the window, index in the source
            m = min(L - start, source.shape[1] - skip)
            if m > 0:
                clean[:, start:start + m] = source[:, skip:skip + m]
            if np.any(clean):
                return clean, i
        raise ValueError("Invalid value for argument `signals`. Too many all-zero signal windows: reduce `shift`.")

    def sample(self, n, rng):
        """``n`` pairs drawn from the ``numpy.random.Generator`` ``rng``: float32 ``(noisy, clean)``, each
        ``(n, window_length, C)``, in the sources' units (`geokeras.data.normalize.normalize_pairs` standardizes
        each component as the model does)."""
        noisy = np.zeros((n, self.window_length, self.components), np.float32)
        clean_out = np.zeros_like(noisy)
        for k in range(int(n)):
            inband = int(rng.random() < self.inband_fraction)
            clean, i = self._signal(rng, inband)
            amp = rng.uniform(*self.amplitude)
            noise_only = rng.random() < self.noise_only_fraction
            clean *= 0.0 if noise_only else amp / np.sqrt(np.mean(clean ** 2))
            noise = self._noise(rng, inband, self._signal_groups[i])
            if self.noise_augment:
                noise *= np.where(rng.random(self.components) < 0.5, -1.0, 1.0)[:, None]
                if rng.random() < 0.5:
                    noise = noise[:, ::-1]
                if rng.random() < self.noise_sum_fraction:
                    noise = noise + rng.uniform(0.3, 1.0) * self._noise(rng, inband, self._signal_groups[i])
            noise = noise - noise.mean(axis=1, keepdims=True)
            power = np.sum(noise ** 2)
            if noise_only:
                target = self.components * self.window_length * amp ** 2
            else:
                target = np.sum(clean ** 2) / 10.0 ** (rng.uniform(*self.snr_db) / 10.0)
            noise *= np.sqrt(target / power) if power > 0 else 0.0
            noisy[k], clean_out[k] = (clean + noise).T, clean.T
        return noisy, clean_out

    def batch(self, i, n):
        """Batch ``i`` of ``n`` pairs, drawn from ``numpy.random.default_rng([seed, i])``."""
        return self.sample(n, np.random.default_rng([int(self.seed), int(i)]))
