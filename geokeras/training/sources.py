"""The sources of a training run: signal and noise arrays, split by station into training and validation.

Three kinds (`training_sources` picks by the arguments of `geokeras.training.train_denoiser`): the bundled
events (`bundled_sources`: validation on `geokeras.data.datasets.VALIDATION_STATIONS`, the
`geokeras.data.datasets.TEST_STATIONS` never touched), waveform files (`file_sources`: a seeded fraction of
the stations, or the ``NET.STA`` codes given, go to validation) and arrays (no split). The split is always
`geokeras.data.datasets.station_split`.
"""
import os

import numpy as np

from geokeras.data.datasets import station_split

__all__ = ["load_sources", "bundled_sources", "file_sources", "training_sources", "training_signals",
           "describe_sources"]


def load_sources(paths, sampling_rate=100.0, min_length=1):
    """Read waveform files (paths, globs or directories) into 1-D arrays for training.

    Each trace is merged (gaps split it into separate segments), resampled to ``sampling_rate`` when
    its rate differs, demeaned and converted to float64; segments shorter than ``min_length`` samples
    are skipped.

    Args:
        paths: a path, glob pattern or directory, or a list of them.
        sampling_rate: target rate in Hz.
        min_length: minimum samples per segment kept.

    Returns:
        tuple ``(arrays, station_ids)``: list of 1-D float64 arrays and the ``"NET.STA"`` of each.

    Raises:
        FileNotFoundError: if a path or pattern names nothing (`geokeras.data.io.read`).
        ValueError: if a file cannot be read, or nothing usable is found.
    """
    from geokeras.data.io import read

    arrays, ids = [], []
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        for tr in read(path).split():
            tr = tr.copy()
            if abs(tr.stats.sampling_rate - sampling_rate) > 1e-6 * sampling_rate:
                tr.resample(sampling_rate)
            data = np.asarray(tr.data, dtype=np.float64)
            if data.size < min_length or not np.all(np.isfinite(data)):
                continue
            arrays.append(data - data.mean())
            ids.append(f"{tr.stats.network}.{tr.stats.station}")
    if not arrays:
        raise ValueError(
            f"Invalid value for argument `paths`. No trace of at least {min_length} finite samples in {paths!r}."
        )
    return arrays, ids


def bundled_sources(min_record_snr_db=20.0, validation=None, val_min_record_snr_db=20.0, horizontal_rotations=0,
                    seed=0):
    """Signal and noise sources from the bundled events, split by station; test stations are never used.

    Args:
        min_record_snr_db: keep training signals from records whose mean pre/post-P SNR is at least this.
        val_min_record_snr_db: the same for validation signals (fixed, so that the validation loss of runs
            with different training thresholds compares; every record if none passes). Validation noise
            comes from every validation record.
        validation: ``"NET.STA"`` codes for validation (default
            `geokeras.data.datasets.VALIDATION_STATIONS`). Records at
            `geokeras.data.datasets.TEST_STATIONS` are left out of both.
        horizontal_rotations: rotations to random azimuths of each training record's two horizontal components
            added to the training signals (records above ``min_record_snr_db``) and noise (every training
            record) (`geokeras.data.pairs.rotated_horizontals`); validation sources are never rotated.
        seed: seed of the rotations' azimuths.

    Returns:
        dict with ``train_signals``, ``train_noise``, ``val_signals``, ``val_noise`` (lists of 1-D arrays)
        and ``train_stations``, ``val_stations`` (sorted codes).
    """
    from geokeras.data import datasets, pairs

    validation = datasets.VALIDATION_STATIONS if validation is None else tuple(validation)
    train, val, _ = datasets.split_records(datasets.load_events(), validation=validation,
                                           test=set(datasets.TEST_STATIONS) - set(validation))
    ranked = pairs.rank_records(train, component=None, min_snr_db=min_record_snr_db)
    train_signals, _ = pairs.sources_from_events([rec for rec, _ in ranked])
    _, train_noise = pairs.sources_from_events(train)
    if horizontal_rotations:
        train_signals += pairs.rotated_horizontals([rec for rec, _ in ranked], horizontal_rotations, seed=seed)[0]
        train_noise += pairs.rotated_horizontals(train, horizontal_rotations, seed=seed + 1)[1]
    # validation targets must be clean too, or val_loss measures the records' own noise (a floor that hides
    # progress): the same kind of threshold, fixed so that runs with different training thresholds compare
    val_ranked = pairs.rank_records(val, component=None, min_snr_db=val_min_record_snr_db)
    val_signals, _ = pairs.sources_from_events([rec for rec, _ in val_ranked] or val)
    _, val_noise = pairs.sources_from_events(val)
    return dict(
        train_signals=train_signals, train_noise=train_noise, val_signals=val_signals, val_noise=val_noise,
        train_stations=sorted({r.station_id for r in train}), val_stations=sorted({r.station_id for r in val}),
        records={"train_signals": len(ranked), "train_noise": len(train), "val_signals": len(val_ranked or val),
                 "val_noise": len(val), "test_left_out": len(datasets.TEST_STATIONS),
                 "min_record_snr_db": min_record_snr_db, "horizontal_rotations": int(horizontal_rotations)},
    )


def file_sources(signals, noise, validation, sampling_rate, window_length, seed):
    """Read signal and noise files (`load_sources`) and split them by station into training and validation.

    Args:
        signals, noise: path/glob/directory (or a list of them) of waveform files.
        validation: None (a seeded 20 % of the stations), a float fraction of the stations, False (no
            validation) or a list of ``"NET.STA"`` codes to hold out.
        sampling_rate: Hz the records are resampled to.
        window_length: samples per window; traces shorter than a tenth of it are skipped.
        seed: seed of the random station choice.

    Returns:
        dict with ``train_signals``, ``train_noise``, ``val_signals``, ``val_noise`` (lists of arrays, the
        validation ones None when empty), ``train_stations`` and ``val_stations`` (sorted codes).

    Raises:
        ValueError: when the split leaves no training signal or noise, or held-out stations without both.
    """
    sig, sig_ids = load_sources(signals, sampling_rate, min_length=window_length // 10)
    noi, noi_ids = load_sources(noise, sampling_rate, min_length=window_length // 10)
    stations = sorted(set(sig_ids) | set(noi_ids))
    if validation is None or isinstance(validation, float):
        frac = 0.2 if validation is None else validation
        k = max(1, int(round(frac * len(stations)))) if len(stations) > 1 else 0
        val_stations = set(np.random.default_rng(seed).choice(stations, size=k, replace=False).tolist()) if k else set()
    elif validation is False:
        val_stations = set()
    else:
        val_stations = set(validation)
    ts, vs = station_split(sig, val_stations, stations=sig_ids)
    tn, vn = station_split(noi, val_stations, stations=noi_ids)
    if not ts or not tn:
        raise ValueError(
            "Invalid value for argument `validation`. Holding out stations "
            f"{sorted(val_stations)} leaves no training signal or noise."
        )
    if val_stations and (not vs or not vn):
        raise ValueError(
            f"Invalid value for argument `validation`. The held-out stations {sorted(val_stations)} need both signal "
            "and noise files; pass a list of NET.STA codes that have both, or validation=False."
        )
    return dict(
        train_signals=ts, train_noise=tn, val_signals=vs or None, val_noise=vn or None,
        train_stations=sorted(set(stations) - val_stations), val_stations=sorted(val_stations),
    )


def _is_station_list(validation):
    return isinstance(validation, (list, tuple)) and bool(validation) and isinstance(validation[0], str)


def _is_path_list(signals):
    return isinstance(signals, (str, os.PathLike)) or (
        isinstance(signals, (list, tuple)) and bool(signals) and isinstance(signals[0], (str, os.PathLike)))


def training_sources(signals, noise, validation, sampling_rate, window_length, seed, min_record_snr_db,
                     horizontal_rotations=0):
    """The sources dict of a run (``train_signals``, ``train_noise``, ``val_signals``, ``val_noise``, ...).

    ``signals``, ``noise`` and ``validation`` as in `geokeras.training.train_denoiser`: both None (bundled
    events), paths (`file_sources`) or arrays; ``validation`` a tuple ``(val_signals, val_noise)`` of arrays
    replaces the validation sources. ``horizontal_rotations`` (bundled events only) as in `bundled_sources`.

    Raises:
        ValueError: only one of ``signals`` and ``noise``; ``horizontal_rotations`` with other sources than the
            bundled events; the errors of `file_sources`.
    """
    if horizontal_rotations and (signals is not None or noise is not None):
        raise ValueError("Invalid value for argument `horizontal_rotations`. Expected 0 when `signals` and `noise` "
                         "are given (rotations need the bundled events' records). Received "
                         f"horizontal_rotations={horizontal_rotations!r}.")
    if signals is None and noise is None:
        src = bundled_sources(min_record_snr_db=min_record_snr_db,
                              validation=validation if _is_station_list(validation) else None,
                              horizontal_rotations=horizontal_rotations, seed=seed)
        if validation is False:
            src["val_signals"] = src["val_noise"] = None
    elif signals is None or noise is None:
        raise ValueError("Invalid arguments. Give both `signals` and `noise`, or neither (bundled data).")
    elif _is_path_list(signals):
        src = file_sources(signals, noise, None if isinstance(validation, tuple) else validation,
                           sampling_rate, window_length, seed)
    else:
        src = dict(train_signals=list(signals), train_noise=list(noise), val_signals=None, val_noise=None)
    if isinstance(validation, tuple) and len(validation) == 2 and not isinstance(validation[0], str):
        src["val_signals"], src["val_noise"] = list(validation[0]), list(validation[1])
    return src


def describe_sources(src):
    """Lines that say which records and stations a run trains and validates on (printed by ``geokeras train``).

    Example:
        >>> print(describe_sources({"train_signals": [1, 2], "train_noise": [3], "val_signals": None,
        ...                         "train_stations": ["XX.A"], "val_stations": []}))
        training: 2 signal traces, 1 noise traces; 1 station(s): XX.A
        validation: none
    """
    rec = src.get("records")
    if rec:  # the bundled events
        lines = [f"training: {len(src['train_signals'])} signal traces of {rec['train_signals']} bundled records "
                 f"(pre/post-P SNR >= {rec['min_record_snr_db']:g} dB), noise of {rec['train_noise']} records"]
        if rec.get("horizontal_rotations"):
            lines[0] += (f", with {rec['horizontal_rotations']} rotation(s) of each record's horizontals "
                         f"({len(src['train_noise'])} noise traces)")
    else:
        lines = [f"training: {len(src['train_signals'])} signal traces, {len(src['train_noise'])} noise traces"]
    stations = src.get("train_stations")
    lines[0] += f"; {len(stations)} station(s): {', '.join(stations)}" if stations else ""
    if not src.get("val_signals"):
        lines.append("validation: none")
    else:
        how = (f"{len(src['val_signals'])} signal traces of {rec['val_signals']} records, noise of "
               f"{rec['val_noise']} records" if rec else
               f"{len(src['val_signals'])} signal traces, {len(src['val_noise'])} noise traces")
        val = src.get("val_stations") or []
        lines.append(f"validation: {how}" + (f"; {len(val)} station(s): {', '.join(val)}" if val else ""))
    if rec:
        lines.append(f"left out: the {rec['test_left_out']} test stations (geokeras.data.datasets.TEST_STATIONS)")
    return "\n".join(lines)


def training_signals(sources, stretch, n_synthetic, window_length, sampling_rate, seed):
    """The training signals: the sources', their time-stretched copies (``stretch``) and ``n_synthetic``
    synthetic seismograms (`geokeras.data.synthetic.synthetic_seismogram`)."""
    signals = list(sources)
    if stretch:
        from geokeras.data.pairs import time_stretch

        signals += time_stretch(signals, stretch, copies=2, seed=seed)
    if n_synthetic:
        from geokeras.data.synthetic import synthetic_seismogram

        signals += list(synthetic_seismogram(window_length, sampling_rate, n=int(n_synthetic), seed=seed))
    return signals
