import builtins

import pytest

from keras_tricks import plot


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"keras-tricks\[plot\]"):
        plot._pyplot()


def _stats_and_history():
    import keras
    import numpy as np

    from keras_tricks.callbacks import ActivationStats

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6, activation="sigmoid", name="sig"),
            keras.layers.Dense(6, activation="relu", name="relu"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    callback = ActivationStats(x, bins=8)
    model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[callback])
    return callback.history


def test_activation_saturation_draws_one_bar_pair_per_layer_and_the_std():
    import math

    history = _stats_and_history()
    stats = history[-1][1]
    ax = plot.activation_saturation(stats)
    heights = [patch.get_height() for patch in ax.patches]
    assert len(heights) == 6  # saturated and dead bars for 3 layers
    assert heights[0] == stats["sig"]["saturated"] and heights[4] == stats["relu"]["dead"]
    assert math.isnan(heights[1]) and math.isnan(heights[3])  # no "dead" for sigmoid, no "saturated" for ReLU
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sig", "relu", "out"]
    (std_line,) = [a for a in ax.figure.axes if a is not ax][0].get_lines()
    assert list(std_line.get_ydata()) == [stats[name]["std"] for name in ("sig", "relu", "out")]


def test_activation_histograms_draws_one_line_per_measured_epoch():
    history = _stats_and_history()
    ax = plot.activation_histograms(history, "relu")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["epoch 1", "epoch 2", "epoch 3"]
    assert len(ax.patches) == 3


def test_plots_reject_bad_input():
    history = _stats_and_history()
    with pytest.raises(ValueError, match="layer='nope'"):
        plot.activation_histograms(history, "nope")
    with pytest.raises(ValueError, match="history="):
        plot.activation_histograms([], "relu")
    with pytest.raises(ValueError, match="stats="):
        plot.activation_saturation({})
