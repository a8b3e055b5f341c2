"""``geokeras adapt`` / `geokeras.adapt`: fine-tuning a denoiser on one station's continuous noise.

A tiny sign-invariant mask denoiser (600-sample windows, mask floor 0.3 like the shipped v4) stands in for the
shipped model so that the run takes seconds; the station's noise is strongly coloured (a 4-7 Hz band, in
the model's band), which a base never trained on it passes.
"""
import os

import numpy as np
import obspy
import pytest

import geokeras
from geokeras import cli
from geokeras.errors import NotADenoiserError, NotEnoughNoiseError, OutOfBandError, SeveralStationsError

START = obspy.UTCDateTime(2024, 1, 1)
FAST = dict(minutes=5.0, max_epochs=8, steps_per_epoch=8, batch_size=16, n_synthetic=20, n_per_level=16,
            snr_levels=(-5, 0, 5), detection_hours=0.1, min_noise_minutes=4.0, learning_rate=3e-3, jit_compile=False)


def coloured_trace(minutes, station="WIND", rate=100.0, seed=0, channel="HHZ"):
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * rate)
    sos = butter(4, [4.0, 7.0], btype="band", fs=rate, output="sos")
    data = 20.0 * sosfilt(sos, rng.normal(size=n)) + 0.5 * rng.normal(size=n)
    return obspy.Trace(data.astype(np.float32), header={"network": "XX", "station": station, "channel": channel,
                                                        "sampling_rate": rate, "starttime": START})


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from geokeras.models.denoiser import build_stft_mask_denoiser
    from geokeras.models.mask_floor import with_mask_smoothing

    import keras

    # seeded: the base's initial weights must not depend on which tests ran before (with 3 epochs and unseeded
    # weights the adapted margin ranged from +0.2 to +2.5 dB; with 8 epochs it is +2.6 to +5.4 dB over 5 seeds)
    keras.utils.set_random_seed(0)
    net = build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8), frame_length=32,
                                   frame_step=16)
    path = tmp_path_factory.mktemp("base") / "tiny.keras"
    with_mask_smoothing(net, floor=0.3).save(path)
    return str(path)


@pytest.fixture(scope="module")
def adapted(tiny_base, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapted") / "wind.keras"
    model, report = geokeras.adapt(obspy.Stream([coloured_trace(8.0)]), base=tiny_base, output=str(out), seed=0,
                                   **FAST)
    return model, report, out


@pytest.mark.slow  # one adaptation run (module fixture, about 20 s on 2 loaded cores) for three tests
def test_adapting_on_coloured_noise_beats_the_base_on_held_out_noise(adapted):
    _, report, _ = adapted
    gain = report["figures"]["gain_db"]
    assert gain["adapted"]["all"] > gain["base"]["all"] + 1.0, gain
    fit = report["fine_tune"]
    assert fit["best_epoch"] >= 1 and fit["best_val_loss"] < fit["base_val_loss"]
    hours = report["noise_hours"]
    assert report["station"] == "XX.WIND" and hours["kept"] > 0.9 * 8 / 60
    assert hours["heldout"] > 0 and abs(hours["train"] / (hours["train"] + hours["heldout"] + hours["validation"])
                                        - 0.7) < 0.05
    assert set(report["figures"]["recall"]) == {"raw", "base", "adapted"}


@pytest.mark.slow
def test_adapted_file_round_trips_safely_stays_odd_and_carries_its_provenance(adapted, tiny_base):
    from geokeras.models.denoiser import denoiser_info
    from geokeras.saving import load_model

    model, report, out = adapted
    loaded = load_model(out)  # safe_mode=True
    x = np.random.default_rng(0).normal(size=(4, 600, 1)).astype("float32") * 1000
    y = loaded.predict(x, verbose=0)
    assert np.array_equal(y, model.predict(x, verbose=0))
    assert np.array_equal(loaded.predict(-x, verbose=0), -y)  # exactly odd, to the last bit
    info, base_info = denoiser_info(loaded), denoiser_info(load_model(tiny_base))
    for key in ("band_hz", "sampling_rate_range_hz", "sampling_rate", "window_length"):
        assert info[key] == base_info[key], key
    prov = info["provenance"]
    assert prov["station"] == "XX.WIND" and len(prov["base_sha256"]) == 64
    assert prov["noise_hours"]["train"] == pytest.approx(report["noise_hours"]["train"])
    assert prov["figures"]["gain_db"]["adapted"]["all"] == pytest.approx(report["figures"]["gain_db"]["adapted"]["all"])
    card = out.with_suffix(".md").read_text()
    assert "XX.WIND" in card and prov["base_sha256"] in card and "Median SNR gain" in card
    assert report["exactly_odd"] and "holds to the last bit" in card
    assert "mask_smoothing" in [layer.name for layer in loaded.layers]


@pytest.mark.slow
def test_denoise_accepts_the_adapted_model(adapted, tmp_path, capsys):
    _, _, out = adapted
    src = tmp_path / "rec.mseed"
    tr = coloured_trace(0.5)
    obspy.Stream([tr]).write(str(src), format="MSEED")
    assert cli.main(["denoise", str(src), "-o", str(tmp_path / "out"), "--model", str(out)]) == 0
    assert obspy.read(str(tmp_path / "out" / "rec.mseed"))[0].stats.npts == tr.stats.npts


def _band_share(x, low, high, rate=100.0):
    power = np.abs(np.fft.rfft(x - np.mean(x))) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / rate)
    return power[(f >= low) & (f <= high)].sum() / power.sum()


def test_general_noise_mixes_bundled_noise_into_the_station_noise(tiny_base, monkeypatch):
    import geokeras.adaptation.fit

    seen = {}

    class Stop(Exception):
        pass

    def capture(model, signals, noise, *args, **kwargs):
        seen["noise"] = noise
        raise Stop

    monkeypatch.setattr(geokeras.adaptation.fit, "fine_tune", capture)
    for share in (0.0, 0.5):
        with pytest.raises(Stop):
            geokeras.adapt(obspy.Stream([coloured_trace(5.0)]), base=tiny_base, min_noise_minutes=4.0,
                           general_noise=share)
        station = [x for x in seen["noise"] if _band_share(x, 4.0, 7.0) > 0.8]  # the coloured trace's pieces
        if share == 0.0:
            assert len(station) == len(seen["noise"]) >= 1
        else:
            assert abs(len(station) / len(seen["noise"]) - 0.5) < 0.02, (len(station), len(seen["noise"]))


# ------------------------------------------------------------------------------------------------- refusals
@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the noise search or the fine-tuning starts."""
    import geokeras.adaptation.fit
    import geokeras.adaptation.noise

    def boom(*args, **kwargs):
        raise AssertionError("work started before the refusal")

    monkeypatch.setattr(geokeras.adaptation.noise, "find_noise", boom)
    monkeypatch.setattr(geokeras.adaptation.fit, "fine_tune", boom)


def test_too_little_noise_is_refused_with_the_minimum(tiny_base, no_work):
    with pytest.raises(NotEnoughNoiseError, match=r"2\.0 min of data .* at least 30 min"):
        geokeras.adapt(obspy.Stream([coloured_trace(2.0)]), base=tiny_base)


def test_too_little_noise_after_screening_is_refused(tiny_base, monkeypatch):
    import geokeras.adaptation.fit

    monkeypatch.setattr(geokeras.adaptation.fit, "fine_tune", lambda *a, **k: pytest.fail("fine-tuned"))
    tr = coloured_trace(5.0)
    tr.data[: tr.stats.npts // 2] = 0.0  # half the record is filled-in zeros: no noise there
    with pytest.raises(NotEnoughNoiseError, match=r"min of noise-only data kept .* at least 4 min"):
        geokeras.adapt(obspy.Stream([tr]), base=tiny_base, min_noise_minutes=4.0)


def test_several_stations_are_refused_with_their_list(tiny_base, no_work):
    st = obspy.Stream([coloured_trace(1.0, "AAA"), coloured_trace(1.0, "BBB")])
    with pytest.raises(SeveralStationsError, match=r"2 stations \(XX\.AAA, XX\.BBB\).*--per-station") as exc:
        geokeras.adapt(st, base=tiny_base)
    assert exc.value.stations == ["XX.AAA", "XX.BBB"]


def test_rates_outside_the_base_range_are_refused(tiny_base, no_work):
    with pytest.raises(OutOfBandError, match=r"XX\.WIND\.\.LHZ.*1 Hz, outside the 20-250 Hz"):
        tr = obspy.Trace(np.random.default_rng(0).normal(size=2400).astype("float32"),
                         header={"network": "XX", "station": "WIND", "channel": "LHZ", "sampling_rate": 1.0})
        geokeras.adapt(obspy.Stream([tr]), base=tiny_base)


def test_a_base_that_is_not_a_denoiser_is_refused(tmp_path, no_work):
    from geokeras.models import build_dense_autoencoder

    path = tmp_path / "ae.keras"
    build_dense_autoencoder(8, hidden_units=(2,)).save(path)
    with pytest.raises(NotADenoiserError):
        geokeras.adapt(obspy.Stream([coloured_trace(1.0)]), base=str(path))


def test_an_existing_output_is_refused_without_force(tiny_base, tmp_path, no_work):
    out = tmp_path / "x.keras"
    out.write_bytes(b"earlier")
    with pytest.raises(FileExistsError, match="force"):
        geokeras.adapt(obspy.Stream([coloured_trace(40.0)]), base=tiny_base, output=str(out))
    assert out.read_bytes() == b"earlier"


# ------------------------------------------------------------------------------------------- the command
def cli_run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    return rc, capsys.readouterr()


@pytest.mark.parametrize("argv, text", [
    (["adapt", "r.mseed", "-o", "x.model"], "Expected a path ending in .keras"),
    (["adapt", "r.mseed", "-o", "x.keras", "--minutes", "0"], "Received minutes=0"),
    (["adapt", "r.mseed", "-o", "x.keras", "--general-noise", "1"], "Received general_noise=1"),
])
def test_adapt_usage_errors_exit_2(tmp_path, capsys, monkeypatch, argv, text):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count(text) == 1 and os.listdir(tmp_path) == []


def test_adapt_refusals_exit_1_with_one_line(tiny_base, tmp_path, capsys, no_work):
    rec = tmp_path / "rec.mseed"
    obspy.Stream([coloured_trace(2.0)]).write(str(rec), format="MSEED")
    two = tmp_path / "two.mseed"
    obspy.Stream([coloured_trace(1.0, "AAA"), coloured_trace(1.0, "BBB")]).write(str(two), format="MSEED")
    existing = tmp_path / "old.keras"
    existing.write_bytes(b"earlier")
    (tmp_path / "card.md").write_text("an earlier card")  # a card alone is not replaced either
    from geokeras.models import build_dense_autoencoder

    ae = tmp_path / "ae.keras"
    build_dense_autoencoder(8, hidden_units=(2,)).save(ae)
    cases = [([rec, "-o", existing, "--model", tiny_base], "refusing to overwrite"),
             ([rec, "-o", tmp_path / "card.keras", "--model", tiny_base], "card.md': it exists"),
             ([rec, "-o", tmp_path / "a.keras", "--model", tiny_base], "at least 30 min"),
             ([two, "-o", tmp_path / "b.keras", "--model", tiny_base], "XX.AAA, XX.BBB"),
             ([rec, "-o", tmp_path / "c.keras", "--model", ae], "not a geokeras denoiser"),
             ([rec, "-o", tmp_path / "d.keras", "--model", rec], "Expected an existing `.keras` file")]
    for argv, text in cases:
        rc, cap = cli_run(["adapt", *argv], capsys)
        assert rc == 1 and text in cap.err and len(cap.err.strip().splitlines()) == 1, (argv, cap.err)
    assert existing.read_bytes() == b"earlier" and not (tmp_path / "a.keras").exists()


def test_adapt_per_station_writes_one_model_each(tiny_base, tmp_path, capsys, monkeypatch):
    import geokeras.adaptation

    seen = []

    def fake_one(st, station, den, base, output=None, **kwargs):
        seen.append((station, output, kwargs["minutes"]))
        report = {"station": station, "noise_hours": {"kept": 1.0},
                  "figures": {"gain_db": {"base": {"all": 5.0}, "adapted": {"all": 7.0}}}}
        return None, report

    monkeypatch.setattr(geokeras.adaptation, "_adapt_one", fake_one)
    two = tmp_path / "two.mseed"
    obspy.Stream([coloured_trace(5.0, "AAA"), coloured_trace(5.0, "BBB")]).write(str(two), format="MSEED")
    rc, cap = cli_run(["adapt", two, "-o", tmp_path / "site.keras", "--per-station", "--model", tiny_base,
                       "--minutes", "2", "--min-noise-minutes", "4"], capsys)
    assert rc == 0, cap.err
    assert seen == [("XX.AAA", str(tmp_path / "site.XX.AAA.keras"), 2.0),
                    ("XX.BBB", str(tmp_path / "site.XX.BBB.keras"), 2.0)]
    assert "XX.AAA: 1.00 h of noise kept; median SNR gain on held-out noise 5.00 -> 7.00 dB" in cap.out


# ------------------------------------------------------------------------------------------- the noise search
def test_find_noise_drops_events_with_their_margins_and_gaps():
    from geokeras.adaptation.noise import EVENT_MARGIN_S, find_noise

    rng = np.random.default_rng(0)
    x = rng.normal(size=60_000)  # 10 min at 100 Hz
    p = 30_000
    x[p:p + 1500] += 30.0 * rng.normal(size=1500) * np.exp(-np.arange(1500) / 400.0)  # an event at 300 s
    a = obspy.Trace(x[:45_000].astype(np.float32), header={"station": "STA", "network": "XX", "sampling_rate": 100.0,
                                                           "starttime": START})
    b = a.copy()
    b.data = x[48_000:].astype(np.float32)
    b.stats.starttime = START + 480.0  # a 30-s gap
    pieces, report = find_noise(obspy.Stream([a, b]), 100.0)
    t_event = START.timestamp + 300.0
    assert report["stalta_s"] > 60.0 and report["gaps_s"] == pytest.approx(30.0, abs=0.02)
    for piece in pieces:
        assert piece.end <= t_event - EVENT_MARGIN_S[0] + 1 or piece.start >= t_event + EVENT_MARGIN_S[1]
    kept = sum(piece.data.size for piece in pieces) / 100.0
    assert kept == pytest.approx(report["kept_s"]) and 300.0 < kept < 540.0
    parts = report["total_s"] - sum(v for k, v in report.items() if k not in ("total_s", "kept_s"))
    assert parts == pytest.approx(kept, abs=1.0)  # every second is kept or dropped for one reason


def test_per_station_outputs_stay_in_the_folder_and_never_share_a_name(tiny_base, tmp_path, monkeypatch):
    import geokeras.adaptation
    from geokeras.errors import InputError

    path = geokeras.adaptation.per_station_path(tmp_path / "x.keras", "XX.A/../B")  # a code read from a file
    assert path == tmp_path / "x.XX.A_.._B.keras"
    seen = []
    monkeypatch.setattr(geokeras.adaptation, "_adapt_one", lambda *a, **k: seen.append(k["output"]) or (None, {}))
    st = obspy.Stream([coloured_trace(5.0, "A/B"), coloured_trace(5.0, "A_B")])
    with pytest.raises(InputError, match=r"XX\.A/B and XX\.A_B would both be written to .*x\.XX\.A_B\.keras"):
        geokeras.adaptation.adapt_per_station(st, str(tmp_path / "x.keras"), base=tiny_base, min_noise_minutes=4.0)
    assert not seen  # refused before any work (the second would have replaced the first)


@pytest.mark.parametrize("minutes", [0.5, 1.5])  # no noise piece kept; no piece of 10 s in the validation part
def test_a_part_without_noise_is_refused_even_with_no_minimum(tiny_base, monkeypatch, minutes):
    import geokeras.adaptation.fit

    monkeypatch.setattr(geokeras.adaptation.fit, "fine_tune", lambda *a, **k: pytest.fail("fine-tuned"))
    monkeypatch.setattr(geokeras.adaptation.fit, "adaptation_signals", lambda *a, **k: pytest.fail("signals built"))
    with pytest.raises(NotEnoughNoiseError, match=r"Not enough noise at XX\.WIND: .* min of noise-only data kept"):
        geokeras.adapt(obspy.Stream([coloured_trace(minutes)]), base=tiny_base, min_noise_minutes=0.0)


def test_noise_helpers_name_the_bad_argument():
    from geokeras.adaptation.fit import mixed_noise
    from geokeras.adaptation.noise import NoisePiece, split_by_time

    piece = NoisePiece("XX.STA..HHZ", 0.0, 100.0, np.zeros(1000))
    with pytest.raises(ValueError, match=r"argument `pieces`. Expected at least one NoisePiece. Received none"):
        split_by_time([], (0.7, 0.1, 0.2))
    for bad in [(0.5, -0.5), (1.0, 0.0), (np.nan, 1.0), ()]:
        with pytest.raises(ValueError, match=r"argument `fractions`. Expected positive numbers. Received fractions="):
            split_by_time([piece], bad)
    with pytest.raises(ValueError, match=r"argument `general`. Expected at least one noise array with fraction=0.5"):
        mixed_noise([np.zeros(100)], [], 0.5, window_length=10)
    assert mixed_noise([np.zeros(100)], [], 0.0, window_length=10)[0].size == 100  # none drawn: none needed


def test_find_noise_treats_nan_samples_as_gaps_and_keeps_the_rest():
    from geokeras.adaptation.noise import find_noise

    x = np.random.default_rng(1).normal(size=60_000).astype(np.float32)  # 10 min at 100 Hz of quiet noise
    x[30_000:30_010] = np.nan  # 0.1 s of a logger's NaN fill
    tr = obspy.Trace(x, header={"station": "STA", "network": "XX", "sampling_rate": 100.0, "starttime": START})
    pieces, report = find_noise(obspy.Stream([tr]), 100.0)
    assert report["total_s"] == pytest.approx(600.0, abs=0.02) and report["gaps_s"] == pytest.approx(0.1, abs=0.02)
    assert report["kept_s"] > 500.0  # not the whole 10 min lost for 10 samples
    assert all(np.isfinite(p.data).all() for p in pieces)


def test_the_output_folder_is_made_before_any_work(tiny_base, tmp_path, monkeypatch):
    import geokeras.adaptation.noise

    class Stop(Exception):
        pass

    seen = []
    monkeypatch.setattr(geokeras.adaptation.noise, "find_noise",
                        lambda *a, **k: seen.append(sorted(p.name for p in tmp_path.rglob("*"))) or (_ for _ in ()).throw(Stop))
    with pytest.raises(Stop):  # the model is written after minutes of work: a missing folder failed only then
        geokeras.adapt(obspy.Stream([coloured_trace(5.0)]), base=tiny_base, output=str(tmp_path / "a" / "x.keras"),
                       min_noise_minutes=4.0)
    with pytest.raises(Stop):
        geokeras.adaptation.adapt_per_station(obspy.Stream([coloured_trace(5.0)]), str(tmp_path / "b" / "x.keras"),
                                              base=tiny_base, min_noise_minutes=4.0)
    assert seen == [["a"], ["a", "b"]]


def test_adapt_per_station_command_reaches_the_work_with_adapts_defaults(tiny_base, tmp_path, capsys, monkeypatch):
    import geokeras.adaptation.noise

    def started(*args, **kwargs):
        raise NotEnoughNoiseError("the noise search started")

    monkeypatch.setattr(geokeras.adaptation.noise, "find_noise", started)
    two = tmp_path / "two.mseed"
    obspy.Stream([coloured_trace(5.0, "AAA"), coloured_trace(5.0, "BBB")]).write(str(two), format="MSEED")
    rc, cap = cli_run(["adapt", two, "-o", tmp_path / "site.keras", "--per-station", "--model", tiny_base,
                       "--min-noise-minutes", "4"], capsys)
    assert rc == 1 and "the noise search started" in cap.err, cap.err  # was a TypeError: options without defaults


def test_noise_search_and_report_denoise_in_float32_whatever_the_cpu(tiny_base, monkeypatch):
    """The noise adapt keeps and its before/after figures must not depend on the CPU's precision "auto"."""
    import geokeras.denoise as gd
    from geokeras.adaptation import noise as noise_module
    from geokeras.adaptation import report as report_module

    calls = []
    real = gd.denoise

    def spy(*args, **kwargs):
        calls.append(kwargs.get("precision", "auto"))
        return real(*args, **kwargs)

    monkeypatch.setattr(gd, "denoise", spy)
    data = coloured_trace(2.0).data
    noise_module._event_flags(data, 100.0, tiny_base)
    rng = np.random.default_rng(0)
    signals = [rng.normal(size=1500) * np.hanning(1500) for _ in range(3)]
    report_module._recall({"base": tiny_base}, [data.astype(np.float64)], signals, 100.0, 0.05, 0)
    assert calls and set(calls) == {"float32"}
