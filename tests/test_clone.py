"""keras_tricks._clone: a copy to try things on leaves the model, its weights and its optimizer alone."""

import keras
import numpy as np
import pytest

from keras_tricks import _clone


def _compiled():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def test_training_the_clone_changes_nothing_of_the_model():
    model = _compiled()
    before = [w.copy() for w in model.get_weights()]
    clone, paths = _clone.compiled_clone(
        model, keras.saving.serialize_keras_object(keras.optimizers.SGD(0.5))
    )
    assert set(paths) == {v.path for v in model.weights}
    for w, c in zip(model.get_weights(), clone.get_weights(), strict=True):
        np.testing.assert_array_equal(w, c)  # starts from the model's weights
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    clone.train_on_batch(x, y)
    assert any(not np.array_equal(w, c) for w, c in zip(before, clone.get_weights(), strict=True))
    for w, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0


def test_an_uncompiled_model_or_not_a_model_is_refused():
    with pytest.raises(ValueError, match="compile"):
        _clone.compiled_clone(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]), {})
    with pytest.raises(TypeError, match="keras.Model"):
        _clone.compiled_clone("model", {})


def test_batches_are_reproducible_from_the_seed():
    x, y = np.arange(20, dtype="float32")[:, None], np.arange(20)
    first = [xb.tolist() for xb, _ in _clone.batches(x, y, 4, 3, seed=0)]
    assert first == [xb.tolist() for xb, _ in _clone.batches(x, y, 4, 3, seed=0)]
    assert len(first) == 3 and all(len(b) == 4 for b in first)
