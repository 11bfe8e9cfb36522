import warnings

import keras
import numpy as np
import pytest

import keras_tricks
from keras_tricks import find_learning_rate
from keras_tricks.schedules import OneCycle


def _data(n=256):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([1.0, -1.0, 2.0, 0.5], dtype="float32"))[:, None]


def _model(optimizer):
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    return model


def _state(model):
    variables = [*model.weights, *model.optimizer.variables]
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


@pytest.mark.filterwarnings("ignore:find_learning_rate")  # short sweeps on purpose
@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: keras.optimizers.SGD(0.01, momentum=0.9),
        lambda: keras.optimizers.Adam(OneCycle(0.01, total_steps=50), use_ema=True),
    ],
)
def test_model_and_optimizer_are_bit_identical_afterwards(optimizer):
    x, y = _data()
    model = _model(optimizer())
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = _state(model)
    lr_before = keras.ops.convert_to_numpy(model.optimizer.learning_rate)
    find_learning_rate(model, x, y, batch_size=32, steps=8)
    after = _state(model)
    assert len(after) == len(before)
    for a, b in zip(after, before, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.optimizer.learning_rate), lr_before)


@pytest.mark.filterwarnings("ignore:find_learning_rate")  # short sweeps on purpose
def test_rates_grow_geometrically_and_losses_are_per_batch():
    x, y = _data()
    model = _model("sgd")
    # rates so small the weights do not move: each step's loss is then the loss of its own batch
    result = find_learning_rate(model, x, y, batch_size=32, min_lr=1e-12, max_lr=1e-11, steps=8, seed=3)
    np.testing.assert_allclose(result.learning_rates, 1e-12 * 10 ** (np.arange(8) / 7), rtol=1e-9)
    order = np.random.default_rng(3).permutation(len(x))
    expected = [
        model.evaluate(x[order[i * 32 : (i + 1) * 32]], y[order[i * 32 : (i + 1) * 32]], verbose=0)[0]
        for i in range(8)
    ]
    np.testing.assert_allclose(result.losses, expected, rtol=1e-4)
    assert (
        result.losses.std() > 0.01 * result.losses.mean()
    )  # batches differ, so a running mean would not match


@pytest.mark.filterwarnings("ignore:find_learning_rate")  # short sweeps on purpose
def test_stops_when_the_smoothed_loss_blows_up_and_suggests_below_it():
    x, y = _data(2048)
    result = find_learning_rate(_model("sgd"), x, y, batch_size=16, min_lr=1e-5, max_lr=100.0, steps=120)
    assert len(result.losses) < 120
    assert not result.smoothed_losses[-1] <= 4.0 * np.nanmin(result.smoothed_losses[:-1])
    assert set(result.suggestions) == {"minimum", "steepest", "valley", "slide"}
    blow_up = result.learning_rates[-1]
    assert all(0 < lr < blow_up for lr in result.suggestions.values()), (result.suggestions, blow_up)
    assert result.rule == "steepest" and result.suggestion == result.suggestions["steepest"]
    start, end = result.window
    assert start == len(result.losses) // 10 and end == len(result.losses) - 5  # warm-up and blow-up cut


@pytest.mark.filterwarnings("ignore:find_learning_rate")  # short sweeps on purpose
def test_plot_marks_every_rule_labels_the_chosen_one_and_shows_the_informative_range():
    x, y = _data(2048)
    result = find_learning_rate(_model("sgd"), x, y, batch_size=16, min_lr=1e-5, max_lr=100.0, steps=120)
    ax = result.plot()
    labels = [line.get_label() for line in ax.lines]
    assert ax.get_xscale() == "log"
    for rule, rate in result.suggestions.items():
        chosen = " (chosen)" if rule == result.rule else ""
        assert f"{rule}{chosen}: {rate:.3g}" in labels, labels
    low, high = ax.get_ylim()
    start, end = result.window
    read = result.smoothed_losses[start:end]
    assert low <= read.min() and high >= read.max()
    assert high < np.nanmax(result.smoothed_losses)  # the blow-up at the end is out of view
    ax = keras_tricks.plot.schedule(OneCycle(0.1, 100), 100)
    np.testing.assert_allclose(ax.lines[0].get_ydata().max(), 0.1, rtol=1e-6)


@pytest.mark.parametrize("samples", [10, 200, 5000])
def test_the_sweep_has_its_steps_whatever_the_data_size(samples):
    x, y = _data(samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = find_learning_rate(_model("sgd"), x, y, batch_size=32, min_lr=1e-6, max_lr=1e-3, steps=40)
    assert len(result.losses) == 40  # cycling the data; a batch is all of it when it has fewer rows
    assert np.all(np.isfinite(result.losses))


def test_a_sweep_too_short_to_trust_warns():
    x, y = _data()
    with pytest.warns(UserWarning, match="too short to trust: the rules read 3 steps"):
        result = find_learning_rate(_model("sgd"), x, y, batch_size=32, steps=8)
    assert any("too short" in doubt for doubt in result.warnings)


def test_a_loss_not_finite_from_the_first_step_raises():
    x, y = _data()
    model = _model("sgd")
    # A NaN output bias, after the ReLU layer: tensorflow's fused Dense+ReLU (oneDNN) turns NaN into 0.
    model.layers[-1].bias.assign(np.full((1,), np.nan, "float32"))
    with pytest.raises(ValueError, match="The loss is nan from the first step of the sweep"):
        find_learning_rate(model, x, y)


@pytest.mark.parametrize("where", ["x", "y"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_data_that_is_not_finite_is_refused_before_the_sweep(where, value):
    x, y = _data()
    (x if where == "x" else y)[3, 0] = value
    model = _model("sgd")
    before = _state(model)
    with pytest.raises(ValueError, match=f"Expected {where} to hold only finite numbers, but 1 of its"):
        find_learning_rate(model, x, y)
    for old, new in zip(before, _state(model), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(min_lr=1.0, max_lr=1.0), ValueError, "min_lr=1.0, max_lr=1.0"),
        (dict(min_lr=0.0), ValueError, "min_lr=0.0"),
        (dict(max_lr=float("inf")), ValueError, "max_lr=inf"),
        (dict(steps=0), ValueError, "steps=0"),
        (dict(steps=1), ValueError, "Expected steps >= 2. Received: steps=1"),
        (dict(stop_factor=0.5), ValueError, "stop_factor=0.5"),
        (dict(stop_factor="4"), TypeError, "stop_factor='4'"),
        (dict(batch_size=1.5), TypeError, "batch_size=1.5"),
        (dict(smoothing=1.0), ValueError, "smoothing=1.0"),
        (dict(rule="best"), ValueError, "rule='best'"),
        (dict(stop_factor=-1.0), ValueError, "stop_factor=-1.0"),
    ],
)
def test_rejects_bad_input(kwargs, error, match):
    x, y = _data(32)
    with pytest.raises(error, match=match):
        find_learning_rate(_model("sgd"), x, y, **kwargs)


def test_rejects_a_model_that_is_not_compiled():
    x, y = _data(32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="raw")
    with pytest.raises(ValueError, match="compiled.*model=raw"):
        find_learning_rate(model, x, y)
    with pytest.raises(TypeError, match="model="):
        find_learning_rate("model", x, y)


@pytest.mark.slow
def test_book_mlp_on_fashion_mnist_suggests_about_a_tenth():
    from benchmarks import harness
    from keras_tricks.datasets import load_fashion_mnist

    (x, y), _, _ = load_fashion_mnist()
    model = harness.book_mlp()
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(), metrics=["accuracy"]
    )
    result = find_learning_rate(model, x, y, batch_size=128)
    assert 0.03 <= result.suggestion <= 0.3, result.suggestions
