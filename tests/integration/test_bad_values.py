"""Every numeric, string, bool and path argument of the public API, tried with every value that is wrong
for it: `inf`, `nan`, a negative number, zero, a string, a bool and `None` where they are wrong.

The table is generated from one list, `SIGNATURES`: each public callable with the kind of each of its
arguments (`KINDS` says which values are wrong for a kind, and whether the mistake is one of type,
`TypeError`, or of value, `ValueError`). `test_every_public_argument_has_a_kind` checks the list against
the signatures themselves (`inspect.signature` of every public callable, found from `keras_tricks.__all__`
and each subpackage's `__all__`), so a new function or argument cannot be left out. Each row checks the
exception type and that the message names the argument and echoes the value received
(`Received: arg=value`). Structured arguments (optimizers,
models, arrays, lists, dicts) are tried in tests/integration/test_bad_input.py.
"""

import inspect
import math

import keras
import numpy as np
import pytest

import keras_tricks
from keras_tricks import callbacks, diagnostics, initializers, layers, optimizers, recipes, schedules
from tests import helpers

T, V = TypeError, ValueError
INF, NAN = math.inf, math.nan

# kind: the wrong values, each with the error it must raise
KINDS = {
    "positive": [(INF, V), (NAN, V), (-1.0, V), (0.0, V), ("1", T), (True, T), (None, T)],
    "positive_or_none": [(INF, V), (NAN, V), (-1.0, V), (0.0, V), ("1", T), (True, T)],
    "non_negative": [(INF, V), (NAN, V), (-1.0, V), ("1", T), (True, T), (None, T)],
    "number": [(INF, V), (NAN, V), ("1", T), (True, T), (None, T)],
    "number_or_none": [(INF, V), (NAN, V), ("1", T), (True, T)],
    "open_fraction": [(0.0, V), (1.0, V), (-0.5, V), (INF, V), (NAN, V), ("0.5", T), (True, T), (None, T)],
    "open_fraction_or_none": [(0.0, V), (1.0, V), (-0.5, V), (INF, V), (NAN, V), ("0.5", T), (True, T)],
    "rate": [(1.0, V), (-0.1, V), (INF, V), (NAN, V), ("0.5", T), (True, T), (None, T)],  # [0, 1)
    "percent": [(0.0, V), (101.0, V), (-1.0, V), (INF, V), (NAN, V), ("10", T), (True, T), (None, T)],
    "above_one": [(1.0, V), (0.5, V), (-1.0, V), (INF, V), (NAN, V), ("4", T), (True, T), (None, T)],
    "positive_int": [(0, V), (-1, V), (1.5, T), (INF, T), ("1", T), (True, T), (None, T)],
    "positive_int_or_none": [(0, V), (-1, V), (1.5, T), ("1", T), (True, T)],
    "non_negative_int": [(-1, V), (1.5, T), (INF, T), ("1", T), (True, T), (None, T)],
    "int": [(1.5, T), (NAN, T), ("1", T), (True, T), (None, T)],
    "int_or_none": [(1.5, T), ("1", T), (True, T)],
    "at_least_two": [(1, V), (0, V), (-1, V), (2.5, T), ("2", T), (True, T), (None, T)],
    "bool": [("yes", T), (1, T), (None, T)],
    "bool_or_none": [("yes", T), (1, T)],
    "string": [("", V), (1, T), (None, T)],
    "string_or_none": [("", V), (1, T)],
    "choice": [("nope", V), (1, V), (True, V)],
    "path_or_none": [("", V), (123, T), (True, T)],
    "object": [],  # an optimizer, a model, an array, a list or a dict: test_bad_input.py
}


X = np.zeros((8, 3), "float32")

# Every public callable: how to call it with valid values for what is not under test, and the kind of
# each argument. Arguments named here but absent from the signature, or present but absent here, fail
# test_every_public_argument_has_a_kind.
SIGNATURES = {
    "GradientClipping": (
        lambda **k: optimizers.GradientClipping(helpers.sgd(), **k),
        {
            "inner_optimizer": "object",
            "mode": "choice",
            "threshold": "positive",
            "clipping": "positive",
            "eps": "positive",
            "percentile": "percent",
            "window": "positive_int",
            "skip_nonfinite": "bool_or_none",
            "update_ratios": "bool",
            "name": "object",
        },
    ),
    "GradientMonitor": (
        lambda **k: optimizers.GradientMonitor(helpers.sgd(), **k),
        {"inner_optimizer": "object", "update_ratios": "bool", "skip_nonfinite": "bool", "name": "object"},
    ),
    "LearningRateMultipliers": (
        lambda **k: optimizers.LearningRateMultipliers(helpers.sgd(), {"d": 0.5}, **k),
        {"inner_optimizer": "object", "multipliers": "object", "strict": "bool", "name": "object"},
    ),
    "CyclicMomentum": (
        lambda **k: optimizers.CyclicMomentum(keras.optimizers.SGD(0.1, momentum=0.9), **k),
        {"inner_optimizer": "object", "schedule": "object", "name": "object"},
    ),
    "unwrap": (lambda **k: optimizers.unwrap(helpers.sgd(), **k), {"optimizer": "object", "cls": "object"}),
    "OneCycle": (
        lambda **k: schedules.OneCycle(**{"max_learning_rate": 0.1, "total_steps": 100, **k}),
        {
            "max_learning_rate": "positive",
            "total_steps": "positive_int",
            "initial_learning_rate": "positive_or_none",
            "final_learning_rate": "positive_or_none",
            "warmup_fraction": "open_fraction_or_none",
            "final_fraction": "open_fraction_or_none",
            "anneal": "choice",
            "max_momentum": "object",  # goes with base_momentum: test_bad_input.py
            "base_momentum": "object",
            "name": "object",
        },
    ),
    "OneCycle.from_epochs": (
        lambda **k: schedules.OneCycle.from_epochs(
            **{"max_learning_rate": 0.1, "epochs": 3, "steps_per_epoch": 7, **k}
        ),
        {"max_learning_rate": "positive", "epochs": "positive_int", "steps_per_epoch": "positive_int"},
    ),
    "PowerDecay": (
        lambda **k: schedules.PowerDecay(**{"initial_learning_rate": 0.1, "decay_steps": 10, **k}),
        {
            "initial_learning_rate": "positive",
            "decay_steps": "positive",
            "power": "positive",
            "name": "object",
        },
    ),
    "ScaledSchedule": (
        lambda **k: schedules.ScaledSchedule(schedules.PowerDecay(0.1, 10), **k),
        {"schedule": "object", "factor": "positive"},
    ),
    "MCDropout": (
        lambda **k: layers.MCDropout(**{"rate": 0.1, **k}),
        {"rate": "rate", "noise_shape": "object", "seed": "object"},
    ),
    "MCAlphaDropout": (
        lambda **k: layers.MCAlphaDropout(**{"rate": 0.1, **k}),
        {"rate": "rate", "noise_shape": "object", "seed": "object"},
    ),
    "RReLU": (
        lambda **k: layers.RReLU(**k),
        {"lower": "non_negative", "upper": "non_negative", "seed": "object"},
    ),
    "Swish": (
        lambda **k: layers.Swish(**k),
        {"beta": "number", "trainable": "object", "per_channel": "bool"},
    ),
    "GradientNormLogger": (
        lambda **k: callbacks.GradientNormLogger(**k),
        {"per_layer": "bool", "every_n_steps": "positive_int_or_none"},
    ),
    "LearningRateLogger": (lambda **k: callbacks.LearningRateLogger(**k), {}),
    "EarlyStopping": (
        lambda **k: callbacks.EarlyStopping(**k),
        {
            "monitor": "string",
            "min_delta": "number",
            "patience": "non_negative_int",
            "verbose": "non_negative_int",
            "mode": "choice",
            "baseline": "number_or_none",
            "restore_best_weights": "bool",
            "start_from_epoch": "non_negative_int",
            "criterion": "choice",
            "alpha": "positive_or_none",
            "strip_length": "positive_int",
            "strips": "positive_int",
            "train_monitor": "string_or_none",
            "smoothing": "rate",
            "restore_optimizer": "bool",
            "backup_dir": "path_or_none",
        },
    ),
    "ReduceLROnPlateau": (
        lambda **k: callbacks.ReduceLROnPlateau(**k),
        {
            "monitor": "string",
            "factor": "open_fraction",
            "patience": "non_negative_int",
            "verbose": "non_negative_int",
            "mode": "choice",
            "min_delta": "number",
            "cooldown": "non_negative_int",
            "min_lr": "non_negative",
            "backup_dir": "path_or_none",
        },
    ),
    "SWA": (
        lambda **k: callbacks.SWA(**{"start_epoch": 0, **k}),
        {
            "start_epoch": "non_negative_int",
            "every": "positive_int",
            "bn_data": "object",
            "batch_size": "positive_int",
            "backup_dir": "path_or_none",
            "verbose": "non_negative_int",
        },
    ),
    "Unfreeze": (
        lambda **k: callbacks.Unfreeze(**{"layers": ["d"], "epoch": 1, **k}),
        {
            "layers": "object",
            "epoch": "non_negative_int",
            "gradual": "bool",
            "lr_multiplier": "positive_or_none",
            "group_lr_multipliers": "positive_or_none",
            "verbose": "non_negative_int",
            "backup_dir": "path_or_none",
        },
    ),
    "ActivationStats": (
        lambda **k: callbacks.ActivationStats(**{"x_probe": X, **k}),
        {"x_probe": "object", "every": "positive_int", "bins": "positive_int"},
    ),
    "Diagnose": (
        lambda **k: callbacks.Diagnose(**k),
        {"x_probe": "object", "y_probe": "object", "every": "positive_int", "verbose": "non_negative_int"},
    ),
    "for_activation": (
        lambda **k: initializers.for_activation(**{"activation": "relu", **k}),
        {"activation": "object", "distribution": "choice", "seed": "object"},
    ),
    "get": (
        lambda **k: initializers.get(**{"identifier": "he_normal", **k}),
        {"identifier": "object", "seed": "object"},
    ),
    "lsuv": (
        lambda **k: initializers.lsuv(**{"model": helpers.compiled_model(), "x_batch": X, **k}),
        {
            "model": "object",
            "x_batch": "object",
            "tol": "positive",
            "max_iter": "positive_int",
            "seed": "object",
        },
    ),
    "mc_predict": (
        lambda **k: keras_tricks.mc_predict(**{"model": _dropout_model(), "x": X, **k}),
        {
            "model": "object",
            "x": "object",
            "samples": "positive_int",
            "batch_size": "positive_int_or_none",
            "seed": "int_or_none",
        },
    ),
    "find_learning_rate": (
        lambda **k: keras_tricks.find_learning_rate(
            **{"model": helpers.compiled_model(), "x": X, "y": X[:, :1], **k}
        ),
        {
            "model": "object",
            "x": "object",
            "y": "object",
            "batch_size": "positive_int",
            "min_lr": "positive",
            "max_lr": "positive",
            "steps": "at_least_two",
            "stop_factor": "above_one",
            "smoothing": "rate",
            "rule": "choice",
            "seed": "int",
        },
    ),
    "ensemble_predict": (
        lambda **k: keras_tricks.ensemble_predict(**{"models": [helpers.compiled_model()], "x": X, **k}),
        {"models": "object", "x": "object", "weights": "object", "batch_size": "object", "verbose": "object"},
    ),
    "activation_stats": (
        lambda **k: diagnostics.activation_stats(**{"model": helpers.compiled_model(), "x": X, **k}),
        {"model": "object", "x": "object", "bins": "positive_int"},
    ),
    "diagnose": (
        lambda **k: diagnostics.diagnose(**{"model": helpers.compiled_model(), "x": X, "y": X[:, :1], **k}),
        {
            "model": "object",
            "x": "object",
            "y": "object",
            "samples": "positive_int",
            "batch_size": "positive_int",
            "steps": "non_negative_int",
            "seed": "int",
        },
    ),
    "variable_keys": (
        lambda **k: diagnostics.variable_keys(**{"model": helpers.compiled_model(), **k}),
        {"model": "object"},
    ),
    "default_dnn": (
        lambda **k: recipes.default_dnn(
            **{"n_hidden": 1, "n_neurons": 4, "n_outputs": 2, "input_shape": (3,), **k}
        ),
        {
            "n_hidden": "non_negative_int",
            "n_neurons": "positive_int",
            "n_outputs": "positive_int",
            "input_shape": "object",
            "deep": "bool_or_none",
            "dropout_rate": "rate",
            "weight_decay": "non_negative",
            "output_activation": "object",
        },
    ),
    "self_normalizing_dnn": (
        lambda **k: recipes.self_normalizing_dnn(
            **{"n_hidden": 1, "n_neurons": 4, "n_outputs": 2, "input_shape": (3,), **k}
        ),
        {
            "n_hidden": "non_negative_int",
            "n_neurons": "positive_int",
            "n_outputs": "positive_int",
            "input_shape": "object",
            "dropout_rate": "rate",
            "output_activation": "object",
        },
    ),
    "suggested_optimizer": (
        lambda **k: recipes.suggested_optimizer(**k),
        {"name": "choice", "learning_rate": "positive_or_none"},
    ),
    "check_self_normalizing": (
        lambda **k: recipes.check_self_normalizing(**{"model": helpers.compiled_model(), **k}),
        {"model": "object"},
    ),
    "load_fashion_mnist": (
        lambda **k: keras_tricks.datasets.load_fashion_mnist(**{"debian_dir": "/nonexistent", **k}),
        {"pixels": "choice", "cache_dir": "path_or_none", "debian_dir": "string"},
    ),
}


def _dropout_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.1), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


# The figures take what training logged, not arguments a user types: tests/test_plot.py tries them.
NOT_IN_THIS_TABLE = {"plot"}
NOT_CALLABLE_WITH_ARGUMENTS = {"DatasetError", "Diagnosis", "Finding", "CODES", "THRESHOLDS"}


def _public_callables():
    """Every public callable: the top-level functions and what each subpackage's `__all__` lists."""
    found = {"OneCycle.from_epochs": schedules.OneCycle.from_epochs}
    for name in keras_tricks.__all__:
        obj = getattr(keras_tricks, name)
        if not inspect.ismodule(obj):
            found[name] = obj  # find_learning_rate, mc_predict, ensemble_predict
        elif name not in NOT_IN_THIS_TABLE:
            for member in obj.__all__:
                value = getattr(obj, member)
                if (
                    member not in NOT_CALLABLE_WITH_ARGUMENTS
                    and callable(value)
                    and not inspect.ismodule(value)
                ):
                    found[member] = value
    return found


def test_every_public_argument_has_a_kind():
    callables = _public_callables()
    assert set(callables) == set(SIGNATURES), sorted(set(callables) ^ set(SIGNATURES))
    for name, obj in callables.items():
        parameters = inspect.signature(obj).parameters.values()
        named = {
            p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        assert named == set(SIGNATURES[name][1]), (name, sorted(named ^ set(SIGNATURES[name][1])))
        assert all(kind in KINDS for kind in SIGNATURES[name][1].values()), name


ROWS = [
    pytest.param(owner, argument, value, error, id=f"{owner}.{argument}={value!r}")
    for owner, (_, arguments) in SIGNATURES.items()
    for argument, kind in arguments.items()
    for value, error in KINDS[kind]
]


def test_the_table_is_large():
    assert len(ROWS) > 500


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Unfreeze(backup_dir=) is deprecated
@pytest.mark.parametrize("owner, argument, value, error", ROWS)
def test_a_wrong_value_is_refused_naming_the_argument_and_the_value(owner, argument, value, error):
    call, _ = SIGNATURES[owner]
    extra = {"criterion": "gl"} if owner == "EarlyStopping" and argument == "alpha" else {}
    with pytest.raises(Exception) as raised:
        call(**{**extra, argument: value})
    assert type(raised.value) is error, f"{type(raised.value).__name__}: {raised.value}"
    message = str(raised.value)
    shown = repr(value) if isinstance(value, str) else str(value)
    assert f"{argument}={shown}" in message or f"{argument}={value!r}" in message, message
