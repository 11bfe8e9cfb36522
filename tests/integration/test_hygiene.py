"""Security and hygiene: no network at import, no pickle or eval, every saved object loads safely."""

import ast
import os
import pathlib

import keras
import numpy as np
import pytest

import keras_tricks
from keras_tricks.optimizers._chain import chain as unwrap_chain
from tests import helpers
from tests.integration import everything

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = pathlib.Path(keras_tricks.__file__).parent
CHILD = pathlib.Path(__file__).with_name("hygiene_child.py")


def _child(*args):
    return helpers.child_json(helpers.run_child(CHILD, ROOT, *args))


@pytest.mark.slow
def test_importing_opens_no_network_connection():
    result = _child()
    assert pathlib.Path(result["file"]).parent == PACKAGE  # the checkout under test was imported
    assert result["attempts"] == []


def test_the_network_block_catches_a_connection():
    # The blocking works: the same child, made to connect, records it (so the empty list above means it).
    script = CHILD.read_text().replace(
        "import importlib  # noqa: E402",
        "import importlib  # noqa: E402\n"
        "try:\n    socket.create_connection(('127.0.0.1', 9))\nexcept OSError:\n    pass",
    )
    out = helpers.run_child("-c", script.replace("sys.argv[1]", repr(os.fspath(ROOT))), "x")
    assert helpers.child_json(out)["attempts"]


_FORBIDDEN_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
_FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


def _offences(path):
    tree = ast.parse(path.read_text(), filename=os.fspath(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
        else:
            names = []
        for name in names:
            if name in _FORBIDDEN_MODULES:
                yield f"{path.name}:{node.lineno} imports {name}"
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _FORBIDDEN_CALLS:
                yield f"{path.name}:{node.lineno} calls {func.id}"
            for keyword in node.keywords:
                if keyword.arg == "allow_pickle" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    yield f"{path.name}:{node.lineno} passes allow_pickle"
            if isinstance(func, ast.Attribute) and func.attr == "load_model":
                for keyword in node.keywords:
                    if keyword.arg == "safe_mode":
                        yield f"{path.name}:{node.lineno} sets safe_mode"


def test_no_pickle_no_eval_in_the_package():
    offences = [o for path in sorted(PACKAGE.rglob("*.py")) for o in _offences(path)]
    assert offences == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle\nfrom marshal import loads\neval('1')\n"
        "import numpy as np\nnp.load('f', allow_pickle=True)\n"
    )
    assert len(list(_offences(bad))) == 4


@pytest.mark.slow
def test_every_saved_object_loads_in_safe_mode_with_no_custom_objects(tmp_path):
    model = everything.model()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    registered = {
        name.split(">")[1] for name in keras.saving.get_custom_objects() if name.startswith("keras_tricks>")
    }
    used = {type(layer).__name__ for layer in model.layers}
    used |= {type(optimizer).__name__ for optimizer in unwrap_chain(model.optimizer)}
    used |= {
        "ScaledSchedule",
        "PowerDecay",
        "OneCycle",
    }
    assert registered <= used, f"registered but not in the saved model: {registered - used}"
    model.save(tmp_path / "everything.keras")
    # MC dropout is random at inference by design: the load is checked through weights and optimizer state.
    np.save(tmp_path / "x.npy", x[:4])
    loaded = _child(
        tmp_path / "everything.keras", tmp_path / "x.npy"
    )  # a process that imported only keras_tricks
    assert loaded["attempts"] == []
    assert {"RReLU", "Swish", "MCDropout", "MCAlphaDropout"} <= set(loaded["classes"])
    assert loaded["optimizers"][:5] == [
        "GradientMonitor",
        "LearningRateMultipliers",
        "GradientClipping",
        "CyclicMomentum",
        "SGD",
    ]
    for a, b in zip(loaded["weights"], model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    saved = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    assert len(loaded["optimizer_variables"]) == len(saved)
    for a, b in zip(loaded["optimizer_variables"], saved, strict=True):
        np.testing.assert_array_equal(a, b)
    # Nothing in the file needed unsafe deserialization: no lambda, no pickled object.
    import zipfile

    with zipfile.ZipFile(tmp_path / "everything.keras") as archive:
        config = archive.read("config.json").decode()
    assert "__lambda__" not in config and "pickle" not in config
