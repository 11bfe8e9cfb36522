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
