"""Tests of the contractive penalty (exact, closed form, stochastic) and ContractiveAutoencoder."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from geokeras.models import ContractiveAutoencoder, build_contractive_autoencoder
from geokeras.models.contractive import code_and_penalty, jacobian_penalty, random_signs


def _sig(a):
    return 1 / (1 + np.exp(-a))


def _encoder(units=(4,), activation="sigmoid", input_dim=6):
    layers = [keras.Input((input_dim,))] + [keras.layers.Dense(u, activation=activation) for u in units]
    return keras.Sequential(layers)


def _reference_penalty(encoder, x):
    """Mean over the batch of ||J||_F^2 with the Jacobian built by the chain rule in NumPy."""
    total = 0.0
    for xi in x.astype("float64"):
        jac, a = np.eye(len(xi)), xi
        for layer in [l for l in encoder.layers if hasattr(l, "kernel")]:
            w, b = (np.asarray(v, "float64") for v in (layer.kernel, layer.bias))
            pre = a @ w + b
            if layer.activation is keras.activations.sigmoid:
                a = _sig(pre)
                deriv = a * (1 - a)
            else:
                a = np.tanh(pre)
                deriv = 1 - a**2
            jac = (deriv[:, None] * w.T) @ jac
        total += np.sum(jac**2)
    return total / len(x)


@pytest.mark.parametrize("units, activation", [((4,), "sigmoid"), ((5, 3), "sigmoid"), ((4,), "tanh")])
def test_exact_penalty_matches_numpy(units, activation, rng):
    enc = _encoder(units, activation)
    x = rng.normal(size=(7, 6)).astype("float32")
    np.testing.assert_allclose(float(jacobian_penalty(enc, x, "exact")), _reference_penalty(enc, x), rtol=1e-4)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_closed_form_equals_exact(activation, rng):
    enc = _encoder((5,), activation)
    x = rng.normal(size=(9, 6)).astype("float32")
    exact = float(jacobian_penalty(enc, x, "exact"))
    closed = float(jacobian_penalty(enc, x, "closed_form"))
    assert abs(exact - closed) < 1e-5 * max(1.0, exact)
    np.testing.assert_allclose(closed, _reference_penalty(enc, x), rtol=1e-4)


def test_closed_form_gradient_equals_exact_gradient(rng):
    enc = _encoder((3,))
    x = rng.normal(size=(4, 6)).astype("float32")
    grads = []
    for mode in ("exact", "closed_form"):
        with tf.GradientTape() as tape:
            pen = jacobian_penalty(enc, x, mode)
        grads.append([np.asarray(g) for g in tape.gradient(pen, enc.trainable_weights)])
    for g_exact, g_closed in zip(*grads):
        np.testing.assert_allclose(g_exact, g_closed, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode", ["stochastic", "forward"])
def test_stochastic_estimate_is_unbiased(mode, rng):
    enc = _encoder((8,))
    x = rng.normal(size=(32, 6)).astype("float32")
    exact = float(jacobian_penalty(enc, x, "exact"))
    gen = keras.random.SeedGenerator(42)
    draw = tf.function(lambda: jacobian_penalty(enc, x, mode, n_projections=4, seed=gen))
    estimates = np.array([float(draw()) for _ in range(100)])  # 400 projections
    assert abs(estimates.mean() - exact) / exact < 0.02
    assert estimates.std() > 0  # really random


def test_closed_form_rejects_other_encoders(rng):
    x = rng.normal(size=(2, 6)).astype("float32")
    with pytest.raises(ValueError, match=r"Invalid value for argument `mode`\. Expected 'exact', 'stochastic' or "
                       r"'forward' for this encoder: 'closed_form' needs an encoder made of a single Dense layer"):
        jacobian_penalty(_encoder((4, 2)), x, "closed_form")
    with pytest.raises(ValueError, match=r"Received penalty='closed_form' with encoder layers"):
        build_contractive_autoencoder(6, hidden_units=(4,), activation="relu", penalty="closed_form")
    with pytest.raises(ValueError, match=r"Invalid value for argument `mode`\. Expected one of 'exact', "
                       r"'closed_form', 'stochastic', 'forward', 'forward_shared'\. Received mode='fast'\."):
        jacobian_penalty(_encoder(), x, "fast")


@pytest.mark.parametrize("penalty", ["exact", "closed_form", "stochastic", "forward"])
def test_train_step_adds_weighted_penalty_and_logs_it(penalty, rng):
    cae = build_contractive_autoencoder(6, hidden_units=(3,), penalty=penalty, weight=0.5, seed=0)
    cae.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
    x = rng.normal(size=(16, 6)).astype("float32")
    hist = cae.fit(x, x, epochs=1, batch_size=16, verbose=0).history
    assert sorted(hist) == ["contractive_penalty", "loss", "mae", "reconstruction_loss"]
    res = cae.evaluate(x, x, verbose=0, return_dict=True)
    np.testing.assert_allclose(res["loss"], res["reconstruction_loss"] + 0.5 * res["contractive_penalty"], rtol=1e-5)
    if penalty not in ("stochastic", "forward"):
        ref = _reference_penalty(cae.encoder, x)
        np.testing.assert_allclose(res["contractive_penalty"], ref, rtol=1e-4)
        mse = np.mean((np.asarray(cae(x)) - x) ** 2)
        np.testing.assert_allclose(res["reconstruction_loss"], mse, rtol=1e-4)


def test_train_step_gradient_includes_the_weighted_penalty(rng):
    """One SGD step with weight=w differs from the step with weight=0 by exactly -lr * w * d(penalty)/dW."""
    x = rng.normal(size=(8, 4)).astype("float32")
    models = []
    for weight in (0.0, 0.5):
        cae = build_contractive_autoencoder(4, hidden_units=(3,), penalty="closed_form", weight=weight)
        if models:
            cae.set_weights(models[0].get_weights())
        cae.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
        models.append(cae)
    kernel = models[1].encoder.trainable_weights[0]
    with tf.GradientTape() as tape:
        _, pen = code_and_penalty(models[1].encoder, x, "closed_form", training=True)
    expected = -0.1 * 0.5 * np.asarray(tape.gradient(pen, kernel))
    assert np.abs(expected).max() > 1e-6
    for cae in models:
        cae.train_on_batch(x, x)
    got = np.asarray(models[1].encoder.trainable_weights[0]) - np.asarray(models[0].encoder.trainable_weights[0])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weight": -0.1}, "Invalid value for argument `weight`. Expected a number >= 0.0. Received weight=-0.1."),
        ({"penalty": "approx"}, "Invalid value for argument `penalty`. Expected one of 'exact', 'closed_form', "
                                "'stochastic', 'forward', 'forward_shared'. Received penalty='approx'."),
        ({"n_projections": 0}, "Invalid value for argument `n_projections`. Expected a strictly positive integer. "
                               "Received n_projections=0."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as err:
        build_contractive_autoencoder(4, hidden_units=(2,), **kwargs)
    assert str(err.value) == message


def test_config_roundtrip():
    cae = build_contractive_autoencoder(5, hidden_units=(2,), penalty="stochastic", n_projections=3, seed=9)
    clone = ContractiveAutoencoder.from_config(cae.get_config())
    assert (clone.penalty, clone.n_projections, clone.weight, clone.seed) == ("stochastic", 3, 0.1, 9)


def test_exact_and_stochastic_work_for_any_encoder(rng):
    """A conv encoder: exact equals a per-sample full Jacobian; stochastic is close on average."""
    enc = keras.Sequential([
        keras.Input((12, 1)),
        keras.layers.Conv1D(2, 3, strides=2, padding="same", activation="tanh"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="sigmoid"),
    ])
    x = rng.normal(size=(4, 12, 1)).astype("float32")
    reference = []
    for xi in x:
        xi = tf.constant(xi[None])
        with tf.GradientTape() as tape:
            tape.watch(xi)
            h = enc(xi)
        reference.append(float(tf.reduce_sum(tape.jacobian(h, xi) ** 2)))
    exact = float(jacobian_penalty(enc, x, "exact"))
    np.testing.assert_allclose(exact, np.mean(reference), rtol=1e-5)
    for mode in ("stochastic", "forward"):
        estimate = float(jacobian_penalty(enc, x, mode, n_projections=200, seed=0))
        assert abs(estimate - exact) / exact < 0.15, mode


@pytest.mark.parametrize("penalty", ["exact", "closed_form"])
def test_total_loss_matches_an_independent_numpy_reference(penalty, rng):
    """loss = mean squared error + weight * mean_b ||J_b||_F^2, with J = diag(h (1 - h)) W^T
    written out in NumPy from the model's own weights, for evaluate and for a train step (a penalty
    summed instead of averaged over the batch, an unweighted penalty, or a Jacobian of the whole
    autoencoder instead of the encoder all fail this)."""
    weight = 0.3
    cae = build_contractive_autoencoder(5, hidden_units=(4,), penalty=penalty, weight=weight)
    x = rng.normal(size=(7, 5)).astype("float32")
    w_e, b_e, w_d, b_d = (np.asarray(v, "float64") for v in cae.get_weights())
    h = _sig(x @ w_e + b_e)
    x_hat = h @ w_d + b_d
    jac = (h * (1 - h))[:, :, None] * w_e.T[None]  # (batch, hidden, input)
    penalty_ref = np.mean(np.sum(jac**2, axis=(1, 2)))
    mse = np.mean((x_hat - x) ** 2)
    assert weight * penalty_ref > 0.01 * mse  # the penalty matters in the total
    cae.compile(keras.optimizers.SGD(0.0), "mse")
    for logs in (cae.evaluate(x, x, batch_size=7, verbose=0, return_dict=True),
                 cae.train_on_batch(x, x, return_dict=True)):
        np.testing.assert_allclose(logs["contractive_penalty"], penalty_ref, rtol=1e-5)
        np.testing.assert_allclose(logs["reconstruction_loss"], mse, rtol=1e-5)
        np.testing.assert_allclose(logs["loss"], mse + weight * penalty_ref, rtol=1e-5)


@pytest.mark.parametrize("mode", ["stochastic", "forward"])
def test_estimates_equal_the_projection_written_out(mode, rng):
    """With the projection v fixed, the estimate is ||v^T J||^2 (reverse) or ||J v||^2 (forward)."""
    enc = _encoder((3,))
    x = rng.normal(size=(4, 6)).astype("float32")
    w, b = (np.asarray(a, "float64") for a in enc.layers[-1].get_weights())
    h = _sig(x.astype("float64") @ w + b)
    jac = (h * (1 - h))[:, :, None] * w.T[None]  # (batch, hidden, input)
    v = np.asarray(random_signs((4, 3) if mode == "stochastic" else (4, 6), seed=11), "float64")  # code / input
    assert set(np.unique(v)) == {-1.0, 1.0}
    projected = np.einsum("bh,bhi->bi", v, jac) if mode == "stochastic" else np.einsum("bhi,bi->bh", jac, v)
    got = float(jacobian_penalty(enc, x, mode, seed=11))
    np.testing.assert_allclose(got, np.mean(np.sum(projected**2, axis=1)), rtol=1e-5)


def test_forward_estimate_gradient_reaches_the_weights(rng):
    """Backward over forward: with v fixed, d||J v||^2/dW equals the gradient of the explicit
    mean_b sum_j (s'_bj (v_b W)_j)^2, so training sees the penalty."""
    enc = _encoder((3,))
    x = tf.constant(rng.normal(size=(4, 6)).astype("float32"))
    kernel, bias = enc.layers[-1].kernel, enc.layers[-1].bias
    v = random_signs((4, 6), seed=5)
    with tf.GradientTape() as tape:
        pen = jacobian_penalty(enc, x, "forward", seed=5)
    got = tape.gradient(pen, [kernel, bias])
    with tf.GradientTape() as tape:
        h = tf.sigmoid(x @ kernel + bias)
        explicit = tf.reduce_mean(tf.reduce_sum((h * (1 - h) * (v @ kernel)) ** 2, axis=1))
    want = tape.gradient(explicit, [kernel, bias])
    np.testing.assert_allclose(float(pen), float(explicit), rtol=1e-5)
    for g, w in zip(got, want):
        assert np.abs(np.asarray(w)).max() > 1e-6
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-7)


def test_forward_penalty_leaves_xla_off_by_default_and_warns_when_forced():
    cae = build_contractive_autoencoder(4, hidden_units=(2,), penalty="forward")
    cae.compile("adam", "mse")
    assert cae.jit_compile is False
    with pytest.warns(UserWarning, match=r"penalty='forward' with jit_compile=True"):
        cae.compile("adam", "mse", jit_compile=True)
    assert cae.jit_compile is True  # an explicit choice is respected


@pytest.mark.parametrize("activations", [("sigmoid",), ("tanh", "relu"), ("sigmoid", "linear")])
def test_forward_dense_chain_path_equals_the_forward_accumulator(activations, rng, monkeypatch):
    """A chain of plain Dense layers gets its Jacobian-vector product from `_dense_stack_jvp` (one matrix product
    per layer for the input and the tangent); the value and the weights' gradients are those of
    ``tf.autodiff.ForwardAccumulator`` on the same projection."""
    from geokeras.models import contractive

    inputs = keras.Input((6,))
    h = inputs
    for k, act in enumerate(activations):
        h = keras.layers.Dense(5 - k, activation=act, bias_initializer="random_normal")(h)
    functional = keras.Model(inputs, h)
    sequential = _encoder((4, 3), "tanh")
    x = tf.constant(rng.normal(size=(4, 6)).astype("float32"))

    def penalty_and_grads(enc):
        with tf.GradientTape() as tape:
            pen = jacobian_penalty(enc, x, "forward", n_projections=2, seed=7)
        grads = tape.gradient(pen, enc.trainable_weights)  # None: a bias the penalty does not depend on
        return [float(pen)] + [np.zeros(w.shape) if g is None else np.asarray(g)
                               for g, w in zip(grads, enc.trainable_weights)]

    for enc in (functional, sequential):
        assert contractive._plain_dense_stack(enc) is not None
        fast = penalty_and_grads(enc)
        monkeypatch.setattr(contractive, "_plain_dense_stack", lambda e: None)  # the generic path
        slow = penalty_and_grads(enc)
        monkeypatch.undo()
        for a, b in zip(fast, slow):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_forward_generic_path_for_other_encoders():
    from geokeras.models import contractive

    inputs = keras.Input((6,))
    branch = keras.layers.Dense(3, activation="sigmoid")(inputs)
    two_outputs = keras.Model(inputs, [branch, keras.layers.Dense(2)(branch)])
    dropout = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3), keras.layers.Dropout(0.1)])
    softplus = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softplus")])
    for enc in (two_outputs, dropout, softplus, keras.layers.Dense(3)):
        assert contractive._plain_dense_stack(enc) is None


@pytest.mark.parametrize("units", [(8,), (5, 3)])
def test_forward_shared_is_the_forward_estimate_of_one_projection_for_the_whole_batch(units, rng):
    """With the projection fixed, ``"forward_shared"`` is mean_b ||J_b v||^2 with ONE v of shape (1, input)
    (the Jacobians from the NumPy chain rule), on the Dense-stack path and on the ForwardAccumulator path
    (a non-Dense layer in the encoder), and it is unbiased over fresh draws."""
    enc = _encoder(units)
    x = rng.normal(size=(6, 6)).astype("float32")
    v = np.asarray(random_signs((1, 6), seed=3), "float64")[0]
    want = 0.0
    for xi in x.astype("float64"):
        jac, a = np.eye(6), xi
        for layer in [l for l in enc.layers if hasattr(l, "kernel")]:
            w, b = (np.asarray(t, "float64") for t in (layer.kernel, layer.bias))
            a = _sig(a @ w + b)
            jac = ((a * (1 - a))[:, None] * w.T) @ jac
        want += np.sum((jac @ v) ** 2) / len(x)
    np.testing.assert_allclose(float(jacobian_penalty(enc, x, "forward_shared", seed=3)), want, rtol=1e-5)
    wrapped = keras.Sequential([keras.Input((6,)), keras.layers.Activation("linear"), *enc.layers])
    np.testing.assert_allclose(float(jacobian_penalty(wrapped, x, "forward_shared", seed=3)), want, rtol=1e-5)
    exact = float(jacobian_penalty(enc, x, "exact"))
    gen = keras.random.SeedGenerator(7)
    draw = tf.function(lambda: jacobian_penalty(enc, x, "forward_shared", n_projections=8, seed=gen))
    estimates = np.array([float(draw()) for _ in range(100)])  # 800 projections
    assert abs(estimates.mean() - exact) / exact < 0.05 and estimates.std() > 0


def test_forward_shared_trains_and_round_trips(rng, tmp_path):
    cae = build_contractive_autoencoder(6, hidden_units=(3,), penalty="forward_shared", weight=0.5, seed=1)
    cae.compile("adam", "mse")
    x = rng.random((16, 6)).astype("float32")
    history = cae.fit(x, x, epochs=2, batch_size=8, verbose=0).history
    assert np.all(np.isfinite(history["contractive_penalty"])) and history["contractive_penalty"][0] > 0
    cae.save(tmp_path / "cae.keras")
    again = keras.saving.load_model(tmp_path / "cae.keras", safe_mode=True)
    assert again.penalty == "forward_shared"


def test_random_signs_are_independent_fair_bits_for_any_shape():
    """Each of the 16 signs drawn from one 16-bit integer is a fair, independent coin: per position the mean is
    ~0 (a byte or bit never drawn would give +1 always), neighbours are uncorrelated; odd sizes, dynamic shapes,
    bfloat16 and int seeds (reproducible) work."""
    v = np.asarray(random_signs((4096, 16), seed=3))
    assert set(np.unique(v)) == {-1.0, 1.0}
    assert np.abs(v.mean(axis=0)).max() < 0.06  # 16 positions, std 1/64 each
    corr = np.corrcoef(v.T)[np.triu_indices(16, 1)]
    assert np.abs(corr).max() < 0.07
    assert np.abs(np.mean(v[1:] * v[:-1])) < 0.02  # consecutive integers
    np.testing.assert_array_equal(v, np.asarray(random_signs((4096, 16), seed=3)))
    assert not np.array_equal(v, np.asarray(random_signs((4096, 16), seed=4)))
    odd = np.asarray(random_signs((3, 7, 5), dtype="bfloat16", seed=1)).astype("float32")
    assert odd.shape == (3, 7, 5) and set(np.unique(odd)) == {-1.0, 1.0}
    dynamic = tf.function(lambda x: random_signs(tf.shape(x), seed=2), input_signature=[tf.TensorSpec((None, 7))])
    assert tuple(dynamic(tf.zeros((3, 7))).shape) == (3, 7)


@pytest.mark.parametrize("activations", [("sigmoid",), ("tanh", "relu"), ("sigmoid", "linear")])
def test_stochastic_dense_chain_path_equals_the_gradient_tape(activations, rng, monkeypatch):
    """A chain of plain Dense layers gets its vector-Jacobian products from `_dense_stack_vjp_estimate` (the
    reverse pass written out); the value and the weights' gradients are those of the nested
    ``tf.GradientTape`` on the same projections."""
    from geokeras.models import contractive

    inputs = keras.Input((6,))
    h = inputs
    for k, act in enumerate(activations):
        h = keras.layers.Dense(5 - k, activation=act, bias_initializer="random_normal")(h)
    x = tf.constant(rng.normal(size=(4, 6)).astype("float32"))

    def penalty_and_grads(enc):
        with tf.GradientTape() as tape:
            pen = jacobian_penalty(enc, x, "stochastic", n_projections=2, seed=7)
        grads = tape.gradient(pen, enc.trainable_weights)
        return [float(pen)] + [np.zeros(w.shape) if g is None else np.asarray(g)
                               for g, w in zip(grads, enc.trainable_weights)]

    for enc in (keras.Model(inputs, h), _encoder((4, 3), "tanh")):
        assert contractive._plain_dense_stack(enc) is not None
        fast = penalty_and_grads(enc)
        monkeypatch.setattr(contractive, "_plain_dense_stack", lambda e: None)  # the nested-tape path
        slow = penalty_and_grads(enc)
        monkeypatch.undo()
        assert np.abs(fast[1]).max() > 1e-6
        for a, b in zip(fast, slow):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", ["stochastic", "forward"])
def test_estimator_gradients_average_to_the_exact_gradient(mode, rng):
    """The estimators' gradients with respect to the weights are unbiased: averaged over 1600 projections they
    match the exact penalty's gradient (per-sample Jacobian, ``batch_jacobian``) within 5 % (the noise left is
    1-3 %). A gradient that held the activation's derivative constant (no ``ds'/dW`` term) is 25-60 % off. The
    batch is repeated 200 times (one projection per row: 200 per sample and call, an unchanged exact gradient)."""
    enc = _encoder((4, 3), "sigmoid")
    x = tf.constant(rng.normal(size=(8, 6)).astype("float32"))

    def flat(grads):  # None: a weight the penalty does not reach
        return np.concatenate([np.zeros(w.shape).ravel() if g is None else np.ravel(g)
                               for g, w in zip(grads, enc.trainable_weights)])

    with tf.GradientTape() as tape:
        exact = jacobian_penalty(enc, x, "exact")
    want = flat(tape.gradient(exact, enc.trainable_weights))
    gen = keras.random.SeedGenerator(11)

    @tf.function
    def draw():
        with tf.GradientTape() as tape:
            pen = jacobian_penalty(enc, tf.tile(x, (200, 1)), mode, seed=gen)
        return tape.gradient(pen, enc.trainable_weights)

    got = np.mean([flat(draw()) for _ in range(8)], axis=0)
    assert np.linalg.norm(got - want) < 0.05 * np.linalg.norm(want)
