"""The one way keras-tricks callbacks keep their state across a `fit` resumed by `BackupAndRestore`.

`keras.callbacks.BackupAndRestore` saves the model and its optimizer at each epoch end and, when a `fit`
starts again, loads them and resumes at the next epoch; a callback's Python attributes are lost.
`Resumable` callbacks (`EarlyStopping`, `ReduceLROnPlateau`, `SWA`) write theirs, at each epoch end
after their decision, to a directory of their own (`backup_dir`, not `BackupAndRestore`'s), and read
it back when the `fit` resumes. The callback list is arranged so that they do so before
`BackupAndRestore` writes its checkpoint (`_ordering`), and each record is stamped with its epoch:

- at epoch end `e`: the record of `e` is written, the one of `e − 1` is kept;
- a kill before the record of `e` is complete leaves the records up to `e − 1` and the checkpoint of
  `e − 1`; a kill after it but before the checkpoint of `e` is complete leaves the records of `e − 1` and
  `e` and the checkpoint of `e − 1`: either way the `fit` resumes at `e` from the record of `e − 1`;
- a record for another epoch than the one before the resumed epoch is never used.

Files, in `backup_dir` (only these names are ever written or deleted there):

- `keras_tricks_state.json`: the callback's class, the configuration its state depends on, and the last
  two records (epoch, scalars, the arrays file and what it holds);
- `keras_tricks_arrays-<epoch>.npz`: arrays (best weights, an average), keyed by variable key (see
  `keras_tricks._layers`), written only when they change;
- `*.tmp`: a file being written, renamed into place when complete.

A damaged file, a file written by another callback or by another configuration fails at train begin
with one `ValueError` that names the file, the callback and `backup_dir`, and says what to do.
"""

import json
import os
import re
import warnings
import zipfile

import keras
import numpy as np

from keras_tricks import _checks
from keras_tricks.callbacks import _ordering

_FORMAT = 1
_STATE_FILE = "keras_tricks_state.json"
_ARRAYS_FILE = re.compile(r"keras_tricks_arrays-(\d+)\.npz")
_OURS = re.compile(r"keras_tricks_(state\.json|arrays-\d+\.npz)(\.tmp)?")


class StateError(ValueError):
    """A saved callback state that cannot be used (damaged, or written by something else)."""


class CallbackState:
    """Reads and writes the records of one callback in `directory` (`None`: keeps nothing)."""

    def __init__(self, directory, owner, config):
        self.directory = directory
        self.owner = owner
        self.config = json.loads(json.dumps(config))  # as it reads back from the file
        self._records = []
        self._pending = None

    @property
    def enabled(self):
        return self.directory is not None

    def _path(self, name):
        return os.path.join(self.directory, name)

    def _fail(self, name, problem):
        raise StateError(
            f"{self.owner}: the saved state {self._path(name)!r} {problem}. It is in backup_dir="
            f"{self.directory!r}, the folder where {self.owner} keeps its state to resume an interrupted "
            "fit. Delete that folder to start training afresh (or point backup_dir to an empty one)."
        )

    def begin(self):
        """Reads the saved records (at train begin; raises `StateError` for a state it cannot use)."""
        self._records = self._load() if self.enabled else []
        self._pending = list(self._records)

    @property
    def pending(self):
        """Whether saved records wait for `resume` (no epoch has begun since `begin`)."""
        return bool(self._pending)

    def latest(self):
        """`(epoch, scalars)` of the last saved record, or `None`."""
        return (self._records[-1]["epoch"], self._records[-1]["scalars"]) if self._records else None

    def resume(self, epoch):
        """`(scalars, arrays)` saved after `epoch - 1` when a resumed `fit` starts at `epoch`, else `None`.

        Call it at the first `on_epoch_begin` of a `fit`; later calls return `None`.
        """
        pending, self._pending = self._pending, None
        if not pending:
            return None
        match = [r for r in pending if r["epoch"] == epoch - 1]
        if match:
            return match[0]["scalars"], self._read_arrays(match[0])
        warnings.warn(
            f"{self.owner}: the state in backup_dir={self.directory!r} was saved after epoch "
            f"{', '.join(str(r['epoch'] + 1) for r in pending)} but training starts at epoch {epoch + 1} "
            "(not a resume of that run); it is ignored and will be replaced.",
            stacklevel=3,
        )
        self._records = []
        return None

    def save(self, epoch, scalars, arrays=None):
        """Records the state after `epoch`; `arrays` (`{group: {key: array}}`) only when they changed."""
        if not self.enabled:
            return
        os.makedirs(self.directory, exist_ok=True)
        previous = [r for r in self._records if r["epoch"] < epoch][-1:]
        if arrays is not None:
            name = f"keras_tricks_arrays-{epoch}.npz"
            index = {group: list(values) for group, values in arrays.items()}
            flat = {
                f"a{g}_{k}": np.asarray(values[key])
                for g, (group, values) in enumerate(arrays.items())
                for k, key in enumerate(index[group])
            }
            _write_atomically(self._path(name), lambda f: np.savez(f, **flat), binary=True)
            files = {"file": name, "index": index}
        else:
            files = previous[0]["arrays"] if previous else None
        self._records = previous + [{"epoch": int(epoch), "scalars": scalars, "arrays": files}]
        record = {"format": _FORMAT, "callback": self.owner, "config": self.config, "records": self._records}
        _write_atomically(self._path(_STATE_FILE), lambda f: json.dump(record, f))
        self._remove_unreferenced()

    def clear(self):
        """Deletes the state (training finished: nothing to resume), and the folder if it is left empty."""
        self._records, self._pending = [], None
        if not self.enabled or not os.path.isdir(self.directory):
            return
        for name in os.listdir(self.directory):
            if _OURS.fullmatch(name):
                os.remove(self._path(name))
        if not os.listdir(self.directory):
            os.rmdir(self.directory)

    def _remove_unreferenced(self):
        kept = {r["arrays"]["file"] for r in self._records if r["arrays"]}
        for name in os.listdir(self.directory):
            stale = _ARRAYS_FILE.fullmatch(name) and name not in kept
            if stale or (name.endswith(".tmp") and _OURS.fullmatch(name)):
                os.remove(self._path(name))

    def _load(self):
        path = self._path(_STATE_FILE)
        if not os.path.exists(path):
            return []
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            self._fail(_STATE_FILE, f"cannot be read ({type(error).__name__}: {error})")
        problem = _schema_problem(record)
        if problem:
            self._fail(_STATE_FILE, f"is damaged: {problem}")
        if record["callback"] != self.owner:
            self._fail(_STATE_FILE, f"was written by {record['callback']}, not by {self.owner}")
        if record["config"] != self.config:
            changed = sorted(
                key
                for key in {*record["config"], *self.config}
                if record["config"].get(key) != self.config.get(key)
            )
            self._fail(
                _STATE_FILE,
                "was written by a callback with another configuration ("
                + ", ".join(
                    f"{k}: saved {record['config'].get(k)!r}, now {self.config.get(k)!r}" for k in changed
                )
                + ")",
            )
        for entry in record["records"]:
            if entry["arrays"]:
                self._read_arrays(entry)  # fails now, at train begin, rather than at the resumed epoch
        return record["records"]

    def _read_arrays(self, record):
        files = record["arrays"]
        if not files:
            return {}
        name = files["file"]
        try:
            with np.load(self._path(name), allow_pickle=False) as flat:
                return {
                    group: {key: flat[f"a{g}_{k}"] for k, key in enumerate(keys)}
                    for g, (group, keys) in enumerate(files["index"].items())
                }
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            self._fail(name, f"cannot be read ({type(error).__name__}: {error})")


_METADATA = "training_metadata.json"  # BackupAndRestore's record of the epoch to resume at
_RESUMED_AT = "keras_tricks_resumed_at"


def _metadata_path(callbacks):
    for callback in callbacks or ():
        if isinstance(callback, keras.callbacks.BackupAndRestore):
            return os.path.join(os.fspath(callback.backup_dir), _METADATA)
    return None


def checkpoint_epoch(callbacks):
    """The epoch a `fit` resumes at from the checkpoint of a `BackupAndRestore` among `callbacks` (0: none).

    Read from the metadata file `BackupAndRestore` writes beside its checkpoint, before it reads it (the
    callback list is arranged so that keras-tricks callbacks come first); the epoch it recorded even
    after `end_finished_fit` changed the file.
    """
    path = _metadata_path(callbacks)
    if path is None or not os.path.exists(path):
        return 0
    with open(path) as f:
        metadata = json.load(f)
    return int(metadata.get(_RESUMED_AT, metadata["epoch"]))


def end_finished_fit(callbacks, epochs):
    """Makes a resumed `fit` whose checkpoint is that of its last epoch run no epoch at all.

    A fit stopped early (by EarlyStopping) and killed after the checkpoint of its last epoch but before
    it ended would otherwise resume at the next epoch and train on. `BackupAndRestore` reads the epoch to
    resume at from its metadata: set to `epochs`, Keras runs no epoch and goes to `on_train_end`, where
    each callback finishes from its saved state, as the uninterrupted fit did. Call it at train begin.
    """
    path = _metadata_path(callbacks)
    with open(path) as f:
        metadata = json.load(f)
    metadata.setdefault(_RESUMED_AT, metadata["epoch"])
    metadata["epoch"] = int(epochs)
    _write_atomically(path, lambda f: json.dump(metadata, f))


def _schema_problem(record):
    """What is wrong with the structure of a state file, or `None`."""
    if not isinstance(record, dict):
        return f"expected a JSON object, found {type(record).__name__}"
    for key, kind in (("format", int), ("callback", str), ("config", dict), ("records", list)):
        if not isinstance(record.get(key), kind):
            return f"{key!r} is missing or not a {kind.__name__}"
    if record["format"] != _FORMAT:
        return f"format {record['format']} is not the format {_FORMAT} this version of keras-tricks writes"
    for entry in record["records"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("scalars"), dict):
            return "a record is not an object with 'scalars'"
        if isinstance(entry.get("epoch"), bool) or not isinstance(entry.get("epoch"), int):
            return "a record has no integer 'epoch'"
        files = entry.get("arrays")
        if files is not None and not (
            isinstance(files, dict)
            and isinstance(files.get("file"), str)
            and _ARRAYS_FILE.fullmatch(files["file"])
            and isinstance(files.get("index"), dict)
            and all(
                isinstance(keys, list) and all(isinstance(k, str) for k in keys)
                for keys in files["index"].values()
            )
        ):
            return "a record's 'arrays' entry is not a keras-tricks arrays file with its index"
    return None


def _write_atomically(path, write, binary=False):
    temporary = f"{path}.tmp"
    with open(temporary, "wb" if binary else "w") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


class Resumable(_ordering.Arranged):
    """Mixin of the keras-tricks callbacks whose state survives a `fit` resumed by `BackupAndRestore`.

    A subclass calls `_init_state(backup_dir)` in `__init__`, `_begin_state()` in `on_train_begin`,
    `_resume_state(epoch)` in `on_epoch_begin`, `_save_state(epoch)` at the end of `on_epoch_end` and
    `_clear_state()` in `on_train_end`, and defines:

    - `_state_config()`: the arguments the saved state depends on (a state saved with others is refused);
    - `_state_to_save()`: `(scalars, arrays)`, a JSON-able dict and `{group: {key: array}}` or `None` when
      the arrays did not change since the last save;
    - `_state_restored(scalars, arrays)`: puts a saved state back.
    """

    _keras_tricks_roles = (_ordering.RESUMABLE,)

    def _init_state(self, backup_dir):
        self.backup_dir = _checks.directory("backup_dir", backup_dir)
        self._state = None

    def _begin_state(self):
        _ordering.check_arranged(self)
        self._check_peers()
        self._state = CallbackState(self.backup_dir, type(self).__name__, self._state_config())
        self._state.begin()

    def _check_peers(self):
        peers = self._peers or []
        restore = [c for c in peers if isinstance(c, keras.callbacks.BackupAndRestore)]
        if self.backup_dir is None:
            if restore:
                warnings.warn(
                    f"{type(self).__name__} has no backup_dir, but this fit uses BackupAndRestore: a fit "
                    f"resumed from its checkpoint would start {type(self).__name__} afresh. Pass "
                    "backup_dir=<a folder of its own> to resume it too.",
                    stacklevel=4,
                )
            return
        mine = os.path.abspath(self.backup_dir)
        for other in peers:
            theirs = getattr(other, "backup_dir", None)
            if other is self or theirs is None or os.path.abspath(os.fspath(theirs)) != mine:
                continue
            raise ValueError(
                f"{type(self).__name__} and {type(other).__name__} are given the same backup_dir: each "
                "needs a folder of its own (BackupAndRestore deletes its folder when training ends). "
                f"Received: backup_dir={self.backup_dir!r}"
            )

    def _resume_state(self, epoch):
        saved = self._state.resume(epoch) if self._state is not None else None
        if saved is not None:
            self._state_restored(*saved)

    def _finish_state(self):
        """At train end: a resumed fit that ran no epoch (it had ended) takes the state it ended with."""
        if self._state is not None and self._state.pending:
            self._resume_state(checkpoint_epoch(self._peers))

    def _save_state(self, epoch):
        if self._state is not None and self._state.enabled:  # the state is only gathered when kept
            self._state.save(epoch, *self._state_to_save())

    def _clear_state(self):
        if self._state is not None:
            self._state.clear()
