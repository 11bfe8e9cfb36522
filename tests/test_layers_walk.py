"""keras_tricks._layers: the one layer walk (nested models, depth first), finding a layer by name or
object, the name of an activation however it is given, and the stable per-variable keys
(`variable_keys`, `keys_by_path`) that logs and resumable state are keyed by."""

import keras
import pytest

from keras_tricks import _layers
from keras_tricks.layers import RReLU, Swish


def _nested():
    """A functional model holding a named Sequential and an unnamed functional model."""
    encoder = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(3, name="proj")], name="encoder"
    )
    sub_inputs = keras.Input((3,))
    sub = keras.Model(sub_inputs, keras.layers.BatchNormalization()(keras.layers.Dense(2)(sub_inputs)))
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1, name="out")(sub(encoder(keras.layers.Dense(4)(inputs))))
    return keras.Model(inputs, outputs), encoder, sub


# walk


def test_walk_goes_depth_first_through_nested_models_in_layers_order_without_the_model():
    model, encoder, sub = _nested()
    expected = []
    for layer in model.layers:
        expected.append(layer)
        if layer is encoder or layer is sub:
            expected.extend(layer.layers)
    walked = list(_layers.walk(model))
    assert [id(layer) for layer in walked] == [id(layer) for layer in expected]
    assert not any(layer is model for layer in walked)
    assert sum(isinstance(layer, keras.layers.Dense) for layer in walked) == 5


def test_walk_of_a_plain_layer_is_empty():
    assert list(_layers.walk(keras.layers.Dense(2))) == []


# find_layer


def test_find_layer_finds_a_nested_layer_by_name_or_by_object():
    model, encoder, _ = _nested()
    proj = encoder.get_layer("proj")
    assert _layers.find_layer(model, "proj", "layers") is proj
    assert _layers.find_layer(model, "encoder", "layers") is encoder
    assert _layers.find_layer(model, proj, "layers") is proj


def test_find_layer_refuses_an_unknown_name_listing_the_layers():
    model, _, _ = _nested()
    with pytest.raises(
        ValueError, match=r"Unknown layer name 'prj' in layers: the model has the layers \[.*'proj'"
    ):
        _layers.find_layer(model, "prj", "layers")
    with pytest.raises(ValueError, match=r"Received: layers containing 'prj'$"):
        _layers.find_layer(model, "prj", "layers")


def test_find_layer_refuses_a_layer_of_another_model():
    model, _, _ = _nested()
    stranger = keras.layers.Dense(2, name="stranger")
    with pytest.raises(ValueError, match=r"The layer 'stranger' in layers is not a layer of the model"):
        _layers.find_layer(model, stranger, "layers")


# activation_name


def named_function(x):
    return x


@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        (None, None),
        ("ReLU", "relu"),
        ("selu", "selu"),
        (keras.activations.relu, "relu"),
        (keras.activations.gelu, "gelu"),
        (keras.activations.silu, "silu"),
        (lambda: keras.layers.Activation("tanh"), "tanh"),
        (lambda: keras.layers.Activation(keras.activations.sigmoid), "sigmoid"),
        (lambda: keras.layers.ReLU(), "relu"),
        (lambda: keras.layers.ReLU(negative_slope=0.1), "leaky_relu"),
        (lambda: keras.layers.ReLU(max_value=6.0), "relu6"),
        (lambda: keras.layers.LeakyReLU(), "leaky_relu"),
        (lambda: keras.layers.PReLU(), "prelu"),
        (lambda: keras.layers.ELU(), "elu"),
        (lambda: keras.layers.Softmax(), "softmax"),
        (lambda: RReLU(), "rrelu"),
        (lambda: Swish(), "swish"),
        (lambda: keras.layers.Dense(2, activation="elu"), "elu"),
        (lambda: keras.layers.Dense(2, activation=keras.layers.LeakyReLU()), "leaky_relu"),
        (lambda: keras.layers.Dense(2), "linear"),  # Dense's default activation is keras's `linear`
        (lambda: keras.layers.Dropout(0.5), None),  # a layer without an activation
        (named_function, None),  # not a keras activation: no name to trust
        (3, None),
    ],
    ids=lambda value: getattr(value, "__name__", repr(value)) if not isinstance(value, str) else value,
)
def test_activation_name_reads_strings_functions_and_layers(activation, expected):
    if callable(activation) and getattr(activation, "__name__", "") == "<lambda>":
        activation = activation()  # layers are built in the test, after the session is cleared
    assert _layers.activation_name(activation) == expected


def test_activation_layer_classes_are_keras_and_keras_tricks_activation_layers():
    classes = _layers.activation_layer_classes()
    for cls in (
        keras.layers.LeakyReLU,
        keras.layers.PReLU,
        keras.layers.ELU,
        keras.layers.Softmax,
        RReLU,
        Swish,
    ):
        assert cls in classes
    assert keras.layers.Dense not in classes
    assert _layers.ACTIVATION_LAYERS == (keras.layers.Activation, keras.layers.ReLU)


# variable_keys and keys_by_path


def _sequential():
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(1, name="out"),
        ]
    )


def test_keys_name_each_variable_by_layer_then_variable_in_model_weights_order():
    model = _sequential()
    keys = _layers.keys_by_path(model)
    assert list(keys) == [v.path for v in model.weights]
    assert list(keys.values()) == [
        "dense/kernel",
        "dense/bias",
        "batch_normalization/gamma",
        "batch_normalization/beta",
        "batch_normalization/moving_mean",  # non-trainable weights are keyed too
        "batch_normalization/moving_variance",
        "out/kernel",
        "out/bias",
    ]


def test_keys_renumber_automatic_names_over_the_model_alone():
    first = _layers.keys_by_path(_sequential())
    for _ in range(3):
        keras.layers.Dense(1)  # more automatic names taken in this process
    second_model = _sequential()
    assert second_model.layers[0].name != "dense"
    assert list(_layers.keys_by_path(second_model).values()) == list(first.values())


def test_keys_keep_the_names_the_user_gave():
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="hidden"),
            keras.layers.Dense(2),
            keras.layers.Dense(1),
        ]
    )
    assert list(_layers.keys_by_path(model).values()) == [
        "hidden/kernel",
        "hidden/bias",
        "dense/kernel",
        "dense/bias",
        "dense_1/kernel",
        "dense_1/bias",
    ]


def test_keys_of_a_nested_model_are_prefixed_by_its_key_numbered_over_the_whole_walk():
    model, _, _ = _nested()
    keys = list(_layers.keys_by_path(model).values())
    # walk order: dense (top), encoder/{dense, proj}, functional/{dense, batch_normalization}, out
    assert keys == [
        "dense/kernel",
        "dense/bias",
        "encoder/dense_1/kernel",
        "encoder/dense_1/bias",
        "encoder/proj/kernel",
        "encoder/proj/bias",
        "functional/dense_2/kernel",
        "functional/dense_2/bias",
        "functional/batch_normalization/gamma",
        "functional/batch_normalization/beta",
        "functional/batch_normalization/moving_mean",
        "functional/batch_normalization/moving_variance",
        "out/kernel",
        "out/bias",
    ]


def test_keys_inside_a_composite_layer_keep_the_sublayer_path():
    inputs = keras.Input((2, 4))
    attention = keras.layers.MultiHeadAttention(num_heads=1, key_dim=2)
    model = keras.Model(inputs, attention(inputs, inputs))
    keys = set(_layers.keys_by_path(model).values())
    assert {"multi_head_attention/query/kernel", "multi_head_attention/attention_output/bias"} <= keys
    assert len(keys) == len(model.weights)


def test_keys_fall_back_to_the_real_names_when_renumbering_would_collide():
    # A Conv1D the user named "dense_1" keeps that name; the second automatic Dense would become dense_1.
    keras.layers.Dense(1), keras.layers.Dense(1)  # the model's Dense layers are dense_2 and dense_3
    model = keras.Sequential(
        [
            keras.Input((4, 2)),
            keras.layers.Conv1D(2, 1, name="dense_1"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
            keras.layers.Dense(1),
        ]
    )
    keys = _layers.keys_by_path(model)
    assert len(set(keys.values())) == len(keys)
    real = [layer.name for layer in model.layers if layer.weights]
    assert [key.split("/")[0] for key in keys.values()][::2] == real


def test_keys_name_a_models_own_weights_without_the_models_name():
    class Scaled(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(1)
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

        def call(self, x):
            return self.dense(x) * self.scale

    model = Scaled(name="scaled")
    model(keras.ops.ones((1, 3)))
    keys = _layers.keys_by_path(model)
    assert keys[model.scale.path] == "scale"
    assert set(keys.values()) == {"scale", "dense/kernel", "dense/bias"}


def test_keys_survive_save_and_load_while_paths_do_not(tmp_path):
    model = keras.Sequential([keras.layers.Dense(2), keras.layers.Dense(1, name="out")])
    model.build((None, 3))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [v.path for v in loaded.weights] != [v.path for v in model.weights]
    assert list(_layers.keys_by_path(loaded).values()) == list(_layers.keys_by_path(model).values())


def test_variable_keys_are_by_id_and_agree_with_keys_by_path():
    model = _sequential()
    by_id = _layers.variable_keys(model)
    by_path = _layers.keys_by_path(model)
    assert [by_id[id(v)] for v in model.weights] == [by_path[v.path] for v in model.weights]


def test_keys_by_path_refuses_what_is_not_a_model():
    with pytest.raises(TypeError, match=r"Expected model to be a keras.Model\. Received: model=<Dense"):
        _layers.keys_by_path(keras.layers.Dense(2))
