"""Loaders for the real recordings bundled in the repository's ``datasets/`` folder.

The folder is found next to the package (editable install, the project's Makefile) or
through the ``GEOKERAS_DATASETS`` environment variable.

Example:
    >>> from geokeras.data import datasets
    >>> events = datasets.load_events(stations=["BK.SAO"])
    >>> len(events), events[0].stream[0].stats.sampling_rate
    (3, 100.0)
    >>> train, val = datasets.station_split(datasets.load_events())
    >>> sorted({r.station_id for r in val}) == sorted(datasets.HOLDOUT_STATIONS)
    True
"""
import csv
import dataclasses
import os
from pathlib import Path

import obspy

# Station-disjoint hold-out set (network.station) used by the shipped model's recipe:
# 15 of the 73 event records, none from the largest station (NC.GDXB, 24 records).
HOLDOUT_STATIONS = (
    "BK.SAO", "NC.MCB", "CI.MLAC", "NC.KMPB", "BK.HOPS", "NC.HPC", "CI.VES", "TA.M02C",
)


def datasets_dir():
    """Return the folder that holds the bundled datasets.

    Raises:
        FileNotFoundError: if neither ``GEOKERAS_DATASETS`` nor the repository folder exists.
    """
    env = os.environ.get("GEOKERAS_DATASETS")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "datasets"
    if not (path / "ncedc-events" / "index.csv").is_file():
        raise FileNotFoundError(
            f"Bundled datasets not found in {str(path)!r}. Set GEOKERAS_DATASETS to the "
            "repository's datasets/ folder."
        )
    return path


@dataclasses.dataclass
class EventRecord:
    """One bundled earthquake record.

    Attributes:
        stream: three-component ``obspy.Stream`` (E, N, Z order as in the file), 100 Hz.
        p_time: ``obspy.UTCDateTime`` of the first P arrival; before it is pre-event noise.
        path: the MiniSEED file.
    """

    stream: obspy.Stream
    p_time: obspy.UTCDateTime
    path: Path

    @property
    def station_id(self):
        """``NET.STA`` of the record."""
        s = self.stream[0].stats
        return f"{s.network}.{s.station}"


def _read_index(folder):
    with open(folder / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


def _wanted(row, stations):
    return stations is None or f"{row['network']}.{row['station']}" in set(stations)


def load_events(stations=None):
    """Load the 73 bundled three-component earthquake records.

    Args:
        stations: optional iterable of ``"NET.STA"`` codes to keep.

    Returns:
        list of `EventRecord`, sorted by file name.
    """
    folder = datasets_dir() / "ncedc-events"
    return [
        EventRecord(obspy.read(str(folder / row["file"])), obspy.UTCDateTime(row["p_time"]), folder / row["file"])
        for row in _read_index(folder)
        if _wanted(row, stations)
    ]


def load_noisy(stations=None):
    """Load the 82 bundled single-channel noisy 30 s windows (no clean reference).

    Args:
        stations: optional iterable of ``"NET.STA"`` codes to keep.

    Returns:
        list of ``obspy.Trace``, sorted by file name.
    """
    folder = datasets_dir() / "ncedc-noisy"
    return [obspy.read(str(folder / row["file"]))[0] for row in _read_index(folder) if _wanted(row, stations)]


def station_split(records, holdout=HOLDOUT_STATIONS):
    """Split records into (train, validation) so that no station is in both.

    Args:
        records: list of `EventRecord` (or any objects with a ``station_id``).
        holdout: ``"NET.STA"`` codes that go to validation.

    Returns:
        tuple ``(train, val)`` of lists.
    """
    holdout = set(holdout)
    train = [r for r in records if r.station_id not in holdout]
    val = [r for r in records if r.station_id in holdout]
    return train, val
