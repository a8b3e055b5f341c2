"""Demo of the shipped denoiser on bundled real records: ``python -m geokeras.demo --outdir demo_output``.

Three parts, every number printed is computed here:

1. Real noisy records (``datasets/ncedc-noisy``, no clean reference), denoised with the default model:
   for one record, the noise level (RMS over the first 5 s, or up to 0.5 s before the STA/LTA P pick when
   that comes earlier), the peak amplitude and the P pick before and after, with the input, the output
   (MiniSEED) and a figure (PNG) written; then the medians of the same figures over all 82 records.
2. A controlled check on the held-out stations (``geokeras.data.datasets.HOLDOUT_STATIONS``, never used to
   train the shipped model): for each held-out event and component, the post-P part is taken as the clean
   signal and the station's own pre-P noise is added at 0 dB SNR; the demo prints the measured SNR gain,
   correlation with the clean signal and peak-amplitude ratio of the denoised output (and of the noisy
   input and of a 1-20 Hz band-pass for comparison) for the cleanest held-out event, then the median over
   all held-out traces; then the same medians in band: signal and noise high-passed at 1 Hz first, noise
   that a band-pass cannot remove (the headline condition of ``bench/bench_quality.py``).
3. Detection on a continuous record (`geokeras.detection`): one hour of a test station's real noise with
   real events of other test stations injected at known P times (-10 to +5 dB, in band); ObsPy's
   ``recursive_sta_lta`` at the threshold giving at most 2 false triggers per hour on the raw, band-passed
   and denoised traces: events found per level, and how steady the residual noise is (the 99th over the
   10th percentile of its 1-s RMS). The full benchmark is ``bench/bench_detection.py``.
"""
import argparse
import os
import sys
import time

import numpy as np

NOISY_RECORD = "BK_ORV_2014012923371049.mseed"  # the record shown in part 1 (a file of datasets/ncedc-noisy)
QUIET_SECONDS = 5.0  # "noise level" = RMS over the first seconds of the noisy record
INPUT_SNR_DB = 0.0  # SNR of the controlled check (window power ratio, geokeras.metrics.snr_db)
BANDPASS = (1.0, 20.0)  # band-pass baseline of the controlled check, Hz


def _db(ratio):
    return 20.0 * np.log10(ratio)


def _f(value, fmt):
    """Format a number, printing a tiny negative value as 0 (no "-0.00")."""
    text = format(value, fmt)
    return text.replace("-", " ") if float(text) == 0 else text


def noisy_record_part(outdir, out=print, model=None):
    """Part 1: denoise real noisy records (no clean reference); write MiniSEED + PNG of one; return figures.

    ``model``: a `geokeras.denoise.Denoiser` (or anything `Denoiser.resolve` takes; None: the default).
    """
    from geokeras.data import datasets, io
    from geokeras.denoise import Denoiser, denoise
    from geokeras.evaluate import noisy_record_figures
    from geokeras.plotting import plot_denoising

    den = Denoiser.resolve(model)
    folder = datasets.datasets_dir() / "ncedc-noisy"
    before = io.read(str(folder / NOISY_RECORD))[0]
    after = denoise(before, model=den)
    rate = before.stats.sampling_rate
    fig = noisy_record_figures(before.data, after.data, rate, QUIET_SECONDS)
    stem = os.path.join(outdir, "noisy_" + os.path.splitext(NOISY_RECORD)[0])
    io.write(before, stem + "_input.mseed")
    io.write(after, stem + "_denoised.mseed")
    plot_denoising(before, after, stem + ".png")

    out(f"1. Real noisy record {before.id} ({NOISY_RECORD}, {before.stats.npts} samples at {rate:g} Hz, "
        "no clean reference)")
    where = f"first {fig['quiet_s']:g} s" + (" (before P)" if np.isfinite(fig["pick_before"]) else "")
    out(f"   noise RMS, {where:28s}: {fig['noise_rms_before']:9.4g} -> "
        f"{fig['noise_rms_after']:9.4g} counts ({_db(fig['noise_rms_after'] / fig['noise_rms_before']):+.1f} dB)")
    out(f"   peak amplitude (demeaned)             : {fig['peak_before']:9.4g} -> {fig['peak_after']:9.4g} counts "
        f"(ratio {fig['peak_after'] / fig['peak_before']:.2f})")
    out(f"   STA/LTA P pick                        : {_fmt_pick(fig['pick_before'])} -> "
        f"{_fmt_pick(fig['pick_after'])}")
    out(f"   wrote {stem}_input.mseed, {stem}_denoised.mseed, {stem}.png")

    traces = datasets.load_noisy()
    n = min(tr.stats.npts for tr in traces)
    x = np.stack([np.asarray(tr.data[:n], np.float32) for tr in traces])
    y = denoise(x, model=den, sampling_rate=rate)
    figs = [noisy_record_figures(a, b, rate, QUIET_SECONDS) for a, b in zip(x, y)]
    reduction = np.array([f["noise_reduction_db"] for f in figs])
    peak = np.array([f["peak_ratio"] for f in figs])
    picked = np.array([np.isfinite(f[k]) for f in figs for k in ("pick_before", "pick_after")]).reshape(-1, 2)
    out(f"   all {len(traces)} noisy records: noise RMS before the P pick {np.median(reduction):+.1f} dB (median; "
        f"{np.sum(reduction < 0)} of {len(traces)} reduced), peak ratio {np.median(peak):.2f} (median), "
        f"P picked on {picked[:, 0].sum()} inputs and {picked[:, 1].sum()} outputs")
    return {"record": fig, "noise_reduction_db": reduction, "peak_ratio": peak}


def _fmt_pick(seconds):
    return "none" if not np.isfinite(seconds) else f"{seconds:.2f} s"


def _controlled_pairs(inband=False):
    """(record, trace, clean, noisy) for every held-out event trace, noise scaled to INPUT_SNR_DB; with
    ``inband``, signal and noise are first high-passed at INBAND_HIGHPASS_HZ (noise a band-pass cannot remove)."""
    from geokeras import metrics
    from geokeras.data import datasets
    from geokeras.data.pairs import highpass, split_event
    from geokeras.evaluate import INBAND_HIGHPASS_HZ

    items = []
    for rec in datasets.load_events(stations=datasets.HOLDOUT_STATIONS):
        for tr in rec.stream:
            noise, signal = split_event(tr, rec.p_time)
            if inband:
                rate = tr.stats.sampling_rate
                noise, signal = highpass(noise, INBAND_HIGHPASS_HZ, rate), highpass(signal, INBAND_HIGHPASS_HZ, rate)
            n = min(len(noise), len(signal))
            clean, noise = signal[:n], noise[-n:]
            noise = noise * 10 ** ((metrics.snr_db(clean, noise) - INPUT_SNR_DB) / 20.0)
            items.append((rec, tr, clean, clean + noise))
    return items


def controlled_part(outdir, out=print, model=None):
    """Part 2: held-out stations, real noise added at 0 dB; print the metrics; return them (``model`` as in
    `noisy_record_part`)."""
    import obspy

    from geokeras import metrics
    from geokeras.data import io, pairs
    from geokeras.denoise import denoise
    from geokeras.evaluate import bandpass_baseline
    from geokeras.plotting import plot_denoising

    def scored(items):
        n = min(len(c) for _, _, c, _ in items)
        clean = np.stack([c[:n] for _, _, c, _ in items])
        noisy = np.stack([x[:n] for _, _, _, x in items])
        rate = float(items[0][1].stats.sampling_rate)
        denoised = denoise(noisy.astype(np.float32), model=model, sampling_rate=rate).astype(np.float64)
        filtered = bandpass_baseline(noisy, rate, *BANDPASS)  # the baseline `geokeras evaluate` reports
        table = {}
        for name, est in (("noisy input", noisy), (f"band-pass {BANDPASS[0]:g}-{BANDPASS[1]:g} Hz", filtered),
                          ("denoised", denoised)):
            table[name] = {
                "snr_db": metrics.snr_db(clean, est - clean),
                "snr_gain_db": metrics.snr_gain_db(clean, noisy, est),
                "correlation": metrics.correlation(clean, est),
                "peak_ratio": metrics.peak_amplitude_ratio(clean, est),
            }
        return n, rate, clean, noisy, denoised, table

    items = _controlled_pairs()
    n, rate, clean, noisy, denoised, table = scored(items)

    records = sorted({id(rec): rec for rec, _, _, _ in items}.values(), key=lambda r: str(r.path))
    best_rec, best_snr = pairs.rank_records(records, component="Z")[0]
    rows = [i for i, (rec, tr, _, _) in enumerate(items) if rec is best_rec]
    z = next(i for i in rows if items[i][1].stats.channel.endswith("Z"))

    out(f"2. Controlled check on held-out stations ({', '.join(sorted({r.station_id for r in records}))}): "
        f"post-P signal + the station's own pre-P noise at {INPUT_SNR_DB:g} dB, {n} samples ({n / rate:g} s) each")
    tr = items[z][1]
    out(f"   cleanest held-out event {tr.id} {tr.stats.starttime} (record SNR {best_snr:.1f} dB), "
        f"component {tr.stats.channel}:")
    header = f"   {'':24s}{'SNR dB':>8s}{'gain dB':>9s}{'corr':>7s}{'peak ratio':>12s}"
    out(header)
    for name, m in table.items():
        out(f"   {name:24s}{_f(m['snr_db'][z], '8.2f')}{_f(m['snr_gain_db'][z], '9.2f')}{m['correlation'][z]:7.3f}"
            f"{m['peak_ratio'][z]:12.3f}")
    out(f"   median over all {len(items)} held-out traces ({len(records)} events, "
        f"{len({tr.stats.channel[-1] for _, tr, _, _ in items})} components):")
    out(header)
    for name, m in table.items():
        out(f"   {name:24s}{_f(np.median(m['snr_db']), '8.2f')}{_f(np.median(m['snr_gain_db']), '9.2f')}"
            f"{np.median(m['correlation']):7.3f}{np.median(m['peak_ratio']):12.3f}")
    inband = scored(_controlled_pairs(inband=True))[-1]
    out("   the same traces in band (signal and noise high-passed at 1 Hz: noise a band-pass cannot remove),")
    out("   median:")
    out(header)
    for name, m in inband.items():
        out(f"   {name:24s}{_f(np.median(m['snr_db']), '8.2f')}{_f(np.median(m['snr_gain_db']), '9.2f')}"
            f"{np.median(m['correlation']):7.3f}{np.median(m['peak_ratio']):12.3f}")

    st_in, st_out, st_clean = obspy.Stream(), obspy.Stream(), obspy.Stream()
    for i in rows:
        for st, data in ((st_clean, clean[i]), (st_in, noisy[i]), (st_out, denoised[i])):
            t = items[i][1].copy()
            t.data = data.astype(np.float32)
            t.stats.starttime = best_rec.p_time - 0.5  # split_event keeps 0.5 s before P
            st.append(t)
    stem = os.path.join(outdir, f"holdout_{best_rec.station_id}")
    for suffix, st in (("clean", st_clean), ("noisy", st_in), ("denoised", st_out)):
        io.write(st, f"{stem}_{suffix}.mseed")
    plot_denoising(st_in, st_out, stem + ".png")
    out(f"   wrote {stem}_clean.mseed, {stem}_noisy.mseed, {stem}_denoised.mseed, {stem}.png")
    return {"recorded": table, "inband": inband}


def detection_part(out=print, model=None, hours=1.0):
    """Part 3: STA/LTA detections on one continuous record, raw vs band-pass vs denoised."""
    from geokeras.detection import benchmark_records, evaluate_detection, pooled_stationarity, standard_methods, summarize

    levels = (-10, -5, 0, 5)
    rec = benchmark_records("test", n_stations=1, hours=hours, snr_levels=levels)[0]
    out(f"3. Detection on a continuous record: {hours:g} h of {rec['station']}'s real noise (in band), "
        f"{len(rec['events'])} events of other test stations injected at known P times")
    out("   recursive_sta_lta 0.5 s / 10 s at <= 2 false triggers per hour: events found per level")
    out("                        " + "".join(f"{lv:>+5d} dB" for lv in levels) + "   threshold  residual p99/p10")
    scores = evaluate_detection(standard_methods({"denoised": model}), [rec], rates_per_hour=(2.0,),
                                detectors=("recursive",))
    for name, label in (("raw", "raw"), ("bandpass", "band-pass 1-20 Hz"), ("wiener", "Wiener (classical)"),
                        ("denoised", "denoised")):
        rows = {r["snr_db"]: r for r in summarize(scores[name], levels, "recursive", 2.0)}
        hits = "".join(f"{round(rows[lv]['recall'] * rows[lv]['n']):>4d}/{rows[lv]['n']:<3d}" for lv in levels)
        thr = scores[name][0]["thresholds"][("recursive", 2.0)]
        out(f"   {label:<20} {hits} {thr:>9.2f}  {pooled_stationarity(scores[name])['ratio']:>8.2f}")


def main(argv=None):
    """Run the demo; return 0."""
    parser = argparse.ArgumentParser(prog="python -m geokeras.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default="demo_output", help="folder for MiniSEED and PNG outputs")
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)

    t0 = time.perf_counter()
    from geokeras.utils import quiet_tensorflow

    quiet_tensorflow()  # no native start-up lines of TensorFlow on stderr
    from geokeras.denoise import Denoiser

    den = Denoiser.resolve(None)  # once, passed down
    print(f"geokeras demo: default model {den.model.name} (sha256 {den.sha256[:16]}), "
          f"{den.window_length} samples at {den.sampling_rate:g} Hz per window, "
          f"{den.model.count_params()} parameters")
    noisy_record_part(args.outdir, model=den)
    controlled_part(args.outdir, model=den)
    detection_part(model=den)
    print(f"done in {time.perf_counter() - t0:.1f} s; outputs in {args.outdir}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
