"""Adapt a denoiser to one station: fine-tune it on that station's own continuous noise (``geokeras adapt``).

``geokeras.adapt(records, base=None, minutes=10)`` (and ``geokeras adapt RECORD... -o station.keras``):

1. checks before any work: the base is a denoiser, the records are one station's, sampled within the base's
   rates, and long enough (`NotEnoughNoiseError` states the minimum);
2. keeps the noise-only stretches of the records (`geokeras.adaptation.noise.find_noise`: STA/LTA and the
   base model's signal estimate, with margins around anything that looks like an event, and the quiet-noise
   screen of `geokeras.detection`) and says how many hours it kept and why it dropped the rest;
3. splits that noise by time: the first 70 % for fine-tuning, the next 10 % to choose the epoch, the last
   20 % held out for the figures;
4. fine-tunes the base within the time budget (`geokeras.adaptation.fit`: bundled training-station events and
   synthetics in this noise, the shipped recipe's augmentation; the graph, mask floor included, unchanged);
5. scores base and adapted model on the held-out noise (`geokeras.adaptation.report`: SNR gain per level,
   STA/LTA recall at 2 false triggers per hour, with validation-station events), stores those figures, the
   base's sha256, the station and the noise hours in ``denoiser_info(model)["provenance"]`` and, with
   ``output``, writes the ``.keras`` file and a ``.md`` card beside it.

The adaptation is a package on top of `geokeras.training` and `geokeras.denoise` (it uses both).

Example (the run itself is exercised in ``tests/test_adapt.py``):
    >>> from geokeras.adaptation import MIN_NOISE_MINUTES, SPLIT
    >>> MIN_NOISE_MINUTES, SPLIT
    (30.0, (0.7, 0.1, 0.2))
"""
import datetime
import os
import time
from pathlib import Path

from geokeras.errors import InputError, NotEnoughNoiseError, SeveralStationsError

__all__ = ["adapt", "adapt_per_station", "card_path", "per_station_path", "GENERAL_NOISE", "MIN_NOISE_MINUTES",
           "SPLIT"]

MIN_NOISE_MINUTES = 30.0
"""Least noise-only data (minutes, all channels) an adaptation accepts: 21 min to fine-tune, 6 held out."""

SPLIT = (0.7, 0.1, 0.2)
"""Fractions of the kept noise, in time order: fine-tuning, validation (epoch choice), held out (figures)."""

GENERAL_NOISE = 0.75
"""Share of the fine-tuning noise drawn from the bundled training-station noise (`geokeras.adaptation.fit.
mixed_noise`) rather than the station's: a little of everything the base learned, against overfitting the
station's few hours (``bench/bench_adapt.py`` chose it)."""


def card_path(output):
    """The model card written beside an adapted model: ``station.keras`` -> ``station.md``."""
    return Path(output).with_suffix(".md")


def per_station_path(output, station):
    """The output of one station with ``--per-station``: ``x.keras`` -> ``x.NET.STA.keras``, beside ``output``
    (the codes read from the records made safe in a file name: `geokeras.utils.safe_name`).

    Example:
        >>> str(per_station_path("out/x.keras", "XX.A/B"))
        'out/x.XX.A_B.keras'
    """
    from geokeras.utils import safe_name

    return Path(output).with_suffix(f".{safe_name(station)}.keras")


def _say(log, text):
    if log is not None:
        log(text)


def _refuse_existing(output, force):
    """FileExistsError when ``output`` or its card (`card_path`) exists and not ``force``."""
    for path in (str(output), str(card_path(output))):
        if os.path.exists(path) and not force:
            raise FileExistsError(f"refusing to overwrite {path!r}: it exists (force=True / --force replaces it)")


def _check(records, base, minutes, min_noise_minutes, output, force, per_station=False):
    """Every refusal, before any work: ``(denoiser, {station: stream})``."""
    from geokeras.adaptation.noise import station_traces
    from geokeras.denoise import Denoiser
    from geokeras.validation import check_number

    check_number("minutes", minutes, low=0.0, low_open=True)
    check_number("min_noise_minutes", min_noise_minutes, low=0.0)
    if output is not None:
        _refuse_existing(output, force)
    den = Denoiser.resolve(base)
    groups = station_traces(records, den.sampling_rate_range_hz, per_station=True)
    if not per_station and len(groups) > 1:
        raise SeveralStationsError(groups, " (--per-station adapts one model for each)")
    for station, st in groups.items():
        seconds = sum(tr.stats.npts / tr.stats.sampling_rate for tr in st)
        if seconds < 60.0 * min_noise_minutes:
            raise NotEnoughNoiseError(
                f"Not enough noise at {station}: the records hold {seconds / 60.0:.1f} min of data (all channels); "
                f"adapting needs at least {min_noise_minutes:g} min of noise-only data.")
    if output is not None:
        _make_folder(output)
    return den, groups


def _make_folder(output):
    """Create the folder of ``output`` before any work (as ``geokeras adapt`` does): the model is written last."""
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(output))), exist_ok=True)


def _noise_parts(st, den, station, min_noise_minutes, log):
    """Find the noise, refuse too little, split it by time: ``(parts, hours, dropped_hours)``."""
    from geokeras.adaptation.noise import MIN_PIECE_S, find_noise, split_by_time

    pieces, rep = find_noise(st, den.sampling_rate, den)
    h = {k: v / 3600.0 for k, v in rep.items()}
    dropped = {"gaps": h["gaps_s"], "LTA start-up": h["startup_s"], "events by STA/LTA": h["stalta_s"],
               "events by the base model": h["model_s"], "transients": h["transient_s"], "short pieces": h["short_s"]}
    _say(log, f"{station}: kept {h['kept_s']:.2f} h of noise of {h['total_s']:.2f} h (all channels); dropped "
              + ", ".join(f"{k} {v:.2f} h" for k, v in dropped.items()))

    def refuse(why):
        raise NotEnoughNoiseError(
            f"Not enough noise at {station}: {rep['kept_s'] / 60.0:.1f} min of noise-only data kept of "
            f"{rep['total_s'] / 60.0:.1f} min; {why}")

    if rep["kept_s"] < 60.0 * min_noise_minutes:
        refuse(f"adapting needs at least {min_noise_minutes:g} min.")
    if not pieces:
        refuse(f"no noise-only stretch of {MIN_PIECE_S:g} s or more was found.")
    parts = [[p for p in part if p.data.size >= 10.0 * den.sampling_rate] for part in split_by_time(pieces, SPLIT)]
    for name, part, share in zip(("fine-tuning", "validation", "held-out"), parts, SPLIT):
        if not part:  # possible below the default minimum (--min-noise-minutes)
            refuse(f"its {name} part ({share:.0%} by time) holds no noise piece of 10 s or more.")
    hours = {"total": h["total_s"], "kept": h["kept_s"]}
    for name, part in zip(("train", "validation", "heldout"), parts):
        hours[name] = sum(p.data.size for p in part) / den.sampling_rate / 3600.0
    return parts, hours, dropped


def _copy(model):
    """A fresh copy of a model (same graph, same weights; no compile state)."""
    clean = model.__class__.from_config(model.get_config())
    clean.set_weights(model.get_weights())
    return clean


def _standardization(model):
    from geokeras.layers.normalization import WindowStandardization

    return next(layer for layer in model.layers if isinstance(layer, WindowStandardization))


def adapt(records, base=None, minutes=10.0, seed=0, output=None, force=False, min_noise_minutes=MIN_NOISE_MINUTES,
          learning_rate=3e-4, batch_size=32, steps_per_epoch=50, max_epochs=None, n_synthetic=1000,
          general_noise=GENERAL_NOISE, snr_levels=(-10, -5, 0, 5, 10), n_per_level=50, detection_hours=1.0,
          threads=None, log=None, jit_compile="auto"):
    """Fine-tune a denoiser on one station's continuous noise.

    Args:
        records: one station's continuous data: paths, globs or folders (any ObsPy format, gaps, any
            channel), an ``obspy.Stream``, or a list of them.
        base: the denoiser to start from: None (the shipped default), a ``.keras`` path or a ``keras.Model``.
        minutes: time budget of the fine-tuning loop (minutes).
        seed: seed of the pairs, the fine-tuning and the figures.
        output: optional ``.keras`` path: the adapted model is written there, its card beside it (`card_path`).
        force: replace an existing ``output`` and its card.
        min_noise_minutes: least noise-only data accepted (`MIN_NOISE_MINUTES`).
        learning_rate, batch_size, steps_per_epoch, max_epochs: of the fine-tuning (`geokeras.adaptation.fit`).
        n_synthetic: synthetic seismograms among the training signals.
        general_noise: share of the fine-tuning noise drawn from the bundled training-station noise instead of
            the station's (`GENERAL_NOISE`, `geokeras.adaptation.fit.mixed_noise`; 0: the station's alone).
        snr_levels, n_per_level: the SNR-gain table of the figures.
        detection_hours: length of the held-out detection record (0: no recall figures).
        threads: TensorFlow intra-op threads (None: TensorFlow's default).
        log: optional callable taking one line at a time (the CLI prints them on stderr).
        jit_compile: passed to ``model.compile`` (``"auto"``: XLA when every layer supports it).

    Returns:
        tuple ``(model, report)``: the adapted ``keras.Model`` (uncompiled; ``denoiser_info(model)
        ["provenance"]`` holds the report's figures) and the report dict (``station``, ``noise_hours``,
        ``dropped_hours``, ``fine_tune``, ``figures``, ``wall_s``, ...).

    Raises:
        NotADenoiserError: ``base`` is not a denoiser. SeveralStationsError: records of several stations.
        OutOfBandError: a trace sampled outside the base's rates. NotEnoughNoiseError: less noise than
        ``min_noise_minutes``, or a part of the split by time without a noise piece of 10 s (possible below the
        default minimum). FileExistsError: ``output`` or its card exists and not ``force``.
    """
    den, groups = _check(records, base, minutes, min_noise_minutes, output, force)
    (station, st), = groups.items()
    return _adapt_one(st, station, den, base, **dict(
        minutes=minutes, seed=seed, output=output, min_noise_minutes=min_noise_minutes, learning_rate=learning_rate,
        batch_size=batch_size, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs, n_synthetic=n_synthetic,
        general_noise=general_noise, snr_levels=snr_levels, n_per_level=n_per_level, detection_hours=detection_hours,
        threads=threads, log=log, jit_compile=jit_compile))


def adapt_per_station(records, output, base=None, force=False, min_noise_minutes=MIN_NOISE_MINUTES, minutes=10.0,
                      **kwargs):
    """`adapt` for each station of ``records``: ``output`` ``x.keras`` gives ``x.NET.STA.keras`` per station.

    ``kwargs`` are `adapt`'s other options, with its defaults. Every refusal (any station's) comes before any work.
    Returns ``{station: (model, report)}``.
    """
    import inspect

    options = {k: p.default for k, p in inspect.signature(adapt).parameters.items()
               if k not in ("records", "base", "output", "force", "min_noise_minutes", "minutes")}
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise TypeError(f"adapt_per_station() got unexpected keyword argument(s) {', '.join(unknown)}")
    options.update(kwargs)
    den, groups = _check(records, base, minutes, min_noise_minutes, None, force, per_station=True)
    outputs, by_path = {sta: str(per_station_path(output, sta)) for sta in groups}, {}
    for sta, path in outputs.items():
        if path in by_path:
            raise InputError(f"Invalid value for argument `records`. Expected stations whose outputs differ. Received "
                             f"stations {by_path[path]} and {sta} would both be written to {path!r}.")
        by_path[path] = sta
    for path in outputs.values():
        _refuse_existing(path, force)
    _make_folder(output)
    return {sta: _adapt_one(st, sta, den, base, output=outputs[sta], min_noise_minutes=min_noise_minutes,
                            minutes=minutes, **options) for sta, st in groups.items()}


def _adapt_one(st, station, den, base, minutes, seed, output, min_noise_minutes, learning_rate, batch_size,
               steps_per_epoch, max_epochs, n_synthetic, snr_levels, n_per_level, detection_hours, threads, log,
               jit_compile="auto", general_noise=GENERAL_NOISE):
    from geokeras.adaptation.fit import adaptation_signals, at_rate, fine_tune, mixed_noise
    from geokeras.adaptation.report import before_after
    from geokeras.utils import set_threads

    t0 = time.perf_counter()
    set_threads(threads)
    (train, val, heldout), hours, dropped = _noise_parts(st, den, station, min_noise_minutes, log)
    signals, val_signals, src = adaptation_signals(den.window_length, den.sampling_rate, n_synthetic, seed)
    noise = mixed_noise([p.data for p in train], at_rate(src["train_noise"], den.sampling_rate), general_noise,
                        den.window_length, seed)
    _say(log, f"{station}: fine-tuning on {hours['train']:.2f} h ({len(signals)} signals: training-station events, "
              f"stretched copies, synthetics), epoch choice on {hours['validation']:.2f} h, "
              f"{hours['heldout']:.2f} h held out; budget {minutes:g} min")
    model = _copy(den.model)
    fit = fine_tune(model, signals, noise, val_signals, [p.data for p in val], 60.0 * minutes,
                    den.window_length, den.sampling_rate, seed=seed, learning_rate=learning_rate,
                    batch_size=batch_size, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs, log=log,
                    jit_compile=jit_compile)
    figures = before_after(den.model, model, val_signals, [p.data for p in heldout], den.sampling_rate, snr_levels,
                           n_per_level, detection_hours, seed)
    report = _report(station, st, den, base, hours, dropped, fit, figures, minutes, seed, detection_hours)
    report["fine_tune"].update(learning_rate=learning_rate, general_noise=general_noise)
    report["exactly_odd"] = _exactly_odd(model, den.window_length, seed)
    report["wall_s"] = time.perf_counter() - t0
    _standardization(model).provenance = _provenance(report)
    model = _copy(model)
    if output is not None:
        _write(model, report, output)
    _say(log, _summary(report))
    return model, report


def _exactly_odd(model, window_length, seed):
    """Whether ``model(-x) == -model(x)`` to the last bit on random windows (a sign-invariant base stays so)."""
    import numpy as np

    x = np.random.default_rng(seed).normal(size=(2, window_length, 1)).astype("float32") * 1000.0
    return bool(np.array_equal(model.predict(-x, verbose=0), -model.predict(x, verbose=0)))


def _report(station, st, den, base, hours, dropped, fit, figures, minutes, seed, detection_hours):
    import geokeras

    label = "default" if base is None else (os.path.basename(os.fspath(base)) if isinstance(base, (str, os.PathLike))
                                            else den.label)
    return {"station": station, "channels": sorted({tr.id for tr in st}), "base": label,
            "base_sha256": den.sha256, "noise_hours": hours, "dropped_hours": dropped, "fine_tune": fit,
            "figures": figures, "minutes": minutes, "seed": seed, "detection_hours": detection_hours,
            "band_hz": list(den.band_hz), "sampling_rate_range_hz": list(den.sampling_rate_range_hz),
            "geokeras": geokeras.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _provenance(report):
    """The report as JSON-friendly metadata (plain floats, lists) for `WindowStandardization.provenance`."""
    import json

    return json.loads(json.dumps({"adapted_by": "geokeras adapt", **report}, default=float))


def _write(model, report, output):
    from geokeras.adaptation.report import card_text
    from geokeras.utils import atomic_path

    with atomic_path(Path(output)) as tmp:
        model.save(tmp)
    with atomic_path(card_path(output)) as tmp:
        Path(tmp).write_text(card_text(report))


def _summary(report):
    g = report["figures"]["gain_db"]
    line = (f"{report['station']}: median SNR gain on the held-out noise (all levels) {g['base']['all']:.2f} dB "
            f"(base) -> {g['adapted']['all']:.2f} dB (adapted)")
    if "recall" in report["figures"]:
        r = report["figures"]["recall"]
        line += f"; recall at 2 false/h {r['base']['all']:.0%} -> {r['adapted']['all']:.0%} (raw {r['raw']['all']:.0%})"
    return line
