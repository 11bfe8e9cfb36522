"""examples/activations.py: the activation figure, the book's 100-layer nets, a tiny quick run."""

import _common
import activations
import keras
import pytest

from keras_tricks.diagnostics import activation_stats


def test_figure_draws_the_chapters_activations():
    ax = activations.activation_figure().axes[0]
    labels = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
    assert len(labels) == 7 and labels[0] == "LeakyReLU(negative_slope=0.2)"
    leaky = ax.lines[0]
    assert leaky.get_ydata()[0] == pytest.approx(0.2 * leaky.get_xdata()[0])  # slope 0.2 below 0


def test_the_books_100_layer_nets():
    selu, relu = activations.deep_net("SELU", 42), activations.deep_net("ReLU", 42)
    for model, activation, initializer in ((selu, "selu", "LecunNormal"), (relu, "relu", "HeNormal")):
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        assert len(dense) == 101
        assert {layer.activation.__name__ for layer in dense[:-1]} == {activation}
        assert {type(layer.kernel_initializer).__name__ for layer in dense[:-1]} == {initializer}


@pytest.mark.slow
def test_selu_keeps_the_signal_normalized_through_100_layers():
    (_, _), (x_valid, _) = _common.training_set(activations.SECTION.quick, pixels="standardized")
    stats = activation_stats(activations.deep_net("SELU", 42), x_valid[:256])
    last_hidden = list(stats.values())[-2]
    assert 0.5 < last_hidden["std"] < 2


@pytest.mark.slow
def test_quick_run_rows_and_figures(section_run):
    rows, _, output = section_run("activations")  # 10-layer nets, 512 images, 1 epoch
    assert [(row.what.split(" net")[0], row.book, row.floor) for row in rows] == [
        ("10-layer SELU", 0.8046, 0.4),
        ("10-layer ReLU", 0.7054, None),
    ]
    assert all(0 <= row.ours <= 1 for row in rows)
    assert rows[0].ours > 0.2  # SELU learns (chance: 0.1) even from 16 steps at SGD 1e-3
    for name in ("activation_functions", "selu_vs_relu_100_layers"):
        assert (output / f"{name}.png").stat().st_size > 10_000
