import keras
import numpy as np
import pytest

from keras_tricks.initializers import lsuv


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _pre_activation_variances(model, x):
    """Variance of each kernel layer's linear output, measured independently of lsuv's own probe."""
    variances = {}
    for layer in model.layers:
        if not hasattr(layer, "kernel"):
            continue
        activation = layer.activation
        layer.activation = keras.activations.linear
        try:
            out = keras.Model(model.inputs[0], layer.output)(x)
        finally:
            layer.activation = activation
        variances[layer.name] = float(np.var(keras.ops.convert_to_numpy(out)))
    return variances


def _deep_tanh(depth=8, width=32, inputs=20):
    return keras.Sequential(
        [keras.Input((inputs,))]
        + [
            keras.layers.Dense(width, activation="tanh", kernel_initializer="random_normal")
            for _ in range(depth)
        ]
        + [keras.layers.Dense(3)]
    )


def test_every_dense_layer_ends_at_unit_pre_activation_variance():
    model = _deep_tanh()
    x = _x((256, 20))
    before = _pre_activation_variances(model, x)
    assert max(abs(v - 1) for v in before.values()) > 0.5  # a start LSUV must actually correct

    report = lsuv(model, x, tol=0.05, seed=1)

    assert list(report) == [layer.name for layer in model.layers]
    after = _pre_activation_variances(model, x)
    for name, entry in report.items():
        assert entry["converged"]
        assert abs(after[name] - 1) < 0.05
        assert entry["variance"] == pytest.approx(after[name], rel=1e-4)
        assert entry["iterations"] <= 10


def test_kernels_stay_orthogonal_up_to_the_scale():
    model = _deep_tanh(depth=3)
    lsuv(model, _x((256, 20)), seed=0)
    kernel = keras.ops.convert_to_numpy(model.layers[1].kernel)  # 32 × 32
    gram = kernel.T @ kernel
    scale = np.mean(np.diag(gram))
    np.testing.assert_allclose(gram / scale, np.eye(32), atol=1e-4)


def test_functional_model_with_convolutions_and_a_branch():
    inputs = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(8, 3, activation="relu", name="conv_a")(inputs)
    b = keras.layers.Conv2D(8, 3, activation="relu", name="conv_b")(inputs)
    merged = keras.layers.Add()([a, b])
    pooled = keras.layers.GlobalAveragePooling2D()(merged)
    outputs = keras.layers.Dense(4, name="head")(pooled)
    model = keras.Model(inputs, outputs)
    x = _x((64, 12, 12, 3))

    report = lsuv(model, x, seed=0)

    assert set(report) == {"conv_a", "conv_b", "head"}
    after = _pre_activation_variances(model, x)
    for name in report:
        assert report[name]["converged"], report
        assert abs(after[name] - 1) < 0.1
    # A conv kernel (3, 3, 3, 8) is orthonormal as a 27 × 8 matrix, up to the scale.
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv_a").kernel).reshape(27, 8)
    gram = kernel.T @ kernel
    np.testing.assert_allclose(gram / np.mean(np.diag(gram)), np.eye(8), atol=1e-4)


def test_unbuilt_sequential_is_built_from_the_batch():
    model = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
    report = lsuv(model, _x((128, 5)), seed=0)
    assert len(report) == 2 and all(entry["converged"] for entry in report.values())


def _biased(bias_std=0.5):
    # With per-unit biases the output variance is var(x·W)/c² + var(b): one rescaling by 1/√v misses 1,
    # so LSUV has to iterate.
    return keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(32, bias_initializer=keras.initializers.RandomNormal(0, bias_std, seed=0)),
        ]
    )


def test_iterates_when_one_rescaling_is_not_enough():
    report = lsuv(_biased(), _x((256, 20)), tol=1e-3, seed=0)
    (entry,) = report.values()
    assert entry["converged"] and entry["iterations"] > 1


def test_max_iter_bounds_the_rescalings_and_is_reported():
    report = lsuv(_biased(), _x((256, 20)), tol=1e-3, max_iter=1, seed=0)
    (entry,) = report.values()
    assert entry["iterations"] == 1 and not entry["converged"]
    assert abs(entry["variance"] - 1) >= 1e-3


def test_unreachable_variance_is_reported_not_looped_forever():
    # var(b) alone is above 1 + tol: no kernel scale reaches 1.
    report = lsuv(_biased(bias_std=1.5), _x((256, 20)), tol=0.1, max_iter=10, seed=0)
    (entry,) = report.values()
    assert entry["iterations"] == 10 and not entry["converged"]


def test_a_layer_with_zero_output_is_reported_not_divided_by():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu")])
    report = lsuv(model, np.zeros((16, 4), "float32"), seed=0)
    (entry,) = report.values()
    assert entry["variance"] == 0 and not entry["converged"] and entry["iterations"] == 0
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(model.layers[0].kernel)))


def test_seed_makes_it_reproducible():
    x = _x((128, 20))
    kernels = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        model = _deep_tanh(depth=2)
        lsuv(model, x, seed=7)
        kernels.append(keras.ops.convert_to_numpy(model.layers[0].kernel))
    np.testing.assert_array_equal(*kernels)


def test_the_model_trains_afterwards():
    model = _deep_tanh(depth=6)
    x = _x((256, 20))
    y = (x[:, :3] > 0).astype("float32")
    lsuv(model, x, seed=0)
    model.compile(keras.optimizers.SGD(0.05), "mse")
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"model": "model"}, TypeError, "model="),
        ({"tol": 0}, ValueError, "tol=0"),
        ({"tol": -0.1}, ValueError, "tol=-0.1"),
        ({"tol": "0.1"}, TypeError, "tol='0.1'"),
        ({"max_iter": 0}, ValueError, "max_iter=0"),
        ({"max_iter": 2.5}, TypeError, "max_iter=2.5"),
        ({"max_iter": True}, TypeError, "max_iter=True"),
        ({"x_batch": np.zeros((8, 7), "float32")}, ValueError, "x_batch.shape=(8, 7)"),
        ({"x_batch": np.zeros((0, 20), "float32")}, ValueError, "x_batch.shape=(0, 20)"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    arguments = {"model": _deep_tanh(depth=1), "x_batch": _x((16, 20)), **kwargs}
    with pytest.raises(error) as info:
        lsuv(**arguments)
    assert message in str(info.value)


def test_two_input_model_is_refused():
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(ValueError, match="one input"):
        lsuv(model, _x((8, 3)))


def test_subclassed_model_without_symbolic_inputs_is_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(TypeError, match="Sequential or functional"):
        lsuv(Net(), _x((8, 3)))
