"""Tests of geokeras.export: SavedModels that plain TensorFlow loads without geokeras."""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from geokeras.export import export_saved_model
from geokeras.models import build_contractive_autoencoder, build_conv_autoencoder, build_dense_autoencoder, build_dense_vae

MODELS = {
    "dense_tied_masking": (lambda: build_dense_autoencoder(
        6, hidden_units=(4,), tied=True, corruption="masking", corruption_rate=0.3), (6,)),
    "conv1d_skip_odd_length": (lambda: build_conv_autoencoder(
        (37, 1), filters=(2, 3), kernel_size=3, skip_connections=True), (37, 1)),
    "dense_vae": (lambda: build_dense_vae(6, latent_dim=2, encoder_units=(4,), decoder_units=(4,), seed=0), (6,)),
    "contractive": (lambda: build_contractive_autoencoder(6, hidden_units=(3,)), (6,)),
}

TRACE_LENGTHS = (1, 2, 5, 100, 255, 256, 257, 300, 700)  # window 256, hop 128: 300 and 700 are not multiples
COMPONENT_LENGTHS = (1, 250, 1000)  # mask window 600, hop 300: one sample, shorter than a window, not a multiple


@pytest.fixture(scope="module")
def tiny_denoiser():
    import keras

    from geokeras.models.denoiser import build_denoiser

    keras.utils.set_random_seed(0)
    return build_denoiser("unet1d", window_length=256, sampling_rate=100.0, filters=(4, 8))


@pytest.fixture(scope="module")
def tiny_saved_model(tiny_denoiser, tmp_path_factory):
    """The tiny denoiser exported once for the module (tracing ``denoise_trace`` takes seconds)."""
    return export_saved_model(tiny_denoiser, tmp_path_factory.mktemp("tiny") / "sm")


@pytest.fixture(scope="module")
def tiny_mask_denoiser():
    import keras

    from geokeras.models.denoiser import build_stft_mask_denoiser

    keras.utils.set_random_seed(0)
    return build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8), mask_floor=0.3)


@pytest.fixture(scope="module")
def tiny_mask_saved_model(tiny_mask_denoiser, tmp_path_factory):
    """The tiny mask denoiser exported once for the module (with ``denoise_components``)."""
    return export_saved_model(tiny_mask_denoiser, tmp_path_factory.mktemp("mask") / "sm")


def components_of(n, seed=0):
    """A float32 ``(3, n)`` station record: offsets, trends and noise of their own, one event on all three."""
    rng = np.random.default_rng(seed + n)
    t = np.arange(n)
    offsets, slopes = np.array([[3000.0], [-200.0], [10.0]]), np.array([[0.7], [-0.2], [0.0]])
    x = rng.normal(scale=50.0, size=(3, n)) + offsets + slopes * t
    onset = np.exp(-np.arange(n - n // 3) / 40.0) * np.sin(np.arange(n - n // 3))
    x[:, n // 3:] += np.array([[400.0], [250.0], [600.0]]) * onset
    return x.astype(np.float32)


def trace_of(n, seed=0):
    """A float32 trace with an offset, a trend and an onset (what detrend and clip see)."""
    rng = np.random.default_rng(seed + n)
    x = rng.normal(scale=50.0, size=n) + 3000.0 + 0.7 * np.arange(n)
    x[n // 3:] += 400.0 * np.exp(-np.arange(n - n // 3) / 40.0) * np.sin(np.arange(n - n // 3))
    return x.astype(np.float32)


CHILD = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import tensorflow as tf
    root = sys.argv[1]
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            continue
        model = tf.saved_model.load(os.path.join(d, "model"))
        x = np.load(os.path.join(d, "x.npy"))
        expected = np.load(os.path.join(d, "y.npy"))
        y = model.serve(tf.constant(x)).numpy()
        err = float(np.max(np.abs(y - expected)))
        assert err <= 1e-5, (name, err)
        y_other = model.serve(tf.constant(np.concatenate([x, x, x])[:7])).numpy()
        assert y_other.shape == (7,) + x.shape[1:], (name, y_other.shape)
        print(name, "max_abs_err", err)
        traces = os.path.join(d, "traces.npz")
        if os.path.isfile(traces):  # a denoiser: whole traces through denoise_trace
            data = np.load(traces)
            for n in data["lengths"]:
                x, expected = data[f"x{n}"], data[f"y{n}"]
                y = model.denoise_trace(tf.constant(x)).numpy()
                assert y.shape == x.shape and y.dtype == np.float32, (n, y.shape, y.dtype)
                err = float(np.max(np.abs(y - expected))) / max(float(np.max(np.abs(expected))), 1e-30)
                assert err <= 1e-3, (n, err)
                print(name, "n", n, "relative_err", err)
        components = os.path.join(d, "components.npz")
        if os.path.isfile(components):  # a mask denoiser: a station's components through denoise_components
            data = np.load(components)
            for n in data["lengths"]:
                x, expected = data[f"x{n}"], data[f"y{n}"]
                y = model.signatures["denoise_components"](components=tf.constant(x))["output_0"].numpy()
                assert y.shape == x.shape and y.dtype == np.float32, (n, y.shape, y.dtype)
                err = float(np.max(np.abs(y - expected))) / max(float(np.max(np.abs(expected))), 1e-30)
                assert err <= 1e-3, (n, err)
                print(name, "n", n, "components_relative_err", err)
    assert not any(m.startswith("geokeras") for m in sys.modules), "geokeras was imported"
    print("CHILD_OK")
    """
)


def test_saved_models_load_in_plain_tensorflow(tmp_path, rng, tiny_denoiser, tiny_saved_model, tiny_mask_denoiser,
                                               tiny_mask_saved_model):
    """Every model's ``serve``, a denoiser's ``denoise_trace`` on traces of every length kind and a mask
    denoiser's ``denoise_components``, in a process that never imports geokeras."""
    from geokeras.denoise import Denoiser, denoise, denoise_components

    exported = {"denoiser": tiny_saved_model, "mask_denoiser": tiny_mask_saved_model}
    models = dict(MODELS, denoiser=(lambda: tiny_denoiser, (256, 1)),
                  mask_denoiser=(lambda: tiny_mask_denoiser, (600, 1)))
    for name, (factory, shape) in models.items():
        model = factory()
        x = rng.normal(size=(3,) + shape).astype("float32")
        d = tmp_path / name
        d.mkdir()
        if name in exported:  # exported already
            shutil.copytree(exported[name], d / "model")
        else:
            assert export_saved_model(model, d / "model") == str(d / "model")
        np.save(d / "x.npy", x)
        np.save(d / "y.npy", np.asarray(model(x, training=False)))
    arrays = {"lengths": np.array(TRACE_LENGTHS)}
    for n in TRACE_LENGTHS:
        arrays[f"x{n}"] = x = trace_of(n, seed=1)
        arrays[f"y{n}"] = denoise(x, model=Denoiser(tiny_denoiser), precision="float32")  # as the SavedModel
    np.savez(tmp_path / "denoiser" / "traces.npz", **arrays)
    arrays = {"lengths": np.array(COMPONENT_LENGTHS)}
    for n in COMPONENT_LENGTHS:
        arrays[f"x{n}"] = x = components_of(n, seed=1)
        arrays[f"y{n}"] = denoise_components(x, model=tiny_mask_denoiser, precision="float32")
    np.savez(tmp_path / "mask_denoiser" / "components.npz", **arrays)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, env=env,
        cwd=str(tmp_path), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CHILD_OK" in proc.stdout
    assert proc.stdout.count("max_abs_err") == len(models)
    assert proc.stdout.count(" relative_err") == len(TRACE_LENGTHS)
    assert proc.stdout.count("components_relative_err") == len(COMPONENT_LENGTHS)


@pytest.mark.parametrize("factory", [MODELS["dense_vae"][0], MODELS["contractive"][0]])
def test_model_export_method_of_subclassed_models(factory, tmp_path, rng):
    model = factory()
    model.export(str(tmp_path / "m"), verbose=False)
    x = rng.normal(size=(5, 6)).astype("float32")
    reloaded = tf.saved_model.load(str(tmp_path / "m"))
    np.testing.assert_allclose(reloaded.serve(tf.constant(x)).numpy(), np.asarray(model(x)), atol=1e-5)


def test_fixed_batch_size_signature(tmp_path):
    model = build_dense_autoencoder(4, hidden_units=(2,))
    out = export_saved_model(model, tmp_path / "fixed", batch_size=2)
    spec = tf.saved_model.load(out).signatures["serve"].structured_input_signature[1]
    assert list(spec.values())[0].shape.as_list() == [2, 4]


@pytest.mark.parametrize("batch_size", [0, 2.0, True])
def test_invalid_batch_size(tmp_path, batch_size):
    with pytest.raises(ValueError) as err:
        export_saved_model(build_dense_autoencoder(4, hidden_units=(2,)), tmp_path / "m", batch_size=batch_size)
    assert str(err.value) == ("Invalid value for argument `batch_size`. Expected None or a strictly positive "
                              f"integer. Received batch_size={batch_size!r}.")


# --------------------------------------------------------------------------------------------- denoise_trace
def test_denoise_trace_equals_denoise_for_any_length(tiny_denoiser, tiny_saved_model):
    from geokeras.denoise import Denoiser, denoise

    den = Denoiser(tiny_denoiser)
    loaded = tf.saved_model.load(tiny_saved_model)
    assert {"serve", "denoise_trace"} <= set(loaded.signatures)
    for n in TRACE_LENGTHS + (1000,):  # 1000: several windows, the last one aligned to the end
        x = trace_of(n)
        expected = denoise(x, model=den, precision="float32")  # the SavedModel computes in float32
        got = loaded.denoise_trace(tf.constant(x)).numpy()
        assert got.shape == (n,) and got.dtype == np.float32
        peak = max(float(np.max(np.abs(expected))), 1e-30)
        assert np.max(np.abs(got - expected)) <= 1e-3 * peak, n
        if n <= 2:
            assert not np.any(got)  # 1 sample, or 2 on a line: nothing left after detrending
    for scale in (1e-20, 1e30):  # any amplitude, as `denoise` (windows scaled by powers of two in the graph)
        x = (trace_of(1000).astype(np.float64) * scale).astype(np.float32)
        expected = denoise(x, model=den, precision="float32")  # the SavedModel computes in float32
        got = loaded.denoise_trace(tf.constant(x)).numpy()
        assert np.max(np.abs(got - expected)) <= 1e-3 * np.max(np.abs(expected)), scale
    const = loaded.denoise_trace(tf.constant(np.full(500, 7.0, np.float32))).numpy()
    assert not np.any(const)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
        loaded.denoise_trace(tf.constant(np.array([1.0, np.nan, 2.0], np.float32)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 1 sample"):
        loaded.denoise_trace(tf.constant(np.zeros(0, np.float32)))


def test_only_denoisers_get_denoise_trace(tmp_path):
    out = export_saved_model(build_dense_autoencoder(4, hidden_units=(2,)), tmp_path / "plain")
    assert "denoise_trace" not in tf.saved_model.load(out).signatures


# ---------------------------------------------------------------------------------------- denoise_components
def test_denoise_components_equals_denoise_components(tiny_mask_denoiser, tiny_mask_saved_model):
    """The signature gives `geokeras.denoise.denoise_components` (median, float32) for one sample, a record
    shorter than a window and one that is not a multiple of the hop; NaN and empty records are refused."""
    from geokeras.denoise import denoise_components

    loaded = tf.saved_model.load(tiny_mask_saved_model)
    assert {"serve", "denoise_trace", "denoise_components"} <= set(loaded.signatures)
    for n in COMPONENT_LENGTHS:
        x = components_of(n)
        expected = denoise_components(x, model=tiny_mask_denoiser, statistic="median", precision="float32")
        got = loaded.denoise_components(tf.constant(x)).numpy()
        assert got.shape == (3, n) and got.dtype == np.float32
        peak = max(float(np.max(np.abs(expected))), 1e-30)
        assert np.max(np.abs(got - expected)) <= 1e-3 * peak, n
        if n > 1:
            assert np.any(got)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
        loaded.denoise_components(tf.constant(np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, 4.0]], np.float32)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 1 sample"):
        loaded.denoise_components(tf.constant(np.zeros((3, 0), np.float32)))


def test_negating_one_component_negates_only_its_output(tiny_mask_saved_model):
    """Exactly: each window's prefix line, scale, clip bound and the sign-invariant masks see ``-x`` as ``x``."""
    loaded = tf.saved_model.load(tiny_mask_saved_model)
    x = components_of(1000, seed=2)
    y = loaded.denoise_components(tf.constant(x)).numpy()
    for c in range(3):
        flipped = x.copy()
        flipped[c] = -flipped[c]
        y_flipped = loaded.denoise_components(tf.constant(flipped)).numpy()
        expected = y.copy()
        expected[c] = -expected[c]
        np.testing.assert_array_equal(y_flipped, expected, err_msg=f"component {c}")


def test_only_mask_denoisers_get_denoise_components(tiny_saved_model, tiny_mask_denoiser, tmp_path):
    """Another family (the U-Net) exports without the signature, as does ``component_statistic=None``."""
    assert set(tf.saved_model.load(tiny_saved_model).signatures) == {"serve", "serving_default", "denoise_trace"}
    out = export_saved_model(tiny_mask_denoiser, tmp_path / "none", component_statistic=None)
    assert "denoise_components" not in tf.saved_model.load(out).signatures
    with pytest.raises(ValueError) as err:
        export_saved_model(tiny_mask_denoiser, tmp_path / "bad", component_statistic="max")
    assert str(err.value) == ("Invalid value for argument `component_statistic`. Expected one of None, 'median', "
                              "'mean', 'own', 'median-max'. Received component_statistic='max'.")


# ------------------------------------------------------------------------------------------------ components_model
@pytest.fixture(scope="module")
def other_mask_denoiser():
    """`tiny_mask_denoiser`'s architecture with other weights."""
    import keras

    from geokeras.models.denoiser import build_stft_mask_denoiser

    keras.utils.set_random_seed(1)
    return build_stft_mask_denoiser(window_length=600, sign_invariant=True, filters=(4, 8), mask_floor=0.3)


def test_components_model_weights_run_inside_denoise_components(tiny_mask_denoiser, other_mask_denoiser,
                                                                 tiny_mask_saved_model, tmp_path, rng):
    """``denoise_components`` gives `geokeras.denoise.denoise_components` of ``components_model`` (far from that
    of ``model``), ``serve`` and ``denoise_trace`` stay ``model``'s, and the archive saves both networks."""
    from geokeras.denoise import denoise_components

    out = export_saved_model(tiny_mask_denoiser, tmp_path / "sm", components_model=other_mask_denoiser)
    loaded, alone = tf.saved_model.load(out), tf.saved_model.load(tiny_mask_saved_model)
    assert len(loaded.variables) == len(tiny_mask_denoiser.variables) + len(other_mask_denoiser.variables)
    for n in COMPONENT_LENGTHS[1:]:
        x = components_of(n)
        expected = denoise_components(x, model=other_mask_denoiser, precision="float32")
        own = denoise_components(x, model=tiny_mask_denoiser, precision="float32")
        got = loaded.denoise_components(tf.constant(x)).numpy()
        peak = float(np.max(np.abs(expected)))
        assert np.max(np.abs(got - expected)) <= 1e-3 * peak, n
        assert np.max(np.abs(got - own)) > 0.05 * peak, n  # not model's weights
    windows = rng.normal(scale=1e3, size=(2, 600, 1)).astype("float32")
    np.testing.assert_allclose(loaded.serve(tf.constant(windows)).numpy(), alone.serve(tf.constant(windows)).numpy(),
                               rtol=1e-5, atol=1e-5)
    trace = tf.constant(trace_of(1000))
    np.testing.assert_allclose(loaded.denoise_trace(trace).numpy(), alone.denoise_trace(trace).numpy(),
                               rtol=1e-5, atol=1e-3)


def test_a_components_model_that_does_not_fit_is_refused(tiny_mask_denoiser, other_mask_denoiser, tmp_path):
    """Not a one-trace denoiser, not a mask denoiser, another window length, no ``denoise_components`` to run it
    in, or a ``model`` that is no denoiser: a ValueError naming ``components_model``, before anything is written."""
    from geokeras.models.denoiser import build_denoiser, build_stft_mask_denoiser

    dense = build_dense_autoencoder(4, hidden_units=(2,))
    cases = [
        (tiny_mask_denoiser, dense, "median",
         "components_model='dense_autoencoder', which is not a one-trace denoiser"),
        (tiny_mask_denoiser, build_denoiser("unet1d", window_length=600, filters=(2,), name="unet"), "median",
         "components_model='unet', which is not a spectrogram-mask denoiser"),
        (tiny_mask_denoiser, build_stft_mask_denoiser(window_length=512, filters=(4, 8), name="short"), "median",
         "components_model='short', windows of 512 samples at 100 Hz, for model 'stftmask_denoiser', windows of "
         "600 samples at 100 Hz"),
        (tiny_mask_denoiser, build_stft_mask_denoiser(window_length=600, sampling_rate=50.0, filters=(4, 8),
                                                      name="slow"), "median",
         "components_model='slow', windows of 600 samples at 50 Hz, for model 'stftmask_denoiser', windows of "
         "600 samples at 100 Hz"),
        (tiny_mask_denoiser, tiny_mask_denoiser.name, "median", "components_model of type str, which is not a "
                                                                "one-trace denoiser"),
        (dense, tiny_mask_denoiser, "median",
         "components_model='stftmask_denoiser' for model 'dense_autoencoder', which is not a one-trace denoiser"),
        (tiny_mask_denoiser, other_mask_denoiser, None,
         "components_model='stftmask_denoiser' with component_statistic=None (no denoise_components)"),
    ]
    for model, components_model, statistic, received in cases:
        with pytest.raises(ValueError) as err:
            export_saved_model(model, tmp_path / "sm", components_model=components_model,
                               component_statistic=statistic)
        assert str(err.value) == (
            "Invalid value for argument `components_model`. Expected None, or a one-trace spectrogram-mask denoiser "
            "with the sampling rate and window length of `model` (a one-trace denoiser), with a component_statistic. "
            f"Received {received}."), received
    assert not (tmp_path / "sm").exists()
