import keras
import numpy as np
import pytest

from keras_tricks.diagnostics import activation_stats


def _deep_sigmoid_net(initializer, depth=20, width=100):
    """Figure 11-1's sigmoid stack alone (examples/activation_stats.py adds a Flatten and a softmax head)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((width,))])
    for i in range(depth):
        init = keras.initializers.get(initializer)  # each layer its own instance
        model.add(keras.layers.Dense(width, "sigmoid", kernel_initializer=init, name=f"dense_{i}"))
    return model


def _probe(n=128, width=100):
    return np.random.default_rng(0).normal(size=(n, width)).astype("float32")


def test_standard_normal_init_saturates_a_deep_sigmoid_net_and_glorot_does_not():
    # Chapter 11, Figure 11-1: with N(0, 1) weights the sigmoid layers sit on their asymptotes.
    x = _probe()
    normal = activation_stats(_deep_sigmoid_net({"class_name": "RandomNormal", "config": {"stddev": 1.0}}), x)
    glorot = activation_stats(_deep_sigmoid_net("glorot_normal"), x)
    top = [f"dense_{i}" for i in range(15, 20)]
    assert all(normal[name]["saturated"] > 0.3 for name in top), [normal[n]["saturated"] for n in top]
    assert all(stats["saturated"] < 0.01 for stats in glorot.values()), [
        s["saturated"] for s in glorot.values()
    ]
    assert all(stats["activation"] == "sigmoid" and stats["dead"] is None for stats in glorot.values())


def test_statistics_of_known_outputs():
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(3, kernel_initializer="ones", bias_initializer="zeros", name="linear"),
            keras.layers.ReLU(name="relu"),
            keras.layers.Activation("tanh", name="tanh"),
            keras.layers.LeakyReLU(name="leaky"),
        ]
    )
    x = np.array([[2.0, 2.0], [-1.0, -1.0], [0.5, 0.0]], "float32")
    stats = activation_stats(model, x, bins=4)
    outputs = np.array([[4.0] * 3, [-2.0] * 3, [0.5] * 3])
    np.testing.assert_allclose(stats["linear"]["mean"], outputs.mean(), rtol=1e-6)
    np.testing.assert_allclose(stats["linear"]["std"], outputs.std(), rtol=1e-6)
    assert stats["linear"]["activation"] == "linear" and stats["linear"]["saturated"] is None
    assert stats["relu"]["activation"] == "relu"
    assert stats["relu"]["dead"] == pytest.approx(1 / 3) and stats["relu"]["dead_units"] == 0.0
    # tanh(4) = 0.99933 is within 0.01 of 1; tanh(0) and tanh(0.5) are not.
    assert stats["tanh"]["saturated"] == pytest.approx(1 / 3)
    assert stats["leaky"]["dead"] is None and stats["leaky"]["saturated"] is None
    histogram = stats["tanh"]["histogram"]
    np.testing.assert_allclose(histogram["edges"], [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert histogram["counts"].tolist() == [0, 0, 6, 3]  # tanh(0) and tanh(0.5) = 0.46, then tanh(4)


def test_a_unit_dead_on_every_example_is_counted():
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(2, activation="relu", kernel_initializer="ones", name="d")]
    )
    model.get_layer("d").set_weights([np.array([[1.0, -1.0]], "float32"), np.zeros(2, "float32")])
    stats = activation_stats(model, np.array([[1.0], [2.0], [3.0]], "float32"))
    assert stats["d"]["dead"] == 0.5 and stats["d"]["dead_units"] == 0.5
    assert stats["d"]["histogram"]["counts"].sum() == 6


def test_a_functional_model_with_two_inputs():
    a, b = keras.Input((2,), name="a"), keras.Input((3,), name="b")
    hidden = keras.layers.Dense(4, activation="sigmoid", name="hidden")(
        keras.layers.Concatenate(name="cat")([a, b])
    )
    model = keras.Model({"a": a, "b": b}, keras.layers.Dense(1, name="out")(hidden))
    stats = activation_stats(model, {"a": np.ones((5, 2), "float32"), "b": np.zeros((5, 3), "float32")})
    assert list(stats) == ["cat", "hidden", "out"]
    assert 0 < stats["hidden"]["mean"] < 1


def test_a_sequential_model_built_by_fit():
    model = keras.Sequential(
        [keras.layers.Dense(3, activation="relu", name="d"), keras.layers.Dense(1, name="o")]
    )
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    assert list(activation_stats(model, np.ones((4, 2), "float32"))) == ["d", "o"]


def test_layers_come_in_model_order_not_sorted():
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(2, name="z"), keras.layers.Dense(1, name="a")]
    )
    assert list(activation_stats(model, np.ones((3, 2), "float32"))) == ["z", "a"]


@pytest.mark.parametrize(
    "x, bins, error, match",
    [
        (np.zeros((0, 100), "float32"), 10, ValueError, r"x with shapes \[\(0, 100\)\]"),
        ([], 10, ValueError, "x with shapes"),
        (np.zeros((4, 100), "float32"), 0, ValueError, "bins=0"),
        (np.zeros((4, 100), "float32"), 2.5, TypeError, "bins=2.5"),
    ],
)
def test_bad_input(x, bins, error, match):
    with pytest.raises(error, match=match):
        activation_stats(_deep_sigmoid_net("glorot_normal", depth=1), x, bins=bins)


def test_not_a_model_or_an_unbuilt_one():
    with pytest.raises(TypeError, match="model="):
        activation_stats(keras.layers.Dense(2), np.ones((2, 2)))
    with pytest.raises(ValueError, match="known inputs"):
        activation_stats(keras.Sequential([keras.layers.Dense(2)]), np.ones((2, 2)))
