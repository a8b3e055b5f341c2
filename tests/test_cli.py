"""Tests of the ``geokeras`` command (run in-process through geokeras.cli.main, one subprocess check)."""
import os
import subprocess
import sys

import keras
import numpy as np
import obspy
import pytest

from geokeras import cli
from geokeras.cli import train as cli_train
from geokeras.data import io
from geokeras.errors import InputError
from geokeras.models.denoiser import build_denoiser

START = obspy.UTCDateTime(2021, 3, 4, 5, 6, 7.25)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = build_denoiser("unet1d", window_length=256, sampling_rate=100.0, filters=(4, 8))
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return str(path)


def trace(n=1200, rate=100.0, channel="HHZ", data=None, start=START, dtype="float32"):
    if data is None:
        data = np.random.default_rng(0).normal(scale=300.0, size=n)
    tr = obspy.Trace(np.asarray(data).astype(dtype))
    tr.stats.update(dict(network="XX", station="CLI", location="", channel=channel, sampling_rate=rate,
                         starttime=start))
    return tr


def write(st, path, fmt="MSEED"):
    st = obspy.Stream([st]) if isinstance(st, obspy.Trace) else st
    st.write(str(path), format=fmt)
    return str(path)


def run(*args, capsys=None):
    rc = cli.main([str(a) for a in args])
    captured = capsys.readouterr() if capsys is not None else None
    return rc, captured


def no_partial_files(folder):
    return [n for n in os.listdir(folder) if n.startswith(".") or "tmp" in n]


# --------------------------------------------------------------------------------------------- basics
def test_version_in_a_subprocess_both_module_entries():
    for module in ("geokeras", "geokeras.cli"):
        res = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout.strip() == "geokeras 0.1.0", res.stderr


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["denoise", "x.mseed"])  # -o missing
    assert exc.value.code == 2
    assert "-o/--output" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["MSEED", "SAC"])
def test_denoise_writes_readable_output_with_same_ids_start_npts(tmp_path, model_path, capsys, fmt):
    st = obspy.Stream([trace(channel=c, data=np.random.default_rng(i).normal(size=1200) * 100)
                       for i, c in enumerate(["HHE", "HHN", "HHZ"])])
    src = write(st, tmp_path / "in.mseed")
    out = tmp_path / "out"
    rc, cap = run("denoise", src, "-o", out, "--model", model_path, "--format", fmt.lower(), "--plot",
                  capsys=capsys)
    assert rc == 0, cap.err
    assert "denoised 1 of 1 file(s)" in cap.out
    side = ".processing.json"  # geokeras.data.io.write keeps stats.processing in a sidecar
    if fmt == "MSEED":
        assert sorted(os.listdir(out)) == ["in.mseed", "in.mseed" + side, "in.png"]
        back = io.read(str(out / "in.mseed"))
    else:
        sacs = [f"in.XX.CLI..{c}.sac" for c in ("HHE", "HHN", "HHZ")]
        assert sorted(os.listdir(out)) == sorted(sacs + [n + side for n in sacs] + ["in.png"])
        back = obspy.Stream([io.read(str(out / n))[0] for n in sacs])
    assert all(tr.stats.processing[-1].startswith("geokeras 0.1.0: denoise(model=tiny.keras") for tr in back)
    assert [tr.id for tr in back] == [tr.id for tr in st]
    for a, b in zip(back, st):
        assert (a.stats.starttime, a.stats.npts, a.stats.sampling_rate) == (b.stats.starttime, b.stats.npts, 100.0)
        assert np.all(np.isfinite(a.data)) and not np.allclose(a.data, b.data)


def test_directories_and_globs_one_output_per_file(tmp_path, model_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write(trace(channel="HHZ"), folder / "a.mseed")
    write(trace(channel="HHN"), folder / "b.sac", fmt="SAC")
    (folder / "README.txt").write_text("station notes\n")
    rc, cap = run("denoise", folder, str(folder / "*.mseed"), "-o", tmp_path / "out", "--model", model_path,
                  capsys=capsys)
    assert rc == 0, cap.err
    assert "skipped" in cap.err and "README.txt: not a waveform file" in cap.err
    rc, cap = run("denoise", tmp_path / "out", "-o", tmp_path / "again", "--model", model_path, capsys=capsys)
    assert rc == 0 and "processing.json" not in cap.err  # sidecars of earlier outputs are not inputs
    rc, cap = run("denoise", folder / "README.txt", "-o", tmp_path / "o1", "--model", model_path, capsys=capsys)
    assert rc == 1 and "unknown format" in cap.err  # named explicitly: an error, not a skip
    outputs = sorted(n for n in os.listdir(tmp_path / "out") if not n.endswith(".processing.json"))
    assert outputs == ["a.mseed", "b.mseed"]  # a.mseed given twice (folder and glob): denoised once
    rc, cap = run("denoise", str(tmp_path / "nothing*.mseed"), "-o", tmp_path / "o2", capsys=capsys)
    assert rc == 1 and cap.err.strip().endswith("(--debug shows the traceback)")
    assert "No file matches" in cap.err and len(cap.err.strip().splitlines()) == 1


def test_refuses_to_overwrite_inputs(tmp_path, model_path, capsys):
    src = write(trace(), tmp_path / "rec.mseed")
    before = open(src, "rb").read()
    rc, cap = run("denoise", src, "-o", tmp_path, "--model", model_path, capsys=capsys)
    assert rc == 1
    assert "refusing to overwrite input file" in cap.err and len(cap.err.strip().splitlines()) == 1
    assert open(src, "rb").read() == before and os.listdir(tmp_path) == ["rec.mseed"]
    two = write(obspy.Stream([trace(channel="HHZ"), trace(channel="HHN")]), tmp_path / "two.mseed")
    sac = write(trace(), tmp_path / "two.XX.CLI..HHZ.sac", fmt="SAC")  # what two.mseed gives as SAC
    sac_bytes = open(sac, "rb").read()
    rc, cap = run("denoise", two, sac, "-o", tmp_path, "--format", "SAC", "--model", model_path, capsys=capsys)
    assert rc == 1 and "refusing to overwrite input file" in cap.err
    assert open(sac, "rb").read() == sac_bytes and open(src, "rb").read() == before
    write(trace(), tmp_path / "rec.sac", fmt="SAC")
    rc, cap = run("denoise", src, tmp_path / "rec.sac", "-o", tmp_path / "o3", "--model", model_path,
                  capsys=capsys)
    assert rc == 1 and "would both write" in cap.err and "rec.mseed" in cap.err
    assert not os.path.exists(tmp_path / "o3")


def test_debug_shows_traceback(tmp_path, model_path):
    empty = tmp_path / "empty.mseed"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="the file is empty"):
        cli.main(["--debug", "denoise", str(empty), "-o", str(tmp_path / "out"), "--model", model_path])


def test_bad_model_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    src = write(trace(), tmp_path / "rec.mseed")
    rc, cap = run("denoise", src, "-o", tmp_path / "out", "--model", bad, capsys=capsys)
    assert rc == 1 and len(cap.err.strip().splitlines()) == 1 and "Traceback" not in cap.err


def test_failure_mid_write_leaves_no_file(tmp_path, model_path, capsys, monkeypatch):
    src = write(trace(n=3000), tmp_path / "rec.mseed")
    real_write = obspy.Stream.write

    def failing_write(self, filename, *args, **kwargs):
        real_write(self, filename, *args, **kwargs)  # the bytes are written ...
        if self[0].stats.npts > 1:  # (not the one-sample probes of io.check_ids)
            raise OSError("No space left on device")  # ... then the disk fills up

    monkeypatch.setattr(obspy.Stream, "write", failing_write)
    out = tmp_path / "out"
    rc, cap = run("denoise", src, "-o", out, "--model", model_path, capsys=capsys)
    assert rc == 1 and "No space left on device" in cap.err
    assert os.listdir(out) == []


# --------------------------------------------------------------------------------------------- bad inputs
def _noise(n, seed=0):
    return np.random.default_rng(seed).normal(scale=300.0, size=n)


def _bad_input(case, folder):
    """Write the input file of one case; return its path."""
    p = str(folder / f"{case}.mseed")
    if case == "empty_file":
        open(p, "wb").close()
    elif case == "unknown_format":
        p = str(folder / "notes.txt")
        open(p, "w").write("not a waveform\n" * 20)
    elif case in ("corrupt_mseed", "truncated_mseed"):
        write(trace(n=5000), p)
        raw = bytearray(open(p, "rb").read())
        if case == "corrupt_mseed":
            raw[8:48] = bytes(np.random.default_rng(0).integers(0, 256, 40, dtype=np.uint8))
        else:
            raw = raw[:700]
        open(p, "wb").write(bytes(raw))
    elif case == "zero_length_trace":  # MiniSEED cannot hold one (ObsPy skips it); SAC can
        p = write(trace(n=0, data=np.zeros(0)), folder / "zero.sac", fmt="SAC")
    elif case == "nan_samples":
        x = _noise(1200)
        x[100:110] = np.nan
        write(trace(data=x), p)
    elif case == "all_zero":
        write(trace(data=np.zeros(1200)), p)
    elif case == "masked_gaps":
        tr = trace(n=3000)
        write(obspy.Stream([tr.slice(START, START + 10), tr.slice(START + 15, START + 29)]), p)
    elif case == "overlapping_traces":
        write(obspy.Stream([trace(n=1200), trace(data=_noise(1200, 1), start=START + 10)]), p)
    elif case == "mixed_rates":
        write(obspy.Stream([trace(n=1200), trace(n=600, rate=50.0, start=START + 20)]), p)
    elif case.startswith("rate_"):
        rate = float(case.split("_")[1])
        write(trace(n=int(30 * rate), rate=rate), p)
    elif case == "short_trace":
        write(trace(n=50), p)
    elif case == "int32_counts":
        write(trace(data=_noise(1200) * 30, dtype="int32"), p)
    elif case == "one_sample":
        write(trace(n=1), p)
    return p


# case -> (exit status, text expected on stderr for failures / in the notes for repairs)
BAD_INPUTS = {
    "empty_file": (1, "the file is empty"),
    "unknown_format": (1, "unknown format"),
    "corrupt_mseed": (1, "corrupt or not a waveform"),
    "truncated_mseed": (1, "corrupt or not a waveform"),
    "zero_length_trace": (1, "it has zero samples"),
    "nan_samples": (1, "10 NaN or inf sample(s), first at index 100"),
    "all_zero": (0, "constant segment (value 0) set to zeros"),
    "masked_gaps": (0, None),
    "overlapping_traces": (0, "1 overlap(s) (200 samples) merged"),
    "mixed_rates": (0, "traces at several sampling rates"),
    "rate_20": (0, None),
    "rate_40": (0, None),
    "rate_50": (0, None),
    "rate_200": (0, None),
    "rate_250": (0, None),
    "short_trace": (0, None),
    "int32_counts": (0, None),
    "one_sample": (0, "1-sample segment set to 0 (its mean removed)"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_repair_or_one_line_refusal(tmp_path, model_path, capsys, case):
    status, text = BAD_INPUTS[case]
    src = _bad_input(case, tmp_path)
    out = tmp_path / "out"
    rc, cap = run("denoise", src, "-o", out, "--model", model_path, capsys=capsys)
    assert rc == status, (cap.out, cap.err)
    if status:
        errors = [line for line in cap.err.splitlines() if "error:" in line]
        assert len(errors) == 1 and "Traceback" not in cap.err
        assert errors[0].startswith(f"geokeras denoise: error: {src}: ") and text in errors[0]
        assert os.listdir(out) == []  # nothing written, not even a partial file
        return
    if text:
        assert text in cap.out  # the repair is reported ...
    written = io.read(str(out / os.path.basename(src)))
    original = io.read(src)
    if text and case != "mixed_rates":  # ... and recorded with the trace (two rates: two traces, no note)
        assert any(text in line for tr in written for line in tr.stats.processing)
    # same segments (ids, rates, start times, sample counts) as the input, merged the documented way
    expect = original.copy()
    expect.merge(method=1) if case == "overlapping_traces" else None
    key = sorted((tr.id, tr.stats.sampling_rate, tr.stats.starttime, tr.stats.npts) for tr in expect)
    assert sorted((tr.id, tr.stats.sampling_rate, tr.stats.starttime, tr.stats.npts) for tr in written) == key
    for tr in written:
        assert tr.data.dtype == np.float32 and np.all(np.isfinite(tr.data))
    if case == "all_zero":
        assert not np.any(written[0].data)
    if case == "one_sample":  # a lone sample is its own mean: nothing is left once the mean is removed
        np.testing.assert_array_equal(written[0].data, [0.0])
    assert no_partial_files(out) == []


# --------------------------------------------------------------------------------------------- train, evaluate, export
def test_export_prints_signature_and_serves_raw_windows(tmp_path, model_path, capsys):
    import tensorflow as tf

    from geokeras.saving import load_model

    out = tmp_path / "sm"
    rc, cap = run("export", model_path, out, capsys=capsys)
    assert rc == 0, cap.err
    assert "signature 'serve':" in cap.out and "input  inputs: float32 [None, 256, 1]" in cap.out
    assert "raw windows of 256 samples at 100 Hz" in cap.out
    assert "signature 'denoise_trace':" in cap.out and "input  trace: float32 [None]" in cap.out
    x = np.random.default_rng(0).normal(scale=1e3, size=(3, 256, 1)).astype("float32")
    loaded = tf.saved_model.load(str(out))
    served = np.asarray(loaded.serve(x))
    np.testing.assert_allclose(served, np.asarray(load_model(model_path)(x)), rtol=1e-4, atol=1e-3)
    rc, cap = run("export", model_path, out, capsys=capsys)
    assert rc == 1 and "refusing to overwrite" in cap.err


def test_export_default_writes_the_shipped_pair(tmp_path, capsys):
    """``geokeras export default``: ``serve`` and ``denoise_trace`` from default.keras (``geokeras denoise``),
    ``denoise_components`` from components.keras (``geokeras denoise --components median``), each file named in
    the summary with the digest ``geokeras denoise`` records."""
    import tensorflow as tf

    from geokeras.denoise import Denoiser, denoise, denoise_components
    from geokeras.pretrained import COMPONENTS_MODEL_PATH, DEFAULT_MODEL_PATH

    rc, cap = run("export", "default", tmp_path / "sm", capsys=capsys)
    assert rc == 0, cap.err
    default = Denoiser.resolve()
    components = default.for_components()
    for name, den in (("serve", default), ("denoise_trace", default), ("denoise_components", components)):
        assert f"  {name}: {den.label}.keras (sha256 {den.sha256[:16]})\n" in cap.out, name
    assert "signature 'denoise_components':" in cap.out and "input  components: float32 [3, None]" in cap.out
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    rng = np.random.default_rng(0)
    t = np.arange(4000) / 100.0
    event = np.where(t > 15.0, np.exp(-(t - 15.0) / 2.0) * np.sin(2 * np.pi * 5.0 * t), 0.0)
    x = (rng.normal(scale=100.0, size=(3, t.size)) + np.array([[800.0], [500.0], [1200.0]]) * event).astype("float32")
    for got, expected, other in (
            (loaded.denoise_trace(tf.constant(x[2])).numpy(), denoise(x[2], precision="float32", sampling_rate=100),
             denoise(x[2], model=COMPONENTS_MODEL_PATH, precision="float32", sampling_rate=100)),
            (loaded.denoise_components(tf.constant(x)).numpy(), denoise_components(x, precision="float32"),
             denoise_components(x, model=DEFAULT_MODEL_PATH, precision="float32"))):
        peak = float(np.max(np.abs(expected)))
        assert got.shape == x.shape[-got.ndim:] and np.max(np.abs(got - expected)) <= 1e-3 * peak
        assert np.max(np.abs(got - other)) > 1e-2 * peak  # the other shipped network's output is not it


def test_evaluate_prints_the_table(tmp_path, model_path, capsys):
    png = tmp_path / "eval.png"
    rc, cap = run("evaluate", model_path, "--snr-levels", "0", "--n-per-level", "3", "--baselines", "bandpass",
                  "--plot", png, capsys=capsys)
    assert rc == 0, cap.err
    lines = cap.out.splitlines()
    assert "| method | input SNR (dB) | n |" in cap.out
    assert sum(line.startswith("| tiny.keras | ") for line in lines) == 2  # level 0 and "all"
    assert sum(line.startswith("| bandpass | ") for line in lines) == 2
    assert png.exists()


def test_evaluate_detection_prints_recall_picks_and_stationarity(model_path, capsys):
    rc, cap = run("evaluate", model_path, "--snr-levels", "0", "--n-per-level", "2", "--baselines", "bandpass",
                  "--detection", "--stations", "1", "--hours", "0.5", capsys=capsys)
    assert rc == 0, cap.err
    assert "recursive_sta_lta at <= 2 false triggers per hour" in cap.out
    assert "classic_sta_lta at <= 1 false triggers per hour" in cap.out
    detection = cap.out[cap.out.index("detection on 1 continuous records"):].splitlines()
    rows = [line for line in detection if line.startswith(("| raw |", "| bandpass |", "| wiener |", "| tiny.keras |"))]
    assert len(rows) == 4 * 6 + 3  # 4 detection tables, peak/stationarity, event windows: four methods each;
    # then each method's recall minus the raw trace's, with its station-resampled interval
    assert "recall minus raw's on the same events, points [95% interval, stations resampled]" in cap.out


def test_train_passes_options_to_train_denoiser(tmp_path, capsys, monkeypatch):
    import geokeras.training

    seen = {}

    def fake_train_denoiser(**kwargs):  # the training itself is tested in tests/test_train*.py
        seen.update(kwargs)
        return None, {"loss": [0.9, 0.5, 0.6], "val_loss": [0.8, 0.4, 0.45]}

    monkeypatch.setattr(geokeras.training, "train_denoiser", fake_train_denoiser)
    out = tmp_path / "m.keras"
    rc, cap = run("train", "--signals", "sig/*.mseed", "--noise", "noise/", "-o", out, "--family", "stftmask",
                  "--window-length", "512", "--epochs", "3", "--validation", "BK.SAO", "NC.MCB", "--quiet",
                  capsys=capsys)
    assert rc == 0, cap.err
    assert seen["signals"] == ["sig/*.mseed"] and seen["noise"] == ["noise/"] and seen["output"] == str(out)
    assert (seen["family"], seen["window_length"], seen["epochs"]) == ("stftmask", 512, 3)
    assert seen["validation"] == ["BK.SAO", "NC.MCB"] and seen["verbose"] == 0
    assert f"best val_loss: 0.4000 (epoch 2 of 3); saved {out}" in cap.out


def test_train_options_parse():
    args = cli.build_parser().parse_args(
        ["train", "-o", "m.keras", "--family", "stftmask", "--validation", "XX.AAA", "XX.BBB", "--resume",
         "--model-option", "filters=(8, 16)", "--stretch", "0.6", "1.8", "--inband-fraction", "0.5",
         "--noise-only-fraction", "0.4", "--stationarity-weight", "0.05", "--noise-burst-fraction", "0.3",
         "--gain-weight", "0.2", "--target-floor", "0.3", "--log-power-weight", "0.1",
         "--noise-surrogate-fraction", "0.5", "--horizontal-rotations", "2"])
    kwargs = cli_train.train_kwargs(args)
    assert kwargs["target_floor"] == 0.3 and kwargs["log_power_weight"] == 0.1
    assert kwargs["noise_surrogate_fraction"] == 0.5
    assert kwargs["horizontal_rotations"] == 2 and isinstance(kwargs["horizontal_rotations"], int)
    assert kwargs["noise_only_fraction"] == 0.4 and kwargs["stationarity_weight"] == 0.05
    assert kwargs["noise_burst_fraction"] == 0.3 and kwargs["gain_weight"] == 0.2
    assert kwargs["family"] == "stftmask" and kwargs["validation"] == ["XX.AAA", "XX.BBB"] and kwargs["resume"]
    assert kwargs["model_kwargs"] == {"filters": (8, 16), "sign_invariant": True, "frame_length": 64,
                                      "frame_step": 32}  # the recipe's, with the key given replaced
    assert kwargs["stretch"] == (0.6, 1.8) and kwargs["inband_fraction"] == 0.5 and kwargs["shift"] == (-1000, 2000)
    assert kwargs["verbose"] == (1 if sys.stderr.isatty() else 2)  # Keras's bar on a terminal only
    import inspect

    import geokeras.training

    accepted = set(inspect.signature(geokeras.training.train_denoiser).parameters)
    assert set(kwargs) <= accepted  # every option reaches train_denoiser
    missing = accepted - set(kwargs) - {"noise_only_fraction", "jit_compile"}
    assert not missing, f"train_denoiser options the command does not expose: {sorted(missing)}"


def test_train_bad_input_is_one_line(tmp_path, capsys):
    rc, cap = run("train", "--signals", tmp_path / "nothing*.mseed", "--noise", tmp_path, "-o", tmp_path / "x.keras",
                  capsys=capsys)
    assert rc == 1 and len(cap.err.strip().splitlines()) == 1 and "Traceback" not in cap.err


# --------------------------------------------------------------------------------------------- checked before work
@pytest.mark.parametrize("argv, text", [
    (["denoise", "a.mseed", "b.mseed", "-o", "out", "--overlap", "1.5"], "Received overlap=1.5"),
    (["denoise", "a.mseed", "-o", "out", "--batch-size", "0"], "Received batch_size=0"),
    (["train", "-o", "mine.model"], "Expected a path ending in .keras. Received output='mine.model'"),
    (["evaluate", "default", "--n-per-level", "0"], "Received n_per_level=0"),
    (["evaluate", "default", "--detection", "--hours", "0.1"], "Received hours=0.1"),
    (["train", "-o", "m.keras", "--model-option", "filters"], "Expected KEY=LITERAL"),
])
def test_usage_errors_exit_2_once_before_any_work(tmp_path, capsys, monkeypatch, argv, text):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count(text) == 1 and err.count("error:") == 1
    assert os.listdir(tmp_path) == []


def test_train_output_refused_before_training(tmp_path, capsys, monkeypatch):
    import geokeras.training

    calls = []
    monkeypatch.setattr(geokeras.training, "train_denoiser", lambda **kw: calls.append(kw) or (None, {}))
    existing = tmp_path / "model.keras"
    existing.write_bytes(b"an earlier model")
    rc, cap = run("train", "-o", existing, capsys=capsys)
    assert rc == 1 and calls == [] and "refusing to overwrite" in cap.err and "--force" in cap.err
    assert existing.read_bytes() == b"an earlier model"
    rc, cap = run("train", "-o", existing, "--force", "--quiet", capsys=capsys)
    assert rc == 0 and len(calls) == 1
    (tmp_path / "file.txt").write_text("x")
    rc, cap = run("train", "-o", tmp_path / "file.txt" / "m.keras", capsys=capsys)
    assert rc == 1 and "exists and is not a folder" in cap.err and len(calls) == 1


def test_train_force_starts_anew_without_the_earlier_checkpoint(tmp_path, capsys, monkeypatch):
    """An earlier run's checkpoint in OUTPUT.ckpt/ is refused without --force or --resume; --force removes its
    files before training, so a run whose epochs save no best model (a NaN loss) exports its own model, not the
    old best.keras; --force with --resume (one discards what the other continues) is a usage error."""
    import json

    from geokeras.training import train as train_module

    for i, sta in enumerate(("AAA", "BBB")):
        for kind, n in (("sig", 600), ("noise", 900)):
            tr = trace(n=n, rate=50.0, data=np.random.default_rng(i).normal(size=n))
            tr.stats.station = sta
            write(tr, tmp_path / f"{kind}_{sta}.mseed")
    out, ckpt = tmp_path / "m.keras", tmp_path / "m.keras.ckpt"
    ckpt.mkdir()
    keras.utils.set_random_seed(1)
    old = build_denoiser("unet1d", window_length=64, sampling_rate=50.0, filters=(4, 8))
    for name in ("best.keras", "last.keras"):
        old.save(ckpt / name)
    (ckpt / "state.json").write_text(json.dumps({"epoch": 5, "best": 0.1, "monitor": "loss"}))
    (ckpt / "history.json").write_text(json.dumps({"loss": [0.5, 0.4, 0.3, 0.2, 0.1]}))
    argv = ["train", "--signals", tmp_path / "sig_*.mseed", "--noise", tmp_path / "noise_*.mseed", "-o", out,
            "--family", "unet1d", "--window-length", "64", "--sampling-rate", "50", "--model-option", "filters=(2, 4)",
            "--steps-per-epoch", "1", "--batch-size", "2", "--epochs", "1", "--no-validation", "--n-synthetic", "0",
            "--no-stretch", "--seed", "0", "--quiet"]
    rc, cap = run(*argv, capsys=capsys)
    assert rc == 1 and "refusing to start over the checkpoint of an earlier run" in cap.err and "--force" in cap.err
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in argv + ["--force", "--resume"]])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert sorted(f.name for f in ckpt.iterdir()) == ["best.keras", "history.json", "last.keras", "state.json"]
    monkeypatch.setattr(train_module, "fit", lambda model, ds, **k: {"loss": [float("nan")]})
    rc, cap = run(*argv, "--force", capsys=capsys)
    assert rc == 0, cap.err
    keras.utils.set_random_seed(0)
    fresh = build_denoiser("unet1d", window_length=64, sampling_rate=50.0, filters=(2, 4))  # the new run's start
    saved = keras.saving.load_model(out, safe_mode=True).get_weights()
    assert len(saved) == len(fresh.get_weights())
    for got, want in zip(saved, fresh.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert sorted(f.name for f in ckpt.iterdir()) == ["history.json"]
    assert len(json.loads((ckpt / "history.json").read_text())["loss"]) == 1


def test_keras_progress_goes_to_stderr_and_the_result_to_stdout(tmp_path, capsys, monkeypatch):
    import geokeras.training

    def fake(**kwargs):
        print("1/3 [=====>....] - loss: 0.5")  # what Keras' progress bar prints to stdout
        return None, {"loss": [0.5]}

    monkeypatch.setattr(geokeras.training, "train_denoiser", fake)
    rc, cap = run("train", "-o", tmp_path / "m.keras", capsys=capsys)
    assert rc == 0 and "loss: 0.5" in cap.err and cap.out.startswith("best loss: 0.5000")


def test_unwritable_output_and_non_denoiser_model_refused_before_work(tmp_path, model_path, capsys, monkeypatch):
    import tempfile

    import geokeras.denoise
    from geokeras.models import build_dense_autoencoder

    src = write(trace(), tmp_path / "rec.mseed")
    calls = []
    monkeypatch.setattr(geokeras.denoise, "denoise", lambda *a, **k: calls.append(a))
    (tmp_path / "file.txt").write_text("x")
    rc, cap = run("denoise", src, "-o", tmp_path / "file.txt" / "out", "--model", model_path, capsys=capsys)
    assert rc == 1 and "is not writable" in cap.err and calls == []
    real = tempfile.TemporaryFile

    def read_only(*args, **kwargs):
        if kwargs.get("dir"):
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    rc, cap = run("denoise", src, "-o", tmp_path / "ro", "--model", model_path, capsys=capsys)
    assert rc == 1 and "output folder" in cap.err and "Permission denied" in cap.err and calls == []
    assert len(cap.err.strip().splitlines()) == 1
    monkeypatch.setattr(tempfile, "TemporaryFile", real)
    ae = tmp_path / "ae.keras"
    build_dense_autoencoder(8, hidden_units=(2,)).save(ae)
    rc, cap = run("denoise", src, "-o", tmp_path / "o2", "--model", ae, capsys=capsys)
    assert rc == 1 and "is not a geokeras denoiser" in cap.err and calls == []
    assert not os.path.exists(tmp_path / "o2")
    rc, cap = run("evaluate", ae, "--n-per-level", "2", capsys=capsys)
    assert rc == 1 and "is not a geokeras denoiser" in cap.err


# --------------------------------------------------------------------------------------------- inputs and outputs
def test_bad_trace_named_and_skipped_good_traces_written(tmp_path, model_path, capsys):
    bad = trace(channel="HHN", data=_noise(1200))
    bad.data[7:10] = np.nan
    src = write(obspy.Stream([bad, trace(channel="HHZ")]), tmp_path / "mixed.mseed")
    rc, cap = run("denoise", src, "-o", tmp_path / "out", "--model", model_path, capsys=capsys)
    assert rc == 1
    errors = [line for line in cap.err.splitlines() if "error:" in line]
    assert errors == [f"geokeras denoise: error: {src}: Invalid trace XX.CLI..HHN: 3 NaN or inf sample(s), first at "
                      f"index 7 ({START + 0.07}). Mask them (numpy.ma.masked_invalid) to treat them as gaps, or "
                      "remove them."]
    assert [tr.id for tr in io.read(str(tmp_path / "out" / "mixed.mseed"))] == ["XX.CLI..HHZ"]


def test_existing_paths_are_literal_and_output_trees_mirror_input_trees(tmp_path, model_path, capsys):
    write(trace(channel="HHZ"), tmp_path / "ev1.mseed")
    literal = write(trace(channel="HHN"), tmp_path / "ev[1].mseed")
    rc, cap = run("denoise", literal, "-o", tmp_path / "o1", "--model", model_path, capsys=capsys)
    assert rc == 0, cap.err
    assert sorted(os.listdir(tmp_path / "o1")) == ["ev[1].mseed", "ev[1].mseed.processing.json"]
    assert io.read(str(tmp_path / "o1" / "ev[1].mseed"))[0].stats.channel == "HHN"  # not ev1.mseed's HHZ
    for ev, ch in (("ev1", "BHZ"), ("ev2", "BHN")):
        (tmp_path / "data" / ev).mkdir(parents=True)
        write(trace(channel=ch), tmp_path / "data" / ev / "STA.BHZ.sac", fmt="SAC")
    for inputs in ([tmp_path / "data"], [tmp_path / "data" / "ev1" / "STA.BHZ.sac", tmp_path / "data" / "ev2" /
                                         "STA.BHZ.sac"], [str(tmp_path / "data" / "*" / "*.sac")]):
        out = tmp_path / f"o{len(os.listdir(tmp_path))}"
        rc, cap = run("denoise", *inputs, "-o", out, "--model", model_path, capsys=capsys)
        assert rc == 0, cap.err
        assert [io.read(str(out / ev / "STA.BHZ.mseed"))[0].stats.channel for ev in ("ev1", "ev2")] == ["BHZ", "BHN"]


def test_headers_mseed_cannot_hold_kept_or_refused_with_a_hint(tmp_path, model_path, capsys):
    tr = trace()
    tr.stats.calib = 0.0949
    src = write(tr, tmp_path / "calib.sac", fmt="SAC")
    rc, cap = run("denoise", src, "-o", tmp_path / "out", "--model", model_path, capsys=capsys)
    assert rc == 0, cap.err
    back = io.read(str(tmp_path / "out" / "calib.mseed"))[0]
    assert back.stats.calib == pytest.approx(0.0949) and "restored calib=" in back.stats.processing[-1]
    tr.stats.network = "ABCD"
    src = write(tr, tmp_path / "long.sac", fmt="SAC")
    rc, cap = run("denoise", src, "-o", tmp_path / "o2", "--model", model_path, capsys=capsys)
    assert rc == 1 and "MSEED cannot hold the trace id 'ABCD.CLI..HHZ'" in cap.err and "--format SAC" in cap.err
    assert os.listdir(tmp_path / "o2") == []
    rc, cap = run("denoise", src, "-o", tmp_path / "o3", "--format", "SAC", "--model", model_path, capsys=capsys)
    assert rc == 0 and io.read(str(tmp_path / "o3" / "long.sac"))[0].id == "ABCD.CLI..HHZ"


def test_write_noise_and_out_of_band(tmp_path, model_path, capsys):
    src = write(trace(n=1500), tmp_path / "rec.mseed")
    rc, cap = run("denoise", src, "-o", tmp_path / "out", "--write-noise", "--model", model_path, capsys=capsys)
    assert rc == 0, cap.err
    out, noise = io.read(str(tmp_path / "out" / "rec.mseed"))[0], io.read(str(tmp_path / "out" / "rec.noise.mseed"))[0]
    original = io.read(src)[0]
    assert (noise.id, noise.stats.starttime, noise.stats.npts) == (original.id, original.stats.starttime, 1500)
    np.testing.assert_allclose(out.data + noise.data, original.data, rtol=1e-5, atol=1e-2)
    slow = write(trace(n=300, rate=1.0, channel="LHZ"), tmp_path / "slow.mseed")
    rc, cap = run("denoise", slow, "-o", tmp_path / "o2", "--model", model_path, capsys=capsys)
    errors = [line for line in cap.err.splitlines() if "error:" in line]
    assert rc == 1 and len(errors) == 1 and "XX.CLI..LHZ: sampling rate 1 Hz is outside the model's range" in errors[0]
    assert errors[0].endswith("(--out-of-band passthrough passes it through unchanged)")
    rc, cap = run("denoise", slow, "-o", tmp_path / "o3", "--out-of-band", "passthrough", "--model", model_path,
                  capsys=capsys)
    assert rc == 0 and "passed through unchanged" in cap.out and "passed through" not in cap.err  # once
    np.testing.assert_array_equal(io.read(str(tmp_path / "o3" / "slow.mseed"))[0].data, io.read(slow)[0].data)


def test_an_output_folder_inside_an_input_folder_is_not_read_back(tmp_path, model_path, capsys):
    write(trace(), tmp_path / "a.mseed")
    for _ in range(2):
        rc, cap = run("denoise", tmp_path, "-o", tmp_path / "out", "--model", model_path, capsys=capsys)
        assert rc == 0 and "denoised 1 of 1 file(s)" in cap.out, cap.err
    assert sorted(os.listdir(tmp_path / "out")) == ["a.mseed", "a.mseed.processing.json"]


def test_leftovers_of_killed_runs_are_cleaned(tmp_path, model_path, capsys):
    src = write(trace(), tmp_path / "rec.mseed")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".rec.mseed.999999999.k1ll3d_x.tmp.mseed"  # pid 999999999: no such process
    stale.write_bytes(b"half a record")
    rc, cap = run("denoise", src, "-o", out, "--model", model_path, capsys=capsys)
    assert rc == 0 and not stale.exists() and "left by an interrupted run" in cap.err
    assert no_partial_files(out) == []


def test_a_run_prints_no_tensorflow_lines_and_quiet_prints_nothing(tmp_path, model_path, capsys):
    """In a fresh process (TensorFlow's start-up lines, the cuInit error, absl): stderr stays empty."""
    src = write(trace(), tmp_path / "rec.mseed")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    cmd = [sys.executable, "-m", "geokeras", "denoise", src, "-o", str(tmp_path / "out"), "--model", model_path]
    res = subprocess.run(cmd + ["--quiet"], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == "", res.stderr
    assert os.path.isfile(tmp_path / "out" / "rec.mseed")
    rc, cap = run(*cmd[3:], capsys=capsys)  # without --quiet: the result lines, on stdout
    assert rc == 0 and cap.out.splitlines()[-1].startswith("denoised 1 of 1 file(s)") and cap.err == ""


def test_family_and_baseline_lists_match_the_library():
    from geokeras.cli import build_parser
    from geokeras.cli import evaluate as cli_evaluate
    from geokeras.evaluate import BASELINES
    from geokeras.training.families import DENOISER_FAMILIES

    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    (family,) = [a for a in train_parser._actions if a.dest == "family"]
    assert tuple(family.choices) == DENOISER_FAMILIES and cli_evaluate.BASELINES == BASELINES


def test_evaluate_passes_its_options(model_path, capsys, monkeypatch):
    import geokeras.evaluate

    seen = {}

    def fake(model, **kwargs):
        seen.update(kwargs, model=model)
        return []

    monkeypatch.setattr(geokeras.evaluate, "evaluate", fake)
    rc, cap = run("evaluate", model_path, "--condition", "recorded", "--snr-levels", "-5", "5", "--n-per-level", "7",
                  capsys=capsys)
    assert rc == 0, cap.err
    assert (seen["condition"], seen["snr_levels"], seen["n_per_level"]) == ("recorded", (-5.0, 5.0), 7)
    assert seen["model_name"] == "tiny.keras" and seen["model"].name == "unet1d_denoiser"
    assert "(recorded condition)" in cap.out


def test_model_card_training_command_parses():
    # the shipped model's one-command recipe must stay a valid `geokeras train` command
    import shlex

    from geokeras.pretrained import MODEL_CARD_PATH

    text = MODEL_CARD_PATH.read_text()
    start = text.index("    geokeras train ")
    block = text[start:text.index("\n\n", start)].replace("\\\n", " ").splitlines()
    command, floor = block  # the training of the network, then the mask floor of v4
    assert shlex.split(floor)[:4] == ["python", "bench/make_default_v4.py", "v3.keras", "-o"]
    argv = shlex.split(command)[1:]
    kwargs = cli_train.train_kwargs(cli.build_parser().parse_args(argv))
    assert kwargs["shift"] == (-1000, 2000) and kwargs["noise_augment"] and kwargs["inband_fraction"] == 0.5
    assert kwargs["model_kwargs"] == {"filters": (8, 16, 32, 64), "sign_invariant": True, "frame_length": 64,
                                      "frame_step": 32}
    assert kwargs["min_record_snr_db"] == 15.0 and kwargs["stretch"] == (0.6, 1.8)
    assert (kwargs["family"], kwargs["epochs"], kwargs["steps_per_epoch"]) == ("stftmask", 1000, 200)
    assert kwargs["patience"] == 40


def test_train_defaults_are_the_shipped_recipe(capsys):
    # `geokeras train -o m.keras` trains the shipped network (model card "Reproduce"); the old defaults
    # (unet1d, no augmentation, shift 0 .. L/2, patience 5) gave a weaker model
    from geokeras.training.recipe import SHIPPED_MODEL_KWARGS, SHIPPED_RECIPE

    import inspect

    import geokeras.training

    kwargs = cli_train.train_kwargs(cli.build_parser().parse_args(["train", "-o", "m.keras"]))
    defaults = {k: p.default for k, p in inspect.signature(geokeras.training.train_denoiser).parameters.items()}
    for key, value in SHIPPED_RECIPE.items():  # options the command does not expose: train_denoiser's default
        assert kwargs.get(key, defaults[key]) == value, key
    assert kwargs["model_kwargs"] == SHIPPED_MODEL_KWARGS and kwargs["shift"] == (-1000, 2000)
    off = cli_train.train_kwargs(cli.build_parser().parse_args(
        ["train", "-o", "m.keras", "--no-noise-augment", "--no-stretch", "--family", "unet1d",
         "--window-length", "600"]))
    assert not off["noise_augment"] and off["stretch"] is None and off["model_kwargs"] is None
    assert off["shift"] == (-200, 400)
    kwargs["log"]("training: 1 signal traces")
    assert capsys.readouterr().err == "training: 1 signal traces\n"


def test_integer_train_options_refuse_fractions(capsys):
    for argv in (["--n-synthetic", "2.5"], ["--shift", "1.9", "2"]):
        with pytest.raises(SystemExit) as exc:
            cli.build_parser().parse_args(["train", "-o", "m.keras", *argv])
        assert exc.value.code == 2
        assert "Expected an integer" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["train", "-o", "m.keras", "--shift", "-1000", "2000", "--n-synthetic", "0"])
    kwargs = cli_train.train_kwargs(args)
    assert kwargs["shift"] == (-1000, 2000) and kwargs["n_synthetic"] == 0
