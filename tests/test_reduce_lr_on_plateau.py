"""ReduceLROnPlateau: Keras's behaviour for a float LR, and a real reduction on top of a schedule."""

import os

import keras
import numpy as np
import pytest

from keras_tricks.callbacks import ReduceLROnPlateau
from keras_tricks.schedules import PowerDecay, ScaledSchedule
from tests import helpers


def _model(learning_rate):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 3)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")


def _plateau(callback, model, epochs):
    callback.set_model(model)
    callback.on_train_begin()
    for epoch in range(epochs):
        callback.on_epoch_end(epoch, {"loss": 1.0})


def _lr(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


@pytest.mark.parametrize("learning_rate", [0.1, PowerDecay(0.1, decay_steps=1e9)])
def test_waits_patience_epochs_then_reduces_down_to_min_lr(learning_rate):
    model = _model(learning_rate)
    callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=0.03)
    _plateau(callback, model, 1)  # first epoch sets the best
    assert _lr(model) == pytest.approx(0.1)
    callback.on_epoch_end(1, {"loss": 1.0})
    assert _lr(model) == pytest.approx(0.1)
    callback.on_epoch_end(2, {"loss": 1.0})
    assert _lr(model) == pytest.approx(0.05)
    callback.on_epoch_end(3, {"loss": 0.5})  # an improvement resets the wait
    callback.on_epoch_end(4, {"loss": 0.5})
    assert _lr(model) == pytest.approx(0.05)
    callback.on_epoch_end(5, {"loss": 0.5})
    assert _lr(model) == pytest.approx(0.03)


def test_float_learning_rate_matches_kerass_callback():
    ours, theirs = _model(0.1), _model(0.1)
    _plateau(ReduceLROnPlateau(monitor="loss", factor=0.2, patience=1, cooldown=1), ours, 6)
    _plateau(keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.2, patience=1, cooldown=1), theirs, 6)
    assert _lr(ours) == pytest.approx(_lr(theirs))


def test_the_reduction_really_changes_the_applied_step_in_graph():
    """One SGD step after a 10x reduction moves the weights a tenth as far (on jax too: retraced)."""
    x, y = _data()
    moves = []
    for reduce in (False, True):
        model = _model(PowerDecay(0.05, decay_steps=1e9))
        callback = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=0)
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
        if reduce:
            callback.on_epoch_end(1, {"loss": 1e9})
        before = model.get_weights()
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        moves.append([a - b for a, b in zip(model.get_weights(), before, strict=True)])
    for full, reduced in zip(*moves, strict=True):
        np.testing.assert_allclose(reduced, 0.1 * full, rtol=1e-4, atol=1e-7)


def test_the_factor_survives_keras_save_and_load(tmp_path):
    x, y = _data()
    model = _model(PowerDecay(0.1, decay_steps=100))
    callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callback])
    callback.on_epoch_end(1, {"loss": 1e9})
    loaded = helpers.assert_saved_model_roundtrip(model, x, tmp_path)
    assert _lr(loaded) == pytest.approx(_lr(model))
    assert _lr(loaded) == pytest.approx(0.5 * 0.1 / (1 + 2 / 100), rel=1e-5)


def test_scaled_schedule_round_trips():
    schedule = ScaledSchedule(PowerDecay(0.1, 10, 2.0), factor=0.25)
    helpers.assert_config_covers_init(schedule)
    helpers.assert_config_roundtrip(schedule)
    restored = helpers.assert_serialization_roundtrip(schedule)
    assert float(restored(10)) == pytest.approx(0.25 * 0.1 / 4)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(factor=1.0), ValueError, "factor=1.0"),
        (dict(factor=0.0), ValueError, "factor=0.0"),
        (dict(factor=float("nan")), ValueError, "factor=nan"),
        (dict(patience=-1), ValueError, "patience=-1"),
        (dict(cooldown=1.5), TypeError, "cooldown=1.5"),
        (dict(mode="up"), ValueError, "mode='up'"),
        (dict(min_lr=-0.1), ValueError, "min_lr=-0.1"),
    ],
)
def test_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        ReduceLROnPlateau(**kwargs)


@pytest.mark.parametrize(
    "args, error, match",
    [((0.1,), TypeError, "schedule=0.1"), ((PowerDecay(0.1, 1), -2.0), ValueError, "factor=-2.0")],
)
def test_scaled_schedule_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        ScaledSchedule(*args)


@pytest.mark.parametrize("learning_rate", [0.05, PowerDecay(0.05, decay_steps=10)])
def test_resumed_by_backup_and_restore_it_continues_as_an_uninterrupted_run(learning_rate, tmp_path):
    # Flat, better at epoch 3, flat again (patience 1, cooldown 1): six reductions, four of them after the
    # interruption at epoch 4; a resume that lost the best value and counters would make five, and one
    # that lost the schedule's factor would drop the first two.
    val = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5]
    x, y = _data()

    def run(model, callbacks):
        script = helpers.ScriptedLogs(val_loss=val)
        model.fit(
            x, y, epochs=len(val), batch_size=8, verbose=0, shuffle=False, callbacks=[script, *callbacks]
        )

    def arguments(**kwargs):
        return {"factor": 0.5, "patience": 1, "cooldown": 1, **kwargs}

    straight = _model(learning_rate)
    reference = ReduceLROnPlateau(**arguments())
    run(straight, [reference])

    resumed = _model(learning_rate)
    state_dir = str(tmp_path / "plateau")
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        run(resumed, [backup, ReduceLROnPlateau(**arguments(backup_dir=state_dir)), helpers.Interrupt(4)])
    resumed.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")  # a new process
    fresh = ReduceLROnPlateau(**arguments(backup_dir=state_dir))
    run(resumed, [backup, fresh])

    assert _lr(resumed) == pytest.approx(_lr(straight), rel=1e-6)
    untouched = learning_rate(resumed.optimizer.iterations) if callable(learning_rate) else learning_rate
    assert _lr(resumed) == pytest.approx(0.5**6 * float(untouched), rel=1e-5)
    helpers.assert_same_attributes(fresh, reference, "best", "wait", "cooldown_counter")
    helpers.assert_resumed_equals_uninterrupted(resumed, straight, rtol=1e-5, atol=1e-6)
    assert not os.path.exists(state_dir)  # training finished: nothing left to resume
