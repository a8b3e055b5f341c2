"""Export models as TensorFlow SavedModels that load without geokeras.

Every SavedModel has the window signature ``serve`` (the model on a batch of windows). A denoiser's also has
``denoise_trace``: a whole gap-free trace of any length ``n >= 1`` at the model's rate in, the denoised trace
of ``n`` samples out, with what `geokeras.denoise.denoise` does around the model inside the graph:

- each window loses the least-squares line of the trace from its start up to the window's end (the
  "prefix line" of `geokeras.data.process.window_frames`, the definition `geokeras.denoise.denoise` and
  `geokeras.stream.StreamingDenoiser` use too; the last window, aligned to the end, loses the whole trace's
  line); windows of the model's length start every ``hop`` samples, the last one aligned to the end (a
  trace shorter than one window is detrended whole and zero-padded to one window);
- the windows run through the model (which standardizes each window itself), ``chunk_size`` windows at a
  time, so the model's activations do not grow with the trace; the windows and their overlap-add do (a
  few times the trace's size in float64), so cut long records into days;
- each window's output is clipped to ``1.1`` times its input peak (the smaller of its peak about the prefix
  mean and about the prefix line; `geokeras.denoise.CLIP_FACTOR`), then the windows are stitched back by
  weighted overlap-add (`geokeras.data.windows.stitch`, the cross-fade ``sin(pi (j + 0.5) / L)^2``
  normalized by the summed weights); a 1-sample or constant trace gives zeros.

So ``denoise_trace(x)`` equals ``geokeras.denoise.denoise(x, sampling_rate=<model rate>, precision="float32")``
(the SavedModel computes in float32) for a gap-free float32 trace (to float rounding; ``tests/test_export.py``
checks 1e-3 of the peak). A trace with gaps is
denoised segment by segment by the caller; a trace at another rate must be resampled first.

A spectrogram-mask denoiser's SavedModel also has ``denoise_components``: one station's three components,
aligned (the same start and number of samples) and gap-free at the model's rate, as a float32 ``[3, n]`` tensor
``components`` (any ``n >= 1``) in, the denoised ``[3, n]`` out. The three rows are cut at the same starts and
each row is prepared, clipped and stitched as in ``denoise_trace``; each window's three rows run together
through `geokeras.models.components.component_denoiser` (one mask for the three: the median of their masks,
cell by cell). So ``denoise_components(x)`` equals ``geokeras.denoise.denoise_components(x, model=...,
statistic="median", precision="float32")`` to float rounding, and negating one row negates that row's output
and leaves the others unchanged. ``export_saved_model(..., component_statistic=None)`` leaves it out; other
families (the U-Net) never get it.

``export_saved_model(model, ..., components_model=other)`` runs another network's weights inside
``denoise_components`` (a one-trace spectrogram-mask denoiser at ``model``'s sampling rate and window length; the
archive saves both networks' variables): ``serve`` and ``denoise_trace`` stay ``model``'s and
``denoise_components(x)`` equals ``geokeras.denoise.denoise_components(x, model=other, statistic=...,
precision="float32")``. That is how ``geokeras export default`` writes the shipped pair: ``serve`` and
``denoise_trace`` from ``default.keras`` (what ``geokeras denoise`` runs), ``denoise_components`` from
``components.keras`` (what ``geokeras denoise --components median`` runs; `geokeras.pretrained`).
"""
import os

import keras
import numpy as np
import tensorflow as tf

from geokeras.data.windows import Windowing, crossfade_weights
from geokeras.validation import check_choice, check_positive_int

__all__ = ["export_saved_model", "model_input_shape", "denoise_trace_function", "denoise_components_function"]

TRACE_CHUNK = 256  # windows per model call inside ``denoise_trace`` and ``denoise_components``
COMPONENTS = 3  # the rows of ``denoise_components``: one station's three components


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


def _window_frames(x, starts, L, clip):
    """`geokeras.data.process.window_frames` of a whole float64 trace ``[n]`` in tf ops: ``(rows [k, L], bounds
    [k])``. Window ``j`` loses the least-squares line of the samples ``[0, e_j)`` (``e_j = min(starts[j] + L,
    n)``: from the trace's start to the window's end), from running sums of ``x - x[0]`` and ``i (x_i - x[0])``;
    its bound is ``clip`` x the smaller of its peak about that prefix's mean and about that line."""
    n = tf.size(x)
    t = tf.range(n, dtype=tf.float64)
    y = x - x[0]
    c1, c2 = tf.cumsum(y), tf.cumsum(t * y)
    ends = tf.minimum(starts + L, n)
    s1, s2 = tf.gather(c1, ends - 1), tf.gather(c2, ends - 1)
    e = tf.cast(ends, tf.float64)
    mean, tbar = s1 / e, (e - 1.0) / 2.0
    slope = tf.math.divide_no_nan(s2 - tbar * s1, e * (e * e - 1.0) / 12.0)
    index = starts[:, None] + tf.range(L)[None, :]
    valid = index < ends[:, None]
    raw = tf.gather(y, tf.minimum(index, n - 1))
    about_mean = tf.where(valid, raw - mean[:, None], 0.0)
    ti = tf.cast(index, tf.float64)
    rows = tf.where(valid, about_mean - slope[:, None] * (ti - tbar[:, None]), 0.0)
    peak = tf.minimum(tf.reduce_max(tf.abs(about_mean), axis=1), tf.reduce_max(tf.abs(rows), axis=1))
    return rows, clip * peak


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
    """The model on ``[k, L, C]`` float32 windows (``C`` static), ``chunk`` at a time (the last chunk
    zero-padded): ``[k, L, C]`` float32."""
    shape = tf.shape(windows)
    k, C = shape[0], windows.shape[-1]
    size = tf.minimum(k, chunk)
    n_chunks = (k + size - 1) // size
    padded = tf.pad(windows, [[0, n_chunks * size - k], [0, 0], [0, 0]])
    chunks = tf.reshape(padded, tf.concat([[n_chunks, size], shape[1:]], 0))
    out = tf.map_fn(lambda c: tf.cast(model(c, training=False), tf.float32), chunks, parallel_iterations=1,
                    fn_output_signature=tf.TensorSpec([None, None, C], tf.float32))
    return tf.reshape(out, tf.concat([[n_chunks * size], shape[1:]], 0))[:k]


def _checked(rows, name):
    """``rows`` (``[C, n]``) read through its checks: at least 1 sample, no NaN or inf. Every later op reads
    the rows through them, so they run first (a graph does not order independent ops: an empty input could
    fail in a slice before its own check)."""
    empty = tf.debugging.assert_positive(tf.shape(rows)[1], message=f"{name}: expected at least 1 sample")
    with tf.control_dependencies([empty]):
        return tf.debugging.assert_all_finite(tf.identity(rows), f"{name}: the input holds NaN or inf samples")


def _record_function(model, window_length, overlap, clip, chunk_size):
    """``denoise(rows, name)``: the whole-record denoise path in tf ops, float32 ``[C, n]`` (``C`` static) in,
    ``[C, n]`` out, ``model`` mapping ``(batch, L, C)`` windows to ``(batch, L, C)`` (the denoiser itself for
    ``C = 1``, `geokeras.models.components.component_denoiser` for a station's components).

    The ``C`` rows are cut at the same starts (``m = max(n, L)`` samples: a short record is one zero-padded
    window); each row's windows lose their own prefix line and get their own clip bound and power-of-two
    scale (`_window_frames`, `_scaled_to_unit_peak`), the ``[k, L, C]`` windows run through ``model`` in
    chunks (`_run_windows`), and each row is stitched by the weighted overlap-add. A row with a single value
    (1 sample, or constant) gives zeros.
    """
    from geokeras.denoise.options import CLIP_FACTOR

    windowing = Windowing(window_length, overlap)
    L, hop = windowing.window_length, windowing.hop
    clip = CLIP_FACTOR if clip is None else float(clip)
    chunk = check_positive_int("chunk_size", chunk_size)
    weights = tf.constant(crossfade_weights(L), tf.float64)

    def denoise(rows, name):
        rows = _checked(rows, name)
        C, n = rows.shape[0], tf.shape(rows)[1]
        x = tf.cast(rows, tf.float64)
        m = tf.maximum(n, L)
        starts = _window_starts(m, L, hop)
        framed = [_window_frames(x[c], starts, L, clip) for c in range(C)]
        scaled = [_scaled_to_unit_peak(frames) for frames, _ in framed]
        windows = tf.stack([tf.cast(w, tf.float32) for w, _ in scaled], axis=-1)  # [k, L, C]
        scale = tf.stack([s for _, s in scaled], axis=-1)  # [k, 1, C]
        bound = tf.stack([b for _, b in framed], axis=-1)[:, None, :]  # [k, 1, C]
        y = tf.cast(_run_windows(model, windows, chunk), tf.float64) * scale
        y = tf.clip_by_value(y, -bound, bound)  # each window of each row at its own bound
        flat = tf.reshape(starts[:, None] + tf.range(L)[None, :], [-1])
        acc = tf.math.unsorted_segment_sum(tf.reshape(y * weights[None, :, None], [-1, C]), flat, m)  # [m, C]
        norm = tf.math.unsorted_segment_sum(tf.tile(weights, tf.shape(starts)), flat, m)
        out = tf.transpose(acc / norm[:, None])[:, :n]
        degenerate = tf.reduce_all(tf.equal(rows, rows[:, :1]), axis=1, keepdims=True)  # its mean, 0
        return tf.where(degenerate, tf.zeros_like(rows), tf.cast(out, tf.float32))

    return denoise


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
    from geokeras.models.denoiser import denoiser_info

    denoise = _record_function(model, denoiser_info(model)["window_length"], overlap, clip, chunk_size)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="trace")])
    def denoise_trace(trace):
        return denoise(trace[None, :], "denoise_trace")[0]

    return denoise_trace


def denoise_components_function(model, components=COMPONENTS, statistic="median", overlap=0.5, clip=None,
                                chunk_size=TRACE_CHUNK):
    """The ``denoise_components`` computation of a mask denoiser: ``[C, n] float32 -> [C, n] float32``.

    The ``C`` rows are one station's components, aligned and gap-free at the model's rate (those of
    `geokeras.denoise.denoise_components`); every window of the ``C`` rows (the same starts) runs through
    `geokeras.models.components.component_denoiser` (one combined mask), each row prepared and stitched as in
    `denoise_trace_function`.

    Args:
        model: a spectrogram-mask denoiser (`geokeras.models.denoiser.build_stft_mask_denoiser`).
        components: ``C``, fixed in the input signature (default 3).
        statistic: how the masks are combined (`geokeras.layers.mask.COMPONENT_STATISTICS`, default
            ``"median"``).
        overlap, clip, chunk_size: as in `denoise_trace_function` (``chunk_size`` in windows of ``C`` rows).

    Returns:
        a `tf.function` with input signature ``[TensorSpec([components, None], float32, name="components")]``.

    Raises:
        ValueError: ``model`` is not a spectrogram-mask denoiser, or a bad argument.

    Example:
        >>> from geokeras.models.denoiser import build_stft_mask_denoiser
        >>> base = build_stft_mask_denoiser(window_length=600, filters=(4, 8))
        >>> fn = denoise_components_function(base)
        >>> fn(tf.random.stateless_normal([3, 1000], seed=[0, 1])).shape.as_list()
        [3, 1000]
    """
    from geokeras.models.components import component_denoiser
    from geokeras.models.denoiser import denoiser_info

    window_length = denoiser_info(model)["window_length"]
    combined = component_denoiser(model, components, statistic)  # checks `components`, `statistic`, `model`
    denoise = _record_function(combined, window_length, overlap, clip, chunk_size)
    spec = tf.TensorSpec([combined.output_shape[-1], None], tf.float32, name="components")

    @tf.function(input_signature=[spec])
    def denoise_components(components):
        return denoise(components, "denoise_components")

    return denoise_components


def _is_denoiser(model):
    from geokeras.models.denoiser import denoiser_info

    try:
        denoiser_info(model)
    except (ValueError, AttributeError):
        return False
    return model_input_shape(model)[-1] == 1  # a joint network (C components in) is no one-trace denoiser


def _components_function(model, statistic, overlap):
    """`denoise_components_function` of a mask denoiser, or None for any other model (or ``statistic=None``)."""
    if statistic is None or not _is_denoiser(model):
        return None
    try:
        return denoise_components_function(model, COMPONENTS, statistic, overlap)
    except ValueError:  # another family (the statistic and overlap are checked already)
        return None


def _components_model_function(model, components_model, statistic, overlap):
    """`denoise_components_function` of ``components_model`` (a one-trace mask denoiser at ``model``'s sampling
    rate and window length, ``model`` a one-trace denoiser), or a ValueError naming ``components_model``."""
    from geokeras.models.denoiser import denoiser_info

    name = getattr(components_model, "name", None)
    received = f"components_model={name!r}" if name else f"components_model of type {type(components_model).__name__}"

    def refuse(why):
        return ValueError(
            "Invalid value for argument `components_model`. Expected None, or a one-trace spectrogram-mask denoiser "
            "with the sampling rate and window length of `model` (a one-trace denoiser), with a component_statistic. "
            f"Received {received}{why}.")

    if statistic is None:
        raise refuse(" with component_statistic=None (no denoise_components)")
    if not _is_denoiser(model):
        raise refuse(f" for model {model.name!r}, which is not a one-trace denoiser")
    if not _is_denoiser(components_model):
        raise refuse(", which is not a one-trace denoiser")
    (rate, length), (own_rate, own_length) = (
        (float(info["sampling_rate"]), int(info["window_length"]))
        for info in (denoiser_info(model), denoiser_info(components_model)))
    if (own_rate, own_length) != (rate, length):
        raise refuse(f", windows of {own_length} samples at {own_rate:g} Hz, for model {model.name!r}, windows of "
                     f"{length} samples at {rate:g} Hz")
    try:
        return denoise_components_function(components_model, COMPONENTS, statistic, overlap)
    except ValueError:  # another family (the statistic and overlap are checked already)
        raise refuse(", which is not a spectrogram-mask denoiser") from None


def export_saved_model(model, outdir, batch_size=None, verbose=False, overlap=0.5, component_statistic="median",
                       components_model=None):
    """Write ``model`` as a SavedModel with a ``serve`` signature, and ``denoise_trace`` (and, for a
    spectrogram-mask denoiser, ``denoise_components``) for a denoiser of one trace (a joint network of several
    components, `geokeras.models.components.build_joint_mask_denoiser`, gets ``serve`` only).

    ``serve`` takes a float32 tensor named ``inputs`` of the model's input shape with a free batch
    dimension (or ``batch_size`` if given) and returns the model output (``training=False``: corruption
    layers are off, a VAE decodes ``z_mean``). A geokeras denoiser also gets ``denoise_trace``: a float32
    tensor ``trace`` of shape ``[n]`` (any ``n >= 1``, at the model's rate) in, the denoised ``[n]`` out
    (see the module docstring). A spectrogram-mask denoiser also gets ``denoise_components``: a float32
    tensor ``components`` of shape ``[3, n]`` (one station's three components, aligned and gap-free, any
    ``n >= 1``) in, the denoised ``[3, n]`` out, one combined mask per window, from ``components_model``'s
    weights when it is given (``model``'s otherwise). Load it from plain TensorFlow, without geokeras::

        reloaded = tf.saved_model.load(outdir)
        y = reloaded.serve(x)
        clean = reloaded.denoise_trace(trace)
        clean3 = reloaded.denoise_components(components)

    Args:
        model: A built Keras model (functional, or a geokeras ``VAE`` /
            ``ContractiveAutoencoder``).
        outdir: Output directory.
        batch_size: Optional fixed batch size of ``serve``; ``None`` keeps it free.
        verbose: Print the endpoint summary.
        overlap: window overlap of ``denoise_trace`` and ``denoise_components`` in ``[0, 1)``.
        component_statistic: how ``denoise_components`` combines the masks
            (`geokeras.layers.mask.COMPONENT_STATISTICS`: ``"median"``, the default, ``"mean"``, ``"own"`` or
            ``"median-max"``);
            ``None`` writes no ``denoise_components``.
        components_model: the spectrogram-mask denoiser whose weights run inside ``denoise_components``
            (``None``, the default: ``model``'s). A one-trace mask denoiser with ``model``'s sampling rate and
            window length (``model`` a one-trace denoiser of any family); the archive saves its variables too,
            and ``denoise_components(x)`` then equals ``geokeras.denoise.denoise_components(x,
            model=components_model, statistic=component_statistic, precision="float32")`` to float rounding.
            ``serve`` and ``denoise_trace`` stay ``model``'s.

    Returns:
        ``outdir`` as a string.

    Raises:
        ValueError: for a bad argument (the message names it).

    Example:

    >>> import tempfile
    >>> from geokeras.models import build_dense_autoencoder
    >>> out = export_saved_model(build_dense_autoencoder(4, (2,)), tempfile.mkdtemp() + "/sm")
    >>> sorted(tf.saved_model.load(out).signatures)
    ['serve', 'serving_default']

    ``components_model`` must be a mask denoiser (a U-Net has no mask to combine):

    >>> from geokeras.models.denoiser import build_denoiser, build_stft_mask_denoiser
    >>> mask = build_stft_mask_denoiser(window_length=600, filters=(4, 8))
    >>> unet = build_denoiser("unet1d", window_length=600, filters=(2,), name="unet")
    >>> export_saved_model(mask, tempfile.mkdtemp() + "/sm", components_model=unet)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: Invalid value for argument `components_model`. ... which is not a spectrogram-mask denoiser.
    """
    from geokeras.layers.mask import COMPONENT_STATISTICS

    check_positive_int("batch_size", batch_size, allow_none=True)
    check_choice("component_statistic", component_statistic, (None,) + COMPONENT_STATISTICS)
    shape = model_input_shape(model)
    spec = tf.TensorSpec((batch_size,) + tuple(shape[1:]), tf.float32, name="inputs")
    trace_fn = denoise_trace_function(model, overlap) if _is_denoiser(model) else None
    if components_model is None or components_model is model:
        components_model, components_fn = None, _components_function(model, component_statistic, overlap)
    else:
        components_fn = _components_model_function(model, components_model, component_statistic, overlap)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if components_model is not None:
        archive.track(components_model)  # its variables are saved with the archive
    archive.add_endpoint("serve", lambda inputs: model(inputs, training=False), input_signature=[spec])
    if trace_fn is not None:
        archive.add_endpoint("denoise_trace", trace_fn)
    if components_fn is not None:
        archive.add_endpoint("denoise_components", components_fn)
    outdir = os.fspath(outdir)
    archive.write_out(outdir, verbose=verbose)
    return outdir
