"""A batch of inputs holding NaN in the middle of training.

With `skip_nonfinite=True` the step is skipped: the weights after the epoch equal those of a run that
never saw the batch, the skip is logged, and training goes on. Without it, the NaN reaches the weights
and Keras's own `keras.callbacks.TerminateOnNaN` still stops training.
"""

import keras
import numpy as np

from keras_tricks.callbacks import GradientNormLogger
from keras_tricks.optimizers import GradientClipping

BATCH, BAD_BATCH = 16, 3


def _data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(8 * BATCH, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1))).astype("float32")
    return x, y


def _with_nan(x):
    x = x.copy()
    x[BAD_BATCH * BATCH + 2, 1] = np.nan
    return x


def _without_bad_batch(a):
    return np.delete(a, np.s_[BAD_BATCH * BATCH : (BAD_BATCH + 1) * BATCH], axis=0)


def _model(skip_nonfinite):
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    inner = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.05, 4, 0.9), momentum=0.9)
    model.compile(
        loss="mse", optimizer=GradientClipping(inner, "global_norm", 5.0, skip_nonfinite=skip_nonfinite)
    )
    return model


def _fit_poisoned(model, epochs, callbacks=()):
    """Fits `model` on the inputs with one NaN in batch `BAD_BATCH`, logging the gradient statistics."""
    x, y = _data()
    return model.fit(
        _with_nan(x),
        y,
        batch_size=BATCH,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=[*callbacks, GradientNormLogger()],
    )


def test_a_skipped_nan_batch_leaves_the_weights_of_a_run_without_it():
    x, y = _data()
    poisoned = _model(skip_nonfinite=True)
    history = _fit_poisoned(poisoned, epochs=2)
    clean = _model(skip_nonfinite=True)
    clean.fit(
        _without_bad_batch(x), _without_bad_batch(y), batch_size=BATCH, epochs=2, shuffle=False, verbose=0
    )
    # Same weights, same slots, same iteration count (so the same point of the schedule).
    for a, b in zip(poisoned.get_weights(), clean.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

    def inner(model):
        return [keras.ops.convert_to_numpy(v) for v in model.optimizer.inner_optimizer.variables]

    for a, b in zip(inner(poisoned), inner(clean), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(keras.ops.convert_to_numpy(poisoned.optimizer.iterations)) == 2 * 7
    # Counted and logged once per epoch; the other steps are in the means.
    assert history.history["grad_nonfinite_steps"] == [1.0, 1.0]
    assert history.history["grad_steps"] == [7.0, 7.0]
    assert all(np.isfinite(w).all() for w in poisoned.get_weights())
    # Training went on: the second epoch trained on the 7 good batches, and the model is still finite.
    good = poisoned.evaluate(_without_bad_batch(x), _without_bad_batch(y), verbose=0)
    assert np.isfinite(good)


def test_without_skipping_terminate_on_nan_still_stops_training():
    model = _model(skip_nonfinite=False)
    history = _fit_poisoned(model, epochs=3, callbacks=[keras.callbacks.TerminateOnNaN()])
    assert model.stop_training
    assert len(history.history["loss"]) == 1  # stopped in the first epoch
    assert not all(np.isfinite(w).all() for w in model.get_weights())  # the NaN reached the weights
    assert history.history["grad_nonfinite_steps"] == [1.0]  # counted even when not skipped
