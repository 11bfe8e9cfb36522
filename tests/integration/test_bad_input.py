"""One table of wrong arguments across the whole public API.

Each row calls a public constructor or function with one wrong argument and checks the exception type
and that the message names the argument and echoes the value received (`Received: arg=value`, the Keras
style), so a user sees what to fix without reading the source.
"""

import math

import keras
import numpy as np
import pytest

import keras_tricks
from keras_tricks import callbacks, initializers, layers, optimizers, recipes, schedules
from tests import helpers

X = np.zeros((4, 3), "float32")


def _lr_finder(**kwargs):
    return keras_tricks.find_learning_rate(helpers.compiled_model(), X, X[:, :1], **kwargs)


def _clip(**kwargs):
    return optimizers.GradientClipping(helpers.sgd(), **kwargs)


# (call, argument, value received, exception type); the test id is the argument's owner and name.
ROWS = {
    "GradientClipping.inner_optimizer": (
        lambda: optimizers.GradientClipping("sgd"),
        "inner_optimizer",
        "sgd",
        TypeError,
    ),
    "GradientClipping.mode": (lambda: _clip(mode="clip"), "mode", "clip", ValueError),
    "GradientClipping.threshold=0": (lambda: _clip(threshold=0.0), "threshold", 0.0, ValueError),
    "GradientClipping.threshold=str": (lambda: _clip(threshold="1"), "threshold", "1", TypeError),
    "GradientClipping.clipping": (lambda: _clip(clipping=-1.0), "clipping", -1.0, ValueError),
    "GradientClipping.eps": (lambda: _clip(eps=math.nan), "eps", math.nan, ValueError),
    "GradientClipping.percentile": (lambda: _clip(percentile=101.0), "percentile", 101.0, ValueError),
    "GradientClipping.window=0": (lambda: _clip(window=0), "window", 0, ValueError),
    "GradientClipping.window=float": (lambda: _clip(window=2.5), "window", 2.5, TypeError),
    "GradientClipping.skip_nonfinite": (
        lambda: _clip(skip_nonfinite="yes"),
        "skip_nonfinite",
        "yes",
        TypeError,
    ),
    "GradientClipping.update_ratios": (lambda: _clip(update_ratios=1), "update_ratios", 1, TypeError),
    "GradientMonitor.inner_optimizer": (
        lambda: optimizers.GradientMonitor("sgd"),
        "inner_optimizer",
        "sgd",
        TypeError,
    ),
    "GradientMonitor.mode": (
        lambda: optimizers.GradientMonitor(helpers.sgd(), mode="global_norm"),
        "mode",
        "global_norm",
        TypeError,
    ),
    "GradientMonitor.skip_nonfinite": (
        lambda: optimizers.GradientMonitor(helpers.sgd(), skip_nonfinite=None),
        "skip_nonfinite",
        None,
        TypeError,
    ),
    "GradientClipping.clipnorm": (lambda: _clip(clipnorm=1.0), "clipnorm", 1.0, ValueError),
    "LearningRateMultipliers.multipliers": (
        lambda: optimizers.LearningRateMultipliers(helpers.sgd(), "dense/kernel"),
        "multipliers",
        "dense/kernel",
        TypeError,
    ),
    "LearningRateMultipliers.multipliers[path]": (
        lambda: optimizers.LearningRateMultipliers(helpers.sgd(), {"dense/kernel": -1.0}),
        "multipliers['dense/kernel']",
        -1.0,
        ValueError,
    ),
    "CyclicMomentum.inner_optimizer": (
        lambda: optimizers.CyclicMomentum(None),
        "inner_optimizer",
        None,
        TypeError,
    ),
    "CyclicMomentum.schedule": (
        lambda: optimizers.CyclicMomentum(keras.optimizers.SGD(0.1, momentum=0.9), schedule=0.9),
        "schedule",
        0.9,
        TypeError,
    ),
    "OneCycle.max_learning_rate=0": (
        lambda: schedules.OneCycle(0.0, 100),
        "max_learning_rate",
        0.0,
        ValueError,
    ),
    "OneCycle.max_learning_rate=str": (
        lambda: schedules.OneCycle("0.1", 100),
        "max_learning_rate",
        "0.1",
        TypeError,
    ),
    "OneCycle.total_steps=0": (lambda: schedules.OneCycle(0.1, 0), "total_steps", 0, ValueError),
    "OneCycle.total_steps=float": (lambda: schedules.OneCycle(0.1, 10.5), "total_steps", 10.5, TypeError),
    "OneCycle.initial_learning_rate": (
        lambda: schedules.OneCycle(0.1, 100, initial_learning_rate=0.2),
        "initial_learning_rate",
        0.2,
        ValueError,
    ),
    "OneCycle.final_learning_rate": (
        lambda: schedules.OneCycle(0.1, 100, final_learning_rate=math.inf),
        "final_learning_rate",
        math.inf,
        ValueError,
    ),
    "OneCycle.warmup_fraction": (
        lambda: schedules.OneCycle(0.1, 100, warmup_fraction=1.5),
        "warmup_fraction",
        1.5,
        ValueError,
    ),
    "OneCycle.final_fraction": (
        lambda: schedules.OneCycle(0.1, 100, final_fraction=0.0),
        "final_fraction",
        0.0,
        ValueError,
    ),
    "OneCycle.anneal": (lambda: schedules.OneCycle(0.1, 100, anneal="exp"), "anneal", "exp", ValueError),
    "OneCycle.max_momentum": (
        lambda: schedules.OneCycle(0.1, 100, max_momentum=1.0, base_momentum=0.85),
        "max_momentum",
        1.0,
        ValueError,
    ),
    "OneCycle.base_momentum": (
        lambda: schedules.OneCycle(0.1, 100, max_momentum=0.95, base_momentum=0.99),
        "base_momentum",
        0.99,
        ValueError,
    ),
    "PowerDecay.initial_learning_rate": (
        lambda: schedules.PowerDecay(0.0, 10),
        "initial_learning_rate",
        0.0,
        ValueError,
    ),
    "PowerDecay.decay_steps": (lambda: schedules.PowerDecay(0.1, -5), "decay_steps", -5, ValueError),
    "PowerDecay.power": (lambda: schedules.PowerDecay(0.1, 10, power="2"), "power", "2", TypeError),
    "ScaledSchedule.schedule": (lambda: schedules.ScaledSchedule(0.1), "schedule", 0.1, TypeError),
    "ScaledSchedule.factor": (
        lambda: schedules.ScaledSchedule(schedules.PowerDecay(0.1, 10), factor=0.0),
        "factor",
        0.0,
        ValueError,
    ),
    "MCDropout.rate": (lambda: layers.MCDropout(1.5), "rate", 1.5, ValueError),
    "MCDropout.rate=str": (lambda: layers.MCDropout("0.5"), "rate", "0.5", TypeError),
    "MCAlphaDropout.rate": (lambda: layers.MCAlphaDropout(-0.1), "rate", -0.1, ValueError),
    "RReLU.lower": (lambda: layers.RReLU(lower=-0.1), "lower", -0.1, ValueError),
    "RReLU.upper": (lambda: layers.RReLU(lower=0.3, upper=0.1), "upper", 0.1, ValueError),
    "Swish.beta": (lambda: layers.Swish(beta="1"), "beta", "1", TypeError),
    "Swish.per_channel": (lambda: layers.Swish(per_channel="yes"), "per_channel", "yes", TypeError),
    "GradientNormLogger.per_layer": (
        lambda: callbacks.GradientNormLogger(per_layer="yes"),
        "per_layer",
        "yes",
        TypeError,
    ),
    "GradientNormLogger.every_n_steps": (
        lambda: callbacks.GradientNormLogger(every_n_steps=0),
        "every_n_steps",
        0,
        ValueError,
    ),
    "EarlyStopping.criterion": (
        lambda: callbacks.EarlyStopping(criterion="foo"),
        "criterion",
        "foo",
        ValueError,
    ),
    "EarlyStopping.alpha": (
        lambda: callbacks.EarlyStopping(criterion="gl", alpha=-1.0),
        "alpha",
        -1.0,
        ValueError,
    ),
    "EarlyStopping.strip_length": (
        lambda: callbacks.EarlyStopping(strip_length=0),
        "strip_length",
        0,
        ValueError,
    ),
    "EarlyStopping.strips": (lambda: callbacks.EarlyStopping(strips=2.5), "strips", 2.5, TypeError),
    "EarlyStopping.smoothing": (lambda: callbacks.EarlyStopping(smoothing=1.0), "smoothing", 1.0, ValueError),
    "ReduceLROnPlateau.factor": (lambda: callbacks.ReduceLROnPlateau(factor=1.5), "factor", 1.5, ValueError),
    "ReduceLROnPlateau.min_lr": (
        lambda: callbacks.ReduceLROnPlateau(min_lr=-1.0),
        "min_lr",
        -1.0,
        ValueError,
    ),
    "ReduceLROnPlateau.cooldown": (
        lambda: callbacks.ReduceLROnPlateau(cooldown=-1),
        "cooldown",
        -1,
        ValueError,
    ),
    "SWA.start_epoch": (lambda: callbacks.SWA(start_epoch=-1), "start_epoch", -1, ValueError),
    "SWA.every": (lambda: callbacks.SWA(start_epoch=1, every=0), "every", 0, ValueError),
    "SWA.batch_size": (lambda: callbacks.SWA(start_epoch=1, batch_size=0), "batch_size", 0, ValueError),
    "Unfreeze.layers": (lambda: callbacks.Unfreeze("d", epoch=1), "layers", "d", TypeError),
    "Unfreeze.epoch": (lambda: callbacks.Unfreeze(["d"], epoch=-1), "epoch", -1, ValueError),
    "Unfreeze.gradual": (
        lambda: callbacks.Unfreeze(["d"], epoch=1, gradual="yes"),
        "gradual",
        "yes",
        TypeError,
    ),
    "Unfreeze.lr_multiplier": (
        lambda: callbacks.Unfreeze(["d"], epoch=1, lr_multiplier=0.0),
        "lr_multiplier",
        0.0,
        ValueError,
    ),
    "ActivationStats.every": (lambda: callbacks.ActivationStats(X, every=0), "every", 0, ValueError),
    "ActivationStats.bins": (lambda: callbacks.ActivationStats(X, bins=0), "bins", 0, ValueError),
    "for_activation.activation": (
        lambda: initializers.for_activation("foo"),
        "activation",
        "foo",
        ValueError,
    ),
    "for_activation.distribution": (
        lambda: initializers.for_activation("relu", distribution="cauchy"),
        "distribution",
        "cauchy",
        ValueError,
    ),
    "lsuv.tol": (lambda: initializers.lsuv(helpers.compiled_model(), X, tol=-1.0), "tol", -1.0, ValueError),
    "lsuv.max_iter": (
        lambda: initializers.lsuv(helpers.compiled_model(), X, max_iter=0),
        "max_iter",
        0,
        ValueError,
    ),
    "mc_predict.samples": (
        lambda: keras_tricks.mc_predict(helpers.compiled_model(), X, samples=0),
        "samples",
        0,
        ValueError,
    ),
    "find_learning_rate.min_lr": (lambda: _lr_finder(min_lr=-1.0), "min_lr", -1.0, ValueError),
    "find_learning_rate.steps": (lambda: _lr_finder(steps=0), "steps", 0, ValueError),
    "find_learning_rate.rule": (lambda: _lr_finder(rule="best"), "rule", "best", ValueError),
    "find_learning_rate.smoothing": (lambda: _lr_finder(smoothing=1.5), "smoothing", 1.5, ValueError),
    "ensemble_predict.weights": (
        lambda: keras_tricks.ensemble_predict(
            [helpers.compiled_model(), helpers.compiled_model()], X, weights=[1.0]
        ),
        "weights",
        [1.0],
        ValueError,
    ),
    "default_dnn.n_hidden": (lambda: recipes.default_dnn(-1, 10, 2, (3,)), "n_hidden", -1, ValueError),
    "default_dnn.dropout_rate": (
        lambda: recipes.default_dnn(1, 10, 2, (3,), dropout_rate=1.5),
        "dropout_rate",
        1.5,
        ValueError,
    ),
    "self_normalizing_dnn.n_neurons": (
        lambda: recipes.self_normalizing_dnn(1, 0, 2, (3,)),
        "n_neurons",
        0,
        ValueError,
    ),
    "suggested_optimizer.name": (lambda: recipes.suggested_optimizer("foo"), "name", "foo", ValueError),
}


def test_the_table_covers_the_api():
    assert len(ROWS) >= 40
    owners = {name.split(".")[0] for name in ROWS}
    # Every public class and every public function that takes arguments to check.
    assert owners >= {
        "GradientClipping",
        "GradientMonitor",
        "CyclicMomentum",
        "LearningRateMultipliers",
        "OneCycle",
        "PowerDecay",
        "ScaledSchedule",
        "MCDropout",
        "MCAlphaDropout",
        "RReLU",
        "Swish",
        "GradientNormLogger",
        "EarlyStopping",
        "ReduceLROnPlateau",
        "SWA",
        "Unfreeze",
        "ActivationStats",
        "for_activation",
        "lsuv",
        "mc_predict",
        "find_learning_rate",
        "ensemble_predict",
        "default_dnn",
        "self_normalizing_dnn",
        "suggested_optimizer",
    }


@pytest.mark.parametrize("name", list(ROWS))
def test_wrong_argument_is_named_with_the_value_received(name):
    call, argument, value, error = ROWS[name]
    with pytest.raises(Exception) as raised:
        call()
    assert type(raised.value) is error, f"{type(raised.value).__name__}: {raised.value}"
    message = str(raised.value)
    # The value as the user typed it: repr for strings (quotes tell "1" from 1), str otherwise.
    shown = repr(value) if isinstance(value, str) else str(value)
    assert f"{argument}={shown}" in message or f"{argument}={value!r}" in message, message
