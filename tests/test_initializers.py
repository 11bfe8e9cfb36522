import json

import keras
import numpy as np
import pytest

from keras_tricks import initializers
from keras_tricks.layers import RReLU, Swish
from tests import helpers


# Table 11-1, by name, by function and by layer.
@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        (None, "GlorotNormal"),
        ("linear", "GlorotNormal"),
        ("tanh", "GlorotNormal"),
        ("sigmoid", "GlorotNormal"),
        ("softmax", "GlorotNormal"),
        ("Tanh", "GlorotNormal"),
        ("relu", "HeNormal"),
        ("relu6", "HeNormal"),
        ("leaky_relu", "HeNormal"),
        ("rrelu", "HeNormal"),
        ("prelu", "HeNormal"),
        ("elu", "HeNormal"),
        ("gelu", "HeNormal"),
        ("silu", "HeNormal"),
        ("swish", "HeNormal"),
        ("mish", "HeNormal"),
        ("selu", "LecunNormal"),
        (keras.activations.relu, "HeNormal"),
        (keras.activations.swish, "HeNormal"),
        (keras.activations.selu, "LecunNormal"),
        (keras.activations.sigmoid, "GlorotNormal"),
        (keras.layers.LeakyReLU(negative_slope=0.2), "HeNormal"),
        (keras.layers.PReLU(), "HeNormal"),
        (keras.layers.ELU(), "HeNormal"),
        (keras.layers.ReLU(max_value=6.0), "HeNormal"),
        (keras.layers.Softmax(), "GlorotNormal"),
        (keras.layers.Activation("selu"), "LecunNormal"),
        (keras.layers.Activation("gelu"), "HeNormal"),
        (RReLU(), "HeNormal"),
        (Swish(), "HeNormal"),
    ],
)
def test_for_activation_follows_table_11_1(activation, expected):
    assert type(initializers.for_activation(activation)).__name__ == expected
    uniform = initializers.for_activation(activation, distribution="uniform")
    assert type(uniform).__name__ == expected.replace("Normal", "Uniform")


def test_for_activation_returns_keras_initializers_with_the_seed():
    init = initializers.for_activation("relu", seed=7)
    assert isinstance(init, keras.initializers.HeNormal)
    np.testing.assert_array_equal(
        helpers.to_numpy(init((30, 20))), helpers.to_numpy(keras.initializers.HeNormal(seed=7)((30, 20)))
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"activation": "softplus"}, ValueError, r"Known activations: None, 'linear'.*activation='softplus'"),
        ({"activation": keras.activations.softplus}, ValueError, "activation=<function softplus"),
        ({"activation": keras.layers.Dense(3)}, ValueError, "activation=<Dense"),
        ({"activation": 3}, ValueError, "activation=3"),
        ({"activation": "relu", "distribution": "truncated"}, ValueError, "distribution='truncated'"),
    ],
)
def test_for_activation_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        initializers.for_activation(**kwargs)


# The lesson's named schemes.
N_IN, N_OUT = 400, 300


def test_get_uniform_is_bounded_by_one_over_sqrt_n_in():
    w = helpers.to_numpy(initializers.get("uniform_fan_in", seed=1)((N_IN, N_OUT)))
    bound = 1 / np.sqrt(N_IN)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # fills the whole interval
    assert w.var() == pytest.approx(1 / (3 * N_IN), rel=0.03)


@pytest.mark.parametrize("name", ["gaussian", "gaussian_fan_in", "Gaussian"])
def test_get_gaussian_has_variance_one_over_n_in_untruncated(name):
    w = helpers.to_numpy(initializers.get(name, seed=2)((N_IN, N_OUT)))
    std = 1 / np.sqrt(N_IN)
    assert w.var() == pytest.approx(1 / N_IN, rel=0.03)
    assert np.abs(w.mean()) < 0.01 * std
    # Untruncated: about 0.27% of a normal's draws lie beyond 3 standard deviations.
    assert np.mean(np.abs(w) > 3 * std) == pytest.approx(0.0027, abs=0.001)


@pytest.mark.parametrize("name", ["xavier", "glorot", "XAVIER"])
def test_get_xavier_is_glorot_uniform(name):
    init = initializers.get(name, seed=3)
    assert isinstance(init, keras.initializers.GlorotUniform)
    w = helpers.to_numpy(init((N_IN, N_OUT)))
    assert np.abs(w).max() <= np.sqrt(6 / (N_IN + N_OUT))
    assert w.var() == pytest.approx(2 / (N_IN + N_OUT), rel=0.03)


def test_get_falls_back_to_keras():
    assert isinstance(initializers.get("he_normal"), keras.initializers.HeNormal)
    ones = keras.initializers.Ones()
    assert initializers.get(ones) is ones
    config = {"class_name": "Constant", "config": {"value": 2.0}}
    np.testing.assert_array_equal(helpers.to_numpy(initializers.get(config)((2,))), [2.0, 2.0])
    with pytest.raises(ValueError, match="nope"):
        initializers.get("nope")


@pytest.mark.parametrize("name", ["uniform_fan_in", "gaussian", "gaussian_fan_in", "xavier"])
def test_named_schemes_serialize_as_plain_keras_objects(name, tmp_path):
    init = initializers.get(name, seed=5)
    serialized = json.loads(json.dumps(keras.initializers.serialize(init)))
    assert serialized["module"] == "keras.initializers"
    restored = keras.initializers.deserialize(serialized)
    np.testing.assert_array_equal(helpers.to_numpy(restored((20, 10))), helpers.to_numpy(init((20, 10))))
    # Inside a saved model too, with no custom objects.
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(3, kernel_initializer=init)(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.layers[-1].kernel_initializer.get_config() == init.get_config()


# The chapter's claim: through a deep stack, the prescribed initializer keeps the signal's scale.
DEPTH, WIDTH, BATCH, STACKS = 50, 256, 100, 8


def _selu(z):
    return 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(np.minimum(z, 0)))


ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0), "selu": _selu, "tanh": np.tanh}


def _through_stack(activation, weights, x):
    """Last layer's pre-activation and activation of a stack with the given weight matrices."""
    a = x
    with np.errstate(over="ignore", invalid="ignore"):
        for w in weights:
            z = a @ w
            a = ACTIVATIONS[activation](z)
    return z, a


def _weights(initializer, stacks=1):
    """DEPTH weight matrices for each of `stacks` stacks, drawn by the Keras initializer.

    Fan-in initializers (He, LeCun, RandomNormal) see the same fan_in = WIDTH for a (WIDTH, n * WIDTH)
    shape, so one call draws every layer of every stack (Keras's truncated normal costs ~0.1 s a call
    on torch). Glorot depends on fan_out, so it is drawn one layer at a time.
    """
    if isinstance(initializer, keras.initializers.GlorotNormal):
        # A distinct seed per layer: the same matrix 50 times is not a random stack.
        layers = [helpers.to_numpy(type(initializer)(seed=i)((WIDTH, WIDTH))) for i in range(DEPTH * stacks)]
    else:
        block = helpers.to_numpy(initializer((WIDTH, WIDTH * DEPTH * stacks)))
        layers = np.split(block, DEPTH * stacks, axis=1)
    layers = [w.astype("float64") for w in layers]
    return [layers[i * DEPTH : (i + 1) * DEPTH] for i in range(stacks)]


def _input():
    return np.random.default_rng(0).normal(size=(BATCH, WIDTH))


@pytest.mark.parametrize("activation", ["relu", "selu"])
def test_prescribed_init_keeps_the_scale_through_50_layers(activation):
    # We measure the pre-activation z = a @ W: that is what He and LeCun keep at the input's variance.
    # (After ReLU the activation's std is sqrt(1/2 - 1/(2 pi)) = 0.58 of it, by design.)
    # One 256-wide stack's scale wanders with depth (a random walk of the per-layer gain; single ReLU
    # stacks land between 0.47 and 2.8 times the input std 90% of the time), so the claim is checked
    # on the typical (geometric-mean) std over several stacks.
    x = _input()
    stacks = _weights(initializers.for_activation(activation), STACKS)
    ratios = [_through_stack(activation, weights, x)[0].std() / x.std() for weights in stacks]
    typical = np.exp(np.mean(np.log(ratios)))
    assert 0.5 < typical < 2, f"{activation}: std ratios {np.round(ratios, 3)}"


@pytest.mark.parametrize("activation", ["relu", "selu"])
def test_standard_normal_init_explodes_through_50_layers(activation):
    x = _input()
    (weights,) = _weights(keras.initializers.RandomNormal(stddev=1.0))
    z, _ = _through_stack(activation, weights, x)
    # Each layer multiplies the variance by about WIDTH (x 1/2 for ReLU): 1e50 and more after 50.
    assert not np.isfinite(z.std()) or z.std() / x.std() > 1e40


def test_tanh_glorot_decays_slowly_without_saturating_where_standard_normal_saturates():
    x = _input()
    (weights,) = _weights(initializers.for_activation("tanh"))
    z, a = _through_stack("tanh", weights, x)
    # Glorot's variance 1/WIDTH is the mean-field edge of chaos for tanh: tanh(z)^2 ~ q - 2 q^2 gives
    # q_L ~ 1 / (1/q_0 + 2 L), a slow polynomial decay to std 1/sqrt(101) ~ 0.1 at L = 50, not a factor 2.
    assert z.std() == pytest.approx(1 / np.sqrt(1 + 2 * DEPTH), rel=0.2)
    assert np.mean(np.abs(a) > 0.99) < 0.001
    (weights,) = _weights(keras.initializers.RandomNormal(stddev=1.0))
    z, a = _through_stack("tanh", weights, x)
    assert np.mean(np.abs(a) > 0.99) > 0.8  # almost every unit saturated: the gradients vanish


def test_a_keras_name_means_kerass_initializer():
    ours, theirs = initializers.get("uniform"), keras.initializers.get("uniform")
    assert type(ours) is type(theirs) and ours.get_config() == theirs.get_config()
