"""The one place where keras-tricks objects are registered with Keras's serialization.

Every public class with a config is decorated with `@register`; its registered name is
`keras_tricks>ClassName`, so a saved `.keras` file loads with `safe_mode=True` and no
`custom_objects` once `keras_tricks` is imported.
"""

import keras

PACKAGE = "keras_tricks"


def register(cls):
    """Registers `cls` under the `keras_tricks` package name."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
