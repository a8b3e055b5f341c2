"""Waveform quality metrics: SNR, SNR gain, correlation, peak-amplitude ratio, arrival-time shift.

All functions take NumPy arrays with time on the last axis: a 1-D array gives a Python float, a 2-D
(or higher) batch gives one value per row (an array with the last axis removed).

Example:
    >>> import numpy as np
    >>> from geokeras import metrics
    >>> t = np.linspace(0, 1, 200)
    >>> clean = np.sin(2 * np.pi * 5 * t)
    >>> round(metrics.snr_db(clean, 0.1 * clean), 6)
    20.0
    >>> round(metrics.correlation(clean, 3 * clean), 6)
    1.0
"""
import numpy as np

__all__ = ["snr_db", "snr_gain_db", "correlation", "peak_amplitude_ratio", "arrival_time_shift", "pick_p"]


def _out(values):
    values = np.asarray(values, dtype=np.float64)
    return float(values) if values.ndim == 0 else values


def _pair(a, b, names):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"Invalid shapes for arguments `{names[0]}` and `{names[1]}`. Expected equal shapes. "
            f"Received {names[0]}.shape={a.shape} and {names[1]}.shape={b.shape}."
        )
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError(
            f"Invalid value for argument `{names[0]}`. Expected at least one sample on the last axis. "
            f"Received shape {a.shape}."
        )
    return a, b


def snr_db(signal, noise):
    """Signal-to-noise ratio in dB: ``10 * log10(sum(signal**2) / sum(noise**2))`` over the window.

    This is the window power ratio used everywhere in geokeras (training pairs and evaluation).
    A zero-power noise gives ``inf``, a zero-power signal gives ``-inf`` (both zero: ``nan``).

    Args:
        signal: array (..., n), the signal (e.g. the clean waveform).
        noise: array (..., n), the noise (e.g. ``estimate - clean``).

    Returns:
        float for 1-D input, else an array of shape ``signal.shape[:-1]``.

    Example:
        >>> snr_db([1.0, -1.0], [0.1, 0.1])
        20.0
    """
    s, n = _pair(signal, noise, ("signal", "noise"))
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(10.0 * np.log10(np.sum(s * s, axis=-1) / np.sum(n * n, axis=-1)))


def snr_gain_db(clean, noisy, denoised):
    """SNR improvement in dB: ``snr_db(clean, denoised - clean) - snr_db(clean, noisy - clean)``.

    Args:
        clean: array (..., n), the reference waveform.
        noisy: array (..., n), the input of the denoiser.
        denoised: array (..., n), its output.

    Returns:
        float for 1-D input, else one value per row.

    Example:
        >>> clean = np.array([1.0, -1.0, 1.0, -1.0])
        >>> noise = np.array([0.5, 0.5, -0.5, -0.5])
        >>> round(snr_gain_db(clean, clean + noise, clean + 0.1 * noise), 6)
        20.0
    """
    c, x = _pair(clean, noisy, ("clean", "noisy"))
    _, y = _pair(clean, denoised, ("clean", "denoised"))
    with np.errstate(invalid="ignore"):
        return _out(np.asarray(snr_db(c, y - c)) - np.asarray(snr_db(c, x - c)))


def correlation(a, b):
    """Pearson correlation coefficient of two waveforms (per row for batches).

    A constant waveform has no defined correlation: the result is ``nan`` for that row.

    Example:
        >>> correlation([1.0, 2.0, 3.0], [2.0, 4.0, 6.5]) > 0.99
        True
    """
    a, b = _pair(a, b, ("a", "b"))
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt(np.sum(a * a, axis=-1) * np.sum(b * b, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(den > 0, np.sum(a * b, axis=-1) / np.where(den > 0, den, 1.0), np.nan)
    return _out(np.clip(r, -1.0, 1.0))


def peak_amplitude_ratio(clean, processed):
    """Ratio of peak absolute amplitudes ``max|processed| / max|clean|`` (1.0 is perfect).

    A zero ``clean`` gives ``inf`` (or ``nan`` when ``processed`` is zero too).

    Example:
        >>> peak_amplitude_ratio([0.0, -2.0, 1.0], [0.0, 1.0, -1.0])
        0.5
    """
    c, p = _pair(clean, processed, ("clean", "processed"))
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(np.max(np.abs(p), axis=-1) / np.max(np.abs(c), axis=-1))


def pick_p(x, sampling_rate, picker="sta_lta", sta=0.5, lta=5.0, threshold=4.0):
    """First P pick of one trace in seconds from its first sample (``nan`` when nothing is picked).

    Args:
        x: 1-D array.
        sampling_rate: samples per second.
        picker: ``"sta_lta"`` (ObsPy ``recursive_sta_lta``; the pick is the first onset of ObsPy
            ``trigger_onset``: the first sample above ``threshold``)
            or ``"pk_baer"`` (ObsPy ``pk_baer``, parameters scaled from ``sta``/``lta``/``threshold``).
        sta, lta: short and long averaging windows in seconds.
        threshold: STA/LTA trigger level (``pk_baer``: ``thr1 = 2 * threshold``, ``thr2 = 4 * threshold``).

    Returns:
        float seconds, or ``nan``.
    """
    from obspy.signal import trigger

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"Invalid value for argument `x`. Expected a 1-D array. Received shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("Invalid value for argument `x`. Expected finite samples. Received NaN or inf.")
    x = x - x.mean()
    nsta = max(1, int(round(sta * sampling_rate)))
    nlta = max(nsta + 1, int(round(lta * sampling_rate)))
    if picker == "sta_lta":
        if x.size <= nlta or not np.any(x):
            return float("nan")
        cft = trigger.recursive_sta_lta(x, nsta, nlta)
        cft[:nlta] = 0.0  # the ratio is meaningless until the long window is filled
        # ObsPy's trigger_onset starts at the first sample >= its threshold: the next float above
        # `threshold` makes that the first sample > threshold
        above = np.nextafter(float(threshold), np.inf)
        onsets = trigger.trigger_onset(cft, above, above)
        return float(onsets[0][0] / sampling_rate) if len(onsets) else float("nan")
    if picker == "pk_baer":
        if x.size <= 2 * nlta or not np.any(x):
            return float("nan")
        p, _ = trigger.pk_baer(
            x.astype(np.float32), sampling_rate, nsta * 2, nsta * 4, threshold * 2, threshold * 4, nlta, nlta
        )
        # pk_baer needs ``preset_len`` samples to set up its characteristic function; an onset inside them
        # (it returns sample 1 on a window that starts quiet) is not a pick.
        return float(p / sampling_rate) if p > nlta else float("nan")
    raise ValueError(f"Invalid value for argument `picker`. Expected 'sta_lta' or 'pk_baer'. Received picker={picker!r}.")


def arrival_time_shift(clean, processed, sampling_rate, picker="sta_lta", **picker_kwargs):
    """Difference of P picks ``pick(processed) - pick(clean)`` in seconds, with an ObsPy picker.

    Both traces are picked with the same `pick_p` settings; a row where either trace gives no pick
    returns ``nan``.

    Args:
        clean: array (..., n).
        processed: array (..., n).
        sampling_rate: samples per second.
        picker: ``"sta_lta"`` or ``"pk_baer"``; extra keyword arguments go to `pick_p`.

    Returns:
        float for 1-D input, else one value per row.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = 0.01 * rng.standard_normal(2000)
        >>> x[1000:] += np.sin(np.arange(1000) * 0.5) * np.exp(-np.arange(1000) / 300)
        >>> abs(arrival_time_shift(x, np.roll(x, 50), 100.0) - 0.5) < 0.05
        True
    """
    c, p = _pair(clean, processed, ("clean", "processed"))
    c2 = c.reshape(-1, c.shape[-1])
    p2 = p.reshape(-1, p.shape[-1])
    out = np.array(
        [pick_p(b, sampling_rate, picker, **picker_kwargs) - pick_p(a, sampling_rate, picker, **picker_kwargs)
         for a, b in zip(c2, p2)]
    )
    return _out(out.reshape(c.shape[:-1]))
