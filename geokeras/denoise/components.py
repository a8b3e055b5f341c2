"""`denoise_components`: a station's components denoised together, one mask per window for all of them.

`geokeras.denoise.denoise` denoises each trace on its own. At a three-component station the residual noise of
one component comes in bursts that the other two mostly do not share, while an earthquake is on all three:
`geokeras.models.components.component_denoiser` gives the components the median of their masks, cell by
cell, and on continuous records an STA/LTA detector on the vertical then finds more events at the same
false-trigger rate (README, "Three components, one mask"; docs/detection_log.md, "Session 11").

`denoise_components` takes the samples of one station's components, aligned (the same start, rate and number of
samples) and without gaps, at the model's sampling rate. ``denoise(stream, components="median")`` (and
``geokeras denoise --components median``) finds such groups in a Stream (`station_groups`) and denoises them with
it (`denoise_groups`); every other trace goes the one-trace path. Each window is prepared exactly as in
`denoise` (`geokeras.data.process.window_frames`: the prefix line removed, the 1.1x clip bound; scaled by a
power of two) and stitched with the same cross-fade, so ``statistic="own"`` gives `denoise`'s output at
float32 (up to the rounding of other batch shapes).

Example:
    >>> import numpy as np
    >>> from geokeras.models.denoiser import build_stft_mask_denoiser
    >>> base = build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8), mask_floor=0.3)
    >>> x = np.random.default_rng(0).normal(size=(3, 2000)).astype("float32")
    >>> y = denoise_components(x, model=base)
    >>> y.shape, y.dtype.name
    ((3, 2000), 'float32')
"""
import collections
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from geokeras.denoise.denoiser import Denoiser, calls_in_flight
from geokeras.denoise.options import BATCH_SIZE, CLIP_FACTOR
from geokeras.validation import check_number, check_positive_int

__all__ = ["denoise_components"]

def denoise_components(data, model=None, sampling_rate=None, statistic="median", overlap=0.5,
                       batch_size=BATCH_SIZE, precision="float32", progress=None):
    """Denoise the aligned components of one station with one combined mask per window.

    Args:
        data: ``(C, n)`` real array: the components of one station (e.g. E, N, Z), sample ``j`` of every row
            recorded at the same time, no gaps (NaN or masked samples are refused).
        model: a spectrogram-mask denoiser: ``None`` (the shipped default, whose components go through the
            shipped three-component network: `Denoiser.for_components`), a path, a ``keras.Model`` or a `Denoiser`
            (`Denoiser.resolve`).
        sampling_rate: Hz of ``data``; ``None`` means the model's rate. Another rate is refused: resample
            first (``obspy.Stream.resample``), or denoise the components one by one with `denoise`.
        statistic: how the masks are combined (`geokeras.layers.ComponentMask`): ``"median"`` (default),
            ``"mean"``, ``"own"`` (each component its own mask, as `denoise`) or ``"median-max"`` (the vertical,
            the last row, the median; each horizontal the larger of its own mask and the median).
        overlap: fraction of overlap between consecutive windows, in ``[0, 1)``.
        batch_size: windows per model call.
        precision: ``"float32"`` (default: the model as trained), ``"bfloat16"`` (a
            `geokeras.denoise.denoiser.bfloat16_copy` of the model) or ``"auto"`` (as `denoise`'s).
        progress: optional ``progress(done, total)`` called after each batch, in single-component windows (a
            window of C components counts C times, as `denoise` would count them).

    Returns:
        float32 array ``(C, n)``.

    Raises:
        ValueError: for a bad argument (the message names it); a ``model`` that is not a mask denoiser.
    """
    from geokeras.data.windows import Windowing

    if np.ma.isMaskedArray(data) and np.ma.getmaskarray(data).any():
        raise ValueError("Invalid value for argument `data`. Expected components without gaps. Received a masked "
                         "array with masked samples (denoise each gap-free span, or use `denoise`).")
    x = np.asarray(np.ma.getdata(data))
    if x.ndim != 2 or x.shape[1] < 1 or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError("Invalid value for argument `data`. Expected a real array (n_components, n_samples). "
                         f"Received an array of shape {x.shape} and dtype {x.dtype}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("Invalid value for argument `data`. Expected finite samples. Received NaN or inf in "
                         f"component(s) {sorted(set(np.nonzero(~np.isfinite(x))[0].tolist()))}.")
    batch_size = check_positive_int("batch_size", batch_size)
    den = Denoiser.resolve(model)
    if sampling_rate is not None and check_number("sampling_rate", sampling_rate, low=0.0,
                                                  low_open=True) != den.sampling_rate:
        raise ValueError(f"Invalid value for argument `sampling_rate`. Expected the model's rate, "
                         f"{den.sampling_rate:g} Hz (resample first). Received sampling_rate={sampling_rate!r}.")
    windowing = Windowing(den.window_length, overlap)  # checks `overlap`
    components, n = x.shape
    fn = den.component_predictor(components, statistic, precision)
    out = np.empty((components, n), np.float32)
    for a, block in stitched_components(lambda a, b: [row[a:b] for row in x], n, components, fn, windowing,
                                        batch_size, progress):
        out[:, a:a + block.shape[1]] = block
    return out


def stitched_components(read, n, components, fn, windowing, batch_size, progress=None):
    """Yield the denoised samples of a station's aligned gap-free components a block at a time, in order, as each
    becomes final: the core of `denoise_components`, for records that are not held whole
    (`geokeras.denoise.pieces` reads a long file's components a piece at a time through it: the same bits).

    The windows are ``windowing.starts(n)``, framed ``batch_size`` at a time (`frame_components`, the last batch
    padded to one shape when there are several), ``calls_in_flight`` calls of ``fn`` at once while the next batch
    is framed, stitched in order (`geokeras.data.windows.overlap_add`); once a batch is added, the samples before
    the next batch's first window are final and leave: memory is a few batches, whatever ``n``.

    Args:
        read: ``read(a, b)``: the samples ``[a, b)`` of each component (a sequence of ``components`` 1-D arrays);
            called with ``a`` and ``b`` that never decrease.
        n: samples per component; components: their number ``C``.
        fn: the model on ``(k, L, C)`` windows (`Denoiser.component_predictor`).
        windowing: the `geokeras.data.windows.Windowing` of the model's window length and the overlap.
        batch_size: windows per model call.
        progress: optional ``progress(done, total)`` after each batch, in single-component windows.

    Yields:
        ``(a, block)``: float32 ``(C, k)``, the denoised samples ``[a, a + k)``; the blocks cover ``[0, n)``.
    """
    from geokeras.data.process import PrefixLine
    from geokeras.data.windows import crossfade_weights, overlap_add

    L = windowing.window_length
    starts = windowing.starts(n)
    ends = np.minimum(starts + L, n)
    weights = crossfade_weights(L)
    acc, norm, done = np.zeros((0, components)), np.zeros(0), 0  # the overlap-add of the samples [done, ...)
    prefixes = [PrefixLine() for _ in range(components)]
    pending = collections.deque()  # model calls under way, finished in order (the sequential sums, to the bit)

    def finish():
        nonlocal acc, norm, done
        call, i, s, k, bounds, exponents = pending.popleft()
        grow = int(s[-1]) + L - done - norm.size
        if grow > 0:
            acc = np.concatenate([acc, np.zeros((grow, components))])
            norm = np.concatenate([norm, np.zeros(grow)])
        overlap_add(acc, norm, unframe_components(np.asarray(call.result())[:k], bounds, exponents), s - done,
                    weights)
        if progress is not None:
            progress((i + k) * components, len(starts) * components)
        final = int(starts[i + k]) if i + k < len(starts) else n  # no later window reaches before it
        block = (acc[:final - done] / norm[:final - done, None]).T.astype(np.float32)
        acc, norm, a, done = acc[final - done:], norm[final - done:], done, final
        return a, block

    # a batch of windows at a time (memory bounded by a few batches); the next batch is framed, and the previous
    # ones stitched, while the model runs, and `calls_in_flight` calls of it at once, as `denoise` does
    in_flight = calls_in_flight()
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="geokeras-components") as pool:
        for i in range(0, len(starts), batch_size):
            s, e = starts[i:i + batch_size], ends[i:i + batch_size]
            a = int(s[0])
            batch, bounds, exponents = frame_components(read(a, int(e[-1])), a, s, e, L, prefixes)
            k = len(batch)
            if k < batch_size and len(starts) > batch_size:  # one shape for every call
                batch = np.concatenate([batch, np.zeros((batch_size - k,) + batch.shape[1:], np.float32)])
            pending.append((pool.submit(fn, batch), i, s, k, bounds, exponents))
            while len(pending) > in_flight:
                yield finish()
        while pending:
            yield finish()


def frame_components(rows, offset, starts, ends, window_length, prefixes):
    """What the component model sees of the windows ``starts``/``ends`` of a station's components (one batch).

    Each component is framed by `geokeras.data.process.window_frames` (its prefix line removed, its 1.1x clip
    bound) and scaled by powers of two (`geokeras.data.windows.scale_to_unit_peak`), as in `denoise`; the
    components are stacked on the last axis. Shared by `denoise_components` and
    `geokeras.denoise.stream.StreamingDenoiser`'s three-component mode (the same numbers).

    Args:
        rows: one 1-D array per component, each the samples ``[offset, offset + len)`` of its segment.
        offset: index of the rows' first sample in the segment.
        starts, ends: int arrays ``(k,)`` of the windows (``ends = min(starts + L, n)``).
        window_length: ``L``.
        prefixes: one `geokeras.data.process.PrefixLine` per component (advanced here).

    Returns:
        ``(batch, bounds, exponents)``: float32 ``(k, L, C)``, the clip bounds and the scaling exponents
        ``(C, k)``; `unframe_components` turns the model's output back.

    Example:
        >>> from geokeras.data.process import PrefixLine
        >>> x = np.random.default_rng(0).normal(size=(3, 10))
        >>> batch, bounds, exponents = frame_components(x, 0, np.array([0, 4]), np.array([6, 10]), 6,
        ...                                             [PrefixLine() for _ in x])
        >>> batch.shape, bounds.shape, exponents.shape
        ((2, 6, 3), (3, 2), (3, 2))
        >>> bool(np.all(np.abs(unframe_components(batch, bounds, exponents)) <= bounds.T[:, None, :]))
        True
    """
    from geokeras.data.process import window_frames
    from geokeras.data.windows import scale_to_unit_peak

    frames = [window_frames(np.asarray(row, dtype=np.float64), offset, starts, ends, window_length, prefix,
                            clip=CLIP_FACTOR, detrend=True) for row, prefix in zip(rows, prefixes)]
    scaled = [scale_to_unit_peak(rows) for rows, _ in frames]
    batch = np.stack([rows.astype(np.float32) for rows, _ in scaled], axis=-1)  # (k, L, C)
    return batch, np.stack([bounds for _, bounds in frames]), np.stack([exponents for _, exponents in scaled])


def unframe_components(y, bounds, exponents):
    """The model's output ``y`` ``(k, L, C)`` of `frame_components`' batch scaled back and clipped at the bounds
    (float64, ready for `geokeras.data.windows.overlap_add`)."""
    y = np.asarray(y).astype(np.float64)
    for c in range(y.shape[-1]):
        y[..., c] = np.clip(np.ldexp(y[..., c], exponents[c][:, None]), -bounds[c][:, None], bounds[c][:, None])
    return y


def station_groups(stream, sampling_rate):
    """The traces of ``stream`` that `denoise` can denoise as a station's three components, and the rest.

    A group is three traces of one ``NET.STA.LOC`` and band/instrument code (the channel's first two letters)
    with distinct component letters, one of them ``Z``, each once in the stream, at ``sampling_rate`` (the
    model's), with the same start time (within a quarter of a sample) and number of samples, and no gap (no
    masked or non-finite sample): `component_groups`. Anything else (a missing or repeated component, another
    rate, a gap, a shifted start) is left to the one-trace path, whole: nothing is lost.

    Returns:
        ``(groups, rest)``: a list of ``[trace, trace, trace]`` (the vertical last) and an ``obspy.Stream`` of
        the other traces (the same objects, in their order).
    """
    import obspy

    def gap_free(i):
        x = stream[i].data
        return not np.ma.is_masked(x) and bool(np.all(np.isfinite(np.ma.getdata(x))))

    groups = [[stream[i] for i in group]
              for group in component_groups([tr.stats for tr in stream], sampling_rate, gap_free)]
    grouped = {id(tr) for group in groups for tr in group}
    return groups, obspy.Stream([tr for tr in stream if id(tr) not in grouped])


def component_groups(headers, sampling_rate, gap_free):
    """The rule of `station_groups` on the headers of merged traces (`geokeras.denoise.pieces` applies it to a
    file it has not read whole).

    Args:
        headers: the ``obspy.core.Stats`` of each trace (network, station, location, channel, sampling_rate,
            starttime, npts).
        sampling_rate: the model's rate.
        gap_free: ``gap_free(i)``: True when trace ``i``'s samples are all there and finite (asked only of the
            traces that qualify otherwise).

    Returns:
        a list of groups, each the indices into ``headers`` of its three traces, the vertical last.
    """
    by_key = {}
    for i, s in enumerate(headers):
        by_key.setdefault((s.network, s.station, s.location, s.channel[:-1]), []).append(i)
    groups = []
    for members in by_key.values():
        stats = [headers[i] for i in members]
        letters = [s.channel[-1:] for s in stats]
        if len(members) != 3 or len(set(letters)) != 3 or "Z" not in letters:
            continue
        first = stats[0]
        if not all(s.sampling_rate == sampling_rate == first.sampling_rate and s.npts == first.npts
                   and abs(s.starttime - first.starttime) < 0.25 / sampling_rate for s in stats):
            continue
        if not all(gap_free(i) for i in members) or first.npts < 1:
            continue
        groups.append(sorted(members, key=lambda i: (headers[i].channel[-1:] == "Z", headers[i].channel)))
    return groups


def ungrouped_note(ids, sampling_rate):
    """The note that names the traces a ``components`` run denoised one at a time (not in a `station_groups`
    group)."""
    return (f"{', '.join(ids)}: not three aligned gap-free components of one station at the model's "
            f"{sampling_rate:g} Hz: denoised one trace at a time")


def group_windows(groups, window_length, overlap):
    """The single-component windows `denoise_groups` runs for ``groups`` (a window of three components counts 3)."""
    from geokeras.data.windows import Windowing

    windowing = Windowing(window_length, overlap)
    return sum(len(windowing.starts(traces[0].stats.npts)) * len(traces) for traces in groups)


def denoise_groups(groups, denoiser, options, processing, return_noise=False, progress=None):
    """The denoised traces (and noise estimates) of `station_groups`' groups, headers kept.

    Args:
        groups: `station_groups`' groups.
        denoiser: the resolved `~geokeras.denoise.Denoiser`.
        options: the `~geokeras.denoise.DenoiseOptions` (its ``components`` is the statistic).
        processing: the ``stats.processing`` line to append.
        return_noise: also return the noise traces (input minus output).
        progress: optional ``progress(done, total)`` over the groups' windows (`group_windows`).

    Returns:
        ``(denoised traces, noise traces or None)``: lists in the groups' order.
    """
    import obspy

    out, noise = [], [] if return_noise else None
    total, before = group_windows(groups, denoiser.window_length, options.overlap), 0
    for traces in groups:
        x = np.stack([np.asarray(tr.data) for tr in traces])  # the samples' own type (framing reads float64)
        step = None if progress is None else (lambda done, _, b=before: progress(b + done, total))
        y = denoise_components(x, model=denoiser, statistic=options.components, overlap=options.overlap,
                               batch_size=options.batch_size, precision=options.precision, progress=step)
        before += group_windows([traces], denoiser.window_length, options.overlap)
        del x
        for tr, row in zip(traces, y):
            stats = tr.stats.copy()
            stats.processing = list(tr.stats.get("processing", [])) + [processing]
            out.append(obspy.Trace(row, header=stats))
            if return_noise:
                noise.append(obspy.Trace((np.asarray(tr.data, dtype=np.float64) - row).astype(np.float32),
                                         header=stats.copy()))
    return out, noise
