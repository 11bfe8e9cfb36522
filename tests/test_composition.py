"""The composition matrix (tests/composition.py): each cell is one fit where several pieces meet.

Every cell is checked piece by piece against references computed without the pieces under test: the
stopping epoch and the reductions from Keras's own `EarlyStopping` and `ReduceLROnPlateau` (or the
piece alone) fed the same scripted validation losses; the learning rate each epoch ran with from the
schedule at the recorded step count; SWA's and the best epoch's weights from the recorded weights;
activation statistics from a plain forward pass; and, for a wrapper with a Keras equivalent, the whole
run again built from plain Keras pieces.
"""

import csv
import math

import keras
import numpy as np
import pytest

from keras_tricks import callbacks as kt_callbacks
from tests import composition as c

CELLS = c.pairwise()


def test_the_cells_cover_every_allowed_pair():
    names = list(c.FACTORS)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for va in c.FACTORS[a]:
                for vb in c.FACTORS[b]:
                    if c.allowed({a: va, b: vb}):
                        assert any(cell[a] == va and cell[b] == vb for cell in CELLS), (a, va, b, vb)
    assert all(c.allowed(cell) for cell in CELLS)


def _dummy_model():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    return model


def _reference_stop(cell):
    """`(epochs run, best epoch)` of the cell's EarlyStopping alone (Keras's own for the patience rule)."""
    if cell["early_stopping"] == "off":
        return c.EPOCHS, None
    if cell["early_stopping"] == "patience":
        stop = keras.callbacks.EarlyStopping(patience=2)
    else:
        stop = kt_callbacks.EarlyStopping(criterion="gl", alpha=15.0, restore_best_weights=True)
    model = _dummy_model()
    stop.set_model(model)
    stop.on_train_begin()
    for epoch in range(c.EPOCHS):
        stop.on_epoch_end(epoch, {"val_loss": c.VAL_LOSS[epoch], "loss": 1.0})
        if model.stop_training:
            return epoch + 1, stop.best_epoch
    return c.EPOCHS, stop.best_epoch


def _reference_factors(cell, epochs):
    """The plateau factor each epoch runs with, from Keras's ReduceLROnPlateau on a float rate of 1."""
    factors = [1.0]
    if cell["plateau"] == "off":
        return factors * epochs
    model = _dummy_model()
    plateau = keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=0, min_delta=1e-3)
    plateau.set_model(model)
    plateau.on_train_begin()
    for epoch in range(epochs - 1):
        plateau.on_epoch_end(epoch, {"val_loss": c.VAL_LOSS[epoch], "loss": 1.0})
        factors.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return factors


def _multiplier(cell, epoch):
    return 0.5 if cell["unfreeze"] == "plain" and epoch >= c.UNFREEZE_EPOCH else 1.0


@pytest.mark.parametrize("cell", CELLS, ids=[c.cell_id(cell) for cell in CELLS])
def test_cell(cell, tmp_path):
    csv_path = str(tmp_path / "log.csv")
    model, history, spy, used = c.run(cell, csv_path)
    logs = history.history

    # EarlyStopping: the same stop as the piece alone (Keras's, for the patience rule).
    epochs, best = _reference_stop(cell)
    assert len(logs["loss"]) == epochs
    assert all(math.isfinite(v) for v in logs["loss"])
    _check_rates(cell, logs, spy, epochs)
    _check_unfreeze(cell, spy, epochs)
    _check_final_weights(cell, model, spy, epochs, best)
    _check_gradient_logger(cell, logs, spy, epochs)
    _check_activations(cell, logs, spy, epochs)
    _check_momentum(cell, model, logs, spy, epochs)
    _check_csv(cell, csv_path, logs, epochs)
    _check_plain_keras(cell, spy, epochs, tmp_path)


def _check_rates(cell, logs, spy, epochs):
    """The rate each epoch ran with: the schedule at the recorded step count, times the reductions Keras's
    ReduceLROnPlateau makes on the same losses, times Unfreeze's multiplier, whatever wraps the optimizer."""
    factors = _reference_factors(cell, epochs)
    for epoch in range(epochs):
        expected = c.base_rate(cell, spy.steps_begin[epoch]) * factors[epoch] * _multiplier(cell, epoch)
        assert c.is_close(spy.rate_begin[epoch], expected, 1e-5), (epoch, spy.rate_begin, expected)
        if "learning_rate" in logs:  # logged at epoch end, before that epoch's reduction
            logged = c.base_rate(cell, spy.steps_end[epoch]) * factors[epoch] * _multiplier(cell, epoch)
            assert c.is_close(logs["learning_rate"][epoch], logged, 1e-5), (epoch, logs["learning_rate"])


def _check_unfreeze(cell, spy, epochs):
    """Unfreeze: a frozen layer does not move, an unfrozen one does."""
    for layer in ("a", "b"):
        frozen = c.frozen_epochs(cell, layer)
        for epoch in range(epochs):
            before, after = (
                spy.weights_begin[epoch][f"{layer}/kernel"],
                spy.weights_end[epoch][f"{layer}/kernel"],
            )
            if epoch in frozen:
                np.testing.assert_array_equal(before, after, err_msg=f"{layer} moved in frozen epoch {epoch}")
            else:
                assert not np.array_equal(before, after), f"{layer} did not move in epoch {epoch}"


def _check_final_weights(cell, model, spy, epochs, best):
    """The final weights: SWA's average (listed last), else the best epoch's, else the last epoch's."""
    final = {v.path.split("/", 1)[-1]: keras.ops.convert_to_numpy(v) for v in model.weights}
    if cell["swa"] == "on":
        averaged = range(2, epochs)
        for key, value in final.items():
            expected = np.mean([spy.weights_end[e][key].astype("float64") for e in averaged], axis=0)
            np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7, err_msg=key)
    elif cell["early_stopping"] == "gl_restore":
        for key, value in final.items():
            np.testing.assert_array_equal(value, spy.weights_end[best][key], err_msg=key)
    elif cell["inner"] != "ema":  # (with EMA, fit ends with the moving average: Keras's own behaviour)
        for key, value in final.items():
            np.testing.assert_array_equal(value, spy.weights_end[epochs - 1][key], err_msg=key)
    if cell["early_stopping"] == "gl_restore":  # restore_optimizer: the step count of the best epoch
        assert int(keras.ops.convert_to_numpy(c._chain.step_counter(model.optimizer))) == spy.steps_end[best]


def _check_gradient_logger(cell, logs, spy, epochs):
    """GradientNormLogger: every variable's key in every epoch (NaN while frozen), one step per update."""
    if cell["gradient_logger"] != "on":
        return
    accumulation = 2 if cell["inner"] == "accumulation" else 1
    for epoch in range(epochs):
        # (an update is the micro-step that completes k of them; mixed precision skips some steps)
        updates = spy.steps_end[epoch] // accumulation - spy.steps_begin[epoch] // accumulation
        assert logs["grad_steps"][epoch] == updates
        assert 0 < logs["grad_norm"][epoch] <= logs["grad_norm_max"][epoch] * (1 + 1e-6)
        if c.CLIPPING[cell["wrapper"]] == "global_norm":
            assert logs["grad_norm_clipped"][epoch] <= 0.5 * (1 + 1e-5)
        for layer in ("a", "b", "top"):
            for name in ("kernel", "bias"):
                value = logs[f"grad_norm/{layer}/{name}"][epoch]
                frozen = epoch in c.frozen_epochs(cell, layer)
                assert math.isnan(value) if frozen else value > 0, (layer, name, epoch, value)


def _check_activations(cell, logs, spy, epochs):
    """ActivationStats: the standard deviation of a plain forward pass at the same epoch end."""
    if cell["activations"] != "on":
        return
    rtol = 2e-3 if cell["precision"] == "mixed" else 1e-5
    for epoch in range(epochs):
        for layer in ("a", "b", "top"):
            assert c.is_close(logs[f"act_std/{layer}"][epoch], spy.activation_std[epoch][layer], rtol)


def _check_momentum(cell, model, logs, spy, epochs):
    """The momentum CyclicMomentum used, logged by LearningRateLogger."""
    if cell["rate_logger"] != "on" or cell["wrapper"] not in ("cyclic", "gc_cyclic"):
        return
    cyclic = c.kt_optimizers.unwrap(model.optimizer, c.kt_optimizers.CyclicMomentum)
    for epoch in range(epochs):
        expected = float(keras.ops.convert_to_numpy(cyclic.momentum_at(spy.steps_end[epoch])))
        assert c.is_close(logs["momentum"][epoch], expected, 1e-6)


def _check_csv(cell, csv_path, logs, epochs):
    """A CSVLogger listed first still receives every keras-tricks key."""
    if cell["csv"] != "first":
        return
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == epochs
    for key in ("grad_norm", "learning_rate", "act_std/a", "grad_norm/a/kernel"):
        if key in logs:
            assert key in rows[0], key
            for row, value in zip(rows, logs[key], strict=True):
                assert c.is_close(float(row[key]), value, 1e-6) or math.isnan(value)


def _check_plain_keras(cell, spy, epochs, tmp_path):
    """The same run from plain Keras pieces, where the wrapper has a Keras equivalent."""
    if cell["wrapper"] not in c.KERAS_EQUIVALENT:
        return
    plain_cell = {**cell, "gradient_logger": "off"}
    _, plain_history, plain_spy, _ = c.run(plain_cell, str(tmp_path / "plain.csv"), c.keras_optimizer)
    assert len(plain_history.history["loss"]) == epochs
    atol = 1e-3 if cell["precision"] == "mixed" else 1e-6
    for epoch in range(epochs):
        for key, value in spy.weights_end[epoch].items():
            np.testing.assert_allclose(value, plain_spy.weights_end[epoch][key], atol=atol, err_msg=key)
