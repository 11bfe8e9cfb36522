"""Shared checks for every keras-tricks object (Keras's own `keras.src.testing` is private).

Use them in each test module:

    from tests import helpers

    def test_round_trips(tmp_path):
        layer = RReLU(lower=0.1, upper=0.3, seed=1)
        helpers.assert_config_covers_init(layer)
        helpers.assert_config_roundtrip(layer)
        helpers.assert_serialization_roundtrip(layer)
        helpers.assert_saved_model_roundtrip(helpers.wrap_in_model(layer, (4,)), x, tmp_path)

Each check raises `AssertionError` with a message that says what drifted; `tests/test_helpers.py` shows
that each one catches a deliberately broken object.

Also the tests' one way to: convert to NumPy (`to_numpy`), assert that a resumed run equals the
uninterrupted one (`assert_resumed_equals_uninterrupted`; a callback's state: `assert_same_attributes`),
run a script in a fresh process (`run_child`, `child_json`), and build the small models many tests train
(`compiled_model`, `tanh_net`).
"""

import inspect
import json
import os
import subprocess
import sys
import types

import keras
import numpy as np


def _configs_equal(a, b):
    # json round-trip turns tuples into lists and numpy scalars into floats, as a saved config would.
    return json.loads(json.dumps(a, default=_json_default, sort_keys=True)) == json.loads(
        json.dumps(b, default=_json_default, sort_keys=True)
    )


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"get_config returned a value that is not JSON-serializable: {value!r}")


def assert_config_covers_init(obj):
    """Every named `__init__` argument of `type(obj)` is a key of `obj.get_config()`."""
    config = obj.get_config()
    parameters = inspect.signature(type(obj).__init__).parameters.values()
    named = [
        p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    missing = [name for name in named if name not in config]
    assert not missing, (
        f"{type(obj).__name__}.get_config() lacks the __init__ arguments {missing}; it has {sorted(config)}"
    )


def assert_config_roundtrip(obj):
    """`type(obj).from_config(obj.get_config())` rebuilds an object with the same config."""
    config = obj.get_config()
    json.dumps(config, default=_json_default)  # a config must be JSON-serializable to be saved
    clone = type(obj).from_config(config)
    assert type(clone) is type(obj), f"from_config returned {type(clone).__name__}"
    assert _configs_equal(clone.get_config(), config), (
        f"{type(obj).__name__} config drifts through from_config:\n"
        f"  before: {config}\n  after:  {clone.get_config()}"
    )
    return clone


def assert_serialization_roundtrip(obj, package="keras_tricks"):
    """`serialize_keras_object` / `deserialize_keras_object` (safe mode) give back an equal object.

    Also checks that the class is registered under `package`, so saved files load with no
    `custom_objects`.
    """
    registered = keras.saving.get_registered_name(type(obj))
    assert registered == f"{package}>{type(obj).__name__}", (
        f"{type(obj).__name__} is not registered under the {package!r} package "
        f"(registered name: {registered!r}); decorate it with keras_tricks._registration.register"
    )
    serialized = keras.saving.serialize_keras_object(obj)
    serialized = json.loads(json.dumps(serialized, default=_json_default))
    restored = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(restored) is type(obj), f"deserialized a {type(restored).__name__}"
    assert _configs_equal(restored.get_config(), obj.get_config()), (
        f"{type(obj).__name__} config drifts through serialization:\n"
        f"  before: {obj.get_config()}\n  after:  {restored.get_config()}"
    )
    return restored


def wrap_in_model(layer, input_shape):
    """A functional model around one layer, for the save/load check."""
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, layer(inputs))


def to_numpy(values):
    """A tensor or variable as a NumPy array of its own (a copy: on torch `convert_to_numpy` shares the
    variable's memory, which the next step overwrites); a list or tuple of them as a list (`None` kept)."""
    if isinstance(values, (list, tuple)):
        return [None if v is None else to_numpy(v) for v in values]
    return np.array(keras.ops.convert_to_numpy(values))


def assert_resumed_equals_uninterrupted(resumed, uninterrupted, rtol=0.0, atol=0.0, optimizer=True):
    """The model trained in pieces (a resume, a reload) ends where the one trained straight through did.

    Compares every weight and, with `optimizer=True`, every optimizer variable (slots, the iteration
    count, a wrapper's statistics and buffers); exact by default.
    """
    pairs = [("weight", resumed.weights, uninterrupted.weights)]
    if optimizer:
        pairs.append(("optimizer variable", resumed.optimizer.variables, uninterrupted.optimizer.variables))
    for kind, ours, reference in pairs:
        assert len(ours) == len(reference), f"{len(ours)} {kind}s resumed, {len(reference)} uninterrupted"
        for a, b, variable in zip(to_numpy(ours), to_numpy(reference), reference, strict=True):
            np.testing.assert_allclose(
                a,
                b,
                rtol=rtol,
                atol=atol,
                err_msg=f"{kind} {variable.path} differs from the uninterrupted run",
            )


def assert_same_attributes(resumed, uninterrupted, *names):
    """A resumed callback's public state (`names`, its attributes) equals the uninterrupted one's."""
    ours = {name: getattr(resumed, name) for name in names}
    reference = {name: getattr(uninterrupted, name) for name in names}
    assert ours == reference, f"resumed {ours}, uninterrupted {reference}"


def run_child(script, *args, backend=None, env=None, cwd=None, timeout=300, allowed=(0,)):
    """Runs `python script *args` in a fresh process (`script` may be `"-c"`); returns its
    `CompletedProcess`. Fails with the end of its stderr unless its exit code is in `allowed`.

    The child gets this process's environment, TensorFlow's logs quiet, `backend` as `KERAS_BACKEND`
    when given, and `env` on top.
    """
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend is not None:
        environment["KERAS_BACKEND"] = backend
    environment.update(env or {})
    out = subprocess.run(
        [sys.executable, os.fspath(script), *map(os.fspath, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=cwd,
        check=False,
    )
    if out.returncode not in allowed:
        raise AssertionError(f"child {script} exited with {out.returncode}:\n{out.stderr[-3000:]}")
    return out


def child_json(out):
    """The JSON a child printed on its last line of output."""
    return json.loads(out.stdout.strip().splitlines()[-1])


def assert_saved_model_roundtrip(model, x, directory, atol=1e-6, check_outputs=True):
    """Saves `model` as `.keras`, loads it with `safe_mode=True` and no `custom_objects`, and compares.

    Compares the weights, the optimizer's variables when the model is compiled (slots, iteration count,
    any state a keras-tricks optimizer keeps), and the outputs of `model.predict(x)`
    (`check_outputs=False` for a model whose inference is random). Returns the loaded model.
    """
    path = os.path.join(os.fspath(directory), "roundtrip.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers], (
        "layer types differ after loading"
    )
    before, after = to_numpy(model.weights), to_numpy(loaded.weights)
    assert len(before) == len(after), f"{len(before)} weights saved, {len(after)} loaded"
    for a, b, variable in zip(before, after, model.weights, strict=True):
        np.testing.assert_allclose(b, a, atol=atol, err_msg=f"weight {variable.path} differs after loading")
    if getattr(model, "optimizer", None) is not None and model.optimizer.built:
        assert loaded.optimizer is not None, "the optimizer was not restored"
        before = to_numpy(model.optimizer.variables)
        after = to_numpy(loaded.optimizer.variables)
        assert len(before) == len(after), f"{len(before)} optimizer variables saved, {len(after)} loaded"
        for a, b, variable in zip(before, after, model.optimizer.variables, strict=True):
            np.testing.assert_allclose(
                b, a, atol=atol, err_msg=f"optimizer variable {variable.path} differs after loading"
            )
    if check_outputs:
        expected = model.predict(x, verbose=0)
        actual = loaded.predict(x, verbose=0)
        np.testing.assert_allclose(actual, expected, atol=atol, err_msg="outputs differ after loading")
    return loaded


def public_names(module):
    """Names a user can import from `module`: not private, not the package's own submodules."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        own_submodule = isinstance(value, types.ModuleType) and value.__name__.startswith(
            module.__name__ + "."
        )
        if not own_submodule:
            names.add(name)
    return names


def assert_public_api(module):
    """`module.__all__` lists exactly the public names, and each of them exists.

    The package's own submodules may be listed or not (a subpackage is public, an implementation file
    is reachable but not advertised); anything else public must be in `__all__`.
    """
    assert hasattr(module, "__all__"), f"{module.__name__} defines no __all__"
    listed = set(module.__all__)
    assert len(listed) == len(module.__all__), f"{module.__name__}.__all__ repeats a name"
    absent = sorted(name for name in listed if not hasattr(module, name))
    assert not absent, f"{module.__name__}.__all__ names {absent}, which do not exist"
    unlisted = sorted(public_names(module) - listed)
    assert not unlisted, (
        f"{module.__name__} exposes {unlisted} without listing them in __all__; "
        "add them to __all__ or make them private"
    )


def sgd():
    """A plain `SGD(0.1)`: the inner optimizer where any one will do."""
    return keras.optimizers.SGD(0.1)


def compiled_model():
    """A compiled regression model on 3 features: `Dense(2, name="d")`, `Dense(1)`; SGD, MSE."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d"), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def tanh_net(seed, inputs, **hidden):
    """A seeded regression network: `inputs` features, a tanh `Dense` per `hidden` entry (`name=units`, in
    order), then a linear `Dense(1, name="top")`."""
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Dense(units, activation="tanh", name=name) for name, units in hidden.items()]
    return keras.Sequential([keras.Input((inputs,)), *layers, keras.layers.Dense(1, name="top")])


class ScriptedLogs(keras.callbacks.Callback):
    """Overwrites `logs` with scripted values at each epoch end (list it before the callback under test)."""

    def __init__(self, **sequences):
        super().__init__()
        self.sequences = sequences

    def on_epoch_end(self, epoch, logs=None):
        for key, values in self.sequences.items():
            logs[key] = values[epoch]


class Interrupt(keras.callbacks.Callback):
    """Raises `RuntimeError("interrupted")` when `at_epoch` begins: a crash for resume tests."""

    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("interrupted")
