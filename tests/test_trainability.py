"""keras_tricks.callbacks._trainability: changing which layers train in the middle of a fit.
`trained_in_fit` (trainable now, or to be unfrozen by an `Unfreeze`); `rebuild_optimizer` (a copy of
the same class and config, built for the new trainable variables, iteration count and slots carried by
variable key, not aliased); `refresh` (the compiled train, test and predict functions follow); and
`replace_optimizer` (another optimizer through the compile config, state carried, saved with the model).
The reference for each training step is a twin model compiled by Keras in the new state."""

import keras
import numpy as np
import pytest

from keras_tricks.callbacks import Unfreeze, _trainability
from keras_tricks.optimizers import GradientClipping, _chain
from tests import helpers

X = np.linspace(-1.0, 1.0, 24, dtype="float32").reshape(8, 3)
Y = np.linspace(0.5, -0.5, 8, dtype="float32").reshape(8, 1)


def _model(optimizer=None, built=True):
    layers = [keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1, name="out")]
    model = keras.Sequential(([keras.Input((3,))] if built else []) + layers)
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.1, momentum=0.9), loss="mse", metrics=["mae"])
    return model


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable)


def _state(model):
    """`{key: value}` of the model's optimizer's variables, keyed as `_trainability` carries them."""
    keys = _chain.variable_keys(model.optimizer, model)
    return {keys[id(v)]: _numpy(v) for v in model.optimizer.variables}


def _gradients(model):
    """`{layer name: [kernel gradient, bias gradient]}` of the mse on (X, Y), in float64 NumPy."""
    (w1, b1), (w2, b2) = (model.get_layer(name).get_weights() for name in ("hidden", "out"))
    x, y = X.astype("float64"), Y.astype("float64")
    hidden = x @ w1 + b1
    d_prediction = 2.0 * (hidden @ w2 + b2 - y) / y.size
    d_hidden = d_prediction @ w2.T
    return {
        "hidden": [x.T @ d_hidden, d_hidden.sum(axis=0)],
        "out": [hidden.T @ d_prediction, d_prediction.sum(axis=0)],
    }


def _forward(model):
    """The two Dense layers computed in float64 NumPy, and the mse and mae they give on (X, Y)."""
    (w1, b1), (w2, b2) = (model.get_layer(name).get_weights() for name in ("hidden", "out"))
    prediction = (X.astype("float64") @ w1 + b1) @ w2 + b2
    return prediction, [np.mean((prediction - Y) ** 2), np.mean(np.abs(prediction - Y))]


def _assert_weights(model, expected):
    for name, values in expected.items():
        for got, want in zip(model.get_layer(name).get_weights(), values, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


# trained_in_fit


def test_trained_in_fit_is_the_trainable_weights_plus_those_an_unfreeze_will_train():
    model = _model()
    model.add(keras.layers.BatchNormalization(name="norm"))
    unfreeze = Unfreeze(["hidden"], epoch=1)
    unfreeze.set_model(model)
    unfreeze.on_train_begin()  # freezes "hidden" until epoch 1
    assert not model.get_layer("hidden").trainable
    paths = lambda variables: [v.path for v in variables]  # noqa: E731
    norm = model.get_layer("norm")
    expected_now = paths(model.get_layer("out").weights) + paths(norm.trainable_weights)
    assert paths(_trainability.trained_in_fit(model, None)) == expected_now
    assert paths(_trainability.trained_in_fit(model, [keras.callbacks.History()])) == expected_now
    in_fit = paths(_trainability.trained_in_fit(model, [unfreeze]))
    assert in_fit == paths(model.get_layer("hidden").weights) + expected_now  # in model.weights order
    assert not set(paths(norm.non_trainable_weights)) & set(in_fit)  # moving statistics never train


# rebuild_optimizer


def test_a_rebuilt_optimizer_is_a_copy_built_for_the_new_trainable_variables_with_its_state_carried():
    model = _model()
    for _ in range(2):
        model.train_on_batch(X, Y)
    old, before = model.optimizer, _state(model)
    model.get_layer("hidden").trainable = False
    _trainability.rebuild_optimizer(model)
    new = model.optimizer
    assert new is not old and type(new) is type(old)
    assert new.get_config() == old.get_config()
    after = _state(model)
    assert sorted(after) == [
        "SGD/iteration",
        "SGD/learning_rate",
        "out/bias:momentum",
        "out/kernel:momentum",
    ]
    for key, value in after.items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    assert int(_numpy(new.iterations)) == 2


def test_slots_of_variables_trained_again_start_from_zero_and_the_others_are_carried():
    model = _model()
    model.get_layer("hidden").trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    model.train_on_batch(X, Y)
    before = _state(model)
    model.get_layer("hidden").trainable = True
    _trainability.rebuild_optimizer(model)
    after = _state(model)
    np.testing.assert_array_equal(after["out/kernel:momentum"], before["out/kernel:momentum"])
    assert np.any(before["out/kernel:momentum"] != 0)
    np.testing.assert_array_equal(after["hidden/kernel:momentum"], np.zeros((3, 4)))


def test_the_carried_state_is_a_copy_not_the_old_optimizers_buffers():
    model = _model()
    model.train_on_batch(X, Y)
    old = model.optimizer
    old_keys = _chain.variable_keys(old, model)
    old_slot = next(v for v in old.variables if old_keys[id(v)] == "out/kernel:momentum")
    kept = _numpy(old_slot).copy()
    model.get_layer("hidden").trainable = False
    _trainability.rebuild_optimizer(model)
    new_keys = _chain.variable_keys(model.optimizer, model)
    new_slot = next(v for v in model.optimizer.variables if new_keys[id(v)] == "out/kernel:momentum")
    new_slot.assign(np.zeros(new_slot.shape, "float32"))
    np.testing.assert_array_equal(_numpy(old_slot), kept)


def test_an_optimizer_not_built_yet_is_kept():
    unbuilt_model = _model(built=False)
    optimizer = unbuilt_model.optimizer
    _trainability.rebuild_optimizer(unbuilt_model)
    assert unbuilt_model.optimizer is optimizer

    never_stepped = _model()  # built model, optimizer not built until the first step
    optimizer = never_stepped.optimizer
    assert not optimizer.built
    _trainability.rebuild_optimizer(never_stepped)
    assert never_stepped.optimizer is optimizer


def test_a_wrapper_chain_is_rebuilt_whole_with_the_inner_state_carried():
    model = _model(GradientClipping(keras.optimizers.SGD(0.1, momentum=0.9), mode=None))
    model.train_on_batch(X, Y)
    before = _state(model)
    model.get_layer("hidden").trainable = False
    _trainability.rebuild_optimizer(model)
    assert isinstance(model.optimizer, GradientClipping)
    assert isinstance(model.optimizer.inner_optimizer, keras.optimizers.SGD)
    after = _state(model)
    assert "hidden/kernel:momentum" not in after
    for key in ("SGD/iteration", "out/kernel:momentum", "out/bias:momentum"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


# refresh


def test_after_refresh_training_evaluation_and_prediction_follow_the_new_trainability():
    model = _model(keras.optimizers.SGD(0.1))
    model.train_on_batch(X, Y)  # the functions are traced with both layers trainable
    model.predict(X, verbose=0)
    model.evaluate(X, Y, verbose=0)
    hidden = [w.copy() for w in model.get_layer("hidden").get_weights()]
    out = [
        w - 0.1 * g
        for w, g in zip(model.get_layer("out").get_weights(), _gradients(model)["out"], strict=True)
    ]
    model.get_layer("hidden").trainable = False
    _trainability.refresh(model)
    model.train_on_batch(X, Y)
    _assert_weights(model, {"hidden": hidden, "out": out})
    # JAX's test and predict steps take trainable and non-trainable values as separate lists.
    prediction, metrics = _forward(model)
    np.testing.assert_allclose(model.predict(X, verbose=0), prediction, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(X, Y, verbose=0), metrics, rtol=1e-5, atol=1e-6)


def test_after_refresh_a_layer_unfrozen_trains():
    model = _model(keras.optimizers.SGD(0.1))
    model.get_layer("hidden").trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    model.train_on_batch(X, Y)
    gradients = _gradients(model)
    expected = {
        name: [w - 0.1 * g for w, g in zip(model.get_layer(name).get_weights(), gradients[name], strict=True)]
        for name in ("hidden", "out")
    }
    model.get_layer("hidden").trainable = True
    _trainability.refresh(model)
    model.train_on_batch(X, Y)
    _assert_weights(model, expected)


# replace_optimizer


def test_a_replaced_optimizer_continues_the_old_ones_steps_and_is_in_the_compile_config():
    model = _model()
    for _ in range(2):
        model.train_on_batch(X, Y)
    before = _state(model)
    _trainability.replace_optimizer(
        model, GradientClipping(keras.optimizers.SGD(0.1, momentum=0.9), mode=None)
    )
    assert isinstance(model.optimizer, GradientClipping)
    config = model.get_compile_config()  # what model.save writes
    assert config["optimizer"]["registered_name"] == "keras_tricks>GradientClipping"
    assert (config["loss"], config["metrics"]) == ("mse", ["mae"])  # the rest of the compile config kept
    after = _state(model)
    for key in ("SGD/iteration", "hidden/kernel:momentum", "out/bias:momentum"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)

    # GradientClipping(mode=None) clips nothing: the next step is plain SGD's with the carried momentum,
    # m <- 0.9 m - 0.1 g, w <- w + m.
    gradients = _gradients(model)
    expected = {
        name: [
            w + 0.9 * before[f"{name}/{slot}:momentum"] - 0.1 * g
            for w, g, slot in zip(
                model.get_layer(name).get_weights(), gradients[name], ("kernel", "bias"), strict=True
            )
        ]
        for name in ("hidden", "out")
    }
    model.train_on_batch(X, Y)
    _assert_weights(model, expected)
    assert int(_numpy(model.optimizer.iterations)) == 3


# refresh keeps what it compiled


def _optimizer(kind):
    adam = keras.optimizers.Adam(0.01)
    if kind == "clipping":
        return GradientClipping(adam, mode="global_norm", threshold=0.5)
    if kind == "loss_scale":
        return keras.optimizers.LossScaleOptimizer(adam)
    return adam


def _fits_with_unfreeze(kind, gradual, cached, loss_after=None):
    """Four one-`Unfreeze` fits of one model; `cached=False` drops the kept functions before each fit
    (`make_train_function(force=True)` replaces the train function that holds them): the reference.
    With `loss_after`, the model is compiled again with that loss before the last fit."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="a"), keras.layers.Dense(4, name="b")]
        + [keras.layers.Dense(1, name="out")]
    )
    model.compile(optimizer=_optimizer(kind), loss="mse")
    functions = []
    for index in range(4):
        if loss_after is not None and index == 3:
            model.compile(optimizer=_optimizer(kind), loss=loss_after)
        if not cached:
            model.make_train_function(force=True)
        layers = [["a"], ["b"]] if gradual else ["a", "b"]
        callback = Unfreeze(layers, epoch=0, gradual=gradual)
        model.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0, callbacks=[callback])
        functions.append(model.train_function)
    return model, functions


@pytest.mark.parametrize("kind", ["adam", "clipping", "loss_scale"])
@pytest.mark.parametrize("gradual", [False, True])
def test_functions_compiled_for_a_trainability_are_taken_again_with_the_same_training(kind, gradual):
    # Each fit freezes `a` and `b` (their Adam slots dropped) and unfreezes them (fresh slots); a kept
    # optimizer must not bring back the slots it had when it last stepped.
    model, functions = _fits_with_unfreeze(kind, gradual, cached=True)
    reference, reference_functions = _fits_with_unfreeze(kind, gradual, cached=False)
    assert functions[1] is functions[2] is functions[3]  # no new compile after the second fit
    assert len({id(f) for f in reference_functions}) == 4
    assert type(model.optimizer) is type(reference.optimizer)
    helpers.assert_resumed_equals_uninterrupted(model, reference)
    np.testing.assert_array_equal(model.predict(X, verbose=0), reference.predict(X, verbose=0))


def test_a_compile_drops_the_kept_functions():
    model, functions = _fits_with_unfreeze("adam", False, cached=True, loss_after="mae")
    reference, _ = _fits_with_unfreeze("adam", False, cached=False, loss_after="mae")
    assert functions[3] is not functions[2]
    helpers.assert_resumed_equals_uninterrupted(model, reference)


def test_a_kept_function_is_never_taken_for_another_frozen_set_of_the_same_shapes():
    # Freezing `a`, then `b` (same shapes): JAX shares traces between live wrappers of one train step
    # keyed by argument shapes, so a kept function for "`a` frozen" must not serve "`b` frozen".
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(3, name="a"), keras.layers.Dense(3, name="b")]
        + [keras.layers.Dense(1, name="out")]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[Unfreeze(["a"], epoch=5)])
    model.get_layer("a").trainable = True
    before = {name: helpers.to_numpy(model.get_layer(name).weights) for name in ("a", "b")}
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[Unfreeze(["b"], epoch=5)])
    after = {name: helpers.to_numpy(model.get_layer(name).weights) for name in ("a", "b")}
    for old, new in zip(before["b"], after["b"], strict=True):
        np.testing.assert_array_equal(old, new)  # frozen in the second fit
    assert all((old != new).any() for old, new in zip(before["a"], after["a"], strict=True))
