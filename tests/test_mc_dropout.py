"""MCDropout, MCAlphaDropout and mc_predict."""

import keras
import numpy as np
import pytest

import keras_tricks
from keras_tricks import monte_carlo
from keras_tricks.layers import MCAlphaDropout, MCDropout
from tests import helpers

MC_LAYERS = [MCDropout, MCAlphaDropout]


def _x(n=10, features=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, features)).astype("float32")


def _dropout_model(rate=0.3, features=6, outputs=3):
    return keras.Sequential(
        [
            keras.Input(shape=(features,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(rate),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(rate),
            keras.layers.Dense(outputs, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("cls", MC_LAYERS)
def test_mc_layers_drop_at_inference_and_differ_across_calls(cls):
    layer = cls(0.5, seed=3)
    x = np.ones((4, 200), dtype="float32")
    a = keras.ops.convert_to_numpy(layer(x, training=False))
    b = keras.ops.convert_to_numpy(layer(x, training=False))
    assert not np.allclose(a, x) and not np.allclose(a, b)
    model = helpers.wrap_in_model(cls(0.5, seed=3), (200,))
    assert not np.allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("cls", MC_LAYERS)
def test_mc_layers_round_trip(cls, tmp_path):
    layer = cls(0.25, noise_shape=(None, 1), seed=7, name="mc")
    helpers.assert_config_covers_init(layer)
    helpers.assert_config_roundtrip(layer)
    helpers.assert_serialization_roundtrip(layer)
    loaded = helpers.assert_saved_model_roundtrip(
        helpers.wrap_in_model(layer, (5,)), _x(features=5), tmp_path, check_outputs=False
    )
    assert isinstance(loaded.layers[-1], cls) and loaded.layers[-1].rate == 0.25


@pytest.mark.parametrize("cls", MC_LAYERS)
@pytest.mark.parametrize(
    "rate, error, received",
    [
        (-0.1, ValueError, "rate=-0.1"),
        (1.0, ValueError, "rate=1.0"),
        (1.5, ValueError, "rate=1.5"),
        ("0.5", TypeError, "rate='0.5'"),
    ],
)
def test_mc_layers_reject_bad_rates(cls, rate, error, received):
    with pytest.raises(error, match=received):
        cls(rate)


def test_mc_model_reuses_every_non_dropout_layer():
    model = _dropout_model()
    clone = monte_carlo._mc_model(model, seed=0)
    for original, cloned in zip(model.layers, clone.layers, strict=True):
        if isinstance(original, keras.layers.Dropout):
            assert type(cloned) is MCDropout and cloned.rate == original.rate
        else:
            assert cloned is original
    assert [type(layer) for layer in model.layers].count(keras.layers.Dropout) == 2  # untouched


def test_mc_predict_uses_the_current_weights_of_the_original():
    model = _dropout_model(rate=0.0)
    x = _x()
    before = keras_tricks.mc_predict(model, x, samples=3, seed=0).mean
    kernel = model.layers[-1].kernel
    kernel.assign(keras.ops.convert_to_numpy(kernel) * 3.0)
    after = keras_tricks.mc_predict(model, x, samples=3, seed=0).mean
    np.testing.assert_allclose(after, model.predict(x, verbose=0), atol=1e-6)
    assert not np.allclose(before, after)


def test_mean_tends_to_the_deterministic_prediction_as_rate_goes_to_zero():
    x = _x()
    errors = []
    for rate in (0.3, 0.05, 1e-4):
        keras.utils.set_random_seed(0)
        model = _dropout_model(rate=rate)
        result = keras_tricks.mc_predict(model, x, samples=50, seed=1)
        errors.append(np.abs(result.mean - model.predict(x, verbose=0)).max())
    assert errors[2] < 1e-3 and errors[2] < errors[1] < errors[0]


def test_std_is_positive_with_dropout_and_zero_without():
    x = _x()
    assert (keras_tricks.mc_predict(_dropout_model(0.3), x, samples=20, seed=0).std > 0).all()
    assert np.allclose(keras_tricks.mc_predict(_dropout_model(0.0), x, samples=5, seed=0).std, 0, atol=1e-6)


def test_batch_normalization_stays_in_inference_mode():
    inputs = keras.Input(shape=(6,))
    hidden = keras.layers.Dense(8)(inputs)
    hidden = keras.layers.BatchNormalization()(hidden)
    hidden = keras.layers.Dropout(0.0)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    bn = model.layers[2]
    bn.moving_mean.assign(np.linspace(-2, 2, 8).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 4, 8).astype("float32"))
    x = _x()
    result = keras_tricks.mc_predict(model, x, samples=4, seed=0)
    np.testing.assert_allclose(result.mean, model.predict(x, verbose=0), atol=1e-6)
    training_mode = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(result.mean, training_mode, atol=1e-3)


def test_streaming_equals_a_numpy_reference_over_all_samples(monkeypatch):
    monkeypatch.setattr(monte_carlo, "_ROWS_PER_CALL", 12)  # 3 passes per call with batch 4
    model, x, samples, batch_size = _dropout_model(), _x(n=10), 7, 4
    result = keras_tricks.mc_predict(model, x, samples=samples, batch_size=batch_size, seed=5)

    draw = monte_carlo._sampler(model)  # same seeds, same sequence of calls, all passes kept
    draw.restart(5)
    batches = []
    for start in range(0, len(x), batch_size):
        passes = [draw(x[start : start + batch_size], k) for k in (3, 3, 1)]
        batches.append(np.concatenate(passes, axis=0))
    stacked = np.concatenate(batches, axis=1).astype("float64")  # (samples, n, classes)
    mean = stacked.mean(axis=0)
    np.testing.assert_allclose(result.mean, mean, atol=1e-6)
    np.testing.assert_allclose(result.std, stacked.std(axis=0), atol=1e-6)
    np.testing.assert_allclose(result.entropy, -(mean * np.log(mean)).sum(axis=-1), atol=1e-5)
    assert (result.std > 0).all()


def test_seed_makes_results_reproducible():
    model, x = _dropout_model(), _x()
    a = keras_tricks.mc_predict(model, x, samples=10, seed=3)
    b = keras_tricks.mc_predict(model, x, samples=10, seed=3)
    c = keras_tricks.mc_predict(model, x, samples=10, seed=4)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)
    assert not np.allclose(a.mean, c.mean)


def test_functional_and_nested_models_with_alpha_dropout():
    inner = keras.Sequential(
        [keras.Input(shape=(8,)), keras.layers.AlphaDropout(0.2), keras.layers.Dense(8, activation="selu")]
    )
    inputs = keras.Input(shape=(6,))
    hidden = keras.layers.Dense(8, activation="selu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(inner(hidden))
    model = keras.Model(inputs, outputs)
    result = keras_tricks.mc_predict(model, _x(), samples=10, seed=0)
    assert result.mean.shape == (10, 3) and (result.std > 0).all()
    np.testing.assert_allclose(result.mean.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"samples": 0}, ValueError, "samples=0"),
        ({"samples": -3}, ValueError, "samples=-3"),
        ({"samples": 2.5}, TypeError, "samples=2.5"),
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"seed": "a"}, TypeError, "seed='a'"),
        ({"seed": -1}, ValueError, "seed=-1"),
        ({"seed": 2**31}, ValueError, "seed=2147483648"),  # seed + i would overflow torch's int32 state
        ({"x": np.zeros((4, 5), "float32")}, ValueError, r"x.shape=\(4, 5\)"),
        ({"x": np.zeros((0, 6), "float32")}, ValueError, r"x.shape=\(0, 6\)"),
        ({"x": [[1.0] * 6]}, ValueError, "x of type list"),
        ({"model": "not a model"}, TypeError, "model='not a model'"),
    ],
)
def test_mc_predict_rejects_bad_input(kwargs, error, match):
    arguments = {"model": _dropout_model(), "x": _x(), **kwargs}
    with pytest.raises(error, match=match):
        keras_tricks.mc_predict(**arguments)


def test_mc_predict_rejects_a_subclassed_model():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(_x())
    with pytest.raises(TypeError, match="Sequential or functional"):
        keras_tricks.mc_predict(model, _x())


def test_a_model_without_dropout_is_refused_not_sampled_to_std_0():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = np.zeros((2, 4), "float32")
    with pytest.raises(ValueError, match="has none .*every sample would be the same"):
        keras_tricks.mc_predict(model, x, samples=5)


def _count_clones(monkeypatch):
    clones = []
    clone = monte_carlo._mc_model

    def counting(*args, **kwargs):
        clones.append(args[0])
        return clone(*args, **kwargs)

    monkeypatch.setattr(monte_carlo, "_mc_model", counting)
    return clones


def test_calls_on_one_model_reuse_its_clone_whatever_the_seed(monkeypatch):
    # Cloning the model and compiling its passes is done once per model, as `model.predict` compiles
    # once; the seed only sets where each dropout layer's generator starts.
    clones = _count_clones(monkeypatch)
    model, x = _dropout_model(), _x()
    first = [keras_tricks.mc_predict(model, x, samples=6, seed=seed) for seed in (3, 4, 3)]
    assert len(clones) == 1
    np.testing.assert_array_equal(first[0].mean, first[2].mean)
    np.testing.assert_array_equal(first[0].std, first[2].std)
    assert not np.allclose(first[0].mean, first[1].mean)

    # The same seeds on an identical model that was never sampled: the same results.
    twin = _dropout_model()
    twin.set_weights(model.get_weights())
    for seed, result in zip((3, 4), first, strict=False):
        again = keras_tricks.mc_predict(twin, x, samples=6, seed=seed)
        np.testing.assert_array_equal(again.mean, result.mean)
        np.testing.assert_array_equal(again.std, result.std)
    assert len(clones) == 2


def test_without_a_seed_a_seeded_layer_restarts_and_an_unseeded_one_goes_on(monkeypatch):
    clones = _count_clones(monkeypatch)
    x = _x()
    seeded = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(16), keras.layers.Dropout(0.3, seed=0), keras.layers.Dense(3)]
    )
    a, b = (keras_tricks.mc_predict(seeded, x, samples=5).mean for _ in range(2))
    np.testing.assert_array_equal(a, b)  # the layer's own seed, as a fresh clone would start from it
    unseeded = _dropout_model()
    c, d = (keras_tricks.mc_predict(unseeded, x, samples=5).mean for _ in range(2))
    assert not np.allclose(c, d)  # new masks on each call
    assert len(clones) == 2


def test_a_changed_model_is_cloned_again(monkeypatch):
    clones = _count_clones(monkeypatch)
    model, x = _dropout_model(), _x()
    assert (keras_tricks.mc_predict(model, x, samples=5, seed=0).std > 0).all()
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0  # a dropout layer's configuration changed
    np.testing.assert_allclose(keras_tricks.mc_predict(model, x, samples=5, seed=0).std, 0, atol=1e-6)
    model.pop()
    model.add(keras.layers.Dense(2, activation="softmax"))  # a layer replaced
    assert keras_tricks.mc_predict(model, x, samples=5, seed=0).mean.shape == (10, 2)
    assert len(clones) == 3


def test_sampling_a_model_does_not_keep_it_alive():
    import gc
    import weakref

    model = _dropout_model()
    keras_tricks.mc_predict(model, _x(), samples=3, seed=0)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_a_restarted_sampler_draws_what_a_clone_seeded_so_draws():
    def inner():
        return keras.Sequential([keras.Input((16,)), keras.layers.Dropout(0.4), keras.layers.Dense(16)])

    inputs = keras.Input((6,))
    hidden = keras.layers.Dropout(0.3)(keras.layers.Dense(16)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(inner()(inner()(hidden))))  # dropout layers 0, 1, 2
    x = _x()
    draw = monte_carlo._sampler(model)
    draw.restart(7)
    draw(x, 4)  # the generators move on
    for seed in (7, 8):
        fresh = monte_carlo._mc_model(model, seed)
        expected = fresh.predict_on_batch(np.tile(x, (4, 1))).reshape(4, len(x), 3)
        draw.restart(seed)
        np.testing.assert_allclose(draw(x, 4), expected, rtol=1e-6, atol=1e-6)


def test_no_two_dropout_layers_share_a_seed_nested_models_included():
    def inner():
        return keras.Sequential([keras.Input((4000,)), keras.layers.Dropout(0.5)])

    inputs = keras.Input((4000,))
    model = keras.Model(inputs, keras.ops.stack([inner()(inputs), inner()(inputs)]))
    clone = monte_carlo._mc_model(model, seed=7)
    seeds = [
        layer.get_config()["seed"] for layer in monte_carlo._layers.walk(clone) if type(layer) is MCDropout
    ]
    assert seeds == [7, 8]
    masks = keras.ops.convert_to_numpy(clone(np.ones((1, 4000), "float32"))) > 0
    assert (masks[0] != masks[1]).mean() > 0.3  # independent masks differ in half the places


def test_without_a_seed_set_random_seed_makes_a_call_repeatable():
    model, x = _dropout_model(), _x()  # unseeded dropout layers
    results = []
    for _ in range(2):
        keras.utils.set_random_seed(1)
        results.append(keras_tricks.mc_predict(model, x, samples=5).mean)
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.allclose(results[1], keras_tricks.mc_predict(model, x, samples=5).mean)


def test_threads_sampling_one_model_each_get_their_seed_s_result():
    import threading

    model, x = _dropout_model(), _x(n=64)
    expected = {
        seed: keras_tricks.mc_predict(model, x, samples=40, batch_size=8, seed=seed).mean for seed in (1, 2)
    }
    received, errors = [], []

    def sample(seed):
        try:
            for _ in range(3):
                received.append(
                    (seed, keras_tricks.mc_predict(model, x, samples=40, batch_size=8, seed=seed).mean)
                )
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=sample, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(received) == 6
    for seed, mean in received:
        np.testing.assert_array_equal(mean, expected[seed])
