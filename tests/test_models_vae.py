"""Tests of geokeras.models.VAE and its dense/conv builders."""
import keras
import numpy as np
import pytest

from geokeras.models import VAE, build_conv_vae, build_dense_vae


def _small_vae(**kwargs):
    args = dict(input_dim=8, latent_dim=2, encoder_units=(6,), decoder_units=(6,), seed=0)
    args.update(kwargs)
    return build_dense_vae(**args)


def test_fit_reports_three_metrics_and_losses_are_consistent(rng):
    vae = _small_vae(beta=0.5)
    vae.compile("adam")
    x = rng.normal(size=(32, 8)).astype("float32")
    hist = vae.fit(x, epochs=2, batch_size=16, verbose=0).history
    assert sorted(hist) == ["kl_loss", "loss", "reconstruction_loss"]
    res = vae.evaluate(x, verbose=0, return_dict=True)
    np.testing.assert_allclose(res["loss"], res["reconstruction_loss"] + 0.5 * res["kl_loss"], rtol=1e-5)


def test_kl_and_gaussian_reconstruction_match_numpy(rng):
    vae = _small_vae()
    x = rng.normal(size=(5, 8)).astype("float32")
    mu, log_var = vae.encode(x)
    kl_ref = 0.5 * (mu**2 + np.exp(log_var) - 1 - log_var)
    np.testing.assert_allclose(vae.kl_per_latent(x), kl_ref.mean(axis=0), rtol=1e-5, atol=1e-7)
    x_hat = np.asarray(vae(x))
    np.testing.assert_allclose(x_hat, vae.decode(mu), rtol=1e-6)  # inference decodes z_mean
    rec = float(vae._reconstruction(x, x_hat))
    np.testing.assert_allclose(rec, 0.5 * np.sum((x - x_hat) ** 2, axis=1).mean(), rtol=1e-5)


def test_bernoulli_likelihood_outputs_probabilities_and_trains(rng):
    vae = _small_vae(likelihood="bernoulli")
    x = (rng.random((32, 8)) > 0.5).astype("float32")
    vae.compile("adam", run_eagerly=True)
    vae.fit(x, epochs=1, batch_size=16, verbose=0)
    p = np.asarray(vae(x))
    assert np.all((p > 0) & (p < 1))
    rec = float(vae._reconstruction(x, p))
    ref = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1).mean()
    np.testing.assert_allclose(rec, ref, rtol=1e-4)


def test_sample_from_prior_is_seeded():
    vae = _small_vae()
    a, b = vae.sample(4, seed=3), vae.sample(4, seed=3)
    assert a.shape == (4, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(vae.sample(4), vae.sample(4))  # the layer's generator advances


def test_conv_vae_on_traces_any_length(rng):
    vae = build_conv_vae((101, 1), latent_dim=3, filters=(2, 4), kernel_size=5, seed=1)
    x = rng.normal(size=(8, 101, 1)).astype("float32")
    vae.compile("adam", run_eagerly=True)
    vae.fit(x, epochs=1, batch_size=8, verbose=0)
    assert vae(x).shape == (8, 101, 1)
    assert [a.shape for a in vae.encode(x)] == [(8, 3), (8, 3)]
    assert vae.sample(2, seed=0).shape == (2, 101, 1)
    assert build_conv_vae((9, 11, 2), latent_dim=2, filters=(2,), kernel_size=3).decoder.output_shape == (None, 9, 11, 2)


def test_fit_with_targets_trains_a_denoising_vae(rng):
    vae = _small_vae()
    vae.compile("adam", run_eagerly=True)
    clean = rng.normal(size=(16, 8)).astype("float32")
    noisy = clean + 0.5
    hist = vae.fit(noisy, clean, epochs=1, verbose=0).history
    assert np.isfinite(hist["loss"][0])


def test_fit_learns_the_targets_not_the_inputs(rng):
    """Targets of 3.0 for zero-mean inputs: a model fitted to its inputs would output about 0."""
    vae = _small_vae()
    vae.compile(keras.optimizers.Adam(0.02))
    noisy = rng.normal(size=(64, 8)).astype("float32")
    vae.fit(noisy, np.full_like(noisy, 3.0), epochs=40, batch_size=16, verbose=0)
    assert abs(float(np.mean(vae(noisy))) - 3.0) < 0.5


def test_get_config_from_config_rebuilds():
    vae = _small_vae(beta=2.0, likelihood="bernoulli")
    clone = VAE.from_config(vae.get_config())
    assert (clone.beta, clone.likelihood, clone.latent_dim, clone.seed) == (2.0, "bernoulli", 2, 0)
    assert clone.encoder.output_shape == vae.encoder.output_shape


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_dim": 0}, "Invalid value for argument `latent_dim`. Expected a strictly positive integer. "
                            "Received latent_dim=0."),
        ({"beta": -1.0}, "Invalid value for argument `beta`. Expected a number >= 0.0. Received beta=-1.0."),
        ({"likelihood": "poisson"}, "Invalid value for argument `likelihood`. Expected one of 'gaussian', "
                                    "'bernoulli'. Received likelihood='poisson'."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as err:
        _small_vae(**kwargs)
    assert str(err.value) == message


def test_sample_invalid_n():
    with pytest.raises(ValueError, match=r"Invalid value for argument `n`\. Expected a strictly positive integer\. "
                       r"Received n=0\."):
        _small_vae().sample(0)
