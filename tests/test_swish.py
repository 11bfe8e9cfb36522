import keras
import numpy as np
import pytest

from keras_tricks.layers import Swish
from tests import helpers


def test_beta_one_is_keras_silu():
    x = np.linspace(-4, 4, 17, dtype="float32")[None]
    np.testing.assert_allclose(
        helpers.to_numpy(Swish()(x)), helpers.to_numpy(keras.activations.silu(x)), rtol=1e-5, atol=1e-6
    )


def test_per_channel_beta_has_one_weight_per_channel():
    layer = Swish(beta=0.5, per_channel=True)
    x = np.array([[-1.0, 2.0, 3.0]], dtype="float32")
    layer(x)
    assert tuple(layer.beta.shape) == (3,)
    layer.beta.assign(np.array([0.0, 1.0, 10.0], dtype="float32"))
    expected = x * (1 / (1 + np.exp(-np.array([0.0, 1.0, 10.0]) * x)))
    np.testing.assert_allclose(helpers.to_numpy(layer(x)), expected, rtol=1e-5)


def test_per_channel_needs_a_known_last_axis():
    with pytest.raises(ValueError, match="per_channel"):
        Swish(per_channel=True).build((None, None))


def _fit(layer, steps=20):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(keras.layers.Dense(4)(inputs))))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = np.abs(x).sum(axis=1, keepdims=True).astype("float32")
    model.fit(x, y, batch_size=64, epochs=steps, verbose=0)
    return model, x


@pytest.mark.parametrize("per_channel", [False, True])
def test_beta_is_learned(per_channel):
    layer = Swish(per_channel=per_channel)
    _fit(layer)
    assert not np.allclose(helpers.to_numpy(layer.beta), 1.0)


def test_trainable_false_keeps_beta_fixed():
    layer = Swish(beta=1.5, trainable=False)
    _fit(layer)
    assert layer.trainable_weights == []
    np.testing.assert_allclose(helpers.to_numpy(layer.beta), 1.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"beta": "1"}, TypeError, "beta='1'"),
        ({"beta": float("nan")}, ValueError, "beta=nan"),
        ({"beta": True}, TypeError, "beta=True"),
        ({"trainable": 1}, ValueError, "trainable=1"),  # Keras's own check
        ({"per_channel": "yes"}, TypeError, "per_channel='yes'"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        Swish(**kwargs)


@pytest.mark.parametrize("per_channel", [False, True])
def test_round_trips_with_a_trained_beta(per_channel, tmp_path):
    layer = Swish(beta=0.8, per_channel=per_channel, name="swish")
    helpers.assert_config_covers_init(layer)
    helpers.assert_config_roundtrip(layer)
    helpers.assert_serialization_roundtrip(layer)
    model, x = _fit(layer)
    trained = helpers.to_numpy(layer.beta)
    assert not np.allclose(trained, 0.8)
    loaded = helpers.assert_saved_model_roundtrip(model, x, tmp_path, atol=1e-5)
    np.testing.assert_allclose(helpers.to_numpy(loaded.get_layer("swish").beta), trained)
