import os

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_tricks.callbacks import EarlyStopping
from tests import helpers
from tests.helpers import Interrupt, ScriptedLogs


def _tiny_model(optimizer="sgd"):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _drive(callback, model, val_losses, train_losses=None):
    """Runs the epoch hooks by hand; the weights at epoch t are all t, so restored weights name their epoch.

    Returns the epoch after which training stopped (or the last one) and the weight value left at the end.
    """
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    last = len(val_losses) - 1
    for epoch, value in enumerate(val_losses):
        callback.on_epoch_begin(epoch)
        model.set_weights([np.full(w.shape, float(epoch), w.dtype) for w in model.get_weights()])
        logs = {"val_loss": value, "loss": 1.0 if train_losses is None else train_losses[epoch]}
        callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            last = epoch
            break
    callback.on_train_end()
    return last, float(keras.ops.convert_to_numpy(model.weights[0])[0, 0])


losses = st.lists(st.floats(0.1, 2.0), min_size=1, max_size=25)
keras_arguments = st.fixed_dictionaries(
    {
        "patience": st.integers(0, 4),
        "min_delta": st.sampled_from([0, 0.01, 0.2]),
        "baseline": st.sampled_from([None, 0.5, 1.5]),
        "start_from_epoch": st.integers(0, 3),
        "restore_best_weights": st.booleans(),
        "mode": st.sampled_from(["auto", "min", "max"]),
    }
)


@settings(max_examples=40, deadline=None)
@given(val_losses=losses, arguments=keras_arguments)
def test_default_criterion_behaves_as_keras(val_losses, arguments):
    model = _tiny_model()
    ours, theirs = EarlyStopping(**arguments), keras.callbacks.EarlyStopping(**arguments)
    assert _drive(ours, model, val_losses) == _drive(theirs, model, val_losses)
    for name in ("wait", "stopped_epoch", "best", "best_epoch"):
        assert getattr(ours, name) == getattr(theirs, name), name


def _prechelt_reference(criterion, val, train, alpha=None, k=5, s=3):
    """Prechelt (1998), section 2.2, written directly from the paper: the epoch after which to stop."""
    for t in range(len(val)):
        best = min(val[: t + 1])
        gl = 100 * (val[t] / best - 1)
        if criterion == "gl" and gl > alpha:
            return t
        strip_end = (t + 1) % k == 0
        if criterion == "pq" and strip_end:
            strip = train[t - k + 1 : t + 1]
            progress = 1000 * (sum(strip) / (k * min(strip)) - 1)
            if (gl / progress if progress > 0 else (np.inf if gl > 0 else 0)) > alpha:
                return t
        if criterion == "up" and strip_end and t + 1 >= k * (s + 1):
            if all(val[t - i * k] > val[t - (i + 1) * k] for i in range(s)):
                return t
    return len(val) - 1


@settings(max_examples=40, deadline=None)
@given(
    val_losses=st.lists(st.floats(0.1, 2.0), min_size=1, max_size=30),
    train_losses=st.lists(st.floats(0.1, 2.0), min_size=30, max_size=30),
    criterion=st.sampled_from(["gl", "pq", "up"]),
    alpha=st.sampled_from([0.5, 2.0, 5.0]),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
)
def test_prechelt_criteria_match_the_paper(val_losses, train_losses, criterion, alpha, k, s):
    arguments = {"strip_length": k, "strips": s, "alpha": None if criterion == "up" else alpha}
    callback = EarlyStopping(criterion=criterion, restore_best_weights=True, **arguments)
    stopped, weight = _drive(callback, _tiny_model(), val_losses, train_losses)
    expected = _prechelt_reference(criterion, val_losses, train_losses, alpha, k, s)
    assert stopped == expected
    assert weight == int(np.argmin(val_losses[: stopped + 1]))  # the best epoch's weights are back


def test_generalization_loss_by_hand():
    callback = EarlyStopping(criterion="gl", alpha=10.0)
    stopped, _ = _drive(callback, _tiny_model(), [1.0, 0.5, 0.54, 0.56, 0.4])
    # 0.54 is 8 % above the best 0.5, 0.56 is 12 % above it.
    assert stopped == 3 and callback.stopped_epoch == 3
    assert callback.generalization_loss == pytest.approx(12.0)


def test_progress_quotient_by_hand():
    callback = EarlyStopping(criterion="pq", alpha=0.5, strip_length=2)
    val = [1.0, 0.9, 0.95, 0.99, 1.0, 1.1]
    train = [1.0, 0.5, 0.5, 0.49, 0.48, 0.479]
    stopped, _ = _drive(callback, _tiny_model(), val, train)
    # Strip 2: P = 1000 (0.99 / 0.98 - 1) ≈ 10.2, GL = 10 -> PQ ≈ 0.98 > 0.5.
    assert stopped == 3
    assert callback.training_progress == pytest.approx(1000 * (0.99 / 0.98 - 1))


def test_up_counts_rising_strips_in_max_mode():
    accuracy = [0.5, 0.6, 0.7, 0.65, 0.6, 0.55, 0.5]
    callback = EarlyStopping(monitor="val_accuracy", mode="max", criterion="up", strip_length=1, strips=3)
    model = _tiny_model()
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(accuracy):
        callback.on_epoch_end(epoch, {"val_accuracy": value})
        if model.stop_training:
            break
    assert callback.stopped_epoch == 5 and callback.best_epoch == 2


def test_smoothing_decides_on_the_moving_average_and_logs_it():
    val = [1.0, 0.5, 0.52, 0.6, 0.4, 0.4]
    callback = EarlyStopping(patience=1, smoothing=0.5)
    model = _tiny_model()
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin()
    smoothed, s = [], None
    for epoch, value in enumerate(val):
        logs = {"val_loss": value}
        callback.on_epoch_end(epoch, logs)
        s = value if s is None else 0.5 * s + 0.5 * value
        assert logs["val_loss_smoothed"] == pytest.approx(s)
        smoothed.append(s)
        if model.stop_training:
            break
    # smoothed: 1, .75, .635, .6175, .50875, .454375 keeps improving; the raw values stop at epoch 2.
    assert not model.stop_training and callback.best == pytest.approx(min(smoothed))
    raw = EarlyStopping(patience=1)
    assert _drive(raw, _tiny_model(), val)[0] == 2


class RecordState(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights, self.optimizer_variables = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        self.optimizer_variables.append(
            [keras.ops.convert_to_numpy(v) for v in self.model.optimizer.variables]
        )


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    return x, x @ np.array([1.0, -2.0, 0.5], "float32")


def test_restore_optimizer_brings_back_the_best_epoch_in_a_real_fit():
    model = _tiny_model(keras.optimizers.Adam(0.01))
    record = RecordState()
    script = ScriptedLogs(val_loss=[1.0, 0.6, 0.7, 0.8, 0.9, 1.0])
    stop = EarlyStopping(patience=2, restore_best_weights=True, restore_optimizer=True)
    model.fit(*_data(), epochs=6, batch_size=8, verbose=0, shuffle=False, callbacks=[script, stop, record])
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1
    for actual, expected in zip(model.get_weights(), record.weights[1], strict=True):
        np.testing.assert_array_equal(actual, expected)
    optimizer_variables = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    for actual, expected in zip(optimizer_variables, record.optimizer_variables[1], strict=True):
        np.testing.assert_array_equal(actual, expected)
    assert int(model.optimizer.iterations) == 2 * 4  # two epochs of four batches: the Adam step count too
    assert not np.array_equal(record.optimizer_variables[1][-1], record.optimizer_variables[3][-1])


@pytest.mark.parametrize(
    "arguments",
    [
        {"patience": 3},
        {"criterion": "gl", "alpha": 20.0, "smoothing": 0.3},
        {"criterion": "up", "strip_length": 2, "strips": 2},
    ],
)
def test_resumed_by_backup_and_restore_it_stops_as_an_uninterrupted_run(tmp_path, arguments):
    val = [1.0, 0.8, 0.7, 0.75, 0.72, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1, 1.2]
    x, y = _data()

    def run(model, callbacks):
        script = ScriptedLogs(val_loss=val)
        return model.fit(
            x, y, epochs=len(val), batch_size=8, verbose=0, shuffle=False, callbacks=[script, *callbacks]
        )

    keras.utils.set_random_seed(1)
    straight = _tiny_model(keras.optimizers.Adam(0.01))
    reference = EarlyStopping(restore_best_weights=True, **arguments)
    run(straight, [reference])
    assert 4 < reference.stopped_epoch < len(val) - 1

    keras.utils.set_random_seed(1)
    resumed = _tiny_model(keras.optimizers.Adam(0.01))
    state_dir = os.fspath(tmp_path / "early_stopping")
    backup = keras.callbacks.BackupAndRestore(os.fspath(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        run(
            resumed,
            [
                backup,
                EarlyStopping(restore_best_weights=True, backup_dir=state_dir, **arguments),
                Interrupt(4),
            ],
        )
    assert os.path.exists(os.path.join(state_dir, "keras_tricks_state.json"))
    fresh = EarlyStopping(restore_best_weights=True, backup_dir=state_dir, **arguments)  # a new process
    history = run(resumed, [backup, fresh])
    assert len(history.history["loss"]) == reference.stopped_epoch + 1 - 4
    helpers.assert_same_attributes(fresh, reference, "stopped_epoch", "best_epoch", "best")
    helpers.assert_resumed_equals_uninterrupted(resumed, straight, rtol=1e-6, atol=1e-7)
    assert not os.path.exists(state_dir)  # training finished: nothing left to resume


def test_state_from_elsewhere_in_training_is_ignored_with_a_warning(tmp_path):
    state_dir = os.fspath(tmp_path / "state")
    first = EarlyStopping(patience=5, backup_dir=state_dir)
    model = _tiny_model()
    first.set_model(model)
    first.on_train_begin()
    for epoch, value in enumerate([1.0, 0.5, 0.9]):
        first.on_epoch_end(epoch, {"val_loss": value})  # interrupted: no on_train_end
    second = EarlyStopping(patience=5, backup_dir=state_dir)
    second.set_model(model)
    second.on_train_begin()
    with pytest.warns(UserWarning, match="saved after epoch 2, 3 but training starts at epoch 1"):
        second.on_epoch_begin(0)
    assert second.best is None and second.wait == 0


def test_unknown_monitor_warns_listing_the_available_metrics():
    callback = EarlyStopping(monitor="val_acuracy", criterion="gl", alpha=1.0)
    callback.set_model(_tiny_model())
    callback.on_train_begin()
    with pytest.warns(
        UserWarning, match="`val_acuracy` which is not available. Available metrics are: loss,val_loss"
    ):
        callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.0})


def test_missing_training_error_for_pq_warns():
    callback = EarlyStopping(criterion="pq", alpha=1.0, train_monitor="mae")
    callback.set_model(_tiny_model())
    callback.on_train_begin()
    with pytest.warns(
        UserWarning, match="`mae`, which is not available. Available metrics are: loss,val_loss"
    ):
        callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.0})


def test_gl_on_a_maximized_metric_is_refused():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    x = np.ones((4, 3), "float32")
    callback = EarlyStopping(monitor="accuracy", criterion="gl", alpha=1.0)
    with pytest.raises(ValueError, match="'accuracy' is maximized"):
        model.fit(x, np.ones(4), epochs=1, verbose=0, callbacks=[callback])


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        (
            {"criterion": "best"},
            ValueError,
            r"criterion in \('patience', 'gl', 'pq', 'up'\). Received: criterion='best'",
        ),
        ({"criterion": "gl"}, ValueError, "alpha > 0 for criterion='gl'. Received: alpha=None"),
        ({"criterion": "gl", "alpha": 0}, ValueError, "Received: alpha=0"),
        ({"criterion": "pq", "alpha": -1.0}, ValueError, "Received: alpha=-1.0"),
        ({"criterion": "up", "alpha": 1.0}, ValueError, "Received: alpha=1.0"),
        ({"alpha": 1.0}, ValueError, "Received: alpha=1.0"),
        ({"criterion": "up", "strip_length": 0}, ValueError, "strip_length >= 1. Received: strip_length=0"),
        ({"criterion": "up", "strips": 0}, ValueError, "strips >= 1. Received: strips=0"),
        ({"strip_length": 2.5}, TypeError, "Received: strip_length=2.5"),
        ({"smoothing": 1.0}, ValueError, r"smoothing in \[0, 1\). Received: smoothing=1.0"),
        ({"criterion": "gl", "alpha": 1.0, "patience": 3}, ValueError, "patience=3"),
        ({"criterion": "up", "baseline": 0.5}, ValueError, "baseline=0.5"),
        ({"criterion": "gl", "alpha": 1.0, "mode": "max"}, ValueError, "Received: mode='max'"),
        ({"restore_optimizer": True}, ValueError, "Received: restore_best_weights=False"),
    ],
)
def test_bad_arguments_are_refused(arguments, error, message):
    with pytest.raises(error, match=message):
        EarlyStopping(**arguments)


def test_is_a_keras_early_stopping_with_no_per_batch_hook():
    callback = EarlyStopping()
    assert isinstance(callback, keras.callbacks.EarlyStopping)
    assert callback.async_safe
    for hook in ("on_batch_end", "on_train_batch_begin", "on_train_batch_end"):
        assert getattr(type(callback), hook) is getattr(keras.callbacks.Callback, hook)
