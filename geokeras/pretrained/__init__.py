"""The denoisers shipped with geokeras (see ``model_card.md`` next to this file).

- ``default.keras`` (v4, `load_default`): the default, one trace at a time (`geokeras.denoise.denoise`,
  ``geokeras denoise``).
- ``components.keras`` (`load_components`): the network of the three-component path (``denoise(...,
  components="median")``, ``geokeras denoise --components median``, a SavedModel's ``denoise_components``), where
  a station's three components share one mask per window. v4's architecture with a mask floor of 0.2, trained with
  surrogate noise, an amplitude term and noise bursts (model card, "The three-component network"); chosen on the
  validation stations under the median mask, where it keeps v4's detections and amplitudes and gains 1.1 dB more
  SNR on the event windows.

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
COMPONENTS_MODEL_PATH = Path(__file__).resolve().parent / "components.keras"
MODEL_CARD_PATH = Path(__file__).resolve().parent / "model_card.md"


def load_default():
    """Load the shipped default denoiser (``safe_mode=True``; raw 100 Hz windows of 3000 samples in counts).

    Returns:
        ``keras.Model`` mapping ``(batch, 3000, 1)`` raw windows to denoised windows in the same units.

    Raises:
        FileNotFoundError: if the model file is missing from the installation.
    """
    return _load_shipped(DEFAULT_MODEL_PATH, "default")


def load_components():
    """Load the shipped three-component network (``safe_mode=True``): a one-trace mask denoiser of the same
    architecture as `load_default`'s (mask floor 0.2 instead of 0.3), chosen for a station's components under one
    combined mask (`geokeras.denoise.denoise_components`).

    Returns:
        ``keras.Model`` mapping ``(batch, 3000, 1)`` raw windows to denoised windows in the same units.

    Raises:
        FileNotFoundError: if the model file is missing from the installation.

    Example:
        >>> from geokeras.models.denoiser import denoiser_info
        >>> denoiser_info(load_components())["band_hz"]
        (1.0, 45.0)
    """
    return _load_shipped(COMPONENTS_MODEL_PATH, "three-component")


def _load_shipped(path, what):
    if not path.is_file():
        raise FileNotFoundError(f"The {what} model file is missing: {str(path)!r}.")
    from geokeras.saving import load_model

    return load_model(path)
