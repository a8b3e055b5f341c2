"""`denoise`: denoise seismic records of any length with a `~geokeras.denoise.Denoiser`.

`denoise` (also ``Denoiser.__call__``) takes an ObsPy ``Stream`` or ``Trace``, or a NumPy array, and gives
back the same type (`denoise_stream` is its core, for callers that checked their options already):

  - continuous records of any length are cut into overlapping windows of the model's length,
    denoised in fixed-size batches and stitched back (``geokeras.data.process.apply_to_stream``);
  - each component is denoised on its own (the models are single-channel);
  - each window loses the mean and linear trend of its gap-free segment from the segment's start up to the
    window's end before the model (offsets and trends are not signal), and its output is clipped to 1.1
    times its own demeaned (and detrended) input peak before the windows are stitched: a denoiser may remove
    signal, never invent it. This definition is causal (`geokeras.data.process.window_frames`), so
    `geokeras.stream.StreamingDenoiser` gives the same output packet by packet;
  - records at another sampling rate within the model's range are resampled to the model's rate and the
    result is brought back to the record's own rate: the output always has the input's rate, start time
    and number of samples; a record outside the range is refused (``OutOfBandError`` naming its id and
    rate) or, with ``out_of_band="passthrough"``, passed through unchanged with a warning;
  - gaps (masked samples after ``Stream.merge``) stay gaps; headers are kept and exactly one line is
    added to ``stats.processing`` per call;
  - ``return_noise=True`` also returns what was removed (input minus output), with the same headers.

Its options are one `~geokeras.denoise.DenoiseOptions`, checked once at the entry.

Every step of the path (detrending, resampling, windowing, stitching, clipping) is an odd function of
the input, so ``denoise(-x) == -denoise(x)`` holds whenever the model is sign-symmetric.

Example:
    >>> import numpy as np, obspy
    >>> from geokeras.denoise import Denoiser, denoise
    >>> from geokeras.models.denoiser import build_denoiser
    >>> den = Denoiser(build_denoiser("unet1d", window_length=256, sampling_rate=100.0, filters=(4, 8)))
    >>> den.window_length, den.sampling_rate, den.sampling_rate_range_hz
    (256, 100.0, (20.0, 250.0))
    >>> tr = obspy.Trace(np.random.default_rng(0).normal(size=1000).astype("float32"))
    >>> tr.stats.sampling_rate = 40.0
    >>> out = denoise(tr, model=den)
    >>> out.stats.npts, out.stats.sampling_rate, out.stats.processing[-1].split(":")[0]
    (1000, 40.0, 'geokeras 0.1.0')
    >>> den(np.zeros((3, 500), "float32"), sampling_rate=100.0).shape
    (3, 500)
"""
import dataclasses

import numpy as np
import obspy

from geokeras.denoise.denoiser import Denoiser
from geokeras.denoise.options import BATCH_SIZE, CLIP_FACTOR, DenoiseOptions
from geokeras.errors import OutOfBandError
from geokeras.validation import check_bool, check_choice, check_number

__all__ = ["ProgressBar", "denoise", "denoise_stream"]

def _array_to_stream(data, sampling_rate):
    if data.ndim not in (1, 2):
        raise ValueError(
            "Invalid value for argument `data`. Expected a 1-D array (n,) or a 2-D array "
            f"(n_components, n). Received an array of shape {data.shape}."
        )
    rows = data[None] if data.ndim == 1 else data
    stream = obspy.Stream()
    for i, row in enumerate(rows):
        tr = obspy.Trace(row.copy())
        tr.stats.sampling_rate = float(sampling_rate)
        tr.stats.station = str(i)  # row index, to put the rows back in order
        stream.append(tr)
    return stream


def _check_data(data, sampling_rate):
    """Return the Stream of ``data`` (a copy is made later), or None for an array; check ``sampling_rate``."""
    if isinstance(data, (obspy.Stream, obspy.Trace)):
        if sampling_rate is not None:
            raise ValueError(
                "Invalid value for argument `sampling_rate`. Expected None for an obspy Stream or Trace, "
                f"whose rate is in its headers. Received sampling_rate={sampling_rate!r}."
            )
        if isinstance(data, obspy.Stream) and len(data) == 0:
            raise ValueError("Invalid value for argument `data`. Expected a Stream with traces. "
                             "Received an empty Stream.")
        return obspy.Stream([data]) if isinstance(data, obspy.Trace) else data
    if isinstance(data, np.ndarray):
        if not (np.issubdtype(data.dtype, np.number) and not np.iscomplexobj(data)):
            raise ValueError(
                f"Invalid value for argument `data`. Expected a real numeric array. Received dtype {data.dtype}."
            )
        if sampling_rate is not None:
            check_number("sampling_rate", sampling_rate, low=0.0, low_open=True)
        return None
    raise TypeError(
        "Invalid value for argument `data`. Expected an obspy Stream or Trace or a NumPy array. "
        f"Received data of type {type(data).__name__}."
    )


class ProgressBar:
    """A ``progress(done, total)`` callback for `denoise` that draws a tqdm bar on stderr.

    The bar is created at the first call (when the total is known) and closed by `close` (or on leaving
    a ``with`` block).

    Args:
        desc: the bar's label (e.g. the file being denoised).
    """

    def __init__(self, desc="denoise"):
        self.desc, self.bar = desc, None

    def __call__(self, done, total):
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit="window")
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def denoise(data, model=None, sampling_rate=None, overlap=0.5, batch_size=BATCH_SIZE, progress=False,
            out_of_band="refuse", on_error="raise", return_noise=False, return_report=False, precision="auto",
            components=None):
    """Denoise a seismic record with a denoiser model.

    Args:
        data: an ``obspy.Stream``, an ``obspy.Trace``, or a NumPy array: 1-D ``(n,)`` or 2-D
            ``(n_components, n)`` (each row denoised independently; masked arrays keep their mask).
        model: ``None`` for the shipped default model (cached after the first call; with ``components``, a
            station group goes through the shipped three-component network, `Denoiser.for_components`), a path to a
            ``.keras`` file, a ``keras.Model`` or a `Denoiser` (see `Denoiser.resolve`).
        sampling_rate: sampling rate in Hz of an array input; ``None`` means the model's rate.
            Not allowed with Stream/Trace input, whose rate is in the headers.
        overlap: fraction of overlap between consecutive windows, in [0, 1).
        batch_size: windows per model call (the last batch is padded to a fixed shape); two calls run at once
            where TensorFlow has two or more threads (`geokeras.denoise.denoiser.calls_in_flight`).
        progress: ``True`` for a tqdm progress bar over the windows on stderr, or a callable
            ``progress(windows_done, windows_total)`` called after each batch.
        out_of_band: for a record whose native rate is outside ``Denoiser.sampling_rate_range_hz``:
            ``"refuse"`` (`~geokeras.errors.OutOfBandError` naming its id and rate) or ``"passthrough"``
            (returned unchanged, with a UserWarning and a note in its processing line).
        on_error: ``"raise"``: a bad trace (NaN samples, zero length, out of band, ...) raises its
            `~geokeras.errors.TraceError`; ``"skip"``: it is left out of the result and its error listed
            in the report (``report.skipped``), the other traces are denoised (Stream/Trace input only).
        return_noise: also return the noise estimate ``input - output`` (same type, headers and gaps;
            for Stream input: after merging, one trace per output trace).
        precision: ``"auto"`` (default: bfloat16 on a CPU with native bfloat16 arithmetic, else float32),
            ``"float32"`` (the model as trained) or ``"bfloat16"`` (see `geokeras.denoise.DenoiseOptions`).
        components: ``None`` (default: each trace on its own) or ``"median"`` / ``"mean"`` / ``"median-max"``
            (`geokeras.layers.ComponentMask`: the vertical the median, each horizontal the larger of its own mask
            and the median): a station's three
            components that the Stream holds aligned and gap-free at the model's rate are denoised together, one
            combined mask per window (`geokeras.denoise.components.station_groups`, `denoise_components`;
            README, "Three components, one mask"); every other trace as with ``None`` (its processing line too).
            Stream/Trace input only.
        return_report: also return the `geokeras.data.process.Report` (repairs made to the input:
            merged overlaps, traces kept apart because of differing rates, degenerate segments, traces
            passed through; and the traces skipped).

    Returns:
        the same type as ``data``: a new Stream/Trace (the input is not modified) with the same ids,
        start times, sampling rates and numbers of samples, float32 samples, masked gaps kept, and
        ``"geokeras <version>: denoise(model=<label>, sha256=<first 16 hex>, ...)"`` appended to
        ``stats.processing``; or a float32 array of the input's shape (masked where the input is).
        With ``return_noise`` and/or ``return_report``: a tuple ``(result, [noise], [report])``.

    Raises:
        TypeError: for an unsupported ``data`` or ``model`` type.
        ValueError: for bad arguments (the message names the argument).
        geokeras.errors.TraceError: a bad record (``on_error="raise"``); ``OutOfBandError`` for a rate
            out of range.
        geokeras.errors.ModelError: a model that cannot be loaded or is not a denoiser.
    """
    stream = _check_data(data, sampling_rate)
    options = DenoiseOptions(overlap, batch_size, out_of_band, precision, components)
    if components is not None and stream is None:
        raise ValueError("Invalid value for argument `components`. Expected None for an array (use "
                         f"`denoise_components` for the rows of one station). Received components={components!r}.")
    check_choice("on_error", on_error, ("raise", "skip") if stream is not None else ("raise",))
    return_noise = check_bool("return_noise", return_noise)
    return_report = check_bool("return_report", return_report)
    if not (isinstance(progress, bool) or callable(progress)):
        raise ValueError("Invalid value for argument `progress`. Expected True, False or a callable "
                         f"progress(done, total). Received progress={progress!r}.")
    den = Denoiser.resolve(model)
    if stream is None:
        stream = _array_to_stream(data, den.sampling_rate if sampling_rate is None else sampling_rate)
    bar = ProgressBar() if progress is True else None
    try:
        result, noise, report = denoise_stream(stream, den, options, progress=bar or progress or None,
                                               on_error=on_error, return_noise=return_noise)
    finally:
        if bar is not None:
            bar.close()
    out = (_as_type(data, result),)
    if return_noise:
        out += (_as_type(data, noise),)
    if return_report:
        out += (report,)
    return out if len(out) > 1 else out[0]


def denoise_stream(stream, denoiser, options, progress=None, on_error="raise", return_noise=True):
    """The core of `denoise` for a Stream, a resolved `Denoiser` and checked `DenoiseOptions`.

    With ``options.components``, the station groups of the Stream (`geokeras.denoise.components.station_groups`)
    are denoised together and put back in the input's order of ids; the other traces go the one-trace path, and
    their processing line is that of ``components=None`` (what was done to them: each denoised on its own).

    Returns:
        ``(denoised Stream, noise Stream, geokeras.data.process.Report)``; the noise Stream is None with
        ``return_noise=False`` (it is as large as the record).

    Raises:
        the errors of `geokeras.data.process.apply_to_stream`; an ``OutOfBandError`` says how to pass the
        record through.
    """
    if options.components:
        return _by_station(stream, denoiser, options, progress, on_error, return_noise)
    return _one_trace(stream, denoiser, options, progress, on_error, return_noise)


def _one_trace(stream, denoiser, options, progress, on_error, return_noise):
    """`denoise_stream` of each trace on its own: ``(denoised, noise or None, report)``."""
    from geokeras.data.process import apply_to_stream

    try:
        out = apply_to_stream(
            stream, denoiser.predictor(options.batch_size, options.precision), denoiser.window_length,
            denoiser.sampling_rate,
            overlap=options.overlap, batch_size=options.batch_size, progress=progress, detrend=True,
            clip=CLIP_FACTOR, on_error=on_error, rate_range=denoiser.sampling_rate_range_hz,
            out_of_band=options.out_of_band, return_noise=bool(return_noise), return_report=True,
            processing=options.processing_line(denoiser), scale_windows=True)
        return out if return_noise else (out[0], None, out[1])
    except OutOfBandError as exc:
        raise OutOfBandError(exc.trace_id, f"{exc.reason} (out_of_band='passthrough' passes it through "
                             "unchanged)") from None


def _by_station(stream, denoiser, options, progress, on_error, return_noise):
    """`denoise_stream` with ``options.components``: the station groups together, the other traces on their own
    (a note names them, and their processing line has no ``components``: they were denoised alone), the results
    in the input's order of ids, the windows of both counted in one progress."""
    from geokeras.data.process import Report
    from geokeras.denoise.components import denoise_groups, group_windows, station_groups, ungrouped_note

    groups, rest = station_groups(stream, denoiser.sampling_rate)
    alone = dataclasses.replace(options, components=None)  # the options the one-trace traces were denoised with
    if not groups:
        out = _one_trace(rest, denoiser, alone, progress, on_error, return_noise)
    else:
        extra, seen = group_windows(groups, denoiser.window_length, options.overlap), [0, 0]

        def counted(done, total):  # the one-trace windows first, the groups' after them
            seen[:] = [done, total]
            progress(done, total + extra)

        empty = (obspy.Stream(), obspy.Stream() if return_noise else None, Report())
        cleaned, noise, report = (_one_trace(rest, denoiser, alone, progress and counted, on_error, return_noise)
                                  if len(rest) else empty)
        joint, joint_noise = denoise_groups(groups, denoiser, options, options.processing_line(denoiser),
                                            return_noise=bool(return_noise),
                                            progress=progress and (lambda done, _: progress(seen[0] + done,
                                                                                            seen[1] + extra)))
        order = {}
        for i, tr in enumerate(stream):
            order.setdefault(tr.id, i)

        def in_order(traces):
            return obspy.Stream(sorted(traces, key=lambda tr: (order[tr.id], tr.stats.starttime)))

        out = (in_order(list(cleaned) + joint), in_order(list(noise) + joint_noise) if return_noise else None, report)
    if len(rest):
        out[2].notes.append(ungrouped_note(sorted({tr.id for tr in rest}), denoiser.sampling_rate))
    return out


def _as_type(data, result):
    """Give a result Stream the type of ``data``."""
    if isinstance(data, obspy.Stream):
        return result
    if isinstance(data, obspy.Trace):
        if len(result) > 1:
            result.merge(method=0)
        return result[0]
    # NumPy array: one trace per row, station code = row index.
    traces = sorted(result, key=lambda tr: int(tr.stats.station))
    rows = [np.ma.getdata(tr.data).astype(np.float32) for tr in traces]
    out = np.stack(rows) if data.ndim == 2 else rows[0]
    if np.ma.isMaskedArray(data):
        out = np.ma.masked_array(out, mask=np.ma.getmaskarray(data))
    return out
