"""Loaders for the real recordings bundled in the repository's ``datasets/`` folder.

The folder is the repository's ``datasets/`` (a source checkout, the project's Makefile), the one named by
the ``GEOKERAS_DATASETS`` environment variable, or, installed from a wheel, the part of it shipped inside
the package (`PACKAGED_DATASETS`: the test-station events and the noisy demo records).

Two event sets: ``ncedc-events`` (73 records, DeepDenoiser demo data) and ``phasenet-events`` (140 records at
99 stations with P and S picks, PhaseNet demo data): 213 records at 124 stations. `split_records` splits
them by station into three fixed, disjoint sets:

- test (`TEST_STATIONS`, 28 stations, 52 records): reported, never used to choose anything. It holds the 8
  `HOLDOUT_STATIONS` of the first shipped model plus 20 stations drawn (seed 2026) among the 86 stations
  that only ``phasenet-events`` has, so that no test station was ever seen in training by any shipped model;
- validation (`VALIDATION_STATIONS`, 18 stations, 25 records): model choice and early stopping; 18 more of
  those ``phasenet-events``-only stations;
- train: the other 78 stations (136 records).

Example:
    >>> from geokeras.data import datasets
    >>> events = datasets.load_events(stations=["BK.SAO"], sets=["ncedc-events"])
    >>> len(events), events[0].stream[0].stats.sampling_rate
    (3, 100.0)
    >>> train, val, test = datasets.split_records(datasets.load_events())
    >>> len(train), len(val), len(test)
    (136, 25, 52)
    >>> sorted({r.station_id for r in test}) == sorted(datasets.TEST_STATIONS)
    True
"""
import csv
import dataclasses
import os
from pathlib import Path

import obspy

EVENT_SETS = ("ncedc-events", "phasenet-events")

# The first shipped model's station-disjoint hold-out set (15 of the 73 ncedc-events records); all of them
# are test stations now.
HOLDOUT_STATIONS = (
    "BK.SAO", "NC.MCB", "CI.MLAC", "NC.KMPB", "BK.HOPS", "NC.HPC", "CI.VES", "TA.M02C",
)

# Reported only (see the module docstring for how they were drawn).
TEST_STATIONS = HOLDOUT_STATIONS + (
    "BG.AL4", "BG.FNF", "BG.JKR", "BG.MCL", "BG.NEG", "BG.PFR", "BG.RGP", "BG.SQK", "BG.TCH", "BK.HUMO",
    "NC.CAL", "NC.CLCB", "NC.GCR", "NC.LCF", "NC.MTU", "NC.PHSB", "NC.PSM", "PB.B066", "PG.BLD", "PG.PB",
)

# Model choice and early stopping.
VALIDATION_STATIONS = (
    "BG.AL2", "BG.BUC", "BG.DVB", "BG.FUM", "BG.SB4", "BK.TCHL", "NC.BBG", "NC.BSG", "NC.BVL", "NC.GBD",
    "NC.HPL", "NC.LSH", "NC.MCM", "NC.MCO", "NC.MCV", "NC.OGO", "NC.PST", "NN.MLN",
)


REPOSITORY_DATASETS = Path(__file__).resolve().parents[2] / "datasets"
PACKAGED_DATASETS = Path(__file__).resolve().parent / "bundled-datasets"
"""The copy shipped inside the package (written by ``datasets/package_data.py``): the records an installed
geokeras needs for ``geokeras evaluate`` and the demo (the test-station events and the noisy demo windows),
with the full ``index.csv`` of each dataset, so that asking for any other record names what is missing."""


def datasets_dir():
    """Return the folder that holds the bundled datasets.

    Looked up in order: the ``GEOKERAS_DATASETS`` environment variable; the repository's ``datasets/``
    folder (a source checkout or an editable install); `PACKAGED_DATASETS`, the part of it shipped inside
    the package (an installed wheel). Records that the chosen folder lacks are reported by
    `dataset_files`.

    Returns:
        ``pathlib.Path`` of the folder.

    Raises:
        FileNotFoundError: if ``GEOKERAS_DATASETS`` is set to a folder without the datasets, or if no
            folder is found at all.

    Example:
        >>> (datasets_dir() / "ncedc-events" / "index.csv").is_file()
        True
    """
    env = os.environ.get("GEOKERAS_DATASETS")
    candidates = [Path(env)] if env else [REPOSITORY_DATASETS, PACKAGED_DATASETS]
    for path in candidates:
        if (path / "ncedc-events" / "index.csv").is_file():
            return path
    where = " or ".join(repr(str(p)) for p in candidates)
    raise FileNotFoundError(
        f"Bundled datasets not found in {where}. Set GEOKERAS_DATASETS to the repository's datasets/ folder."
    )


def dataset_files(dataset, files):
    """Return the paths of ``files`` in the bundled ``dataset``, all of which must exist.

    Args:
        dataset: name of a folder of `datasets_dir` (``"ncedc-events"``).
        files: file names in that folder (from its ``index.csv``).

    Returns:
        list of ``pathlib.Path``, in the order of ``files``.

    Raises:
        FileNotFoundError: naming the missing files and, for an installed package, what it ships and
            how to get the rest.

    Example:
        >>> dataset_files("ncedc-events", ["BK_SAO_2011011302524552.mseed"])[0].name
        'BK_SAO_2011011302524552.mseed'
        >>> dataset_files("ncedc-events", ["NOPE.mseed"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: 1 of the 1 requested records of dataset 'ncedc-events' are missing ...
    """
    folder = datasets_dir() / dataset
    paths = [folder / name for name in files]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        hint = (
            "An installed geokeras ships only the records that `geokeras evaluate` and the demo use. "
            "To use the others (for example to train on the bundled data), get the repository's datasets/ "
            "folder and set GEOKERAS_DATASETS to it."
            if folder.parent == PACKAGED_DATASETS
            else "Restore them, or point GEOKERAS_DATASETS to a complete copy of the repository's datasets/."
        )
        raise FileNotFoundError(
            f"{len(missing)} of the {len(paths)} requested records of dataset {dataset!r} are missing "
            f"from {str(folder)!r}: {shown}. {hint}"
        )
    return paths


@dataclasses.dataclass
class EventRecord:
    """One bundled earthquake record.

    Attributes:
        stream: three-component ``obspy.Stream`` (E, N, Z order as in the file), 100 Hz.
        p_time: ``obspy.UTCDateTime`` of the first P arrival; before it is pre-event noise.
        path: the MiniSEED file.
        s_time: ``obspy.UTCDateTime`` of the S arrival, or None (``ncedc-events`` has no S picks).
    """

    stream: obspy.Stream
    p_time: obspy.UTCDateTime
    path: Path
    s_time: obspy.UTCDateTime = None

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


def load_events(stations=None, sets=None):
    """Load the bundled earthquake records (213: 73 of ``ncedc-events``, 140 of ``phasenet-events``).

    Args:
        stations: optional iterable of ``"NET.STA"`` codes to keep.
        sets: optional iterable of set names (`EVENT_SETS`); default all.

    Returns:
        list of `EventRecord`, sorted by set, then file name. ``phasenet-events`` records may have one
        component only (the source's all-zero columns are not stored).

    Raises:
        ValueError: if ``sets`` names an unknown set.
    """
    sets = EVENT_SETS if sets is None else tuple(sets)
    unknown = [name for name in sets if name not in EVENT_SETS]
    if unknown:
        raise ValueError(f"Invalid value for argument `sets`. Expected names from {list(EVENT_SETS)}. "
                         f"Received sets={list(sets)!r}.")
    records = []
    for name in sets:
        rows = [row for row in _read_index(datasets_dir() / name) if _wanted(row, stations)]
        paths = dataset_files(name, [row["file"] for row in rows])
        records += [
            EventRecord(obspy.read(str(path)), obspy.UTCDateTime(row["p_time"]), path,
                        obspy.UTCDateTime(row["s_time"]) if row.get("s_time") else None)
            for row, path in zip(rows, paths)
        ]
    return records


def load_noisy(stations=None):
    """Load the 82 bundled single-channel noisy 30 s windows (no clean reference).

    Args:
        stations: optional iterable of ``"NET.STA"`` codes to keep.

    Returns:
        list of ``obspy.Trace``, sorted by file name.
    """
    rows = [row for row in _read_index(datasets_dir() / "ncedc-noisy") if _wanted(row, stations)]
    return [obspy.read(str(path))[0] for path in dataset_files("ncedc-noisy", [row["file"] for row in rows])]


def station_split(items, holdout=HOLDOUT_STATIONS, stations=None):
    """Split items into ``(kept, held out)`` so that no station is in both: the one station split.

    Args:
        items: list of `EventRecord` (or any objects with a ``station_id``), or of anything when
            ``stations`` is given.
        holdout: ``"NET.STA"`` codes whose items are held out.
        stations: the ``"NET.STA"`` code of each item (default: each item's ``station_id``).

    Returns:
        tuple ``(kept, held_out)`` of lists, in the order of ``items``.

    Example:
        >>> station_split(["a", "b", "c"], holdout={"BK.ORV"}, stations=["BK.ORV", "CI.PAS", "BK.ORV"])
        (['b'], ['a', 'c'])
    """
    holdout = set(holdout)
    codes = [item.station_id for item in items] if stations is None else list(stations)
    kept = [item for item, code in zip(items, codes) if code not in holdout]
    held_out = [item for item, code in zip(items, codes) if code in holdout]
    return kept, held_out


def split_records(records, validation=VALIDATION_STATIONS, test=TEST_STATIONS):
    """Split records by station into ``(train, validation, test)``.

    Args:
        records: list of `EventRecord` (or any objects with a ``station_id``).
        validation: ``"NET.STA"`` codes for validation (default `VALIDATION_STATIONS`).
        test: ``"NET.STA"`` codes for test (default `TEST_STATIONS`).

    Returns:
        tuple ``(train, validation, test)`` of lists.

    Raises:
        ValueError: if a station is in both ``validation`` and ``test``.
    """
    both = sorted(set(validation) & set(test))
    if both:
        raise ValueError(f"Invalid value for argument `validation`. Expected no station of `test`. Received {both}.")
    rest, test_records = station_split(records, test)
    train, val = station_split(rest, validation)
    return train, val, test_records
