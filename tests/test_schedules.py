"""OneCycle and PowerDecay against the book's formulas, round-trips, bad input and resumption."""

import math
import types

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.lr_callback import book_one_cycle_scheduler
from keras_tricks.schedules import OneCycle, PowerDecay
from tests import helpers

# Cycles of a handful of steps on purpose (the construction warns about them; tested below).
pytestmark = pytest.mark.filterwarnings("ignore:OneCycle counts optimizer steps")


def _values(schedule, steps):
    # the schedules are elementwise, so one call evaluates every step
    return keras.ops.convert_to_numpy(schedule(np.asarray(list(steps), dtype="int64"))).astype("float64")


def _book_one_cycle(total_steps, max_lr):
    """The learning rates the book's per-batch callback sets before each batch."""
    rates = []
    recorder = types.SimpleNamespace(assign=rates.append)
    callback = book_one_cycle_scheduler(total_steps, max_lr)
    callback.set_model(types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=recorder)))
    for batch in range(total_steps):
        callback.on_batch_begin(batch)
    return np.array(rates)


@pytest.mark.parametrize("total_steps", [3, 10, 101, 1720])
def test_one_cycle_matches_the_books_callback(total_steps):
    expected = _book_one_cycle(total_steps, max_lr=0.1)
    np.testing.assert_allclose(_values(OneCycle(0.1, total_steps), range(total_steps)), expected, rtol=1e-5)


def test_one_cycle_stays_at_the_final_rate_after_the_cycle():
    schedule = OneCycle(0.1, total_steps=50)
    np.testing.assert_allclose(_values(schedule, [50, 60, 10_000]), [1e-5] * 3, rtol=1e-5)


def test_one_cycle_phase_fractions_and_cosine():
    schedule = OneCycle(1.0, 100, initial_learning_rate=0.1, warmup_fraction=0.3, final_fraction=0.2)
    # phase ends: warm-up 30, descent 80, final 100
    np.testing.assert_allclose(_values(schedule, [0, 15, 30, 55, 80, 100]), [0.1, 0.55, 1.0, 0.55, 0.1, 1e-4])
    cosine = OneCycle(
        1.0, 100, initial_learning_rate=0.1, warmup_fraction=0.3, final_fraction=0.2, anneal="cosine"
    )
    midway = 0.1 + 0.9 * (1 - math.cos(math.pi * 10 / 30)) / 2
    np.testing.assert_allclose(_values(cosine, [0, 10, 30, 80]), [0.1, midway, 1.0, 0.1], rtol=1e-5)


@settings(max_examples=10, deadline=None)
@given(
    max_lr=st.floats(1e-4, 10.0),
    total_steps=st.integers(3, 100_000),
    anneal=st.sampled_from(["linear", "cosine"]),
)
def test_one_cycle_stays_between_final_and_max(max_lr, total_steps, anneal):
    schedule = OneCycle(max_lr, total_steps, anneal=anneal)
    steps = np.linspace(0, total_steps + 5, 40).astype(int)
    values = _values(schedule, steps)
    assert np.all(values <= max_lr * (1 + 1e-6))
    assert np.all(values >= schedule.final_learning_rate * (1 - 1e-5))
    assert values.argmax() in np.flatnonzero(np.isclose(values, values.max()))


def test_power_decay_matches_the_books_formula():
    steps = np.arange(0, 50_000, 997)
    for power in (0.5, 1.0, 2.0):
        expected = 0.01 / (1 + steps / 10_000) ** power
        np.testing.assert_allclose(_values(PowerDecay(0.01, 10_000, power), steps), expected, rtol=1e-5)


def test_power_decay_with_power_one_is_kerass_inverse_time_decay():
    steps = range(0, 5000, 250)
    keras_schedule = keras.optimizers.schedules.InverseTimeDecay(0.1, decay_steps=1000, decay_rate=1.0)
    np.testing.assert_allclose(
        _values(PowerDecay(0.1, 1000), steps), _values(keras_schedule, steps), rtol=1e-5
    )


def test_kerass_staircase_exponential_decay_is_the_per_epoch_098_recipe():
    steps_per_epoch, eta0 = 7, 0.01
    schedule = keras.optimizers.schedules.ExponentialDecay(
        eta0, decay_steps=steps_per_epoch, decay_rate=0.98, staircase=True
    )
    steps = np.arange(0, 10 * steps_per_epoch)
    np.testing.assert_allclose(_values(schedule, steps), eta0 * 0.98 ** (steps // steps_per_epoch), rtol=1e-6)


@pytest.mark.parametrize(
    "schedule",
    [OneCycle(0.1, 100), OneCycle(0.5, 10, 0.01, 1e-4, 0.2, 0.3, "cosine"), PowerDecay(0.1, 5, 2.0)],
)
def test_round_trips(schedule):
    helpers.assert_config_covers_init(schedule)
    helpers.assert_config_roundtrip(schedule)
    restored = helpers.assert_serialization_roundtrip(schedule)
    np.testing.assert_allclose(_values(restored, range(12)), _values(schedule, range(12)))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(max_learning_rate=0.0, total_steps=10), ValueError, "max_learning_rate=0.0"),
        (dict(max_learning_rate=float("nan"), total_steps=10), ValueError, "max_learning_rate=nan"),
        (dict(max_learning_rate=float("inf"), total_steps=10), ValueError, "max_learning_rate=inf"),
        (dict(max_learning_rate="0.1", total_steps=10), TypeError, "max_learning_rate='0.1'"),
        (dict(max_learning_rate=0.1, total_steps=0), ValueError, "total_steps=0"),
        (dict(max_learning_rate=0.1, total_steps=2.5), TypeError, "total_steps=2.5"),
        (dict(max_learning_rate=0.1, total_steps=2), ValueError, "total_steps=2"),
        (dict(max_learning_rate=0.1, total_steps=10, initial_learning_rate=0.2), ValueError, "initial_lear"),
        (dict(max_learning_rate=0.1, total_steps=10, final_learning_rate=-1.0), ValueError, "final_.*=-1.0"),
        (dict(max_learning_rate=0.1, total_steps=10, warmup_fraction=1.0), ValueError, "warmup_fraction=1.0"),
        (dict(max_learning_rate=0.1, total_steps=10, final_fraction=0.0), ValueError, "final_fraction=0.0"),
        (
            dict(max_learning_rate=0.1, total_steps=100, warmup_fraction=0.6, final_fraction=0.5),
            ValueError,
            "warmup_fraction=0.6",
        ),
        (dict(max_learning_rate=0.1, total_steps=10, anneal="exp"), ValueError, "anneal='exp'"),
    ],
)
def test_one_cycle_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        OneCycle(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(initial_learning_rate=-0.1, decay_steps=10), ValueError, "initial_learning_rate=-0.1"),
        (dict(initial_learning_rate=0.1, decay_steps=0), ValueError, "decay_steps=0"),
        (dict(initial_learning_rate=0.1, decay_steps=float("inf")), ValueError, "decay_steps=inf"),
        (dict(initial_learning_rate=0.1, decay_steps=10, power=0.0), ValueError, "power=0.0"),
        (dict(initial_learning_rate=0.1, decay_steps=10, power=None), TypeError, "power=None"),
    ],
)
def test_power_decay_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        PowerDecay(**kwargs)


def _compiled_model(schedule):
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=0.9), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


class _InterruptAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


@pytest.mark.parametrize(
    "schedule", [OneCycle(0.05, total_steps=12), PowerDecay(0.05, decay_steps=2, power=2.0)]
)
def test_training_resumed_by_backup_and_restore_continues_the_schedule(schedule, tmp_path):
    x, y = _data()
    reference = _compiled_model(schedule)
    reference.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)

    model = _compiled_model(schedule)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(
            x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[backup, _InterruptAfter(0)]
        )
    resumed = _compiled_model(schedule)
    resumed.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[backup])

    assert int(resumed.optimizer.iterations) == 12
    helpers.assert_resumed_equals_uninterrupted(resumed, reference, rtol=1e-5, atol=1e-6)


def test_a_model_with_a_schedule_saves_and_loads(tmp_path):
    x, y = _data()
    model = _compiled_model(OneCycle(0.05, total_steps=12))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    loaded = helpers.assert_saved_model_roundtrip(model, x, tmp_path)
    assert isinstance(loaded.optimizer.get_config()["learning_rate"], dict)
    np.testing.assert_allclose(float(loaded.optimizer.learning_rate), float(model.optimizer.learning_rate))


def test_one_cycle_from_epochs_and_the_warnings_for_a_cycle_shorter_than_the_fit():
    import warnings

    import numpy as np

    from keras_tricks.callbacks import LearningRateLogger

    assert OneCycle.from_epochs(0.1, epochs=3, steps_per_epoch=7).total_steps == 21
    with pytest.raises(TypeError, match="epochs=2.5"):
        OneCycle.from_epochs(0.1, epochs=2.5, steps_per_epoch=7)
    with pytest.warns(UserWarning, match="counts optimizer steps, not epochs: total_steps=5"):
        OneCycle(0.1, total_steps=5)  # the epoch count given as the step count
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(OneCycle(0.1, total_steps=20)), loss="mse")
    x = np.ones((64, 2), "float32")
    with pytest.warns(
        UserWarning, match=r"runs 40 steps \(5 epochs × 8\) but its OneCycle ends after total_steps=20"
    ):
        model.fit(x, x[:, :1], batch_size=8, epochs=5, verbose=0, callbacks=[LearningRateLogger()])
    model.compile(optimizer=keras.optimizers.SGD(OneCycle.from_epochs(0.1, 5, 8)), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a cycle as long as the fit: no warning
        model.fit(x, x[:, :1], batch_size=8, epochs=5, verbose=0, callbacks=[LearningRateLogger()])
