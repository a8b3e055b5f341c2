"""Reading anything ObsPy reads, and writing atomically with headers, gaps and processing history kept.

* `read` takes a path, a glob, a directory, an ``obspy.Stream`` or ``obspy.Trace``;
  `read_sds` reads a time span from an SDS archive (``obspy.clients.filesystem.sds``).
* `find_files` is the one file finder (used by `read` and by ``geokeras denoise``): a path that exists
  is taken literally (``ev[1].mseed`` is that file, never a pattern), a directory gives every regular,
  non-hidden file below it, anything else with ``*?[`` is a glob pattern; each file comes with its path
  relative to its input (for output trees that mirror input trees).
* `write` writes through a temporary file in the destination folder and ``os.replace``: a reader
  never sees a half-written file and an interrupted write leaves the old file intact.

Bad input (all ``ValueError`` unless stated):

=========================  ==================================================================
Input                      Result
=========================  ==================================================================
missing path / no match    ``FileNotFoundError``
empty file                 `~geokeras.errors.InputError` "... is empty"
unknown format             `~geokeras.errors.UnknownFormatError` naming the file (ObsPy's format
                           detection failed)
corrupt MiniSEED           ValueError with ObsPy/libmseed's message (e.g. truncated record);
                           damage that libmseed cannot detect (a float payload) is not caught
                           here: `geokeras.data.process.apply_to_stream` rejects NaN/inf later
file with no trace         InputError
directory or glob          every regular file found (recursive, sorted, hidden files skipped);
                           files that are not readable waveforms are skipped with one
                           UserWarning that lists them; InputError if none is a waveform
=========================  ==================================================================

Writing: masked gaps cannot be stored in MiniSEED or SAC, so masked traces are split at their
gaps (``Stream.split``) before writing; reading back with ``merge=True`` restores the masked
gaps (a trace that is all gap has nothing to write: UserWarning; ObsPy likewise warns when it
skips a zero-length trace). Sample types are kept (float32, float64, int32; an int64 trace that fits is stored as
int32, other types as float64). File formats cannot store ``stats.processing``: when any trace has a
processing history, `write` stores it in a JSON sidecar ``<path>.processing.json`` (atomic too)
and `read` restores it onto the traces with the same id and overlapping times.

Headers a format cannot hold. `write` reads the headers of the file it wrote (before moving it into
place) and compares them with the stream's:

- a changed id (MiniSEED holds at most 2 network, 5 station, 2 location and 3 channel characters: a
  network ``ABCD`` would become ``AB``) refuses the write with `~geokeras.errors.FormatError` and a hint
  (SAC holds 8 characters per code);
- a changed ``calib`` (MiniSEED has none: 0.0949 would read back as 1.0), ``sampling_rate`` or
  ``starttime`` is kept in the sidecar; `read` restores it and adds a note to ``stats.processing``.

Single-trace formats (SAC): a stream of several traces (or a trace with gaps) is written as one file
per trace, named by `output_paths`: ``<stem>.<id><ext>``, ``<stem>.<id>.<k><ext>`` for the k-th
segment of an id with gaps.

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
import collections
import glob
import json
import os
import warnings

import numpy as np
import obspy

from geokeras.errors import FormatError, InputError, UnknownFormatError, one_line
from geokeras.utils import atomic_path, release_free_memory, safe_name

__all__ = ["read", "read_sds", "read_mseed_pieces", "append_mseed", "write_sidecar", "write", "read_sidecar", "check_ids", "find_files", "output_paths", "FoundFile",
           "SIDECAR_SUFFIX"]

SIDECAR_SUFFIX = ".processing.json"
_SINGLE_TRACE_FORMATS = {"SAC", "SACXY"}
_RELEASE_AFTER = 2 ** 25  # bytes of samples read from files after which the heap the reader freed is released
_ENCODING_DTYPES = {"FLOAT32": "float32", "FLOAT64": "float64", "INT32": "int32", "STEIM1": "int32",
                    "STEIM2": "int32", "INT16": "int16"}


FoundFile = collections.namedtuple("FoundFile", "path relative explicit")
FoundFile.__doc__ = """A file found by `find_files`: its ``path``, its path ``relative`` to the input that named it
(a folder, the fixed part of a glob, or the common folder of the files named directly) and whether it was
named ``explicit``-ly (a file named directly must be readable; files found in folders or by globs that
are not waveforms may be skipped)."""


def _visible(relative):
    return not any(part.startswith(".") for part in relative.split(os.sep)) and not relative.endswith(SIDECAR_SUFFIX)


def _static_root(pattern):
    """The folder part of a glob pattern before its first magic component (``a/b/*/x*`` -> ``a/b``)."""
    parts, fixed = pattern.split(os.sep), []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or ("/" if pattern.startswith(os.sep) else ".")


def find_files(sources):
    """Expand paths, folders and glob patterns into a list of `FoundFile`, literally first.

    Args:
        sources: a path, folder or glob pattern, or a list of them (``str`` or ``os.PathLike``).

    Returns:
        list of `FoundFile`, in argument order (folder contents and glob matches sorted), each real file
        once; hidden files and folders and ``.processing.json`` sidecars are left out of folders and globs.

    Raises:
        FileNotFoundError: an argument names nothing (no such path, no file matches the pattern).
        InputError: a folder holds no file, or a path is not a regular file (a device, a pipe).

    Example:
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> for name in ("ev[1].mseed", "ev1.mseed"):
        ...     open(os.path.join(d, name), "w").close()
        >>> [f.relative for f in find_files(os.path.join(d, "ev[1].mseed"))]  # the file, not a pattern
        ['ev[1].mseed']
        >>> [f.relative for f in find_files(d)]
        ['ev1.mseed', 'ev[1].mseed']
    """
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    found, explicit = [], []
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            files = []
            for root, dirs, names in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    path = os.path.join(root, name)
                    rel = os.path.relpath(path, item)
                    if _visible(rel) and os.path.isfile(path):
                        files.append(FoundFile(path, rel, False))
            if not files:
                raise InputError(f"Input folder {item!r} has no files.")
            found += files
        elif os.path.exists(item):
            if not os.path.isfile(item):
                raise InputError(f"Input {item!r} is not a regular file.")
            found.append(None)  # placeholder: relative path set below, from all the explicit files
            explicit.append((len(found) - 1, item))
        elif glob.has_magic(item):
            root = _static_root(item)
            files = [FoundFile(p, os.path.relpath(p, root), False) for p in sorted(glob.glob(item, recursive=True))
                     if os.path.isfile(p) and _visible(os.path.relpath(p, root))]
            if not files:
                raise FileNotFoundError(f"No file matches {item!r}.")
            found += files
        else:
            raise FileNotFoundError(f"No such file or directory: {item!r}.")
    if explicit:
        common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for _, p in explicit])
        for i, path in explicit:
            found[i] = FoundFile(path, os.path.relpath(os.path.abspath(path), common), True)
    unique, seen = [], set()
    for f in found:
        key = os.path.realpath(f.path)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _read_file(path, format, **kwargs):
    path = str(path)
    if os.path.getsize(path) == 0:
        raise InputError(f"Cannot read {path!r}: the file is empty.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:  # escaped: obspy.read expands glob patterns, and an existing path is taken literally
            st = obspy.read(glob.escape(path), format=format, **kwargs)
        except TypeError as exc:
            if "Unknown format" in str(exc):
                raise UnknownFormatError(f"Cannot read {path!r}: unknown format (ObsPy could not detect a waveform "
                                         "format; pass `format=` if you know it).") from None
            raise InputError(f"Cannot read {path!r}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - ObsPy and its plugins raise many types
            detail = "; ".join(str(w.message) for w in caught)
            raise InputError(f"Cannot read {path!r} (corrupt or not {format or 'a waveform'}): {exc}"
                             + (f" [{detail}]" if detail else "")) from exc
    for w in caught:  # re-emit ObsPy's warnings (e.g. skipped records): never silent
        warnings.warn(f"{path}: {w.message}", UserWarning, stacklevel=3)
    if len(st) == 0:
        raise InputError(f"Cannot read {path!r}: it holds no trace.")
    _restore_sidecar(st, path)
    return st


def _restore_sidecar(st, path):
    sidecar = str(path) + SIDECAR_SUFFIX
    if not os.path.isfile(sidecar):
        return
    with open(sidecar) as f:
        entries = json.load(f)
    for tr in st:
        for e in entries:
            if (e["id"] == tr.id and obspy.UTCDateTime(e["starttime"]) <= tr.stats.endtime
                    and obspy.UTCDateTime(e["endtime"]) >= tr.stats.starttime):
                tr.stats.processing = list(e.get("processing", []))
                restored = e.get("stats") or {}
                for key, value in restored.items():
                    tr.stats[key] = obspy.UTCDateTime(value) if key == "starttime" else value
                if restored:
                    held = ", ".join(f"{k}={v}" for k, v in restored.items())
                    tr.stats.processing.append(
                        f"geokeras: io.read restored {held} from {os.path.basename(sidecar)} (the file format "
                        "cannot hold it)")
                break


def read(source, format=None, merge=False, **kwargs):
    """Read waveforms into an ``obspy.Stream``.

    Args:
        source: ``obspy.Stream`` or ``obspy.Trace`` (copied), a file path (taken literally when it
            exists), a glob pattern (``"data/*.mseed"``, ``**`` allowed) or a directory (all files inside,
            recursively): see `find_files`.
        format: ObsPy format name (``"MSEED"``, ``"SAC"``, ...); None lets ObsPy detect it.
        merge: merge traces of the same id (``merge(method=1, fill_value=None)``): gaps become
            masked samples. Default False returns the traces as stored.
        **kwargs: passed to ``obspy.read``.

    Returns:
        ``obspy.Stream`` with at least one trace; headers kept in a sidecar by `write` are restored.

    Raises:
        FileNotFoundError: nothing at ``source``.
        InputError: empty file, corrupt file, no trace (see the module docstring);
            UnknownFormatError: a file named directly is not a waveform.
    """
    if isinstance(source, obspy.Trace):
        st = obspy.Stream([source.copy()])
    elif isinstance(source, obspy.Stream):
        st = source.copy()
        if len(st) == 0:
            raise ValueError("Invalid value for argument `source`. Received an empty Stream.")
    elif isinstance(source, (str, os.PathLike)):
        st, skipped = obspy.Stream(), []
        for f in find_files(source):
            try:
                st += _read_file(f.path, format, **kwargs)
            except InputError as exc:
                if f.explicit:
                    raise
                skipped.append(f"{f.relative} ({str(exc).split(': ', 1)[-1][:60]})")
        if skipped:
            warnings.warn(f"Skipped {len(skipped)} file(s) of {os.fspath(source)!r} that are not readable waveforms: "
                          + ", ".join(skipped), UserWarning, stacklevel=2)
        if len(st) == 0:
            raise InputError(f"Cannot read {os.fspath(source)!r}: it holds no readable waveform file.")
        if sum(tr.data.nbytes for tr in st) >= _RELEASE_AFTER:
            release_free_memory()  # what the reader freed, as much again as the samples (long records)
    else:
        raise ValueError("Invalid value for argument `source`. Expected a path, glob, directory, obspy.Stream or "
                         f"obspy.Trace. Received {type(source).__name__}.")
    if merge:
        st.merge(method=1, fill_value=None)
    return st


PIECE_BYTES = 2 ** 21  # bytes of MiniSEED records per piece of `read_mseed_pieces`


def read_mseed_pieces(path, piece_bytes=PIECE_BYTES, record_ends=False):
    """Yield the records of a MiniSEED file as Streams of about ``piece_bytes`` of whole records, in file order.

    Each piece is read into memory and given to ObsPy's reader (``obspy.read`` of a ``BytesIO``), so only one
    piece is held at a time, whatever the size of the file; traces are not merged across pieces.

    With ``record_ends``, each piece comes as ``(stream, ends)``: ``ends[id]`` is the time of the sample after
    the last record of that id in the piece, by that record's own start time (ObsPy's reader joins the next
    record of the id to it when that record starts within half a sample of this time; a trace's own end is on
    the grid of its first record instead, and a drift of the records' times within it is not seen).

    Raises:
        InputError: the file cannot be cut into pieces of whole records (its size is not a multiple of its
            first record's length, a piece does not start with a record of that length) or ObsPy remarks on
            a piece (a damaged record): read it whole (`read`) to have the reason.
        ValueError: ``piece_bytes`` is not a positive integer (a piece holds at least one record).
    """
    import io as bytes_io

    from obspy.io.mseed.util import get_record_information

    from geokeras.validation import check_positive_int

    piece_bytes = check_positive_int("piece_bytes", piece_bytes)
    path = os.fspath(path)
    size = os.path.getsize(path)
    try:
        reclen = int(get_record_information(path)["record_length"])
    except Exception as exc:  # noqa: BLE001 - not a MiniSEED record
        raise InputError(f"Cannot read {path!r} in pieces: {exc}") from None
    if reclen <= 0 or size % reclen:
        raise InputError(f"Cannot read {path!r} in pieces: its size {size} is not a multiple of its record length "
                         f"{reclen}")
    step = max(1, piece_bytes // reclen) * reclen
    with open(path, "rb") as f:
        for offset in range(0, size, step):
            try:
                same = offset == 0 or int(get_record_information(f, offset)["record_length"]) == reclen
            except Exception:  # noqa: BLE001 - not a record there
                same = False
            if not same:
                raise InputError(f"Cannot read {path!r} in pieces: no record of {reclen} bytes at byte {offset}")
            f.seek(offset)
            buf = f.read(step)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    st = obspy.read(bytes_io.BytesIO(buf), format="MSEED")
                except Exception as exc:  # noqa: BLE001 - a piece that ends inside a longer record, ...
                    raise InputError(f"Cannot read {path!r} in pieces: the piece at byte {offset} does not read "
                                     f"({one_line(exc)})") from None
            own = [w for w in caught if _from_obspy(w)]
            for w in caught:  # another thread's warning, caught by the process-wide filter: not this file's
                if not _from_obspy(w):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if own:
                raise InputError(f"Cannot read {path!r} in pieces: {own[0].message}")
            yield (st, _last_record_ends(path, buf, reclen, {tr.id for tr in st})) if record_ends else st


def _from_obspy(caught):
    """Whether a caught ``warnings.WarningMessage`` was raised by ObsPy's code (``catch_warnings`` is process-wide:
    it also records what other threads warn meanwhile, e.g. a model loading in the background)."""
    return ("obspy" in str(caught.filename).replace("\\", "/").split("/")
            or getattr(caught.category, "__module__", "").split(".")[0] == "obspy")


def _last_record_ends(path, buf, reclen, ids):
    """``{id: time after the last sample of its last record}`` for the ``ids`` of the records in ``buf`` (scanned
    from the end, up to the last record of each id)."""
    import io as bytes_io

    from obspy.io.mseed.util import get_record_information

    f, ends = bytes_io.BytesIO(buf), {}
    for offset in range(len(buf) - reclen, -1, -reclen):
        head = buf[offset:offset + 7]  # a data record: 6 digits (or spaces), then its quality D, R, Q or M
        try:
            if not (all(48 <= c <= 57 or c == 32 for c in head[:6]) and head[6:7] in (b"D", b"R", b"Q", b"M")):
                raise ValueError(f"no record header at byte {offset} of a piece (records of several lengths?)")
            info = get_record_information(f, offset)
            if int(info["record_length"]) != reclen:
                raise ValueError(f"a record of {info['record_length']} bytes at byte {offset} of a piece")
        except Exception as exc:  # noqa: BLE001 - not a record there (records of several lengths)
            raise InputError(f"Cannot read {path!r} in pieces: {exc}") from None
        tid = ".".join(info[k] for k in ("network", "station", "location", "channel"))
        if tid not in ends and info["npts"] and info["samp_rate"]:  # ObsPy's reader joins no empty record
            ends[tid] = info["starttime"] + info["npts"] / info["samp_rate"]
            if len(ends) >= len(ids):
                break
    if not ids <= set(ends):
        raise InputError(f"Cannot read {path!r} in pieces: the last records of {sorted(ids - set(ends))} not found")
    return ends


def append_mseed(f, traces):
    """Encode ``traces`` (as `write` would: see the module docstring) as MiniSEED records appended to the open
    binary file ``f``; a piece of a file written piece by piece (records of one id that continue one another
    read back as one trace). No sidecar is written (`write_sidecar` does).

    Raises:
        FormatError: MiniSEED cannot hold a trace's id (nothing is appended).
    """
    import io as bytes_io

    st = _prepare_for_write(obspy.Stream(list(traces)), "MSEED")
    check_ids(st, "MSEED")
    buf = bytes_io.BytesIO()
    st.write(buf, format="MSEED")
    f.write(buf.getbuffer())


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


def _writable_encodings():
    from obspy.io.mseed.headers import ENCODINGS

    return {name for name, _, _, writable in ENCODINGS.values() if writable}


def _prepare_for_write(stream, fmt="MSEED"):
    # new traces with copied headers that share the samples (only replaced below, never changed in place)
    st = obspy.Stream([obspy.Trace(data=tr.data, header=tr.stats.copy()) for tr in (
        [stream] if isinstance(stream, obspy.Trace) else stream)])
    for tr in st:
        if not tr.data.size:
            warnings.warn(f"Trace {tr.id} ({tr.stats.starttime}) has no sample: it is not written.",
                          UserWarning, stacklevel=3)
        elif np.ma.getmaskarray(tr.data).all():
            warnings.warn(f"Trace {tr.id} ({tr.stats.starttime}) has no unmasked sample: it is not written "
                          "(a file cannot store a trace that is all gap).", UserWarning, stacklevel=3)
    if any(np.ma.isMaskedArray(tr.data) for tr in st):
        st = st.split()
    st = obspy.Stream([tr for tr in st if tr.data.size])
    if not len(st):
        raise InputError("Nothing to write: every trace is empty or all gap.")
    for tr in st:
        if tr.data.dtype == np.int64 and tr.data.size and np.abs(tr.data).max() < 2 ** 31:
            tr.data = tr.data.astype(np.int32)
        elif tr.data.dtype not in (np.int32, np.float32, np.float64):  # int8/16, uint*, int64 >= 2**31 ...
            tr.data = tr.data.astype(np.float64)
        enc = tr.stats.get("mseed", {}).get("encoding")
        if enc is not None and fmt == "MSEED" and enc not in _writable_encodings():  # e.g. CDSN, SRO: read only
            warnings.warn(f"{tr.id}: MiniSEED encoding {enc!r} cannot be written by ObsPy; written in ObsPy's "
                          f"encoding for {tr.data.dtype.name} samples instead", UserWarning, stacklevel=3)
            del tr.stats.mseed["encoding"]
        elif enc is not None and _ENCODING_DTYPES.get(enc) not in (None, tr.data.dtype.name):
            del tr.stats.mseed["encoding"]  # stale encoding of the file read: let ObsPy pick by dtype
    return st


def output_paths(stream, path, format="MSEED"):
    """The files `write` will write for ``stream`` at ``path`` (after splitting at gaps).

    One file ``path`` for a multi-trace format (MiniSEED) or a single trace; for a single-trace format
    (SAC) with several traces: ``<stem>.<id><ext>`` per trace, ``<stem>.<id>.<k><ext>`` (k from 0) when
    an id has several segments. The id is made safe as part of a file name (`geokeras.utils.safe_name`:
    ``/`` becomes ``_``), so every name stays in the folder of ``path``.

    Example:
        >>> import obspy
        >>> output_paths(obspy.read(), "out/ev.sac", format="SAC")
        ['out/ev.BW.RJOB..EHZ.sac', 'out/ev.BW.RJOB..EHN.sac', 'out/ev.BW.RJOB..EHE.sac']
    """
    path = os.fspath(path)
    st = stream.copy().split() if any(np.ma.isMaskedArray(tr.data) for tr in stream) else stream
    st = [tr for tr in st if tr.stats.npts]
    if (format or "MSEED").upper() not in _SINGLE_TRACE_FORMATS or len(st) <= 1:
        return [path]
    stem, ext = os.path.splitext(path)
    ids = [safe_name(tr.id) for tr in st]  # ids that differ only by unsafe characters count as one
    count, names = {}, []
    for tid in ids:
        k = count.get(tid, 0)
        count[tid] = k + 1
        names.append(f"{stem}.{tid}" + (f".{k}" if ids.count(tid) > 1 else "") + ext)
    return names


_ID_KEYS = ("network", "station", "location", "channel")


def _held_back(st, tmp, fmt):
    """Compare the headers of the written file with the stream's; return ``{index: {key: value}}`` to keep.

    Raises:
        FormatError: the format changed a trace id.
    """
    back = obspy.read(glob.escape(tmp), format=fmt, headonly=True)
    if len(back) != len(st):  # a format that merges or drops traces: nothing to compare one to one
        return {}
    kept = {}
    for i, (a, b) in enumerate(zip(st, back)):
        if any(a.stats[k] != b.stats[k] for k in _ID_KEYS):
            raise _id_error(fmt, a, f"it would be written as {b.id!r}")
        diff = {}
        if a.stats.calib != b.stats.calib:
            diff["calib"] = float(a.stats.calib)
        if abs(a.stats.sampling_rate - b.stats.sampling_rate) > 1e-9 * a.stats.sampling_rate:
            diff["sampling_rate"] = float(a.stats.sampling_rate)
        if abs(a.stats.starttime - b.stats.starttime) > 1e-6:
            diff["starttime"] = str(a.stats.starttime)
        if diff:
            kept[i] = diff
    return kept


def read_sidecar(path):
    """The entries of the sidecar of the waveform file ``path`` (a list of dicts: ``id``, ``starttime``,
    ``endtime``, ``processing`` and any fields `write` was given), or ``[]`` when there is none.

    Raises:
        ValueError: the sidecar is not valid JSON.
    """
    try:
        with open(str(path) + SIDECAR_SUFFIX) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def write_sidecar(path, entries):
    """Write the sidecar of the waveform file ``path`` atomically: a list of dicts as `read_sidecar` returns
    (``id``, ``starttime``, ``endtime``, ``processing`` and any fields); none removes a stale one."""
    sidecar = str(path) + SIDECAR_SUFFIX
    if entries:
        with atomic_path(sidecar) as tmp, open(tmp, "w") as f:
            json.dump(entries, f, indent=1)
    elif os.path.exists(sidecar):
        os.unlink(sidecar)  # a stale history from an older file at this path would be wrong


def _write_sidecar(st, path, held, fields):
    entries = []
    for i, tr in enumerate(st):
        if tr.stats.get("processing") or i in held:
            entry = dict(id=tr.id, starttime=str(tr.stats.starttime), endtime=str(tr.stats.endtime),
                         processing=list(tr.stats.get("processing", [])), **(fields or {}))
            if i in held:
                entry["stats"] = held[i]
            entries.append(entry)
    write_sidecar(path, entries)


def write(stream, path, format="MSEED", processing_sidecar=True, sidecar_fields=None, **kwargs):
    """Write a Stream atomically (temporary file in the same folder, then ``os.replace``).

    Existing files at ``path`` are replaced (the caller decides whether that is wanted).

    Args:
        stream: ``obspy.Stream`` or ``obspy.Trace`` (not modified).
        path: destination file.
        format: ObsPy format name (default MiniSEED).
        processing_sidecar: store ``stats.processing`` and the headers the format cannot hold in
            ``<path>.processing.json`` (see the module docstring).
        sidecar_fields: a dict of JSON values stored in every entry of the sidecar (e.g. the options a
            program needs to compare later; `read_sidecar` gives them back).
        **kwargs: passed to ``Stream.write`` (e.g. ``encoding``, ``reclen``).

    Returns:
        ``path`` as a string; for a single-trace format (SAC) with several traces (or gaps): the list
        of written paths (`output_paths`).

    Raises:
        FormatError: the format would change a trace id (nothing is written).
    """
    path = os.fspath(path)
    fmt = (format or "MSEED").upper()
    st = _prepare_for_write(stream, fmt)
    check_ids(st, fmt)  # refuse before writing any file (ObsPy's own refusal is not a reason a user can act on)
    targets = output_paths(st, path, fmt)
    if len(targets) > 1:
        return [write(tr, target, format=fmt, processing_sidecar=processing_sidecar, sidecar_fields=sidecar_fields,
                      **kwargs) for tr, target in zip(st, targets)]
    with atomic_path(path) as tmp:
        _write_file(st, tmp, fmt, **kwargs)
        held = _held_back(st, tmp, fmt)
    if processing_sidecar:
        _write_sidecar(st, path, held, sidecar_fields)
    return path


def _write_file(st, path, fmt, **kwargs):
    """``st.write(path)``; MiniSEED is encoded in memory first: libmseed writes its records through a ctypes
    callback, where a failing write (disk full) is printed once per record and ignored, not raised."""
    if fmt != "MSEED":
        st.write(path, format=fmt, **kwargs)
        return
    import io as bytes_io

    buf = bytes_io.BytesIO()
    st.write(buf, format=fmt, **kwargs)
    with open(path, "wb") as f:
        f.write(buf.getbuffer())


def check_ids(stream, format="MSEED"):
    """Raise `~geokeras.errors.FormatError` if ``format`` cannot hold the id of a trace of ``stream``.

    Checked on a one-sample copy of each trace written to memory and read back, before any work.

    Example:
        >>> import obspy
        >>> st = obspy.read()[:1]
        >>> st[0].stats.network = "ABCD"
        >>> check_ids(st, "SAC")
        >>> check_ids(st, "MSEED")
        Traceback (most recent call last):
        ...
        geokeras.errors.FormatError: MSEED cannot hold the trace id 'ABCD.RJOB..EHZ' (it would be written as 'AB.RJOB..EHZ'). Write another format, e.g. format='SAC' (`geokeras denoise --format SAC`).
    """
    import io as bytes_io

    fmt = (format or "MSEED").upper()
    for tid, tr in {tr.id: tr for tr in stream}.items():
        probe = obspy.Trace(np.zeros(1, dtype=np.float32), header={k: tr.stats[k] for k in _ID_KEYS})
        buf = bytes_io.BytesIO()
        try:
            probe.write(buf, format=fmt)
        except ValueError as exc:  # ObsPy refuses a code longer than its header field ("bytes too long")
            raise _id_error(fmt, tr, f"ObsPy refused it: {exc}") from None
        buf.seek(0)
        back = obspy.read(buf, format=fmt, headonly=True)[0]
        if back.id != tid:
            raise _id_error(fmt, tr, f"it would be written as {back.id!r}")


_CODE_LENGTHS = {"MSEED": (2, 5, 2, 3), "SAC": (8, 8, 8, 8)}  # network, station, location, channel


def _id_error(fmt, tr, what):
    """The `FormatError` for a trace id ``fmt`` cannot hold, with advice that fits (never the same format)."""
    def fits(other):
        return all(len(str(tr.stats[k])) <= n for k, n in zip(_ID_KEYS, _CODE_LENGTHS[other]))

    others = [f for f in _CODE_LENGTHS if f != fmt and fits(f)]
    hint = (f"Write another format, e.g. format={others[0]!r} (`geokeras denoise --format {others[0]}`)" if others
            else "No format geokeras writes holds codes this long (MiniSEED 2/5/2/3 characters, SAC 8): shorten "
                 "the codes (network, station, location, channel) before denoising")
    return FormatError(f"{fmt} cannot hold the trace id {tr.id!r} ({what}). {hint}.")
