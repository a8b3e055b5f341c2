"""Fine-tuning a denoiser on one station's noise: the pairs of the shipped recipe, a time budget, the best epoch.

Training pairs (`geokeras.data.pairs.PairGenerator`): the bundled *training-station* events (post-P parts
of records with a pre/post-P SNR of at least 15 dB, two time-stretched copies of each) and synthetic
seismograms, mixed into the station's training noise with the shipped recipe's augmentation
(`geokeras.training.recipe.SHIPPED_AUGMENTATION`: polarity flips, time reversals, sums of two noise
windows, half the pairs high-passed at 1 Hz, SNR in [-10, 10] dB, 5 % noise-only pairs, signal starts
``-L/3 .. 2L/3``); with ``general_noise`` (`mixed_noise`), that share of the noise draws comes from the
bundled training-station noise instead, against overfitting a few hours of one station. Validation pairs:
*validation-station* events (at least 20 dB) in the station's validation noise, drawn once. The loss is
the training loss of `geokeras.training.train_denoiser`.

The whole model is fine-tuned as it is, its `geokeras.layers.MaskSmoothing` floor included (the floor has
no weights: the network learns under the floor it is deployed with), so every property of the base that
comes from its graph stays: the sign symmetry of a sign-invariant model, the declared band and rates.
The steps are `geokeras.training`'s (`geokeras.training.train.pair_dataset`, `validation_pairs`, `fit`; the
callbacks `geokeras.training.callbacks.time_limit` and `best_weights`): training stops after the batch during
which the time budget runs out; the weights of the epoch with the lowest validation loss are kept, and the
base's own weights when no epoch beats the base.
"""
import time

import numpy as np

from geokeras.training.recipe import SHIPPED_AUGMENTATION, recipe_shift

__all__ = ["adaptation_signals", "at_rate", "fine_tune", "mixed_noise", "pair_options"]

BUNDLED_RATE = 100.0
"""Sampling rate (Hz) of the bundled events."""


def pair_options(window_length, sampling_rate):
    """The `PairGenerator` options of the shipped recipe for a window (shift, SNR, augmentation)."""
    aug = SHIPPED_AUGMENTATION
    return dict(snr_db=aug["snr_db"], shift=recipe_shift(window_length), noise_augment=aug["noise_augment"],
                inband_fraction=aug["inband_fraction"], sampling_rate=sampling_rate)


def at_rate(arrays, sampling_rate, native_rate=BUNDLED_RATE):
    """1-D ``arrays`` sampled at ``native_rate`` (default: the bundled events') resampled to ``sampling_rate``.

    The project's resampling path (`geokeras.data.process.resample_ratio` and ``scipy.signal.resample_poly``,
    as `geokeras.denoise` does); the arrays themselves when the rates are equal.

    Example:
        >>> import numpy as np
        >>> [x.size for x in at_rate([np.ones(100), np.ones(7)], 40.0)]
        [40, 3]
    """
    if abs(sampling_rate - native_rate) < 1e-6 * native_rate:
        return list(arrays)
    from scipy.signal import resample_poly

    from geokeras.data.process import resample_ratio

    up, down = resample_ratio(native_rate, sampling_rate)
    return [resample_poly(np.asarray(x, dtype=np.float64), up, down) for x in arrays]


def adaptation_signals(window_length, sampling_rate, n_synthetic=1000, seed=0):
    """``(train_signals, val_signals, sources)``: training-station events (with stretched copies) and
    synthetics; validation-station events; the `geokeras.training.sources.bundled_sources` dict."""
    from geokeras.training.sources import bundled_sources, training_signals

    src = bundled_sources(min_record_snr_db=15.0)
    train = training_signals(at_rate(src["train_signals"], sampling_rate), SHIPPED_AUGMENTATION["stretch"],
                             n_synthetic, window_length, sampling_rate, seed)
    return train, at_rate(src["val_signals"], sampling_rate), src


def mixed_noise(noise, general, fraction, window_length, seed=0):
    """Noise sources of which about ``fraction`` of the draws are ``general`` noise (the rest the station's).

    `geokeras.data.pairs.PairGenerator` draws a noise source uniformly, whatever its length: the station's
    pieces are cut into chunks of two windows (hop one window, so that every window of them stays reachable)
    and ``fraction / (1 - fraction)`` times as many ``general`` sources are drawn (seeded) beside them.

    Args:
        noise: the station's noise pieces (1-D arrays).
        general: other noise (1-D arrays), e.g. the bundled training-station noise.
        fraction: share of the general noise in ``[0, 1)``; 0 returns ``noise`` unchanged.
        window_length: samples per window.
        seed: seed of the draw of ``general`` sources.

    Returns:
        list of 1-D arrays.

    Raises:
        ValueError: ``fraction`` outside ``[0, 1)``, or no ``general`` noise to draw from.

    Example:
        >>> import numpy as np
        >>> out = mixed_noise([np.arange(10.0)], [np.zeros(3)] * 50, 0.5, window_length=2)
        >>> len(out), [float(x[0]) for x in out[:4]], sum(x.size == 3 for x in out)
        (8, [0.0, 2.0, 4.0, 6.0], 4)
    """
    from geokeras.validation import check_number

    fraction = check_number("fraction", fraction, low=0.0, high=1.0, high_open=True)
    if not fraction:
        return list(noise)
    if not len(general):
        raise ValueError(f"Invalid value for argument `general`. Expected at least one noise array with "
                         f"fraction={fraction:g}. Received none.")
    L = int(window_length)
    chunks = [p[i:i + 2 * L] for p in noise for i in range(0, max(1, p.size - L), L)]
    n_general = int(round(fraction / (1.0 - fraction) * len(chunks)))
    pick = np.random.default_rng(seed).choice(len(general), n_general, replace=n_general > len(general))
    return chunks + [general[i] for i in pick]


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

    from geokeras.training.callbacks import best_weights, time_limit
    from geokeras.training.train import fit, pair_dataset, validation_pairs

    opts = pair_options(window_length, sampling_rate)
    ds = pair_dataset(signals, noise, window_length, batch_size, seed,
                      noise_only_fraction=SHIPPED_AUGMENTATION["noise_only_fraction"], **opts)
    opts.pop("noise_augment")
    val = validation_pairs(val_signals, val_noise, window_length, val_pairs, seed, **opts)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", jit_compile=jit_compile)
    base_loss = float(model.evaluate(*val, batch_size=64, verbose=0))
    budget, best = time_limit(seconds), best_weights("val_loss", baseline=base_loss)
    callbacks = [budget, best] + ([] if log is None else [_epoch_log(log, base_loss, best, budget)])
    t0 = time.perf_counter()
    fit(model, ds, epochs=int(max_epochs or 10 ** 6), steps_per_epoch=steps_per_epoch, validation_data=val,
        validation_batch_size=64, callbacks=callbacks, verbose=0, shuffle=False)
    return {"base_val_loss": base_loss, "best_val_loss": float(best.best), "best_epoch": best.best_epoch,
            "epochs": best.epochs, "steps": budget.steps, "train_s": time.perf_counter() - t0}


def _epoch_log(log, base_loss, best, budget):
    """A callback passing one line per epoch to ``log`` (losses, the best so far, the time spent)."""
    import keras

    def line(epoch, logs):
        logs = logs or {}
        log(f"epoch {epoch + 1}: loss {float(logs.get('loss', np.nan)):.4f}, val_loss "
            f"{float(logs.get('val_loss', np.nan)):.4f} (base {base_loss:.4f}, best {best.best:.4f}), "
            f"{time.perf_counter() - budget.t0:.0f} s")

    return keras.callbacks.LambdaCallback(on_epoch_end=line)
