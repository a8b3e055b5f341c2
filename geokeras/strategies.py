"""TensorFlow distribution strategies for ``geokeras train --strategy``.

``"mirrored"`` is ``tf.distribute.MirroredStrategy``: one replica per device (all local GPUs by default,
or the devices named), each global batch split between them, gradients summed across replicas before
the update; at the same global batch the loss curve is the one-device curve (checked in
``tests/test_strategies.py`` on two logical CPU devices, to float32 rounding).

Several machines (``MultiWorkerMirroredStrategy``) are not offered: with Keras 3.15, ``model.fit`` under
it fails (keras-team/keras#20585); see the README section "Scaling" for the reproduction.

Example:
    >>> make_strategy(None) is None
    True
    >>> make_strategy("ring")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `strategy`. Expected one of None, 'mirrored'. Received strategy='ring'.
"""
import contextlib

from geokeras._checks import check_choice

__all__ = ["STRATEGIES", "make_strategy", "strategy_scope"]

STRATEGIES = (None, "mirrored")


def make_strategy(strategy=None, devices=None):
    """Return the ``tf.distribute.Strategy`` named by ``strategy`` (None: no strategy, the default device).

    Args:
        strategy: None, ``"mirrored"`` or a ``tf.distribute.Strategy`` (returned as is).
        devices: for ``"mirrored"``: device names (``["/gpu:0", "/gpu:1"]``); None for all local GPUs (the
            CPU when there is none).

    Returns:
        a ``tf.distribute.Strategy``, or None.

    Raises:
        ValueError: an unknown strategy name, or ``devices`` without ``"mirrored"``.
    """
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    check_choice("strategy", strategy, STRATEGIES)
    if strategy is None:
        if devices:
            raise ValueError("Invalid value for argument `devices`. Expected None without a strategy. "
                             f"Received devices={devices!r}.")
        return None
    return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)


def strategy_scope(strategy):
    """``strategy.scope()``, or a no-op context for ``strategy=None``."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
