"""Tests of geokeras.denoise: types in/out, headers, gaps, rates, stitching, model handling."""
import hashlib

import keras
import numpy as np
import obspy
import pytest

from geokeras import denoise as dn
from geokeras.layers.normalization import WindowStandardization
from geokeras.models.denoiser import build_denoiser

L = 256


def linear_model(gain=1.0, window_length=L, sampling_rate=100.0):
    """A denoiser returning ``gain * input`` exactly; carries the denoiser metadata."""
    inputs = keras.Input((window_length, 1))
    xn, _ = WindowStandardization(sampling_rate=sampling_rate, window_length=window_length)(inputs)
    out = keras.layers.Add()([keras.layers.Rescaling(gain)(inputs), keras.layers.Rescaling(0.0)(xn)])
    return keras.Model(inputs, out, name=f"linear_{gain:g}")


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return build_denoiser("unet1d", window_length=L, sampling_rate=100.0, filters=(4, 8))


@pytest.fixture(scope="module")
def identity():
    return linear_model(1.0)


def make_trace(n=1000, rate=100.0, channel="HHZ", seed=0, dtype="float32"):
    tr = obspy.Trace(np.random.default_rng(seed).normal(scale=100.0, size=n).astype(dtype))
    tr.stats.update(dict(network="XX", station="STA", location="00", channel=channel, sampling_rate=rate,
                         starttime=obspy.UTCDateTime(2020, 1, 1, 0, 0, 0.01)))
    return tr


def test_stream_in_stream_out_keeps_headers_and_adds_processing(tiny):
    st = obspy.Stream([make_trace(channel=c, seed=i) for i, c in enumerate("ENZ")])
    st[0].stats.channel, st[1].stats.channel, st[2].stats.channel = "HHE", "HHN", "HHZ"
    before = st.copy()
    out = dn.denoise(st, model=tiny)
    assert isinstance(out, obspy.Stream) and out is not st
    assert [tr.id for tr in out] == [tr.id for tr in st]
    for a, b in zip(out, st):
        assert a.stats.starttime == b.stats.starttime
        assert a.stats.npts == b.stats.npts and a.stats.sampling_rate == b.stats.sampling_rate
        assert a.data.dtype == np.float32 and np.all(np.isfinite(a.data))
        line = a.stats.processing[-1]
        assert line.startswith("geokeras 0.1.0: denoise(model=unet1d_denoiser, sha256=")
        assert f"window_length={L}" in line
    for a, b in zip(st, before):  # input untouched
        np.testing.assert_array_equal(a.data, b.data)
        assert "processing" not in a.stats


def test_trace_in_trace_out(tiny):
    tr = make_trace()
    out = dn.denoise(tr, model=tiny)
    assert isinstance(out, obspy.Trace)
    assert (out.id, out.stats.npts, out.stats.starttime) == (tr.id, tr.stats.npts, tr.stats.starttime)


def test_arrays_1d_and_2d_same_shape_rows_independent(tiny):
    x = np.random.default_rng(1).normal(size=(2, 700)).astype("float32")
    one = dn.denoise(x[1], model=tiny)
    assert isinstance(one, np.ndarray) and one.shape == (700,) and one.dtype == np.float32
    x[0] = 0.0
    both = dn.denoise(x, model=tiny, sampling_rate=100.0)
    assert both.shape == (2, 700)
    np.testing.assert_array_equal(both[0], 0.0)  # an all-zero row stays exactly zero, no NaN
    np.testing.assert_allclose(both[1], one, rtol=1e-5, atol=1e-5)


def test_long_record_is_stitched_to_exact_length_and_values(identity):
    x = np.random.default_rng(2).normal(scale=1e4, size=10 * L + 37).astype("float32")
    y = dn.denoise(x, model=identity)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-2)
    half = dn.denoise(x, model=linear_model(0.5), overlap=0.25, batch_size=3)
    np.testing.assert_allclose(half, 0.5 * x, rtol=1e-5, atol=1e-2)


def test_three_components_are_denoised_independently(tiny):
    st = obspy.Stream([make_trace(n=900, channel=c, seed=i) for i, c in enumerate(["HHE", "HHN", "HHZ"])])
    together = dn.denoise(st, model=tiny)
    alone = dn.denoise(st[2], model=tiny)
    np.testing.assert_allclose(together.select(channel="HHZ")[0].data, alone.data, rtol=1e-5, atol=1e-4)


def test_gaps_stay_masked(identity):
    tr = make_trace(n=2000)
    a, b = tr.slice(endtime=tr.stats.starttime + 5), tr.slice(starttime=tr.stats.starttime + 9)
    out = dn.denoise(obspy.Stream([a, b]), model=identity)
    merged = out.copy().merge()
    assert len(merged) == 1
    gap = np.ma.getmaskarray(merged[0].data)
    assert gap.sum() == 2000 - a.stats.npts - b.stats.npts
    assert sum(tr.stats.npts for tr in out.copy().split()) == a.stats.npts + b.stats.npts
    masked = tr.copy()
    masked.data = np.ma.masked_array(masked.data, mask=np.zeros(2000, bool))
    masked.data.mask[500:650] = True
    out_tr = dn.denoise(masked, model=identity)
    assert isinstance(out_tr, obspy.Trace) and out_tr.stats.npts == 2000
    np.testing.assert_array_equal(np.ma.getmaskarray(out_tr.data), masked.data.mask)
    arr = dn.denoise(masked.data, model=identity)
    assert np.ma.isMaskedArray(arr)
    np.testing.assert_array_equal(arr.mask, masked.data.mask)


@pytest.mark.parametrize("rate", [40.0, 250.0])
def test_native_rate_is_restored(identity, rate):
    n = int(20 * rate)
    t = np.arange(n) / rate
    tr = make_trace(n=n, rate=rate)
    tr.data = (1000 * np.sin(2 * np.pi * 1.0 * t)).astype("float32")
    out = dn.denoise(tr, model=identity)
    assert out.stats.sampling_rate == rate and out.stats.npts == n
    assert out.stats.starttime == tr.stats.starttime
    inner = slice(int(rate), n - int(rate))
    assert np.corrcoef(out.data[inner], tr.data[inner])[0, 1] > 0.999


def test_bad_arguments_have_clear_messages(tiny):
    tr = make_trace()
    with pytest.raises(ValueError, match="argument `overlap`.*Received overlap=1"):
        dn.denoise(tr, model=tiny, overlap=1)
    with pytest.raises(ValueError, match="argument `batch_size`.*Received batch_size=0"):
        dn.denoise(tr, model=tiny, batch_size=0)
    with pytest.raises(ValueError, match="Expected None for an obspy Stream or Trace"):
        dn.denoise(tr, model=tiny, sampling_rate=100.0)
    with pytest.raises(ValueError, match="Received an array of shape \\(1, 2, 3\\)"):
        dn.denoise(np.zeros((1, 2, 3)), model=tiny)
    with pytest.raises(TypeError, match="Received data of type list"):
        dn.denoise([1.0, 2.0], model=tiny)
    with pytest.raises(TypeError, match="Received model of type int"):
        dn.denoise(tr, model=3)
    with pytest.raises(ValueError, match="no such file"):
        dn.denoise(tr, model="does-not-exist.keras")
    with pytest.raises(ValueError, match="empty Stream"):
        dn.denoise(obspy.Stream(), model=tiny)


def test_model_from_path_is_cached_and_named_with_its_sha256(tiny, tmp_path):
    path = tmp_path / "tiny.keras"
    tiny.save(path)
    m1, label, digest = dn.resolve_model(str(path))
    m2, _, _ = dn.resolve_model(path)
    assert m1 is m2 and label == "tiny.keras"
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    out = dn.denoise(make_trace(), model=str(path))
    assert f"denoise(model=tiny.keras, sha256={digest[:16]}" in out.stats.processing[-1]
    np.testing.assert_allclose(out.data, dn.denoise(make_trace(), model=tiny).data, rtol=1e-5, atol=1e-4)


def test_predictor_pads_last_batch_and_matches_model(tiny):
    x = np.random.default_rng(3).normal(size=(5, L)).astype("float32")
    pred = dn.make_predictor(tiny, batch_size=4)
    assert dn.make_predictor(tiny, batch_size=4) is pred
    expected = np.asarray(tiny(x[:, :, None], training=False))[:, :, 0]
    np.testing.assert_allclose(pred(x), expected, rtol=1e-5, atol=1e-5)
    assert sorted(pred._graphs) == [1, 4]  # 4 + 1 windows: one full batch, one padded to 1
    with pytest.raises(ValueError, match=f"Expected windows of shape \\(k, {L}\\)"):
        pred(x[:, :10])


def test_default_model_on_a_bundled_noisy_record():
    from geokeras.data import datasets

    tr = datasets.load_noisy()[0]
    out = dn.denoise(tr)
    assert out.stats.npts == tr.stats.npts and np.all(np.isfinite(out.data))
    assert "denoise(model=default, sha256=" in out.stats.processing[-1]
    assert dn.resolve_model(None)[0] is dn.resolve_model(None)[0]  # cached
    assert 0 < np.std(out.data) < np.std(tr.data)


def test_progress_bar_counts_windows(identity, capsys):
    x = np.arange(10 * L, dtype="float32")
    y, report = dn.denoise(x, model=identity, progress=True, return_report=True, batch_size=4)
    assert y.shape == x.shape and report == []
    err = capsys.readouterr().err
    assert "denoise" in err and "19/19" in err  # 10 windows of 256 with a 128 hop: 19 windows


def test_predictor_cache_does_not_keep_models_alive():
    import gc
    import weakref

    model = linear_model(2.0)
    dn.denoise(np.ones(300, "float32"), model=model)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
