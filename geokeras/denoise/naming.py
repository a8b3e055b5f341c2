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

__all__ = ["OutputNames", "output_base", "output_names", "sds_path", "EXTENSIONS", "SEISMIC_EXTENSIONS", "NOISE_SUFFIX"]

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


SDS_CODE = r"[A-Za-z0-9_-]*"  # what a SEED code may hold in an SDS path (nothing that walks out of the tree)


def sds_path(root, trace_id, year, julday):
    """``ROOT/YEAR/NET/STA/CHA.D/NET.STA.LOC.CHA.D.YEAR.DOY``: the SDS day file of a SEED id (the layout of
    slarchive, SeisComP and ``obspy.clients.filesystem.sds``).

    Raises:
        geokeras.errors.InputError: an id with an empty network, station or channel code, or a code holding
            anything but letters, digits, ``_`` and ``-`` (a path separator, ``..``, a space).

    Example:
        >>> sds_path("SDS", "XX.STA.00.HXZ", 2020, 1)
        'SDS/2020/XX/STA/HXZ.D/XX.STA.00.HXZ.D.2020.001'
    """
    import re

    from geokeras.errors import InputError

    codes = str(trace_id).split(".")
    if (len(codes) != 4 or not all(re.fullmatch(SDS_CODE, c) for c in codes)
            or not all(codes[i] for i in (0, 1, 3))):
        raise InputError(f"trace id {trace_id!r} cannot name an SDS file: expected NET.STA.LOC.CHA with non-empty "
                         "network, station and channel codes of letters, digits, '_' and '-'")
    net, sta, loc, cha = codes
    year = f"{int(year):04d}"
    return os.path.join(os.fspath(root), year, net, sta, f"{cha}.D", f"{net}.{sta}.{loc}.{cha}.D.{year}.{int(julday):03d}")
