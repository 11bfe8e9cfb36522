"""A callback's own state on disk, so that a `fit` resumed by `keras.callbacks.BackupAndRestore` continues it.

`BackupAndRestore` saves the model and its optimizer at each epoch end and, on restart, sets the epoch to
resume from; a callback's Python attributes are lost. Callbacks that need theirs (early stopping's best
value and best weights, SWA's running average) write them here at each epoch end, in a directory of their
own (`BackupAndRestore`'s directory must hold only its files):

- `state.json`: the last finished epoch, the callback's scalars, and the name of the arrays file;
- `arrays-<epoch>.npz`: its arrays, written only when they change.

Each file is written to a temporary name and renamed, and the JSON names the arrays file it goes with, so
an interruption while saving leaves the previous consistent state.

A callback calls `begin()` in `on_train_begin`, `resume(epoch)` in `on_epoch_begin`, `save(...)` in
`on_epoch_end` and `clear()` in `on_train_end`: the saved state is handed back only if training starts at
the epoch after the one it was saved at; a state from elsewhere in training (a run restarted from scratch)
is discarded with a warning. Without a directory (`backup_dir=None`, the callbacks' default) every method
does nothing, so the callbacks call them unconditionally; `enabled` says whether a state is kept (to skip
work that only feeds `save`).
"""

import json
import os
import warnings

import numpy as np

_STATE_FILE = "state.json"


class CallbackState:
    """Reads and writes one callback's state in `directory` (`None`: keeps nothing)."""

    def __init__(self, directory, owner):
        self.directory = None if directory is None else os.fspath(directory)
        self.owner = owner
        self._arrays_file = None
        self._pending = None

    @property
    def enabled(self):
        """Whether a state is kept (a directory was given)."""
        return self.directory is not None

    def begin(self):
        """Reads the saved state, if any, for `resume`."""
        self._pending = self.load()

    def resume(self, epoch):
        """Returns `(scalars, arrays)` saved after `epoch - 1`, once; `None` if there is nothing to resume."""
        if self._pending is None:
            return None
        saved_epoch, scalars, arrays = self._pending
        self._pending = None
        if epoch == saved_epoch + 1:
            return scalars, arrays
        warnings.warn(
            f"{self.owner}: the state in backup_dir={self.directory!r} was saved after epoch "
            f"{saved_epoch + 1} but training starts at epoch {epoch + 1}; it is ignored.",
            stacklevel=3,
        )
        self.clear()
        return None

    def save(self, epoch, scalars, arrays=None):
        """Records the state after `epoch`; `arrays` (a dict of lists of arrays) only when they changed."""
        if not self.enabled:
            return
        os.makedirs(self.directory, exist_ok=True)
        previous = self._arrays_file
        if arrays is not None:
            name = f"arrays-{epoch}.npz"
            flat = {
                f"{key}/{i}": np.asarray(value)
                for key, values in arrays.items()
                for i, value in enumerate(values)
            }
            flat.update({f"{key}/length": np.asarray(len(values)) for key, values in arrays.items()})
            temporary = os.path.join(self.directory, f"tmp-{name}")
            with open(temporary, "wb") as f:
                np.savez(f, **flat)
            os.replace(temporary, os.path.join(self.directory, name))
            self._arrays_file = name
        record = {"epoch": int(epoch), "scalars": scalars, "arrays": self._arrays_file}
        temporary = os.path.join(self.directory, f"tmp-{_STATE_FILE}")
        with open(temporary, "w") as f:
            json.dump(record, f)
        os.replace(temporary, os.path.join(self.directory, _STATE_FILE))
        if previous is not None and previous != self._arrays_file:
            _remove(os.path.join(self.directory, previous))

    def load(self):
        """Returns `(epoch, scalars, arrays)` as saved, or `None` when nothing was saved."""
        if not self.enabled:
            return None
        path = os.path.join(self.directory, _STATE_FILE)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            record = json.load(f)
        arrays = {}
        self._arrays_file = record["arrays"]
        if self._arrays_file is not None:
            with np.load(os.path.join(self.directory, self._arrays_file)) as flat:
                keys = {name.rsplit("/", 1)[0] for name in flat.files}
                arrays = {
                    key: [flat[f"{key}/{i}"] for i in range(int(flat[f"{key}/length"]))] for key in keys
                }
        return record["epoch"], record["scalars"], arrays

    def clear(self):
        """Deletes the saved state (training finished: nothing to resume)."""
        if not self.enabled:
            return
        for name in os.listdir(self.directory) if os.path.isdir(self.directory) else []:
            if name == _STATE_FILE or name.startswith(("arrays-", "tmp-")):
                _remove(os.path.join(self.directory, name))
        self._arrays_file = None
        if os.path.isdir(self.directory) and not os.listdir(self.directory):
            os.rmdir(self.directory)


def _remove(path):
    if os.path.exists(path):
        os.remove(path)
