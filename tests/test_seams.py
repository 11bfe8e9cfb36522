"""Where the pieces meet: one test per failure found by driving them together (issue "every piece with
every other"), each failing on the code before the fix. The composition matrix
(tests/test_composition.py) covers every pair; these pin the exact cases, with the numbers expected."""

import csv
import glob
import os

import keras
import numpy as np
import pytest

import keras_tricks
from keras_tricks.callbacks import (
    SWA,
    EarlyStopping,
    GradientNormLogger,
    LearningRateLogger,
    ReduceLROnPlateau,
    Unfreeze,
)
from keras_tricks.optimizers import CyclicMomentum, GradientClipping, LearningRateMultipliers
from keras_tricks.schedules import OneCycle, PowerDecay
from tests.helpers import ScriptedLogs


def _data(samples=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 4)).astype("float32")
    return x, (x @ rng.normal(size=(4, 1))).astype("float32")


def _model(optimizer, built=True, seed=3):
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Dense(8, activation="tanh", name="reused"), keras.layers.Dense(1, name="top")]
    model = keras.Sequential(([keras.Input((4,))] if built else []) + layers)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _rates(model, callbacks, epochs, val_loss):
    """The learning rate each epoch ran with, for a fit whose validation losses are scripted."""
    rates = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            rates.append(keras_tricks.optimizers._chain.learning_rate(self.model.optimizer))

    x, y = _data()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=epochs,
        verbose=0,
        callbacks=[ScriptedLogs(val_loss=val_loss), *callbacks, Record()],
    )
    return rates


WRAPPED = {
    "gradient_clipping": lambda sgd: GradientClipping(sgd, "global_norm", 1.0),
    "observe_only": lambda sgd: GradientClipping(sgd, mode=None),
    "cyclic_momentum": lambda sgd: CyclicMomentum(
        sgd, schedule=keras.optimizers.schedules.CosineDecay(0.9, 10)
    ),
    "multipliers": lambda sgd: LearningRateMultipliers(sgd, {"reused": 0.5}),
    "loss_scale": lambda sgd: keras.optimizers.LossScaleOptimizer(sgd),
    "nested": lambda sgd: GradientClipping(
        CyclicMomentum(sgd, schedule=keras.optimizers.schedules.CosineDecay(0.9, 10)), mode=None
    ),
}


@pytest.mark.parametrize("wrap", sorted(WRAPPED))
def test_1_plateau_reduces_the_rate_inside_any_wrapper_as_keras_does_on_the_bare_optimizer(wrap):
    val_loss = [1.0, 0.9, 0.95, 0.97, 0.8, 0.85]
    ours = _rates(
        _model(WRAPPED[wrap](keras.optimizers.SGD(0.1, momentum=0.9))),
        [ReduceLROnPlateau(factor=0.5, patience=0)],
        6,
        val_loss,
    )
    theirs = _rates(
        _model(keras.optimizers.SGD(0.1, momentum=0.9)),
        [keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=0)],
        6,
        val_loss,
    )
    assert ours == pytest.approx(theirs, rel=1e-6)
    assert theirs == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.025, 0.025])


@pytest.mark.parametrize("unfreeze_first", [True, False])
def test_2_plateau_on_a_schedule_keeps_every_reduction_after_an_unfreeze(unfreeze_first):
    model = _model(keras.optimizers.SGD(PowerDecay(0.1, 1e12)))
    plateau = ReduceLROnPlateau(factor=0.5, patience=0)
    unfreeze = Unfreeze(["reused"], epoch=2)
    callbacks = [unfreeze, plateau] if unfreeze_first else [plateau, unfreeze]
    rates = _rates(model, callbacks, 5, [1.0, 1.1, 1.2, 1.3, 1.4])
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125], rel=1e-6)


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: GradientClipping(keras.optimizers.SGD(0.1), "global_norm", 1.0),
        lambda: LearningRateMultipliers(keras.optimizers.SGD(0.1), {"reused": 0.1}),
        lambda: CyclicMomentum(
            keras.optimizers.SGD(OneCycle(0.1, 100, max_momentum=0.95, base_momentum=0.85), momentum=0.9)
        ),
        lambda: keras.optimizers.LossScaleOptimizer(GradientClipping(keras.optimizers.Adam(0.01), mode=None)),
    ],
    ids=["gradient_clipping", "multipliers", "cyclic_momentum", "loss_scale"],
)
def test_3_the_lr_finder_sweeps_through_any_wrapper_and_leaves_the_model_alone(optimizer):
    model = _model(optimizer())
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.optimizer.variables + model.weights]
    x, y = _data(256)
    result = keras_tricks.find_learning_rate(model, x, y, min_lr=1e-4, max_lr=1.0, steps=10, batch_size=16)
    assert len(result.losses) == len(result.learning_rates) >= 2
    np.testing.assert_allclose(result.learning_rates[:2], [1e-4, 1e-4 * 1e4 ** (1 / 9)], rtol=1e-5)
    after = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables + model.weights]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def test_4_restore_optimizer_with_a_best_epoch_before_the_unfreeze():
    model = _model(keras.optimizers.SGD(0.05, momentum=0.9))
    stop = EarlyStopping(patience=2, restore_best_weights=True, restore_optimizer=True)
    weights_at_end, steps_at_end = [], []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights_at_end.append(self.model.get_weights())
            steps_at_end.append(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))

    x, y = _data()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=6,
        verbose=0,
        callbacks=[
            ScriptedLogs(val_loss=[1.0, 0.5, 0.9, 0.9, 0.9, 0.9]),
            Unfreeze(["reused"], 2),
            stop,
            Record(),
        ],
    )
    assert stop.best_epoch == 1 and stop.stopped_epoch == 3
    for a, b in zip(model.get_weights(), weights_at_end[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == steps_at_end[1]
    # the slots of the layer unfrozen after the best epoch are fresh (zero), as right after the unfreeze
    for variable in model.optimizer.variables:
        if "reused" in variable.name and "momentum" in variable.name:
            assert not np.any(keras.ops.convert_to_numpy(variable))


def test_4_swa_averages_across_an_unfreeze_by_variable_key():
    model = _model(keras.optimizers.SGD(0.05))
    ends = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(self.model.get_weights())

    x, y = _data()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[SWA(start_epoch=0), Unfreeze(["reused"], 2), Record()],
    )
    for got, *per_epoch in zip(model.get_weights(), *ends, strict=True):
        np.testing.assert_allclose(
            got, np.mean(np.stack(per_epoch).astype("float64"), axis=0), rtol=1e-6, atol=1e-7
        )


def test_5_gradient_accumulation_clips_the_accumulated_gradient_once_per_update_like_keras():
    x, y = _data(64)
    ours = _model(
        GradientClipping(keras.optimizers.SGD(0.01, gradient_accumulation_steps=4), "global_norm", 1.0)
    )
    theirs = _model(keras.optimizers.SGD(0.01, global_clipnorm=1.0, gradient_accumulation_steps=4))
    for model in (ours, theirs):
        model.fit(x * 10, y * 10, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    stats = ours.optimizer.statistics()
    assert float(stats["grad_steps"]) == 3 * 8 / 4  # one recorded step per real update
    assert float(stats["grad_clip_rate"]) == 1.0


def test_6_clipping_anywhere_below_the_wrapper_is_refused():
    schedule = OneCycle(0.1, 100, max_momentum=0.95, base_momentum=0.85)
    with pytest.raises(ValueError, match="already clips with clipnorm"):
        GradientClipping(
            CyclicMomentum(keras.optimizers.SGD(schedule, momentum=0.9, clipnorm=1.0)), mode=None
        )
    # ... and on load: a config edited to clip in the inner optimizer
    good = GradientClipping(CyclicMomentum(keras.optimizers.SGD(schedule, momentum=0.9)), mode=None)
    config = keras.saving.serialize_keras_object(good)
    config["config"]["inner_optimizer"]["config"]["inner_optimizer"]["config"]["clipnorm"] = 1.0
    with pytest.raises(ValueError, match="already clips with clipnorm"):
        keras.saving.deserialize_keras_object(config, safe_mode=True)


def test_7_unfreeze_on_a_model_built_at_its_first_step():
    # The book's way: no keras.Input, the model is built by its first batch (tensorflow builds it then).
    model = _model(keras.optimizers.SGD(0.05), built=False)
    x, y = _data()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[Unfreeze(["reused"], epoch=1)])
    assert len(history.history["loss"]) == 3
    assert model.get_layer("reused").trainable


@pytest.mark.parametrize("logger", [GradientNormLogger, LearningRateLogger])
def test_8_keys_reach_a_csv_logger_and_tensorboard_listed_before_the_logger(logger, tmp_path):
    model = _model(GradientClipping(keras.optimizers.SGD(0.05), mode=None))
    csv_path = str(tmp_path / "log.csv")
    x, y = _data()
    callbacks = [
        keras.callbacks.CSVLogger(csv_path),
        keras.callbacks.TensorBoard(str(tmp_path / "tb")),
        logger(),
    ]
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    key = "grad_norm" if logger is GradientNormLogger else "learning_rate"
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [float(r[key]) for r in rows] == pytest.approx(history.history[key])
    import tensorflow as tf

    tags = set()
    for path in glob.glob(os.path.join(str(tmp_path), "tb", "train", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    assert f"epoch_{key}" in tags


def test_9_per_variable_keys_are_stable_across_models_and_load(tmp_path):
    x, y = _data()

    def keys(model):
        history = model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientNormLogger()])
        return sorted(k for k in history.history if k.startswith("grad_norm/"))

    def unnamed():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
        model.compile(optimizer=GradientClipping(keras.optimizers.SGD(0.01), mode=None), loss="mse")
        return model

    first = unnamed()
    expected = [
        "grad_norm/dense/bias",
        "grad_norm/dense/kernel",
        "grad_norm/dense_1/bias",
        "grad_norm/dense_1/kernel",
    ]
    assert keys(first) == expected
    assert keys(unnamed()) == expected  # a second model in the same process (its layers are dense_2, dense_3)
    path = str(tmp_path / "model.keras")
    first.save(path)
    assert keys(keras.saving.load_model(path)) == expected  # paths lose the model's name after loading


def test_10_plateau_logs_the_rate_infers_the_direction_and_warns_like_keras():
    model = _model(keras.optimizers.SGD(0.1))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=[keras.metrics.AUC(name="auc")])
    x, y = _data()
    y = (y > 0).astype("float32")
    plateau = ReduceLROnPlateau(monitor="val_auc", factor=0.5, patience=0)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[ScriptedLogs(val_auc=[0.5, 0.6, 0.7]), plateau])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1])  # a rising AUC improves
    with pytest.warns(UserWarning, match="conditioned on metric `val_acc` which is not available"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ReduceLROnPlateau(monitor="val_acc", mode="max")])
    for callback in (ReduceLROnPlateau, EarlyStopping):
        with pytest.raises(ValueError, match="Received: mode='maximum'"):
            callback(mode="maximum")


def test_10_plateau_messages_go_through_keras_logging(capsys):
    model = _model(keras.optimizers.SGD(0.1))
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, verbose=1)
    plateau.set_model(model)
    plateau.on_train_begin()
    keras.utils.disable_interactive_logging()
    try:
        plateau.on_epoch_end(0, {"loss": 1.0})
        plateau.on_epoch_end(1, {"loss": 1.0})
    finally:
        keras.utils.enable_interactive_logging()
    assert "ReduceLROnPlateau" not in capsys.readouterr().out
    plateau.on_epoch_end(2, {"loss": 1.0})
    assert "reducing learning rate to 0.025" in capsys.readouterr().out


def test_11_multiplier_keys_that_match_nothing_are_refused_with_the_closest_paths():
    model = _model(LearningRateMultipliers(keras.optimizers.SGD(0.1), {"reusd/kernel": 0.1}))
    x, y = _data()
    with pytest.raises(ValueError, match=r"'reusd/kernel' \(closest: \['sequential.*/reused/kernel'"):
        model.fit(x, y, epochs=1, verbose=0)
