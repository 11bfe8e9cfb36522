"""Differential tests: keras-tricks's EarlyStopping and ReduceLROnPlateau against Keras's own classes.

Both are driven with the same random sequences of logs (hypothesis) through the callback hooks, on
models whose weights change every epoch, and must take the same decisions, keep the same state and
write the same keys wherever the docs claim parity. Each documented difference is pinned below.
"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_tricks.callbacks import EarlyStopping, ReduceLROnPlateau

_values = st.lists(
    st.one_of(st.floats(0.0, 2.0), st.sampled_from([0.5, 1.0])),  # repeats make plateaus and ties
    min_size=1,
    max_size=15,
)


_MODELS = []


def _model():
    """A compiled model whose metrics are built (Keras infers `mode="auto"` from them), reset."""
    if not _MODELS:
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse", metrics=["accuracy"])
        model.evaluate(np.zeros((2, 2)), np.zeros((2, 1)), verbose=0)
        _MODELS.append(model)
    model = _MODELS[0]
    model.stop_training = False
    model.optimizer.learning_rate = 1.0
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    return model


def _drive(callback, values, monitor, move_weights=True):
    """Runs the epoch hooks over `values`; returns what the callback did at each epoch, then the model."""
    model = _model()
    callback.set_model(model)
    callback.on_train_begin()
    trace = []
    for epoch, value in enumerate(values):
        if move_weights:  # every epoch ends with other weights, so restoring the best ones shows
            model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        callback.on_epoch_begin(epoch)
        logs = {monitor: value, "loss": 1.0}
        callback.on_epoch_end(epoch, logs)
        trace.append(
            {
                "stop": bool(model.stop_training),
                "wait": callback.wait,
                "best": None if callback.best is None else float(callback.best),
                "logs": sorted(logs),
                "rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
                "cooldown": getattr(callback, "cooldown_counter", None),
            }
        )
        if model.stop_training:
            break
    callback.on_train_end()
    return trace, model


@settings(max_examples=60, deadline=None)
@given(
    values=_values,
    monitor=st.sampled_from(["val_loss", "val_accuracy"]),
    patience=st.integers(0, 4),
    min_delta=st.sampled_from([0.0, 1e-3, 0.1, -0.1]),
    mode=st.sampled_from(["auto", "min", "max"]),
    baseline=st.one_of(st.none(), st.floats(0.2, 1.5)),
    restore_best_weights=st.booleans(),
    start_from_epoch=st.integers(0, 3),
)
def test_early_stopping_decides_as_kerass(values, monitor, **arguments):
    ours, ours_model = _drive(EarlyStopping(monitor=monitor, **arguments), values, monitor)
    theirs, theirs_model = _drive(
        keras.callbacks.EarlyStopping(monitor=monitor, **arguments), values, monitor
    )
    assert ours == theirs
    for a, b in zip(ours_model.get_weights(), theirs_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(
    values=_values,
    monitor=st.sampled_from(["val_loss", "val_accuracy"]),
    factor=st.sampled_from([0.1, 0.5, 0.9]),
    patience=st.integers(0, 3),
    min_delta=st.sampled_from([0.0, 1e-4, 0.1]),
    mode=st.sampled_from(["auto", "min", "max"]),
    cooldown=st.integers(0, 2),
    min_lr=st.sampled_from([0.0, 0.05, 0.3]),
)
def test_plateau_reduces_as_kerass_on_a_float_rate(values, monitor, **arguments):
    ours, _ = _drive(ReduceLROnPlateau(monitor=monitor, **arguments), values, monitor, move_weights=False)
    theirs, _ = _drive(
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, **arguments), values, monitor, move_weights=False
    )
    assert ours == theirs
    assert all("learning_rate" in step["logs"] for step in ours)


# --- The documented differences, pinned ----------------------------------------------------------------


@pytest.mark.parametrize("ours", [EarlyStopping, ReduceLROnPlateau])
def test_difference_unknown_mode_raises_where_keras_warns(ours):
    with pytest.raises(
        ValueError, match="Expected mode in \\('auto', 'min', 'max'\\). Received: mode='best'"
    ):
        ours(mode="best")
    theirs = getattr(keras.callbacks, ours.__name__)
    with pytest.warns(UserWarning, match="mode 'best' is unknown, fallback to auto mode"):
        theirs(mode="best")


def test_difference_early_stopping_warns_for_a_missing_monitor_in_auto_mode_where_keras_raises():
    values, monitor = [1.0, 0.5], "val_missing"
    with pytest.warns(UserWarning, match="`val_missing` which is not available. Available metrics are"):
        trace, _ = _drive(EarlyStopping(monitor="val_missing"), values, "val_loss")
    assert not any(step["stop"] for step in trace)
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        _drive(keras.callbacks.EarlyStopping(monitor=monitor), values, "val_loss")


def test_difference_plateau_reduces_a_schedule_where_keras_raises():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1e9, decay_rate=0.5)
    for callback, expected in ((ReduceLROnPlateau(monitor="loss", patience=0), None), (None, TypeError)):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
        callback = callback or keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0)
        callback.set_model(model)
        callback.on_train_begin()
        callback.on_epoch_end(0, {"loss": 1.0})
        if expected is None:
            callback.on_epoch_end(1, {"loss": 1.0})
            assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)
        else:
            with pytest.raises(expected, match="not settable"):
                callback.on_epoch_end(1, {"loss": 1.0})
