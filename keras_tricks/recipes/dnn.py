"""Tables 11-3 and 11-4: the chapter's default and self-normalizing DNNs, and their optimizer."""

import keras

from keras_tricks import _checks

# Our reading of the book's "shallow"/"deep" (Table 11-3 gives no number): from this many hidden layers
# on, the default recipe switches ReLU → Swish and adds BatchNormalization.
DEEP_FROM = 10


def _check_sizes(n_hidden, n_neurons, n_outputs):
    _checks.non_negative_int("n_hidden", n_hidden)
    _checks.positive_int("n_neurons", n_neurons)
    _checks.positive_int("n_outputs", n_outputs)


def _check_rate(name, value):
    _checks.number(name, value, low=0, high=1, high_open=True)


def _inputs(input_shape):
    layers = [keras.Input(shape=tuple(input_shape))]
    if len(input_shape) > 1:
        layers.append(keras.layers.Flatten())
    return layers


def default_dnn(
    n_hidden,
    n_neurons,
    n_outputs,
    input_shape,
    deep=None,
    dropout_rate=0.0,
    weight_decay=0.0,
    output_activation="softmax",
):
    """Table 11-3's default DNN: He initialization, ReLU (Swish if deep), BatchNormalization if deep.

    The rest of the table is training advice, not architecture: early stopping
    (`keras.callbacks.EarlyStopping(restore_best_weights=True)`), weight decay if needed (here an ℓ2
    penalty, or `AdamW`), Nesterov momentum or AdamW (`suggested_optimizer`), and performance scheduling
    or 1cycle for the learning rate.

    Args:
        n_hidden: int. Number of hidden Dense layers.
        n_neurons: int. Units per hidden layer.
        n_outputs: int. Units of the output layer.
        input_shape: tuple of int. Shape of one input; inputs of rank > 1 are flattened.
        deep: bool. Use Swish and BatchNormalization (after each hidden Dense, which then has no bias).
            Defaults to `None`: `n_hidden >= 10` (our reading of "deep"; the book gives no number).
        dropout_rate: float. Rate of a `Dropout` after each hidden layer, in [0, 1); 0 adds none.
            Defaults to `0.0`.
        weight_decay: float. ℓ2 factor on the hidden kernels; 0 adds none. Defaults to `0.0`.
        output_activation: str. Activation of the output layer. Defaults to `"softmax"`.

    Returns:
        A built, uncompiled `keras.Sequential`.

    Example:

    >>> model = default_dnn(2, 100, 10, input_shape=(28, 28))
    >>> [type(layer).__name__ for layer in model.layers]
    ['Flatten', 'Dense', 'Dense', 'Dense']
    >>> model.layers[1].kernel_initializer.__class__.__name__, model.layers[1].activation.__name__
    ('HeNormal', 'relu')

    References:
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, Table 11-3.
        - [He et al., 2015. Delving Deep into Rectifiers](https://arxiv.org/abs/1502.01852)
    """
    _check_sizes(n_hidden, n_neurons, n_outputs)
    _check_rate("dropout_rate", dropout_rate)
    _checks.non_negative_number("weight_decay", weight_decay)
    deep = n_hidden >= DEEP_FROM if deep is None else _checks.boolean("deep", deep)
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay > 0 else None
    layers = _inputs(input_shape)
    for _ in range(n_hidden):
        if deep:  # BN before the activation: the Dense bias would be cancelled by BN's offset
            layers += [
                keras.layers.Dense(
                    n_neurons, use_bias=False, kernel_initializer="he_normal", kernel_regularizer=regularizer
                ),
                keras.layers.BatchNormalization(),
                keras.layers.Activation("swish"),
            ]
        else:
            layers.append(
                keras.layers.Dense(
                    n_neurons,
                    activation="relu",
                    kernel_initializer="he_normal",
                    kernel_regularizer=regularizer,
                )
            )
        if dropout_rate > 0:
            layers.append(keras.layers.Dropout(dropout_rate))
    layers.append(keras.layers.Dense(n_outputs, activation=output_activation))
    return keras.Sequential(layers)


def self_normalizing_dnn(
    n_hidden, n_neurons, n_outputs, input_shape, dropout_rate=0.0, output_activation="softmax"
):
    """Table 11-4's self-normalizing DNN: LeCun normal initialization, SELU, no normalization layer.

    Self-normalization needs standardized inputs (mean 0, standard deviation 1 per feature: use
    `keras.layers.Normalization` or standardize beforehand), a plain stack of Dense layers, and, if the
    model needs regularization, alpha dropout rather than dropout. Train with Nesterov momentum
    (`suggested_optimizer("nesterov")`) and performance scheduling or 1cycle.

    Args:
        n_hidden: int. Number of hidden Dense layers.
        n_neurons: int. Units per hidden layer.
        n_outputs: int. Units of the output layer.
        input_shape: tuple of int. Shape of one input; inputs of rank > 1 are flattened.
        dropout_rate: float. Rate of an `AlphaDropout` after each hidden layer, in [0, 1); 0 adds none.
            Defaults to `0.0`.
        output_activation: str. Activation of the output layer. Defaults to `"softmax"`.

    Returns:
        A built, uncompiled `keras.Sequential` that `check_self_normalizing` accepts.

    Example:

    >>> model = self_normalizing_dnn(3, 100, 10, input_shape=(28, 28), dropout_rate=0.1)
    >>> from keras_tricks.recipes import check_self_normalizing
    >>> check_self_normalizing(model)
    []

    References:
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, Table 11-4.
        - [Klambauer et al., 2017. Self-Normalizing Neural Networks](https://arxiv.org/abs/1706.02515)
    """
    _check_sizes(n_hidden, n_neurons, n_outputs)
    _check_rate("dropout_rate", dropout_rate)
    layers = _inputs(input_shape)
    for _ in range(n_hidden):
        layers.append(keras.layers.Dense(n_neurons, activation="selu", kernel_initializer="lecun_normal"))
        if dropout_rate > 0:
            layers.append(keras.layers.AlphaDropout(dropout_rate))
    layers.append(keras.layers.Dense(n_outputs, activation=output_activation))
    return keras.Sequential(layers)


def suggested_optimizer(name="nesterov", learning_rate=None):
    """The optimizer Tables 11-3 and 11-4 suggest, with the book's settings.

    `"nesterov"`: `SGD(momentum=0.9, nesterov=True)`, learning rate 0.001 by default (both tables).
    `"adamw"`: `AdamW(weight_decay=1e-5)`, learning rate 0.001 by default (Table 11-3's alternative).

    Args:
        name: str. `"nesterov"` or `"adamw"`. Defaults to `"nesterov"`.
        learning_rate: float or `LearningRateSchedule` (e.g. a 1cycle schedule). Defaults to `None`
            (0.001).

    Returns:
        A new `keras.optimizers.Optimizer`.

    Example:

    >>> optimizer = suggested_optimizer("nesterov")
    >>> type(optimizer).__name__, optimizer.momentum, optimizer.nesterov
    ('SGD', 0.9, True)
    """
    name = _checks.choice("name", name, ("nesterov", "adamw"))
    learning_rate = (
        0.001 if learning_rate is None else _checks.positive_number("learning_rate", learning_rate)
    )
    if name == "nesterov":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, nesterov=True)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=1e-5)
    raise ValueError(f"Expected name to be 'nesterov' or 'adamw'. Received: name={name!r}")
