"""The one backend-specific piece of `GradientClipping`: the gradient of the global batch on tensorflow.

Under `tf.distribute` strategies Keras calls the optimizer once per replica with that replica's gradient
and sums the replicas' gradients only inside the inner optimizer's update (which is why Keras's own
`global_clipnorm` clips each replica's share, not the aggregated gradient). The wrapper sums them first.
On jax (`keras.distribution`) and torch the gradient the optimizer sees is already the global one.
"""

import keras


def _replica_context():
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def all_reduce_sum(grads):
    """Returns `(global gradients, number of replicas)`; the replicas' sum when they are several."""
    context = _replica_context()
    if context is None:
        return list(grads), 1
    import tensorflow as tf

    present = [g for g in grads if g is not None]
    reduced = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present))
    return [None if g is None else next(reduced) for g in grads], context.num_replicas_in_sync


def apply_if_finite(finite, apply, grads):
    """Runs `apply(grads())` when `finite` is true.

    `grads` is a function of no argument that returns the gradients: on one device it is called inside
    the `cond`'s branch, where XLA (`jit_compile=True`) fuses what it computes into the update. Under
    several replicas it is called in replica context, before the decision, and its result handed to
    each replica's `apply`.

    Under a strategy a `cond` in replica context cannot hold the inner optimizer's `merge_call`, so the
    decision is taken in cross-replica context and `apply` run for each replica from there (the way
    Keras's `LossScaleOptimizer` does it). `finite` is the same on every replica: it comes from the
    summed gradient.
    """
    from keras import ops

    context = _replica_context()
    if context is None:
        ops.cond(finite, lambda: apply(grads()), lambda: None)
        return

    def cross_replica(strategy, finite, grads):
        first = strategy.experimental_local_results(finite)[0]
        ops.cond(first, lambda: strategy.extended.call_for_each_replica(apply, args=(grads,)), lambda: None)

    context.merge_call(cross_replica, args=(finite, grads()))
