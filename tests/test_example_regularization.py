"""examples/regularization.py: ℓ2, dropout, MC dropout and max-norm on a tiny slice of Fashion-MNIST."""

import numpy as np
import pytest
import regularization
from _common import Settings, train


def test_the_books_models():
    l2 = regularization.l2_model(42)
    assert [type(layer).__name__ for layer in l2.layers] == ["Flatten", "Dense", "Dense", "Dense"]
    assert all(layer.kernel_regularizer.l2 == pytest.approx(0.01) for layer in l2.layers[1:])
    dropout = regularization.dropout_model(42)
    assert [type(layer).__name__ for layer in dropout.layers].count("Dropout") == 3
    assert dropout.count_params() == 89_610  # the book's cell 113
    max_norm = regularization.max_norm_model(42)
    assert [layer.kernel_constraint is not None for layer in max_norm.layers[1:]] == [True, True, False]


@pytest.mark.slow
def test_quick_run_rows_mc_dropout_and_max_norm(section_run):
    rows, _, output = section_run("regularization")  # 1,000 images, 1 epoch, 200 test images, 10 passes
    rows = {row.what.split(":")[0]: row for row in rows}
    assert rows["MC dropout, 10 passes"].book == 0.8717
    accuracies = [row.ours for what, row in rows.items() if "gain" not in what]
    assert len(accuracies) == 5 and all(0.3 <= a <= 1 for a in accuracies)
    gain = rows["MC dropout gain over plain"].ours
    assert gain == pytest.approx(rows["MC dropout, 10 passes"].ours - rows["dropout"].ours)
    assert (output / "regularization_mc_dropout.png").stat().st_size > 10_000


@pytest.mark.slow
def test_max_norm_keeps_every_hidden_neuron_within_norm_one():
    import keras

    model = regularization.max_norm_model(42)
    train(model, keras.optimizers.SGD(0.01, momentum=0.9), Settings(samples=500, epochs=1), 42)
    for layer in model.layers[1:3]:
        norms = np.linalg.norm(keras.ops.convert_to_numpy(layer.kernel), axis=0)
        assert norms.max() <= 1.0 + 1e-5
    output_norms = np.linalg.norm(keras.ops.convert_to_numpy(model.layers[3].kernel), axis=0)
    assert output_norms.max() > 1.0  # the output layer is not constrained (He init gives norms > 1)
