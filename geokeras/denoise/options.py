"""`DenoiseOptions`: the options of a denoise run, checked once, and the record each output carries.

The options are checked where they enter (`geokeras.denoise.denoise`, `geokeras.denoise.plan_denoise`) and
carried down as one object. From them and the `~geokeras.denoise.Denoiser` come both what a denoised trace
records: `DenoiseOptions.record`, the fields stored in each output's sidecar (what ``--resume`` compares),
and `DenoiseOptions.processing_line`, the ``stats.processing`` line generated from those fields.

Example:
    >>> opts = DenoiseOptions(overlap=0.25, precision="float32")
    >>> opts
    DenoiseOptions(overlap=0.25, batch_size=128, out_of_band='refuse', precision='float32', components=None)
    >>> DenoiseOptions().precision in PRECISIONS  # "auto": bfloat16 where the CPU computes it natively
    True
    >>> DenoiseOptions(out_of_band="drop")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `out_of_band`. Expected one of 'refuse', 'passthrough'. Received out_of_band='drop'.
"""
import dataclasses

import geokeras
from geokeras.data.windows import check_overlap
from geokeras.denoise.denoiser import (  # the model's arithmetic and calls
    BATCH_SIZE, PRECISION_CHOICES, PRECISIONS, resolve_precision)
from geokeras.validation import check_choice, check_positive_int

__all__ = ["DenoiseOptions", "BATCH_SIZE", "CLIP_FACTOR", "COMPONENTS", "DETREND", "OUT_OF_BAND", "PRECISIONS",
           "PRECISION_CHOICES"]

CLIP_FACTOR = 1.1  # each window's output is clipped at this times its input peak (`geokeras.data.process.window_frames`)
# what each window loses before the model: its segment's least-squares line from the segment's start to the window's
# end (recorded in sidecars: outputs of the whole-segment "linear" definition are redone by --resume)
DETREND = "prefix-linear"
OUT_OF_BAND = ("refuse", "passthrough")  # what `denoise` does with a record outside the model's rates
COMPONENTS = ("median", "mean", "median-max")  # how `denoise` combines a station's masks (None: each its own)


@dataclasses.dataclass(frozen=True)
class DenoiseOptions:
    """How records are denoised (checked here, once).

    Args:
        overlap: fraction of overlap between consecutive windows, in ``[0, 1)``.
        batch_size: windows per model call (the last batch is padded to a fixed shape); `BATCH_SIZE` by default
            (two calls run at once where TensorFlow has two or more threads).
        out_of_band: for a record whose native rate is outside the model's range: ``"refuse"`` or
            ``"passthrough"`` (see `geokeras.denoise.denoise`).
        precision: ``"auto"`` (default: ``"bfloat16"`` on a CPU with native bfloat16 arithmetic, else
            ``"float32"``; `geokeras.denoise.denoiser.resolve_precision`), ``"float32"`` (the model as trained)
            or ``"bfloat16"`` (its Keras layers compute in bfloat16: faster on CPUs with bfloat16 units, outputs
            differ by rounding; speed and quality measured in the README, issue 19). Resolved here: ``precision`` is always the
            one used, and recorded.
        components: ``None`` (default: each trace denoised on its own) or ``"median"`` / ``"mean"`` /
            ``"median-max"``: the three components of a station, where a record holds them aligned and gap-free at
            the model's rate, are denoised together with one combined mask per window
            (`geokeras.denoise.denoise_components`; ``"median-max"``: the vertical the median, each horizontal
            the larger of its own mask and the median, `geokeras.layers.ComponentMask`); the other traces as with
            ``None``. Recorded in the `record` of the run (sidecars, what ``--resume``
            compares); the processing line of a trace that went the one-trace path is that of ``None`` (what was
            done to it).

    Raises:
        ValueError: an option out of range (the message names it).
    """

    overlap: float = 0.5
    batch_size: int = BATCH_SIZE
    out_of_band: str = "refuse"
    precision: str = "auto"
    components: str = None

    def __post_init__(self):
        object.__setattr__(self, "overlap", check_overlap("overlap", self.overlap))
        object.__setattr__(self, "batch_size", check_positive_int("batch_size", self.batch_size))
        check_choice("out_of_band", self.out_of_band, OUT_OF_BAND)
        object.__setattr__(self, "precision", resolve_precision(self.precision))
        if self.components is not None:
            check_choice("components", self.components, COMPONENTS)

    def record(self, denoiser, output="denoised"):
        """The fields a trace denoised with ``denoiser`` and these options records (JSON types).

        Args:
            denoiser: the `~geokeras.denoise.Denoiser`.
            output: ``"denoised"`` (the output) or ``"noise"`` (the noise estimate, input - output).
        """
        return {"version": geokeras.__version__, "model": denoiser.label, "sha256": denoiser.sha256,
                "model_sampling_rate": denoiser.sampling_rate, "window_length": denoiser.window_length,
                "overlap": self.overlap, "detrend": DETREND, "clip": CLIP_FACTOR, "output": output,
                **({"precision": self.precision} if self.precision != "float32" else {}),
                **({"components": self.components} if self.components else {}),
                **({"components_model": denoiser.for_components().label,
                    "components_sha256": denoiser.for_components().sha256}
                   if self.components and denoiser.for_components() is not denoiser else {})}

    def processing_line(self, denoiser):
        """The ``stats.processing`` line of one `geokeras.denoise.denoise` call, generated from `record`."""
        f = self.record(denoiser)
        return (f"geokeras {f['version']}: denoise(model={f['model']}, sha256={f['sha256'][:16]}, "
                f"model_sampling_rate={f['model_sampling_rate']:g}, window_length={f['window_length']}, "
                f"overlap={f['overlap']}, detrend={f['detrend']}, clip={f['clip']:g}"
                f"{precision_note(self.precision)}{components_note(denoiser, self.components)})")


def components_note(denoiser, components):
    """The ``components`` part of a processing line: ``", components=median"``, and the network the components
    went through where it is not ``denoiser``'s own (the shipped default's three-component network)."""
    if not components:
        return ""
    other = denoiser.for_components()
    return f", components={components}" + (f", components_model={other.label}, components_sha256={other.sha256[:16]}"
                                           if other is not denoiser else "")


def precision_note(precision):
    """``", precision=P"`` for a processing line, or ``""`` for float32 (the precision the model was trained in).

    Example:
        >>> precision_note("bfloat16"), precision_note("float32")
        (', precision=bfloat16', '')
    """
    return f", precision={precision}" if precision != "float32" else ""
