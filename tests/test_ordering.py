"""keras_tricks.callbacks._ordering: where keras-tricks callbacks stand in a fit's callback list. The
roles each callback declares; `arranged` (loggers first, Keras's log readers after the last writer,
`BackupAndRestore` after the last resumable callback, nothing else moved); `arrange` rebinding the
`CallbackList` that calls `set_model`; `check_arranged` warning with the order to use; and the one
OneCycle check per fit."""

import warnings

import keras
import numpy as np
import pytest

from keras_tricks.callbacks import (
    SWA,
    ActivationStats,
    Diagnose,
    EarlyStopping,
    GradientNormLogger,
    LearningRateLogger,
    ReduceLROnPlateau,
    Unfreeze,
    _ordering,
)
from keras_tricks.schedules import OneCycle


class Logger(_ordering.Arranged, keras.callbacks.Callback):
    _keras_tricks_roles = (_ordering.LOGGER,)


class Writer(_ordering.Arranged, keras.callbacks.Callback):
    _keras_tricks_roles = (_ordering.WRITER,)


class Keeper(_ordering.Arranged, keras.callbacks.Callback):
    _keras_tricks_roles = (_ordering.RESUMABLE,)


class Checked(_ordering.Arranged, keras.callbacks.Callback):
    """Checks the order at train begin, as the resumable callbacks do."""

    def on_train_begin(self, logs=None):
        _ordering.check_arranged(self)


class User(keras.callbacks.Callback):
    pass


def _names(callbacks):
    return [type(c).__name__ for c in callbacks]


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


# roles


def test_each_keras_tricks_callback_declares_its_roles():
    expected = {
        GradientNormLogger(): {_ordering.LOGGER},
        LearningRateLogger(): {_ordering.LOGGER},
        ActivationStats(np.ones((2, 2), "float32")): {_ordering.LOGGER},
        Diagnose(): {_ordering.WRITER},
        EarlyStopping(): {_ordering.WRITER, _ordering.RESUMABLE},
        ReduceLROnPlateau(): {_ordering.WRITER, _ordering.RESUMABLE},
        SWA(start_epoch=1): {_ordering.RESUMABLE},
        Unfreeze(["out"], epoch=1): {_ordering.RESUMABLE},
    }
    for callback, roles in expected.items():
        assert set(_ordering.roles(callback)) == roles, type(callback).__name__


def test_only_an_arranged_callback_has_roles():
    class Pretender(keras.callbacks.Callback):
        _keras_tricks_roles = (_ordering.LOGGER,)

    assert _ordering.roles(Pretender()) == ()
    assert _ordering.roles(keras.callbacks.CSVLogger("log.csv")) == ()
    assert _ordering.roles(Checked()) == ()


# arranged: a pure function of the list


def test_loggers_go_first_and_everything_else_keeps_the_users_order():
    a, b, logger1, c, logger2 = User(), User(), Logger(), keras.callbacks.TerminateOnNaN(), Logger()
    order = _ordering.arranged([a, b, logger1, c, logger2])
    assert [id(x) for x in order] == [id(x) for x in (logger1, logger2, a, b, c)]


def test_keras_log_readers_move_just_after_the_last_writer_and_no_further(tmp_path):
    csv = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    board = keras.callbacks.TensorBoard(str(tmp_path / "tb"))
    history, stop = keras.callbacks.History(), keras.callbacks.EarlyStopping()
    user, writer, after = User(), Writer(), User()
    order = _ordering.arranged([csv, history, user, stop, writer, after, board])
    # csv and history move right after the writer; Keras's EarlyStopping reads logs to decide, not to
    # record them: it stays; a reader already after the writer stays where it is.
    assert [id(x) for x in order] == [id(x) for x in (user, stop, writer, csv, history, after, board)]


def test_a_logger_counts_as_a_writer_for_keras_readers(tmp_path):
    csv = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    progbar, user, logger = keras.callbacks.ProgbarLogger(), User(), Logger()
    order = _ordering.arranged([progbar, csv, user, logger])
    assert [id(x) for x in order] == [id(x) for x in (logger, progbar, csv, user)]


def test_backup_and_restore_moves_just_after_the_last_resumable_callback(tmp_path):
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    user, keeper1, keeper2, after = User(), Keeper(), Keeper(), User()
    order = _ordering.arranged([backup, keeper1, user, keeper2, after])
    assert [id(x) for x in order] == [id(x) for x in (keeper1, user, keeper2, backup, after)]


# Found by this module: with no anchor, _move_after took the last callback as one (max(..., default=-1)
# then order[:-1]) and moved the readers and BackupAndRestore behind the user's callbacks.
def test_a_list_without_keras_tricks_writers_or_resumables_is_left_as_it_is(tmp_path):
    callbacks = [
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
        User(),
        keras.callbacks.History(),
    ]
    assert _names(_ordering.arranged(callbacks)) == _names(callbacks)


def test_in_a_fit_with_only_a_resumable_callback_log_readers_stay_before_the_users_callbacks(tmp_path):
    # As fit builds its list: the user's callbacks, then History and ProgbarLogger. Unfreeze writes no
    # logs, so CSVLogger has no reason to move past the user's callback (which would then see its keys).
    csv = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    callbacks = [csv, Unfreeze(["out"], epoch=1), User()]
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=True, model=_model()
    )
    assert _names(callback_list.callbacks) == ["CSVLogger", "Unfreeze", "User", "History", "ProgbarLogger"]


def test_readers_already_after_every_writer_and_a_backup_after_every_resumable_stay(tmp_path):
    callbacks = [
        Writer(),
        Keeper(),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
        User(),
        keras.callbacks.History(),
    ]
    assert [id(x) for x in _ordering.arranged(callbacks)] == [id(x) for x in callbacks]


def test_arranging_twice_changes_nothing(tmp_path):
    callbacks = [
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        User(),
        Keeper(),
        Logger(),
        Writer(),
        keras.callbacks.History(),
    ]
    once = _ordering.arranged(callbacks)
    assert _names(once) == ["Logger", "User", "Keeper", "BackupAndRestore", "Writer", "CSVLogger", "History"]
    assert [id(x) for x in _ordering.arranged(once)] == [id(x) for x in once]


# arrange: the CallbackList that sets the model up is rebound


def test_a_callback_list_is_arranged_when_it_sets_the_model_and_every_callback_is_set_once(tmp_path):
    class Counting(User):
        calls = 0

        def set_model(self, model):
            super().set_model(model)
            Counting.calls += 1

    csv = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    user, logger = Counting(), Logger()
    model = _model()
    callback_list = keras.callbacks.CallbackList([csv, user, logger], add_history=True, model=model)
    assert _names(callback_list.callbacks) == ["Logger", "CSVLogger", "Counting", "History"]
    assert Counting.calls == 1  # the list's own loop went on over the old list, undisturbed
    assert all(c.model is model for c in callback_list.callbacks)


def test_arrange_outside_a_callback_list_finds_nothing_and_returns_none():
    assert _ordering.arrange(Logger()) is None
    logger = Logger()
    logger.set_model(_model())  # a hook called by hand: no list to arrange, no error
    assert logger.model is not None


def test_arrange_in_a_real_fit_lets_csv_logger_read_what_a_later_listed_writer_writes(tmp_path):
    class Writing(Writer):
        def on_epoch_end(self, epoch, logs=None):
            logs["written"] = 10.0 + epoch

    path = str(tmp_path / "log.csv")
    model = _model()
    x, y = np.ones((8, 2), "float32"), np.zeros((8, 1), "float32")
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.CSVLogger(path), Writing()])
    assert history.history["written"] == [10.0, 11.0]  # History, added by Keras, moved after it too
    with open(path) as f:
        header, *rows = f.read().splitlines()
    column = header.split(",").index("written")
    assert [float(row.split(",")[column]) for row in rows] == [10.0, 11.0]


# check_arranged


def test_check_arranged_warns_with_the_order_to_use_when_the_list_was_not_arranged(tmp_path):
    csv = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    callback_list = keras.callbacks.CallbackList([csv, Checked(), Logger()])  # no model: never arranged
    with pytest.warns(UserWarning, match=r"Checked: .* list them as \[Logger, CSVLogger, Checked\]\."):
        callback_list.on_train_begin()


def test_check_arranged_is_silent_on_an_arranged_list_and_outside_any_list():
    callback_list = keras.callbacks.CallbackList([Logger(), Checked(), User()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback_list.on_train_begin()
        Checked().on_train_begin()


# Arranged.set_params: one OneCycle check per fit


def test_only_the_first_keras_tricks_callback_checks_a_one_cycle_that_ends_before_the_fit():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    x, y = np.ones((8, 2), "float32"), np.zeros((8, 1), "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # (OneCycle itself warns that 3 steps is a short cycle: recorded here, not counted below.)
        model.compile(optimizer=keras.optimizers.SGD(OneCycle(0.1, total_steps=3)), loss="mse")
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[User(), Logger(), Writer(), Logger()])
    messages = [str(w.message) for w in caught if "OneCycle ends" in str(w.message)]
    assert len(messages) == 1
    assert "This fit runs 4 steps (2 epochs × 2) but its OneCycle ends after total_steps=3" in messages[0]
