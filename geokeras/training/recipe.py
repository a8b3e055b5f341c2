"""The shipped recipe: the training options of the default denoiser, the defaults of ``geokeras train``.

Keras-free (the command line reads it before TensorFlow starts). ``geokeras train`` with no option but
``-o`` trains the network of the shipped model (`geokeras.pretrained`, model card "Reproduce");
``geokeras adapt`` (`geokeras.adaptation`) draws its fine-tuning pairs with the same augmentation.

Example:
    >>> SHIPPED_RECIPE["family"], SHIPPED_MODEL_KWARGS["filters"]
    ('stftmask', (8, 16, 32, 64))
    >>> recipe_shift(3000)
    (-1000, 2000)
"""
__all__ = ["SHIPPED_RECIPE", "SHIPPED_MODEL_KWARGS", "SHIPPED_AUGMENTATION", "recipe_shift"]

SHIPPED_MODEL_KWARGS = {"filters": (8, 16, 32, 64), "sign_invariant": True, "frame_length": 64, "frame_step": 32}
"""Builder options of the shipped ``stftmask`` network (`geokeras.models.denoiser.build_stft_mask_denoiser`)."""

SHIPPED_AUGMENTATION = {"snr_db": (-10.0, 10.0), "noise_only_fraction": 0.05, "noise_augment": True,
                        "inband_fraction": 0.5, "stretch": (0.6, 1.8), "n_synthetic": 1000}
"""How the training pairs are drawn (`geokeras.data.pairs.PairGenerator`); the signal start is `recipe_shift`."""

SHIPPED_RECIPE = {
    "family": "stftmask", "window_length": 3000, "sampling_rate": 100.0, "epochs": 1000, "steps_per_epoch": 200,
    "batch_size": 32, "validation_steps": 20, "patience": 40, "learning_rate": 1e-3, "min_record_snr_db": 15.0,
    "seed": 0, **SHIPPED_AUGMENTATION,
}
"""Every option of `geokeras.training.train_denoiser` the shipped model was trained with (and
``model_kwargs=SHIPPED_MODEL_KWARGS`` for the ``stftmask`` family, ``shift=recipe_shift(window_length)``)."""


def recipe_shift(window_length):
    """The recipe's signal-start range for a window: ``(-L // 3, 2 * L // 3)`` samples, -10 s .. +20 s of a
    30-s window (a negative start begins the window inside the signal)."""
    window_length = int(window_length)
    return -(window_length // 3), 2 * window_length // 3
