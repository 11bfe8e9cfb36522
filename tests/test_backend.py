import pytest

from keras_tricks import _backend
from tests import helpers


@pytest.mark.parametrize("name", ["tensorflow", "jax", "torch"])
def test_supported_backends_pass(monkeypatch, name):
    monkeypatch.setenv("KERAS_BACKEND", name)
    assert _backend.check_backend() == name


def test_unknown_backend_names_the_value_and_the_fix(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflw")
    with pytest.raises(ImportError, match=r"backend='tensorflw'.*KERAS_BACKEND"):
        _backend.check_backend()


def test_import_with_unknown_backend_fails_with_one_clear_message():
    result = helpers.run_child("-c", "import keras_tricks", backend="mxnet", timeout=120, allowed=(1,))
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: keras-tricks runs on the Keras backends")
    assert "keras/src" not in result.stderr  # failed before Keras was imported
