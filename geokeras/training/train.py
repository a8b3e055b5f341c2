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
uninterrupted run (EarlyStopping's patience counter restarts). A resume keeps the recipe: the loss is the one
compiled into ``last.keras``, and the options that shape the pairs and the target but are not in it
(`DATA_OPTIONS`: ``target_floor``, ``noise_burst_fraction``, ``snr_db``, ...) and those that define the run
(`RUN_OPTIONS`: ``seed``, ``batch_size``, ``learning_rate``, ``model_kwargs``, the sources, ...) are stored in
``state.json`` (``"data_options"``, ``"run_options"``); other values than the checkpoint's raise ValueError.
A run that does not resume (``resume=False``, or no ``last.keras`` to resume) removes the checkpoint files of
an earlier run first (`CHECKPOINT_FILES`), so none of them (an old ``best.keras`` above all) leaks into it.

Example (the training run itself is exercised in ``tests/test_train.py``):
    >>> import numpy as np
    >>> noisy, clean = normalize_pairs(np.array([[1.0, 3.0, 5.0, 7.0]]), np.array([[0.0, 2.0, 2.0, 0.0]]))
    >>> noisy.astype(float).round(3).tolist(), clean.astype(float).round(3).tolist()
    ([[-1.342, -0.447, 0.447, 1.342]], [[0.0, 0.894, 0.894, 0.0]])

Command line: ``geokeras train`` (options in `geokeras.cli.train`); its defaults are the shipped model's
recipe (`geokeras.training.recipe`), this function's are small and generic::

    geokeras train -o model.keras --threads 2
"""
import hashlib
import json
import os
import re
import time
from pathlib import Path

from geokeras.data.normalize import normalize_pairs  # noqa: F401 (public here too: the training normalization)
from geokeras.training.callbacks import training_callbacks
from geokeras.training.families import check_family
from geokeras.training.sources import describe_sources, training_signals, training_sources
from geokeras.utils import atomic_path, set_threads
from geokeras.validation import check_nonnegative_int, check_number, check_positive_int

__all__ = ["train_denoiser", "normalize_pairs", "normalize_pairs_tf", "validation_pairs", "pair_dataset", "fit",
           "DATA_OPTIONS", "RUN_OPTIONS", "CHECKPOINT_FILES", "checkpoint_dir"]

DATA_OPTIONS = ("target_floor", "noise_burst_fraction", "noise_only_fraction", "snr_db", "noise_augment",
                "inband_fraction", "stretch", "shift", "n_synthetic", "min_record_snr_db", "noise_surrogate_fraction",
                "horizontal_rotations")
"""The options of `train_denoiser` that define its recipe without being in the compiled loss: which signals
(``n_synthetic``, ``min_record_snr_db``, ``stretch``, ``horizontal_rotations``), which pairs (``snr_db``, ``noise_only_fraction``,
``noise_augment``, ``inband_fraction``, ``shift``, ``noise_burst_fraction``, ``noise_surrogate_fraction``) and which
target (``target_floor``).
Stored in the checkpoint's ``state.json``; a resume with other values is refused."""

RUN_OPTIONS = ("family", "window_length", "sampling_rate", "model_kwargs", "seed", "learning_rate", "batch_size",
               "steps_per_epoch", "signals", "noise", "validation", "validation_steps")
"""The options of `train_denoiser` that define the run besides its loss and `DATA_OPTIONS`: the network
(``family``, ``window_length``, ``sampling_rate``, ``model_kwargs``: a resume loads it from the checkpoint and
would ignore them), its optimization (``seed``, ``learning_rate``, ``batch_size``, ``steps_per_epoch``) and its
sources and validation (``signals``, ``noise``: the paths or globs as given, None for the bundled data, arrays as
a digest; ``validation``, ``validation_steps``). Stored in the checkpoint's ``state.json`` (``"run_options"``); a
resume with other values is refused. The others may change on a resume: ``epochs``, ``patience``,
``time_limit_s``, ``threads``, ``verbose``, ``tensorboard_dir``, ``log``, ``jit_compile``, ``strategy``,
``devices``."""

CHECKPOINT_FILES = ("last.keras", "best.keras", "state.json", "history.json")
"""The files of a run in its checkpoint folder (`checkpoint_dir`); a run that does not resume removes them
first."""


def checkpoint_dir(output):
    """The checkpoint folder of a run that writes ``output``: ``<output>.ckpt`` (a ``pathlib.Path``).

    Example:
        >>> checkpoint_dir("runs/m.keras").as_posix()
        'runs/m.keras.ckpt'
    """
    return Path(output).with_name(Path(output).name + ".ckpt")


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
    strategy=None, devices=None, log=None, stationarity_weight=0.0, noise_burst_fraction=0.0, gain_weight=0.0,
    target_floor=0.0, log_power_weight=0.0, noise_surrogate_fraction=0.0, horizontal_rotations=0,
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
        validation: station-disjoint validation: None (bundled data: `geokeras.data.datasets.VALIDATION_STATIONS`;
            files: 20 % of the stations, seeded), a float fraction of stations, a list of ``"NET.STA"`` codes, a tuple
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
        resume: continue from ``<output>.ckpt/last.keras`` when it exists, with the checkpoint's recipe: other
            ``stationarity_weight``, ``gain_weight`` or ``log_power_weight`` values than its compiled loss's, or
            other values of the `DATA_OPTIONS` or `RUN_OPTIONS` than its ``state.json`` records, raise
            ValueError before any data is read. A checkpoint written before these options were recorded (or one
            that lacks some) resumes with any (unknown, so accepted) and records those of the resumed run from its
            next epoch on. ``epochs``, ``patience``, ``time_limit_s``, ``threads``, ``verbose``,
            ``tensorboard_dir``, ``log``, ``jit_compile``, ``strategy`` and ``devices`` may change on a resume.
            Without a resume (False, or no ``last.keras``), the `CHECKPOINT_FILES` of an earlier run in
            ``<output>.ckpt/`` are removed once the sources are read, before training: the run starts anew.
        threads: TensorFlow intra-op threads (None: TensorFlow's default).
        verbose: Keras verbosity (1: progress bar).
        model_kwargs: extra keyword arguments for the model builder.
        time_limit_s: stop after the batch during which this many seconds of training have passed
            (`geokeras.training.callbacks.time_limit`); that last epoch is shorter, validated and checkpointed
            (a resume goes on with the next epoch's pairs).
        jit_compile: passed to ``model.compile`` (``"auto"``: XLA when every layer supports it).
        noise_augment: polarity flips, time reversals and sums of two noise windows
            (`geokeras.data.pairs.PairGenerator`).
        inband_fraction: fraction of training and validation pairs whose signal and noise are high-passed
            at 1 Hz (noise a band-pass cannot remove).
        stretch: ``(low, high)``: add two time-stretched copies of each training signal
            (`geokeras.data.pairs.time_stretch`); None for none.
        shift: signal start in the window (`geokeras.data.pairs.PairGenerator`'s ``shift``).
        strategy, devices: None, ``"mirrored"`` (all local GPUs, or the device names ``devices``) or a
            ``tf.distribute.Strategy`` (`geokeras.training.strategies.make_strategy`); ``batch_size`` is global.
        log: optional callable taking one string: it receives the records and stations of the run
            (`geokeras.training.sources.describe_sources`) before training (``geokeras train`` prints them).
        stationarity_weight: 0 (default) trains on the mean squared error; above 0, on
            `geokeras.training.losses.NoiseStationarityMSE` with this weight (a penalty on bursty output in
            the noise-only pairs; see ``noise_only_fraction``).
        noise_burst_fraction: fraction of training noise windows that get a noise burst (a tapered piece of
            other noise 0-12 dB above the window's RMS; `geokeras.data.pairs.PairGenerator`): the network
            learns not to pass noise transients. 0 (default): none.
        gain_weight: above 0, the loss (`NoiseStationarityMSE`) also charges ``gain_weight * (1 - g)**2`` per pair
            with a signal, ``g`` the output's least-squares gain along the clean signal (weak events kept
            whole). 0 (default): none.
        target_floor: the training target keeps this fraction of the noise: ``clean + target_floor * noise``
            (training and validation pairs; 0, default: the clean signal). For a network with the same floor in
            its graph (``model_kwargs={"mask_floor": ...}``) it is what the ideal mask gives.
        log_power_weight: above 0, the loss is `geokeras.training.losses.BlockLogPowerMSE` with this weight (the
            squared error of the output's log power in 0.5-s blocks, as a detector's short-term average sees it);
            not together with ``stationarity_weight`` or ``gain_weight``.
        noise_surrogate_fraction: fraction of training noise windows replaced by a Fourier surrogate of
            themselves (`geokeras.data.pairs.phase_randomize`: new noise with the same spectrum); the validation
            pairs keep their real noise. 0 (default): none.
        horizontal_rotations: bundled data only: each training record's two horizontal components also give
            this many rotations to random azimuths, as more signal and noise sources
            (`geokeras.data.pairs.rotated_horizontals`; drawn with ``seed``); validation keeps the records as
            they are. 0 (default): none.

    Returns:
        tuple ``(model, history)``: the best model (uncompiled copy, as saved) and a dict of per-epoch lists.
    """
    given = locals()  # the arguments, before any other name is bound: the recorded options are read from them
    set_threads(threads)
    dist = _check_arguments(family, strategy, devices, tensorboard_dir, epochs, steps_per_epoch, batch_size)
    _check_weights(stationarity_weight, gain_weight, noise_burst_fraction, target_floor, log_power_weight)
    check_number("noise_surrogate_fraction", noise_surrogate_fraction, low=0.0, high=1.0)
    check_nonnegative_int("horizontal_rotations", horizontal_rotations)
    data_options = _recorded_options({name: given[name] for name in DATA_OPTIONS})
    run_options = _recorded_options({name: given[name] for name in RUN_OPTIONS})
    ckpt_dir = checkpoint_dir(output)
    resuming = bool(resume) and (ckpt_dir / "last.keras").is_file()  # without a checkpoint, the run starts anew
    if resuming:  # before any data is read
        _check_resumed_options(ckpt_dir, data_options, run_options)
    src = training_sources(signals, noise, validation, sampling_rate, window_length, seed, min_record_snr_db,
                           horizontal_rotations)
    if log is not None:
        log(describe_sources(src))
    train_signals = training_signals(src["train_signals"], stretch, n_synthetic, window_length, sampling_rate, seed)
    augment = dict(noise_augment=noise_augment, inband_fraction=inband_fraction, sampling_rate=sampling_rate,
                   noise_burst_fraction=noise_burst_fraction, noise_surrogate_fraction=noise_surrogate_fraction)
    val_data = _validation_data(src, window_length, snr_db, seed, validation_steps * batch_size, inband_fraction,
                                sampling_rate, noise_burst_fraction)
    if val_data is not None and target_floor:
        val_data = _floored_target(*val_data, target_floor)
    monitor = "val_loss" if val_data is not None else "loss"

    if not resuming:
        _remove_checkpoint(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    model, initial_epoch, best = _model(dist, ckpt_dir, resuming, seed, family, window_length, sampling_rate,
                                        model_kwargs, learning_rate, jit_compile, stationarity_weight, gain_weight,
                                        log_power_weight)
    ds = pair_dataset(train_signals, src["train_noise"], window_length, batch_size, seed,
                      first_batch=initial_epoch * steps_per_epoch, initial_epoch=initial_epoch, snr_db=snr_db,
                      noise_only_fraction=noise_only_fraction, shift=shift, **augment)
    if target_floor:
        ds = ds.map(lambda noisy, clean: _floored_target(noisy, clean, target_floor))
    callbacks = training_callbacks(ckpt_dir, monitor, best, patience, time_limit_s, tensorboard_dir,
                                   {"data_options": data_options, "run_options": run_options})
    t0 = time.perf_counter()
    history = {} if initial_epoch >= epochs else fit(
        model, ds, epochs=epochs, steps_per_epoch=steps_per_epoch, validation_data=val_data,
        initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose, shuffle=False)
    model = _best_model(ckpt_dir, model)
    _save_history(ckpt_dir / "history.json", history, resuming, time.perf_counter() - t0)
    return _export_clean(model, output), history


def _floored_target(noisy, clean, floor):
    """``(noisy, clean + floor * noise)``: the pair with a target that keeps ``floor`` of its noise (arrays or
    tensors alike)."""
    return noisy, clean + float(floor) * (noisy - clean)


def _remove_checkpoint(ckpt_dir):
    """Remove the `CHECKPOINT_FILES` of an earlier run from ``ckpt_dir`` (other files and the folder stay)."""
    for name in CHECKPOINT_FILES:
        (ckpt_dir / name).unlink(missing_ok=True)


def _best_model(ckpt_dir, model):
    """The best model of the run (``best.keras``, saved by the checkpoint callback), else ``model``. A run that
    does not resume has removed the earlier run's ``best.keras`` first (`_remove_checkpoint`)."""
    from geokeras.saving import load_model

    best_file = ckpt_dir / "best.keras"
    return load_model(best_file) if best_file.is_file() else model


def _check_arguments(family, strategy, devices, tensorboard_dir, epochs, steps_per_epoch, batch_size):
    """Check what can be checked before any data is read; return the ``tf.distribute`` strategy (or None)."""
    from geokeras.training.strategies import make_strategy

    check_family(family)
    dist = make_strategy(strategy, devices)  # checked (and devices looked up) before any data is read
    if tensorboard_dir:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:  # Keras fails only after the first epoch
            raise ValueError("Invalid value for argument `tensorboard_dir`. TensorBoard logs need the `tensorboard` "
                             f"package (pip install tensorboard). Received tensorboard_dir={str(tensorboard_dir)!r}.")
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch), ("batch_size", batch_size)):
        check_positive_int(name, value)
    return dist


def _check_weights(stationarity_weight, gain_weight, noise_burst_fraction, target_floor=0.0, log_power_weight=0.0):
    """Check the loss weights, the burst fraction and the target floor before any data is read (the losses and
    `geokeras.data.pairs.PairGenerator` check them again where they are used)."""
    check_number("stationarity_weight", stationarity_weight, low=0.0)
    check_number("gain_weight", gain_weight, low=0.0)
    check_number("noise_burst_fraction", noise_burst_fraction, low=0.0, high=1.0)
    check_number("target_floor", target_floor, low=0.0, high=1.0, high_open=True)
    check_number("log_power_weight", log_power_weight, low=0.0)
    if log_power_weight and (stationarity_weight or gain_weight):
        raise ValueError("Invalid arguments. `log_power_weight` is a loss of its own (BlockLogPowerMSE), not a term "
                         "of NoiseStationarityMSE. Received log_power_weight="
                         f"{log_power_weight!r} with stationarity_weight={stationarity_weight!r}, "
                         f"gain_weight={gain_weight!r}.")


def _validation_data(src, window_length, snr_db, seed, n_pairs, inband_fraction, sampling_rate,
                     noise_burst_fraction=0.0):
    """The run's validation pairs (`validation_pairs` of the validation sources), or None without them. Noise
    bursts are drawn into them as into the training pairs: the best epoch is the best at the task trained."""
    if not (src.get("val_signals") and src.get("val_noise")):
        return None
    bursts = {"noise_burst_fraction": noise_burst_fraction} if noise_burst_fraction else {}
    return validation_pairs(src["val_signals"], src["val_noise"], window_length, n_pairs, seed, snr_db=snr_db,
                            inband_fraction=inband_fraction, sampling_rate=sampling_rate, **bursts)


def validation_pairs(signals, noise, window_length, n_pairs, seed, **pair_options):
    """Validation pairs drawn once: ``(noisy, clean)`` float32 arrays ``(n_pairs, window_length, 1)``, normalized.

    A `geokeras.data.pairs.PairGenerator` of ``signals`` in ``noise`` seeded with ``seed + 10_000`` (never the
    training pairs' seed), normalized with `normalize_pairs`: the same pairs for every epoch and every run with
    that seed, so validation losses compare. `train_denoiser` and the fine-tuning of `geokeras.adaptation` use it.

    Args:
        signals, noise: lists of 1-D arrays.
        window_length: samples per window.
        n_pairs: number of pairs.
        seed: the run's seed.
        **pair_options: further `PairGenerator` options (``snr_db``, ``inband_fraction``, ``shift``, ...).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = validation_pairs([rng.normal(size=300)], [rng.normal(size=500)], 100, 4, seed=0)
        >>> x.shape, y.shape, bool(np.allclose(x.std(axis=1), 1.0))
        ((4, 100, 1), (4, 100, 1), True)
    """
    from geokeras.data.pairs import PairGenerator

    gen = PairGenerator(signals, noise, window_length=window_length, seed=seed + 10_000, **pair_options)
    noisy, clean = normalize_pairs(*gen.sample(n_pairs))
    return noisy[..., None], clean[..., None]


def _model(dist, ckpt_dir, resume, seed, family, window_length, sampling_rate, model_kwargs, learning_rate,
           jit_compile, stationarity_weight=0.0, gain_weight=0.0, log_power_weight=0.0):
    """``(compiled model, initial epoch, best monitored value)``: resumed from ``last.keras`` (its loss checked
    against the weights) or built anew, in the strategy's scope."""
    import keras

    from geokeras.models.denoiser import build_denoiser
    from geokeras.saving import load_model
    from geokeras.training.losses import BlockLogPowerMSE, NoiseStationarityMSE  # registered before a load
    from geokeras.training.strategies import strategy_scope

    if log_power_weight:
        loss = BlockLogPowerMSE(log_power_weight)
    elif stationarity_weight or gain_weight:
        loss = NoiseStationarityMSE(stationarity_weight, gain_weight=gain_weight)
    else:
        loss = "mse"
    initial_epoch, best = 0, None
    with strategy_scope(dist):  # no-op for strategy=None
        if resume and (ckpt_dir / "last.keras").is_file():
            model = load_model(ckpt_dir / "last.keras")
            _check_resumed_loss(model.loss, stationarity_weight, gain_weight, ckpt_dir, log_power_weight)
            state = _resume_state(ckpt_dir)
            initial_epoch, best = int(state["epoch"]), state.get("best")
        else:
            keras.utils.set_random_seed(seed)  # the initial weights follow `seed`
            model = build_denoiser(family, window_length=window_length, sampling_rate=sampling_rate,
                                   **(model_kwargs or {}))
            model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, jit_compile=jit_compile)
    return model, initial_epoch, best


def _check_resumed_loss(loss, stationarity_weight, gain_weight, ckpt_dir, log_power_weight=0.0):
    """Raise if a resumed checkpoint was compiled with other loss weights than those asked for now.

    A resume continues the checkpoint's compiled loss; silently keeping it while the caller asked for other
    ``stationarity_weight`` / ``gain_weight`` / ``log_power_weight`` values would train a different recipe than
    the one reported.
    """
    had = tuple(float(getattr(loss, name, 0.0)) for name in ("weight", "gain_weight", "log_power_weight"))
    asked = (float(stationarity_weight), float(gain_weight), float(log_power_weight))
    if had != asked:
        raise ValueError(
            f"Invalid value for argument `resume`. Expected the loss weights of the checkpoint being resumed "
            f"({ckpt_dir}: stationarity_weight={had[0]:g}, gain_weight={had[1]:g}, log_power_weight={had[2]:g}). "
            f"Received stationarity_weight={asked[0]:g}, gain_weight={asked[1]:g}, log_power_weight={asked[2]:g} "
            "with resume=True; start a new output (or remove the checkpoint folder) to train with other weights.")


def _recorded_options(options):
    """The options ``{name: value}`` as stored in ``state.json``, so that the values given compare equal to those
    read back: JSON types (tuples as lists, NumPy scalars as numbers, paths as strings), a list of arrays or a
    2-D array (``signals``/``noise`` given as arrays, the two lists of a ``validation`` tuple) as one digest
    string (`_arrays_digest`), ``model_kwargs=None`` as ``{}`` (the same builder options); anything else as its
    ``repr`` without a memory address (``<function f at 0x7f...>`` is recorded as ``<function f>``, so that the same
    object given again in another process compares equal).

    Example:
        >>> def relu(x):
        ...     return x
        >>> _recorded_options({"snr_db": (-10, 10), "model_kwargs": {"activation": relu}})
        {'snr_db': [-10, 10], 'model_kwargs': {'activation': '<function relu>'}}
    """
    def plain(value):
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            if value and all(hasattr(v, "__array__") and getattr(v, "ndim", 0) >= 1 for v in value):
                return _arrays_digest(value)
            return [plain(v) for v in value]
        if getattr(value, "ndim", 0) >= 2:  # sources given as one 2-D array: its rows
            return _arrays_digest(list(value))
        if hasattr(value, "tolist"):  # NumPy scalars and 1-D arrays (an SNR range)
            return value.tolist()
        return value

    options = dict(options)
    if "model_kwargs" in options:
        options["model_kwargs"] = options["model_kwargs"] or {}
    return json.loads(json.dumps(plain(options), default=lambda v: re.sub(r" at 0x[0-9a-fA-F]+", "", repr(v))))


def _arrays_digest(arrays):
    """``"<n> arrays, sha256 <16 hex digits>"``: the count and a digest of the float64 values and the lengths of
    ``arrays``, what ``state.json`` records of sources given as arrays (equal arrays, equal record).

    Example:
        >>> import numpy as np
        >>> _arrays_digest([np.zeros(3)]) == _arrays_digest([np.zeros(3, dtype="float32")])
        True
        >>> _arrays_digest([np.zeros(3)]) == _arrays_digest([np.zeros(2), np.zeros(1)])
        False
    """
    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        values = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(np.int64(values.size).tobytes())
        digest.update(values.tobytes())
    return f"{len(arrays)} arrays, sha256 {digest.hexdigest()[:16]}"


def _resume_state(ckpt_dir):
    """The ``state.json`` of a checkpoint with a ``last.keras``; a ValueError naming the folder when it is missing
    or unreadable (a run stopped between writing its first ``last.keras`` and its ``state.json``: both are
    written atomically, one after the other), instead of a bare FileNotFoundError or JSONDecodeError."""
    path = ckpt_dir / "state.json"
    try:
        state = json.loads(path.read_text())
        int(state["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"Invalid value for argument `resume`. Expected a checkpoint with its state ({path}). Received "
            f"{ckpt_dir} with last.keras but {'no' if not path.exists() else 'an unreadable'} state.json "
            f"({type(exc).__name__}): remove the checkpoint folder to start anew.") from None
    return state


def _check_resumed_options(ckpt_dir, data_options, run_options):
    """Raise if the checkpoint a resume continues (it has a ``last.keras``) records other `DATA_OPTIONS` or
    `RUN_OPTIONS` in its ``state.json`` than those given (from `_recorded_options`).

    These options are not in the compiled loss: without this check a resume with another ``target_floor``,
    ``seed``, ``batch_size``, ... would silently train another recipe than the checkpoint's. The message names
    every option that differs, with the recorded and the given value. A checkpoint written before they were
    stored (no ``"data_options"`` or ``"run_options"``), or one that lacks an option, leaves it unknown: accepted.
    """
    state = _resume_state(ckpt_dir)
    kinds, had, given = [], [], []
    for kind, key, asked in (("data options", "data_options", data_options),
                             ("run options", "run_options", run_options)):
        recorded = state.get(key) or {}
        differ = [name for name in asked if name in recorded and recorded[name] != asked[name]]
        if differ:
            kinds.append(kind)
            had += [f"{name}={recorded[name]!r}" for name in differ]
            given += [f"{name}={asked[name]!r}" for name in differ]
    if kinds:
        raise ValueError(
            f"Invalid value for argument `resume`. Expected the {' and '.join(kinds)} of the checkpoint being "
            f"resumed ({ckpt_dir}: {', '.join(had)}). Received {', '.join(given)} with resume=True; start a new "
            "output (or remove the checkpoint folder) to train with other options.")


def pair_dataset(signals, noise, window_length, batch_size, seed, first_batch=0, initial_epoch=0, **pair_options):
    """The ``tf.data`` pipeline of normalized training pairs (`geokeras.data.pairs.make_pair_dataset`, then
    `normalize_pairs_tf`), endless, one pair sequence per seed: batch ``i`` is the same whichever batch the
    pipeline starts at (``first_batch``, e.g. ``epoch * steps_per_epoch`` after a resume). Keras's random
    seed is set to ``seed + initial_epoch`` first. `train_denoiser` and `geokeras.adaptation` use it.

    Args:
        signals, noise: lists of 1-D arrays.
        window_length, batch_size: of the pairs.
        seed: seed of the pair sequence.
        first_batch: index of the first batch drawn.
        initial_epoch: the epoch a resumed run starts at (for Keras's seed).
        **pair_options: further `PairGenerator` options (``snr_db``, ``noise_only_fraction``, ``shift``,
            ``noise_augment``, ...).

    Returns:
        a ``tf.data.Dataset`` of ``(noisy, clean)`` batches ``(batch_size, window_length, 1)``.
    """
    import keras

    from geokeras.data.pairs import make_pair_dataset

    keras.utils.set_random_seed(seed + initial_epoch)
    return make_pair_dataset(signals, noise, window_length=window_length, batch_size=batch_size, seed=seed,
                             first_batch=first_batch, **pair_options).map(_no_autograph(normalize_pairs_tf))


def fit(model, ds, **kwargs):
    """``model.fit(ds, **kwargs)`` (a compiled model, pairs from `pair_dataset`); return its history as a dict
    of per-epoch float lists. Budget and best weights come with the callbacks (`geokeras.training.callbacks`:
    `time_limit`, `best_weights`)."""
    hist = model.fit(ds, **kwargs)
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def _save_history(history_file, history, resume, wall_s):
    """Write ``history.json``: this run's per-epoch lists after the earlier runs' (with ``resume``), and the
    wall time of each run (``_wall_s``)."""
    previous = json.loads(history_file.read_text()) if resume and history_file.is_file() else {}
    merged = {k: previous.get(k, []) + history.get(k, []) for k in set(previous) | set(history)}
    history_file.write_text(json.dumps({**merged, "_wall_s": previous.get("_wall_s", []) + [wall_s]}))
