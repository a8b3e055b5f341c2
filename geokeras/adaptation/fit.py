"""Fine-tuning a denoiser on one station's noise: the pairs of the shipped recipe, a time budget, the best epoch.

Training pairs (`geokeras.data.pairs.PairGenerator`): the bundled *training-station* events (post-P parts
of records with a pre/post-P SNR of at least 15 dB, two time-stretched copies of each) and synthetic
seismograms, mixed into the station's training noise with the shipped recipe's augmentation
(`geokeras.training.recipe.SHIPPED_AUGMENTATION`: polarity flips, time reversals, sums of two noise
windows, half the pairs high-passed at 1 Hz, SNR in [-10, 10] dB, 5 % noise-only pairs, signal starts
``-L/3 .. 2L/3``). Validation pairs: *validation-station* events (at least 20 dB) in the station's
validation noise, drawn once. The loss is the training loss of `geokeras.training.train_denoiser`.

The whole model is fine-tuned as it is, its `geokeras.layers.MaskSmoothing` floor included (the floor has
no weights: the network learns under the floor it is deployed with), so every property of the base that
comes from its graph stays: the sign symmetry of a sign-invariant model, the declared band and rates.
Training stops after the batch during which the time budget runs out; the weights of the epoch with the
lowest validation loss are kept, and the base's own weights when no epoch beats the base.
"""
import time

import numpy as np

from geokeras.training.recipe import SHIPPED_AUGMENTATION, recipe_shift

__all__ = ["adaptation_signals", "fine_tune", "pair_options"]

BUNDLED_RATE = 100.0
"""Sampling rate (Hz) of the bundled events."""


def pair_options(window_length, sampling_rate):
    """The `PairGenerator` options of the shipped recipe for a window (shift, SNR, augmentation)."""
    aug = SHIPPED_AUGMENTATION
    return dict(snr_db=aug["snr_db"], shift=recipe_shift(window_length), noise_augment=aug["noise_augment"],
                inband_fraction=aug["inband_fraction"], sampling_rate=sampling_rate)


def _at_rate(signals, sampling_rate):
    if abs(sampling_rate - BUNDLED_RATE) < 1e-6:
        return list(signals)
    from scipy.signal import resample

    return [resample(s, max(2, int(round(s.size * sampling_rate / BUNDLED_RATE)))) for s in signals]


def adaptation_signals(window_length, sampling_rate, n_synthetic=1000, seed=0):
    """``(train_signals, val_signals, sources)``: training-station events (with stretched copies) and
    synthetics; validation-station events; the `geokeras.training.sources.bundled_sources` dict."""
    from geokeras.training.sources import bundled_sources, training_signals

    src = bundled_sources(min_record_snr_db=15.0)
    train = training_signals(_at_rate(src["train_signals"], sampling_rate), SHIPPED_AUGMENTATION["stretch"],
                             n_synthetic, window_length, sampling_rate, seed)
    return train, _at_rate(src["val_signals"], sampling_rate), src


def _budget_callback(seconds, base_loss, log):
    import keras

    class BestWithinBudget(keras.callbacks.Callback):
        """Stop after the batch that runs out of time; keep the weights of the best validation loss."""

        def on_train_begin(self, logs=None):
            self.t0, self.best, self.best_epoch = time.perf_counter(), base_loss, 0
            self.weights, self.steps, self.epochs = self.model.get_weights(), 0, 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if time.perf_counter() - self.t0 > seconds:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            self.epochs = epoch + 1
            val = float((logs or {}).get("val_loss", np.inf))
            if val < self.best:
                self.best, self.best_epoch, self.weights = val, epoch + 1, self.model.get_weights()
            if log:
                log(f"epoch {epoch + 1}: loss {float(logs.get('loss', np.nan)):.4f}, val_loss {val:.4f} "
                    f"(base {base_loss:.4f}, best {self.best:.4f}), {time.perf_counter() - self.t0:.0f} s")

        def on_train_end(self, logs=None):
            self.model.set_weights(self.weights)

    return BestWithinBudget()


def fine_tune(model, signals, noise, val_signals, val_noise, seconds, window_length, sampling_rate, seed=0,
              learning_rate=3e-4, batch_size=32, steps_per_epoch=50, max_epochs=None, val_pairs=256, log=None,
              jit_compile="auto"):
    """Fine-tune ``model`` in place on pairs of ``signals`` in ``noise``; return a summary dict.

    Args:
        model: the denoiser to train (its weights change; compile state replaced).
        signals, noise: training signal and noise arrays (1-D, at ``sampling_rate``).
        val_signals, val_noise: validation arrays (pairs drawn once, seed ``seed + 10_000``).
        seconds: time budget of the training loop.
        window_length, sampling_rate: the model's.
        seed: seed of the pairs and of Keras.
        learning_rate: Adam learning rate (the shipped run ended at 6e-5 from 1e-3).
        batch_size, steps_per_epoch: batches of the loop; an epoch ends with a validation.
        max_epochs: stop after this many epochs (None: the budget alone).
        val_pairs: validation pairs.
        log: optional callable taking one line per epoch.
        jit_compile: passed to ``model.compile``.

    Returns:
        dict ``{"base_val_loss", "best_val_loss", "best_epoch", "epochs", "steps", "train_s"}``
        (``best_epoch`` 0: no epoch beat the base, its weights are kept).
    """
    import keras

    from geokeras.data.normalize import normalize_pairs
    from geokeras.data.pairs import PairGenerator, make_pair_dataset
    from geokeras.training.train import _no_autograph, normalize_pairs_tf

    opts = pair_options(window_length, sampling_rate)
    keras.utils.set_random_seed(seed)
    ds = make_pair_dataset(signals, noise, window_length=window_length, batch_size=batch_size, seed=seed,
                           noise_only_fraction=SHIPPED_AUGMENTATION["noise_only_fraction"], **opts)
    ds = ds.map(_no_autograph(normalize_pairs_tf))
    opts.pop("noise_augment")
    gen = PairGenerator(val_signals, val_noise, window_length=window_length, seed=seed + 10_000, **opts)
    xv, yv = (a[..., None] for a in normalize_pairs(*gen.sample(val_pairs)))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", jit_compile=jit_compile)
    base_loss = float(model.evaluate(xv, yv, batch_size=64, verbose=0))
    callback = _budget_callback(seconds, base_loss, log)
    t0 = time.perf_counter()
    model.fit(ds, epochs=int(max_epochs or 10 ** 6), steps_per_epoch=steps_per_epoch, validation_data=(xv, yv),
              validation_batch_size=64, callbacks=[callback], verbose=0, shuffle=False)
    return {"base_val_loss": base_loss, "best_val_loss": float(callback.best), "best_epoch": callback.best_epoch,
            "epochs": callback.epochs, "steps": callback.steps, "train_s": time.perf_counter() - t0}
