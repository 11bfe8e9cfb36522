"""One model holding every registered keras-tricks class, for the save/load tests (imported by children)."""

import keras
import numpy as np

from keras_tricks import layers, optimizers, schedules


def model():
    """A compiled model with every keras-tricks layer, wrapper and schedule, in one optimizer chain."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(8, name="reused")(inputs)
    h = layers.RReLU(seed=1)(h)
    h = layers.Swish(per_channel=True)(h)
    h = layers.MCDropout(0.1, seed=2)(h)
    h = layers.MCAlphaDropout(0.1, seed=3)(h)
    built = keras.Model(inputs, keras.layers.Dense(1)(h))
    rate = schedules.ScaledSchedule(schedules.PowerDecay(0.05, 10), factor=0.5)
    momentum = schedules.OneCycle(0.1, 100, max_momentum=0.95, base_momentum=0.85)
    inner = optimizers.CyclicMomentum(keras.optimizers.SGD(rate, momentum=0.9), schedule=momentum)
    clipped = optimizers.GradientClipping(inner, "percentile", window=8)
    multiplied = optimizers.LearningRateMultipliers(clipped, {"reused/kernel": 0.1})
    built.compile(loss="mse", optimizer=optimizers.GradientMonitor(multiplied))
    return built


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 6)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
