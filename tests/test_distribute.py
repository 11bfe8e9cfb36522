"""keras_tricks.optimizers._distribute, on one device: outside a multi-replica `tf.distribute` strategy
`all_reduce_sum` hands the gradients back as they are (count 1, `None` kept) and `apply_if_finite` runs
the update only when the step is finite, eagerly and in a traced step. The several-replica sums are in
tests/test_gradient_clipping_distributed.py (a child process with two logical CPUs)."""

import keras
import numpy as np
import pytest

from keras_tricks.optimizers import _distribute

backend = keras.backend.backend()
tensorflow_only = pytest.mark.skipif(
    backend != "tensorflow", reason="tf.distribute strategies are tensorflow's"
)
not_on_jax = pytest.mark.skipif(
    backend == "jax",
    reason="GradientClipping's jax path is stateless (stateless_apply, never apply_if_finite), and jax's "
    "cond traces both branches, so a stateful apply cannot run inside it",
)


def _grads():
    return (keras.ops.convert_to_tensor(np.array([1.0, -2.0], "float32")), None, keras.ops.ones((2, 2)))


def test_without_replicas_all_reduce_sum_returns_the_same_gradients_and_one_replica():
    grads = _grads()
    reduced, replicas = _distribute.all_reduce_sum(grads)
    assert replicas == 1
    assert type(reduced) is list
    assert [id(g) for g in reduced] == [id(g) for g in grads]  # not copied, None kept in place


@tensorflow_only
def test_a_one_replica_strategy_is_no_reduction():
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert strategy.num_replicas_in_sync == 1
    grads = [tf.constant([1.0, -2.0]), None]

    def in_replica():
        reduced, replicas = _distribute.all_reduce_sum(grads)
        return reduced[0], replicas, reduced[1] is None

    value, replicas, kept_none = strategy.run(in_replica)
    assert (replicas, kept_none) == (1, True)
    np.testing.assert_array_equal(strategy.experimental_local_results(value)[0].numpy(), [1.0, -2.0])
    with strategy.scope():  # cross-replica context: no replica to sum over
        assert _distribute.all_reduce_sum(grads)[1] == 1


@not_on_jax
@pytest.mark.parametrize("finite", [True, False])
def test_apply_if_finite_runs_the_update_only_on_a_finite_step(finite):
    variable = keras.Variable(np.zeros(2, "float32"))
    grads = [keras.ops.convert_to_tensor(np.array([1.0, -2.0], "float32"))]

    calls = []

    def apply(grads):
        variable.assign_sub(grads[0])

    def clipped():  # the gradients are computed in the branch that uses them, not before the decision
        calls.append(1)
        return grads

    _distribute.apply_if_finite(keras.ops.convert_to_tensor(finite), apply, clipped)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), [-1.0, 2.0] if finite else [0.0, 0.0])
    assert len(calls) == (1 if finite else 0)


@tensorflow_only
def test_apply_if_finite_decides_inside_a_traced_step_from_the_gradients():
    import tensorflow as tf

    variable = keras.Variable(np.zeros(2, "float32"))

    def apply(grads):
        variable.assign_sub(grads[0])

    @tf.function
    def step(gradient):
        finite = keras.ops.all(keras.ops.isfinite(gradient))
        _distribute.apply_if_finite(finite, apply, lambda: [gradient])

    step(tf.constant([1.0, -2.0]))
    step(tf.constant([np.nan, 1.0]))  # skipped: the weights stay those of the first step
    np.testing.assert_array_equal(variable.numpy(), [-1.0, 2.0])
