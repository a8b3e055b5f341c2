"""Tests of geokeras.export: SavedModels that plain TensorFlow loads without geokeras."""
import os
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
    assert not any(m.startswith("geokeras") for m in sys.modules), "geokeras was imported"
    print("CHILD_OK")
    """
)


def test_saved_models_load_in_plain_tensorflow(tmp_path, rng):
    for name, (factory, shape) in MODELS.items():
        model = factory()
        x = rng.normal(size=(3,) + shape).astype("float32")
        d = tmp_path / name
        d.mkdir()
        out = export_saved_model(model, d / "model")
        assert out == str(d / "model")
        np.save(d / "x.npy", x)
        np.save(d / "y.npy", np.asarray(model(x, training=False)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, env=env,
        cwd=str(tmp_path), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CHILD_OK" in proc.stdout
    assert proc.stdout.count("max_abs_err") == len(MODELS)


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
