"""Export models as TensorFlow SavedModels that load without geokeras."""
import os

import keras
import tensorflow as tf

from geokeras.validation import check_positive_int

__all__ = ["export_saved_model", "model_input_shape"]


def model_input_shape(model):
    """Return the input shape ``(None, *dims)`` of a functional or geokeras subclassed model.

    >>> from geokeras.models import build_dense_vae
    >>> model_input_shape(build_dense_vae(7, 2, (4,), (4,)))
    (None, 7)
    """
    for candidate in (model, getattr(model, "encoder", None)):
        inputs = getattr(candidate, "inputs", None) if candidate is not None else None
        if inputs:
            if len(inputs) != 1:
                raise ValueError(
                    "Invalid value for argument `model`. Expected a model with a single input. "
                    f"Received model with {len(inputs)} inputs."
                )
            return tuple(inputs[0].shape)
    raise ValueError(
        "Invalid value for argument `model`. Expected a built model with a known input shape. "
        f"Received model={getattr(model, 'name', model)!r}."
    )


def export_saved_model(model, outdir, batch_size=None, verbose=False):
    """Write ``model`` as a SavedModel with a ``serve`` signature (inference mode).

    The signature takes a float32 tensor named ``inputs`` of the model's input shape with a
    free batch dimension (or ``batch_size`` if given) and returns the model output
    (``training=False``: corruption layers are off, a VAE decodes ``z_mean``). Load it from
    plain TensorFlow, without geokeras::

        reloaded = tf.saved_model.load(outdir)
        y = reloaded.serve(x)

    Args:
        model: A built Keras model (functional, or a geokeras ``VAE`` /
            ``ContractiveAutoencoder``).
        outdir: Output directory.
        batch_size: Optional fixed batch size; ``None`` keeps it free.
        verbose: Print the endpoint summary.

    Returns:
        ``outdir`` as a string.

    Example:

    >>> import tempfile
    >>> from geokeras.models import build_dense_autoencoder
    >>> out = export_saved_model(build_dense_autoencoder(4, (2,)), tempfile.mkdtemp() + "/sm")
    >>> sorted(tf.saved_model.load(out).signatures)
    ['serve', 'serving_default']
    """
    check_positive_int("batch_size", batch_size, allow_none=True)
    shape = model_input_shape(model)
    spec = tf.TensorSpec((batch_size,) + tuple(shape[1:]), tf.float32, name="inputs")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda inputs: model(inputs, training=False), input_signature=[spec])
    outdir = os.fspath(outdir)
    archive.write_out(outdir, verbose=verbose)
    return outdir
