"""keras_tricks.optimizers._chain: the walk down an optimizer chain (LossScaleOptimizer and keras-tricks
wrappers in any nesting), `unwrap` (public as `keras_tricks.optimizers.unwrap`), the clipping arguments
set anywhere in it, the learning rate and schedule of the optimizer that steps (`set_schedule` installs
the live object), the per-variable keys of every optimizer's state, and the step counter."""

import keras
import numpy as np
import pytest

import keras_tricks.optimizers
from keras_tricks.optimizers import CyclicMomentum, GradientClipping, LearningRateMultipliers, _chain
from keras_tricks.optimizers._wrapper import OptimizerWrapper


def _decay():
    return keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5)


def _deep():
    """LossScaleOptimizer(GradientClipping(LearningRateMultipliers(CyclicMomentum(SGD)))) and its members."""
    sgd = keras.optimizers.SGD(0.05, momentum=0.9)
    cyclic = CyclicMomentum(sgd, keras.optimizers.schedules.PolynomialDecay(0.95, 10, 0.85))
    multipliers = LearningRateMultipliers(cyclic, {"out/kernel": 0.5})
    clipping = GradientClipping(multipliers, mode=None)
    return keras.optimizers.LossScaleOptimizer(clipping), [clipping, multipliers, cyclic, sgd]


# chain and unwrap


def test_chain_lists_the_optimizers_outermost_first_down_to_the_one_that_steps():
    outer, inner = _deep()
    assert [id(o) for o in _chain.chain(outer)] == [id(o) for o in [outer, *inner]]
    sgd = inner[-1]
    assert [id(o) for o in _chain.chain(sgd)] == [id(sgd)]


def test_unwrap_without_a_class_is_the_innermost_optimizer():
    outer, inner = _deep()
    assert _chain.unwrap(outer) is inner[-1]
    assert _chain.unwrap(inner[-1]) is inner[-1]


def test_unwrap_with_a_class_is_the_outermost_match_or_none():
    outer, (clipping, multipliers, cyclic, sgd) = _deep()
    assert _chain.unwrap(outer, CyclicMomentum) is cyclic
    assert _chain.unwrap(outer, OptimizerWrapper) is clipping  # the first one walking inward
    assert _chain.unwrap(outer, (LearningRateMultipliers, keras.optimizers.SGD)) is multipliers
    assert _chain.unwrap(outer, keras.optimizers.Optimizer) is outer
    assert _chain.unwrap(sgd, GradientClipping) is None
    assert _chain.unwrap(clipping, keras.optimizers.LossScaleOptimizer) is None  # never looks outward


def test_unwrap_refuses_what_is_not_an_optimizer():
    with pytest.raises(
        TypeError, match=r"Expected optimizer to be a keras.optimizers.Optimizer\. Received: optimizer='sgd'"
    ):
        _chain.unwrap("sgd")


def test_unwrap_is_the_public_keras_tricks_optimizers_unwrap():
    assert keras_tricks.optimizers.unwrap is _chain.unwrap


# clipping_settings


def test_clipping_settings_finds_keras_clipping_arguments_anywhere_in_the_chain():
    assert _chain.CLIPPING_ARGUMENTS == ("clipnorm", "clipvalue", "global_clipnorm")
    sgd = keras.optimizers.SGD(0.1, clipvalue=0.5)
    scaled = keras.optimizers.LossScaleOptimizer(sgd)
    assert _chain.clipping_settings(scaled) == [(sgd, "clipvalue", 0.5)]
    adam = keras.optimizers.Adam(global_clipnorm=2.0)
    assert _chain.clipping_settings(adam) == [(adam, "global_clipnorm", 2.0)]
    outer, _ = _deep()
    assert _chain.clipping_settings(outer) == []


# learning_rate and schedules


def test_learning_rate_is_the_innermost_rate_as_a_python_float():
    outer, _ = _deep()
    rate = _chain.learning_rate(outer)
    assert type(rate) is float and rate == pytest.approx(0.05)


def test_learning_rate_of_a_schedule_is_its_value_at_the_current_step():
    sgd = keras.optimizers.SGD(_decay())
    wrapped = GradientClipping(sgd, mode=None)
    assert _chain.learning_rate(wrapped) == pytest.approx(0.1)
    sgd.iterations.assign(10)
    assert _chain.learning_rate(wrapped) == pytest.approx(0.1 * 0.5 ** (10 / 5))


def test_schedule_is_none_for_a_float_rate_and_an_equal_schedule_read_from_the_config():
    outer, _ = _deep()
    assert _chain.schedule(outer) is None
    wrapped = GradientClipping(keras.optimizers.SGD(_decay()), mode=None)
    found = _chain.schedule(wrapped)
    assert type(found) is keras.optimizers.schedules.ExponentialDecay
    assert found.get_config() == _decay().get_config()
    assert not _chain.is_installed(wrapped, found)


def test_set_schedule_installs_the_live_object_in_the_innermost_optimizer():
    sgd = keras.optimizers.SGD(0.1)
    wrapped = GradientClipping(sgd, mode=None)
    decay = _decay()
    assert _chain.set_schedule(wrapped, decay) is decay
    assert _chain.schedule(wrapped) is decay and _chain.schedule(sgd) is decay
    assert _chain.is_installed(wrapped, decay)
    assert not _chain.is_installed(wrapped, _decay())  # an equal schedule is not the live one
    sgd.iterations.assign(5)
    assert _chain.learning_rate(wrapped) == pytest.approx(0.05)


def test_a_schedule_replaced_behind_its_back_is_no_longer_the_installed_one():
    sgd = keras.optimizers.SGD(0.1)
    decay = _chain.set_schedule(sgd, _decay())
    other = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=3, decay_rate=0.9)
    sgd.learning_rate = other
    found = _chain.schedule(sgd)
    assert found is not decay and found.get_config() == other.get_config()
    assert not _chain.is_installed(sgd, decay)


def test_a_copy_of_the_optimizer_does_not_share_the_installed_schedule():
    sgd = keras.optimizers.SGD(0.1)
    decay = _chain.set_schedule(sgd, _decay())
    copy = keras.optimizers.SGD.from_config(sgd.get_config())
    found = _chain.schedule(copy)
    assert found is not decay and found.get_config() == decay.get_config()
    assert not _chain.is_installed(copy, decay)


# variable_keys


def _compiled(optimizer, names=("hidden", "out")):
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name=names[0]), keras.layers.Dense(1, name=names[1])]
    )
    model.compile(optimizer=optimizer, loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_variable_keys_name_slots_by_model_variable_and_the_rest_by_optimizer_class():
    model = _compiled(GradientClipping(keras.optimizers.SGD(0.1, momentum=0.9), mode=None))
    keys = _chain.variable_keys(model.optimizer, model)
    assert set(keys) == {id(v) for v in model.optimizer.variables}
    assert sorted(keys.values()) == sorted(
        [
            "GradientClipping/iteration",
            "GradientClipping/learning_rate",
            "GradientClipping/sums",
            "GradientClipping/grad_norm_max",
            "SGD/iteration",
            "SGD/learning_rate",
            "hidden/kernel:momentum",
            "hidden/bias:momentum",
            "out/kernel:momentum",
            "out/bias:momentum",
        ]
    )


def test_variable_keys_are_the_same_for_a_model_built_after_others():
    def keys():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
        model.optimizer.build(model.trainable_variables)
        return model, sorted(_chain.variable_keys(model.optimizer, model).values())

    first_model, first = keys()
    second_model, second = keys()
    assert second_model.layers[0].name != first_model.layers[0].name
    assert second == first
    assert "dense_1/kernel:velocity" in first


def test_a_slot_goes_to_the_variable_with_the_longest_matching_name():
    # Slots of x/kernel and x_kernel/kernel are named sequential_x_kernel_momentum and
    # sequential_x_kernel_kernel_momentum: both start with "sequential_x_kernel_".
    model = _compiled(keras.optimizers.SGD(0.1, momentum=0.9), names=("x", "x_kernel"))
    keys = _chain.variable_keys(model.optimizer, model)
    slots = sorted(k for k in keys.values() if ":" in k)
    assert slots == [
        "x/bias:momentum",
        "x/kernel:momentum",
        "x_kernel/bias:momentum",
        "x_kernel/kernel:momentum",
    ]


# step_counter


def test_step_counter_counts_micro_steps_of_gradient_accumulation_where_iterations_count_updates():
    sgd = keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
    model = _compiled(GradientClipping(sgd, mode=None))
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
    for _ in range(4):
        model.train_on_batch(x, y)
    counter = _chain.step_counter(model.optimizer)
    assert counter is _chain.step_counter(sgd)
    assert any(counter is v for v in sgd.variables) and counter.name == "iteration"
    assert int(keras.ops.convert_to_numpy(counter)) == 4
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2
