"""One mask for a station's components: the layers, the model, `denoise_components` and the 3-C benchmark records."""
import re

import keras
import numpy as np
import pytest

from geokeras import detection
from geokeras.denoise import Denoiser, denoise, denoise_components
from geokeras.evaluate import wiener_baseline
from geokeras.layers import ComponentMask, SplitComponents
from geokeras.models.components import component_denoiser
from geokeras.models.denoiser import build_stft_mask_denoiser

SR = 100.0


@pytest.fixture(scope="module")
def base():
    keras.utils.set_random_seed(0)
    return build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8), mask_floor=0.3)


def test_component_mask_statistics():
    values = [0.25, 0.875, 0.5]
    masks = [np.full((1, 2, 3, 1), v, "float32") for v in values]
    got = {s: [float(np.asarray(m)[0, 1, 2, 0]) for m in ComponentMask(s)(masks)] for s in ("median", "mean", "own")}
    assert got["median"] == [0.5] * 3
    assert got["mean"] == pytest.approx([np.mean(values)] * 3)
    assert got["own"] == pytest.approx(values)
    four = [np.full((1, 1, 1, 1), v, "float32") for v in (0.25, 0.875, 0.5, 0.75)]
    assert np.asarray(ComponentMask("median")(four)[0]).item() == 0.625  # the mean of the two middle values
    assert ComponentMask.from_config(ComponentMask("mean").get_config()).statistic == "mean"
    with pytest.raises(ValueError, match=re.escape("Received statistic='max'")):
        ComponentMask("max")
    parts = SplitComponents()(np.arange(12, dtype="float32").reshape(2, 2, 3))
    assert [np.asarray(p).shape for p in parts] == [(2, 2, 1)] * 3
    np.testing.assert_array_equal(np.asarray(parts[2])[..., 0], [[2, 5], [8, 11]])


def test_median_max_gives_the_vertical_the_median_and_each_horizontal_at_least_it():
    e, n, z = (np.array(v, "float32").reshape(1, 2, 2, 1) for v in
               ([0.2, 0.9, 0.5, 0.3], [0.6, 0.1, 0.5, 0.8], [0.4, 0.3, 0.9, 0.2]))
    out = [np.asarray(m).ravel() for m in ComponentMask("median-max")([e, n, z])]
    median = np.median(np.stack([e, n, z]).reshape(3, -1), axis=0)
    np.testing.assert_array_equal(out[2], median)  # the vertical (last): the median, as "median"
    np.testing.assert_array_equal(out[0], np.maximum(e.ravel(), median))  # a horizontal keeps its own where higher
    np.testing.assert_array_equal(out[1], np.maximum(n.ravel(), median))
    np.testing.assert_array_equal(out[0], np.float32([0.4, 0.9, 0.5, 0.3]))
    assert ComponentMask.from_config(ComponentMask("median-max").get_config()).statistic == "median-max"
    one = [np.full((1, 1, 1, 1), 0.7, "float32")]
    assert np.asarray(ComponentMask("median-max")(one)[0]).item() == pytest.approx(0.7)  # one component: its own


def test_denoise_components_median_max_keeps_the_vertical_and_each_sign(base, rng):
    from geokeras.denoise import DenoiseOptions

    x = (rng.standard_normal((3, 2500)) * 200).astype("float32")
    x[:2, 1200:1500] += (3000 * np.sin(np.arange(300) * 0.5)).astype("float32")  # a burst on the horizontals
    median = denoise_components(x, model=base, statistic="median")
    y = denoise_components(x, model=base, statistic="median-max")
    np.testing.assert_allclose(y[2], median[2], atol=1e-6 * np.abs(median[2]).max())  # the vertical: the median's
    assert not np.allclose(y[:2], median[:2], atol=1e-3 * np.abs(median).max())
    # a horizontal's mask is never below the median's: more of the horizontals' burst passes
    assert np.all(np.abs(y[:2, 1200:1500]).max(axis=1) >= np.abs(median[:2, 1200:1500]).max(axis=1) - 1e-3)
    flipped = denoise_components(x * np.array([[-1], [1], [1]], "float32"), model=base, statistic="median-max")
    assert np.array_equal(flipped[0], -y[0]) and np.array_equal(flipped[1:], y[1:])
    assert DenoiseOptions(components="median-max").components == "median-max"


def test_component_denoiser_shares_the_weights_and_is_odd_per_component(base, tmp_path, rng):
    x = (rng.standard_normal((2, 600, 3)) * 300).astype("float32")
    own = np.asarray(component_denoiser(base, statistic="own")(x))
    for c in range(3):  # "own": the base model on each component
        single = np.asarray(base(x[..., c:c + 1]))[..., 0]
        np.testing.assert_allclose(own[..., c], single, atol=1e-5 * np.abs(own).max())
    model = component_denoiser(base)
    y = np.asarray(model(x))
    assert not np.allclose(y, own, atol=1e-3 * np.abs(own).max())  # the combined mask changes the output
    flipped = np.asarray(model(x * np.array([1, -1, 1], "float32")))
    assert np.array_equal(flipped[..., 1], -y[..., 1]) and np.array_equal(flipped[..., ::2], y[..., ::2])
    same = np.repeat(x[..., :1], 3, axis=-1)  # three equal components: the median is each one's own mask
    np.testing.assert_allclose(np.asarray(model(same)), np.asarray(component_denoiser(base, statistic="own")(same)),
                               atol=1e-6 * np.abs(same).max())
    model.save(tmp_path / "c3.keras")
    again = keras.saving.load_model(tmp_path / "c3.keras", safe_mode=True)
    assert np.array_equal(np.asarray(again(x)), y)
    with pytest.raises(ValueError, match="Expected a spectrogram-mask denoiser"):
        component_denoiser(keras.Sequential([keras.Input((600, 1)), keras.layers.Dense(1)], name="plain"))


def test_denoise_components_own_is_denoise_and_median_keeps_sign_and_length(base, rng):
    x = (rng.standard_normal((3, 2500)) * 200 + 50).astype("float32")
    own = denoise_components(x, model=base, statistic="own")
    ref = denoise(x, model=base, precision="float32")
    np.testing.assert_allclose(own, ref, atol=1e-5 * np.abs(ref).max())  # the same window preparation and stitching
    y = denoise_components(x, model=base)
    assert y.shape == x.shape and y.dtype == np.float32
    assert not np.allclose(y, own, atol=1e-3 * np.abs(own).max())
    flipped = denoise_components(x * np.array([[1], [1], [-1]], "float32"), model=base)
    assert np.array_equal(flipped[2], -y[2]) and np.array_equal(flipped[:2], y[:2])
    assert np.all(np.abs(y) <= 1.1 * np.abs(x - x.mean(axis=1, keepdims=True)).max(axis=1, keepdims=True) + 1e-3)
    assert denoise_components(x[:, :100], model=base).shape == (3, 100)  # shorter than a window


def test_denoise_components_refuses_what_it_cannot_denoise_whole(base):
    x = np.zeros((3, 1000), "float32")
    with pytest.raises(ValueError, match=re.escape("Received an array of shape (1000,)")):
        denoise_components(x[0], model=base)
    bad = x.copy()
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match=re.escape("NaN or inf in component(s) [1]")):
        denoise_components(bad, model=base)
    with pytest.raises(ValueError, match="without gaps"):
        denoise_components(np.ma.masked_array(x, mask=x == 0), model=base)
    with pytest.raises(ValueError, match=re.escape("Expected the model's rate, 100 Hz (resample first). "
                                                   "Received sampling_rate=50.0")):
        denoise_components(x, model=base, sampling_rate=50.0)
    with pytest.raises(ValueError, match="statistic"):
        denoise_components(x, model=base, statistic="max")


def test_stitched_components_give_denoise_components_to_the_bit_a_block_at_a_time(base, rng):
    """The core of `denoise_components` for records not held whole (a long file's pieces): it asks for the samples
    it needs in order, a few batches at a time, and its blocks, joined, are `denoise_components`' output."""
    from geokeras.data.windows import Windowing
    from geokeras.denoise.components import stitched_components

    x = (rng.standard_normal((3, 9001)) * 200 + np.arange(9001) * 0.05).astype("int32")
    den = Denoiser(base)
    want = denoise_components(x, model=den, batch_size=4, precision="float32")
    asked = []

    def read(a, b):
        asked.append((a, b))
        return [row[a:b] for row in x]

    fn = den.component_predictor(3, "median", "float32")
    blocks = list(stitched_components(read, x.shape[1], 3, fn, Windowing(600, 0.5), 4))
    assert [a for a, _ in blocks] == list(np.cumsum([0] + [b.shape[1] for _, b in blocks[:-1]]))
    assert np.array_equal(np.concatenate([b for _, b in blocks], axis=1), want)
    assert len(blocks) == len(asked) == 8  # 30 windows, 4 a batch
    assert all(a0 <= a1 and b0 <= b1 for (a0, b0), (a1, b1) in zip(asked, asked[1:]))
    assert max(b - a for a, b in asked) == 600 + 3 * 300  # a batch's samples, never the record


def test_three_component_records_share_noise_pieces_and_scale_events_on_the_vertical(rng):
    noises = [rng.normal(size=(3, 3000)) * np.array([[1.0], [2.0], [0.5]]) for _ in range(6)]
    signals = [rng.normal(size=(3, 1500)) * np.exp(-np.arange(1500) / 200.0) for _ in range(3)]
    noisy, clean, events = detection.continuous_record(noises, signals, 900, SR, snr_levels=(-5, 5), seed=0)
    assert noisy.shape == clean.shape == (3, int(900 * SR))
    single, _, single_events = detection.continuous_record([x[2] for x in noises], [s[2] for s in signals], 900, SR,
                                                           snr_levels=(-5, 5), seed=0)
    np.testing.assert_allclose(noisy[2], single)  # the vertical is the one-component record of the verticals
    assert [e.p_index for e in events] == [e.p_index for e in single_events]
    ev = events[0]
    window = slice(ev.p_index - int(10 * SR), ev.p_index + int(20 * SR))
    noise = noisy - clean
    snr = 10 * np.log10(np.sum(clean[2, window] ** 2) / np.sum(noise[2, window] ** 2))
    assert snr == pytest.approx(ev.snr_db, abs=0.2)
    # one factor for all three components of an event: the injected piece is a multiple of one source
    piece = clean[:, ev.p_index - 50:ev.p_index + 450]  # 0.5 s before P on, before the fade-out
    fits = []
    for src in signals:
        scales = np.sum(piece * src[:, :500], axis=1) / np.sum(src[:, :500] ** 2, axis=1)
        fits.append(np.allclose(piece, scales[2] * src[:, :500], atol=1e-9 * np.abs(piece).max()))
    assert sum(fits) == 1


def test_benchmark_records_with_three_components_score_the_vertical(base):
    records = detection.benchmark_records("validation", n_stations=1, hours=0.1, components=3, min_noise_s=55.0)
    rec = records[0]
    assert rec["noisy"].shape[0] == 3 and rec["clean"].shape == rec["noisy"].shape
    assert rec["noise_report"]["kept"] >= 1
    den = Denoiser(base)
    methods = {**detection.standard_methods({"m": den}), **detection.component_methods({"m": den}, ("median", "own"))}
    assert list(methods) == ["raw", "bandpass", "wiener", "m", "m 3c-median", "m 3c-own"]
    np.testing.assert_array_equal(methods["raw"](rec["noisy"], SR), rec["noisy"][2])
    out = methods["m 3c-median"](rec["noisy"], SR)
    np.testing.assert_array_equal(out, denoise_components(rec["noisy"], model=den)[2])
    classical = detection.component_methods({}, wiener=True)  # the non-learned median over the components' gains
    assert list(classical) == ["wiener 3c-median"]
    np.testing.assert_array_equal(classical["wiener 3c-median"](rec["noisy"], SR),
                                  wiener_baseline(rec["noisy"], SR, components="median")[2])
    scores = detection.evaluate_detection({"raw": methods["raw"]}, records, rates_per_hour=(2.0,),
                                          detectors=("recursive",))
    one = detection.score_detections(rec["noisy"][2], rec["clean"][2], rec["events"], SR, (2.0,), ("recursive",),
                                     reference=rec["noisy"][2])
    assert scores["raw"][0]["thresholds"] == one["thresholds"]
    with pytest.raises(ValueError, match=re.escape("Received components=2")):
        detection.benchmark_records("validation", components=2)


def _station_stream(rng, n=5000, channels=("HHE", "HHN", "HHZ", "EHZ")):
    import obspy

    st = obspy.Stream()
    for ch in channels:
        tr = obspy.Trace((rng.standard_normal(n) * 100).astype("float32"))
        tr.stats.update(dict(network="XX", station="A", channel=ch, sampling_rate=SR))
        st.append(tr)
    return st


def test_denoise_with_components_groups_aligned_stations_and_leaves_the_rest_alone(base, rng):
    st = _station_stream(rng)
    den = Denoiser(base)
    calls, plain_calls = [], []
    out, noise, report = denoise(st, model=den, components="median", return_noise=True, return_report=True,
                                 progress=lambda done, total: calls.append((done, total)))
    plain = denoise(st, model=den, progress=lambda done, total: plain_calls.append((done, total)))
    assert calls[-1] == plain_calls[-1]  # the same windows counted, the groups' with the others
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:])) and len({t for _, t in calls}) == 1
    assert report.notes == ["XX.A..EHZ: not three aligned gap-free components of one station at the model's 100 Hz: "
                            "denoised one trace at a time"]
    assert [tr.id for tr in out] == [tr.id for tr in st]
    joint = denoise_components(np.stack([tr.data for tr in st[:3]]), model=den, precision="auto")
    for i in range(3):
        np.testing.assert_array_equal(out[i].data, joint[i])
        assert out[i].stats.starttime == st[i].stats.starttime and out[i].stats.npts == st[i].stats.npts
        np.testing.assert_allclose(noise[i].data, st[i].data - out[i].data, atol=1e-3)
    np.testing.assert_array_equal(out[3].data, plain[3].data)  # EHZ has no partners: the one-trace path
    assert not np.allclose(out[2].data, plain[2].data, atol=1e-3 * np.abs(plain[2].data).max())
    assert all(tr.stats.processing[-1].endswith("components=median)") for tr in out[:3])
    assert "components" not in out[3].stats.processing[-1]  # denoised alone: its line says what was done to it
    assert out[3].stats.processing == plain[3].stats.processing
    shifted = st.copy()
    shifted[1].stats.starttime += 1.0  # not aligned: every trace goes the one-trace path, whole
    for a, b in zip(denoise(shifted, model=den, components="median"), denoise(shifted, model=den)):
        np.testing.assert_array_equal(a.data, b.data)
        assert a.stats.processing == b.stats.processing
    with pytest.raises(ValueError, match=re.escape("Received components='max'")):
        denoise(st, model=den, components="max")
    with pytest.raises(ValueError, match="Expected None for an array"):
        denoise(np.zeros((3, 500), "float32"), model=den, components="median")


def test_the_command_denoises_a_station_file_with_components(base, rng, tmp_path):
    from geokeras.cli import main

    path = tmp_path / "m.keras"
    base.save(path)
    st = _station_stream(rng, channels=("HHE", "HHN", "HHZ"))
    st.write(tmp_path / "in.mseed", format="MSEED", encoding="FLOAT32")
    rc = main(["denoise", str(tmp_path / "in.mseed"), "-o", str(tmp_path / "out"), "--model", str(path),
               "--components", "median", "--quiet", "--precision", "float32"])
    assert rc == 0
    import obspy

    got = obspy.read(str(tmp_path / "out" / "in.mseed"))
    want = denoise(st, model=str(path), components="median", precision="float32")
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.data, b.data)
    rc = main(["denoise", str(tmp_path / "in.mseed"), "-o", str(tmp_path / "sds"), "--layout", "sds",
               "--components", "median", "--model", str(path), "--quiet", "--precision", "float32"])
    assert rc == 0  # into an SDS archive too: one day file per channel, the same samples
    for b in want:
        day = obspy.read(str(tmp_path / "sds" / "1970" / "XX" / "A" / f"{b.stats.channel}.D" /
                             f"{b.id}.D.1970.001"))
        np.testing.assert_array_equal(day[0].data, b.data)


def test_evaluate_detection_on_three_component_records(base, tmp_path, capsys):
    from geokeras.cli import main

    path = tmp_path / "mask.keras"
    base.save(path)
    rc = main(["evaluate", str(path), "--snr-levels", "0", "--n-per-level", "2", "--baselines", "bandpass",
               "--detection", "--stations", "1", "--hours", "0.5", "--components", "median"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "detection on 1 three-component continuous records" in out
    assert sum(line.startswith("| mask.keras 3c-median |") for line in out.splitlines()) == 7  # + against raw
    assert sum(line.startswith("| wiener 3c-median |") for line in out.splitlines()) == 7


def test_a_workers_warm_up_traces_the_component_graph_too(rng, tmp_path):
    from geokeras.denoise.denoiser import _PREDICTORS
    from geokeras.denoise.files import plan_denoise

    base = build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8))  # no graph cached yet

    _station_stream(rng, channels=("HHE", "HHN", "HHZ")).write(tmp_path / "in.mseed", format="MSEED")
    plans = {comp: plan_denoise([str(tmp_path / "in.mseed")], str(tmp_path / "out"), model=base, components=comp,
                                precision="float32") for comp in (None, "median")}
    plans[None].func.warm()
    assert not any(isinstance(key, tuple) and key[0] == "components" for key in _PREDICTORS[base])
    plans["median"].func.warm()
    assert ("components", 3, "median", "float32") in _PREDICTORS[base]
