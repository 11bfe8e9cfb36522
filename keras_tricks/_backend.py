"""Checks the Keras backend before Keras is imported, so a typo fails with one clear message."""

import json
import os

SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch")


def _configured_backend():
    """The backend Keras will pick: `KERAS_BACKEND`, else `keras.json`, else tensorflow."""
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name, "the environment variable KERAS_BACKEND"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    config_path = os.path.join(home, "keras.json")
    try:
        with open(config_path) as f:
            name = json.load(f).get("backend")
    except (OSError, ValueError):
        name = None
    if name:
        return name, config_path
    return "tensorflow", "the default"


def check_backend():
    """Raises `ImportError` naming the fix when the configured backend is not one keras-tricks supports."""
    name, source = _configured_backend()
    if name not in SUPPORTED_BACKENDS:
        raise ImportError(
            f"keras-tricks runs on the Keras backends {', '.join(SUPPORTED_BACKENDS)}. "
            f"Received: backend={name!r} (from {source}). "
            "Set KERAS_BACKEND to one of them, e.g. `export KERAS_BACKEND=jax`, "
            "and install it: pip install 'keras-tricks[jax]' or 'keras-tricks[torch]'."
        )
    return name
