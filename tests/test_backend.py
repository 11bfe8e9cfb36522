import os
import subprocess
import sys

import pytest

from keras_tricks import _backend


@pytest.mark.parametrize("name", ["tensorflow", "jax", "torch"])
def test_supported_backends_pass(monkeypatch, name):
    monkeypatch.setenv("KERAS_BACKEND", name)
    assert _backend.check_backend() == name


def test_unknown_backend_names_the_value_and_the_fix(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflw")
    with pytest.raises(ImportError, match=r"backend='tensorflw'.*KERAS_BACKEND"):
        _backend.check_backend()


def test_import_with_unknown_backend_fails_with_one_clear_message():
    env = {**os.environ, "KERAS_BACKEND": "mxnet"}
    result = subprocess.run(
        [sys.executable, "-c", "import keras_tricks"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: keras-tricks runs on the Keras backends")
    assert "keras/src" not in result.stderr  # failed before Keras was imported
