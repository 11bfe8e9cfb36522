import keras
import numpy as np
import pytest

from keras_tricks.callbacks import Unfreeze
from keras_tricks.optimizers import LearningRateMultipliers
from tests import helpers


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def _model(optimizer=None, batch_norm=False):
    keras.utils.set_random_seed(1)
    layers = [keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="reused_1")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization(name="reused_bn"))
    layers += [keras.layers.Dense(8, activation="relu", name="reused_2"), keras.layers.Dense(1, name="top")]
    model = keras.Sequential(layers)
    model.compile(optimizer=optimizer or keras.optimizers.Adam(0.01), loss="mse")
    return model


class _Recorder(keras.callbacks.Callback):
    """Records, after `Unfreeze` ran, each epoch's trainability and the state the tests compare."""

    def __init__(self, layer_names):
        super().__init__()
        self.layer_names = layer_names
        self.trainable, self.begin, self.end = [], [], []

    def _snapshot(self):
        return {
            "weights": {n: helpers.to_numpy(self.model.get_layer(n).weights) for n in self.layer_names},
            "optimizer": {
                v.path: keras.ops.convert_to_numpy(v).copy() for v in self.model.optimizer.variables
            },
        }

    def on_epoch_begin(self, epoch, logs=None):
        self.trainable.append({n: self.model.get_layer(n).trainable for n in self.layer_names})
        self.begin.append(self._snapshot())

    def on_epoch_end(self, epoch, logs=None):
        self.end.append(self._snapshot())


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"layers": ["a"], "epoch": -1}, ValueError),
        ({"layers": ["a"], "epoch": 1.5}, TypeError),
        ({"layers": ["a"], "epoch": True}, TypeError),
        ({"layers": ["a"], "epoch": 1, "lr_multiplier": 0}, ValueError),
        ({"layers": ["a"], "epoch": 1, "lr_multiplier": -0.1}, ValueError),
        ({"layers": ["a"], "epoch": 1, "lr_multiplier": "0.1"}, TypeError),
        ({"layers": "a", "epoch": 1}, TypeError),
        ({"layers": [], "epoch": 1}, ValueError),
        ({"layers": [["a"], []], "epoch": 1, "gradual": True}, ValueError),
        ({"layers": [3], "epoch": 1}, TypeError),
        ({"layers": [["a"], ["b"]], "epoch": 1}, ValueError),
        ({"layers": ["a"], "epoch": 1, "gradual": "yes"}, TypeError),
        ({"layers": ["a"], "epoch": 1, "group_lr_multipliers": 0}, ValueError),
        ({"layers": ["a"], "epoch": 1, "group_lr_multipliers": [0.1, 0.2]}, ValueError),
        ({"layers": [["a"], ["b"]], "epoch": 1, "gradual": True, "group_lr_multipliers": [0.1]}, ValueError),
        ({"layers": ["a"], "epoch": 1, "group_lr_multipliers": "0.1"}, TypeError),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, error):
    name = next(k for k in ("epoch", "lr_multiplier", "gradual", "layers") if k in str(kwargs))
    with pytest.raises(error) as info:
        Unfreeze(**kwargs)
    assert any(f"{k}=" in str(info.value) for k in kwargs), (name, str(info.value))


def test_unknown_layer_name_lists_the_real_ones():
    model = _model()
    x, y = _data()
    with pytest.raises(ValueError, match=r"'nope'.*reused_1.*reused_2.*top"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[Unfreeze(["nope"], epoch=1)])


def test_a_layer_of_another_model_is_rejected():
    other = keras.layers.Dense(3, name="elsewhere")
    with pytest.raises(ValueError, match="elsewhere"):
        Unfreeze([other], epoch=1).set_model(_model())


def test_frozen_until_the_epoch_then_trained_with_the_optimizer_state_kept():
    model = _model(batch_norm=True)
    x, y = _data()
    names = ["reused_1", "reused_bn", "reused_2", "top"]
    recorder = _Recorder(names)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[Unfreeze(["reused_1", "reused_bn", "reused_2"], epoch=2, lr_multiplier=0.5), recorder],
    )
    frozen = ["reused_1", "reused_bn", "reused_2"]
    assert [t["reused_1"] for t in recorder.trainable] == [False, False, True, True]
    assert all(t["top"] for t in recorder.trainable)
    for epoch in (0, 1):  # bit-identical weights, BN moving statistics included (inference mode)
        for name in frozen:
            for before, after in zip(
                recorder.begin[epoch]["weights"][name], recorder.end[epoch]["weights"][name], strict=True
            ):
                np.testing.assert_array_equal(before, after)
        assert not np.array_equal(
            recorder.begin[epoch]["weights"]["top"][0], recorder.end[epoch]["weights"]["top"][0]
        )
    for epoch in (2, 3):  # trained once unfrozen, BN statistics updated
        for name in frozen:
            assert not np.array_equal(
                recorder.begin[epoch]["weights"][name][0], recorder.end[epoch]["weights"][name][0]
            )
    moving_mean = recorder.begin[2]["weights"]["reused_bn"][2]
    assert not np.array_equal(moving_mean, recorder.end[2]["weights"]["reused_bn"][2])
    # The always-trainable layer's slots and the iteration count survive the unfreeze unchanged.
    before, after = recorder.end[1]["optimizer"], recorder.begin[2]["optimizer"]
    kept = [path for path in before if "top" in path or path.endswith("iteration")]
    assert len(kept) == 5  # iteration + top kernel/bias × momentum/velocity
    for path in kept:
        np.testing.assert_array_equal(before[path], after[path])
    assert int(after[next(p for p in after if p.endswith("iteration"))]) == 2 * 4
    # Newly unfrozen layers get fresh slots, and the learning rate was multiplied at the unfreeze.
    fresh = [path for path in after if "reused_1" in path]
    assert fresh and all(not after[path].any() for path in fresh)
    lr = next(p for p in after if p.endswith("learning_rate"))
    np.testing.assert_allclose(before[lr], 0.01)
    np.testing.assert_allclose(after[lr], 0.005)
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 0.005)


def test_one_fit_equals_the_books_two_compiles_with_plain_sgd():
    # Plain SGD has no slots, so the book's recompile loses nothing and both ways must agree.
    x, y = _data()
    book = _model(keras.optimizers.SGD(0.05))
    for name in ("reused_1", "reused_2"):
        book.get_layer(name).trainable = False
    book.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    book.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for name in ("reused_1", "reused_2"):
        book.get_layer(name).trainable = True
    book.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    book.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)

    ours = _model(keras.optimizers.SGD(0.05))
    ours.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[Unfreeze(["reused_1", "reused_2"], epoch=2, lr_multiplier=0.2)],
    )
    for a, b in zip(helpers.to_numpy(book.weights), helpers.to_numpy(ours.weights), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_unfrozen_groups_train_at_their_own_learning_rate(momentum):
    """One fit with gradual unfreezing and per-group rates equals the phases compiled by hand."""
    x, y = _data()
    rates = {"reused_1": 0.25, "reused_2": 0.5}

    def run_by_hand():
        model = _model(keras.optimizers.SGD(0.05, momentum=momentum))
        weights = None
        for epoch, frozen in enumerate([("reused_1", "reused_2"), ("reused_1",), ()]):
            for name in ("reused_1", "reused_2"):
                model.get_layer(name).trainable = name not in frozen
            multipliers = {
                v.path: rates[name]
                for name in rates
                if name not in frozen
                for v in model.get_layer(name).weights
            }
            inner = keras.optimizers.SGD(0.05, momentum=momentum, name="sgd")  # a fixed name: paths match
            optimizer = LearningRateMultipliers(inner, multipliers)
            model.compile(optimizer=optimizer, loss="mse")
            optimizer.build(model.trainable_variables)
            if weights is not None:  # carry the always-trainable top's velocity over, as Unfreeze does
                for variable in optimizer.variables:
                    if variable.path in weights and tuple(weights[variable.path].shape) == tuple(
                        variable.shape
                    ):
                        variable.assign(weights[variable.path])
            model.fit(x, y, batch_size=8, epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=0)
            weights = {v.path: keras.ops.convert_to_numpy(v) for v in model.optimizer.variables}
        return model

    ours = _model(keras.optimizers.SGD(0.05, momentum=momentum))
    unfreeze = Unfreeze(["reused_1", "reused_2"], epoch=1, gradual=True, group_lr_multipliers=[0.25, 0.5])
    ours.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[unfreeze])
    assert isinstance(ours.optimizer, LearningRateMultipliers)
    assert sorted(set(ours.optimizer.multipliers.values())) == [0.25, 0.5]
    book = run_by_hand()
    for a, b in zip(helpers.to_numpy(book.weights), helpers.to_numpy(ours.weights), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the test can tell: the same fit without the per-group rates ends elsewhere
    plain = _model(keras.optimizers.SGD(0.05, momentum=momentum))
    plain.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[Unfreeze(["reused_1", "reused_2"], epoch=1, gradual=True)],
    )
    assert np.abs(helpers.to_numpy(plain.weights)[0] - helpers.to_numpy(ours.weights)[0]).max() > 1e-4


def test_group_learning_rates_save_load_and_a_second_fit_does_not_wrap_twice(tmp_path):
    model = _model(keras.optimizers.Adam(0.01))
    x, y = _data()
    unfreeze = Unfreeze(["reused_1"], epoch=1, group_lr_multipliers=0.1)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[unfreeze])
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0, callbacks=[unfreeze])
    assert isinstance(model.optimizer, LearningRateMultipliers)
    assert not isinstance(model.optimizer.inner_optimizer, LearningRateMultipliers)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.optimizer.multipliers == model.optimizer.multipliers
    for a, b in zip(
        helpers.to_numpy(loaded.optimizer.variables), helpers.to_numpy(model.optimizer.variables), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_gradual_unfreezes_the_top_group_first_one_per_epoch():
    model = _model()
    x, y = _data()
    recorder = _Recorder(["reused_1", "reused_2"])
    layer_1 = model.get_layer("reused_1")  # a layer object works as well as a name
    model.fit(
        x,
        y,
        epochs=4,
        verbose=0,
        callbacks=[Unfreeze([[layer_1], "reused_2"], epoch=1, gradual=True), recorder],
    )
    assert [(t["reused_1"], t["reused_2"]) for t in recorder.trainable] == [
        (False, False),
        (False, True),
        (True, True),
        (True, True),
    ]
    np.testing.assert_array_equal(
        recorder.begin[1]["weights"]["reused_1"][0], recorder.end[1]["weights"]["reused_1"][0]
    )
    assert not np.array_equal(
        recorder.begin[1]["weights"]["reused_2"][0], recorder.end[1]["weights"]["reused_2"][0]
    )


def test_resumed_after_the_unfreeze_does_not_multiply_the_learning_rate_again():
    model = _model(keras.optimizers.SGD(0.1))
    x, y = _data()
    model.fit(
        x, y, epochs=4, initial_epoch=3, verbose=0, callbacks=[Unfreeze(["reused_1"], 2, lr_multiplier=0.1)]
    )
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 0.1)
    assert model.get_layer("reused_1").trainable


def test_lr_multiplier_needs_a_float_learning_rate():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model = _model(keras.optimizers.SGD(schedule))
    x, y = _data()
    with pytest.raises(TypeError, match="lr_multiplier=0.1"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[Unfreeze(["reused_1"], 1, lr_multiplier=0.1)])


def test_a_model_with_unfrozen_layers_saves_and_loads(tmp_path):
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[Unfreeze(["reused_1"], epoch=1)])
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    for a, b in zip(
        helpers.to_numpy(loaded.optimizer.variables), helpers.to_numpy(model.optimizer.variables), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_a_nested_base_model_by_name_and_a_layer_inside_it():
    keras.utils.set_random_seed(2)
    base = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6, name="base_dense"),
            keras.layers.BatchNormalization(name="base_bn"),
        ],
        name="base",
    )
    model = keras.Sequential([keras.Input((4,)), base, keras.layers.Dense(1, name="head")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x, y = _data()
    recorder = _Recorder(["base", "head"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[Unfreeze(["base"], epoch=1), recorder])
    for before, after in zip(
        recorder.begin[0]["weights"]["base"], recorder.end[0]["weights"]["base"], strict=True
    ):
        np.testing.assert_array_equal(before, after)  # kernel, bias, gamma, beta, moving mean and variance
    for before, after in zip(
        recorder.begin[1]["weights"]["base"], recorder.end[1]["weights"]["base"], strict=True
    ):
        assert not np.array_equal(before, after)
    # a layer inside the nested model, found by name: frozen alone in epoch 0 (its neighbour trains)
    base_bn, base_dense = base.get_layer("base_bn"), base.get_layer("base_dense")
    before = {layer.name: helpers.to_numpy(layer.weights) for layer in (base_bn, base_dense)}
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[Unfreeze(["base_bn"], epoch=1)])
    for a, b in zip(before["base_bn"], helpers.to_numpy(base_bn.weights), strict=True):
        np.testing.assert_array_equal(a, b)  # gamma, beta, moving mean and variance
    assert not np.array_equal(before["base_dense"][0], helpers.to_numpy(base_dense.weights)[0])
    assert not base_bn.trainable and base_dense.trainable


def test_evaluate_and_predict_follow_a_change_to_an_equal_sized_frozen_set():
    # Freezing `a`, then `b` (same shapes) gives the JAX test/predict steps state lists of the same
    # structure with other members: their compiled functions must be renewed too.
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(4, activation="tanh", name="a"),
            keras.layers.Dense(4, activation="tanh", name="b"),
            keras.layers.Dense(1, name="head"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[Unfreeze(["a"], epoch=5)])
    model.predict(x, verbose=0)
    model.get_layer("a").trainable = True
    history = model.fit(
        x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[Unfreeze(["b"], epoch=5)]
    )
    direct = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(model.predict(x, verbose=0), direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["val_loss"][0], np.mean((direct - y) ** 2), rtol=1e-5)


def test_the_state_of_a_trained_wrapped_optimizer_carries_over():
    # Regression: on tensorflow a wrapper built inside the first train step scopes its inner optimizer's
    # slots under its own name; the rebuild at the freeze must still find them.
    from keras_tricks.optimizers import GradientClipping

    model = _model(
        GradientClipping(keras.optimizers.SGD(0.05, momentum=0.9), mode="global_norm", threshold=1)
    )
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    top_velocity = {
        "/".join(v.path.split("/")[-2:]): helpers.to_numpy([v])[0]
        for v in model.optimizer.variables
        if "top_" in v.path
    }
    assert top_velocity and all(np.abs(v).sum() > 0 for v in top_velocity.values())

    class AtTrainBegin(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seen = {
                "/".join(v.path.split("/")[-2:]): helpers.to_numpy([v])[0]
                for v in self.model.optimizer.variables
                if "top_" in v.path
            }

    probe = AtTrainBegin()
    model.fit(x, y, epochs=2, initial_epoch=1, verbose=0, callbacks=[Unfreeze(["reused_1"], epoch=5), probe])
    assert probe.seen.keys() == top_velocity.keys()
    for key, value in top_velocity.items():
        np.testing.assert_array_equal(probe.seen[key], value)
