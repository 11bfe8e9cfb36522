"""keras_tricks/callbacks/_callback_state.py: the resume protocol of EarlyStopping, ReduceLROnPlateau
and SWA: two records stamped with their epoch, damaged files refused clearly, `backup_dir` checked."""

import json
import os
import stat

import keras
import numpy as np
import pytest

from keras_tricks.callbacks import SWA, EarlyStopping, ReduceLROnPlateau, Unfreeze
from keras_tricks.callbacks._callback_state import CallbackState, StateError


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def _stopper(directory):
    return EarlyStopping(patience=3, restore_best_weights=True, backup_dir=directory)


def _saved(directory, epochs=3):
    """An EarlyStopping that saved its state after `epochs` epochs (then was killed: no train end)."""
    stop = _stopper(directory)
    stop.set_model(_model())
    stop.on_train_begin()
    for epoch, value in enumerate([1.0, 0.5, 0.7][:epochs]):
        stop.on_epoch_end(epoch, {"val_loss": value})
    return stop


def _resumed(directory, epoch=3):
    stop = _stopper(directory)
    stop.set_model(_model())
    stop.on_train_begin()
    stop.on_epoch_begin(epoch)
    return stop


def test_the_record_of_the_epoch_before_the_resumed_one_is_used(tmp_path):
    directory = str(tmp_path / "state")
    _saved(directory)
    assert (_resumed(directory, epoch=3).best, _resumed(directory, epoch=3).wait) == (0.5, 1)
    # killed after the record of epoch 2 but before the checkpoint of epoch 2: resumed at epoch 2
    assert (_resumed(directory, epoch=2).best, _resumed(directory, epoch=2).wait) == (0.5, 0)


def test_only_its_own_files_are_written_and_deleted(tmp_path):
    directory = tmp_path / "state"
    directory.mkdir()
    mine = ["tmp-notes.txt", "arrays-user.npz", "state.json", "keras_tricks_state.json.bak"]
    for name in mine:
        (directory / name).write_text("the user's")
    stop = _saved(str(directory))
    ours = sorted(set(os.listdir(directory)) - set(mine))
    assert ours == ["keras_tricks_arrays-1.npz", "keras_tricks_state.json"]  # the best epoch's weights
    stop.on_train_end()
    assert sorted(os.listdir(directory)) == sorted(mine)


def _damage(directory, how):
    path = os.path.join(directory, "keras_tricks_state.json")
    with open(path) as f:
        record = json.load(f)
    arrays = os.path.join(directory, record["records"][-1]["arrays"]["file"])
    if how == "empty json":
        open(path, "w").close()
    elif how == "truncated json":
        text = json.dumps(record)
        with open(path, "w") as f:
            f.write(text[: len(text) // 2])
    elif how == "not json":
        with open(path, "wb") as f:
            f.write(b"\x80\x81 binary")
    elif how == "a list":
        with open(path, "w") as f:
            json.dump([1, 2], f)
    elif how == "truncated npz":
        data = open(arrays, "rb").read()
        with open(arrays, "wb") as f:
            f.write(data[: len(data) // 2])
    elif how == "empty npz":
        open(arrays, "w").close()
    elif how == "missing npz":
        os.remove(arrays)
    else:  # edits of the record's structure
        if how == "missing key":
            del record["records"]
        elif how == "wrong type":
            record["records"][-1]["epoch"] = "two"
        elif how == "bool epoch":
            record["records"][-1]["epoch"] = True
        elif how == "scalars not a dict":
            record["records"][-1]["scalars"] = [1]
        elif how == "foreign arrays name":
            record["records"][-1]["arrays"]["file"] = "../../etc/passwd"
        elif how == "unknown format":
            record["format"] = 99
        elif how == "another callback":
            record["callback"] = "ReduceLROnPlateau"
        elif how == "another configuration":
            record["config"]["patience"] = 7
        with open(path, "w") as f:
            json.dump(record, f)


DAMAGES = {
    "empty json": "cannot be read",
    "truncated json": "cannot be read",
    "not json": "cannot be read",
    "a list": "is damaged: expected a JSON object",
    "missing key": "is damaged: 'records' is missing",
    "wrong type": "is damaged: a record has no integer 'epoch'",
    "bool epoch": "is damaged: a record has no integer 'epoch'",
    "scalars not a dict": "is damaged: a record is not an object with 'scalars'",
    "foreign arrays name": "is damaged: a record's 'arrays' entry",
    "unknown format": "is damaged: format 99",
    "another callback": "was written by ReduceLROnPlateau, not by EarlyStopping",
    "another configuration": "another configuration \\(patience: saved 7, now 3\\)",
    "truncated npz": "cannot be read",
    "empty npz": "cannot be read",
    "missing npz": "cannot be read",
}


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_a_damaged_state_fails_at_train_begin_naming_file_callback_folder_and_the_fix(tmp_path, how):
    directory = str(tmp_path / "state")
    _saved(directory)
    _damage(directory, how)
    stop = _stopper(directory)
    stop.set_model(_model())
    with pytest.raises(StateError, match=DAMAGES[how]) as info:
        stop.on_train_begin()
    message = str(info.value)
    assert message.startswith("EarlyStopping: the saved state '")
    assert f"backup_dir={directory!r}" in message and "Delete that folder to start training afresh" in message


@pytest.mark.parametrize(
    "value, error, match",
    [
        ("", ValueError, "non-empty path. Received: backup_dir=''"),
        (123, TypeError, "Expected backup_dir to be a path .* Received: backup_dir=123"),
        (["a"], TypeError, "Received: backup_dir=\\['a'\\]"),
    ],
)
@pytest.mark.parametrize("callback", [EarlyStopping, ReduceLROnPlateau, lambda **k: SWA(0, **k)])
def test_backup_dir_is_checked_at_construction(callback, value, error, match):
    with pytest.raises(error, match=match):
        callback(backup_dir=value)


def test_backup_dir_under_a_file_or_unwritable_is_refused_at_construction(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        EarlyStopping(backup_dir=str(a_file))
    with pytest.raises(ValueError, match="on its path is a file"):
        EarlyStopping(backup_dir=str(a_file / "below"))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: nothing to check then
            pytest.skip("running as root: every folder is writable")
        with pytest.raises(ValueError, match="not writable"):
            EarlyStopping(backup_dir=str(locked / "state"))
    finally:
        locked.chmod(stat.S_IRWXU)


@pytest.mark.parametrize(
    "callbacks",
    [
        lambda shared: [
            EarlyStopping(monitor="loss", backup_dir=shared),
            ReduceLROnPlateau(monitor="loss", backup_dir=shared),
        ],
        lambda shared: [
            keras.callbacks.BackupAndRestore(shared),
            EarlyStopping(monitor="loss", backup_dir=shared),
        ],
    ],
    ids=["two ours", "Keras's BackupAndRestore and ours"],
)
def test_two_callbacks_given_one_folder_are_refused_at_train_begin(callbacks, tmp_path):
    x = np.zeros((4, 2), "float32")
    with pytest.raises(ValueError, match="are given the same backup_dir"):
        _model().fit(x, x[:, :1], epochs=1, verbose=0, callbacks=callbacks(str(tmp_path / "state")))


def test_a_resumable_callback_without_backup_dir_warns_beside_backup_and_restore(tmp_path):
    model = _model()
    x = np.zeros((4, 2), "float32")
    with pytest.warns(
        UserWarning, match="EarlyStopping has no backup_dir, but this fit uses BackupAndRestore"
    ):
        model.fit(
            x,
            x[:, :1],
            epochs=1,
            verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "b")), EarlyStopping(monitor="loss")],
        )


def test_unfreeze_backup_dir_is_deprecated(tmp_path):
    with pytest.warns(DeprecationWarning, match="no longer needed"):
        Unfreeze(["a"], 1, backup_dir=str(tmp_path))


def test_the_state_keeps_two_records_and_the_arrays_they_name(tmp_path):
    state = CallbackState(str(tmp_path), "Test", {"a": 1})
    state.begin()
    state.save(0, {"x": 0}, {"w": {"k": np.zeros(2)}})
    state.save(1, {"x": 1})
    state.save(2, {"x": 2}, {"w": {"k": np.ones(2)}})
    with open(tmp_path / "keras_tricks_state.json") as f:
        record = json.load(f)
    assert [r["epoch"] for r in record["records"]] == [1, 2]
    assert sorted(os.listdir(tmp_path)) == [
        "keras_tricks_arrays-0.npz",
        "keras_tricks_arrays-2.npz",
        "keras_tricks_state.json",
    ]
    again = CallbackState(str(tmp_path), "Test", {"a": 1})
    again.begin()
    scalars, arrays = again.resume(2)
    assert scalars == {"x": 1} and arrays["w"]["k"].tolist() == [0.0, 0.0]
