"""Table 11-1 of the book: the initializer each activation function calls for."""

import keras

from keras_tricks import _layers

# Table 11-1, plus the ReLU variants Keras ships that the table's "ReLU and variants" covers.
_SCHEME_OF = {
    None: "glorot",
    "linear": "glorot",
    "tanh": "glorot",
    "sigmoid": "glorot",
    "softmax": "glorot",
    "relu": "he",
    "relu6": "he",
    "leaky_relu": "he",
    "rrelu": "he",
    "prelu": "he",
    "elu": "he",
    "gelu": "he",
    "silu": "he",
    "swish": "he",
    "mish": "he",
    "selu": "lecun",
}

_INITIALIZERS = {
    ("glorot", "normal"): keras.initializers.GlorotNormal,
    ("glorot", "uniform"): keras.initializers.GlorotUniform,
    ("he", "normal"): keras.initializers.HeNormal,
    ("he", "uniform"): keras.initializers.HeUniform,
    ("lecun", "normal"): keras.initializers.LecunNormal,
    ("lecun", "uniform"): keras.initializers.LecunUniform,
}

_UNKNOWN = "<unknown>"  # not None: None is "no activation"


def _activation_name(activation):
    # An activation: a name, a function or an activation layer; not another layer (a Dense is not one).
    is_layer = isinstance(activation, keras.layers.Layer)
    if is_layer and not isinstance(
        activation, _layers.ACTIVATION_LAYERS + _layers.activation_layer_classes()
    ):
        return _UNKNOWN
    name = _layers.activation_name(activation)
    return _UNKNOWN if name is None and activation is not None else name


def for_activation(activation, distribution="normal", seed=None):
    """Returns the Keras initializer that Table 11-1 of the book prescribes for `activation`.

    Each scheme keeps the variance of the signal (forward) and of the gradients (backward) roughly
    constant across layers; they differ in the fan they average and in the gain the activation needs:

    | Initializer | Activations | Variance of the weights (normal) |
    | --- | --- | --- |
    | Glorot (Xavier) | none, linear, tanh, sigmoid, softmax | `2 / (fan_in + fan_out)` |
    | He (Kaiming) | ReLU, ReLU6, LeakyReLU, RReLU, PReLU, ELU, GELU, SiLU/Swish, Mish | `2 / fan_in` |
    | LeCun | SELU | `1 / fan_in` |

    The uniform variants have the same variance: `U(-r, r)` with `r = sqrt(3 * variance)`. Keras's normal
    initializers draw from a normal truncated at two standard deviations, rescaled to that variance.

    Args:
        activation: str, callable, activation layer or None. The activation of the layer to initialize:
            a Keras name (`"relu"`, `"selu"`, ...; also `"prelu"` and `"rrelu"`), a function such as
            `keras.activations.relu`, or a layer such as `keras.layers.LeakyReLU()`,
            `keras.layers.Activation("tanh")`, `keras_tricks.layers.RReLU()` or
            `keras_tricks.layers.Swish()`. `None` means no activation.
        distribution: str. `"normal"` or `"uniform"`. Defaults to `"normal"`.
        seed: int or None. Passed to the Keras initializer. Defaults to `None`.

    Returns:
        A Keras initializer: `keras.initializers.GlorotNormal`, `HeNormal`, `LecunNormal` or their
        `...Uniform` counterparts.

    Example:

    >>> type(for_activation("relu")).__name__
    'HeNormal'
    >>> type(for_activation(keras.layers.LeakyReLU(negative_slope=0.2), distribution="uniform")).__name__
    'HeUniform'
    >>> init = for_activation(keras.activations.selu, seed=42)
    >>> type(init).__name__, init.seed
    ('LecunNormal', 42)
    >>> layer = keras.layers.Dense(10, activation="tanh", kernel_initializer=for_activation("tanh"))

    References:
        - [Glorot & Bengio, 2010, Understanding the difficulty of training deep feedforward neural
          networks](https://proceedings.mlr.press/v9/glorot10a.html)
        - [He et al., 2015, Delving Deep into Rectifiers](https://arxiv.org/abs/1502.01852)
        - [Klambauer et al., 2017, Self-Normalizing Neural Networks](https://arxiv.org/abs/1706.02515)
    """
    if distribution not in ("normal", "uniform"):
        raise ValueError(
            f"Expected distribution to be 'normal' or 'uniform'. Received: distribution={distribution!r}"
        )
    name = _activation_name(activation)
    if name not in _SCHEME_OF:
        known = ", ".join(repr(key) for key in _SCHEME_OF)
        raise ValueError(
            f"No initializer is known for this activation. Known activations: {known}, their Keras "
            f"functions and activation layers. Received: activation={activation!r}"
        )
    return _INITIALIZERS[(_SCHEME_OF[name], distribution)](seed=seed)
