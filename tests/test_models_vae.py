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


def test_sample_with_mean_false_draws_from_the_likelihood():
    """mean=True decodes z (the mean of p(x|z)); mean=False adds the likelihood's noise to the same z:
    unit-variance Gaussian noise, or Bernoulli draws (0/1 with probability x_hat)."""
    vae = _small_vae()
    x_hat = vae.sample(4000, seed=5)
    x = vae.sample(4000, seed=5, mean=False)
    np.testing.assert_array_equal(vae.sample(4000, seed=5, mean=False), x)  # seeded
    eps = x - x_hat  # the same z, so the difference is the likelihood's noise
    assert abs(eps.mean()) < 0.01 and abs(eps.std() - 1.0) < 0.01
    assert abs(np.corrcoef(eps[:, 0], x_hat[:, 0])[0, 1]) < 0.05
    bern = _small_vae(likelihood="bernoulli")
    p, b = bern.sample(4000, seed=5), bern.sample(4000, seed=5, mean=False)
    assert set(np.unique(b)) == {0.0, 1.0}
    np.testing.assert_allclose(b.mean(axis=0), p.mean(axis=0), atol=0.03)
    # the draws follow p feature by feature: 1s where p is high, 0s where it is low
    assert b[p > 0.6].mean() > 0.6 and b[p < 0.4].mean() < 0.4
    with pytest.raises(ValueError, match=r"Invalid value for argument `mean`\. Expected True or False\. "
                       r"Received mean='no'\."):
        vae.sample(2, mean="no")


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
    # the 160 steps of 40 epochs over the 64 inputs, in one epoch over 40 copies (Keras' per-epoch overhead once)
    copies = np.tile(noisy, (40, 1))
    vae.fit(copies, np.full_like(copies, 3.0), epochs=1, batch_size=16, verbose=0)
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


def _numpy_elbo_terms(vae, x, eps, likelihood, beta):
    """Reconstruction, KL and total of the VAE objective, in float64 NumPy, from the model's own
    encoder and decoder outputs: z = mu + exp(log_var / 2) * eps, per-sample sums, batch means."""
    mu, log_var = (np.asarray(a, "float64") for a in vae.encoder(x))
    z = mu + np.exp(0.5 * log_var) * eps
    x_hat = np.asarray(vae.decoder(z.astype("float32")), "float64")
    x = x.astype("float64")
    if likelihood == "gaussian":
        rec = 0.5 * np.sum((x - x_hat) ** 2, axis=1)  # -log N(x; x_hat, I) without its constant
    else:
        rec = -np.sum(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat), axis=1)
    kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - 1.0 - log_var, axis=1)  # KL(N(mu, var) || N(0, I)), summed over latents
    return rec.mean(), kl.mean(), rec.mean() + beta * kl.mean()


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_objective_matches_an_independent_numpy_elbo(likelihood, rng, monkeypatch):
    """The reported loss, reconstruction and KL of a train step and of evaluate equal the negative
    ELBO computed in NumPy (a KL averaged over latents instead of summed, a missing 1/2, a mean over
    features instead of a sum, or beta on the wrong term all fail this)."""
    beta, latent_dim = 0.7, 3
    vae = _small_vae(latent_dim=latent_dim, beta=beta, likelihood=likelihood)
    x = rng.normal(size=(6, 8)).astype("float32")
    if likelihood == "bernoulli":
        x = (x > 0).astype("float32")
    # Spread the posterior so that KL terms differ per latent (a fresh encoder sits near N(0, I)).
    vae.encoder.get_layer("z_log_var").bias.assign(np.array([-1.0, 0.5, 1.5], "float32"))
    vae.encoder.get_layer("z_mean").bias.assign(np.array([0.8, -1.2, 0.3], "float32"))
    eps = rng.normal(size=(6, latent_dim)).astype("float32")
    import geokeras.layers.sampling as sampling_module

    monkeypatch.setattr(sampling_module.keras.random, "normal", lambda shape, **kw: keras.ops.convert_to_tensor(eps))
    rec, kl, total = _numpy_elbo_terms(vae, x, eps, likelihood, beta)
    assert kl > 0.5 and rec > 1.0  # non-trivial terms
    vae.compile(keras.optimizers.SGD(0.0), run_eagerly=True)
    for logs in (vae.evaluate(x, batch_size=6, verbose=0, return_dict=True),
                 vae.train_on_batch(x, return_dict=True)):
        np.testing.assert_allclose(logs["reconstruction_loss"], rec, rtol=1e-5)
        np.testing.assert_allclose(logs["kl_loss"], kl, rtol=1e-5)
        np.testing.assert_allclose(logs["loss"], total, rtol=1e-5)


def test_objective_gradient_flows_through_the_reparameterization(rng, monkeypatch):
    """d(loss)/d(z_log_var bias) equals the NumPy derivative of the ELBO through z = mu + sigma eps."""
    import tensorflow as tf

    import geokeras.layers.sampling as sampling_module

    vae = _small_vae(latent_dim=2, encoder_units=(), decoder_units=(), beta=1.0)
    x = rng.normal(size=(5, 8)).astype("float32")
    eps = rng.normal(size=(5, 2)).astype("float32")
    monkeypatch.setattr(sampling_module.keras.random, "normal", lambda shape, **kw: keras.ops.convert_to_tensor(eps))
    with tf.GradientTape() as tape:
        total = vae._compute_losses(x, x, training=True)[0]
    bias = vae.encoder.get_layer("z_log_var").bias
    got = np.asarray(tape.gradient(total, bias))
    # Linear encoder and decoder: x_hat = z @ D + d, so d rec/d z = (x_hat - x) @ D.T per sample.
    mu, log_var = (np.asarray(a, "float64") for a in vae.encoder(x))
    sigma = np.exp(0.5 * log_var)
    dec = vae.decoder.get_layer("reconstruction")
    x_hat = (mu + sigma * eps) @ np.asarray(dec.kernel, "float64") + np.asarray(dec.bias, "float64")
    d_rec_dz = (x_hat - x) @ np.asarray(dec.kernel, "float64").T
    d_dlogvar = d_rec_dz * eps * 0.5 * sigma + 0.5 * (np.exp(log_var) - 1.0)
    np.testing.assert_allclose(got, d_dlogvar.mean(axis=0), rtol=1e-4, atol=1e-6)
