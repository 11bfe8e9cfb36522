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


def _logged_fit():
    import keras
    import numpy as np

    from keras_tricks.callbacks import ActivationStats, Diagnose, GradientNormLogger
    from keras_tricks.optimizers import GradientClipping

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,))]
        + [keras.layers.Dense(8, activation="sigmoid", name=f"s{i}") for i in range(4)]
        + [keras.layers.Dense(1, name="out")]
    )
    model.compile(optimizer=GradientClipping(keras.optimizers.SGD(1e-9), mode=None), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    stats, diagnose = ActivationStats(x[:16]), Diagnose(x_probe=x[:16], verbose=0)
    history = model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[GradientNormLogger(), stats, diagnose])
    return history, stats, diagnose


def test_gradient_norm_map_draws_layers_by_epochs_in_log10():
    import numpy as np

    history, _, _ = _logged_fit()
    ax = plot.gradient_norm_map(history)
    image = ax.images[0].get_array()
    assert image.shape == (5, 3)  # 5 kernels (input → output) × 3 epochs
    expected = np.log10(history.history["grad_norm/s0/kernel"])
    np.testing.assert_allclose(image[0], expected, rtol=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["s0", "s1", "s2", "s3", "out"]
    with pytest.raises(ValueError, match="per-layer keys"):
        plot.gradient_norm_map({"loss": [1.0]})


def test_activation_map_has_one_histogram_column_per_measured_epoch():
    import numpy as np

    _, stats, _ = _logged_fit()
    ax = plot.activation_map(stats.history, "s1")
    assert len(ax.collections) == 3  # one column per epoch
    counts = stats.history[0][1]["s1"]["histogram"]["counts"]
    np.testing.assert_allclose(ax.collections[0].get_array().ravel(), np.log1p(counts))
    with pytest.raises(ValueError, match="Unknown layer 'nope'"):
        plot.activation_map(stats.history, "nope")


def test_diagnosis_marks_each_finding_once_at_its_epoch():
    history, stats, diagnose = _logged_fit()
    assert diagnose.findings.codes == ["learning_rate_too_low"]
    gradients_ax, activations_ax = plot.diagnosis(history, diagnose.findings, stats.history)
    texts = [t.get_text() for t in gradients_ax.texts]
    assert texts == ["learning_rate_too_low (warning)"]
    assert [line.get_xdata()[0] for line in gradients_ax.lines] == [-0.5]  # the start of epoch 1's column
    assert activations_ax.images[0].get_array().shape == (4, 3)  # the sigmoid layers × epochs
