"""Denoise into an SDS archive: one MiniSEED file per id and UTC day, merged with what is there (``--layout sds``).

An SDS archive (slarchive, SeisComP, ``obspy.clients.filesystem.sds.Client``) holds
``ROOT/YEAR/NET/STA/CHA.D/NET.STA.LOC.CHA.D.YEAR.DOY`` (`geokeras.denoise.naming.sds_path`). `DenoiseToSDS` is
the per-file job of ``geokeras denoise --layout sds``: it denoises one input file like
`geokeras.denoise.DenoiseFile`, renames the channel (``channel_code="X"``: HHZ -> HXZ, `rename_channel`),
cuts each output trace at UTC midnights (`split_days`) and writes each day into its day file, merged with the
samples already there (`merge_day`: the new samples replace those they cover, the others are kept; nothing is
lost or duplicated), atomically and under a lock, so that inputs that share a day (a record across midnight)
may be written one after the other or by parallel workers.

Inputs may be an SDS tree themselves, even the output tree (the cron job of the seisDAE convention): files in
the output tree that are outputs of an earlier run (their sidecar records a denoise) are never inputs.

With ``components`` (``--components median``), `plan_sds` makes one job of the day files of a station's three
components (`component_groups`: one id and one UTC day each, the same ``NET.STA.LOC``, band and instrument code,
year and day, the component letters distinct, one of them ``Z``): the job reads the three files into one Stream,
`geokeras.denoise.denoise_stream` denoises them together where they are aligned and gap-free (else one trace at a
time, named in a note), and each output trace goes into its own day files as above; a file of the group that cannot
be used (unreadable, an id that cannot name a day file) is left out with its error, the other two denoised. Any
other file (a lone channel, a file of several ids or days) is a job of its own.

Each day file's ``.processing.json`` sidecar stores, as fields, the `~geokeras.denoise.DenoiseOptions.record`
of the run (``"denoise"``, with ``components``) and the size and modification time of every input written into
it (``"inputs"``: ``{real path: [bytes, mtime_ns]}``, taken before the inputs were read; a group's day files
record all of its inputs). ``resume`` skips a job whose day files record every one of its inputs as it is now,
so a day file whose input grew since is redone (a group's three, when one of them grew) and the rest skipped.

Example:
    >>> import obspy
    >>> tr = obspy.Trace(np.zeros(500, "float32"), header=dict(sampling_rate=100.0, channel="HHZ",
    ...                  starttime=obspy.UTCDateTime(2019, 12, 31, 23, 59, 58)))
    >>> [(day.year, day.julday, piece.stats.npts) for day, piece in split_days(tr)]
    [(2019, 365, 200), (2020, 1, 300)]
    >>> rename_channel("HHZ", "X")
    'HXZ'
"""
import collections
import contextlib
import dataclasses
import os
import re

import numpy as np
import obspy

from geokeras.denoise.executor import FileJob, job_paths
from geokeras.denoise.files import SIDECAR_FIELD, DenoiseFile, _check_not_input
from geokeras.denoise.naming import sds_path

__all__ = ["DenoiseToSDS", "split_days", "merge_day", "rename_channel", "check_channel_code", "plan_sds",
           "component_groups", "INPUTS_FIELD"]

INPUTS_FIELD = "inputs"  # the sidecar field: {input real path: [bytes, mtime_ns]} of the inputs in a day file
_SDS_NAME = re.compile(r"([^.]*)\.([^.]*)\.([^.]*)\.([^.]*)\.D\.(\d{4})\.(\d{3})")
_DAY = 86400.0

SDSTarget = collections.namedtuple("SDSTarget", "root sources")
SDSTarget.__doc__ = """The ``output`` of a job while it runs: the SDS ``root`` and ``{real path: [bytes, mtime_ns]}``
of the job's inputs before they were read (`_sources`: what the day files record for ``resume``)."""


def check_channel_code(name, value):
    """Return ``value``, one letter or digit (the instrument code that replaces a channel's second letter).

    >>> check_channel_code("channel_code", "XY")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `channel_code`. Expected one letter or digit. Received channel_code='XY'.
    """
    if not (isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9]", value)):
        raise ValueError(f"Invalid value for argument `{name}`. Expected one letter or digit. Received {name}={value!r}.")
    return value


def rename_channel(channel, code):
    """The channel code with its instrument code (second letter) replaced by ``code`` (None: unchanged).

    Raises:
        geokeras.errors.InputError: a channel code shorter than 2 characters.
    """
    from geokeras.errors import InputError

    if code is None:
        return channel
    if len(channel) < 2:
        raise InputError(f"channel code {channel!r} has no instrument code (second letter) to replace")
    return channel[0] + code + channel[2:]


def _renamed(trace_id, code):
    codes = str(trace_id).split(".")
    if len(codes) != 4:  # a code holding a dot (`sds_path` refuses the rest of what cannot name a file)
        from geokeras.errors import InputError

        raise InputError(f"trace id {trace_id!r} cannot name an SDS file: expected NET.STA.LOC.CHA with non-empty "
                         "network, station and channel codes of letters, digits, '_' and '-'")
    net, sta, loc, cha = codes
    return ".".join((net, sta, loc, rename_channel(cha, code)))


def split_days(trace):
    """``[(UTC midnight, Trace), ...]``: ``trace`` cut at UTC midnights, each sample in the day of its time.

    The pieces share the trace's samples (views) and carry copies of its headers with their start times.
    """
    t0, rate, n = trace.stats.starttime, trace.stats.sampling_rate, trace.stats.npts
    day = obspy.UTCDateTime(year=t0.year, julday=t0.julday)
    pieces, k = [], 0
    while k < n:
        nxt = day + _DAY
        stop = min(n, max(k, int(np.ceil((nxt - t0) * rate - 1e-6))))  # first sample at or after midnight
        if stop > k:
            piece = obspy.Trace(data=trace.data[k:stop])
            piece.stats = trace.stats.copy()
            piece.stats.npts = stop - k
            piece.stats.starttime = t0 + k / rate
            pieces.append((day, piece))
        k, day = stop, nxt
    return pieces


def merge_day(existing, new):
    """The Stream of a day file: ``existing`` traces with the samples the ``new`` traces of the same id cover
    (within half a sample) removed, plus ``new``; merged per id (gaps masked, written as separate records)."""
    from geokeras.data.process import segments

    kept = obspy.Stream()
    for old in existing:
        delta, t0 = old.stats.delta, old.stats.starttime
        covered = np.ma.getmaskarray(old.data).copy()
        for tr in new:
            if tr.id == old.id:
                lo = max(0, int(np.ceil((tr.stats.starttime - delta / 2 - t0) / delta)))
                hi = int(np.floor((tr.stats.endtime + delta / 2 - t0) / delta)) + 1
                covered[lo:max(lo, hi)] = True
        for a, b in segments(covered):
            piece = obspy.Trace(data=np.ma.getdata(old.data)[a:b])
            piece.stats = old.stats.copy()
            piece.stats.npts, piece.stats.starttime = b - a, t0 + a * delta
            kept.append(piece)
    merged = kept + obspy.Stream([tr for tr in new if np.ma.count(tr.data)])
    for tr in merged:
        tr.data = tr.data.astype(np.float32)
    merged.sort(["network", "station", "location", "channel", "starttime"])
    merged.merge(method=1, fill_value=None)
    return merged


@contextlib.contextmanager
def _locked(path):
    """Hold an exclusive lock on ``.<name>.lock`` beside ``path`` (read-modify-write of one day file)."""
    import fcntl

    lock = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.lock")
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _sources(input):
    """``{real path: [bytes, mtime_ns]}`` of a job's input (one path or a group's)."""
    return {os.path.realpath(path): [int(st.st_size), int(st.st_mtime_ns)]
            for path in job_paths(input) for st in [os.stat(path)]}


def input_days(path):
    """``[(id, year, julday), ...]`` of an input: from its name for an SDS day file, else from its headers."""
    match = _SDS_NAME.fullmatch(os.path.basename(path))
    if match:
        net, sta, loc, cha, year, doy = match.groups()
        return [(f"{net}.{sta}.{loc}.{cha}", int(year), int(doy))]
    days = []
    for tr in obspy.read(path, headonly=True):
        day = obspy.UTCDateTime(year=tr.stats.starttime.year, julday=tr.stats.starttime.julday)
        while day <= tr.stats.endtime:
            days.append((tr.id, day.year, day.julday))
            day += _DAY
    return sorted(set(days))


class _GroupStream(obspy.Stream):
    """The Stream of a group job's files (`DenoiseToSDS._read`) and ``unread``: the errors of the files left out."""

    def __init__(self):
        super().__init__()
        self.unread = []


@dataclasses.dataclass(frozen=True)
class DenoiseToSDS(DenoiseFile):
    """The job for one file, or a group of files read together (``job.input`` a tuple of paths:
    `component_groups`), into an SDS archive (see the module docstring); ``job.output`` is the SDS root.

    Args:
        channel_code: the instrument code of the output channels (None: the input's).
        (the others: see `geokeras.denoise.DenoiseFile`; ``format`` is MiniSEED, no plot, no noise estimate)
    """

    channel_code: str = None

    def __call__(self, job):
        return super().__call__(job._replace(output=SDSTarget(job.output, _sources(job.input))))

    def _in_pieces(self, job):
        """None: each input is read whole (the piecewise path writes one mirror-layout output; a day file of a
        channel fits in memory)."""
        return None

    def _read(self, job):
        """The Stream of the job's file, or of a group's files one after the other.

        A file of a group that cannot be read (not a waveform, corrupt) or holds a trace whose id cannot name a day
        file is left out, its error in the result (what it would be as a job of its own), and the group's other
        files are denoised (one trace at a time when fewer than three components are left, named in a note). A
        group none of whose files can be used fails (not skipped: the planner took their names or headers for
        channels' days).
        """
        from geokeras.errors import InputError

        if not isinstance(job.input, (tuple, list)):
            return super()._read(job)
        stream = _GroupStream()
        for path in job.input:
            try:
                part = super()._read(job._replace(input=path))
                for tr in part:  # what `_write` needs of each id, checked before any work
                    sds_path(job.output.root, tr.id, 1970, 1)
                    _renamed(tr.id, self.channel_code)
            except (InputError, OSError) as exc:
                stream.unread.append(exc if isinstance(exc, InputError) else InputError(f"Cannot read {path!r}: "
                                                                                        f"{exc}"))
                continue
            stream += part
        if not len(stream):
            raise InputError("; ".join(str(exc) for exc in stream.unread))
        return stream

    def _denoise(self, job, stream):
        """`DenoiseFile._denoise`, with the errors of a group's files left out (`_read`) first among the skipped."""
        from geokeras.errors import NothingToProcessError

        unread = list(getattr(stream, "unread", ()))
        try:
            cleaned, noise, report, windows = super()._denoise(job, stream)
        except NothingToProcessError as exc:
            raise NothingToProcessError(unread + exc.errors) from None
        report.skipped[:0] = unread
        return cleaned, noise, report, windows

    def _write(self, job, stream, cleaned, noise):
        """Write each day of each output trace into its day file; return the files written."""
        from geokeras.data import io

        days = {}
        for tr in cleaned:
            tr.stats.channel = rename_channel(tr.stats.channel, self.channel_code)
            for day, piece in split_days(tr):
                days.setdefault(sds_path(job.output.root, tr.id, day.year, day.julday), []).append(piece)
        record = self.options.record(self.denoiser, "denoised")
        for path in days:
            _check_not_input(path, self.inputs)
        for path, pieces in days.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with _locked(path):
                existing = io.read(path) if os.path.isfile(path) else obspy.Stream()
                sources = {k: v for e in io.read_sidecar(path) for k, v in (e.get(INPUTS_FIELD) or {}).items()}
                sources.update(job.output.sources)
                io.write(merge_day(existing, obspy.Stream(pieces)), path, format="MSEED", encoding="FLOAT32",
                         sidecar_fields={SIDECAR_FIELD: record, INPUTS_FIELD: sources})
        return list(days)

    def is_done(self, job):
        """True when every day file of the job's inputs records this run's options and every input of the job
        (a group: each of its files) as it is now."""
        from geokeras.data import io

        try:
            sources, want = _sources(job.input), self.options.record(self.denoiser, "denoised")

            def current(entry):
                recorded = entry.get(INPUTS_FIELD) or {}
                return entry.get(SIDECAR_FIELD) == want and all(recorded.get(k) == v for k, v in sources.items())

            for tid, year, julday in (day for path in job_paths(job.input) for day in input_days(path)):
                entries = io.read_sidecar(sds_path(job.output, _renamed(tid, self.channel_code), year, julday))
                if not entries or not all(current(e) for e in entries):
                    return False
        except Exception:  # noqa: BLE001 - unreadable input or sidecar: not up to date (the run reports why)
            return False
        return True


def is_output(path):
    """True for a file written by a denoise run (its sidecar records a denoise): never an input."""
    from geokeras.data import io

    try:
        return any(SIDECAR_FIELD in e for e in io.read_sidecar(path))
    except (OSError, ValueError, TypeError, AttributeError):
        return False


def component_groups(days):
    """The groups of inputs that hold a station's three components of one day, each in its own file.

    Args:
        days: ``[(id, year, julday), ...]`` of each input (`input_days`; None: unknown).

    Returns:
        lists of input indices, in input order: inputs of one id and one day each whose ids differ only in the
        component letter (the same ``NET.STA.LOC``, band and instrument code) on the same day, three of them
        with distinct component letters, one ``Z`` (what `geokeras.denoise.components.station_groups` denoises
        together). Every other input is in no group.

    Example:
        >>> component_groups([[("XX.A.00.HHE", 2020, 1)], [("XX.A.00.HHN", 2020, 1)], [("XX.B.00.HHZ", 2020, 1)],
        ...                   [("XX.A.00.HHZ", 2020, 1)], [("XX.A.00.HHZ", 2020, 2)], None])
        [[0, 1, 3]]
    """
    by_key = collections.defaultdict(list)
    for i, d in enumerate(days):
        if d is not None and len(d) == 1:
            (tid, year, julday), = d
            by_key[(tid[:-1], year, julday)].append(i)  # NET.STA.LOC.BI: all but the component letter
    groups = []
    for members in by_key.values():
        letters = {days[i][0][0][-1:] for i in members}
        if len(members) == 3 == len(letters) and "Z" in letters:
            groups.append(members)
    return sorted(groups)


def plan_sds(files, root, channel_code, components=None):
    """Check the inputs of an SDS run before any work: their ids (from SDS names, else headers) and the
    output channels and day files; make the jobs.

    Args:
        files: the `geokeras.data.io.FoundFile` s of the inputs.
        root: the SDS root written.
        channel_code: see `DenoiseToSDS`.
        components: None: one job per file; else a station's three day files of a day are one job
            (`component_groups`; ``job.input`` the tuple of their paths), the others one job each.

    Returns:
        ``({real path: path} of the inputs, the output folders known before reading, the FileJobs)``.

    Raises:
        geokeras.errors.InputError: ``channel_code`` makes an output channel that is an input channel, a
            day file would overwrite an input, an id cannot name an SDS file.
    """
    from geokeras.errors import InputError

    inputs = {os.path.realpath(f.path): f.path for f in files}
    ids, folders, known = {}, set(), []
    for f in files:
        try:
            days = input_days(f.path)
        except Exception:  # noqa: BLE001 - not a waveform (skipped) or unreadable: the job reports it
            known.append(None)
            continue
        known.append(days)
        for tid, year, julday in days:
            ids.setdefault(tid, f.path)
            path = sds_path(root, _renamed(tid, channel_code), year, julday)  # refuses ids that cannot name a file
            _check_not_input(path, inputs)
            folders.add(os.path.dirname(path))
    if channel_code is not None:
        for tid in ids:
            out = _renamed(tid, channel_code)
            if out in ids:
                raise InputError(f"--channel-code {channel_code}: output channel {out} (from {tid}) would collide "
                                 f"with input channel {out} ({ids[out]}); choose another code")
    return inputs, tuple(sorted(folders)), _jobs(files, root, component_groups(known) if components else [])


def _jobs(files, root, groups):
    """One `FileJob` per file, a group's files in one (at the place of its first file; explicit if one was)."""
    first = {g[0]: g for g in groups}
    later = {i for g in groups for i in g[1:]}
    jobs = []
    for i, f in enumerate(files):
        if i in first:
            members = [files[k] for k in first[i]]
            jobs.append(FileJob(tuple(m.path for m in members), os.fspath(root), any(m.explicit for m in members)))
        elif i not in later:
            jobs.append(FileJob(f.path, os.fspath(root), f.explicit))
    return tuple(jobs)
