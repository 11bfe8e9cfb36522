import keras
import numpy as np
import pytest

from keras_tricks.callbacks import LearningRateLogger, ReduceLROnPlateau
from keras_tricks.optimizers import CyclicMomentum, GradientClipping
from keras_tricks.schedules import OneCycle


def _fit(callbacks, epochs=3):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    schedule = OneCycle(0.1, total_steps=12)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    history = model.fit(x, x[:, :1], batch_size=4, epochs=epochs, verbose=0, callbacks=callbacks)
    return history.history["learning_rate"], schedule


def test_logs_the_schedule_value_at_each_epoch_end():
    logged, schedule = _fit([LearningRateLogger()])
    expected = [float(schedule(steps)) for steps in (4, 8, 12)]
    np.testing.assert_allclose(logged, expected, rtol=1e-6)


@pytest.mark.parametrize("logger_first", [True, False])
def test_logs_the_plateau_factor_too(logger_first):
    # min_delta so large that only the first epoch counts as an improvement: a reduction at the end of
    # every epoch after it. The rate logged is the one the epoch ran with (as Keras's ReduceLROnPlateau
    # logs it), whatever the order of the two callbacks.
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
    callbacks = [LearningRateLogger(), plateau] if logger_first else [plateau, LearningRateLogger()]
    logged, schedule = _fit(callbacks, epochs=4)
    expected = [factor * float(schedule(steps)) for factor, steps in ((1, 4), (1, 8), (0.5, 12), (0.25, 16))]
    np.testing.assert_allclose(logged, expected, rtol=1e-5)


def _fit_cycling(wrap, epochs=3):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    schedule = OneCycle(0.1, total_steps=12, max_momentum=0.95, base_momentum=0.85)
    model.compile(optimizer=wrap(CyclicMomentum(keras.optimizers.SGD(schedule, momentum=0.9))), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    history = model.fit(x, x[:, :1], batch_size=4, epochs=epochs, verbose=0, callbacks=[LearningRateLogger()])
    return history.history, schedule


@pytest.mark.parametrize(
    "wrap",
    [lambda o: o, lambda o: GradientClipping(o, mode="global_norm", threshold=1.0)],
    ids=["cyclic_momentum", "inside_gradient_clipping"],
)
def test_logs_the_cycled_momentum(wrap):
    logged, schedule = _fit_cycling(wrap)
    steps = (4, 8, 12)  # the next step's momentum at each epoch end, like the learning rate
    np.testing.assert_allclose(logged["momentum"], [float(schedule.momentum(s)) for s in steps], rtol=1e-6)
    np.testing.assert_allclose(logged["learning_rate"], [float(schedule(s)) for s in steps], rtol=1e-6)
    assert logged["momentum"][0] < 0.95  # the cycle moved it: the test can tell a constant


def test_no_momentum_key_without_momentum_cycling():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    x = np.ones((8, 2), "float32")
    history = model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[LearningRateLogger()])
    assert "momentum" not in history.history and history.history["learning_rate"] == [pytest.approx(0.1)]
