"""Before/after figures of an adaptation on the station's held-out noise, and the model card written beside it.

`before_after` scores two denoisers on the same mixtures of events with the held-out noise (the last part of
the record by time, never used for fine-tuning or for choosing the epoch):

- the median SNR gain per input-SNR level (`geokeras.evaluate.evaluate`, in-band condition: signal and
  noise high-passed at 1 Hz, so that no band-pass could remove the noise);
- the recall of ObsPy's recursive STA/LTA at 2 false triggers per hour (`geokeras.detection`) on a
  continuous record of the held-out noise (pieces overlap-added with cross-fades, reused as often as the
  record's length needs) with events injected at known P times and window SNRs.

The events are those of the validation stations (`geokeras.data.datasets.VALIDATION_STATIONS`), never the
training-station events of the fine-tuning.
"""
import numpy as np

__all__ = ["before_after", "card_text", "RATE_PER_HOUR"]

RATE_PER_HOUR = 2.0
"""False triggers per hour at which the detection recall is reported."""

DETECTION_LEVELS = (-10, -5, 0, 5)
"""Window SNRs (dB) of the events of the detection record."""


def _gains(model, signals, noise, snr_levels, n_per_level, seed):
    from geokeras.evaluate import evaluate

    rows = evaluate(model, signals=signals, noise=noise, snr_levels=snr_levels, n_per_level=n_per_level,
                    baselines=("bandpass",), seed=seed, model_name="model", condition="inband")
    return {str(r["snr_db"]): r["snr_gain_db"] for r in rows if r["method"] == "model"}


def _recall(models, noise, signals, sampling_rate, hours, seed):
    from geokeras.denoise import Denoiser, denoise
    from geokeras.detection import continuous_record, score_detections, summarize

    noisy, clean, events = continuous_record(noise, signals, hours * 3600.0, sampling_rate,
                                             snr_levels=DETECTION_LEVELS, highpass_hz=1.0, seed=seed)
    out = {}
    for name, model in models.items():  # float32 as the SNR table: the figures must not depend on the CPU
        y = noisy if model is None else np.asarray(denoise(noisy, model=Denoiser.resolve(model),
                                                           sampling_rate=sampling_rate, precision="float32"))
        score = score_detections(y, clean, events, sampling_rate, (RATE_PER_HOUR,), ("recursive",))
        out[name] = {str(r["snr_db"]): r["recall"] for r in summarize([score], DETECTION_LEVELS, "recursive",
                                                                      RATE_PER_HOUR)}
    return out, len(events)


def before_after(base, adapted, signals, noise, sampling_rate, snr_levels=(-10, -5, 0, 5, 10), n_per_level=50,
                 detection_hours=1.0, seed=0):
    """SNR gains and detection recall of ``base`` and ``adapted`` on mixtures with the held-out ``noise``.

    Args:
        base, adapted: denoisers (``keras.Model``).
        signals: event signals (1-D, starting 0.5 s before P) of stations not used for fine-tuning.
        noise: held-out noise arrays of the station (pieces of at least 10 s for the detection record).
        sampling_rate: Hz.
        snr_levels: input SNRs of the gain table (dB).
        n_per_level: mixtures per level.
        detection_hours: length of the continuous record (0: no detection figures).
        seed: seed of the mixtures and the record.

    Returns:
        dict ``{"gain_db": {"base": {level: dB}, "adapted": {...}}, "recall": {"raw"|"base"|"adapted":
        {level: fraction}}, "detection_events": n}`` (levels as strings, ``"all"`` included).
    """
    out = {"gain_db": {name: _gains(m, signals, noise, snr_levels, n_per_level, seed)
                       for name, m in (("base", base), ("adapted", adapted))}}
    long_enough = [x for x in noise if x.size >= 10.0 * sampling_rate]
    if detection_hours and long_enough:
        out["recall"], out["detection_events"] = _recall({"raw": None, "base": base, "adapted": adapted},
                                                         long_enough, signals, sampling_rate, detection_hours, seed)
    return out


def _table(title, rows, fmt):
    levels = list(next(iter(rows.values())))
    lines = [f"| {title} | " + " | ".join(f"{lv} dB" if lv != "all" else "all" for lv in levels) + " |",
             "|---|" + "---|" * len(levels)]
    lines += [f"| {name} | " + " | ".join(fmt(v[lv]) for lv in levels) + " |" for name, v in rows.items()]
    return lines


def card_text(report):
    """The Markdown model card of an adapted denoiser (written beside the ``.keras`` file)."""
    noise, fit, fig = report["noise_hours"], report["fine_tune"], report["figures"]
    lines = [f"# geokeras denoiser adapted to {report['station']}", "",
             f"Fine-tuned by `geokeras adapt` (geokeras {report['geokeras']}) from `{report['base']}` "
             f"(sha256 `{report['base_sha256']}`) on {noise['train']:.2f} h of this station's noise "
             f"({', '.join(report['channels'])}), {report['created']}.", "",
             "## Noise", "",
             f"- records: {noise['total']:.2f} h (all channels); kept as noise-only: {noise['kept']:.2f} h.",
             "- dropped: " + ", ".join(f"{k} {v:.2f} h" for k, v in report["dropped_hours"].items()) + ".",
             f"- split by time: fine-tuning {noise['train']:.2f} h, validation (epoch choice) "
             f"{noise['validation']:.2f} h, held out for the figures below {noise['heldout']:.2f} h (the last part).",
             "", "## Fine-tuning", "",
             f"- pairs: bundled training-station events and synthetics in this noise"
             + (f" ({fit['general_noise']:.0%} of the noise draws from the bundled training stations' noise)"
                if fit.get("general_noise") else "")
             + f", the shipped recipe's augmentation; validation on validation-station events; Adam at "
             f"{fit.get('learning_rate', float('nan')):g}; seed {report['seed']}.",
             f"- {fit['steps']} steps in {fit['epochs']} epochs, {fit['train_s']:.0f} s (budget "
             f"{report['minutes']:g} min); validation loss {fit['base_val_loss']:.4f} (base) -> "
             f"{fit['best_val_loss']:.4f} (epoch {fit['best_epoch']}" + (", the base kept" if not fit['best_epoch']
                                                                       else "") + ").",
             "", "## On the held-out noise of this station", "",
             "Median SNR gain (dB), in band (1 Hz high-pass), validation-station events:", ""]
    lines += _table("model", fig["gain_db"], lambda v: f"{v:.2f}")
    if "recall" in fig:
        lines += ["", f"Recall of recursive STA/LTA at {RATE_PER_HOUR:g} false triggers per hour "
                      f"({fig['detection_events']} events on a {report['detection_hours']:g}-h record of the "
                      "held-out noise):", ""]
        lines += _table("method", fig["recall"], lambda v: f"{v:.0%}")
    odd = ("`model(-x) == -model(x)` holds to the last bit (checked after fine-tuning)" if report.get("exactly_odd")
           else "the base was not exactly odd, and neither is this model")
    lines += ["", "## Kept from the base", "",
              f"The graph, mask floor included ({odd}), the declared band {report['band_hz']} Hz and the record "
              f"rates {report['sampling_rate_range_hz']} Hz. `denoiser_info(model)['provenance']` holds this card's "
              "figures.", ""]
    return "\n".join(lines)
