"""Fixed-length windows with overlap, and stitching model outputs back by weighted overlap-add.

Windowing: windows of ``window_length`` samples start every ``hop = window_length - round(overlap *
window_length)`` samples; the last window is aligned to the end of the trace, so only a trace
shorter than one window needs padding (zeros by default, ``pad_mode`` chooses another NumPy pad
mode).

Stitching: every window is weighted by a smooth, strictly positive cross-fade
``w[j] = sin(pi (j + 0.5) / L)^2`` and the weighted sum is divided by the summed weights. Because
the division normalizes the weights, stitching the unchanged windows returns the input exactly
(float32 rounding) for any length, overlap and end alignment, while model outputs cross-fade
smoothly from one window to the next (window edges, where models are least reliable, get the
least weight).

Example:
    >>> import numpy as np
    >>> x = np.arange(10, dtype=np.float32)
    >>> w, starts = sliding_windows(x, 4, overlap=0.5)
    >>> starts.tolist()
    [0, 2, 4, 6]
    >>> np.array_equal(stitch(w, starts, 10), x)
    True
    >>> np.allclose(apply_windowed(x, lambda b: 2 * b, 4), 2 * x)
    True
"""
import numpy as np

from geokeras.validation import check_number, check_positive_int

__all__ = ["check_overlap", "Windowing", "sliding_windows", "stitch", "overlap_add", "apply_windowed", "map_batches",
           "crossfade_weights", "window_starts", "scale_to_unit_peak"]


def check_overlap(name, value):
    """Return ``float(value)`` for a window overlap in ``[0, 1)`` (the one check of every ``overlap``).

    >>> check_overlap("overlap", 1.0)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `overlap`. Expected a number in [0.0, 1.0). Received overlap=1.0.
    """
    return check_number(name, value, low=0.0, high=1.0, high_open=True)


class Windowing:
    """Window length and overlap, checked once, for cutting many traces the same way.

    Args:
        window_length: samples per window (a strictly positive integer).
        overlap: fraction of a window shared with the next one, in ``[0, 1)``.

    Example:
        >>> w = Windowing(4, overlap=0.5)
        >>> w.hop, w.starts(10).tolist(), w
        (2, [0, 2, 4, 6], Windowing(window_length=4, overlap=0.5))
    """

    def __init__(self, window_length, overlap=0.5):
        self.window_length = check_positive_int("window_length", window_length)
        self.overlap = check_overlap("overlap", overlap)
        self.hop = max(1, self.window_length - int(round(self.overlap * self.window_length)))

    def __repr__(self):
        return f"Windowing(window_length={self.window_length}, overlap={self.overlap:g})"

    def starts(self, n):
        """Start indices of the windows for a trace of ``n`` samples (see the module docstring)."""
        L = self.window_length
        if n <= L:
            return np.zeros(1, dtype=np.int64)
        starts = np.arange(0, n - L + 1, self.hop, dtype=np.int64)
        if starts[-1] + L < n:
            starts = np.append(starts, n - L)
        return starts

    def cut(self, x, pad_mode="constant"):
        """``(windows, starts)`` of a non-empty 1-D array (see `sliding_windows`)."""
        x = np.asarray(x)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"Invalid value for argument `x`. Expected a non-empty 1-D array. Received shape {x.shape}.")
        L = self.window_length
        starts = self.starts(x.size)
        if x.size < L:
            padded = np.pad(x, (0, L - x.size), mode=pad_mode)
            return padded[None, :].astype(x.dtype), starts
        return np.lib.stride_tricks.sliding_window_view(x, L)[starts], starts  # a copy, no index array


def window_starts(n, window_length, overlap=0.5):
    """Start indices of the windows for a trace of ``n`` samples (see the module docstring)."""
    return Windowing(window_length, overlap).starts(n)


def sliding_windows(x, window_length, overlap=0.5, pad_mode="constant"):
    """Cut a 1-D array into fixed-length overlapping windows.

    Args:
        x: 1-D array of ``n >= 1`` samples.
        window_length: samples per window.
        overlap: fraction of a window shared with the next one, in ``[0, 1)``.
        pad_mode: ``numpy.pad`` mode used only when ``n < window_length`` (default zeros).

    Returns:
        ``(windows, starts)``: ``(k, window_length)`` array (input dtype) and int64 ``(k,)`` start indices.

    Raises:
        ValueError: for an empty or non 1-D input or bad arguments.
    """
    return Windowing(window_length, overlap).cut(x, pad_mode)


def crossfade_weights(window_length):
    """The strictly positive cross-fade weights ``sin(pi (j + 0.5) / L)^2`` (float64)."""
    L = check_positive_int("window_length", window_length)
    return np.sin(np.pi * (np.arange(L) + 0.5) / L) ** 2


def stitch(windows, starts, n, weights=None):
    """Overlap-add windows back into a trace of exactly ``n`` samples with a smooth cross-fade.

    Args:
        windows: ``(k, L)`` array.
        starts: ``(k,)`` start index of each window (as returned by `sliding_windows`); samples at
            or beyond ``n`` (padding) are dropped.
        n: output length.
        weights: optional ``(L,)`` strictly positive weights (default `crossfade_weights`).

    Returns:
        1-D array of ``n`` samples, dtype of ``windows`` (float64 accumulation).

    Raises:
        ValueError: if shapes disagree or some output sample is covered by no window.
    """
    windows = np.asarray(windows)
    starts = np.asarray(starts, dtype=np.int64)
    if windows.ndim != 2 or starts.shape != (windows.shape[0],):
        raise ValueError(f"Invalid value for argument `windows`. Expected shape (k, L) with k == len(starts). "
                         f"Received windows.shape={windows.shape} and starts.shape={starts.shape}.")
    L = windows.shape[1]
    w = crossfade_weights(L) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (L,) or not np.all(w > 0):
        raise ValueError(f"Invalid value for argument `weights`. Expected {L} strictly positive values.")
    n = int(n)
    acc = np.zeros(n + L, dtype=np.float64)
    norm = np.zeros(n + L, dtype=np.float64)
    overlap_add(acc, norm, windows, starts, w)
    acc, norm = acc[:n], norm[:n]
    if not np.all(norm > 0):
        raise ValueError(f"Invalid value for argument `starts`. The windows leave samples of the {n}-sample output uncovered.")
    out = acc / norm
    dtype = windows.dtype if np.issubdtype(windows.dtype, np.floating) else np.float64
    return out.astype(dtype)


def overlap_add(acc, norm, windows, starts, w):
    """Add ``w * windows[j]`` into ``acc`` and ``w`` into ``norm`` at ``starts[j]``, in order (`stitch`'s sums).

    ``windows`` is ``(k, L)``, or ``(k, L, C)`` for ``C`` traces framed alike (``acc`` then ``(m, C)``); ``norm``
    is 1-D. Windows a regular hop of at least ``L / 2`` apart are added in two vectorized passes (the same bits),
    the others one by one. Called again with later windows, it continues the same sums.
    """
    done = _add_regular(acc, norm, windows, starts, w)
    wc = w.reshape((-1,) + (1,) * (windows.ndim - 2))
    L = windows.shape[1]
    for win, s in zip(windows[done:], starts[done:]):
        acc[s:s + L] += wc * win
        norm[s:s + L] += w


def _add_regular(acc, norm, windows, starts, w):
    """Overlap-add the leading windows of ``windows`` whose starts are ``starts[0] + hop * j`` (``hop >= L / 2``)
    into ``acc`` and ``norm`` in two vectorized passes (even windows, then odd ones: neither pass overlaps
    itself); return how many were added (the caller adds the rest one by one, in order).

    The same bits as adding the windows one by one in order: every sample then receives at most two of these
    windows' terms, and ``(0 + a) + b == (0 + b) + a`` in floating point; the windows the caller adds later
    come after both, as in the loop.
    """
    k, L = windows.shape[:2]
    if k < 3:
        return 0
    hop = int(starts[1] - starts[0])
    regular = starts[:k] - starts[0] == hop * np.arange(k)
    m = k if regular.all() else int(np.argmin(regular))
    if hop <= 0 or 2 * hop < L or m < 3:
        return 0
    s0 = int(starts[0])
    # windows c, c + 2, c + 4, ...: 2 hops apart, so never overlapping one another; rows of 2 hops each
    passes = [(c, len(range(c, m, 2)), s0 + c * hop) for c in (0, 1)]
    if s0 < 0 or any(a + count * 2 * hop > len(acc) for _, count, a in passes):
        return 0  # a row would reach past the buffer: the caller adds them all one by one
    rest = acc.shape[1:]  # the traces framed alike, if any
    wc = w.reshape((-1,) + (1,) * len(rest))
    for c, count, a in passes:
        acc[a:a + count * 2 * hop].reshape((count, 2 * hop) + rest)[:, :L] += wc * windows[c:m:2]
        norm[a:a + count * 2 * hop].reshape(count, 2 * hop)[:, :L] += w
    return m


def apply_windowed(x, fn, window_length, overlap=0.5, batch_size=256, pad_mode="constant", progress=None):
    """Apply ``fn`` to overlapping windows of ``x`` and stitch the outputs back to ``len(x)`` samples.

    Args:
        x: 1-D array.
        fn: callable taking a float32 ``(k, window_length)`` array and returning the same shape.
        window_length, overlap, pad_mode: see `sliding_windows`.
        batch_size: windows per call of ``fn``.
        progress: optional callable ``progress(windows_done, windows_total)`` called after each batch.

    Returns:
        float32 array of ``len(x)`` samples.

    Raises:
        ValueError: if ``fn`` returns another shape or non-finite values.
    """
    windows, starts = sliding_windows(np.asarray(x, dtype=np.float32), window_length, overlap, pad_mode)
    return stitch(map_batches(fn, windows, batch_size, progress), starts, len(x))


def scale_to_unit_peak(windows):
    """``(scaled, exponents)``: each row of ``windows`` times the power of two ``2**-exponents[i]`` that brings
    its peak into ``[0.5, 1)`` (all-zero rows unchanged). Exact in floating point; for a scale-equivariant
    ``fn`` (a geokeras denoiser standardizes each window in its graph) ``np.ldexp(fn(scaled), exponents[:, None])``
    is ``fn(windows)`` for records of any amplitude, clear of float32's underflow and overflow.

    Example:
        >>> scaled, exponents = scale_to_unit_peak(np.array([[1e-20, -3e-20], [0.0, 0.0], [4.0, 2.0]]))
        >>> np.abs(scaled).max(axis=1).tolist(), exponents.tolist()
        ([0.5534023222112866, 0.0, 0.5], [-64, 0, 3])
    """
    windows = np.asarray(windows)
    exponents = np.frexp(np.max(np.abs(windows), axis=1))[1] if len(windows) else np.zeros(0, dtype=np.int32)
    return np.ldexp(windows, -exponents[:, None]), exponents


def map_batches(fn, windows, batch_size=256, progress=None, check_finite=True, in_flight=None):
    """Call ``fn`` on consecutive batches of ``windows`` and return the float32 outputs, checked.

    With ``in_flight`` > 1 that many calls of ``fn`` run at once, each in a thread of its own: the same calls on
    the same batches (so the same outputs from a deterministic ``fn``), finished and reported in order. One call
    of a TensorFlow graph leaves cores idle between its ops; two calls fill them (README, issue 19).

    Args:
        fn: callable ``(k, L) float32 -> (k, L)`` (a trailing axis of 1 is accepted and removed). It may
            declare how many of its calls may run at once in an attribute ``in_flight`` (as the predictors
            of `geokeras.denoise.Denoiser.predictor` do); its calls must then be safe from several threads.
        windows: ``(K, L)`` array.
        batch_size: rows per call.
        progress: optional callable ``progress(rows_done, rows_total)`` called after each batch, in order, in
            the calling thread (the one progress protocol of geokeras: `geokeras.data.process.apply_to_stream`
            and `geokeras.denoise.denoise` take the same callables, e.g. `geokeras.denoise.ProgressBar`).
        check_finite: refuse NaN or inf in the output (False: the caller checks, e.g. per trace).
        in_flight: calls of ``fn`` at once (default: ``fn.in_flight`` if it has one, else 1).

    Returns:
        float32 ``(K, L)`` array.

    Raises:
        ValueError: if ``fn`` returns another shape or (``check_finite``) non-finite values.

    Example:
        >>> import numpy as np
        >>> x = np.arange(12, dtype=np.float32).reshape(6, 2)
        >>> y = map_batches(lambda b: 2 * b, x, batch_size=4, in_flight=2)
        >>> bool(np.array_equal(y, 2 * x))
        True
    """
    batch_size = check_positive_int("batch_size", batch_size)
    in_flight = check_positive_int("in_flight", getattr(fn, "in_flight", 1) if in_flight is None else in_flight)
    windows = np.asarray(windows, dtype=np.float32)
    out = np.empty(windows.shape, dtype=np.float32)
    starts = range(0, len(windows), batch_size)

    def run(i):
        batch = windows[i:i + batch_size]
        y = np.asarray(fn(batch))
        if y.shape != batch.shape and y.ndim == batch.ndim + 1 and y.shape[-1] == 1:
            y = y[..., 0]
        if y.shape != batch.shape:
            raise ValueError(f"Invalid output of `fn`. Expected shape {batch.shape}. Received shape {y.shape}.")
        if check_finite and not np.all(np.isfinite(y)):
            raise ValueError("Invalid output of `fn`. Expected finite values. Received NaN or inf.")
        out[i:i + batch_size] = y

    def done(i):
        if progress is not None:
            progress(min(i + batch_size, len(windows)), len(windows))

    if in_flight == 1 or len(starts) < 2:
        for i in starts:
            run(i)
            done(i)
        return out
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(in_flight, len(starts)), thread_name_prefix="geokeras-batch") as pool:
        futures = [pool.submit(run, i) for i in starts]
        try:
            for i, future in zip(starts, futures):
                future.result()
                done(i)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return out
