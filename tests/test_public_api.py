import importlib

import pytest

from tests import helpers

PUBLIC_MODULES = [
    "keras_tricks",
    "keras_tricks.callbacks",
    "keras_tricks.datasets",
    "keras_tricks.diagnostics",
    "keras_tricks.initializers",
    "keras_tricks.layers",
    "keras_tricks.optimizers",
    "keras_tricks.plot",
    "keras_tricks.recipes",
    "keras_tricks.schedules",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_names(name):
    helpers.assert_public_api(importlib.import_module(name))


def test_every_subpackage_is_listed_at_the_top():
    import keras_tricks

    subpackages = {name.split(".")[1] for name in PUBLIC_MODULES if "." in name}
    assert subpackages <= set(keras_tricks.__all__)


def test_no_module_imports_keras_internals():
    import pathlib
    import re

    root = pathlib.Path(importlib.import_module("keras_tricks").__file__).parent
    private_import = re.compile(r"^\s*(from|import)\s+keras\.src\b", re.MULTILINE)
    offenders = [str(p) for p in root.rglob("*.py") if private_import.search(p.read_text())]
    assert not offenders, f"keras.src is private Keras API; found in {offenders}"
