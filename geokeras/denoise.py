"""Denoise seismic records of any length with a trained denoiser model.

`denoise` is the one function behind ``geokeras denoise`` and the demo. It takes an ObsPy
``Stream`` or ``Trace``, or a NumPy array, and gives back the same type:

- continuous records of any length are cut into overlapping windows of the model's length,
  denoised in fixed-size batches and stitched back (``geokeras.data.process.apply_to_stream``);
- each component is denoised on its own (the models are single-channel);
- records at another sampling rate are resampled to the model's rate for the model and the
  result is brought back to the record's own rate: the output always has the input's rate,
  start time and number of samples;
- gaps (masked samples after ``Stream.merge``) stay gaps; headers are kept and a line is added
  to ``stats.processing``.

Example:
    >>> import numpy as np, obspy
    >>> from geokeras.denoise import denoise
    >>> from geokeras.models.denoiser import build_denoiser, denoiser_info
    >>> model = build_denoiser("unet1d", window_length=256, sampling_rate=100.0, filters=(4, 8))
    >>> denoiser_info(model)["window_length"]
    256
    >>> tr = obspy.Trace(np.random.default_rng(0).normal(size=1000).astype("float32"))
    >>> tr.stats.sampling_rate = 40.0
    >>> out = denoise(tr, model=model)
    >>> out.stats.npts, out.stats.sampling_rate, out.stats.processing[-1].split(":")[0]
    (1000, 40.0, 'geokeras 0.1.0')
    >>> denoise(np.zeros((3, 500), "float32"), model=model, sampling_rate=100.0).shape
    (3, 500)
"""
import hashlib
import os
import threading
import weakref

import numpy as np
import obspy

import geokeras

# Cache of models loaded from files: {(realpath, mtime_ns, size): (model, label, sha256)}.
_FILE_MODELS = {}
# Cache of compiled predictors per in-memory model: model -> {"predictors": {batch: callable}}.
_MODEL_DETAILS = weakref.WeakKeyDictionary()
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


def _load_file_model(path):
    """Load (once per file version, `geokeras.saving.load_model`) and cache ``(model, file name, sha256)``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Invalid value for argument `model`. Expected a model file. Received model={path!r} "
                         "(no such file).")
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_mtime_ns, st.st_size)
    with _LOCK:
        if key not in _FILE_MODELS:
            from geokeras.saving import load_model

            _FILE_MODELS[key] = (load_model(real), os.path.basename(path), _sha256_file(real))
        return _FILE_MODELS[key]


def resolve_model(model=None):
    """Return ``(keras_model, label, sha256)`` for a ``denoise`` ``model`` argument.

    Args:
        model: ``None`` for the shipped default model (loaded once, then cached), a path to a
            ``.keras`` file (loaded with ``geokeras.saving.load_model``, safe mode, cached by
            path and modification time) or a ``keras.Model``.

    Returns:
        tuple ``(model, label, sha256)``: ``label`` is ``"default"``, the file name or the model's
        name; ``sha256`` is the hex digest of the model file, or of the weights for an in-memory
        model.
    """
    import keras

    if model is None:
        from geokeras import pretrained

        if not pretrained.DEFAULT_MODEL_PATH.is_file():
            pretrained.load_default()  # raises its FileNotFoundError naming the missing file
        loaded, _, digest = _load_file_model(pretrained.DEFAULT_MODEL_PATH)
        return loaded, "default", digest
    if isinstance(model, (str, os.PathLike)):
        return _load_file_model(model)
    if isinstance(model, keras.Model):
        # hashed on every call: the weights of an in-memory model may have changed since the last one
        return model, model.name, _sha256_weights(model)
    raise TypeError(
        "Invalid value for argument `model`. Expected None (the default model), a path to a .keras file "
        f"or a keras.Model. Received model of type {type(model).__name__}."
    )


class _BatchPredictor:
    """Run a model on ``(k, L)`` float32 windows with a compiled call per fixed batch size.

    Batches are padded with zero windows to a power of two no larger than ``batch_size`` so that
    at most ``log2(batch_size) + 1`` graphs are traced and a day of data runs through one of them.
    """

    def __init__(self, model, window_length, batch_size):
        import tensorflow as tf

        self.window_length = int(window_length)
        self.batch_size = int(batch_size)
        self._model = weakref.ref(model)  # the cache is keyed weakly by the model: no strong cycle
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

    def _bucket(self, n):
        size = 1
        while size < n:
            size *= 2
        return min(size, self.batch_size)

    def __call__(self, windows):
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 2 or windows.shape[1] != self.window_length:
            raise ValueError(
                f"Expected windows of shape (k, {self.window_length}). Received shape {windows.shape}."
            )
        out = np.empty_like(windows)
        for i in range(0, len(windows), self.batch_size):
            chunk = windows[i:i + self.batch_size]
            n = len(chunk)
            size = self._bucket(n)
            if size != n:
                chunk = np.concatenate([chunk, np.zeros((size - n, self.window_length), np.float32)])
            y = self._graph(size)(chunk[:, :, None])
            out[i:i + n] = np.asarray(y).reshape(size, self.window_length)[:n]
        return out


def make_predictor(model, batch_size=256):
    """Return a callable ``fn(windows[k, L]) -> denoised[k, L]`` for ``model`` (float32 NumPy).

    The callable runs the model with compiled ``tf.function`` graphs of fixed batch shape (the last
    batch is zero-padded), which is several times faster than ``model.predict`` per chunk.
    Predictors are cached per model and batch size.

    Args:
        model: a denoiser ``keras.Model`` (input ``(None, L, 1)``).
        batch_size: the largest batch run at once.
    """
    from geokeras.models.denoiser import denoiser_info

    with _LOCK:
        details = _MODEL_DETAILS.setdefault(model, {"predictors": {}})
        pred = details["predictors"].get(batch_size)
        if pred is None:
            pred = _BatchPredictor(model, denoiser_info(model)["window_length"], batch_size)
            details["predictors"][batch_size] = pred
    return pred


def _check_args(overlap, batch_size, sampling_rate):
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float, np.floating)) or not 0 <= overlap < 1:
        raise ValueError(
            f"Invalid value for argument `overlap`. Expected a number in [0, 1). Received overlap={overlap!r}."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(
            "Invalid value for argument `batch_size`. Expected a strictly positive integer. "
            f"Received batch_size={batch_size!r}."
        )
    if sampling_rate is not None and not (np.isfinite(sampling_rate) and sampling_rate > 0):
        raise ValueError(
            "Invalid value for argument `sampling_rate`. Expected a strictly positive number. "
            f"Received sampling_rate={sampling_rate!r}."
        )


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


def denoise(data, model=None, sampling_rate=None, overlap=0.5, batch_size=256, progress=False, return_report=False):
    """Denoise a seismic record with a denoiser model.

    Args:
        data: an ``obspy.Stream``, an ``obspy.Trace``, or a NumPy array: 1-D ``(n,)`` or 2-D
            ``(n_components, n)`` (each row denoised independently; masked arrays keep their mask).
        model: ``None`` for the shipped default model (cached after the first call), a path to a
            ``.keras`` file or a ``keras.Model`` (see `resolve_model`). Its sampling rate and
            window length come from ``geokeras.models.denoiser.denoiser_info``.
        sampling_rate: sampling rate in Hz of an array input; ``None`` means the model's rate.
            Not allowed with Stream/Trace input, whose rate is in the headers.
        overlap: fraction of overlap between consecutive windows, in [0, 1).
        batch_size: windows per model call (the last batch is padded to a fixed shape).
        progress: show a tqdm progress bar over the windows (on a terminal).
        return_report: also return the list of repairs made to the input (merged overlaps, traces kept
            apart because of differing rates, constant or 1-sample segments passed through), as strings:
            see ``geokeras.data.process.apply_to_stream``.

    Returns:
        the same type as ``data``: a new Stream/Trace (the input is not modified) with the same ids,
        start times, sampling rates and numbers of samples, float32 samples, masked gaps kept, and
        ``"geokeras <version>: denoise(model=<label>, sha256=<first 16 hex>, ...)"`` appended to
        ``stats.processing``; or a float32 array of the input's shape (masked where the input is).
        With ``return_report=True``, a tuple ``(result, report)``.

    Raises:
        TypeError: for an unsupported ``data`` or ``model`` type.
        ValueError: for bad arguments or bad records (the message says which and why).
    """
    from geokeras.data.process import apply_to_stream
    from geokeras.models.denoiser import denoiser_info

    _check_args(overlap, batch_size, sampling_rate)
    if isinstance(data, (obspy.Stream, obspy.Trace)):
        if sampling_rate is not None:
            raise ValueError(
                "Invalid value for argument `sampling_rate`. Expected None for an obspy Stream or Trace, "
                f"whose rate is in its headers. Received sampling_rate={sampling_rate!r}."
            )
        stream = obspy.Stream([data]) if isinstance(data, obspy.Trace) else data
    elif isinstance(data, np.ndarray):
        if not (np.issubdtype(data.dtype, np.number) and not np.iscomplexobj(data)):
            raise ValueError(
                f"Invalid value for argument `data`. Expected a real numeric array. Received dtype {data.dtype}."
            )
        stream = None
    else:
        raise TypeError(
            "Invalid value for argument `data`. Expected an obspy Stream or Trace or a NumPy array. "
            f"Received data of type {type(data).__name__}."
        )
    if isinstance(data, obspy.Stream) and len(data) == 0:
        raise ValueError("Invalid value for argument `data`. Expected a Stream with traces. Received an empty Stream.")

    keras_model, label, digest = resolve_model(model)
    info = denoiser_info(keras_model)
    model_rate, window_length = float(info["sampling_rate"]), int(info["window_length"])
    if stream is None:
        stream = _array_to_stream(data, model_rate if sampling_rate is None else sampling_rate)

    fn = make_predictor(keras_model, batch_size=int(batch_size))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=_count_windows(stream, model_rate, window_length, overlap), desc="denoise",
                   unit="window")
        fn = _ProgressPredictor(fn, bar)
    try:
        result, report = apply_to_stream(stream, fn, window_length, model_rate, overlap=float(overlap),
                                         batch_size=int(batch_size), return_report=True)
    finally:
        if bar is not None:
            bar.close()
    out = _finish(data, result, label, digest, model_rate, window_length, overlap)
    return (out, report) if return_report else out


def _count_windows(stream, model_rate, window_length, overlap):
    """Windows the model will see (gaps ignored: an estimate for the progress bar)."""
    from geokeras.data.windows import window_starts

    total = 0
    for tr in stream:
        n = int(np.ceil(tr.stats.npts * model_rate / tr.stats.sampling_rate))
        total += len(window_starts(max(n, 1), window_length, overlap))
    return total


class _ProgressPredictor:
    """Wrap a predictor and advance a tqdm bar by the number of windows of each call."""

    def __init__(self, predictor, bar):
        self.predictor, self.bar = predictor, bar
        self.__name__ = type(predictor).__name__

    def __call__(self, windows):
        out = self.predictor(windows)
        self.bar.update(len(windows))
        return out


def _finish(data, result, label, digest, model_rate, window_length, overlap):
    """Add the processing line and give the result the type of ``data``."""
    line = (f"geokeras {geokeras.__version__}: denoise(model={label}, sha256={digest[:16]}, "
            f"model_sampling_rate={model_rate:g}, window_length={window_length}, overlap={float(overlap):g})")
    for tr in result:
        tr.stats.setdefault("processing", []).append(line)

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

