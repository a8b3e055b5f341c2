"""The names of the denoiser families, for `geokeras.training.train_denoiser` and ``geokeras train --family``.

This module imports neither Keras nor TensorFlow (``geokeras --help`` stays fast): the builders
(`geokeras.models.denoiser.DENOISER_BUILDERS`, whose keys are these names) are looked up only when
`denoiser_builder` is called. Imports point one way: this module imports the models, never the reverse.

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

DENOISER_FAMILIES = ("unet1d", "stftmask")  # the order of the help


def check_family(family):
    """Return ``family`` if it names a denoiser family, else raise ``ValueError`` in the team format."""
    return check_choice("family", family, DENOISER_FAMILIES)


def denoiser_builder(family):
    """Return the builder function of a denoiser family (imports Keras).

    Example:
        >>> denoiser_builder("unet1d").__name__
        'build_unet1d_denoiser'
    """
    from geokeras.models.denoiser import DENOISER_BUILDERS

    return DENOISER_BUILDERS[check_family(family)]
