"""The one backend-specific piece of the gradient maths: tensorflow's sparse gradients.

On tensorflow the gradient of a gather (an `Embedding` lookup) is a `tf.IndexedSlices`: rows of values
at row indices, an index appearing once per occurrence of the token in the batch. Its dense form sums
the rows of a repeated index. The norms and the clipping of such a gradient must be those of its dense
form, while the gradient handed to the inner optimizer stays sparse (it then updates only those rows,
as without the wrapper). So the wrapper first sums repeated rows (`deduplicated`), then works on the
rows (`values`), and puts the result back (`with_values`): the rows of a deduplicated gradient hold
exactly the non-zero rows of its dense form. jax and torch give dense gradients: these are identities.
"""

import keras


def _tf():
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf


def is_sparse(gradient):
    tf = _tf()
    return tf is not None and isinstance(gradient, tf.IndexedSlices)


def deduplicated(gradient):
    """The gradient with the rows of repeated indices summed (unique indices); a dense one as it is."""
    if not is_sparse(gradient):
        return gradient
    tf = _tf()
    indices, positions = tf.unique(gradient.indices)
    rows = tf.math.unsorted_segment_sum(gradient.values, positions, tf.shape(indices)[0])
    return tf.IndexedSlices(rows, indices, gradient.dense_shape)


def values(gradient):
    """The rows of a sparse gradient, the gradient itself otherwise."""
    return gradient.values if is_sparse(gradient) else gradient


def with_values(gradient, new_values):
    """`gradient` with its rows (or, dense, itself) replaced by `new_values`."""
    if is_sparse(gradient):
        return _tf().IndexedSlices(new_values, gradient.indices, gradient.dense_shape)
    return new_values


def static_shape(gradient):
    """The shape of `values(gradient)`, its number of rows bounded by the dense form's when unknown.

    A deduplicated gradient has at most as many rows as its dense form; `None` for a dimension that
    neither gives statically.
    """
    shape = list(values(gradient).shape)
    if is_sparse(gradient) and shape and shape[0] is None:
        dense = _tf().get_static_value(gradient.dense_shape)
        shape[0] = None if dense is None else int(dense[0])
    return tuple(shape)
