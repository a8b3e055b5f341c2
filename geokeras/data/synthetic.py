"""Synthetic signals: the lecture's toy families, Ricker wavelets, local-earthquake seismograms, noise.

Example:
    >>> from geokeras.data import synthetic
    >>> x, params = synthetic.damped_oscillations(n_k=5, n_b=4)
    >>> x.shape, params.shape
    ((20, 50), (20, 2))
    >>> y, ab = synthetic.lines()
    >>> y.shape
    (2500, 50)
"""
import numpy as np

from geokeras.validation import check_number, check_positive_int
from geokeras.data.normalize import standardize

__all__ = ["damped_oscillations", "lines", "ricker", "synthetic_seismogram", "noise"]


def damped_oscillations(k_range=(5.0, 10.0), b_range=(0.0, 5.0), t_range=(0.0, 10.0), n_k=50, n_b=50, n_t=50,
                        return_t=False):
    """Damped oscillations ``x(t; k, b) = exp(-b t / 2) cos(sqrt(k) (1 - b^2 / (4 k)) t)`` on a mesh grid.

    The formula is the lecture's, kept as written. ``k`` and ``b`` take ``n_k`` and ``n_b`` evenly
    spaced values (ends included); every (k, b) combination gives one row sampled at ``n_t``
    evenly spaced times.

    Args:
        k_range, b_range, t_range: (low, high) of the stiffness, damping and time grids.
        n_k, n_b, n_t: number of grid values.
        return_t: also return the time axis.

    Returns:
        ``(signals, params)``: float32 ``(n_k * n_b, n_t)`` and float32 ``(n_k * n_b, 2)`` with columns
        ``(k, b)`` (k varies slowest); plus ``t`` (n_t,) when ``return_t``.

    Example:
        >>> x, p = damped_oscillations(n_k=2, n_b=2, n_t=3)
        >>> p.tolist()
        [[5.0, 0.0], [5.0, 5.0], [10.0, 0.0], [10.0, 5.0]]
        >>> x[:, 0].tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    n_k, n_b, n_t = (check_positive_int(n, v, allow_float=True) for n, v in (("n_k", n_k), ("n_b", n_b), ("n_t", n_t)))
    k = np.linspace(*k_range, n_k)
    if np.any(k <= 0):
        raise ValueError(f"Invalid value for argument `k_range`. Expected k > 0. Received k_range={k_range!r}.")
    b = np.linspace(*b_range, n_b)
    t = np.linspace(*t_range, n_t)
    kk, bb = (g.ravel() for g in np.meshgrid(k, b, indexing="ij"))
    x = np.exp(-bb[:, None] * t / 2.0) * np.cos(np.sqrt(kk)[:, None] * (1.0 - bb[:, None] ** 2 / (4.0 * kk[:, None])) * t)
    params = np.stack([kk, bb], axis=1)
    out = (x.astype(np.float32), params.astype(np.float32))
    return out + (t.astype(np.float32),) if return_t else out


def lines(a_range=(0.5, 1.0), b_range=(5.0, 10.0), x_range=(-10.0, 10.0), n_a=50, n_b=50, n_x=50, return_x=False):
    """Straight lines ``y = a x + b`` on a mesh grid of slopes and intercepts.

    Args:
        a_range, b_range, x_range: (low, high) of slope, intercept and abscissa grids.
        n_a, n_b, n_x: number of grid values.
        return_x: also return the abscissa.

    Returns:
        ``(signals, params)``: float32 ``(n_a * n_b, n_x)`` and float32 ``(n_a * n_b, 2)`` with columns
        ``(a, b)``; plus ``x`` when ``return_x``.

    Example:
        >>> y, p = lines(n_a=2, n_b=1, n_x=3)
        >>> y.tolist(), p.tolist()
        ([[0.0, 5.0, 10.0], [-5.0, 5.0, 15.0]], [[0.5, 5.0], [1.0, 5.0]])
    """
    n_a, n_b, n_x = (check_positive_int(n, v, allow_float=True) for n, v in (("n_a", n_a), ("n_b", n_b), ("n_x", n_x)))
    a = np.linspace(*a_range, n_a)
    b = np.linspace(*b_range, n_b)
    x = np.linspace(*x_range, n_x)
    aa, bb = (g.ravel() for g in np.meshgrid(a, b, indexing="ij"))
    y = aa[:, None] * x + bb[:, None]
    out = (y.astype(np.float32), np.stack([aa, bb], axis=1).astype(np.float32))
    return out + (x.astype(np.float32),) if return_x else out


def ricker(points, a):
    """Ricker ("Mexican hat") wavelet, same definition as the removed ``scipy.signal.ricker``.

    ``A (1 - t^2/a^2) exp(-t^2 / (2 a^2))`` with ``A = 2 / (sqrt(3 a) pi^(1/4))`` and ``t`` in samples
    from the centre ``(points - 1) / 2``. For a peak frequency ``f`` (Hz) at rate ``fs`` use
    ``a = fs / (sqrt(2) * pi * f)``.

    Args:
        points: number of samples.
        a: width parameter in samples.

    Returns:
        float64 array of length ``points``.

    Example:
        >>> w = ricker(101, 4.0)
        >>> int(np.argmax(w)), bool(abs(w.sum()) < 1e-6)
        (50, True)
    """
    points = check_positive_int("points", points, allow_float=True)
    if not a > 0:  # the message is pinned by tests/test_data_synthetic.py
        raise ValueError(f"Invalid value for argument `a`. Expected a positive width. Received a={a!r}.")
    t = np.arange(points) - (points - 1.0) / 2.0
    return 2.0 / (np.sqrt(3.0 * a) * np.pi ** 0.25) * (1.0 - (t / a) ** 2) * np.exp(-0.5 * (t / a) ** 2)


def _bandpass_noise(rng, n, npts, sampling_rate, fmin, fmax):
    """White noise band-limited per row to [fmin, fmax] Hz (rows have their own bands), unit std."""
    spec = rng.standard_normal((n, npts // 2 + 1)) + 1j * rng.standard_normal((n, npts // 2 + 1))
    f = np.fft.rfftfreq(npts, 1.0 / sampling_rate)
    fc = np.sqrt(fmin * fmax)[:, None]
    width = np.log(fmax / fmin)[:, None] / 2.0
    with np.errstate(divide="ignore"):
        gain = np.exp(-0.5 * (np.log(np.where(f > 0, f, 1e-12)[None, :] / fc) / np.maximum(width, 1e-3)) ** 2)
    x = np.fft.irfft(spec * gain, n=npts, axis=1)
    return x / np.maximum(x.std(axis=1, keepdims=True), 1e-30)


def synthetic_seismogram(npts=3000, sampling_rate=100.0, n=None, seed=None, p_range=None, sp_range=(1.0, 10.0),
                         return_arrivals=False):
    """Random synthetic local-earthquake seismograms: P and S arrivals with decaying codas.

    Each phase is band-limited random noise (P: 3-15 Hz band centre, S: 1-6 Hz, capped below
    Nyquist) under an envelope with a short rise and an exponential decay; the S phase is 1.5-5
    times stronger than P and arrives ``sp_range`` seconds after it. Before P the trace is exactly 0
    (a clean signal: add noise with `noise` or use it as a `PairGenerator` signal).

    Args:
        npts: samples per trace.
        sampling_rate: Hz.
        n: number of traces; None returns one 1-D trace.
        seed: int or None, for ``numpy.random.default_rng``.
        p_range: (low, high) P time in seconds; default ``(0.1, 0.4) * duration``.
        sp_range: (low, high) S-minus-P time in seconds.
        return_arrivals: also return the P and S sample indices.

    Returns:
        float32 array ``(npts,)`` or ``(n, npts)`` with peak amplitude 1, and ``(p_index, s_index)``
        int arrays when ``return_arrivals``.

    Example:
        >>> x, (p, s) = synthetic_seismogram(1000, 100.0, n=2, seed=0, return_arrivals=True)
        >>> x.shape, bool(np.all(x[0, :p[0]] == 0)), bool(np.all(s > p))
        ((2, 1000), True, True)
    """
    npts = check_positive_int("npts", npts, allow_float=True)
    check_number("sampling_rate", sampling_rate, low=0.0, low_open=True)
    rng = np.random.default_rng(seed)
    m = 1 if n is None else check_positive_int("n", n, allow_float=True)
    duration = npts / sampling_rate
    p_lo, p_hi = p_range if p_range is not None else (0.1 * duration, 0.4 * duration)
    p_t = rng.uniform(p_lo, p_hi, m)
    s_t = p_t + rng.uniform(*sp_range, m)
    nyq = 0.45 * sampling_rate
    t = np.arange(npts) / sampling_rate

    def phase(onset, fmin, fmax, rise, decay, amp):
        fc = np.minimum(rng.uniform(fmin, fmax, m), nyq / 1.5)
        carrier = _bandpass_noise(rng, m, npts, sampling_rate, fc / 1.5, np.minimum(fc * 1.5, nyq))
        dt = t[None, :] - onset[:, None]
        env = np.where(dt >= 0, (1.0 - np.exp(-np.maximum(dt, 0) / rise[:, None])) * np.exp(-np.maximum(dt, 0) / decay[:, None]), 0.0)
        return amp[:, None] * env * carrier

    x = phase(p_t, 3.0, 15.0, rng.uniform(0.02, 0.1, m), rng.uniform(0.5, 2.0, m), np.ones(m))
    x += phase(s_t, 1.0, 6.0, rng.uniform(0.05, 0.3, m), rng.uniform(1.0, 5.0, m), rng.uniform(1.5, 5.0, m))
    peak = np.max(np.abs(x), axis=1, keepdims=True)
    x = (x / np.where(peak > 0, peak, 1.0)).astype(np.float32)
    p_idx = np.ceil(p_t * sampling_rate).astype(np.int64)
    s_idx = np.ceil(s_t * sampling_rate).astype(np.int64)
    if n is None:
        x, p_idx, s_idx = x[0], p_idx[0], s_idx[0]
    return (x, (p_idx, s_idx)) if return_arrivals else x


def noise(kind="white", npts=3000, sampling_rate=100.0, n=None, seed=None, alpha=1.0, band=(0.1, 0.3)):
    """Synthetic noise with unit standard deviation and zero mean.

    Args:
        kind: ``"white"`` (Gaussian), ``"colored"`` (power spectrum ``1/f^alpha``, built in the
            Fourier domain with random phases) or ``"microseism"`` (Gaussian-shaped band in
            log-frequency between ``band`` Hz, default the secondary microseism 0.1-0.3 Hz).
        npts, sampling_rate: samples and Hz.
        n: number of rows; None returns one 1-D array.
        seed: int or None.
        alpha: spectral exponent for ``"colored"`` (0 white, 1 pink, 2 brown).
        band: (low, high) Hz for ``"microseism"``.

    Returns:
        float32 array ``(npts,)`` or ``(n, npts)``.

    Example:
        >>> x = noise("colored", 4096, seed=0, alpha=2.0)
        >>> x.shape, round(float(x.std()), 3)
        ((4096,), 1.0)
    """
    npts = check_positive_int("npts", npts, allow_float=True)
    m = 1 if n is None else check_positive_int("n", n, allow_float=True)
    rng = np.random.default_rng(seed)
    if kind == "white":
        x = rng.standard_normal((m, npts))
    elif kind in ("colored", "coloured"):
        f = np.fft.rfftfreq(npts, 1.0 / sampling_rate)
        amp = np.zeros_like(f)
        amp[1:] = f[1:] ** (-alpha / 2.0)
        spec = (rng.standard_normal((m, f.size)) + 1j * rng.standard_normal((m, f.size))) * amp
        x = np.fft.irfft(spec, n=npts, axis=1)
    elif kind == "microseism":
        lo, hi = band
        if not 0 < lo < hi <= sampling_rate / 2:
            raise ValueError(f"Invalid value for argument `band`. Expected 0 < low < high <= Nyquist. Received band={band!r}.")
        x = _bandpass_noise(rng, m, npts, sampling_rate, np.full(m, lo), np.full(m, hi))
    else:
        raise ValueError("Invalid value for argument `kind`. Expected 'white', 'colored' or 'microseism'. "
                         f"Received kind={kind!r}.")
    x = standardize(x, axis=1)[0].astype(np.float32)
    return x[0] if n is None else x
