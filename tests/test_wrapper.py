"""keras_tricks.optimizers._wrapper: the scaffolding of the optimizers that wrap another one, after Keras's
`LossScaleOptimizer`. `check_is_optimizer`; `portable` (the inner optimizer serialized as its public
`keras.optimizers` class, so a file saved on torch loads elsewhere); and `OptimizerWrapper`: the inner
optimizer built with the same variables, `variables` own then inner, `learning_rate` and `iterations`
the inner's, `apply` and `stateless_apply` (the JAX trainer's path) of a minimal subclass matching plain
Keras SGD, `finalize_variable_values` delegated, the inner optimizer in the config."""

import re

import keras
import numpy as np
import pytest

from keras_tricks.optimizers import GradientClipping, _wrapper
from tests import helpers


class Halving(_wrapper.OptimizerWrapper):
    """The smallest wrapper: the inner optimizer steps with half the gradients."""

    def apply(self, grads, trainable_variables=None):
        variables = self._built_for(trainable_variables)
        if keras.backend.backend() == "jax":
            self._apply_through_stateless(grads, variables)
            return
        self.inner_optimizer.apply([None if g is None else g / 2 for g in grads], trainable_variables)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        self._check_built_for_stateless()
        own = len(self._variables)
        new_trainable, new_inner = self.inner_optimizer.stateless_apply(
            list(optimizer_variables[own:]),
            [None if g is None else g / 2 for g in grads],
            list(trainable_variables),
        )
        return new_trainable, list(optimizer_variables[:own]) + list(new_inner)

    def get_config(self):
        return self._inner_config()


def _numpy(value):
    return keras.ops.convert_to_numpy(value)


G = np.array([1.0, -2.0, 4.0], "float32")


def _g(scale=1.0):
    return keras.ops.convert_to_tensor(G * scale)  # torch's optimizers take tensors, not arrays


# check_is_optimizer


@pytest.mark.parametrize("value", ["sgd", keras.optimizers.SGD, None], ids=["str", "class", "None"])
def test_only_an_optimizer_instance_can_be_wrapped(value):
    message = "Expected inner_optimizer to be a keras.optimizers.Optimizer instance. "
    with pytest.raises(TypeError, match=re.escape(f"{message}Received: inner_optimizer={value!r}")):
        _wrapper.check_is_optimizer(value)
    with pytest.raises(TypeError, match="Expected inner_optimizer to be a keras.optimizers.Optimizer"):
        Halving(value)
    _wrapper.check_is_optimizer(keras.optimizers.Adam())  # any Keras optimizer passes


# portable


def test_portable_records_keras_optimizers_as_their_public_class_on_every_backend():
    adam = keras.optimizers.Adam(0.01, beta_1=0.8)
    config = _wrapper.portable(adam)
    assert (config["module"], config["class_name"], config["registered_name"]) == (
        "keras.optimizers",
        "Adam",
        None,
    )
    assert config["config"] == keras.saving.serialize_keras_object(adam)["config"]
    restored = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert isinstance(restored, keras.optimizers.Adam)
    assert restored.get_config() == adam.get_config()


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="only torch records a backend optimizer class")
def test_portable_replaces_the_torch_backend_class_keras_records():
    raw = keras.saving.serialize_keras_object(keras.optimizers.SGD(0.1))
    assert raw["module"].startswith("keras.src.backend.torch.")
    assert _wrapper.portable(keras.optimizers.SGD(0.1))["module"] == "keras.optimizers"


class Adam(keras.optimizers.Adam):
    """A user's subclass that happens to be named like a Keras optimizer."""


def test_portable_leaves_other_optimizers_as_keras_serializes_them():
    for optimizer in (GradientClipping(keras.optimizers.SGD(0.1), mode=None), Adam()):
        assert _wrapper.portable(optimizer) == keras.saving.serialize_keras_object(optimizer)


# OptimizerWrapper


def test_the_inner_optimizer_is_built_with_the_same_variables_and_listed_after_the_wrappers_own():
    w = keras.Variable(np.zeros(3, "float32"))
    inner = keras.optimizers.SGD(0.1, momentum=0.9)
    wrapper = Halving(inner)
    wrapper.build([w])
    assert inner.built
    own = [v for v in wrapper.variables if not any(v is i for i in inner.variables)]
    assert [id(v) for v in wrapper.variables] == [id(v) for v in own + inner.variables]
    assert len(inner.variables) == 3  # iteration, learning_rate, one momentum


def test_learning_rate_and_iterations_are_the_inner_optimizers():
    inner = keras.optimizers.SGD(0.1)
    wrapper = Halving(inner)
    assert float(_numpy(wrapper.learning_rate)) == pytest.approx(0.1)
    wrapper.learning_rate = 0.02
    assert float(_numpy(inner.learning_rate)) == pytest.approx(0.02)
    w = keras.Variable(np.zeros(3, "float32"))
    for _ in range(3):
        wrapper.apply([_g()], [w])
    assert int(_numpy(wrapper.iterations)) == int(_numpy(inner.iterations)) == 3


def test_apply_steps_the_inner_optimizer_as_plain_keras_sgd_with_the_wrappers_gradients():
    # SGD with momentum 0.9: m <- 0.9 m - lr g, w <- w + m; Halving(SGD(0.1)) is SGD(0.05) on g.
    w = keras.Variable(np.zeros(3, "float32"))
    wrapper = Halving(keras.optimizers.SGD(0.1, momentum=0.9))
    m, expected = np.zeros(3), np.zeros(3)
    for _ in range(3):
        wrapper.apply([_g()], [w])
        m = 0.9 * m - 0.1 * (G / 2)
        expected = expected + m
    np.testing.assert_allclose(_numpy(w), expected, rtol=1e-6)


# On jax the call goes through stateless_apply with no gradient for `b`, which Keras reports.
@pytest.mark.filterwarnings("ignore:Gradients do not exist for variables")
def test_apply_to_some_of_the_variables_leaves_the_others():
    a, b = keras.Variable(np.zeros(3, "float32")), keras.Variable(np.ones(3, "float32"))
    wrapper = Halving(keras.optimizers.SGD(0.1))
    wrapper.build([a, b])
    wrapper.apply([_g()], [a])
    np.testing.assert_allclose(_numpy(a), -0.05 * G, rtol=1e-6)
    np.testing.assert_array_equal(_numpy(b), np.ones(3))


def test_stateless_apply_before_build_is_refused():
    wrapper = Halving(keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match=r"To call `stateless_apply`, Halving must be built"):
        wrapper.stateless_apply([], [G], [np.zeros(3, "float32")])


@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="stateless_apply is the JAX trainer's path: Keras refuses it on tensorflow, and its torch "
    "optimizers update the variables in place even there (a bare keras SGD does too)",
)
def test_stateless_apply_returns_new_values_and_changes_no_variable():
    w = keras.Variable(np.zeros(3, "float32"))
    wrapper = Halving(keras.optimizers.SGD(0.1))
    wrapper.build([w])
    new_trainable, new_optimizer = wrapper.stateless_apply(
        [v.value for v in wrapper.variables], [_g()], [w.value]
    )
    np.testing.assert_allclose(_numpy(new_trainable[0]), -0.05 * G, rtol=1e-6)
    assert len(new_optimizer) == len(wrapper.variables)
    np.testing.assert_array_equal(_numpy(w), np.zeros(3))
    assert int(_numpy(wrapper.iterations)) == 0
    inner_iteration = len(wrapper.variables) - len(wrapper.inner_optimizer.variables)  # the inner's first
    assert int(_numpy(new_optimizer[inner_iteration])) == 1


def test_a_wrapped_fit_trains_as_keras_does_with_the_equivalent_bare_optimizer():
    def fit(optimizer):
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
        model.compile(optimizer=optimizer, loss="mse")
        x = np.linspace(-1.0, 1.0, 24, dtype="float32").reshape(8, 3)
        model.fit(x, x[:, :1] ** 2, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    wrapped = fit(Halving(keras.optimizers.SGD(0.2, momentum=0.5)))
    bare = fit(keras.optimizers.SGD(0.1, momentum=0.5))
    for got, expected in zip(wrapped, bare, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_finalize_variable_values_is_the_inner_optimizers():
    # With use_ema, finalizing overwrites the variables with their moving average.
    def trained(optimizer):
        w = keras.Variable(np.zeros(3, "float32"))
        for step in range(3):
            optimizer.apply([_g(step + 1)], [w])
        before = _numpy(w).copy()
        optimizer.finalize_variable_values([w])
        return before, _numpy(w)

    kwargs = {"use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": None}
    wrapped_before, wrapped = trained(Halving(keras.optimizers.SGD(0.2, **kwargs)))
    bare_before, bare = trained(keras.optimizers.SGD(0.1, **kwargs))
    np.testing.assert_allclose(wrapped_before, bare_before, rtol=1e-6)
    np.testing.assert_allclose(wrapped, bare, rtol=1e-6)
    assert not np.allclose(wrapped, wrapped_before)


def test_the_config_holds_the_name_and_the_portable_inner_optimizer_and_rebuilds_it():
    wrapper = Halving(keras.optimizers.Adam(0.01), name="halving")
    config = wrapper.get_config()
    assert set(config) == {"name", "inner_optimizer"}  # none of the base optimizer's arguments
    assert config["inner_optimizer"] == _wrapper.portable(wrapper.inner_optimizer)
    clone = helpers.assert_config_roundtrip(wrapper)
    assert clone.name == "halving"
    assert isinstance(clone.inner_optimizer, keras.optimizers.Adam)
    assert clone.inner_optimizer is not wrapper.inner_optimizer
    assert clone.inner_optimizer.get_config() == wrapper.inner_optimizer.get_config()
