import keras
import numpy as np
import pytest

from keras_tricks.layers import RReLU
from tests import helpers


def test_inference_uses_the_mean_slope_like_leaky_relu():
    x = np.linspace(-3, 3, 13, dtype="float32")[None]
    expected = keras.layers.LeakyReLU(negative_slope=0.25)(x)
    np.testing.assert_allclose(
        helpers.to_numpy(RReLU(lower=0.2, upper=0.3)(x)), helpers.to_numpy(expected), rtol=1e-6
    )


def test_training_slopes_are_uniform_in_range_and_per_element():
    layer = RReLU(lower=0.1, upper=0.4, seed=3)
    x = -np.ones((200, 50), dtype="float32")
    slopes = -helpers.to_numpy(layer(x, training=True))
    assert slopes.min() >= 0.1 and slopes.max() <= 0.4
    assert abs(slopes.mean() - 0.25) < 0.01
    assert abs(slopes.std() - 0.3 / np.sqrt(12)) < 0.01  # the std of U(0.1, 0.4)
    assert len(np.unique(slopes)) > 9000  # one slope per element
    positive = np.abs(x)
    np.testing.assert_array_equal(helpers.to_numpy(layer(positive, training=True)), positive)


def test_each_training_call_draws_new_slopes():
    layer = RReLU(seed=0)
    x = -np.ones((4, 8), dtype="float32")
    assert not np.allclose(
        helpers.to_numpy(layer(x, training=True)), helpers.to_numpy(layer(x, training=True))
    )


def test_slopes_change_between_compiled_train_steps():
    # On JAX the train step is stateless: the seed state must flow out of it, or every step
    # would reuse the same slopes.
    layer = RReLU(lower=0.0, upper=1.0, seed=7)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, layer(keras.layers.Dense(6)(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    state = layer.seed_generator.state
    before = helpers.to_numpy(state).copy()
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    model.fit(x, x, batch_size=8, epochs=1, verbose=0)
    after = helpers.to_numpy(layer.seed_generator.state)
    assert not np.array_equal(before, after)


def test_gradient_flows_with_the_drawn_slope():
    layer = RReLU(lower=0.5, upper=0.5)
    x = np.array([[-2.0, 3.0]], dtype="float32")
    np.testing.assert_allclose(helpers.to_numpy(layer(x, training=True)), [[-1.0, 3.0]])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lower": 0.4, "upper": 0.2}, ValueError, "lower=0.4, upper=0.2"),
        ({"lower": -0.1}, ValueError, "lower=-0.1"),
        ({"lower": "0.1"}, TypeError, "lower='0.1'"),
        ({"upper": None}, TypeError, "upper=None"),
        ({"lower": True}, TypeError, "lower=True"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        RReLU(**kwargs)


def test_round_trips(tmp_path):
    layer = RReLU(lower=0.05, upper=0.2, seed=11, name="rrelu")
    helpers.assert_config_covers_init(layer)
    helpers.assert_config_roundtrip(layer)
    helpers.assert_serialization_roundtrip(layer)
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    helpers.assert_saved_model_roundtrip(helpers.wrap_in_model(layer, (4,)), x, tmp_path)
