"""examples/batch_norm.py: the book's two BN models, and a tiny quick run on the real data."""

import batch_norm
import keras
import pytest
from book_models import bn_model


def test_bn_after_the_activations_is_the_books_model():
    model = bn_model("after")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", *["BatchNormalization", "Dense"] * 3]
    assert batch_norm.parameter_counts(model) == (271_346, 2_368)  # the book's model.summary()


def test_bn_before_the_activations_drops_the_redundant_bias():
    model = bn_model("before")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", *["Dense", "BatchNormalization", "Activation"] * 2, "Dense"]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.use_bias for layer in dense] == [False, False, True]
    assert batch_norm.parameter_counts(model) == (267_810, 800)


def test_unknown_placement_is_refused():
    with pytest.raises(ValueError, match="Received: where='middle'"):
        bn_model("middle")


@pytest.mark.slow
def test_quick_run_rows_and_figure(section_run):
    rows, _, output = section_run("batch-norm")  # 1,024 images, 1 epoch
    assert [row.book for row in rows] == ["271,346 (2,368)", 0.8650, None, 0.8646]
    assert rows[0].ours == "271,346 (2,368)"
    accuracies = [rows[1].ours, rows[3].ours]
    assert all(0.3 < accuracy <= 1 for accuracy in accuracies)  # learns (chance: 0.1) in 32 steps
    assert (output / "batch_norm.png").stat().st_size > 10_000
