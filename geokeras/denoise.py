"""Denoise seismic records of any length with a trained denoiser model.

Two pieces, in the shape of SeisBench's ``WaveformModel``:

- `Denoiser`: a denoiser model resolved once (loaded safely from a file, or the shipped default), with
  everything the path needs read once from it: ``label``, ``sha256``, ``sampling_rate``,
  ``window_length``, the frequency band ``band_hz`` and the native sampling rates
  ``sampling_rate_range_hz`` it is valid for, and its compiled batch predictors. The command line makes
  one per command and passes it down.
- `denoise` (also ``Denoiser.__call__``): takes an ObsPy ``Stream`` or ``Trace``, or a NumPy array,
  and gives back the same type:

  - continuous records of any length are cut into overlapping windows of the model's length,
    denoised in fixed-size batches and stitched back (``geokeras.data.process.apply_to_stream``);
  - each component is denoised on its own (the models are single-channel);
  - each gap-free segment loses its mean and linear trend before the model (offsets and trends are not
    signal), and the output is clipped to 1.1 times the segment's demeaned (and detrended) input peak:
    a denoiser may remove signal, never invent it;
  - records at another sampling rate within the model's range are resampled to the model's rate and the
    result is brought back to the record's own rate: the output always has the input's rate, start time
    and number of samples; a record outside the range is refused (``OutOfBandError`` naming its id and
    rate) or, with ``out_of_band="passthrough"``, passed through unchanged with a warning;
  - gaps (masked samples after ``Stream.merge``) stay gaps; headers are kept and exactly one line is
    added to ``stats.processing`` per call;
  - ``return_noise=True`` also returns what was removed (input minus output), with the same headers.

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
import hashlib
import os
import threading
import weakref

import numpy as np
import obspy

import geokeras
from geokeras.validation import check_bool, check_choice, check_number, check_positive_int
from geokeras.errors import ModelError, NotADenoiserError, OutOfBandError

__all__ = ["Denoiser", "ProgressBar", "denoise", "CLIP_FACTOR", "OUT_OF_BAND"]

CLIP_FACTOR = 1.1  # no output sample exceeds this times its segment's demeaned (and detrended) input peak
OUT_OF_BAND = ("refuse", "passthrough")  # what `denoise` does with a record outside the model's rates

# Denoisers loaded from files: {(realpath, mtime_ns, size): Denoiser}.
_FILE_DENOISERS = {}
# Compiled predictors per in-memory model (weakly keyed: a model is not kept alive): model -> {batch: fn}.
_PREDICTORS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha256_weights(model):
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


class _BatchPredictor:
    """Run a model on one batch of at most ``batch_size`` float32 windows ``(k, L)``, compiled per shape.

    A batch is padded with zero windows to a power of two no larger than ``batch_size``, so that at most
    ``log2(batch_size) + 1`` graphs are traced and a day of data runs through one of them. The loop over
    batches is `geokeras.data.windows.map_batches`.
    """

    def __init__(self, model, window_length, batch_size):
        import tensorflow as tf

        self.window_length = int(window_length)
        self.batch_size = int(batch_size)
        self._model = weakref.ref(model)  # cached weakly by the model: no strong cycle
        self._tf = tf
        self._graphs = {}

    def _graph(self, size):
        fn = self._graphs.get(size)
        if fn is None:
            tf = self._tf
            model_ref = self._model
            spec = tf.TensorSpec((size, self.window_length, 1), tf.float32)
            fn = tf.function(lambda x: model_ref()(x, training=False), input_signature=[spec])
            self._graphs[size] = fn
        return fn

    def __call__(self, windows):
        windows = np.asarray(windows, dtype=np.float32)
        n = len(windows)
        if windows.ndim != 2 or windows.shape[1] != self.window_length or not 0 < n <= self.batch_size:
            raise ValueError(f"Expected 1 to {self.batch_size} windows of shape (k, {self.window_length}). "
                             f"Received shape {windows.shape}.")
        size = min(1 << (n - 1).bit_length(), self.batch_size)
        if size != n:
            windows = np.concatenate([windows, np.zeros((size - n, self.window_length), np.float32)])
        y = self._graph(size)(windows[:, :, None])
        return np.asarray(y).reshape(size, self.window_length)[:n]


class Denoiser:
    """A denoiser model with what the denoise path needs, read from it once.

    Args:
        model: a geokeras denoiser ``keras.Model`` (input ``(None, window_length, 1)``).
        label: the name used in ``stats.processing`` and messages (default: the model's name).
        sha256: hex digest identifying the model (default: of its weights; a file's digest for
            `Denoiser.resolve` of a path).

    Attributes:
        model, label, sha256: as given.
        sampling_rate: the model's rate in Hz; window_length: samples per window.
        band_hz: ``(fmin, fmax)`` the model was trained for; sampling_rate_range_hz: ``(low, high)``
            native record rates accepted (both from ``geokeras.models.denoiser.denoiser_info``).

    Raises:
        NotADenoiserError: the model carries no denoiser metadata.
        TypeError: ``model`` is not a ``keras.Model``.
    """

    def __init__(self, model, label=None, sha256=None):
        import keras

        from geokeras.models.denoiser import denoiser_info

        if not isinstance(model, keras.Model):
            raise TypeError("Invalid value for argument `model`. Expected a keras.Model. "
                            f"Received model of type {type(model).__name__}.")
        try:
            info = denoiser_info(model)
        except ValueError as exc:
            raise NotADenoiserError(str(exc)) from None
        self.model = model
        self.label = label or model.name
        self.sha256 = sha256 or _sha256_weights(model)
        self.sampling_rate = float(info["sampling_rate"])
        self.window_length = int(info["window_length"])
        self.band_hz = tuple(float(f) for f in info["band_hz"])
        self.sampling_rate_range_hz = tuple(float(r) for r in info["sampling_rate_range_hz"])

    def __repr__(self):
        return (f"Denoiser({self.label!r}, sha256={self.sha256[:16]}, sampling_rate={self.sampling_rate:g}, "
                f"window_length={self.window_length}, sampling_rate_range_hz={self.sampling_rate_range_hz})")

    @classmethod
    def resolve(cls, model=None):
        """Return the `Denoiser` for a ``model`` argument (the one place models are loaded).

        Args:
            model: ``None`` for the shipped default model, a path to a ``.keras`` file (loaded with
                ``geokeras.saving.load_model``, safe mode; cached by path, modification time and size),
                a ``keras.Model`` (its weights hashed on every call: they may have changed) or a
                `Denoiser` (returned as is).

        Raises:
            ModelError: the file is missing or cannot be loaded safely.
            NotADenoiserError: the model is not a geokeras denoiser.
            FileNotFoundError: the shipped default model is missing from the installation.
            TypeError: any other type.
        """
        import keras

        if isinstance(model, Denoiser):
            return model
        if model is None:
            from geokeras import pretrained

            if not pretrained.DEFAULT_MODEL_PATH.is_file():
                pretrained.load_default()  # raises its FileNotFoundError naming the missing file
            return _load_file(pretrained.DEFAULT_MODEL_PATH, label="default")
        if isinstance(model, (str, os.PathLike)):
            return _load_file(model)
        if isinstance(model, keras.Model):
            return cls(model)
        raise TypeError(
            "Invalid value for argument `model`. Expected None (the default model), a path to a .keras file, "
            f"a keras.Model or a Denoiser. Received model of type {type(model).__name__}."
        )

    def predictor(self, batch_size=256):
        """The callable ``fn(windows[k, L]) -> denoised[k, L]`` (float32, ``k <= batch_size``), cached.

        It runs the model with compiled ``tf.function`` graphs of fixed batch shape (a short batch is
        zero-padded), several times faster than ``model.predict`` per batch.
        """
        with _LOCK:
            cache = _PREDICTORS.setdefault(self.model, {})
            if batch_size not in cache:
                cache[batch_size] = _BatchPredictor(self.model, self.window_length, batch_size)
            return cache[batch_size]

    def processing_line(self, overlap):
        """The ``stats.processing`` line of one `denoise` call."""
        return (f"geokeras {geokeras.__version__}: denoise(model={self.label}, sha256={self.sha256[:16]}, "
                f"model_sampling_rate={self.sampling_rate:g}, window_length={self.window_length}, "
                f"overlap={overlap}, detrend=linear, clip={CLIP_FACTOR:g})")

    def __call__(self, data, **kwargs):
        """``denoise(data, model=self, **kwargs)``."""
        return denoise(data, model=self, **kwargs)


def _load_file(path, label=None):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelError(f"Invalid value for argument `model`. Expected a model file. Received model={path!r} "
                         "(no such file).")
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_mtime_ns, st.st_size, label)
    with _LOCK:
        cached = _FILE_DENOISERS.get(key)
    if cached is None:
        from geokeras.saving import load_model

        cached = Denoiser(load_model(real), label=label or os.path.basename(path), sha256=_sha256_file(real))
        with _LOCK:
            _FILE_DENOISERS[key] = cached
    return cached


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


def denoise(data, model=None, sampling_rate=None, overlap=0.5, batch_size=256, progress=False,
            out_of_band="refuse", on_error="raise", return_noise=False, return_report=False):
    """Denoise a seismic record with a denoiser model.

    Args:
        data: an ``obspy.Stream``, an ``obspy.Trace``, or a NumPy array: 1-D ``(n,)`` or 2-D
            ``(n_components, n)`` (each row denoised independently; masked arrays keep their mask).
        model: ``None`` for the shipped default model (cached after the first call), a path to a
            ``.keras`` file, a ``keras.Model`` or a `Denoiser` (see `Denoiser.resolve`).
        sampling_rate: sampling rate in Hz of an array input; ``None`` means the model's rate.
            Not allowed with Stream/Trace input, whose rate is in the headers.
        overlap: fraction of overlap between consecutive windows, in [0, 1).
        batch_size: windows per model call (the last batch is padded to a fixed shape).
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
    from geokeras.data.process import apply_to_stream

    stream = _check_data(data, sampling_rate)
    check_choice("out_of_band", out_of_band, OUT_OF_BAND)
    check_choice("on_error", on_error, ("raise", "skip") if stream is not None else ("raise",))
    batch_size = check_positive_int("batch_size", batch_size)
    return_noise = check_bool("return_noise", return_noise)
    return_report = check_bool("return_report", return_report)
    if not (isinstance(progress, bool) or callable(progress)):
        raise ValueError("Invalid value for argument `progress`. Expected True, False or a callable "
                         f"progress(done, total). Received progress={progress!r}.")
    den = Denoiser.resolve(model)
    if stream is None:
        stream = _array_to_stream(data, den.sampling_rate if sampling_rate is None else sampling_rate)

    close = None
    if progress is True:
        progress = ProgressBar()
        close = progress.close
    try:
        result, noise, report = apply_to_stream(
            stream, den.predictor(batch_size), den.window_length,
            den.sampling_rate, overlap=overlap, batch_size=batch_size, progress=progress or None,
            detrend=True, clip=CLIP_FACTOR, on_error=on_error, rate_range=den.sampling_rate_range_hz,
            out_of_range="raise" if out_of_band == "refuse" else "passthrough", return_residual=True,
            return_report=True, processing=den.processing_line(overlap))
    except OutOfBandError as exc:
        raise OutOfBandError(exc.trace_id, f"{exc.reason} (out_of_band='passthrough' passes it through "
                             "unchanged)") from None
    finally:
        if close is not None:
            close()
    out = (_as_type(data, result),)
    if return_noise:
        out += (_as_type(data, noise),)
    if return_report:
        out += (report,)
    return out if len(out) > 1 else out[0]


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
