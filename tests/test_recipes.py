"""keras_tricks.recipes: Tables 11-3 and 11-4, and the self-normalization checklist."""

import keras
import numpy as np
import pytest

from keras_tricks.recipes import (
    check_self_normalizing,
    default_dnn,
    self_normalizing_dnn,
    suggested_optimizer,
)


def _dense(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def test_default_dnn_shallow_is_he_relu_without_batch_norm():
    model = default_dnn(3, 20, 4, input_shape=(5, 6), dropout_rate=0.1, weight_decay=1e-4)
    hidden, output = _dense(model)[:-1], _dense(model)[-1]
    assert isinstance(model.layers[0], keras.layers.Flatten) and model.input_shape == (None, 5, 6)
    assert len(hidden) == 3 and all(layer.units == 20 for layer in hidden)
    assert all(isinstance(layer.kernel_initializer, keras.initializers.HeNormal) for layer in hidden)
    assert all(layer.activation.__name__ == "relu" for layer in hidden)
    assert all(isinstance(layer.kernel_regularizer, keras.regularizers.L2) for layer in hidden)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 3
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert output.units == 4 and output.activation.__name__ == "softmax"
    assert model.output_shape == (None, 4) and not model.compiled


def test_default_dnn_deep_uses_batch_norm_and_swish():
    model = default_dnn(10, 8, 2, input_shape=(3,))
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 10
    activations = [layer for layer in model.layers if isinstance(layer, keras.layers.Activation)]
    assert len(activations) == 10 and all(a.activation.__name__ in ("swish", "silu") for a in activations)
    shallow = default_dnn(10, 8, 2, input_shape=(3,), deep=False)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in shallow.layers)


def test_default_dnn_trains_with_the_suggested_optimizer():
    model = default_dnn(2, 16, 3, input_shape=(4,))
    model.compile(
        optimizer=suggested_optimizer("nesterov", learning_rate=0.05), loss="sparse_categorical_crossentropy"
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_self_normalizing_dnn_follows_table_11_4():
    model = self_normalizing_dnn(4, 12, 3, input_shape=(7,), dropout_rate=0.1)
    hidden = _dense(model)[:-1]
    assert all(layer.activation.__name__ == "selu" for layer in hidden)
    assert all(isinstance(layer.kernel_initializer, keras.initializers.LecunNormal) for layer in hidden)
    assert sum(isinstance(layer, keras.layers.AlphaDropout) for layer in model.layers) == 4
    assert check_self_normalizing(model) == []


def test_suggested_optimizers():
    sgd = suggested_optimizer()
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.momentum == 0.9
    adamw = suggested_optimizer("adamw", learning_rate=0.01)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == 1e-5
    assert np.isclose(float(keras.ops.convert_to_numpy(adamw.learning_rate)), 0.01)


def _selu(**kwargs):
    return keras.layers.Dense(8, activation="selu", kernel_initializer="lecun_normal", **kwargs)


def _sequential(*middle):
    return keras.Sequential(
        [keras.Input(shape=(4,)), _selu(name="first"), *middle, keras.layers.Dense(2, activation="softmax")]
    )


def _skip_model():
    inputs = keras.Input(shape=(8,))
    hidden = _selu(name="a")(inputs)
    merged = keras.layers.Add(name="skip")([hidden, inputs])
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(merged))


BROKEN = [
    (
        lambda: _sequential(
            keras.layers.Dense(8, activation="relu", kernel_initializer="lecun_normal", name="h")
        ),
        ["'h'", "activation 'relu'"],
    ),
    (
        lambda: _sequential(
            keras.layers.Dense(8, activation="selu", kernel_initializer="he_normal", name="h")
        ),
        ["'h'", "HeNormal", "LeCun normal"],
    ),
    (lambda: _sequential(keras.layers.BatchNormalization(name="bn")), ["'bn'", "BatchNormalization"]),
    (lambda: _sequential(keras.layers.Dropout(0.2, name="drop")), ["'drop'", "alpha dropout"]),
    (
        lambda: _sequential(_selu(name="h", kernel_regularizer=keras.regularizers.L2(1e-3))),
        ["'h'", "kernel regularizer"],
    ),
    (lambda: _sequential(_selu(name="h", activity_regularizer="l1")), ["'h'", "activity regularizer"]),
    (lambda: _sequential(keras.layers.Activation("relu", name="act")), ["'act'", "activation 'relu'"]),
    (_skip_model, ["'skip'", "skip connection"]),
]


@pytest.mark.parametrize(("build", "expected"), BROKEN)
def test_check_self_normalizing_names_the_broken_condition_and_layer(build, expected):
    problems = check_self_normalizing(build())
    assert len(problems) == 1, problems
    for fragment in expected:
        assert fragment in problems[0]


def test_check_self_normalizing_accepts_linear_then_selu_and_any_output_layer():
    model = _sequential(
        keras.layers.Dense(8, kernel_initializer="lecun_normal"),
        keras.layers.Activation("selu"),
        keras.layers.AlphaDropout(0.1),
    )
    assert check_self_normalizing(model) == []


def test_check_self_normalizing_flags_the_book_mlp():
    model = default_dnn(2, 8, 2, input_shape=(4,))
    assert len(check_self_normalizing(model)) == 4  # two hidden layers × (ReLU, He init)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_hidden": -1}, ValueError, "n_hidden=-1"),
        ({"n_hidden": 2.5}, TypeError, "n_hidden=2.5"),
        ({"n_neurons": 0}, ValueError, "n_neurons=0"),
        ({"n_outputs": 0}, ValueError, "n_outputs=0"),
        ({"dropout_rate": 1.0}, ValueError, "dropout_rate=1.0"),
        ({"dropout_rate": -0.5}, ValueError, "dropout_rate=-0.5"),
    ],
)
@pytest.mark.parametrize("recipe", [default_dnn, self_normalizing_dnn])
def test_recipes_reject_bad_arguments(recipe, kwargs, error, match):
    arguments = {"n_hidden": 2, "n_neurons": 4, "n_outputs": 2, "input_shape": (3,), **kwargs}
    with pytest.raises(error, match=match):
        recipe(**arguments)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="weight_decay=-1"):
        default_dnn(2, 4, 2, input_shape=(3,), weight_decay=-1)
    with pytest.raises(ValueError, match="name='adam'"):
        suggested_optimizer("adam")
    with pytest.raises(TypeError, match="model='dense'"):
        check_self_normalizing("dense")
