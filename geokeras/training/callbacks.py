"""The callbacks of a training run: checkpoints for resume, early stopping, learning-rate decay, a time limit
(`time_limit`, checked after every batch) and the best weights restored (`best_weights`); the last two serve
`geokeras.training.train_denoiser` and the fine-tuning of `geokeras.adaptation` alike."""
import json
import time
from pathlib import Path

from geokeras.utils import atomic_path

__all__ = ["best_weights", "resume_callback", "time_limit", "training_callbacks"]


def resume_callback(ckpt_dir, monitor, recorded=None):
    """A callback that saves ``last.keras`` and ``state.json`` after each epoch.

    Args:
        ckpt_dir: the checkpoint folder (a ``pathlib.Path``).
        monitor: the value whose best is kept (``"val_loss"`` or ``"loss"``).
        recorded: optional dict of further entries of ``state.json`` (JSON types): the options that define the
            run's recipe but are not in the compiled loss (`geokeras.training.train_denoiser` stores its
            ``"data_options"`` and ``"run_options"`` here, and a resume compares them).

    ``state.json`` holds ``{"epoch", "best", "monitor"}`` and the ``recorded`` entries, written at once
    (atomically).
    """
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
            state = {"epoch": epoch + 1, "best": self.best, "monitor": monitor, **(recorded or {})}
            with atomic_path(ckpt_dir / "state.json") as tmp:
                Path(tmp).write_text(json.dumps(state))

    return _SaveState()


def time_limit(seconds):
    """A callback that stops training after the batch during which ``seconds`` have passed since it began.

    Keras then ends that epoch early, validates it and runs the epoch-end callbacks (checkpoints, best weights),
    so a budget is kept to one batch, whatever the epoch length. ``callback.steps`` counts the batches run.

    Example:
        >>> time_limit(60.0).seconds
        60.0
    """
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.steps, self.t0 = float(seconds), 0, None

        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if time.perf_counter() - self.t0 > self.seconds:
                self.model.stop_training = True

    return TimeLimit()


def best_weights(monitor="val_loss", baseline=None):
    """A callback that keeps (in memory) the weights of the epoch with the lowest ``monitor`` value and puts
    them back into the model when training ends.

    With ``baseline`` (the value of the starting weights, e.g. the validation loss of a model being
    fine-tuned), the starting weights compete too: when no epoch goes below ``baseline``, the model ends with
    the weights it started with. Without it, the first epoch with a value is the first best (as Keras's
    ``EarlyStopping(restore_best_weights=True)``). After training, ``callback.best`` is the lowest value,
    ``callback.best_epoch`` its epoch (1-based; 0: the starting weights) and ``callback.epochs`` the epochs run.

    Example:
        >>> cb = best_weights("val_loss", baseline=0.5)
        >>> cb.best, cb.best_epoch
        (0.5, 0)
    """
    import keras
    import numpy as np

    class BestWeights(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = np.inf if baseline is None else float(baseline)
            self.best_epoch, self.epochs, self.weights = 0, 0, None

        def on_train_begin(self, logs=None):
            if baseline is not None:
                self.weights = self.model.get_weights()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs = epoch + 1
            value = (logs or {}).get(monitor)
            if value is not None and float(value) < self.best:
                self.best, self.best_epoch, self.weights = float(value), epoch + 1, self.model.get_weights()

        def on_train_end(self, logs=None):
            if self.weights is not None:
                self.model.set_weights(self.weights)

    return BestWeights()


def training_callbacks(ckpt_dir, monitor, best, patience, time_limit_s=None, tensorboard_dir=None,
                       recorded=None):
    """The callbacks of `geokeras.training.train_denoiser`: the best model to ``best.keras``, the resume
    state (with the ``recorded`` entries, see `resume_callback`), EarlyStopping, the best weights of the run restored at its end (`best_weights`), ReduceLROnPlateau
    (halved after ``patience // 3`` epochs, down to 1e-5), and optionally a time limit (`time_limit`) and
    TensorBoard logs."""
    import keras

    saver = resume_callback(ckpt_dir, monitor, recorded)
    saver.best = best
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(ckpt_dir / "best.keras"), monitor=monitor, save_best_only=True,
                                        initial_value_threshold=best),
        saver,
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience),
        best_weights(monitor),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=max(1, patience // 3), min_lr=1e-5,
                                          verbose=0),
    ]
    if time_limit_s:
        callbacks.append(time_limit(time_limit_s))
    if tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    return callbacks
