"""Convert the DeepDenoiser and PhaseNet demo NPZ files into MiniSEED with proper headers.

Run from the repository root (the source folder is the team's shared copy of the
AI4EPS/DeepDenoiser ``Dataset/`` demo data; see ``datasets/README.md``)::

    .venv/bin/python datasets/convert_deepdenoiser.py ../shared/datasets

Each NPZ becomes one MiniSEED file (FLOAT32 encoding, 512-byte records) whose traces carry
network, station, channel, start time (from the file name, UTC to 1/100 s) and the 100 Hz
sampling rate. ``index.csv`` lists every file with its station and, for events, the P arrival (and,
for ``phasenet-events``, the S arrival). PhaseNet's single-component records keep the component in the
last column and zeros in the others: the all-zero columns are skipped (never written as traces).
"""
import csv
import sys
from pathlib import Path

import numpy as np
import obspy

SAMPLING_RATE = 100.0


def parse_name(stem):
    """Split ``NET_STA_YYYYMMDDhhmmssNN[_k]`` into network, station and start time."""
    parts = stem.split("_")
    net, sta, stamp = parts[0], parts[1], parts[2]
    t = obspy.UTCDateTime(
        f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[8:10]}:{stamp[10:12]}:{stamp[12:14]}.{stamp[14:16]}"
    )
    return net, sta, t


def convert_events(src, dst, s_picks=False):
    """Event NPZ files to MiniSEED; ``s_picks`` (phasenet-events) also records the S pick (``its``).

    Present channels are the last columns of ``data`` (PhaseNet's single-component records keep zeros in
    the others); all-zero columns are skipped, never written as traces.
    """
    dst.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sorted(src.glob("*.npz")):
        d = np.load(path)
        net, sta, t0 = parse_name(path.stem)
        channels = str(d["channels"]).split("_")
        data = d["data"]
        columns = range(data.shape[1] - len(channels), data.shape[1])
        st = obspy.Stream()
        for i, cha in zip(columns, channels):
            if not np.any(data[:, i]):
                continue
            tr = obspy.Trace(data=data[:, i].astype(np.float32))
            tr.stats.update(dict(network=net, station=sta, location="", channel=cha,
                                 starttime=t0, sampling_rate=SAMPLING_RATE))
            st.append(tr)
        out = dst / (path.stem + ".mseed")
        st.write(str(out), format="MSEED", encoding="FLOAT32", reclen=512)
        itp = int(d["itp"])
        row = dict(file=out.name, network=net, station=sta, starttime=str(t0),
                   p_index=itp, p_time=str(t0 + itp / SAMPLING_RATE))
        if s_picks:
            its = int(d["its"])
            row.update(s_index=its, s_time=str(t0 + its / SAMPLING_RATE))
        rows.append(dict(row, channels="_".join(tr.stats.channel for tr in st), npts=data.shape[0]))
    return rows


def convert_noisy(src, dst):
    dst.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sorted(src.glob("*.npz")):
        d = np.load(path)
        net, sta, t0 = parse_name(path.stem)
        tr = obspy.Trace(data=d["data"].astype(np.float32))
        # The source files do not say which component they hold: the channel code stays blank.
        tr.stats.update(dict(network=net, station=sta, location="", channel="",
                             starttime=t0, sampling_rate=SAMPLING_RATE))
        out = dst / (path.stem + ".mseed")
        tr.write(str(out), format="MSEED", encoding="FLOAT32", reclen=512)
        rows.append(dict(file=out.name, network=net, station=sta, starttime=str(t0),
                         npts=tr.stats.npts))
    return rows


def write_index(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets")
    here = Path(__file__).resolve().parent
    write_index(convert_events(src / "ncedc-events", here / "ncedc-events"), here / "ncedc-events" / "index.csv")
    write_index(convert_noisy(src / "ncedc-noisy", here / "ncedc-noisy"), here / "ncedc-noisy" / "index.csv")
    write_index(convert_events(src / "phasenet-events", here / "phasenet-events", s_picks=True),
                here / "phasenet-events" / "index.csv")
    print("converted into", here)
