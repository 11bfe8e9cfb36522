import math

import keras
import numpy as np
import pytest

from keras_tricks.callbacks import ActivationStats
from keras_tricks.diagnostics import activation_stats


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="sigmoid", name="sig"),
            keras.layers.Dense(8, activation="relu", name="relu"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"x_probe": np.zeros((0, 4))}, ValueError, r"x_probe with shapes \[\(0, 4\)\]"),
        ({"x_probe": np.zeros((2, 4)), "every": 0}, ValueError, "every=0"),
        ({"x_probe": np.zeros((2, 4)), "every": 1.5}, TypeError, "every=1.5"),
        ({"x_probe": np.zeros((2, 4)), "bins": 0}, ValueError, "bins=0"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        ActivationStats(**kwargs)


def test_no_per_batch_hook_and_async_safe():
    callback = ActivationStats(np.ones((2, 4)))
    assert callback.async_safe
    for hook in ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"):
        assert getattr(type(callback), hook) is getattr(keras.callbacks.Callback, hook)


def test_logs_hold_the_statistics_of_the_probe_after_each_epoch():
    model = _model()
    x, y = _data()
    callback = ActivationStats(x[:16])
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[callback]).history
    assert {k for k in history if k.startswith("act_")} == {
        "act_std/sig",
        "act_std/relu",
        "act_std/out",
        "act_saturated/sig",
        "act_dead/relu",
    }
    assert all(len(history[k]) == 3 for k in history)
    final = activation_stats(model, x[:16])  # the weights have not moved since the last epoch's end
    assert history["act_std/relu"][-1] == pytest.approx(final["relu"]["std"], rel=1e-5)
    assert history["act_dead/relu"][-1] == pytest.approx(final["relu"]["dead"])
    assert history["act_saturated/sig"][-1] == pytest.approx(final["sig"]["saturated"])
    assert history["act_std/out"][0] != history["act_std/out"][-1]  # measured each epoch, training moves it
    assert [epoch for epoch, _ in callback.history] == [0, 1, 2]
    assert callback.history[-1][1]["sig"]["histogram"]["counts"].sum() == 16 * 8


def test_every_other_epoch_leaves_nan_in_between():
    model = _model()
    x, y = _data()
    callback = ActivationStats(x[:8], every=2)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[callback]).history
    values = history["act_std/sig"]
    assert not math.isnan(values[0]) and math.isnan(values[1]) and not math.isnan(values[2])
    assert [epoch for epoch, _ in callback.history] == [0, 2]


def test_hooks_called_directly():
    model = _model()
    callback = ActivationStats(np.ones((2, 4), "float32"))
    callback.set_model(model)
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    assert logs["loss"] == 1.0 and logs["act_std/out"] >= 0.0
