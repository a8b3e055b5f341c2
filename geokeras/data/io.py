"""Reading anything ObsPy reads, and writing atomically with headers, gaps and processing history kept.

* `read` takes a path, a glob, a directory, an ``obspy.Stream`` or ``obspy.Trace``;
  `read_sds` reads a time span from an SDS archive (``obspy.clients.filesystem.sds``).
* `write` writes through a temporary file in the destination folder and ``os.replace``: a reader
  never sees a half-written file and an interrupted write leaves the old file intact.

Bad input (all ``ValueError`` unless stated):

=========================  ==================================================================
Input                      Result
=========================  ==================================================================
missing path / no match    ``FileNotFoundError``
empty file                 ValueError "... is empty"
unknown format             ValueError naming the file (ObsPy's format detection failed)
corrupt MiniSEED           ValueError with ObsPy/libmseed's message (e.g. truncated record);
                           damage that libmseed cannot detect (a float payload) is not caught
                           here: `geokeras.data.process.apply_to_stream` rejects NaN/inf later
file with no trace         ValueError
directory                  every regular file inside (recursive, sorted, hidden files skipped);
                           files that are not waveforms are skipped with one UserWarning that
                           lists them; ValueError if none is a waveform
=========================  ==================================================================

Writing: masked gaps cannot be stored in MiniSEED or SAC, so masked traces are split at their
gaps (``Stream.split``) before writing; reading back with ``merge=True`` restores the masked
gaps (a trace that is all gap has nothing to write: UserWarning; ObsPy likewise warns when it
skips a zero-length trace). Sample types are kept (float32, float64, int32; an int64 trace that fits is stored as
int32, other types as float64). File formats cannot store ``stats.processing``: when any trace has a
processing history, `write` stores it in a JSON sidecar ``<path>.processing.json`` (atomic too)
and `read` restores it onto the traces with the same id and overlapping times.

Example:
    >>> import os, tempfile, obspy
    >>> st = obspy.read()
    >>> st[0].stats.processing = ["demo step"]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write(st, os.path.join(d, "x.mseed"))
    ...     back = read(path)
    ...     sorted(os.listdir(d))
    ['x.mseed', 'x.mseed.processing.json']
    >>> back[0].id, back[0].stats.npts, back[0].stats.processing
    ('BW.RJOB..EHZ', 3000, ['demo step'])
"""
import glob
import json
import os
import warnings
from pathlib import Path

import numpy as np
import obspy

from geokeras.utils import atomic_path

__all__ = ["read", "read_sds", "write", "SIDECAR_SUFFIX"]

SIDECAR_SUFFIX = ".processing.json"
_SINGLE_TRACE_FORMATS = {"SAC", "SACXY"}
_ENCODING_DTYPES = {"FLOAT32": "float32", "FLOAT64": "float64", "INT32": "int32", "STEIM1": "int32",
                    "STEIM2": "int32", "INT16": "int16"}


def _read_file(path, format, **kwargs):
    path = str(path)
    if os.path.getsize(path) == 0:
        raise ValueError(f"Cannot read {path!r}: the file is empty.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            st = obspy.read(path, format=format, **kwargs)
        except TypeError as exc:
            if "Unknown format" in str(exc):
                raise ValueError(f"Cannot read {path!r}: unknown format (ObsPy could not detect a waveform "
                                 "format; pass `format=` if you know it).") from None
            raise ValueError(f"Cannot read {path!r}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - ObsPy and its plugins raise many types
            detail = "; ".join(str(w.message) for w in caught)
            raise ValueError(f"Cannot read {path!r} (corrupt or not {format or 'a waveform'}): {exc}"
                             + (f" [{detail}]" if detail else "")) from exc
    for w in caught:  # re-emit ObsPy's warnings (e.g. skipped records): never silent
        warnings.warn(f"{path}: {w.message}", UserWarning, stacklevel=3)
    if len(st) == 0:
        raise ValueError(f"Cannot read {path!r}: it holds no trace.")
    _restore_processing(st, path)
    return st


def _restore_processing(st, path):
    sidecar = str(path) + SIDECAR_SUFFIX
    if not os.path.isfile(sidecar):
        return
    with open(sidecar) as f:
        entries = json.load(f)
    for tr in st:
        for e in entries:
            if (e["id"] == tr.id and obspy.UTCDateTime(e["starttime"]) <= tr.stats.endtime
                    and obspy.UTCDateTime(e["endtime"]) >= tr.stats.starttime):
                tr.stats.processing = list(e["processing"])
                break


def read(source, format=None, merge=False, **kwargs):
    """Read waveforms into an ``obspy.Stream``.

    Args:
        source: ``obspy.Stream`` or ``obspy.Trace`` (copied), a file path, a glob pattern
            (``"data/*.mseed"``, ``**`` allowed) or a directory (all files inside, recursively).
        format: ObsPy format name (``"MSEED"``, ``"SAC"``, ...); None lets ObsPy detect it.
        merge: merge traces of the same id (``merge(method=1, fill_value=None)``): gaps become
            masked samples. Default False returns the traces as stored.
        **kwargs: passed to ``obspy.read``.

    Returns:
        ``obspy.Stream`` with at least one trace.

    Raises:
        FileNotFoundError: nothing at ``source``.
        ValueError: empty file, unknown format, corrupt file, no trace (see the module docstring).
    """
    if isinstance(source, obspy.Trace):
        st = obspy.Stream([source.copy()])
    elif isinstance(source, obspy.Stream):
        st = source.copy()
        if len(st) == 0:
            raise ValueError("Invalid value for argument `source`. Received an empty Stream.")
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            st = _read_dir(path, format, **kwargs)
        elif os.path.isfile(path):
            st = _read_file(path, format, **kwargs)
        elif glob.has_magic(path):
            files = sorted(f for f in glob.glob(path, recursive=True)
                           if os.path.isfile(f) and not f.endswith(SIDECAR_SUFFIX))
            if not files:
                raise FileNotFoundError(f"No file matches {path!r}.")
            st = obspy.Stream()
            for f in files:
                st += _read_file(f, format, **kwargs)
        else:
            raise FileNotFoundError(f"No such file or directory: {path!r}.")
    else:
        raise ValueError("Invalid value for argument `source`. Expected a path, glob, directory, obspy.Stream or "
                         f"obspy.Trace. Received {type(source).__name__}.")
    if merge:
        st.merge(method=1, fill_value=None)
    return st


def _read_dir(path, format, **kwargs):
    files = sorted(
        p for p in Path(path).rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        and not p.name.endswith(SIDECAR_SUFFIX)
    )
    st, skipped = obspy.Stream(), []
    for f in files:
        try:
            st += _read_file(f, format, **kwargs)
        except ValueError as exc:
            skipped.append(f"{f.name} ({str(exc).split(': ', 1)[-1][:60]})")
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} file(s) of {path!r} that are not readable waveforms: "
                      + ", ".join(skipped), UserWarning, stacklevel=3)
    if len(st) == 0:
        raise ValueError(f"Cannot read directory {path!r}: it holds no readable waveform file.")
    return st


def read_sds(root, network, station, location, channel, starttime, endtime, merge=False, **kwargs):
    """Read a time span from an SDS archive (``ROOT/YEAR/NET/STA/CHAN.D/NET.STA.LOC.CHAN.D.YEAR.DOY``).

    Uses ``obspy.clients.filesystem.sds.Client``; wildcards ``*`` and ``?`` are allowed in codes.

    Args:
        root: SDS root folder.
        network, station, location, channel: SEED codes.
        starttime, endtime: ``obspy.UTCDateTime`` (or anything it accepts).
        merge: as in `read`.
        **kwargs: passed to ``Client.get_waveforms``.

    Returns:
        ``obspy.Stream``.

    Raises:
        FileNotFoundError: ``root`` is not a directory.
        ValueError: no data for that selection and span.
    """
    from obspy.clients.filesystem.sds import Client

    if not os.path.isdir(root):
        raise FileNotFoundError(f"SDS root {str(root)!r} is not a directory.")
    t1, t2 = obspy.UTCDateTime(starttime), obspy.UTCDateTime(endtime)
    st = Client(str(root)).get_waveforms(network, station, location, channel, t1, t2, merge=-1, **kwargs)
    if len(st) == 0:
        raise ValueError(f"No data in SDS archive {str(root)!r} for {network}.{station}.{location}.{channel} "
                         f"between {t1} and {t2}.")
    if merge:
        st.merge(method=1, fill_value=None)
    return st


def _prepare_for_write(stream):
    st = read(stream)  # a copy
    for tr in st:
        if tr.data.size and np.ma.getmaskarray(tr.data).all():
            warnings.warn(f"Trace {tr.id} ({tr.stats.starttime}) has no unmasked sample: it is not written "
                          "(a file cannot store a trace that is all gap).", UserWarning, stacklevel=3)
    if any(np.ma.isMaskedArray(tr.data) for tr in st):
        st = st.split()
    for tr in st:
        if tr.data.dtype == np.int64 and tr.data.size and np.abs(tr.data).max() < 2 ** 31:
            tr.data = tr.data.astype(np.int32)
        elif tr.data.dtype not in (np.int32, np.float32, np.float64):  # int8/16, uint*, int64 >= 2**31 ...
            tr.data = tr.data.astype(np.float64)
        enc = tr.stats.get("mseed", {}).get("encoding")
        if enc is not None and _ENCODING_DTYPES.get(enc) not in (None, tr.data.dtype.name):
            del tr.stats.mseed["encoding"]  # stale encoding of the file read: let ObsPy pick by dtype
    return st


def _write_sidecar(st, path):
    entries = [dict(id=tr.id, starttime=str(tr.stats.starttime), endtime=str(tr.stats.endtime),
                    processing=list(tr.stats.processing))
               for tr in st if tr.stats.get("processing")]
    sidecar = str(path) + SIDECAR_SUFFIX
    if entries:
        with atomic_path(sidecar) as tmp, open(tmp, "w") as f:
            json.dump(entries, f, indent=1)
    elif os.path.exists(sidecar):
        os.unlink(sidecar)  # a stale history from an older file at this path would be wrong


def write(stream, path, format="MSEED", processing_sidecar=True, **kwargs):
    """Write a Stream atomically (temporary file in the same folder, then ``os.replace``).

    Existing files at ``path`` are replaced (the caller decides whether that is wanted).

    Args:
        stream: ``obspy.Stream`` or ``obspy.Trace`` (not modified).
        path: destination file.
        format: ObsPy format name (default MiniSEED).
        processing_sidecar: store ``stats.processing`` in ``<path>.processing.json`` (see the module
            docstring).
        **kwargs: passed to ``Stream.write`` (e.g. ``encoding``, ``reclen``).

    Returns:
        ``path`` as a string; for a single-trace format (SAC) with several traces (or gaps): the list
        of written paths ``<stem>_<i><suffix>`` (i from 0), one per trace.
    """
    path = os.fspath(path)
    st = _prepare_for_write(stream)
    fmt = (format or "MSEED").upper()
    if fmt in _SINGLE_TRACE_FORMATS and len(st) > 1:
        stem, suffix = os.path.splitext(path)
        return [write(tr, f"{stem}_{i}{suffix}", format=fmt, processing_sidecar=processing_sidecar, **kwargs)
                for i, tr in enumerate(st)]
    with atomic_path(path) as tmp:
        st.write(tmp, format=fmt, **kwargs)
    if processing_sidecar:
        _write_sidecar(st, path)
    return path
