import keras
import numpy as np

from keras_tricks.callbacks import LearningRateLogger, ReduceLROnPlateau
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


def test_logs_the_plateau_factor_too():
    # min_delta so large that only the first epoch counts as an improvement: a reduction every epoch after
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
    logged, schedule = _fit([plateau, LearningRateLogger()])
    expected = [factor * float(schedule(steps)) for factor, steps in ((1, 4), (0.5, 8), (0.25, 12))]
    np.testing.assert_allclose(logged, expected, rtol=1e-5)
