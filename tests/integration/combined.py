"""The combined recipe of the integration tests: every keras-tricks training piece in one `fit`.

A small regression model trained with `GradientClipping` (AutoClip, the mode with the most state) around
SGD with momentum on a `OneCycle` schedule, and the callbacks `Unfreeze`, `GradientNormLogger`,
`LearningRateLogger` and `EarlyStopping` together. Imported by the tests of this directory and by the
subprocess children (`distributed_child.py`), so every run compares the same thing.
"""

import keras
import numpy as np

from keras_tricks.callbacks import EarlyStopping, GradientNormLogger, LearningRateLogger, Unfreeze
from keras_tricks.optimizers import GradientClipping
from keras_tricks.schedules import OneCycle
from tests import helpers

BATCH = 32
EPOCHS = 8
SAMPLES = 256
STEPS = EPOCHS * SAMPLES // BATCH
LOGGED = ("loss", "val_loss", "learning_rate", "grad_norm", "grad_norm_max", "grad_clip_rate")


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(SAMPLES + 64, 6)).astype("float32")
    y = (np.tanh(x @ rng.normal(size=(6, 1))) * 3.0 + 0.1 * rng.normal(size=(SAMPLES + 64, 1))).astype(
        "float32"
    )
    return (x[:SAMPLES], y[:SAMPLES]), (x[SAMPLES:], y[SAMPLES:])


def network():
    """The recipe's regression network, seeded (also the resume children's)."""
    return helpers.tanh_net(seed=3, inputs=6, base=16, mid=8)


def build(mode="percentile", inner=None, **compile_kwargs):
    model = network()
    if inner is None:
        inner = keras.optimizers.SGD(OneCycle(0.05, total_steps=STEPS), momentum=0.9)
    optimizer = GradientClipping(inner, mode, threshold=1.0, percentile=50.0, window=16)
    model.compile(loss="mse", optimizer=optimizer, **compile_kwargs)
    return model


def callbacks(backup_dir=None):
    # min_delta makes the stopping epoch a decision on real losses that lands inside the run.
    state = (lambda name: None) if backup_dir is None else (lambda name: f"{backup_dir}-{name}")
    return [
        Unfreeze(["base"], epoch=2),
        GradientNormLogger(per_layer=False),
        LearningRateLogger(),
        EarlyStopping(monitor="val_loss", min_delta=0.01, patience=1, backup_dir=state("early_stopping")),
    ]


def wrapper(model):
    optimizer = model.optimizer
    while not isinstance(optimizer, GradientClipping):
        optimizer = optimizer.inner_optimizer
    return optimizer


def summary(model, history, stop):
    """Everything the comparisons look at, as plain Python (JSON-able) values."""
    optimizer = model.optimizer
    clip = wrapper(model)
    return {
        "history": {key: [float(v) for v in history.history[key]] for key in LOGGED},
        "epochs_run": len(history.history["loss"]),
        "stopped_epoch": int(stop.stopped_epoch),
        "weights": [np.asarray(w).tolist() for w in model.get_weights()],
        "optimizer_variables": {
            v.path: np.asarray(keras.ops.convert_to_numpy(v)).tolist() for v in optimizer.variables
        },
        "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
        "learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
        "autoclip_history": np.asarray(keras.ops.convert_to_numpy(clip.norm_history)).tolist(),
        "autoclip_count": int(keras.ops.convert_to_numpy(clip.history_count)),
    }


def assert_same_run(run, single, history_keys):
    """`run` (a `summary` of the recipe on several devices or processes) decided and trained as `single`.

    The same stopping epoch, steps and AutoClip history length; the logged `history_keys`, the AutoClip
    history and the weights to 1e-5 relative; the clip rates exactly and the learning rates to 1e-7.
    """
    for key in ("stopped_epoch", "epochs_run", "iterations", "autoclip_count"):
        assert run[key] == single[key], key
    assert 2 <= single["stopped_epoch"] < EPOCHS - 1  # it stopped after the unfreeze
    for key in history_keys:
        np.testing.assert_allclose(run["history"][key], single["history"][key], rtol=1e-5, err_msg=key)
    assert run["history"]["grad_clip_rate"] == single["history"]["grad_clip_rate"]
    np.testing.assert_allclose(run["history"]["learning_rate"], single["history"]["learning_rate"], rtol=1e-7)
    np.testing.assert_allclose(run["autoclip_history"], single["autoclip_history"], rtol=1e-5)
    for a, b in zip(run["weights"], single["weights"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def process_shard(arrays, process, processes):
    """The rows process `process` of `processes` feeds, so that the processes' batches side by side are
    the one-process batches of `BATCH` rows, in the same order (multi-process `keras.distribution`)."""
    per_process = BATCH // processes
    rows = np.arange(len(arrays[0])).reshape(-1, BATCH)[
        :, process * per_process : (process + 1) * per_process
    ]
    return tuple(a[rows.ravel()] for a in arrays)


def train(model=None, backup_dir=None, extra_callbacks=(), shard=None, **fit_kwargs):
    """Trains the combined recipe; with `backup_dir`, resumable (`BackupAndRestore` after `Unfreeze`).

    `shard=(process, processes)`: this process feeds its share of each global batch (`process_shard`).
    """
    model = build() if model is None else model
    (x, y), validation = data()
    batch = BATCH
    if shard is not None:
        (x, y), validation = process_shard((x, y), *shard), process_shard(validation, *shard)
        batch = BATCH // shard[1]
    own = callbacks(backup_dir)
    if backup_dir is not None:
        own.insert(1, keras.callbacks.BackupAndRestore(backup_dir))
    history = model.fit(
        x,
        y,
        batch_size=batch,
        epochs=EPOCHS,
        shuffle=False,
        validation_data=validation,
        verbose=0,
        callbacks=[*extra_callbacks, *own],
        **fit_kwargs,
    )
    return model, history, own[-1]
