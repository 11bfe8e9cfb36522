"""keras_tricks.optimizers._sparse: tensorflow's sparse gradients (`tf.IndexedSlices`, the gradient of an
`Embedding` lookup). `deduplicated` sums the rows of repeated indices so that its rows are exactly the
non-zero rows of the dense form; `values` and `with_values` read and replace the rows, keeping indices and
shape. Dense gradients (every gradient on jax and torch) pass through unchanged."""

import keras
import numpy as np
import pytest

from keras_tricks.optimizers import _sparse

on_tensorflow = keras.backend.backend() == "tensorflow"
tensorflow_only = pytest.mark.skipif(
    not on_tensorflow,
    reason="only tensorflow has sparse gradients (tf.IndexedSlices); jax and torch are dense",
)

ROWS = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0], [0.5, 0.25]], "float32")
INDICES = np.array([3, 0, 3, 5])  # index 3 twice
DENSE_SHAPE = (6, 2)


def _dense_reference():
    """The dense form of (ROWS, INDICES) in float64: rows of a repeated index summed."""
    dense = np.zeros(DENSE_SHAPE)
    np.add.at(dense, INDICES, ROWS.astype("float64"))
    return dense


def _slices():
    import tensorflow as tf

    return tf.IndexedSlices(tf.constant(ROWS), tf.constant(INDICES), tf.constant(DENSE_SHAPE, "int64"))


# every backend


def test_a_dense_gradient_is_not_sparse_and_passes_through_unchanged():
    gradient = keras.ops.convert_to_tensor(ROWS)
    assert not _sparse.is_sparse(gradient)
    assert _sparse.deduplicated(gradient) is gradient
    assert _sparse.values(gradient) is gradient
    replacement = keras.ops.convert_to_tensor(2.0 * ROWS)
    assert _sparse.with_values(gradient, replacement) is replacement


# tensorflow


@tensorflow_only
def test_an_embedding_gradient_is_sparse_and_deduplicates_to_its_dense_form():
    import tensorflow as tf

    embedding = keras.layers.Embedding(6, 2)
    model = keras.Sequential([keras.Input((4,), dtype="int32"), embedding])
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(model(INDICES[None].astype("int32")))
    gradient = tape.gradient(loss, embedding.embeddings.value)
    assert _sparse.is_sparse(gradient)
    expected = np.zeros(DENSE_SHAPE)
    np.add.at(expected, INDICES, 1.0)  # d(sum)/d(row) = number of lookups of that row
    deduplicated = _sparse.deduplicated(gradient)
    np.testing.assert_array_equal(np.sort(deduplicated.indices.numpy()), [0, 3, 5])
    np.testing.assert_array_equal(tf.convert_to_tensor(deduplicated).numpy(), expected)


@tensorflow_only
def test_deduplicated_sums_the_rows_of_repeated_indices_and_keeps_the_dense_form():
    import tensorflow as tf

    gradient = _sparse.deduplicated(_slices())
    assert _sparse.is_sparse(gradient)
    indices = gradient.indices.numpy()
    assert sorted(indices) == [0, 3, 5]  # unique
    expected = _dense_reference()
    np.testing.assert_allclose(gradient.values.numpy(), expected[indices])
    np.testing.assert_allclose(tf.convert_to_tensor(gradient).numpy(), expected)
    np.testing.assert_array_equal(gradient.dense_shape.numpy(), DENSE_SHAPE)


@tensorflow_only
def test_deduplicated_rows_are_exactly_the_non_zero_rows_of_the_dense_form():
    # Why the norms are taken after deduplication: the norm of the dense form, not of the raw rows.
    gradient = _sparse.deduplicated(_slices())
    dense_norm = np.sqrt(np.sum(_dense_reference() ** 2))
    rows = _sparse.values(gradient).numpy().astype("float64")
    assert np.sqrt(np.sum(rows**2)) == pytest.approx(dense_norm, rel=1e-6)
    raw_norm = np.sqrt(np.sum(ROWS.astype("float64") ** 2))
    assert raw_norm != pytest.approx(dense_norm, rel=1e-3)


@tensorflow_only
def test_values_and_with_values_read_and_replace_the_rows_keeping_indices_and_shape():
    gradient = _slices()
    np.testing.assert_array_equal(_sparse.values(gradient).numpy(), ROWS)
    halved = _sparse.with_values(gradient, _sparse.values(gradient) / 2)
    assert _sparse.is_sparse(halved)
    np.testing.assert_array_equal(halved.values.numpy(), ROWS / 2)
    np.testing.assert_array_equal(halved.indices.numpy(), INDICES)
    np.testing.assert_array_equal(halved.dense_shape.numpy(), DENSE_SHAPE)


@tensorflow_only
def test_a_dense_tensorflow_tensor_is_not_sparse():
    import tensorflow as tf

    assert not _sparse.is_sparse(tf.constant(ROWS))
    assert not _sparse.is_sparse(keras.Variable(ROWS).value)


def test_static_shape_is_the_values_shape_of_a_dense_gradient():
    assert _sparse.static_shape(keras.ops.convert_to_tensor(ROWS)) == ROWS.shape


@tensorflow_only
def test_static_shape_bounds_unknown_rows_by_the_dense_form():
    # In a graph the rows of a deduplicated gradient are unknown; the norms size their scales by the
    # dense form's rows (a deduplicated gradient has at most that many), or by nothing if that is
    # unknown too.
    import tensorflow as tf

    seen = {}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 2], tf.float32),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([2], tf.int64),
        ]
    )
    def trace(rows, indices, dense_shape):
        gradient = _sparse.deduplicated(tf.IndexedSlices(rows, indices, tf.constant(DENSE_SHAPE, tf.int64)))
        unknown = tf.IndexedSlices(gradient.values, gradient.indices, dense_shape)
        seen.update(
            rows=tuple(gradient.values.shape),
            bounded=_sparse.static_shape(gradient),
            unbounded=_sparse.static_shape(unknown),
        )
        return gradient.values

    trace(ROWS, INDICES, tf.constant(DENSE_SHAPE, tf.int64))
    assert seen == {"rows": (None, 2), "bounded": DENSE_SHAPE, "unbounded": (None, 2)}
