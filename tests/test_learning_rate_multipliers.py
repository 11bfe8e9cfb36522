"""keras_tricks/optimizers/learning_rate_multipliers.py: each listed variable trains at its own rate."""

import keras
import numpy as np
import pytest

from keras_tricks.optimizers import GradientClipping, LearningRateMultipliers
from tests import helpers

OPTIMIZERS = {
    "sgd": lambda lr: keras.optimizers.SGD(lr),
    "momentum": lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
    "nesterov": lambda lr: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
    "adam": lambda lr: keras.optimizers.Adam(lr),
    "adamw": lambda lr: keras.optimizers.AdamW(lr, weight_decay=0.01),
    "rmsprop": lambda lr: keras.optimizers.RMSprop(lr),
}


def _numbers(values):
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in values]


def _two_layer_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="reused"), keras.layers.Dense(1, name="top")]
    )


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_variable_trains_as_with_its_own_learning_rate(name):
    """The wrapped run's layers equal two plain runs: "reused" at lr·0.1, "top" at lr."""
    x, y = _data()
    lr = 0.02

    def train(wrap):
        model = _two_layer_model()  # paths hold the model's name (sequential_<n>): take them from it
        slow = {v.path: 0.1 for v in model.get_layer("reused").trainable_variables}
        model.compile(optimizer=wrap(OPTIMIZERS[name](lr), slow), loss="mse")
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        return model

    wrapped = train(LearningRateMultipliers)
    # Reference: a plain optimizer per layer, via the inner step on each layer's variables alone. The
    # gradients depend on both layers, so compare against one hand-rolled loop with two optimizers.
    reference = _two_layer_model()
    fast_opt, slow_opt = OPTIMIZERS[name](lr), OPTIMIZERS[name](lr * 0.1)
    reused, top = reference.get_layer("reused"), reference.get_layer("top")
    for _ in range(3):
        for start in range(0, len(x), 8):
            grads = _gradients(reference, x[start : start + 8], y[start : start + 8])
            n = len(reused.trainable_variables)
            slow_opt.apply(grads[:n], reused.trainable_variables)
            fast_opt.apply(grads[n:], top.trainable_variables)
    got = _numbers(wrapped.trainable_variables)
    want = _numbers(reference.trainable_variables)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    # the test can tell: without the multiplier "reused" lands elsewhere
    plain = _numbers(train(lambda o, _: o).get_layer("reused").trainable_variables)
    assert np.abs(plain[0] - want[0]).max() > 1e-3


def _gradients(model, x, y):
    backend = keras.backend.backend()
    variables = model.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.mean((model(x) - y) ** 2)
        return tape.gradient(loss, variables)
    if backend == "jax":
        import jax

        def loss(values):
            mapping = list(zip(variables, values, strict=True))
            with keras.StatelessScope(state_mapping=mapping):
                return keras.ops.mean((model(x) - y) ** 2)

        return jax.grad(loss)([v.value for v in variables])
    model.zero_grad()
    loss = keras.ops.mean((model(x) - keras.ops.convert_to_tensor(y)) ** 2)
    loss.backward()
    return [v.value.grad.clone() for v in variables]


def test_a_multiplier_of_one_changes_nothing():
    x, y = _data()
    results = []
    for optimizer in (
        keras.optimizers.Adam(0.01),
        LearningRateMultipliers(keras.optimizers.Adam(0.01), {"reused/kernel": 1.0}),
    ):
        model = _two_layer_model()
        model.compile(optimizer=optimizer, loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        results.append(_numbers(model.trainable_variables))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_composes_with_gradient_clipping_and_round_trips(tmp_path):
    x, y = _data()
    model = _two_layer_model()
    slow = {v.path: 0.5 for v in model.get_layer("reused").trainable_variables}
    inner = GradientClipping(keras.optimizers.SGD(0.01, momentum=0.9), mode="global_norm", threshold=1.0)
    model.compile(optimizer=LearningRateMultipliers(inner, slow), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    loaded = helpers.assert_saved_model_roundtrip(model, x, tmp_path)
    assert loaded.optimizer.multipliers == model.optimizer.multipliers
    assert isinstance(loaded.optimizer.inner_optimizer, GradientClipping)
    for a, b in zip(_numbers(model.optimizer.variables), _numbers(loaded.optimizer.variables), strict=True):
        np.testing.assert_array_equal(a, b)


def test_config_round_trips():
    optimizer = LearningRateMultipliers(keras.optimizers.Adam(0.01), {"a/kernel": 0.1, "b/bias": 2})
    helpers.assert_config_covers_init(optimizer)
    clone = helpers.assert_config_roundtrip(optimizer)
    assert clone.multipliers == {"a/kernel": 0.1, "b/bias": 2.0}
    helpers.assert_serialization_roundtrip(optimizer)


@pytest.mark.parametrize(
    "multipliers, error, message",
    [
        ([0.1], TypeError, "Received: multipliers=[0.1]"),
        ({"a/kernel": 0}, ValueError, "Received: multipliers['a/kernel']=0"),
        ({"a/kernel": -1.0}, ValueError, "Received: multipliers['a/kernel']=-1.0"),
        ({"a/kernel": True}, TypeError, "Received: multipliers['a/kernel']=True"),
        ({3: 0.1}, TypeError, "Received: 3"),
    ],
)
def test_bad_multipliers_are_refused(multipliers, error, message):
    with pytest.raises(error) as info:
        LearningRateMultipliers(keras.optimizers.SGD(0.01), multipliers)
    assert message in str(info.value)


def test_not_an_optimizer_is_refused():
    with pytest.raises(TypeError, match="Received: inner_optimizer='sgd'"):
        LearningRateMultipliers("sgd", {})
