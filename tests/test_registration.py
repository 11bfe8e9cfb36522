"""keras_tricks._registration: `register` records a class with Keras's serialization as
`keras_tricks>ClassName`, so `serialize_keras_object` / `deserialize_keras_object` and `.keras` files
round-trip with `safe_mode=True` and no `custom_objects`; every public class with a config is registered
so, and the callbacks (which Keras cannot serialize) are not."""

import importlib
import inspect

import keras
import numpy as np
import pytest

from keras_tricks import _registration
from tests import helpers

PUBLIC_MODULES = [
    "keras_tricks",
    "keras_tricks.callbacks",
    "keras_tricks.diagnostics",
    "keras_tricks.initializers",
    "keras_tricks.layers",
    "keras_tricks.optimizers",
    "keras_tricks.recipes",
    "keras_tricks.schedules",
]

# What Keras's serialization saves and loads by registered name.
SERIALIZABLE = (
    keras.layers.Layer,
    keras.initializers.Initializer,
    keras.optimizers.Optimizer,
    keras.optimizers.schedules.LearningRateSchedule,
    keras.regularizers.Regularizer,
    keras.constraints.Constraint,
)


def _public_classes():
    classes = {}
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for attribute in module.__all__:
            value = getattr(module, attribute)
            if inspect.isclass(value):
                classes[f"{name}.{attribute}"] = value
    return classes


@pytest.fixture
def probe_class():
    """A layer class registered by `register` for this test only (taken out of Keras's registry after)."""

    class RegistrationProbe(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    registered = _registration.register(RegistrationProbe)
    yield registered
    keras.saving.get_custom_objects().pop("keras_tricks>RegistrationProbe", None)


def test_the_package_name_is_keras_tricks():
    assert _registration.PACKAGE == "keras_tricks"


def test_register_returns_the_class_itself_under_the_keras_tricks_name(probe_class):
    assert probe_class.__name__ == "RegistrationProbe"
    assert keras.saving.get_registered_name(probe_class) == "keras_tricks>RegistrationProbe"
    assert keras.saving.get_registered_object("keras_tricks>RegistrationProbe") is probe_class


def test_a_registered_object_round_trips_through_keras_serialization_in_safe_mode(probe_class):
    layer = probe_class(factor=3.0, name="probe")
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "keras_tricks>RegistrationProbe"
    restored = helpers.assert_serialization_roundtrip(layer)
    assert (restored.factor, restored.name) == (3.0, "probe")


def test_a_model_holding_a_registered_layer_loads_with_no_custom_objects(probe_class, tmp_path):
    model = helpers.wrap_in_model(probe_class(factor=3.0), (2,))
    x = np.array([[1.0, -2.0]], "float32")
    loaded = helpers.assert_saved_model_roundtrip(model, x, tmp_path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), 3.0 * x)


def test_an_unregistered_class_does_not_load_without_custom_objects():
    # What registration buys: the same layer, not registered, is refused by name at load time.
    class Unregistered(keras.layers.Layer):
        pass

    serialized = keras.saving.serialize_keras_object(Unregistered())
    with pytest.raises(TypeError, match="Unregistered"):
        keras.saving.deserialize_keras_object(serialized, safe_mode=True)


@pytest.mark.parametrize("path", sorted(_public_classes()))
def test_every_public_class_keras_can_serialize_is_registered_under_keras_tricks(path):
    cls = _public_classes()[path]
    registered = keras.saving.get_registered_name(cls)
    if issubclass(cls, SERIALIZABLE):
        assert registered == f"keras_tricks>{cls.__name__}"
        assert keras.saving.get_registered_object(registered) is cls
    else:
        assert ">" not in registered, (
            f"{path} is not a Keras serializable kind but is registered as {registered}"
        )
