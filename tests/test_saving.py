"""Tests of .keras round trips (safe_mode=True) and geokeras.saving.load_model refusals."""
import json
import zipfile

import keras
import numpy as np
import pytest

from geokeras.layers import TiedDense
from geokeras.models import (
    ContractiveAutoencoder,
    VAE,
    build_contractive_autoencoder,
    build_conv_autoencoder,
    build_conv_vae,
    build_dense_autoencoder,
    build_dense_vae,
)
from geokeras import saving
from geokeras.saving import load_model

FACTORIES = {
    "dense_tied_sparse_masking": (lambda: build_dense_autoencoder(
        6, hidden_units=(4, 2), tied=True, l2=1e-3, sparsity_rho=0.1, sparsity_weight=0.5,
        corruption="masking", corruption_rate=0.2, seed=1), (6,)),
    "dense_gaussian_noise": (lambda: build_dense_autoencoder(
        6, hidden_units=(3,), corruption="gaussian", corruption_rate=0.1, output_activation="sigmoid"), (6,)),
    "conv1d_skip": (lambda: build_conv_autoencoder((21, 2), filters=(2, 3), kernel_size=3,
                                                   skip_connections=True), (21, 2)),
    "conv2d": (lambda: build_conv_autoencoder((5, 7, 1), filters=(2,), kernel_size=3), (5, 7, 1)),
    "dense_vae": (lambda: build_dense_vae(6, latent_dim=2, encoder_units=(4,), decoder_units=(4,), seed=0), (6,)),
    "conv_vae_bernoulli": (lambda: build_conv_vae((13, 1), latent_dim=2, filters=(2,), kernel_size=3,
                                                  likelihood="bernoulli", seed=0), (13, 1)),
    "contractive_stochastic": (lambda: build_contractive_autoencoder(
        6, hidden_units=(3,), penalty="stochastic", n_projections=2, seed=0), (6,)),
    "contractive_closed_form": (lambda: build_contractive_autoencoder(
        6, hidden_units=(3,), penalty="closed_form", weight=0.3), (6,)),
    "contractive_forward": (lambda: build_contractive_autoencoder(
        6, hidden_units=(3,), penalty="forward", n_projections=2, seed=0), (6,)),
}


@pytest.mark.parametrize("key", sorted(FACTORIES))
def test_roundtrip_identical_outputs_and_training_resumes(key, tmp_path, rng):
    factory, shape = FACTORIES[key]
    model = factory()
    x = rng.random((4,) + shape).astype("float32")
    if isinstance(model, VAE):
        model.compile("adam", run_eagerly=True)  # eager: no tracing, keeps the test fast
        model.fit(x, epochs=1, verbose=0)
    else:
        model.compile("adam", "mse", run_eagerly=True)
        model.fit(x, x, epochs=1, verbose=0)
    path = tmp_path / f"{key}.keras"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded) is type(model)
    if isinstance(model, ContractiveAutoencoder):  # compiled again on load (its compile is overridden)
        assert loaded.compiled and loaded.jit_compile is (False if model.penalty == "forward" else model.jit_compile)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    loaded.run_eagerly = True
    if isinstance(model, (VAE, ContractiveAutoencoder)):
        for key in ("beta", "likelihood", "seed", "weight", "penalty", "n_projections"):
            assert loaded.get_config().get(key) == model.get_config().get(key)
        loaded.fit(x, epochs=1, verbose=0) if isinstance(model, VAE) else loaded.fit(x, x, epochs=1, verbose=0)
    else:
        loaded.fit(x, x, epochs=1, verbose=0)


def test_tied_weights_still_shared_after_loading(tmp_path, rng):
    model = build_dense_autoencoder(5, hidden_units=(3,), tied=True)
    path = tmp_path / "tied.keras"
    model.save(path)
    loaded = load_model(path)
    (tied,) = [l for l in loaded.layers if isinstance(l, TiedDense)]
    assert len(loaded.weights) == 3
    new_kernel = rng.normal(size=(5, 3)).astype("float32")
    tied.kernel.assign(new_kernel)  # one assignment changes encoder and decoder
    x = rng.normal(size=(2, 5)).astype("float32")
    h = 1 / (1 + np.exp(-(x @ new_kernel + np.asarray(tied.bias))))
    np.testing.assert_allclose(np.asarray(loaded(x)), h @ new_kernel.T + np.asarray(tied.decoder_bias), rtol=1e-5)
    encoder = keras.Model(loaded.input, loaded.get_layer("code").output)  # documented recovery of the encoder
    np.testing.assert_allclose(np.asarray(encoder(x)), h, rtol=1e-5)


def _lambda_model(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0, name="times_two")(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def test_lambda_layer_is_refused(tmp_path):
    path = _lambda_model(tmp_path)
    with pytest.raises(ValueError) as err:
        load_model(path)
    assert str(err.value) == (
        "Refusing to load: the model contains a Lambda layer ('times_two'), which can run arbitrary code. "
        f"Rebuild it with registered layers instead of Lambda. File: {str(path)!r}."
    )


def test_safe_mode_refuses_lambda_even_without_the_config_inspection(tmp_path, monkeypatch):
    """The backstop: with `inspect_config` bypassed, keras' own ``safe_mode=True`` still refuses the Lambda.

    Loading with ``safe_mode=False`` (or a global ``enable_unsafe_deserialization``) makes this test fail: the
    model would load, and the inspection alone would be hiding it.
    """
    path = _lambda_model(tmp_path)
    seen = []
    monkeypatch.setattr(saving, "inspect_config", lambda config, custom_objects=None: seen.append(config))
    with pytest.raises(ValueError, match=r"^Requested the deserialization of a `Lambda` layer whose `function` is a "
                                         r"Python lambda\. .*passing `safe_mode=False`"):
        load_model(path)
    assert len(seen) == 1  # the bypass was in force: the refusal came from keras, not from the inspection


@keras.saving.register_keras_serializable(package="throwaway")
class _Throwaway(keras.layers.Layer):
    def call(self, inputs):
        return inputs


def test_unregistered_class_is_refused(tmp_path):
    inputs = keras.Input((3,))
    path = tmp_path / "throwaway.keras"
    keras.Model(inputs, _Throwaway(name="odd")(inputs)).save(path)
    objects = keras.saving.get_custom_objects()  # live registry
    saved = objects.pop("throwaway>_Throwaway")
    try:
        with pytest.raises(ValueError) as err:
            load_model(path)
    finally:
        objects["throwaway>_Throwaway"] = saved
    message = str(err.value)
    assert message.startswith("Refusing to load: the model uses the unknown class 'throwaway>_Throwaway' (module ")
    assert "import the package that registers it or pass it in `custom_objects`." in message
    assert load_model(path, custom_objects={"throwaway>_Throwaway": _Throwaway}).name  # explicit opt-in works


def _rewrite_config(src, dst, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(item, data)


def test_crafted_unknown_class_is_refused(tmp_path):
    src = tmp_path / "ok.keras"
    build_dense_autoencoder(4, hidden_units=(2,), tied=True).save(src)
    dst = tmp_path / "crafted.keras"

    def edit(config):
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "TiedDense":
                layer["class_name"] = "EvilDense"
                layer["registered_name"] = "evil>EvilDense"
                layer["module"] = "evil.layers"
        return config

    _rewrite_config(src, dst, edit)
    with pytest.raises(ValueError, match=r"^Refusing to load: the model uses the unknown class 'evil>EvilDense' "
                                         r"\(module 'evil\.layers', at config\.config\.layers\[1\]\)"):
        load_model(dst)


def test_non_keras_files_are_refused(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(ValueError, match=r"Invalid value for argument `path`\. Expected an existing `\.keras` file "
                       r"\(a zip archive written by `model\.save`\)\. Received path="):
        load_model(path)
    with pytest.raises(ValueError, match=r"Received path='.*missing\.keras'\."):
        load_model(tmp_path / "missing.keras")
