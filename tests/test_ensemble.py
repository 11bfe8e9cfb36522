import keras
import numpy as np
import pytest

import keras_tricks


def _classifier(seed, classes=3):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(classes, activation="softmax")])


def _x():
    return np.random.default_rng(0).normal(size=(10, 4)).astype("float32")


def test_average_of_the_members_probabilities():
    models = [_classifier(seed) for seed in range(3)]
    x = _x()
    members = np.stack([m.predict(x, verbose=0) for m in models])
    averaged = keras_tricks.ensemble_predict(models, x, batch_size=4)
    np.testing.assert_allclose(averaged, members.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(averaged.sum(axis=1), 1.0, rtol=1e-6)
    assert averaged.dtype == np.float32


def test_weights_give_a_weighted_average_and_a_single_model_is_itself():
    models = [_classifier(seed) for seed in range(2)]
    x = _x()
    a, b = (m.predict(x, verbose=0) for m in models)
    np.testing.assert_allclose(
        keras_tricks.ensemble_predict(models, x, weights=[1, 3]), (a + 3 * b) / 4, rtol=1e-6
    )
    np.testing.assert_allclose(keras_tricks.ensemble_predict(models, x, weights=(0, 2.5)), b, rtol=1e-6)
    np.testing.assert_allclose(keras_tricks.ensemble_predict(models[:1], x), a, rtol=1e-6)


def test_models_with_two_outputs_are_averaged_output_by_output():
    def two_heads(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((4,))
        return keras.Model(
            inputs,
            {"p": keras.layers.Dense(2, activation="softmax")(inputs), "r": keras.layers.Dense(1)(inputs)},
        )

    models = [two_heads(1), two_heads(2)]
    x = _x()
    outputs = [m.predict(x, verbose=0) for m in models]
    averaged = keras_tricks.ensemble_predict(models, x)
    for key in ("p", "r"):
        np.testing.assert_allclose(averaged[key], (outputs[0][key] + outputs[1][key]) / 2, rtol=1e-6)


def test_output_shapes_must_match():
    models = [_classifier(0, classes=3), _classifier(1, classes=5)]
    with pytest.raises(ValueError, match=r"same shapes. Received: .*\(10, 3\).*\(10, 5\)"):
        keras_tricks.ensemble_predict(models, _x())


@pytest.mark.parametrize(
    "models, weights, error, message",
    [
        ("one", None, TypeError, "list or tuple of Keras models. Received: models='one'"),
        ([], None, ValueError, r"at least one model. Received: models=\[\]"),
        (["a"], None, TypeError, r"keras.Model. Received: \['a'\]"),
        (2, [1.0], ValueError, r"one weight per model \(2\). Received: weights=\[1.0\] \(1\)"),
        (2, [1.0, -1.0], ValueError, r"Expected weights\[1\] in \[0, inf\). Received: weights\[1\]=-1.0"),
        (2, [0, 0], ValueError, r"not all zero. Received: weights=\[0.0, 0.0\]"),
        (
            2,
            [1.0, float("nan")],
            ValueError,
            r"weights\[1\] to be a finite number. Received: weights\[1\]=nan",
        ),
        (2, [1.0, "2"], TypeError, r"Received: weights\[1\]='2'"),
    ],
)
def test_bad_arguments_are_refused(models, weights, error, message):
    if isinstance(models, int):
        models = [_classifier(seed) for seed in range(models)]
    with pytest.raises(error, match=message):
        keras_tricks.ensemble_predict(models, _x(), weights=weights)


def test_a_single_model_instead_of_a_list_is_refused():
    with pytest.raises(TypeError, match="list or tuple of Keras models"):
        keras_tricks.ensemble_predict(_classifier(0), _x())
