"""The composition matrix: every keras-tricks piece meets every other one in at least one `fit`.

`FACTORS` lists each piece with its main configurations (`"off"`: not in the fit). `pairwise` generates
fits (cells) in which every pair of values of two factors meets at least once, under `allowed` (pieces
that cannot go together: `GradientNormLogger` needs a `GradientClipping` in the chain, ...). A cell is
one fit of a tiny model on scripted validation losses, so that the stopping and reduction decisions are
known in advance, with a `Spy` callback (listed last) recording what happened epoch by epoch.
`tests/test_composition.py` checks each cell against references computed without the pieces under test.
"""

import itertools
import math

import keras
import numpy as np

from keras_tricks import callbacks as kt_callbacks
from keras_tricks import optimizers as kt_optimizers
from keras_tricks import schedules as kt_schedules
from keras_tricks.optimizers import _chain
from tests import helpers

FACTORS = {
    "wrapper": [
        "none",
        "gc_none",
        "gc_monitor",
        "gc_value",
        "gc_norm",
        "gc_global",
        "gc_adaptive",
        "gc_percentile",
        "cyclic",
        "lrm",
        "gc_cyclic",
        "lrm_gc",
    ],
    "inner": ["plain", "ema", "accumulation"],
    "rate": ["float", "schedule"],
    "precision": ["float32", "mixed"],
    "early_stopping": ["off", "patience", "gl_restore"],
    "plateau": ["off", "on"],
    "unfreeze": ["off", "plain", "gradual_groups"],
    "swa": ["off", "on"],
    "gradient_logger": ["off", "on"],
    "rate_logger": ["off", "on"],
    "activations": ["off", "on"],
    "csv": ["off", "first"],
}

# Wrappers with a Keras equivalent (the same run built from plain Keras pieces).
KERAS_EQUIVALENT = {
    "none": {},
    "gc_none": {},
    "gc_monitor": {},
    "gc_value": {"clipvalue": 0.5},
    "gc_norm": {"clipnorm": 0.5},
    "gc_global": {"global_clipnorm": 0.5},
}
CLIPPING = {"gc_none": None, "gc_value": "value", "gc_norm": "norm", "gc_global": "global_norm"}
CLIPPING.update({"gc_adaptive": "adaptive", "gc_percentile": "percentile", "gc_cyclic": "global_norm"})
CLIPPING["lrm_gc"] = "global_norm"
CLIPPING["gc_monitor"] = None  # GradientMonitor: GradientClipping(mode=None) under its own name

EPOCHS = 6
BATCH = 8
SAMPLES = 32
STEPS_PER_EPOCH = SAMPLES // BATCH
RATE = 0.05
VAL_LOSS = [1.0, 0.8, 0.85, 0.9, 0.7, 0.95, 1.0, 1.1]  # scripted: improves, plateaus, improves, worsens
UNFREEZE_EPOCH = 2


def allowed(cell):
    """Whether a (partial) assignment of factor values can be one fit."""
    wrapper = cell.get("wrapper")
    if cell.get("gradient_logger") == "on" and wrapper is not None and wrapper not in CLIPPING:
        return False  # the logger reads a GradientClipping's statistics
    if wrapper in ("cyclic", "gc_cyclic") and cell.get("inner") == "accumulation":
        return False  # CyclicMomentum refuses an SGD that accumulates gradients (documented)
    if cell.get("unfreeze") == "plain" and cell.get("rate") == "schedule":
        return False  # Unfreeze(lr_multiplier=) needs a float rate (documented)
    return True


def pairwise(factors=FACTORS, allowed=allowed):
    """Rows (dicts) covering every allowed pair of values of two factors; greedy and deterministic."""
    names = list(factors)

    def pairs(row):
        return {
            ((a, row[a]), (b, row[b])) for a, b in itertools.combinations(names, 2) if a in row and b in row
        }

    uncovered = {
        ((a, va), (b, vb))
        for a, b in itertools.combinations(names, 2)
        for va in factors[a]
        for vb in factors[b]
        if allowed({a: va, b: vb})
    }
    rows = []
    while uncovered:
        (a, va), (b, vb) = min(uncovered, key=lambda p: (names.index(p[0][0]), names.index(p[1][0]), repr(p)))
        row = {a: va, b: vb}
        for name in names:
            if name in row:
                continue
            candidates = [v for v in factors[name] if allowed({**row, name: v})]
            row[name] = max(candidates, key=lambda v: len(pairs({**row, name: v}) & uncovered))
        rows.append(row)
        uncovered -= pairs(row)
    return rows


def cell_id(cell):
    return "-".join(f"{value}" for value in cell.values())


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    y = (np.tanh(x @ rng.normal(size=(4, 1))) * 2.0).astype("float32")
    return x, y


def build_model():
    return helpers.tanh_net(seed=7, inputs=4, a=8, b=8)


def schedule(cell):
    if cell["rate"] == "float":
        return RATE
    total = EPOCHS * STEPS_PER_EPOCH
    if cell["wrapper"] in ("cyclic", "gc_cyclic"):
        return kt_schedules.OneCycle(RATE, total_steps=total, max_momentum=0.95, base_momentum=0.85)
    return kt_schedules.PowerDecay(RATE, decay_steps=8)


def inner_optimizer(cell, keras_clipping=None):
    kwargs = {"momentum": 0.9, **(keras_clipping or {})}
    if cell["inner"] == "ema":
        kwargs.update(use_ema=True, ema_momentum=0.9)
    if cell["inner"] == "accumulation":
        kwargs["gradient_accumulation_steps"] = 2
    return keras.optimizers.SGD(schedule(cell), **kwargs)


def optimizer(cell):
    """The cell's optimizer chain."""
    wrapper = cell["wrapper"]
    inner = inner_optimizer(cell)
    if wrapper in ("cyclic", "gc_cyclic"):
        momentum = None
        if cell["rate"] == "float":  # a momentum schedule of its own
            momentum = keras.optimizers.schedules.PolynomialDecay(0.95, EPOCHS * STEPS_PER_EPOCH, 0.85)
        inner = kt_optimizers.CyclicMomentum(inner, schedule=momentum)
    if wrapper == "gc_monitor":
        inner = kt_optimizers.GradientMonitor(inner)
    elif wrapper in CLIPPING:
        inner = kt_optimizers.GradientClipping(
            inner, CLIPPING[wrapper], threshold=0.5, clipping=0.05, percentile=50.0, window=8
        )
    if wrapper in ("lrm", "lrm_gc"):
        inner = kt_optimizers.LearningRateMultipliers(inner, {"b": 0.5})
    return inner


def keras_optimizer(cell):
    """The same optimizer from plain Keras pieces, for a wrapper that has an equivalent."""
    return inner_optimizer(cell, KERAS_EQUIVALENT[cell["wrapper"]])


class ScriptedValLoss(keras.callbacks.Callback):
    """Writes the scripted validation loss of each epoch into `logs`; listed first."""

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = VAL_LOSS[epoch]


class Spy(keras.callbacks.Callback):
    """Records, listed last, what each epoch ran with and ended with."""

    def __init__(self):
        super().__init__()
        self.rate_begin, self.steps_begin, self.weights_begin = [], [], []
        self.steps_end, self.weights_end, self.logs, self.activation_std = [], [], [], []

    def _weights(self):
        return {v.path.split("/", 1)[-1]: keras.ops.convert_to_numpy(v).copy() for v in self.model.weights}

    def _steps(self):
        return int(keras.ops.convert_to_numpy(_chain.step_counter(self.model.optimizer)))

    def on_epoch_begin(self, epoch, logs=None):
        self.rate_begin.append(_chain.learning_rate(self.model.optimizer))
        self.steps_begin.append(self._steps())
        self.weights_begin.append(self._weights())

    def on_epoch_end(self, epoch, logs=None):
        self.steps_end.append(self._steps())
        self.weights_end.append(self._weights())
        self.logs.append(dict(logs))
        probe = keras.Model(self.model.inputs, [self.model.get_layer(n).output for n in ("a", "b", "top")])
        outputs = probe.predict(data()[0][:16], verbose=0)
        self.activation_std.append(
            {n: float(np.std(o)) for n, o in zip(("a", "b", "top"), outputs, strict=True)}
        )


def callbacks(cell, csv_path, spy):
    """The cell's callbacks, in an order that would lose keys and state without the arrangement."""
    listed = [ScriptedValLoss()]
    if cell["csv"] == "first":
        listed.insert(0, keras.callbacks.CSVLogger(csv_path))
    if cell["gradient_logger"] == "on":
        listed.append(kt_callbacks.GradientNormLogger())
    if cell["rate_logger"] == "on":
        listed.append(kt_callbacks.LearningRateLogger())
    if cell["activations"] == "on":
        listed.append(kt_callbacks.ActivationStats(data()[0][:16]))
    if cell["plateau"] == "on":
        listed.append(kt_callbacks.ReduceLROnPlateau(factor=0.5, patience=0, min_delta=1e-3))
    if cell["unfreeze"] == "plain":
        listed.append(kt_callbacks.Unfreeze(["a"], epoch=UNFREEZE_EPOCH, lr_multiplier=0.5))
    elif cell["unfreeze"] == "gradual_groups":
        listed.append(
            kt_callbacks.Unfreeze([["a"], ["b"]], epoch=1, gradual=True, group_lr_multipliers=[0.5, 1.0])
        )
    if cell["early_stopping"] == "patience":
        listed.append(kt_callbacks.EarlyStopping(patience=2))
    elif cell["early_stopping"] == "gl_restore":
        listed.append(
            kt_callbacks.EarlyStopping(
                criterion="gl", alpha=15.0, restore_best_weights=True, restore_optimizer=True
            )
        )
    if cell["swa"] == "on":
        listed.append(kt_callbacks.SWA(start_epoch=2))
    return [*listed, spy]


def run(cell, csv_path, optimizer_factory=optimizer):
    """Fits the cell's model; returns `(model, history, spy, callbacks)`."""
    previous = keras.config.dtype_policy()
    if cell["precision"] == "mixed":
        keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build_model()
        model.compile(optimizer=optimizer_factory(cell), loss="mse")
        spy = Spy()
        used = callbacks(cell, csv_path, spy)
        x, y = data()
        history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=used)
    finally:
        keras.config.set_dtype_policy(previous)
    return model, history, spy, used


def frozen_epochs(cell, layer):
    """The epochs during which `layer` is frozen, in the cell's Unfreeze configuration."""
    if cell["unfreeze"] == "plain":
        return range(UNFREEZE_EPOCH) if layer == "a" else range(0)
    if cell["unfreeze"] == "gradual_groups":  # the top group ("b") at epoch 1, then "a" at epoch 2
        return range({"b": 1, "a": 2}.get(layer, 0))
    return range(0)


def base_rate(cell, steps):
    """The rate of the cell's schedule at a step count, before any reduction or multiplier."""
    rate = schedule(cell)
    if isinstance(rate, float):
        return rate
    return float(keras.ops.convert_to_numpy(rate(steps)))


def is_close(a, b, rtol):
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)
