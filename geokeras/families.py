"""The registry of denoiser families: their names and, loaded on demand, their builders.

One source of truth for `geokeras.models.denoiser.build_denoiser`, `geokeras.train.train_denoiser` and the
``geokeras train --family`` option. This module imports neither Keras nor TensorFlow (``geokeras --help``
stays fast): the builders are looked up only when `denoiser_builder` is called.

Example:
    >>> DENOISER_FAMILIES
    ('unet1d', 'stftmask')
    >>> check_family("stftmask")
    'stftmask'
    >>> check_family("resnet")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `family`. Expected one of 'unet1d', 'stftmask'. Received family='resnet'.
"""
from geokeras.validation import check_choice

__all__ = ["DENOISER_FAMILIES", "check_family", "denoiser_builder"]

#: family name -> name of its builder in `geokeras.models.denoiser` (the order is the order of the help)
_BUILDERS = {"unet1d": "build_unet1d_denoiser", "stftmask": "build_stft_mask_denoiser"}

DENOISER_FAMILIES = tuple(_BUILDERS)


def check_family(family):
    """Return ``family`` if it names a denoiser family, else raise ``ValueError`` in the team format."""
    return check_choice("family", family, DENOISER_FAMILIES)


def denoiser_builder(family):
    """Return the builder function of a denoiser family (imports Keras).

    Example:
        >>> denoiser_builder("unet1d").__name__
        'build_unet1d_denoiser'
    """
    from geokeras.models import denoiser

    return getattr(denoiser, _BUILDERS[check_family(family)])
