"""Evaluate a denoiser against baselines on test-station signals with real noise of other stations added.

Test windows. For each input SNR level (window power ratio ``10*log10(sum(clean**2)/sum(noise**2))``),
`geokeras.data.pairs.PairGenerator` places a test signal (the post-P part of a test-station event trace,
`geokeras.data.pairs.split_event`, starting 0.5 s before P) at a fixed-seed random offset so that P falls
between ``p_range`` seconds into the window, and adds a window of real pre-P noise recorded at *another* test
station, scaled to the exact level. The same windows go to every method. Two conditions:

- ``"inband"`` (the headline): signal and noise both high-passed at 1 Hz (4-pole Butterworth, zero phase)
  before mixing: noise that a band-pass cannot remove;
- ``"recorded"``: signal and noise as recorded (often dominated by microseism below 1 Hz, which a band-pass
  already removes).

Methods, side by side:

- the model (if given);
- ``bandpass``: 4-pole Butterworth 1-20 Hz band-pass, zero phase: ObsPy's `obspy.signal.filter.bandpass`
  with ``zerophase=True``, the filter of ``Trace.filter("bandpass", ..., zerophase=True)``;
- ``wavelet``: PyWavelets ``db4`` decomposition, soft thresholding of the detail coefficients at the
  universal threshold ``sigma * sqrt(2 ln n)`` with ``sigma = median(|details|) / 0.6745`` estimated per
  level (the rule for colored noise; the approximation is kept);
- ``wiener`` (session 16): `wiener_baseline`, a decision-directed Wiener filter with the noise spectrum taken
  as each bin's median power over the window's own frames (on a continuous record, over minutes of it) and the
  shipped network's floor 0.3 and framing: the classical counterpart of the network's mask;
- ``oracle_mask``: the ideal ratio mask ``|S|^2 / (|S|^2 + |N|^2)`` from the known clean and noise STFTs
  (Hann, 32-sample frames, 16-sample hop, the resolution of the ``stftmask`` family) applied to the noisy
  STFT: a ceiling for mask methods, not a usable denoiser.

Metrics per window (`geokeras.metrics`): SNR gain in dB, correlation with the clean window, peak-amplitude
ratio, P arrival-time error (absolute difference of STA/LTA picks on the clean and processed windows), and
the SNR gain over the band-pass on the same window. `evaluate` reports medians per method and level (plus
a level ``"all"`` row per method) and the fraction of the oracle mask's median gain.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(2000) / 100.0
    >>> sig = [np.sin(2 * np.pi * 5 * t) * np.exp(-t / 3.0)]
    >>> noi = [rng.standard_normal(4000)]
    >>> rows = evaluate(None, signals=sig, noise=noi, snr_levels=(0,), n_per_level=4, window_length=1500)
    >>> sorted({r["method"] for r in rows})
    ['bandpass', 'oracle_mask', 'wavelet', 'wiener']
"""

import numpy as np

from geokeras import metrics
from geokeras.utils import atomic_path
from geokeras.validation import check_number

BASELINES = ("bandpass", "wavelet", "wiener", "oracle_mask")
CONDITIONS = ("inband", "recorded")
METRIC_KEYS = ("snr_gain_db", "correlation", "peak_ratio", "arrival_error_s", "gain_over_bandpass_db")
INBAND_HIGHPASS_HZ = 1.0


# -------------------------------------------------------------------------------------------- baselines
def bandpass_baseline(noisy, sampling_rate, freqmin=1.0, freqmax=20.0, corners=4):
    """Zero-phase Butterworth band-pass of each row (``freqmax`` capped at 0.45 * sampling rate).

    ObsPy's `obspy.signal.filter.bandpass` with ``zerophase=True``: the same samples as
    ``Trace.filter("bandpass", freqmin=..., freqmax=..., corners=..., zerophase=True)``.

    Example:
        >>> import numpy as np
        >>> x = np.sin(2 * np.pi * 0.1 * np.arange(3000) / 100.0)  # 0.1 Hz: far below the band
        >>> bool(np.abs(bandpass_baseline(x, 100.0)[500:2500]).max() < 1e-3)
        True
    """
    from obspy.signal.filter import bandpass

    freqmax = min(freqmax, 0.45 * sampling_rate)
    x = np.asarray(noisy, dtype=np.float64)
    rows = x.reshape(-1, x.shape[-1])
    out = np.stack([bandpass(row, freqmin, freqmax, sampling_rate, corners=corners, zerophase=True) for row in rows])
    return out.reshape(x.shape)


def wavelet_baseline(noisy, wavelet="db4", mode="soft", per_level=True):
    """Wavelet thresholding of each row at the universal threshold ``sigma * sqrt(2 ln n)``, MAD noise estimate.

    Args:
        noisy: array ``(..., n)``.
        wavelet: PyWavelets wavelet name.
        mode: ``"soft"`` or ``"hard"`` thresholding.
        per_level: estimate ``sigma`` on each detail level (Johnstone and Silverman's rule for colored
            noise, the default: seismic noise is far from white) instead of on the finest level only
            (Donoho's VisuShrink). The approximation coefficients are kept.
    """
    import pywt

    x = np.atleast_2d(np.asarray(noisy, dtype=np.float64))
    out = np.empty_like(x)
    for i, row in enumerate(x):
        coeffs = pywt.wavedec(row, wavelet, mode="symmetric")
        factor = np.sqrt(2.0 * np.log(row.size)) / 0.6745
        sigma_fine = np.median(np.abs(coeffs[-1]))
        coeffs = [coeffs[0]] + [
            pywt.threshold(c, factor * (np.median(np.abs(c)) if per_level else sigma_fine), mode=mode)
            for c in coeffs[1:]
        ]
        out[i] = pywt.waverec(coeffs, wavelet, mode="symmetric")[: row.size]
    return out.reshape(np.shape(noisy))


def oracle_mask_baseline(clean, noise, nperseg=32, noverlap=16, floor=0.0):
    """Ideal ratio mask ``|S|^2/(|S|^2+|N|^2)`` from the known clean and noise, applied to their sum.

    Args:
        clean, noise: arrays of the same shape (time on the last axis).
        nperseg, noverlap: STFT framing (Hann window; 64 / 32 is the shipped network's).
        floor: minimum gain in ``[0, 1)``: the mask becomes ``floor + (1 - floor) * mask``, the post-processing
            of the shipped v4 (`geokeras.layers.MaskSmoothing`) applied to a perfect mask.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> clean, noise = np.zeros(2000), rng.normal(size=2000)
        >>> float(np.std(oracle_mask_baseline(clean, noise))) < 1e-12
        True
        >>> round(float(np.std(oracle_mask_baseline(clean, noise, floor=0.3)) / np.std(noise)), 2)
        0.3
    """
    from scipy import signal

    floor = check_number("floor", floor, low=0.0, high=1.0, high_open=True)
    clean = np.asarray(clean, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    kw = dict(nperseg=nperseg, noverlap=noverlap, window="hann", axis=-1)
    _, _, s = signal.stft(clean, **kw)
    _, _, n = signal.stft(noise, **kw)
    ps, pn = np.abs(s) ** 2, np.abs(n) ** 2
    mask = np.where(ps + pn > 0, ps / np.where(ps + pn > 0, ps + pn, 1.0), 0.0)
    mask = floor + (1.0 - floor) * mask if floor else mask
    _, y = signal.istft(mask * (s + n), nperseg=nperseg, noverlap=noverlap, window="hann", time_axis=-1, freq_axis=-2)
    return y[..., : clean.shape[-1]]


def running_noise_power(power, window, step):
    """Each cell's noise power: the running median of ``power`` over ``window`` frames, divided by ``ln 2``.

    The median of the power of a Gaussian noise cell (an exponential variable) is ``ln 2`` times its mean; an
    earthquake short against the window does not move the median. Taken every ``step`` frames and interpolated
    linearly between (the first and last values held at the ends); a record shorter than the window gets one
    median over all its frames.

    Args:
        power: array ``(..., frames)`` of STFT power (time on the last axis).
        window, step: frames (at least 1 each).

    Returns:
        array of ``power``'s shape.

    Example:
        >>> p = np.random.default_rng(0).exponential(2.0, size=(1, 5000))
        >>> round(float(running_noise_power(p, 1000, 100).mean()), 1)  # the exponential's mean, 2
        2.0
    """
    frames = power.shape[-1]
    window, step = max(1, int(window)), max(1, int(step))
    centres = np.arange(min(step // 2, frames - 1), frames, step)
    medians = np.stack([np.median(power[..., max(0, c - window // 2):c + window // 2 + 1], axis=-1)
                        for c in centres], axis=-1) / np.log(2.0)
    noise = np.empty(power.shape, dtype=np.float64)
    for index in np.ndindex(power.shape[:-1]):
        noise[index] = np.interp(np.arange(frames), centres, medians[index])
    return noise


def noise_referenced_stft(rows, sampling_rate, noise_window_s=300.0, noise_step_s=30.0, nperseg=64, noverlap=32):
    """The STFT of each demeaned row of a continuous record and each cell's noise power (`running_noise_power`).

    What the record-statistics methods share (`wiener_baseline`, and the experiments of ``bench/``): Hann frames
    of ``nperseg`` samples every ``nperseg - noverlap`` (the shipped network's 64 / 32 at 100 Hz), the noise power
    a running median over ``noise_window_s`` taken every ``noise_step_s`` (both rounded to whole frames).

    Args:
        rows: array ``(..., n)``, time on the last axis (float64 is used).
        sampling_rate: samples per second.
        noise_window_s, noise_step_s: see `running_noise_power` (in seconds here).
        nperseg, noverlap: the STFT framing.

    Returns:
        ``(z, noise)``: the complex STFT ``(..., bins, frames)`` (``scipy.signal.stft``, ``boundary="even"``,
        padded) and the noise power of each of its cells.

    Example:
        >>> z, noise = noise_referenced_stft(np.random.default_rng(0).normal(size=(2, 60_000)), 100.0)
        >>> z.shape == noise.shape, round(float(np.median(np.abs(z) ** 2 / noise)), 1)  # ln 2: the median cell
        (True, 0.7)
    """
    from scipy import signal

    x = np.asarray(rows, dtype=np.float64)
    _, _, z = signal.stft(x - x.mean(axis=-1, keepdims=True), window="hann", nperseg=nperseg, noverlap=noverlap,
                          boundary="even", padded=True)
    hop_s = (nperseg - noverlap) / sampling_rate
    return z, running_noise_power(np.abs(z) ** 2, int(round(noise_window_s / hop_s)), int(round(noise_step_s / hop_s)))


def wiener_baseline(noisy, sampling_rate, floor=0.3, smoothing=0.98, noise_window_s=300.0, noise_step_s=30.0,
                    nperseg=64, noverlap=32, components=None):
    """Classical denoiser: a decision-directed Wiener filter with each row's own running noise spectrum.

    What a seismologist could do without a network: the noise power of each frequency bin is the running median
    of the record's STFT power over ``noise_window_s`` (an earthquake is short against it, so the median is the
    noise's), divided by ``ln 2`` (the median of an exponential variable, the power of a Gaussian noise cell, is
    ``ln 2`` times its mean); each cell's gain is Wiener's ``xi / (1 + xi)`` with the a priori SNR ``xi``
    estimated by Ephraim and Malah's decision-directed rule (``xi = a * G_prev**2 * gamma_prev + (1 - a) *
    max(gamma - 1, 0)``, ``a = smoothing``, ``gamma`` the cell's power over the noise's), which holds back the
    noise's chance peaks that plain spectral subtraction (``smoothing=0``) lets through, the "musical noise" (on
    white noise at floor 0: 3.5 % of its RMS passes, against 45 %). The rule is run forward
    and backward in time and the two gains averaged (the forward pass alone lags behind an onset), then lifted
    to ``floor + (1 - floor) * gain`` as the shipped model's mask is (`geokeras.layers.MaskSmoothing`).
    Nothing is learned: a baseline the networks must beat on continuous records (session 16). Sign-symmetric
    (``wiener_baseline(-x) == -wiener_baseline(x)``); the output has zero mean.

    Args:
        noisy: array ``(..., n)``, each row a continuous record (time on the last axis).
        sampling_rate: samples per second.
        floor: minimum gain in ``[0, 1]`` (1 returns the demeaned input).
        smoothing: the decision-directed weight ``a`` in ``[0, 1)``.
        noise_window_s: seconds of record the noise spectrum's running median spans (the whole record if it is
            shorter).
        noise_step_s: the running median is taken every ``noise_step_s`` seconds and interpolated between.
        nperseg, noverlap: STFT framing (Hann window; 64 / 32 is the shipped network's at 100 Hz).
        components: ``None`` (each row its own gain) or ``"median"``: the rows are one station's components and
            all get the median of their gains, cell by cell (as `geokeras.layers.ComponentMask` combines the
            network's masks).

    Returns:
        the filtered array, shape of ``noisy``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> noise = rng.normal(size=60_000)                       # 10 minutes of white noise at 100 Hz
        >>> round(float(np.std(wiener_baseline(noise, 100.0))), 1)  # attenuated to about the floor
        0.3
        >>> event = np.zeros(60_000)
        >>> event[30_000:30_500] = 20 * np.sin(np.arange(500) * 0.6)
        >>> out = wiener_baseline(noise + event, 100.0)
        >>> bool(np.corrcoef(out[29_900:30_600], event[29_900:30_600])[0, 1] > 0.95)
        True
    """
    from scipy import signal

    floor = check_number("floor", floor, low=0.0, high=1.0)
    smoothing = check_number("smoothing", smoothing, low=0.0, high=1.0, high_open=True)
    sampling_rate = check_number("sampling_rate", sampling_rate, low=0.0, low_open=True)
    noise_window_s = check_number("noise_window_s", noise_window_s, low=0.0, low_open=True)
    noise_step_s = check_number("noise_step_s", noise_step_s, low=0.0, low_open=True)
    if components not in (None, "median"):
        raise ValueError("Invalid value for argument `components`. Expected None or 'median'. "
                         f"Received components={components!r}.")
    x = np.asarray(noisy, dtype=np.float64)
    z, noise = noise_referenced_stft(x.reshape(-1, x.shape[-1]), sampling_rate, noise_window_s, noise_step_s, nperseg,
                                     noverlap)  # (rows, bins, frames)
    gamma = np.abs(z) ** 2 / np.maximum(noise, np.finfo(np.float64).tiny)

    def decision_directed(gam):  # (rows, bins, frames) -> Wiener gains, frame by frame
        gain = np.empty_like(gam)
        previous = np.ones(gam.shape[:-1])  # G**2 * gamma of the previous frame
        for t in range(gam.shape[-1]):
            xi = smoothing * previous + (1.0 - smoothing) * np.maximum(gam[..., t] - 1.0, 0.0)
            gain[..., t] = xi / (1.0 + xi)
            previous = gain[..., t] ** 2 * gam[..., t]
        return gain

    gain = 0.5 * (decision_directed(gamma) + decision_directed(gamma[..., ::-1])[..., ::-1])
    gain = floor + (1.0 - floor) * gain
    if components == "median":
        gain = np.broadcast_to(np.median(gain, axis=0), gain.shape)
    _, y = signal.istft(gain * z, window="hann", nperseg=nperseg, noverlap=noverlap)
    return y[..., : x.shape[-1]].reshape(x.shape)


# ------------------------------------------------------------------------------------------- test data
def heldout_sources(records=None, with_stations=False):
    """Signal and noise sources of test records (default: bundled events at ``TEST_STATIONS``).

    Args:
        records: `EventRecord` list (default: `geokeras.data.datasets.split_records`'s test records).
        with_stations: also return the ``"NET.STA"`` of each signal and each noise source.

    Returns:
        tuple ``(signals, noises)`` of lists of 1-D arrays (`geokeras.data.pairs.sources_from_events`), or
        ``(signals, noises, signal_stations, noise_stations)``.
    """
    from geokeras.data import datasets, pairs

    if records is None:
        records = datasets.load_events(stations=datasets.TEST_STATIONS)  # only these: a wheel ships no others
    signals, noises, stations = [], [], []
    for rec in records:
        sig, noi = pairs.sources_from_events([rec])
        signals += sig
        noises += noi
        stations += [rec.station_id] * len(sig)
    return (signals, noises, stations, list(stations)) if with_stations else (signals, noises)


def make_test_windows(signals, noise, snr_db, n, window_length=3000, sampling_rate=100.0, p_range=(8.0, 14.0),
                      seed=0, condition="recorded", signal_stations=None, noise_stations=None):
    """Draw ``n`` fixed-seed test windows at one SNR level.

    Args:
        signals, noise: lists of 1-D source arrays.
        snr_db: the input SNR (dB, window power ratio).
        n: number of windows.
        window_length, sampling_rate: window size and the sources' rate.
        p_range: seconds into the window where P falls.
        seed: seed of the draws.
        condition: ``"recorded"`` or ``"inband"`` (signal and noise high-passed at 1 Hz).
        signal_stations, noise_stations: optional station of each source; then noise always comes from
            another station than the signal.

    Returns:
        tuple ``(noisy, clean)`` float64 arrays ``(n, window_length)``; the noise is ``noisy - clean``.
    """
    from geokeras.validation import check_choice
    from geokeras.data.pairs import PairGenerator

    check_choice("condition", condition, CONDITIONS)
    pre = int(round(0.5 * sampling_rate))  # split_event keeps 0.5 s before P
    lo = int(round(p_range[0] * sampling_rate)) - pre
    hi = int(round(p_range[1] * sampling_rate)) - pre
    hi = min(hi, window_length // 2)
    lo = max(0, min(lo, hi))
    gen = PairGenerator(signals, noise, window_length=window_length, snr_db=(snr_db, snr_db), shift=(lo, hi),
                        amplitude=1000.0, seed=seed, inband_fraction=1.0 if condition == "inband" else 0.0,
                        highpass_hz=INBAND_HIGHPASS_HZ, sampling_rate=sampling_rate,
                        signal_groups=signal_stations, noise_groups=noise_stations)
    noisy, clean = gen.sample(n)
    return noisy.astype(np.float64), clean.astype(np.float64)


def _scores(clean, noisy, out, sampling_rate, bandpass_gain):
    with np.errstate(invalid="ignore", divide="ignore"):
        dt = np.abs(metrics.arrival_time_shift(clean, out, sampling_rate))
    gain = np.asarray(metrics.snr_gain_db(clean, noisy, out))
    return {
        "snr_gain_db": gain,
        "correlation": np.asarray(metrics.correlation(clean, out)),
        "peak_ratio": np.asarray(metrics.peak_amplitude_ratio(clean, out)),
        "arrival_error_s": np.asarray(dt),
        "gain_over_bandpass_db": gain - bandpass_gain,
    }


def _median(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


# --------------------------------------------------------------------------------------------- evaluate
def evaluate(model, records=None, snr_levels=(-10, -5, 0, 5, 10), n_per_level=100, signals=None, noise=None,
             window_length=None, sampling_rate=None, baselines=BASELINES, seed=0, batch_size=64, plot=None,
             model_name="model", return_scores=False, condition="inband"):
    """Score a denoiser and the baselines per input-SNR level on test stations.

    Args:
        model: a denoiser ``keras.Model`` (raw windows in, denoised windows out), or None for baselines only.
        records: `EventRecord` list (default: the bundled events at ``TEST_STATIONS``); noise of one record's
            station is never added to a signal of the same station. Ignored when ``signals`` and ``noise``
            are given.
        snr_levels: input SNRs in dB (window power ratio).
        n_per_level: test windows per level.
        signals, noise: optional lists of 1-D arrays to use instead of records.
        window_length, sampling_rate: default from `geokeras.models.denoiser.denoiser_info` of the model,
            else 3000 and 100 Hz.
        baselines: any of ``"bandpass"``, ``"wavelet"``, ``"wiener"`` (`wiener_baseline`: on a single window the
            noise spectrum is the median over the window's own frames), ``"oracle_mask"``.
        seed: seed of the test windows (level ``i`` uses ``seed + i``).
        batch_size: model batch size.
        plot: optional PNG path: median SNR gain and correlation against input SNR per method.
        model_name: the model's name in the table.
        return_scores: also return the per-window scores ``{(method, level): {metric: array}}``.
        condition: ``"inband"`` (signal and noise high-passed at 1 Hz, the default) or ``"recorded"``.

    Returns:
        list of dicts with ``method``, ``snr_db`` (a level or ``"all"``), ``n``, the medians
        ``snr_gain_db``, ``correlation``, ``peak_ratio``, ``arrival_error_s`` (NaN picks are left out;
        ``picked`` is the fraction of windows where both picks exist), ``gain_over_bandpass_db`` (median over
        windows of the gain minus the band-pass's gain on the same window) and ``oracle_fraction`` (median
        gain / the oracle mask's median gain; NaN without ``"oracle_mask"``). With ``return_scores``, a tuple
        ``(rows, scores)``.

    Raises:
        ValueError: for an unknown baseline or condition, or ``n_per_level < 1``.
    """
    from geokeras.validation import check_choice, check_positive_int

    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise ValueError(f"Invalid value for argument `baselines`. Expected a subset of {list(BASELINES)}. "
                         f"Received baselines={list(baselines)!r}.")
    check_choice("condition", condition, CONDITIONS)
    check_positive_int("n_per_level", n_per_level)
    window_length, sampling_rate = _window_of(model, window_length, sampling_rate)
    signal_stations = noise_stations = None
    if signals is None or noise is None:
        signals, noise, signal_stations, noise_stations = heldout_sources(records, with_stations=True)

    methods = ([model_name] if model is not None else []) + list(baselines)
    scores = {}
    for i, level in enumerate(snr_levels):
        noisy, clean = make_test_windows(signals, noise, float(level), n_per_level, window_length, sampling_rate,
                                         seed=seed + i, condition=condition, signal_stations=signal_stations,
                                         noise_stations=noise_stations)
        outputs = _method_outputs(model, model_name, baselines, noisy, clean, sampling_rate, batch_size)
        bandpass_gain = np.asarray(metrics.snr_gain_db(clean, noisy, outputs["bandpass"]))
        for method in methods:
            scores[(method, level)] = _scores(clean, noisy, outputs[method], sampling_rate, bandpass_gain)
    rows = _rows(scores, methods, snr_levels, condition, "oracle_mask" in baselines)
    if plot:
        plot_table(rows, plot)
    return (rows, scores) if return_scores else rows


def _window_of(model, window_length, sampling_rate):
    """``(window_length, sampling_rate)``: as given, else the model's (`denoiser_info`), else 3000 and 100 Hz."""
    if model is not None and (window_length is None or sampling_rate is None):
        from geokeras.models.denoiser import denoiser_info

        try:
            info = denoiser_info(model)
        except ValueError:
            info = {"window_length": int(model.input_shape[1]), "sampling_rate": 100.0}
        window_length = window_length or info["window_length"]
        sampling_rate = sampling_rate or info["sampling_rate"]
    return int(window_length or 3000), float(sampling_rate or 100.0)


def _method_outputs(model, model_name, baselines, noisy, clean, sampling_rate, batch_size):
    """``{method: output windows}`` of the model and the baselines (the band-pass always) on ``noisy``."""
    outputs = {"bandpass": bandpass_baseline(noisy, sampling_rate)}
    if model is not None:
        pred = model.predict(noisy[..., None].astype(np.float32), batch_size=batch_size, verbose=0)
        outputs[model_name] = np.asarray(pred, dtype=np.float64)[..., 0]
    if "wavelet" in baselines:
        outputs["wavelet"] = wavelet_baseline(noisy)
    if "wiener" in baselines:  # one window: its own noise spectrum is the median over its frames
        outputs["wiener"] = wiener_baseline(noisy, sampling_rate)
    if "oracle_mask" in baselines:
        outputs["oracle_mask"] = oracle_mask_baseline(clean, noisy - clean)
    return outputs


def _rows(scores, methods, snr_levels, condition, with_oracle):
    """The table rows of `evaluate`: medians per method and level (and over all levels)."""
    rows = []
    for method in methods:
        for level in list(snr_levels) + ["all"]:
            keys = [(method, lv) for lv in snr_levels] if level == "all" else [(method, level)]
            merged = {k: np.concatenate([scores[key][k] for key in keys]) for k in METRIC_KEYS}
            row = {"method": method, "condition": condition, "snr_db": level, "n": int(merged["snr_gain_db"].size)}
            row.update({k: _median(merged[k]) for k in METRIC_KEYS})
            row["picked"] = float(np.mean(np.isfinite(merged["arrival_error_s"])))
            rows.append(row)
    oracle = {r["snr_db"]: r["snr_gain_db"] for r in rows if r["method"] == "oracle_mask"} if with_oracle else {}
    for r in rows:
        gain = oracle.get(r["snr_db"], float("nan"))
        r["oracle_fraction"] = r["snr_gain_db"] / gain if gain > 0 else float("nan")
    return rows


def noisy_record_figures(x, y, sampling_rate, quiet_seconds=5.0):
    """Figures of one denoised real record that has no clean reference (e.g. ``datasets/ncedc-noisy``).

    The "noise" window is the first ``quiet_seconds``, or up to 0.5 s before the STA/LTA P pick of the input
    when that comes earlier (at least one second).

    Args:
        x, y: the input and the denoised output (1-D, same length).
        sampling_rate: Hz.
        quiet_seconds: length of the noise window when no earlier P is picked.

    Returns:
        dict with ``quiet_s``, ``noise_rms_before``/``after`` (demeaned RMS over the noise window),
        ``noise_reduction_db`` (``20 log10(after / before)``), ``peak_before``/``after`` (demeaned peaks),
        ``peak_ratio`` and ``pick_before``/``after`` (seconds or NaN).

    Example:
        >>> import numpy as np
        >>> x = np.r_[np.ones(1000), 10 * np.sin(np.arange(2000))]
        >>> noisy_record_figures(x, 0.5 * x, 100.0)["peak_ratio"]
        0.5
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    pick = metrics.pick_p(x, sampling_rate)
    end = int(quiet_seconds * sampling_rate)
    if np.isfinite(pick):
        end = min(end, int((pick - 0.5) * sampling_rate))
    end = max(end, int(sampling_rate))

    def rms(v):
        v = v - v.mean()
        return float(np.sqrt(np.mean(v * v)))

    before, after = rms(x[:end]), rms(y[:end])
    peak_before, peak_after = float(np.max(np.abs(x - x.mean()))), float(np.max(np.abs(y - y.mean())))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "quiet_s": end / sampling_rate, "noise_rms_before": before, "noise_rms_after": after,
            "noise_reduction_db": float(20.0 * np.log10(after / before)) if before > 0 else float("nan"),
            "peak_before": peak_before, "peak_after": peak_after,
            "peak_ratio": peak_after / peak_before if peak_before > 0 else float("nan"),
            "pick_before": pick, "pick_after": metrics.pick_p(y, sampling_rate),
        }


def format_table(rows):
    """Format `evaluate` rows as a Markdown table.

    Example:
        >>> print(format_table([{"method": "m", "snr_db": 0, "n": 1, "snr_gain_db": 9.0, "correlation": 0.9,
        ...                      "peak_ratio": 1.0, "arrival_error_s": 0.1, "picked": 1.0,
        ...                      "gain_over_bandpass_db": 4.5, "oracle_fraction": 0.75}]))
        | method | input SNR (dB) | n | SNR gain (dB) | over band-pass (dB) | oracle fraction | correlation | peak ratio | P-pick error (s) | picked |
        |---|---|---|---|---|---|---|---|---|---|
        | m | 0 | 1 | 9.00 | 4.50 | 0.75 | 0.900 | 1.000 | 0.100 | 1.00 |
    """
    lines = ["| method | input SNR (dB) | n | SNR gain (dB) | over band-pass (dB) | oracle fraction | correlation | "
             "peak ratio | P-pick error (s) | picked |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['snr_db']} | {r['n']} | {r['snr_gain_db']:.2f} | "
                     f"{r.get('gain_over_bandpass_db', float('nan')):.2f} | {r.get('oracle_fraction', float('nan')):.2f} | "
                     f"{r['correlation']:.3f} | {r['peak_ratio']:.3f} | {r['arrival_error_s']:.3f} | {r['picked']:.2f} |")
    return "\n".join(lines)


def plot_table(rows, path):
    """Write a PNG (atomically) of median SNR gain and correlation against input SNR, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method and r["snr_db"] != "all"]
        x = [r["snr_db"] for r in rs]
        axes[0].plot(x, [r["snr_gain_db"] for r in rs], marker="o", label=method)
        axes[1].plot(x, [r["correlation"] for r in rs], marker="o", label=method)
    axes[0].set(xlabel="input SNR (dB)", ylabel="median SNR gain (dB)")
    axes[1].set(xlabel="input SNR (dB)", ylabel="median correlation with clean")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    path = str(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
