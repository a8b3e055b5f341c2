"""The callbacks of a training run: checkpoints for resume, early stopping, learning-rate decay, time limit."""
import json
import time
from pathlib import Path

from geokeras.utils import atomic_path

__all__ = ["resume_callback", "time_limit", "training_callbacks"]


def resume_callback(ckpt_dir, monitor):
    """A callback that saves ``last.keras`` and ``state.json`` (epoch, best ``monitor`` value) after each epoch."""
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


def time_limit(seconds):
    """A callback that stops training after the epoch during which ``seconds`` have passed."""
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self.t0 > seconds:
                self.model.stop_training = True

    return TimeLimit()


def training_callbacks(ckpt_dir, monitor, best, patience, time_limit_s=None, tensorboard_dir=None):
    """The callbacks of `geokeras.training.train_denoiser`: the best model to ``best.keras``, the resume
    state, EarlyStopping (best weights restored), ReduceLROnPlateau (halved after ``patience // 3`` epochs,
    down to 1e-5), and optionally a time limit and TensorBoard logs."""
    import keras

    saver = resume_callback(ckpt_dir, monitor)
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
        callbacks.append(time_limit(time_limit_s))
    if tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    return callbacks
