"""The names of a denoised file's outputs: one function (`output_names`) for planning, writing and resume.

``OUTDIR/REL`` (the input's path relative to its folder, without a seismic extension: `output_base`) is
the base of every output: ``<base>.mseed`` (or ``.sac``), ``<base>.noise.mseed`` (the noise estimate),
``<base>.png`` (the figure) and ``<waveform file>.processing.json`` (the sidecar of each waveform file). A
single-trace format (SAC) with several traces writes one file per trace and segment
(`geokeras.data.io.output_paths`): those names are known once the stream is.

Example:
    >>> names = output_names(output_base("out", "ev1/STA.BHZ.sac"), "MSEED", noise=True, plot=True)
    >>> names.waveforms, names.noise, names.plot
    (['out/ev1/STA.BHZ.mseed'], ['out/ev1/STA.BHZ.noise.mseed'], 'out/ev1/STA.BHZ.png')
    >>> names.sidecars()
    ['out/ev1/STA.BHZ.mseed.processing.json', 'out/ev1/STA.BHZ.noise.mseed.processing.json']
"""
import dataclasses
import os

__all__ = ["OutputNames", "output_base", "output_names", "EXTENSIONS", "SEISMIC_EXTENSIONS", "NOISE_SUFFIX"]

SEISMIC_EXTENSIONS = (".mseed", ".miniseed", ".ms", ".msd", ".sac")  # left out of an output's base
EXTENSIONS = {"MSEED": ".mseed", "SAC": ".sac"}  # the output formats of ``geokeras denoise``
NOISE_SUFFIX = ".noise"  # before the extension of the noise estimate


def output_base(outdir, relative):
    """``OUTDIR/<relative path without a seismic extension>`` (``ev1/STA.BHZ.sac`` -> ``OUTDIR/ev1/STA.BHZ``)."""
    root, ext = os.path.splitext(relative)
    stem = root if ext.lower() in SEISMIC_EXTENSIONS and os.path.basename(root) else relative
    return os.path.join(outdir, stem)


@dataclasses.dataclass(frozen=True)
class OutputNames:
    """The output files of one input: ``waveforms`` and ``noise`` (lists of paths; ``noise`` empty without
    the noise estimate), ``plot`` (a path or None)."""

    waveforms: list
    noise: list
    plot: str = None

    def sidecars(self):
        """The sidecar of every waveform file (outputs and noise estimates)."""
        from geokeras.data.io import SIDECAR_SUFFIX

        return [p + SIDECAR_SUFFIX for p in self.waveforms + self.noise]

    def all(self):
        """Every output file."""
        return self.waveforms + self.noise + self.sidecars() + ([self.plot] if self.plot else [])


def output_names(base, format, stream=None, noise=False, plot=False):
    """The `OutputNames` of the input whose output base is ``base`` (`output_base`).

    Args:
        base: ``OUTDIR/REL``.
        format: ``"MSEED"`` or ``"SAC"``.
        stream: the Stream written (or read back); None: the names known before reading (for SAC, the name
            of a single-trace output).
        noise: with the noise estimate.
        plot: with the figure.
    """
    from geokeras.data.io import output_paths

    def expand(path):
        return [path] if stream is None else output_paths(stream, path, format)

    ext = EXTENSIONS[format]
    return OutputNames(expand(base + ext), expand(base + NOISE_SUFFIX + ext) if noise else [],
                       base + ".png" if plot else None)
