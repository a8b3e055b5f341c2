"""Per-window amplitude normalization and its exact inverse.

Example:
    >>> import numpy as np
    >>> x = np.array([[0.0, 2.0, -2.0], [0.0, 0.0, 0.0]])
    >>> xn, scale = normalize(x, mode="peak")
    >>> xn.tolist(), scale.ravel().tolist()
    ([[0.0, 1.0, -1.0], [0.0, 0.0, 0.0]], [2.0, 1.0])
    >>> np.array_equal(denormalize(xn, scale), x)
    True
"""
import numpy as np

__all__ = ["normalize", "denormalize"]


def normalize(x, mode="std", axis=-1):
    """Divide each window by its scale: standard deviation (``"std"``) or peak absolute value (``"peak"``).

    Safe on degenerate windows (no division by zero, no NaN):

    * ``"std"`` of a constant non-zero window is 0: its peak absolute value is used instead;
    * an all-zero window gets scale 1 (it stays all zeros).

    The data are not demeaned (demean before if wanted); ``denormalize(xn, scale)`` restores ``x``.

    Args:
        x: array; integer input is converted to float64, float input keeps its dtype.
        mode: ``"std"`` or ``"peak"``.
        axis: the time axis (int or tuple).

    Returns:
        ``(xn, scale)`` with ``scale`` of ``x``'s shape with size 1 along ``axis`` (broadcastable).

    Raises:
        ValueError: for an unknown mode or non-finite samples.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if mode not in ("std", "peak"):
        raise ValueError(f"Invalid value for argument `mode`. Expected 'std' or 'peak'. Received mode={mode!r}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("Invalid value for argument `x`. Expected finite samples. Received NaN or inf.")
    x64 = x.astype(np.float64)
    peak = np.max(np.abs(x64), axis=axis, keepdims=True) if x.size else np.ones(())
    scale = np.std(x64, axis=axis, keepdims=True) if mode == "std" else peak
    scale = np.where(scale > 0, scale, peak)
    scale = np.where(scale > 0, scale, 1.0)
    return (x64 / scale).astype(x.dtype), scale.astype(x.dtype)


def denormalize(xn, scale):
    """Inverse of `normalize`: ``xn * scale``."""
    return np.asarray(xn) * np.asarray(scale)
