"""TensorFlow distribution strategies for ``geokeras train --strategy``.

``"mirrored"`` is ``tf.distribute.MirroredStrategy``: one replica per device (all local GPUs by default,
or the devices named), each global batch split between them, gradients summed across replicas before
the update; at the same global batch the loss curve is the one-device curve (checked in
``tests/test_strategies.py`` on two logical CPU devices, to float32 rounding).

Several machines: ``tf.distribute.MultiWorkerMirroredStrategy`` (one process per machine, ``TF_CONFIG``)
with Keras 3.15's ``model.fit`` fails ("Attempt to convert a value (PerReplica:{...}) with an unsupported
type ... to a Tensor", keras-team/keras#20585). `distributed_fit` is a custom loop (``strategy.run``) that
trains under it; two local worker processes follow the one-process loss curve
(``tests/test_strategies.py``). ``geokeras train`` itself (validation, checkpoints, early stopping,
resume) runs on one machine; see the README section "Scaling".

Example:
    >>> make_strategy(None) is None
    True
    >>> make_strategy("ring")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `strategy`. Expected one of None, 'mirrored'. Received strategy='ring'.
"""
import contextlib

from geokeras.validation import check_choice

__all__ = ["STRATEGIES", "make_strategy", "strategy_scope", "distributed_fit"]

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


def _mean_squared_error(y_true, y_pred):
    import tensorflow as tf

    axes = list(range(1, len(y_pred.shape)))
    return tf.reduce_mean(tf.square(tf.cast(y_true, y_pred.dtype) - y_pred), axis=axes)


def distributed_fit(model, optimizer, dataset, strategy, epochs, steps_per_epoch, global_batch_size,
                    per_example_loss=None):
    """Train ``model`` with a custom loop under any ``tf.distribute`` strategy (``MultiWorkerMirroredStrategy``).

    Each step takes one global batch from ``dataset``, splits it between the replicas of all workers
    (auto-sharding by data), and applies the gradient of the mean loss over the global batch (the replicas'
    gradients are summed), so every worker keeps the same weights and the loss curve is the one of a single
    process at the same global batch. Every worker must run this call with the same arguments.

    Args:
        model: a Keras model whose variables were created in ``strategy.scope()``.
        optimizer: a Keras optimizer created (and built) in ``strategy.scope()``.
        dataset: a ``tf.data.Dataset`` of ``(x, y)`` global batches of ``global_batch_size``, endless or with
            at least ``epochs * steps_per_epoch`` batches.
        strategy: the ``tf.distribute.Strategy``.
        epochs, steps_per_epoch: training length.
        global_batch_size: examples per step over all replicas.
        per_example_loss: ``fn(y_true, y_pred) -> (batch,)``; default the mean squared error of each example.

    Returns:
        dict ``{"loss": [mean training loss of each epoch]}``.
    """
    import tensorflow as tf

    from geokeras.validation import check_positive_int

    epochs = check_positive_int("epochs", epochs)
    steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch)
    global_batch_size = check_positive_int("global_batch_size", global_batch_size)
    loss_fn = per_example_loss or _mean_squared_error
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    iterator = iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(loss_fn(y, model(x, training=True)),
                                              global_batch_size=global_batch_size)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def train_step(it):
        x, y = next(it)
        return strategy.reduce("SUM", strategy.run(replica_step, args=(x, y)), axis=None)

    history = {"loss": []}
    for _ in range(epochs):
        losses = [float(train_step(iterator)) for _ in range(steps_per_epoch)]
        history["loss"].append(sum(losses) / len(losses))
    return history
