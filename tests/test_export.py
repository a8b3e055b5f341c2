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
    assert not any(m.startswith("geokeras") for m in sys.modules), "geokeras was imported"
    print("CHILD_OK")
    """
)


def test_saved_models_load_in_plain_tensorflow(tmp_path, rng, tiny_denoiser, tiny_saved_model):
    """Every model's ``serve``, and a denoiser's ``denoise_trace`` on traces of every length kind, in a process
    that never imports geokeras."""
    from geokeras.denoise import Denoiser, denoise

    models = dict(MODELS, denoiser=(lambda: tiny_denoiser, (256, 1)))
    for name, (factory, shape) in models.items():
        model = factory()
        x = rng.normal(size=(3,) + shape).astype("float32")
        d = tmp_path / name
        d.mkdir()
        if name == "denoiser":  # exported already
            shutil.copytree(tiny_saved_model, d / "model")
        else:
            assert export_saved_model(model, d / "model") == str(d / "model")
        np.save(d / "x.npy", x)
        np.save(d / "y.npy", np.asarray(model(x, training=False)))
    arrays = {"lengths": np.array(TRACE_LENGTHS)}
    for n in TRACE_LENGTHS:
        arrays[f"x{n}"] = x = trace_of(n, seed=1)
        arrays[f"y{n}"] = denoise(x, model=Denoiser(tiny_denoiser), precision="float32")  # as the SavedModel
    np.savez(tmp_path / "denoiser" / "traces.npz", **arrays)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, env=env,
        cwd=str(tmp_path), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CHILD_OK" in proc.stdout
    assert proc.stdout.count("max_abs_err") == len(models)
    assert proc.stdout.count("relative_err") == len(TRACE_LENGTHS)


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
