"""The default denoiser shipped with geokeras (see ``model_card.md`` next to this file).

Example:
    >>> from geokeras.pretrained import DEFAULT_MODEL_PATH, load_default
    >>> DEFAULT_MODEL_PATH.name
    'default.keras'
    >>> from geokeras.models.denoiser import denoiser_info
    >>> info = denoiser_info(load_default())
    >>> info["sampling_rate"], info["window_length"]
    (100.0, 3000)
"""
from pathlib import Path

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "default.keras"
MODEL_CARD_PATH = Path(__file__).resolve().parent / "model_card.md"


def load_default():
    """Load the shipped default denoiser (``safe_mode=True``; raw 100 Hz windows of 3000 samples in counts).

    Returns:
        ``keras.Model`` mapping ``(batch, 3000, 1)`` raw windows to denoised windows in the same units.

    Raises:
        FileNotFoundError: if the model file is missing from the installation.
    """
    if not DEFAULT_MODEL_PATH.is_file():
        raise FileNotFoundError(f"The default model file is missing: {str(DEFAULT_MODEL_PATH)!r}.")
    from geokeras.saving import load_model

    return load_model(DEFAULT_MODEL_PATH)
