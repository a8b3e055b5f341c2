"""Export models as TensorFlow SavedModels that load without geokeras.

Every SavedModel has the window signature ``serve`` (the model on a batch of windows). A denoiser's also has
``denoise_trace``: a whole gap-free trace of any length ``n >= 1`` at the model's rate in, the denoised trace
of ``n`` samples out, with what `geokeras.denoise.denoise` does around the model inside the graph:

- the trace loses its mean and least-squares linear trend (`geokeras.data.process.detrend`);
- it is cut into windows of the model's length every ``hop`` samples, the last one aligned to the end
  (a trace shorter than one window is zero-padded to one window: `geokeras.data.windows.Windowing`);
- the windows run through the model (which standardizes each window itself), ``chunk_size`` windows at a
  time, so the model's activations do not grow with the trace; the windows and their overlap-add do (a
  few times the trace's size in float64), so cut long records into days;
- they are stitched back by weighted overlap-add (`geokeras.data.windows.stitch`, the cross-fade
  ``sin(pi (j + 0.5) / L)^2`` normalized by the summed weights);
- the output is clipped to ``1.1`` times the trace's demeaned (and detrended) input peak
  (`geokeras.denoise.CLIP_FACTOR`); a 1-sample or constant trace gives zeros.

So ``denoise_trace(x)`` equals ``geokeras.denoise.denoise(x, sampling_rate=<model rate>)`` for a gap-free
float32 trace (to float rounding; ``tests/test_export.py`` checks 1e-3 of the peak). A trace with gaps is
denoised segment by segment by the caller; a trace at another rate must be resampled first.
"""
import os

import keras
import numpy as np
import tensorflow as tf

from geokeras.data.windows import Windowing, crossfade_weights
from geokeras.validation import check_positive_int

__all__ = ["export_saved_model", "model_input_shape", "denoise_trace_function"]

TRACE_CHUNK = 256  # windows per model call inside ``denoise_trace``


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


def _detrend_and_bound(x, clip):
    """``(detrended x, clip bound)`` of a float64 ``[n]`` tensor (`geokeras.data.process.detrend`, in tf ops)."""
    n = tf.size(x)
    xc = x - tf.reduce_mean(x)
    t = tf.range(n, dtype=tf.float64) - tf.cast(n - 1, tf.float64) / 2.0
    tt = tf.reduce_sum(t * t)
    slope = tf.math.divide_no_nan(tf.reduce_sum(t * xc), tt)
    xd = xc - t * slope
    bound = clip * tf.minimum(tf.reduce_max(tf.abs(xc)), tf.reduce_max(tf.abs(xd)))
    return xd, bound


def _window_starts(m, window_length, hop):
    """`Windowing.starts` for ``m >= window_length`` samples, in tf ops (int32 ``[k]``)."""
    starts = tf.range(0, m - window_length + 1, hop)
    last = m - window_length
    return tf.cond(starts[-1] < last, lambda: tf.concat([starts, [last]], 0), lambda: starts)


def _scaled_to_unit_peak(windows):
    """``(windows / scale, scale)``: each float64 row divided by a power of two near its peak (exact), as
    `geokeras.data.windows.scale_to_unit_peak` does on the `denoise` path, so records of any amplitude stay
    clear of float32's underflow and overflow inside the model."""
    peak = tf.reduce_max(tf.abs(windows), axis=1, keepdims=True)
    exponent = tf.where(peak > 0, tf.floor(tf.math.log(peak) / tf.math.log(tf.constant(2.0, tf.float64))) + 1.0, 0.0)
    scale = tf.pow(tf.constant(2.0, tf.float64), exponent)
    return windows / scale, scale


def _run_windows(model, windows, chunk):
    """The model on ``[k, L]`` float32 windows, ``chunk`` at a time (the last chunk zero-padded)."""
    k, L = tf.shape(windows)[0], tf.shape(windows)[1]
    size = tf.minimum(k, chunk)
    n_chunks = (k + size - 1) // size
    padded = tf.pad(windows, [[0, n_chunks * size - k], [0, 0]])
    chunks = tf.reshape(padded, [n_chunks, size, L, 1])
    out = tf.map_fn(lambda c: tf.cast(model(c, training=False), tf.float32), chunks, parallel_iterations=1,
                    fn_output_signature=tf.TensorSpec([None, None, 1], tf.float32))
    return tf.reshape(out, [n_chunks * size, L])[:k]


def denoise_trace_function(model, overlap=0.5, clip=None, chunk_size=TRACE_CHUNK):
    """The ``denoise_trace`` computation of a denoiser as a `tf.function` ``[n] float32 -> [n] float32``.

    Args:
        model: a geokeras denoiser (``geokeras.models.denoiser.denoiser_info`` reads its window length).
        overlap: window overlap in ``[0, 1)`` (that of `geokeras.denoise.denoise`, default 0.5).
        clip: the clip factor (default `geokeras.denoise.CLIP_FACTOR`).
        chunk_size: windows per model call.

    Returns:
        a `tf.function` with input signature ``[TensorSpec([None], float32, name="trace")]``.

    Raises:
        ValueError: ``model`` is not a denoiser, or a bad argument.

    Example:
        >>> from geokeras.models.denoiser import build_denoiser
        >>> fn = denoise_trace_function(build_denoiser("unet1d", window_length=64, filters=(2,)))
        >>> [int(fn(tf.ones([n]) * tf.range(n, dtype=tf.float32) ** 2).shape[0]) for n in (1, 50, 200)]
        [1, 50, 200]
    """
    from geokeras.denoise.options import CLIP_FACTOR
    from geokeras.models.denoiser import denoiser_info

    windowing = Windowing(denoiser_info(model)["window_length"], overlap)
    L, hop = windowing.window_length, windowing.hop
    clip = CLIP_FACTOR if clip is None else float(clip)
    chunk = check_positive_int("chunk_size", chunk_size)
    weights = tf.constant(crossfade_weights(L), tf.float64)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="trace")])
    def denoise_trace(trace):
        n = tf.size(trace)
        tf.debugging.assert_positive(n, message="denoise_trace: expected a trace of at least 1 sample")
        tf.debugging.assert_all_finite(trace, "denoise_trace: the trace holds NaN or inf samples")
        x = tf.cast(trace, tf.float64)
        xd, bound = _detrend_and_bound(x, clip)
        m = tf.maximum(n, L)
        xp = tf.pad(xd, [[0, m - n]])  # a short trace: zero-padded to one window
        index = _window_starts(m, L, hop)[:, None] + tf.range(L)[None, :]
        windows, scale = _scaled_to_unit_peak(tf.gather(xp, index))
        y = tf.cast(_run_windows(model, tf.cast(windows, tf.float32), chunk), tf.float64) * scale
        flat = tf.reshape(index, [-1])
        acc = tf.math.unsorted_segment_sum(tf.reshape(y * weights, [-1]), flat, m)
        norm = tf.math.unsorted_segment_sum(tf.reshape(tf.ones_like(y) * weights, [-1]), flat, m)
        out = tf.cast(acc / norm, tf.float32)[:n]
        out = tf.clip_by_value(tf.cast(out, tf.float64), -bound, bound)
        degenerate = tf.reduce_all(tf.equal(trace, trace[0]))  # 1 sample or constant: its mean, 0
        return tf.where(degenerate, tf.zeros_like(trace), tf.cast(out, tf.float32))

    return denoise_trace


def _is_denoiser(model):
    from geokeras.models.denoiser import denoiser_info

    try:
        denoiser_info(model)
    except (ValueError, AttributeError):
        return False
    return True


def export_saved_model(model, outdir, batch_size=None, verbose=False, overlap=0.5):
    """Write ``model`` as a SavedModel with a ``serve`` signature, and ``denoise_trace`` for a denoiser.

    ``serve`` takes a float32 tensor named ``inputs`` of the model's input shape with a free batch
    dimension (or ``batch_size`` if given) and returns the model output (``training=False``: corruption
    layers are off, a VAE decodes ``z_mean``). A geokeras denoiser also gets ``denoise_trace``: a float32
    tensor ``trace`` of shape ``[n]`` (any ``n >= 1``, at the model's rate) in, the denoised ``[n]`` out
    (see the module docstring). Load it from plain TensorFlow, without geokeras::

        reloaded = tf.saved_model.load(outdir)
        y = reloaded.serve(x)
        clean = reloaded.denoise_trace(trace)

    Args:
        model: A built Keras model (functional, or a geokeras ``VAE`` /
            ``ContractiveAutoencoder``).
        outdir: Output directory.
        batch_size: Optional fixed batch size of ``serve``; ``None`` keeps it free.
        verbose: Print the endpoint summary.
        overlap: window overlap of ``denoise_trace`` in ``[0, 1)``.

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
    trace_fn = denoise_trace_function(model, overlap) if _is_denoiser(model) else None
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda inputs: model(inputs, training=False), input_signature=[spec])
    if trace_fn is not None:
        archive.add_endpoint("denoise_trace", trace_fn)
    outdir = os.fspath(outdir)
    archive.write_out(outdir, verbose=verbose)
    return outdir
