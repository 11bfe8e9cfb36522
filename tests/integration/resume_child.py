"""Run by `test_resume_after_kill.py` in a process of its own: a resumable fit, killed or not.

    python resume_child.py CHECKOUT WORKDIR CASE ORDER_SEED KILL

Trains the case's recipe (every resumable piece) with `keras.callbacks.BackupAndRestore` and the
callbacks' own `backup_dir`s in WORKDIR, in the callback order ORDER_SEED shuffles. KILL says where the
process kills itself with SIGKILL (by its own pid): `none`, `before_checkpoint:E` (at the end of epoch E,
when BackupAndRestore starts writing its checkpoint: every keras-tricks state of E is written),
`between_saves:E` (after the first keras-tricks state of E is written, before the others),
`inside_state_write:E` (a keras-tricks state file of E written to its temporary name, not yet renamed),
`checkpoint_written:E` (right after BackupAndRestore wrote the checkpoint of E, before the callbacks
listed after it),
`after_checkpoint:E` (when epoch E + 1 begins) or `batch:E:B` (after batch B of epoch E). A run that
completes writes WORKDIR/result.json: weights, optimizer variables (by key), the history, the stopping
and best epochs, SWA's averaged epochs and the learning rate each epoch ran with.
"""

import json
import os
import random
import signal
import sys

sys.path.insert(0, sys.argv[1])

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_tricks import callbacks as kt  # noqa: E402
from keras_tricks import optimizers, schedules  # noqa: E402
from keras_tricks.callbacks import _callback_state  # noqa: E402
from keras_tricks.optimizers import _chain  # noqa: E402
from tests.integration import combined  # noqa: E402

WORKDIR, CASE, ORDER_SEED, KILL = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
EPOCHS, BATCH, SAMPLES = 7, 8, 64
STEPS = EPOCHS * SAMPLES // BATCH
# Scripted validation losses: improvements, plateaus and a rise, so that every decision happens.
VAL_LOSS = [1.0, 0.8, 0.82, 0.9, 0.7, 0.75, 0.95]
CASES = {
    # case: (rate, early stopping arguments, unfreeze arguments)
    "float-patience": ("float", {"patience": 2}, {"layers": ["base"], "epoch": 2, "lr_multiplier": 0.5}),
    "float-gl": ("float", {"criterion": "gl", "alpha": 20.0}, {"layers": ["base"], "epoch": 2}),
    "schedule-pq": (
        "schedule",
        {"criterion": "pq", "alpha": 0.5, "strip_length": 2},
        {"layers": [["base"], ["mid"]], "epoch": 1, "gradual": True, "group_lr_multipliers": [0.5, 1.0]},
    ),
    "schedule-up": (
        "schedule",
        {"criterion": "up", "strip_length": 1, "strips": 2},
        {"layers": [["base"], ["mid"]], "epoch": 1, "gradual": True},
    ),
}


def kill():
    os.kill(os.getpid(), signal.SIGKILL)


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 6)).astype("float32")
    return x, np.tanh(x @ rng.normal(size=(6, 1))).astype("float32") * 3.0


def build(rate):
    model = combined.network()
    if rate == "float":
        inner = keras.optimizers.SGD(0.05, momentum=0.9)
    else:
        cycle = schedules.OneCycle(0.05, total_steps=STEPS, max_momentum=0.95, base_momentum=0.85)
        inner = optimizers.CyclicMomentum(keras.optimizers.SGD(cycle, momentum=0.9))
    model.compile(
        loss="mse", optimizer=optimizers.GradientClipping(inner, "percentile", percentile=50.0, window=8)
    )
    return model


class ScriptedValLoss(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = VAL_LOSS[epoch]


class Record(keras.callbacks.Callback):
    """The learning rate each epoch ran with, appended to a file (a resumed run continues it)."""

    def on_epoch_begin(self, epoch, logs=None):
        with open(os.path.join(WORKDIR, "rates.jsonl"), "a") as f:
            f.write(json.dumps([epoch, _chain.learning_rate(self.model.optimizer)]) + "\n")


class KillAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch
        if self.batch is None and epoch == self.epoch + 1:
            kill()

    def on_train_batch_end(self, batch, logs=None):
        if self.batch is not None and self.current == self.epoch and batch == self.batch:
            kill()


def install_kill(model, callbacks):
    kind, *where = KILL.split(":")
    where = [int(w) for w in where]
    current = {"epoch": None}

    class Epoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            current["epoch"] = epoch

    callbacks.insert(0, Epoch())
    if kind == "before_checkpoint":
        save_weights = model.save_weights

        def save_then_maybe_die(*args, **kwargs):
            if current["epoch"] == where[0]:
                kill()
            return save_weights(*args, **kwargs)

        model.save_weights = save_then_maybe_die
    elif kind in ("between_saves", "inside_state_write"):
        original_save = _callback_state.CallbackState.save
        original_write = _callback_state._write_atomically

        def save(self, epoch, *args, **kwargs):
            original_save(self, epoch, *args, **kwargs)
            if kind == "between_saves" and epoch == where[0]:
                kill()

        def write(path, *args, **kwargs):
            if kind == "inside_state_write" and current["epoch"] == where[0] and path.endswith(".json"):
                temporary = f"{path}.tmp"
                with open(temporary, "w") as f:
                    f.write('{"format": 1, "truncated')  # a half-written temporary file
                kill()
            return original_write(path, *args, **kwargs)

        _callback_state.CallbackState.save = save
        _callback_state._write_atomically = write
    elif kind == "checkpoint_written":
        original_end = keras.callbacks.BackupAndRestore.on_epoch_end

        def end_then_maybe_die(self, epoch, logs=None):
            original_end(self, epoch, logs)
            if epoch == where[0]:
                kill()

        keras.callbacks.BackupAndRestore.on_epoch_end = end_then_maybe_die
    elif kind == "after_checkpoint":
        callbacks.append(KillAt(where[0]))
    elif kind == "batch":
        callbacks.append(KillAt(where[0], where[1]))


def main():
    rate, stop_arguments, unfreeze_arguments = CASES[CASE]
    model = build(rate)
    state = os.path.join(WORKDIR, "state-{}").format
    stop = kt.EarlyStopping(
        restore_best_weights=True, restore_optimizer=True, backup_dir=state("stop"), **stop_arguments
    )
    swa = kt.SWA(start_epoch=1, backup_dir=state("swa"))
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(WORKDIR, "backup")),
        stop,
        kt.ReduceLROnPlateau(factor=0.5, patience=0, min_delta=1e-3, backup_dir=state("plateau")),
        kt.Unfreeze(**unfreeze_arguments),
        swa,
        kt.GradientNormLogger(),
        kt.LearningRateLogger(),
    ]
    random.Random(ORDER_SEED).shuffle(callbacks)
    # Any order, but SWA after EarlyStopping: both set the final weights, and the one listed last
    # decides (documented); the resumed run must equal the uninterrupted one, not another order's.
    if callbacks.index(swa) < callbacks.index(stop):
        i, j = callbacks.index(swa), callbacks.index(stop)
        callbacks[i], callbacks[j] = stop, swa
    callbacks = [ScriptedValLoss(), *callbacks, Record()]
    if KILL != "none":
        install_kill(model, callbacks)
    x, y = data()
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=callbacks)
    keys = _chain.variable_keys(model.optimizer, model)
    rates = {}
    with open(os.path.join(WORKDIR, "rates.jsonl")) as f:
        for line in f:  # an epoch run again after the kill overwrites its first record
            epoch, rate = json.loads(line)
            rates[epoch] = rate
    result = {
        "order": [type(c).__name__ for c in callbacks],
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        "stopped_epoch": int(stop.stopped_epoch),
        "best_epoch": int(stop.best_epoch),
        "averaged_epochs": int(swa.averaged_epochs),
        "rates": [rates[epoch] for epoch in sorted(rates)],
        "weights": [np.asarray(w).tolist() for w in model.get_weights()],
        "optimizer_variables": {
            keys[id(v)]: np.asarray(keras.ops.convert_to_numpy(v)).tolist() for v in model.optimizer.variables
        },
        "leftovers": sorted(os.listdir(WORKDIR)),
    }
    with open(os.path.join(WORKDIR, "result.json"), "w") as f:
        json.dump(result, f)


main()
