"""Each shared check catches a deliberately broken object, and passes a correct one."""

import types

import keras
import numpy as np
import pytest

from tests import helpers

PACKAGE = "keras_tricks_tests"


@keras.saving.register_keras_serializable(package=PACKAGE)
class Scale(keras.layers.Layer):
    """A correct layer: a trainable per-feature scale, every argument in the config."""

    def __init__(self, init_value=2.0, **kwargs):
        super().__init__(**kwargs)
        self.init_value = init_value

    def build(self, input_shape):
        self.scale = self.add_weight(
            shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.init_value)
        )

    def call(self, x):
        return x * self.scale

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ForgetsArgument(Scale):
    """Broken: `offset` is an __init__ argument that get_config forgets."""

    def __init__(self, init_value=2.0, offset=0.0, **kwargs):
        super().__init__(init_value=init_value, **kwargs)
        self.offset = offset


@keras.saving.register_keras_serializable(package=PACKAGE)
class DriftingConfig(Scale):
    """Broken: get_config returns a transformed value, so from_config builds a different layer."""

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value * 2}


class Unregistered(Scale):
    """Broken: not registered, so a saved model cannot be loaded in safe mode without custom_objects."""


@keras.saving.register_keras_serializable(package=PACKAGE)
class UntrackedState(Scale):
    """Broken: a random offset held as a plain NumPy attribute, neither a weight nor in the config."""

    def build(self, input_shape):
        super().build(input_shape)
        self.offset = np.random.default_rng().normal(size=(input_shape[-1],)).astype("float32")

    def call(self, x):
        return x * self.scale + self.offset


@keras.saving.register_keras_serializable(package=PACKAGE)
class ForgetfulAdam(keras.optimizers.Adam):
    """Broken: does not restore its variables on load, so resumed training starts from fresh slots."""

    def load_own_variables(self, store):
        pass


def test_correct_layer_passes_every_check(tmp_path):
    layer = Scale(init_value=3.0)
    helpers.assert_config_covers_init(layer)
    helpers.assert_config_roundtrip(layer)
    helpers.assert_serialization_roundtrip(layer, package=PACKAGE)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model = helpers.wrap_in_model(Scale(init_value=3.0), (4,))
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    model.fit(x, x, epochs=1, verbose=0)
    loaded = helpers.assert_saved_model_roundtrip(model, x, tmp_path)
    assert int(loaded.optimizer.iterations) == 1


def test_covers_init_catches_a_forgotten_argument():
    with pytest.raises(AssertionError, match="offset"):
        helpers.assert_config_covers_init(ForgetsArgument(offset=1.0))


def test_config_roundtrip_catches_drift():
    with pytest.raises(AssertionError, match="drifts"):
        helpers.assert_config_roundtrip(DriftingConfig(init_value=1.0))


def test_serialization_roundtrip_catches_an_unregistered_class():
    with pytest.raises(AssertionError, match="not registered"):
        helpers.assert_serialization_roundtrip(Unregistered(), package=PACKAGE)


def test_serialization_roundtrip_catches_drift():
    with pytest.raises(AssertionError, match="drifts"):
        helpers.assert_serialization_roundtrip(DriftingConfig(init_value=1.0), package=PACKAGE)


def test_saved_model_roundtrip_catches_untracked_state(tmp_path):
    x = np.ones((4, 3), dtype="float32")
    model = helpers.wrap_in_model(UntrackedState(), (3,))
    with pytest.raises(AssertionError, match="outputs differ"):
        helpers.assert_saved_model_roundtrip(model, x, tmp_path)


def test_saved_model_roundtrip_catches_lost_optimizer_state(tmp_path):
    x = np.ones((4, 3), dtype="float32")
    model = helpers.wrap_in_model(Scale(), (3,))
    model.compile(optimizer=ForgetfulAdam(), loss="mse")
    model.fit(x, x, epochs=1, verbose=0)
    with pytest.raises(AssertionError, match="optimizer"):
        helpers.assert_saved_model_roundtrip(model, x, tmp_path)


def test_public_api_catches_an_unlisted_name():
    module = types.ModuleType("fake_tricks")
    module.__all__ = ["Listed"]
    module.Listed = object()
    module.Forgotten = object()
    with pytest.raises(AssertionError, match="Forgotten"):
        helpers.assert_public_api(module)


def test_public_api_catches_a_listed_name_that_does_not_exist():
    module = types.ModuleType("fake_tricks")
    module.__all__ = ["Ghost"]
    with pytest.raises(AssertionError, match="Ghost"):
        helpers.assert_public_api(module)


def test_public_api_ignores_private_names_and_own_submodules():
    module = types.ModuleType("fake_tricks")
    module.__all__ = ["Listed"]
    module.Listed = object()
    module._private = object()
    module.early_stopping = types.ModuleType("fake_tricks.early_stopping")
    helpers.assert_public_api(module)
