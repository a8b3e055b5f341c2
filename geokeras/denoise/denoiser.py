"""`Denoiser`: a denoiser model resolved once, with everything the denoise path reads from it.

In the shape of SeisBench's ``WaveformModel``: ``label``, ``sha256``, ``sampling_rate``, ``window_length``,
the frequency band ``band_hz`` and the native sampling rates ``sampling_rate_range_hz`` it is valid for,
and its compiled batch predictors. `Denoiser.resolve` is the one place a ``model`` argument becomes a
model; the command line makes one per command and passes it down.

A `Denoiser` pickles as its label, sha256 and the bytes of its ``.keras`` file (read once, when the file is
hashed), so a Dask run sends it to the workers as it is: each worker process loads it at most once
(`worker_model_loads`) and its processing lines are those of the calling process.

A `Denoiser` of a ``.keras`` file reads its metadata (rates, window length, band) from the file's
``config.json`` without importing Keras; the model itself is loaded (TensorFlow imported, weights read) at
the first use of ``Denoiser.model`` or `Denoiser.load`: ``geokeras denoise --resume`` with nothing left to
do decides so without TensorFlow.

Example:
    >>> from geokeras.models.denoiser import build_denoiser
    >>> den = Denoiser(build_denoiser("unet1d", window_length=256, sampling_rate=100.0, filters=(4, 8)))
    >>> den.window_length, den.sampling_rate, den.sampling_rate_range_hz
    (256, 100.0, (20.0, 250.0))
"""
import functools
import hashlib
import os
import tempfile
import threading
import weakref

import numpy as np

from geokeras.errors import ModelError, NotADenoiserError

__all__ = ["Denoiser", "BATCH_SIZE", "PRECISIONS", "PRECISION_CHOICES", "bfloat16_copy", "calls_in_flight",
           "cpu_has_bfloat16", "peek_info", "resolve_precision", "worker_model_loads"]

PRECISIONS = ("float32", "bfloat16")  # the arithmetic of `Denoiser.predictor`'s model layers
PRECISION_CHOICES = ("auto",) + PRECISIONS  # what a ``precision`` argument takes ("auto": `resolve_precision`)
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions that compute bfloat16 products natively


def cpu_has_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether this machine's CPU computes bfloat16 products natively (x86 ``avx512_bf16`` or ``amx_bf16``, read
    from ``cpuinfo``; False where that file is missing or unreadable: other systems, other architectures).

    Without them oneDNN emulates bfloat16 and it is no faster than float32 (or much slower)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[-1].split())
                    return any(flag in flags for flag in _BF16_FLAGS)
    except OSError:
        pass
    return False


def resolve_precision(precision="auto"):
    """The precision a ``precision`` argument stands for: ``"auto"`` is ``"bfloat16"`` on a CPU with native
    bfloat16 arithmetic (`cpu_has_bfloat16`) unless oneDNN is switched off (``TF_ENABLE_ONEDNN_OPTS=0``), and
    ``"float32"`` elsewhere; the others are themselves.

    bfloat16 keeps ``denoise(-x) == -denoise(x)`` exact and the default model's quality as measured by
    ``bench/bench_paired_quality.py`` (README, issue 19); ``"float32"`` runs the model as trained.

    Example:
        >>> resolve_precision("float32"), resolve_precision("auto") in PRECISIONS
        ('float32', True)
    """
    from geokeras.validation import check_choice

    check_choice("precision", precision, PRECISION_CHOICES)
    if precision != "auto":
        return precision
    return _auto_precision()


@functools.cache
def _auto_precision():
    """What ``"auto"`` stands for on this machine (``/proc/cpuinfo`` and the environment read once per process).

    float32 where TensorFlow's oneDNN kernels are switched off (``TF_ENABLE_ONEDNN_OPTS=0``): without them
    bfloat16 is not faster, only less precise."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() == "0":
        return "float32"
    return "bfloat16" if cpu_has_bfloat16() else "float32"

# Denoisers loaded from files: {(realpath, mtime_ns, size): Denoiser}.
_FILE_DENOISERS = {}
# Compiled predictors per in-memory model (weakly keyed: a model is not kept alive): model -> {batch: fn}.
_PREDICTORS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_LOAD_LOCK = threading.Lock()  # a file's model loading at its first use


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


LOADER_THREAD = "geokeras-model-load"  # the name of `Denoiser.load_in_background`'s thread

# windows per model call of the denoise paths: with two calls at once (`calls_in_flight`), 256 windows in the model at
# once; 128 x 2 was faster and needed less memory than 256 x 2 or 256 x 1 (README, issue 19, session 8)
BATCH_SIZE = 128


def calls_in_flight():
    """How many model calls `Denoiser.predictor`'s callables let run at once (their ``in_flight``): 2 where
    TensorFlow may use two or more intra-op threads, else 1 (a single-threaded Dask worker stays on one core).

    One call of the model's graph keeps about 1.8 of 2 cores busy: its ops wait for each other at every layer;
    two calls at once fill those gaps (``bench/bench_in_flight.py``: 1.06-1.14x on the idle 2-core build
    machine; README, issue 19). `geokeras.data.windows.map_batches` and the pipeline of ``geokeras denoise``
    read it.

    Example:
        >>> calls_in_flight() in (1, 2)
        True
    """
    import tensorflow as tf

    threads = (tf.config.threading.get_intra_op_parallelism_threads()
               or int(os.environ.get("TF_NUM_INTRAOP_THREADS") or 0)  # a Dask worker's (read by TensorFlow at start)
               or os.cpu_count() or 1)
    return 2 if threads >= 2 else 1


LARGE_BATCH_STEP = 16  # a large batch is padded to a multiple of this many windows (`_BatchPredictor`)
REUSE_PADDING = 128  # ... or to a size run before, if that pads by at most this many more windows


class _BatchPredictor:
    """Run a model on one batch of at most ``batch_size`` float32 windows ``(k, L)``, compiled.

    A small batch (fewer than `geokeras.models.inference.XLA_MIN_BATCH` windows) is padded with zero windows to
    a power of two and runs through a graph of that static shape (at most ``log2(XLA_MIN_BATCH) + 1`` of them
    are traced: 1, 2, 4, ... windows up to ``XLA_MIN_BATCH``). A large one is padded to a multiple of
    `LARGE_BATCH_STEP` windows only (no larger than ``batch_size``) and runs through one graph of unknown batch
    size, traced once (`large_batches`: XLA compiles the features' loop once per size, much cheaper than tracing
    a new graph; README, issue 19): less padding (the pieces of ``geokeras denoise`` come in batches of ~90 windows, which
    a power of two padded by 40 %) and fewer traces, the same outputs (a window's output does not depend on the
    size of a large batch). The loop over batches is `geokeras.data.windows.map_batches`, which runs
    ``in_flight`` calls at once (`calls_in_flight`; calls from several threads are safe).
    """

    def __init__(self, model, window_length, batch_size, keep=None):
        import tensorflow as tf

        from geokeras.models.inference import XLA_MIN_BATCH

        self.window_length = int(window_length)
        self.batch_size = int(batch_size)
        self.large = XLA_MIN_BATCH  # batches of at least this many windows: the large-batch graph
        self._model = weakref.ref(model)  # cached weakly by the model: no strong cycle
        self._keep = keep  # the model made for this predictor (inference_model): alive as long as it is
        self._tf = tf
        self._graphs = {}
        self._runs, self._asked = set(), set()  # (size, large) run; sizes that came once and ran in a larger one
        self.in_flight = calls_in_flight()  # read by `map_batches`

    def _graph(self, size):
        with _LOCK:  # one graph per shape, also when threads ask for it at once (traced once, at its first call)
            fn = self._graphs.get(size)
            if fn is None:
                tf = self._tf
                model_ref = self._model
                spec = tf.TensorSpec((size, self.window_length, 1), tf.float32)
                fn = tf.function(lambda x: model_ref()(x, training=False), input_signature=[spec])
                self._graphs[size] = fn
            return fn

    def _large_graph(self):
        with _LOCK:
            fn = self._graphs.get(None)
            if fn is None:
                from geokeras.models.inference import large_batches

                tf, model_ref = self._tf, self._model

                def run(x):
                    with large_batches():
                        return model_ref()(x, training=False)

                fn = tf.function(run, input_signature=[tf.TensorSpec((None, self.window_length, 1), tf.float32)])
                self._graphs[None] = fn
            return fn

    def _size(self, n):
        """``(padded size, large graph?)`` of a batch of ``n`` windows.

        A large batch is padded to a multiple of `LARGE_BATCH_STEP`, a small one to a power of two (its own
        static graph). The first time such a size comes, a large size run before that pads by at most
        `REUSE_PADDING` more windows is used instead (also for a small batch of half `XLA_MIN_BATCH` windows or
        more): no compilation (~0.15 s per size for XLA, ~0.4 s for a static graph) for a size that comes once,
        as the first piece and the end of each trace of ``geokeras denoise`` do; a size that comes again gets
        its own graph (the waste of padding is paid once). Each window's output is the same whatever the size
        (`tests/test_inference_model.py`)."""
        large = n >= self.large
        size = (min(-(-n // LARGE_BATCH_STEP) * LARGE_BATCH_STEP, self.batch_size) if large
                else min(1 << (n - 1).bit_length(), self.batch_size))
        key = (size, large)
        if key not in self._runs and key not in self._asked and (large or 2 * n >= self.large):
            reuse = [s for s, run_large in self._runs if run_large and n < s <= size + REUSE_PADDING]
            if reuse:
                self._asked.add(key)
                return min(reuse), True
        self._runs.add(key)
        return size, large

    def __call__(self, windows):
        windows = np.asarray(windows, dtype=np.float32)
        n = len(windows)
        if windows.ndim != 2 or windows.shape[1] != self.window_length or not 0 < n <= self.batch_size:
            raise ValueError(f"Expected 1 to {self.batch_size} windows of shape (k, {self.window_length}). "
                             f"Received shape {windows.shape}.")
        with _LOCK:  # calls from several threads (`map_batches`' in_flight) choose sizes one at a time
            size, large = self._size(n)
        fn = self._large_graph() if large else self._graph(size)
        if size != n:
            windows = np.concatenate([windows, np.zeros((size - n, self.window_length), np.float32)])
        y = fn(windows[:, :, None])
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
        components_denoiser: the `Denoiser` whose network `component_predictor` runs for a station's components
            (`for_components`): None (this one's own) except for the shipped default, whose three-component path
            runs the shipped three-component network (`geokeras.pretrained.load_components`).
        sampling_rate: the model's rate in Hz; window_length: samples per window.
        band_hz: ``(fmin, fmax)`` the model was trained for; sampling_rate_range_hz: ``(low, high)``
            native record rates accepted (both from ``geokeras.models.denoiser.denoiser_info``).

    Raises:
        NotADenoiserError: the model carries no denoiser metadata.
        TypeError: ``model`` is not a ``keras.Model``.
    """

    _loading = _load_error = None  # `load_in_background`'s thread, and the error it met
    components_denoiser = None  # the Denoiser of the three-component path, where it is another network

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
        self._model = model
        self.label = label or model.name
        self.sha256 = sha256 or _sha256_weights(model)
        self.sampling_rate = float(info["sampling_rate"])
        self.window_length = int(info["window_length"])
        self.band_hz = tuple(float(f) for f in info["band_hz"])
        self.sampling_rate_range_hz = tuple(float(r) for r in info["sampling_rate_range_hz"])
        self._data = None  # the bytes of the .keras file, once read or saved (`__reduce__`)

    @classmethod
    def _lazy(cls, data, label, sha256, info):
        """A `Denoiser` of the ``.keras`` bytes ``data`` whose model is loaded at its first use."""
        den = cls.__new__(cls)
        den._model, den._data, den.label, den.sha256 = None, data, label, sha256
        den.sampling_rate, den.window_length = info["sampling_rate"], info["window_length"]
        den.band_hz, den.sampling_rate_range_hz = info["band_hz"], info["sampling_rate_range_hz"]
        return den

    @property
    def model(self):
        """The ``keras.Model`` (loaded here on first use for a `Denoiser` of a file; waits for, and raises the
        error of, a `load_in_background` under way)."""
        if self._model is None:
            self.wait_loaded()
        if self._model is None:
            with _LOAD_LOCK:
                if self._model is None:
                    model = _load_bytes(self._data, path=self.label)
                    loaded = Denoiser(model, label=self.label, sha256=self.sha256)
                    if (loaded.sampling_rate, loaded.window_length) != (self.sampling_rate, self.window_length):
                        raise ModelError(f"model {self.label!r}: its config.json and its loaded layers disagree "
                                         "on the sampling rate or window length")
                    self._model = model
        return self._model

    def load(self):
        """Load the model now (TensorFlow imported, weights read) and return this `Denoiser`.

        Raises:
            ModelError: the file cannot be loaded safely; NotADenoiserError: it is not a denoiser.
        """
        self.model  # noqa: B018 - loads it
        return self

    def load_in_background(self, prepare=None):
        """Start loading the model in a daemon thread (``prepare()`` first, e.g. `geokeras.utils.quiet_tensorflow`)
        and return this `Denoiser` at once: importing TensorFlow and reading the weights (~4 s) overlap with
        what the caller does meanwhile (``geokeras denoise`` reads and frames its first file).

        `model` (so `predictor`, `load`) waits for it in any other thread and raises its error; `wait_loaded`
        waits and raises it too. ``prepare()`` runs under the lock every model load takes, so no other `Denoiser`
        (the default's `components_denoiser`, say) loads its model in another thread while ``prepare`` imports
        TensorFlow (two threads importing it at once fail with a partially initialized module). A model loaded
        already, or being loaded, is left as it is.

        Example:
            >>> from geokeras.models.denoiser import build_denoiser
            >>> den = Denoiser(build_denoiser("unet1d", window_length=256, sampling_rate=100.0, filters=(4,)))
            >>> den.load_in_background().wait_loaded() is den  # loaded already: nothing to wait for
            True
        """
        with _LOCK:
            if self._model is not None or self._loading is not None:
                return self

            def run():
                try:
                    if prepare is not None:
                        with _LOAD_LOCK:  # the lock of every model load: none imports TensorFlow beside prepare
                            prepare()
                    self.load()
                except BaseException as exc:  # noqa: BLE001 - raised where the model is needed (`wait_loaded`)
                    self._load_error = exc

            self._loading = threading.Thread(target=run, name=LOADER_THREAD, daemon=True)
            self._loading.start()
        return self

    def wait_loaded(self):
        """Wait for a `load_in_background` under way (from another thread) and raise its error; return this
        `Denoiser`. Nothing to wait for: returns at once (the model is then loaded at its first use)."""
        loading = self._loading
        if loading is not None and loading is not threading.current_thread():
            loading.join()
            if self._load_error is not None:
                raise self._load_error
        return self

    def __repr__(self):
        return (f"Denoiser({self.label!r}, sha256={self.sha256[:16]}, sampling_rate={self.sampling_rate:g}, "
                f"window_length={self.window_length}, sampling_rate_range_hz={self.sampling_rate_range_hz})")

    @classmethod
    def resolve(cls, model=None):
        """Return the `Denoiser` for a ``model`` argument (the one place models are loaded).

        Args:
            model: ``None`` for the shipped default model (whose three-component path runs the shipped
                three-component network: `components_denoiser`), a path to a ``.keras`` file (loaded with
                ``geokeras.saving.load_model``, safe mode; cached by path, modification time and size),
                a ``keras.Model`` (its weights hashed on every call: they may have changed) or a
                `Denoiser` (returned as is).

        Raises:
            ModelError: the file is missing or cannot be loaded safely.
            NotADenoiserError: the model is not a geokeras denoiser.
            FileNotFoundError: the shipped default model is missing from the installation.
            TypeError: any other type.
        """
        if isinstance(model, Denoiser):
            return model
        if model is None:
            from geokeras import pretrained

            if not pretrained.DEFAULT_MODEL_PATH.is_file():
                pretrained.load_default()  # raises its FileNotFoundError naming the missing file
            if not pretrained.COMPONENTS_MODEL_PATH.is_file():
                pretrained.load_components()
            den = _load_file(pretrained.DEFAULT_MODEL_PATH, label="default")
            if den.components_denoiser is None:
                partner = _load_file(pretrained.COMPONENTS_MODEL_PATH, label="components")
                if (partner.sampling_rate, partner.window_length) != (den.sampling_rate, den.window_length):
                    raise ModelError("the shipped three-component network does not take the default model's "
                                     "windows (sampling rate or window length)")
                den.components_denoiser = partner
            return den
        if isinstance(model, (str, os.PathLike)):
            return _load_file(model)
        import keras

        if isinstance(model, keras.Model):
            return cls(model)
        raise TypeError(
            "Invalid value for argument `model`. Expected None (the default model), a path to a .keras file, "
            f"a keras.Model or a Denoiser. Received model of type {type(model).__name__}."
        )

    def predictor(self, batch_size=BATCH_SIZE, precision="auto"):
        """The callable ``fn(windows[k, L]) -> denoised[k, L]`` (float32, ``k <= batch_size``), cached.

        It runs the model's `geokeras.models.inference.inference_model` (the same weights and outputs to
        float32 rounding; transposed convolutions by phases, the sign-invariant features through XLA) with compiled
        ``tf.function`` graphs (`_BatchPredictor`: a small batch zero-padded to a power of two through a graph of
        that fixed shape, a large one padded to a multiple of `LARGE_BATCH_STEP` through one graph of unknown
        batch size), much faster than ``model.predict`` per batch (``bench/bench_speed.py``).

        Args:
            batch_size: windows per call.
            precision: ``"float32"`` (the model as trained), ``"bfloat16"``: a `bfloat16_copy` of the
                model (faster on CPUs with bfloat16 units; outputs differ by rounding, see
                ``bench/bench_precision.py``), or ``"auto"`` (`resolve_precision`).
        """
        precision = resolve_precision(precision)
        model = self.model
        if model.input_shape[-1] != 1:
            raise ModelError(f"model {self.label!r} denoises {model.input_shape[-1]} components together (a joint "
                             f"network, geokeras.models.components.build_joint_mask_denoiser), not one trace: "
                             f"denoise a station's components with geokeras.denoise.denoise_components.")
        with _LOCK:
            cache = _PREDICTORS.setdefault(model, {})
            key = batch_size if precision == "float32" else (precision, batch_size)
            if key not in cache:
                from geokeras.models.inference import inference_model

                run = inference_model(model if precision == "float32" else bfloat16_copy(model))
                keep = None if run is model else run  # never the cache's (weak) key itself
                cache[key] = _BatchPredictor(run, self.window_length, batch_size, keep=keep)
            return cache[key]

    def for_components(self):
        """The `Denoiser` whose network runs on a station's components together: `components_denoiser`, or this
        one. The shipped default's is the shipped three-component network; every other model is its own.

        Example:
            >>> Denoiser.resolve().for_components().label
            'components'
        """
        return self.components_denoiser or self

    def component_predictor(self, components=3, statistic="median", precision="auto"):
        """The compiled ``fn(windows[k, L, C]) -> denoised[k, L, C]`` of the model on a station's ``C`` components
        with one combined mask (`geokeras.models.components.component_denoiser`), over the same inference graph
        and precision as `predictor`, cached with it (`geokeras.denoise.denoise_components`). A model of ``C``
        components (`geokeras.models.components.build_joint_mask_denoiser`) estimates its one mask itself: it is
        run as it is, ``statistic`` does not apply to it. The model is `for_components`' (the shipped default's
        three-component path runs the shipped three-component network)."""
        if self.components_denoiser is not None:
            return self.components_denoiser.component_predictor(components, statistic, precision)
        precision = resolve_precision(precision)
        model = self.model
        with _LOCK:
            cache = _PREDICTORS.setdefault(model, {})
            key = ("components", components, statistic, precision)
            if key not in cache:
                import tensorflow as tf

                from geokeras.models.components import component_denoiser
                from geokeras.models.inference import inference_model

                run = inference_model(model if precision == "float32" else bfloat16_copy(model))
                if model.input_shape[-1] == 1:
                    run = component_denoiser(run, components, statistic)
                elif model.input_shape[-1] != components:
                    raise ValueError(f"Invalid value for argument `components`. Expected {model.input_shape[-1]}, "
                                     f"the components of model {self.label!r}. Received components={components}.")
                cache[key] = tf.function(lambda x: run(x, training=False), reduce_retracing=True)
            return cache[key]

    def __call__(self, data, **kwargs):
        """``geokeras.denoise.denoise(data, model=self, **kwargs)``."""
        from geokeras.denoise.api import denoise

        return denoise(data, model=self, **kwargs)

    def __reduce__(self):
        """Pickle as ``(label, sha256, .keras bytes, components_denoiser)``; the receiving process loads the model
        once."""
        if self._data is None:  # an in-memory model: saved once
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.keras")
                self.model.save(path)
                with open(path, "rb") as f:
                    self._data = f.read()
        with _LOCK:
            _RECEIVED.setdefault((self.label, self.sha256), self)  # this process has it already
        return _received, (self.label, self.sha256, self._data, self.components_denoiser)


def _received(label, sha256, data, components_denoiser=None):
    """The `Denoiser` of a pickled one in this process (loaded from ``data`` on first use)."""
    key = (label, sha256)
    with _LOCK:
        den = _RECEIVED.get(key)
        if den is None:
            den = _RECEIVED[key] = Denoiser(_load_bytes(data, path=label), label=label, sha256=sha256)
            den._data = data
            _LOADS[0] += 1
        if components_denoiser is not None:
            den.components_denoiser = components_denoiser
        return den


#: Keras layers `bfloat16_copy` leaves in float32: the input, and the crops (after the last convolution: the
#: sigmoid mask computed in float32 by `geokeras.models.inference.Float32Activation` is cropped as it is)
_FLOAT32_KERAS_LAYERS = ("InputLayer", "Cropping1D", "Cropping2D", "Cropping3D")


def bfloat16_copy(model):
    """A copy of ``model`` whose Keras layers (convolutions, additions, padding) compute in bfloat16.

    Keras' ``mixed_bfloat16`` policy on every built-in layer (float32 weights, bfloat16 arithmetic); the
    geokeras layers (standardization, STFT, sign-invariant features, mask, inverse STFT, rescaling) and the crops
    stay in float32, so a mask denoiser stays odd to the last bit. Inference only.

    Example:
        >>> from geokeras.models.denoiser import build_denoiser
        >>> copy = bfloat16_copy(build_denoiser("stftmask", window_length=300, filters=(4,)))
        >>> sorted({l.dtype_policy.name for l in copy.layers})
        ['float32', 'mixed_bfloat16']
    """
    import keras

    config = model.get_config()
    policy = keras.dtype_policies.serialize(keras.DTypePolicy("mixed_bfloat16"))
    for layer in config["layers"]:
        if layer.get("module") == "keras.layers" and layer["class_name"] not in _FLOAT32_KERAS_LAYERS:
            layer["config"]["dtype"] = policy
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _load_bytes(data, path="<bytes>"):
    """The ``keras.Model`` of the bytes of a ``.keras`` file (`geokeras.saving.load_model_bytes`: the checks on
    exactly these bytes, safe mode).

    Raises:
        ModelError: the file cannot be loaded (unsafe, damaged).
    """
    from geokeras.saving import load_model_bytes

    try:
        return load_model_bytes(data, path=path)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError) as exc:  # a damaged archive (weights that are not HDF5, ...)
        raise ModelError(f"cannot load the model: {type(exc).__name__}: {exc}") from None


def peek_info(data):
    """`geokeras.models.denoiser.denoiser_info` read from the ``config.json`` of a ``.keras`` file's bytes,
    without Keras; None when it is not there in full (the file is then loaded to find out).

    Example:
        >>> from geokeras import pretrained
        >>> info = peek_info(pretrained.DEFAULT_MODEL_PATH.read_bytes())
        >>> info["sampling_rate"], info["window_length"]
        (100.0, 3000)
    """
    import io
    import json
    import zipfile

    from geokeras.utils import MAX_JSON_BYTES, ZIP_MAGIC

    if data[:4] != ZIP_MAGIC:  # not a zip from its first byte (an HDF5 file with a zip appended, ...): load
        return None  # it at once, so that `geokeras.saving` refuses it before any work
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("config.json") as member:
            raw = member.read(MAX_JSON_BYTES + 1)  # never more (a decompression bomb is loaded, and refused, at once)
        if len(raw) > MAX_JSON_BYTES:
            return None
        layers = json.loads(raw)["config"]["layers"]
        for layer in layers:
            if layer.get("class_name") != "WindowStandardization":
                continue
            c = layer["config"]
            if c.get("window_length") is None or c.get("band_hz") is None or c.get("sampling_rate_range_hz") is None:
                return None
            return {"sampling_rate": float(c["sampling_rate"]), "window_length": int(c["window_length"]),
                    "band_hz": tuple(float(f) for f in c["band_hz"]),
                    "sampling_rate_range_hz": tuple(float(r) for r in c["sampling_rate_range_hz"])}
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError):
        return None
    return None


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
        from geokeras.utils import read_model_file

        data = read_model_file(real)  # hashed, and kept for `Denoiser.__reduce__`: the file is read once
        label, digest, info = label or os.path.basename(path), hashlib.sha256(data).hexdigest(), peek_info(data)
        if info is not None:  # the model is loaded at its first use (see the module docstring)
            cached = Denoiser._lazy(data, label, digest, info)
        else:  # not readable without Keras: load it now (ModelError, NotADenoiserError)
            cached = Denoiser(_load_bytes(data, path=path), label=label, sha256=digest)
            cached._data = data
        with _LOCK:
            _FILE_DENOISERS[key] = cached
    return cached
