"""`Denoiser`: a denoiser model resolved once, with everything the denoise path reads from it.

In the shape of SeisBench's ``WaveformModel``: ``label``, ``sha256``, ``sampling_rate``, ``window_length``,
the frequency band ``band_hz`` and the native sampling rates ``sampling_rate_range_hz`` it is valid for,
and its compiled batch predictors. `Denoiser.resolve` is the one place a ``model`` argument becomes a
model; the command line makes one per command and passes it down.

A `Denoiser` pickles as its label, sha256 and the bytes of its ``.keras`` file (read once, when the file is
hashed), so a Dask run sends it to the workers as it is: each worker process loads it at most once
(`worker_model_loads`) and its processing lines are those of the calling process.

Example:
    >>> from geokeras.models.denoiser import build_denoiser
    >>> den = Denoiser(build_denoiser("unet1d", window_length=256, sampling_rate=100.0, filters=(4, 8)))
    >>> den.window_length, den.sampling_rate, den.sampling_rate_range_hz
    (256, 100.0, (20.0, 250.0))
"""
import hashlib
import os
import tempfile
import threading
import weakref

import numpy as np

from geokeras.errors import ModelError, NotADenoiserError

__all__ = ["Denoiser", "worker_model_loads"]

# Denoisers loaded from files: {(realpath, mtime_ns, size): Denoiser}.
_FILE_DENOISERS = {}
# Compiled predictors per in-memory model (weakly keyed: a model is not kept alive): model -> {batch: fn}.
_PREDICTORS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


# Denoisers unpickled in this process (sent by another one): {(label, sha256): Denoiser}.
_RECEIVED = {}
_LOADS = [0]


def worker_model_loads():
    """How many models this process has loaded from a pickled `Denoiser` (one per model per worker process)."""
    return _LOADS[0]


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
        self._data = None  # the bytes of the .keras file, once read or saved (`__reduce__`)

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
        zero-padded), much faster than ``model.predict`` per batch (``bench/bench_speed.py``).
        """
        with _LOCK:
            cache = _PREDICTORS.setdefault(self.model, {})
            if batch_size not in cache:
                cache[batch_size] = _BatchPredictor(self.model, self.window_length, batch_size)
            return cache[batch_size]

    def __call__(self, data, **kwargs):
        """``geokeras.denoise.denoise(data, model=self, **kwargs)``."""
        from geokeras.denoise.api import denoise

        return denoise(data, model=self, **kwargs)

    def __reduce__(self):
        """Pickle as ``(label, sha256, .keras bytes)``; the receiving process loads the model once."""
        if self._data is None:  # an in-memory model: saved once
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.keras")
                self.model.save(path)
                with open(path, "rb") as f:
                    self._data = f.read()
        with _LOCK:
            _RECEIVED.setdefault((self.label, self.sha256), self)  # this process has it already
        return _received, (self.label, self.sha256, self._data)


def _received(label, sha256, data):
    """The `Denoiser` of a pickled one in this process (loaded from ``data`` on first use)."""
    key = (label, sha256)
    with _LOCK:
        den = _RECEIVED.get(key)
        if den is None:
            from geokeras.saving import load_model_bytes

            den = _RECEIVED[key] = Denoiser(load_model_bytes(data, path=label), label=label, sha256=sha256)
            den._data = data
            _LOADS[0] += 1
        return den


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
        from geokeras.saving import load_model_bytes, read_model_file

        data = read_model_file(real)  # hashed, loaded, and kept for `Denoiser.__reduce__`: one read, one content
        cached = Denoiser(load_model_bytes(data, path=path), label=label or os.path.basename(path),
                          sha256=hashlib.sha256(data).hexdigest())
        cached._data = data
        with _LOCK:
            _FILE_DENOISERS[key] = cached
    return cached
