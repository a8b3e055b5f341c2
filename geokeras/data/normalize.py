"""Per-window normalization: the one definition of geokeras' window standardization, and peak scaling.

**The standardization** (`standardize`): demean each window, then divide it by the standard deviation of the
demeaned window; a flat window (all zeros, or constant: its demeaned window is all zeros) has standard
deviation 0 and is divided by 1 instead, so it comes out all zeros (no division by zero, no NaN). The same
formula is written twice more, in Keras ops and in TensorFlow, and a test pins all of them to this function on the same
windows (random, all-zero and constant ones):

* `geokeras.layers.WindowStandardization` (the denoisers' input layer, Keras ops, float32) divides by
  ``std + epsilon`` instead of by ``std`` or 1: the same numbers for a flat window (0) and, in float32, for
  any window with a standard deviation above about ``1e-12`` (``epsilon`` = 1e-20 is below float32's
  resolution there);
* `normalize_pairs` (NumPy) and `geokeras.training.normalize_pairs_tf` (TensorFlow, in the training
  ``tf.data`` pipeline) standardize the noisy window of a training pair and divide the clean window by the
  same scale, so the target stays aligned with the model's normalized internal output.

`normalize` is the array API: ``mode="std"`` is `standardize`; ``mode="peak"`` only divides by the peak
absolute value (no demeaning). ``denormalize(xn, scale)`` multiplies back: it returns ``x`` for ``"peak"``
and the demeaned ``x`` for ``"std"`` (like `geokeras.layers.WindowRescale`, the mean is not added back).

Example:
    >>> import numpy as np
    >>> x = np.array([[1.0, 3.0, 5.0, 7.0], [2.0, 2.0, 2.0, 2.0]])
    >>> xn, scale = standardize(x)
    >>> xn.round(3).tolist(), scale.ravel().round(3).tolist()
    ([[-1.342, -0.447, 0.447, 1.342], [0.0, 0.0, 0.0, 0.0]], [2.236, 1.0])
    >>> np.allclose(denormalize(xn, scale), x - x.mean(axis=-1, keepdims=True))
    True
    >>> xp, peak = normalize(x, mode="peak")
    >>> peak.ravel().tolist(), bool(np.array_equal(denormalize(xp, peak), x))
    ([7.0, 2.0], True)
"""
import numpy as np

from geokeras.validation import check_choice

__all__ = ["standardize", "normalize", "denormalize", "normalize_pairs"]


def standardize(x, axis=-1):
    """Demean each window along ``axis`` and divide it by its standard deviation (1 for a flat window).

    Computed in ``x``'s floating dtype (NumPy's ``mean`` and ``std``), without checks: `normalize` is the
    checked entry point.

    Args:
        x: float array.
        axis: the time axis (int or tuple).

    Returns:
        ``(xn, scale)``: the standardized windows and the divisor, of ``x``'s shape with size 1 along
        ``axis`` (the standard deviation of the demeaned window, 1 where it is 0).

    Example:
        >>> xn, scale = standardize(np.array([0.0, 0.0, 4.0, 0.0]))
        >>> xn.round(3).tolist(), round(float(scale[0]), 3)
        ([-0.577, -0.577, 1.732, -0.577], 1.732)
    """
    centered = x - x.mean(axis=axis, keepdims=True)
    std = centered.std(axis=axis, keepdims=True)
    scale = np.where(std > 0, std, 1.0).astype(std.dtype)
    return centered / scale, scale


def normalize(x, mode="std", axis=-1):
    """Normalize each window: standardize it (``"std"``) or divide it by its peak absolute value (``"peak"``).

    Safe on degenerate windows (no division by zero, no NaN): with ``"std"`` an all-zero or constant window
    becomes all zeros (scale 1); with ``"peak"`` an all-zero window stays all zeros (scale 1).

    Args:
        x: array; integer input is converted to float64, float input keeps its dtype.
        mode: ``"std"`` (`standardize`: demean, divide by the standard deviation) or ``"peak"`` (divide by
            the peak absolute value, no demeaning).
        axis: the time axis (int or tuple).

    Returns:
        ``(xn, scale)`` with ``scale`` of ``x``'s shape with size 1 along ``axis`` (broadcastable);
        ``denormalize(xn, scale)`` is ``x`` (``"peak"``) or ``x`` minus its window means (``"std"``).

    Raises:
        ValueError: for an unknown mode or non-finite samples.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    check_choice("mode", mode, ("std", "peak"))
    if not np.all(np.isfinite(x)):
        raise ValueError("Invalid value for argument `x`. Expected finite samples. Received NaN or inf.")
    x64 = x.astype(np.float64)
    if mode == "std":
        if not x.size:
            return x, np.ones((), x.dtype)
        xn, scale = standardize(x64, axis=axis)
    else:
        scale = np.max(np.abs(x64), axis=axis, keepdims=True) if x.size else np.ones(())
        scale = np.where(scale > 0, scale, 1.0)
        xn = x64 / scale
    return xn.astype(x.dtype), scale.astype(x.dtype)


def denormalize(xn, scale):
    """Inverse of `normalize`'s scaling: ``xn * scale`` (the mean removed by ``"std"`` is not added back)."""
    return np.asarray(xn) * np.asarray(scale)


def normalize_pairs(noisy, clean):
    """The training normalization: `standardize` the noisy windows, divide the clean ones by the same scale.

    Args:
        noisy, clean: arrays ``(n, L)`` or ``(n, L, 1)`` (time on axis 1).

    Returns:
        ``(noisy_n, clean_n)`` float32.

    Example:
        >>> noisy, clean = normalize_pairs(np.array([[1.0, 3.0, 5.0, 7.0]]), np.array([[0.0, 2.0, 2.0, 0.0]]))
        >>> noisy.astype(float).round(3).tolist(), clean.astype(float).round(3).tolist()
        ([[-1.342, -0.447, 0.447, 1.342]], [[0.0, 0.894, 0.894, 0.0]])
    """
    noisy_n, scale = standardize(np.asarray(noisy), axis=1)
    return noisy_n.astype(np.float32), (np.asarray(clean) / scale).astype(np.float32)
