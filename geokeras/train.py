"""Train a denoiser: the logic of ``geokeras train``.

Data. Training pairs come from `geokeras.data.pairs.PairGenerator`: a signal window (zeros before a
random shift, then a signal source) plus a real noise window scaled to a random SNR in ``snr_db`` (window
power ratio). Signal sources are, by default, the post-P parts of the bundled training-station events whose
pre/post-P SNR is at least ``min_record_snr_db`` (they still hold some noise; the cleanest are kept) plus
``n_synthetic`` synthetic seismograms (`geokeras.data.synthetic.synthetic_seismogram`); noise sources are
the pre-P parts of the same stations' events. User files (``signals=`` / ``noise=`` paths or globs) are read
with ObsPy, resampled to ``sampling_rate`` and used whole (a signal file should hold the earthquake and as
little noise as possible; a noise file only noise).

Split. Always by station: the bundled data validate on `geokeras.data.datasets.VALIDATION_STATIONS` and never
touch `geokeras.data.datasets.TEST_STATIONS` (reported by ``bench/bench_quality.py`` only); for user
files the ``NET.STA`` codes in ``validation`` (a list) or a seeded ``validation`` fraction of the stations
(a float) go to validation. The validation pairs are drawn once with a fixed seed, so ``val_loss`` is
comparable across epochs and runs.

Loss. Mean squared error on the normalized scale: each (noisy, clean) pair is divided by the standard
deviation of the demeaned noisy window before it enters the model, so every window weighs the same whatever
its amplitude in counts (`normalize_pairs`, defined once in `geokeras.data.normalize`; `normalize_pairs_tf`
is its TensorFlow twin in the ``tf.data`` pipeline). The model itself is scale-equivariant (its in-graph
standardization removes the scale and multiplies it back), so this equals the loss on the model's normalized
internal output.

Outputs. ``output`` receives the best model (lowest ``val_loss``; the last one without validation),
without optimizer state, loadable with ``safe_mode=True``. ``<output>.ckpt/`` holds the resume state
(``last.keras`` with the optimizer, ``best.keras``, ``state.json``, ``history.json``): with ``resume=True``
training continues from the last completed epoch with the pairs that epoch would have drawn in an
uninterrupted run (EarlyStopping's patience counter restarts).

Example (the training run itself is exercised in ``tests/test_train.py``):
    >>> import numpy as np
    >>> noisy, clean = normalize_pairs(np.array([[1.0, 3.0, 5.0, 7.0]]), np.array([[0.0, 2.0, 2.0, 0.0]]))
    >>> noisy.astype(float).round(3).tolist(), clean.astype(float).round(3).tolist()
    ([[-1.342, -0.447, 0.447, 1.342]], [[0.0, 0.894, 0.894, 0.0]])

Command line: ``geokeras train`` (options in `geokeras.cli.train`)::

    geokeras train -o model.keras --family stftmask --epochs 20 --threads 2
"""
import json
import os
import time
from pathlib import Path

import numpy as np

from geokeras.validation import check_positive_int
from geokeras.data.normalize import normalize_pairs  # noqa: F401 (public here too: the training normalization)
from geokeras.families import check_family
from geokeras.utils import atomic_path, set_threads



# ------------------------------------------------------------------------------------------------- data
def load_sources(paths, sampling_rate=100.0, min_length=1):
    """Read waveform files (paths, globs or directories) into 1-D arrays for training.

    Each trace is merged (gaps split it into separate segments), resampled to ``sampling_rate`` when
    its rate differs, demeaned and converted to float64; segments shorter than ``min_length`` samples
    are skipped.

    Args:
        paths: a path, glob pattern or directory, or a list of them.
        sampling_rate: target rate in Hz.
        min_length: minimum samples per segment kept.

    Returns:
        tuple ``(arrays, station_ids)``: list of 1-D float64 arrays and the ``"NET.STA"`` of each.

    Raises:
        FileNotFoundError: if a path or pattern names nothing (`geokeras.data.io.read`).
        ValueError: if a file cannot be read, or nothing usable is found.
    """
    from geokeras.data.io import read

    arrays, ids = [], []
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        for tr in read(path).split():
            tr = tr.copy()
            if abs(tr.stats.sampling_rate - sampling_rate) > 1e-6 * sampling_rate:
                tr.resample(sampling_rate)
            data = np.asarray(tr.data, dtype=np.float64)
            if data.size < min_length or not np.all(np.isfinite(data)):
                continue
            arrays.append(data - data.mean())
            ids.append(f"{tr.stats.network}.{tr.stats.station}")
    if not arrays:
        raise ValueError(
            f"Invalid value for argument `paths`. No trace of at least {min_length} finite samples in {paths!r}."
        )
    return arrays, ids


def bundled_sources(min_record_snr_db=20.0, holdout=None, val_min_record_snr_db=20.0):
    """Signal and noise sources from the bundled events, split by station; test stations are never used.

    Args:
        min_record_snr_db: keep training signals from records whose mean pre/post-P SNR is at least this.
        val_min_record_snr_db: the same for validation signals (fixed, so that the validation loss of runs
            with different training thresholds compares; every record if none passes). Validation noise
            comes from every validation record.
        holdout: ``"NET.STA"`` codes for validation (default
            `geokeras.data.datasets.VALIDATION_STATIONS`). Records at
            `geokeras.data.datasets.TEST_STATIONS` are left out of both.

    Returns:
        dict with ``train_signals``, ``train_noise``, ``val_signals``, ``val_noise`` (lists of 1-D arrays)
        and ``train_stations``, ``val_stations`` (sorted codes).
    """
    from geokeras.data import datasets, pairs

    holdout = datasets.VALIDATION_STATIONS if holdout is None else tuple(holdout)
    train, val, _ = datasets.split_records(datasets.load_events(), validation=holdout,
                                           test=set(datasets.TEST_STATIONS) - set(holdout))
    ranked = pairs.rank_records(train, component=None, min_snr_db=min_record_snr_db)
    train_signals, _ = pairs.sources_from_events([rec for rec, _ in ranked])
    _, train_noise = pairs.sources_from_events(train)
    # validation targets must be clean too, or val_loss measures the records' own noise (a floor that hides
    # progress): the same kind of threshold, fixed so that runs with different training thresholds compare
    val_ranked = pairs.rank_records(val, component=None, min_snr_db=val_min_record_snr_db)
    val_signals, _ = pairs.sources_from_events([rec for rec, _ in val_ranked] or val)
    _, val_noise = pairs.sources_from_events(val)
    return dict(
        train_signals=train_signals, train_noise=train_noise, val_signals=val_signals, val_noise=val_noise,
        train_stations=sorted({r.station_id for r in train}), val_stations=sorted({r.station_id for r in val}),
    )


def _split_by_station(arrays, ids, holdout):
    train = [a for a, i in zip(arrays, ids) if i not in holdout]
    val = [a for a, i in zip(arrays, ids) if i in holdout]
    return train, val


def file_sources(signals, noise, validation, sampling_rate, window_length, seed):
    """Read signal and noise files (`load_sources`) and split them by station into training and validation.

    Args:
        signals, noise: path/glob/directory (or a list of them) of waveform files.
        validation: None (a seeded 20 % of the stations), a float fraction of the stations, False (no
            validation) or a list of ``"NET.STA"`` codes to hold out.
        sampling_rate: Hz the records are resampled to.
        window_length: samples per window; traces shorter than a tenth of it are skipped.
        seed: seed of the random station choice.

    Returns:
        dict with ``train_signals``, ``train_noise``, ``val_signals``, ``val_noise`` (lists of arrays, the
        validation ones None when empty), ``train_stations`` and ``val_stations`` (sorted codes).

    Raises:
        ValueError: when the split leaves no training signal or noise, or held-out stations without both.
    """
    sig, sig_ids = load_sources(signals, sampling_rate, min_length=window_length // 10)
    noi, noi_ids = load_sources(noise, sampling_rate, min_length=window_length // 10)
    stations = sorted(set(sig_ids) | set(noi_ids))
    if validation is None or isinstance(validation, float):
        frac = 0.2 if validation is None else validation
        k = max(1, int(round(frac * len(stations)))) if len(stations) > 1 else 0
        holdout = set(np.random.default_rng(seed).choice(stations, size=k, replace=False).tolist()) if k else set()
    elif validation is False:
        holdout = set()
    else:
        holdout = set(validation)
    ts, vs = _split_by_station(sig, sig_ids, holdout)
    tn, vn = _split_by_station(noi, noi_ids, holdout)
    if not ts or not tn:
        raise ValueError(
            "Invalid value for argument `validation`. Holding out stations "
            f"{sorted(holdout)} leaves no training signal or noise."
        )
    if holdout and (not vs or not vn):
        raise ValueError(
            f"Invalid value for argument `validation`. The held-out stations {sorted(holdout)} need both signal "
            "and noise files; pass a list of NET.STA codes that have both, or validation=False."
        )
    return dict(
        train_signals=ts, train_noise=tn, val_signals=vs or None, val_noise=vn or None,
        train_stations=sorted(set(stations) - holdout), val_stations=sorted(holdout),
    )


def normalize_pairs_tf(noisy, clean):
    """TensorFlow version of `normalize_pairs`, for ``tf.data`` (``Dataset.map``): the same formula.

    Demean the noisy window, divide it and the clean window by the standard deviation of the demeaned noisy
    window (1 where it is 0); time on axis 1. ``tests/test_normalization.py`` pins it to
    `geokeras.data.normalize.normalize_pairs`. No Python control flow, so AutoGraph is bypassed
    (see ``_no_autograph``).

    Args:
        noisy, clean: float tensors ``(batch, L)`` or ``(batch, L, 1)``.

    Returns:
        ``(noisy_n, clean_n)`` tensors.
    """
    import tensorflow as tf

    centered = noisy - tf.reduce_mean(noisy, axis=1, keepdims=True)
    std = tf.math.reduce_std(centered, axis=1, keepdims=True)
    scale = tf.where(std > 0, std, tf.ones_like(std))
    return centered / scale, clean / scale


def _no_autograph(fn):
    """Mark ``fn`` for tf.data without AutoGraph conversion (which re-reads the source file at trace time and
    breaks a running training when the file is edited meanwhile)."""
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(fn)


# --------------------------------------------------------------------------------------------- training
def _resume_callback(ckpt_dir, monitor):
    import keras

    class _SaveState(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = None

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor)
            with atomic_path(ckpt_dir / "last.keras") as tmp:
                self.model.save(tmp)
            if value is not None and (self.best is None or value < self.best):
                self.best = float(value)
            state = {"epoch": epoch + 1, "best": self.best, "monitor": monitor}
            with atomic_path(ckpt_dir / "state.json") as tmp:
                Path(tmp).write_text(json.dumps(state))

    return _SaveState()


def _TimeLimit(seconds):
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self.t0 > seconds:
                self.model.stop_training = True

    return TimeLimit()


def _export_clean(model, output):
    """Save ``model``'s weights in a fresh, uncompiled copy (no optimizer state: a small file)."""
    # from_config, not keras.models.clone_model: Keras 3.15's clone keeps the compile state, and the saved
    # file then carried the Adam moments (1.43 MB instead of 0.53 MB for the shipped model)
    clean = model.__class__.from_config(model.get_config())
    clean.set_weights(model.get_weights())
    output = Path(output)
    with atomic_path(output) as tmp:
        clean.save(tmp)
    return clean


def train_denoiser(
    signals=None, noise=None, output="model.keras", family="unet1d", window_length=3000, sampling_rate=100.0,
    epochs=20, steps_per_epoch=100, batch_size=32, validation=None, validation_steps=20, patience=5, seed=0,
    learning_rate=1e-3, snr_db=(-10.0, 10.0), noise_only_fraction=0.05, n_synthetic=1000,
    min_record_snr_db=20.0, tensorboard_dir=None, resume=False, threads=None, verbose=1, model_kwargs=None,
    time_limit_s=None, jit_compile="auto", noise_augment=False, inband_fraction=0.0, stretch=None, shift=True,
    strategy=None, devices=None,
):
    """Train a denoiser and save the best model to ``output``.

    Args:
        signals: signal sources: None for the bundled training-station events, a path/glob/directory (or a
            list of them) of waveform files, or a list of 1-D arrays.
        noise: noise sources, same forms as ``signals`` (None only together with ``signals=None``).
        output: path of the ``.keras`` file written (best model, no optimizer state).
        family: ``"unet1d"`` or ``"stftmask"`` (`geokeras.models.denoiser.build_denoiser`).
        window_length: samples per window.
        sampling_rate: Hz; files are resampled to it; stored in the model (`denoiser_info`).
        epochs: maximum number of epochs.
        steps_per_epoch: training batches per epoch (pairs are generated on the fly).
        batch_size: pairs per batch.
        validation: station-disjoint validation: None (bundled data: ``HOLDOUT_STATIONS``; files: 20 % of the
            stations, seeded), a float fraction of stations, a list of ``"NET.STA"`` codes, a tuple
            ``(val_signals, val_noise)`` of arrays, or False (no validation; the last model is kept).
        validation_steps: validation batches (drawn once with a fixed seed).
        patience: EarlyStopping patience in epochs (restores the best weights); the learning rate is halved
            after ``patience // 3`` epochs without improvement (down to 1e-5).
        seed: seed of the pair generators, synthetic signals and Keras initialization.
        learning_rate: Adam learning rate.
        snr_db: training SNR range (dB, window power ratio).
        noise_only_fraction: fraction of noise-only training pairs (target zero).
        n_synthetic: synthetic seismograms added to the training signals.
        min_record_snr_db: bundled data only: minimum pre/post-P SNR of the records used as signals.
        tensorboard_dir: optional folder for TensorBoard logs.
        resume: continue from ``<output>.ckpt/last.keras`` when it exists.
        threads: TensorFlow intra-op threads (None: TensorFlow's default).
        verbose: Keras verbosity (1: progress bar).
        model_kwargs: extra keyword arguments for the model builder.
        time_limit_s: stop after the epoch during which this many seconds of training have passed.
        jit_compile: passed to ``model.compile`` (``"auto"``: XLA when every layer supports it).
        noise_augment: polarity flips, time reversals and sums of two noise windows
            (`geokeras.data.pairs.PairGenerator`).
        inband_fraction: fraction of training and validation pairs whose signal and noise are high-passed
            at 1 Hz (noise a band-pass cannot remove).
        stretch: ``(low, high)``: add two time-stretched copies of each training signal
            (`geokeras.data.pairs.time_stretch`); None for none.
        shift: signal start in the window (`geokeras.data.pairs.PairGenerator`'s ``shift``).
        strategy: None, ``"mirrored"`` (all local GPUs, or ``devices``) or a ``tf.distribute.Strategy``: the
            model is built and compiled in its scope (`geokeras.strategies.make_strategy`); ``batch_size`` is the
            global batch, split between the replicas.
        devices: device names for ``strategy="mirrored"``.

    Returns:
        tuple ``(model, history)``: the best model (uncompiled copy, as saved) and a dict of per-epoch lists.
    """
    set_threads(threads)
    import keras

    from geokeras.data.pairs import PairGenerator, make_pair_dataset
    from geokeras.data.synthetic import synthetic_seismogram
    from geokeras.models.denoiser import build_denoiser
    from geokeras.saving import load_model
    from geokeras.strategies import make_strategy, strategy_scope

    check_family(family)
    dist = make_strategy(strategy, devices)  # checked (and devices looked up) before any data is read
    if tensorboard_dir:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:  # Keras fails only after the first epoch
            raise ValueError("Invalid value for argument `tensorboard_dir`. TensorBoard logs need the `tensorboard` "
                             f"package (pip install tensorboard). Received tensorboard_dir={str(tensorboard_dir)!r}.")
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch), ("batch_size", batch_size)):
        check_positive_int(name, value)

    if signals is None and noise is None:
        src = bundled_sources(min_record_snr_db=min_record_snr_db,
                              holdout=validation if isinstance(validation, (list, tuple)) and validation and isinstance(validation[0], str) else None)
        if validation is False:
            src["val_signals"] = src["val_noise"] = None
    elif signals is None or noise is None:
        raise ValueError("Invalid arguments. Give both `signals` and `noise`, or neither (bundled data).")
    elif isinstance(signals, (str, os.PathLike)) or (isinstance(signals, (list, tuple)) and signals and isinstance(signals[0], (str, os.PathLike))):
        src = file_sources(signals, noise, None if isinstance(validation, tuple) else validation,
                            sampling_rate, window_length, seed)
    else:
        src = dict(train_signals=list(signals), train_noise=list(noise), val_signals=None, val_noise=None)
    if isinstance(validation, tuple) and len(validation) == 2 and not isinstance(validation[0], str):
        src["val_signals"], src["val_noise"] = list(validation[0]), list(validation[1])

    train_signals = list(src["train_signals"])
    if stretch:
        from geokeras.data.pairs import time_stretch

        train_signals += time_stretch(train_signals, stretch, copies=2, seed=seed)
    augment = dict(noise_augment=noise_augment, inband_fraction=inband_fraction, sampling_rate=sampling_rate)
    if n_synthetic:
        train_signals += list(synthetic_seismogram(window_length, sampling_rate, n=int(n_synthetic), seed=seed))

    val_data = None
    if src.get("val_signals") and src.get("val_noise"):
        gen = PairGenerator(src["val_signals"], src["val_noise"], window_length=window_length, snr_db=snr_db,
                            seed=seed + 10_000, inband_fraction=inband_fraction, sampling_rate=sampling_rate)
        noisy, clean = normalize_pairs(*gen.sample(validation_steps * batch_size))
        val_data = (noisy[..., None], clean[..., None])
    monitor = "val_loss" if val_data is not None else "loss"

    output = Path(output)
    ckpt_dir = output.with_name(output.name + ".ckpt")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    initial_epoch, best = 0, None
    with strategy_scope(dist):  # geokeras.strategies: no-op for strategy=None
        if resume and (ckpt_dir / "last.keras").is_file():
            model = load_model(ckpt_dir / "last.keras")
            state = json.loads((ckpt_dir / "state.json").read_text())
            initial_epoch, best = int(state["epoch"]), state.get("best")
        else:
            keras.utils.set_random_seed(seed)  # the initial weights follow `seed`
            model = build_denoiser(family, window_length=window_length, sampling_rate=sampling_rate,
                                   **(model_kwargs or {}))
            model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", jit_compile=jit_compile)

    keras.utils.set_random_seed(seed + initial_epoch)
    # one pair sequence for the whole run: epoch e gets batches e * steps_per_epoch on, also after a resume
    ds = make_pair_dataset(
        train_signals, src["train_noise"], window_length=window_length, batch_size=batch_size,
        seed=seed, first_batch=initial_epoch * steps_per_epoch, snr_db=snr_db, noise_only_fraction=noise_only_fraction, shift=shift, **augment,
    ).map(_no_autograph(normalize_pairs_tf))
    saver = _resume_callback(ckpt_dir, monitor)
    saver.best = best
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(ckpt_dir / "best.keras"), monitor=monitor, save_best_only=True,
                                        initial_value_threshold=best),
        saver,
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=max(1, patience // 3), min_lr=1e-5,
                                          verbose=0),
    ]
    if time_limit_s:
        callbacks.append(_TimeLimit(time_limit_s))
    if tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    t0 = time.perf_counter()
    history = {}
    if initial_epoch < epochs:
        hist = model.fit(ds, epochs=epochs, steps_per_epoch=steps_per_epoch, validation_data=val_data,
                         initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose, shuffle=False)
        history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    best_file = ckpt_dir / "best.keras"
    if best_file.is_file():
        model = load_model(best_file)
    history_file = ckpt_dir / "history.json"
    previous = json.loads(history_file.read_text()) if resume and history_file.is_file() else {}
    merged = {k: previous.get(k, []) + history.get(k, []) for k in set(previous) | set(history)}
    merged_wall = previous.get("_wall_s", [])
    history_file.write_text(json.dumps({**merged, "_wall_s": merged_wall + [time.perf_counter() - t0]}))
    return _export_clean(model, output), history
