"""The book's self-normalization checklist, applied to a model."""

import keras

from keras_tricks import _layers

_ACTIVATION_LAYERS = (
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
)


def _activation_name(activation):
    return _layers.activation_name(activation) or "linear"


def _is_lecun_normal(initializer):
    if not isinstance(initializer, keras.initializers.VarianceScaling):
        return False
    return (
        initializer.scale == 1.0
        and initializer.mode == "fan_in"
        and initializer.distribution in ("truncated_normal", "untruncated_normal", "normal")
    )


def _label(layer):
    return f"layer {layer.name!r} ({type(layer).__name__})"


def check_self_normalizing(model):
    """Lists the conditions for self-normalization (book, "SELU") that `model` breaks.

    The conditions, checked on every layer (nested models included): the hidden layers use SELU
    (an activation argument or an activation layer after a linear one) and LeCun normal initialization;
    there is no BatchNormalization, no dropout other than alpha dropout, no ℓ1/ℓ2 (kernel, bias or
    activity) regularizer; the architecture is sequential: one input, one output, no merge layer (skip
    connection) and no recurrent layer. The output layer (the last layer with a kernel, and what follows
    it) may use any activation and initializer. That the inputs are standardized cannot be seen in the
    model: check it on the data.

    Args:
        model: keras.Model. A built model.

    Returns:
        list of str. One message per broken condition, naming the layer; empty when the model is
        self-normalizing.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input(shape=(8,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(2, activation="softmax"),
    ... ])
    >>> for problem in check_self_normalizing(model):
    ...     print(problem)
    layer 'hidden' (Dense) uses activation 'relu'; self-normalization needs SELU
    layer 'hidden' (Dense) initializes its kernel with GlorotUniform; self-normalization needs LeCun normal

    References:
        - [Klambauer et al., 2017. Self-Normalizing Neural Networks](https://arxiv.org/abs/1706.02515)
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "SELU" and Table 11-4.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected model to be a keras.Model. Received: model={model!r}")
    problems = []
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if inputs is not None and (len(inputs) != 1 or len(outputs) != 1):
        problems.append(
            f"model {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs; "
            "self-normalization needs a sequential architecture"
        )
    layers = [layer for layer in _layers.walk(model) if not isinstance(layer, keras.Model)]
    kernel_positions = [i for i, layer in enumerate(layers) if hasattr(layer, "kernel_initializer")]
    output_from = kernel_positions[-1] if kernel_positions else len(layers)
    for i, layer in enumerate(layers):
        problems += _layer_problems(layer)
        if i < output_from:
            problems += _hidden_layer_problems(layer, layers[i + 1] if i + 1 < len(layers) else None)
    return problems


def _layer_problems(layer):
    """What any layer of a self-normalizing net must not have."""
    problems = []
    if isinstance(layer, keras.layers.BatchNormalization):
        problems.append(f"{_label(layer)}: self-normalization needs no BatchNormalization")
    if isinstance(layer, (keras.layers.Dropout, keras.layers.GaussianDropout)) and not isinstance(
        layer, keras.layers.AlphaDropout
    ):
        problems.append(f"{_label(layer)} is not alpha dropout; self-normalization needs AlphaDropout")
    for kind in ("kernel", "bias", "activity"):
        if getattr(layer, f"{kind}_regularizer", None) is not None:
            problems.append(
                f"{_label(layer)} has a {kind} regularizer; self-normalization needs no ℓ1/ℓ2 penalty"
            )
    if isinstance(layer, keras.layers.RNN):
        problems.append(f"{_label(layer)} is recurrent; self-normalization needs a sequential architecture")
    if isinstance(getattr(layer, "input", None), (list, tuple)) and len(layer.input) > 1:
        problems.append(
            f"{_label(layer)} merges {len(layer.input)} tensors (a skip connection); "
            "self-normalization needs a sequential architecture"
        )
    return problems


def _hidden_layer_problems(layer, following):
    """What a hidden layer (before the output layer) must have: SELU and LeCun normal initialization."""
    problems = []
    if hasattr(layer, "kernel_initializer"):
        name = _activation_name(getattr(layer, "activation", None))
        activated_next = isinstance(following, keras.layers.Activation) or isinstance(
            following, _ACTIVATION_LAYERS
        )
        if name != "selu" and not (name == "linear" and activated_next):
            problems.append(f"{_label(layer)} uses activation {name!r}; self-normalization needs SELU")
        if not _is_lecun_normal(layer.kernel_initializer):
            problems.append(
                f"{_label(layer)} initializes its kernel with {type(layer.kernel_initializer).__name__}; "
                "self-normalization needs LeCun normal"
            )
    elif isinstance(layer, _ACTIVATION_LAYERS) or (
        isinstance(layer, keras.layers.Activation) and _activation_name(layer.activation) != "selu"
    ):
        name = (
            _activation_name(getattr(layer, "activation", None))
            if isinstance(layer, keras.layers.Activation)
            else type(layer).__name__
        )
        problems.append(f"{_label(layer)} uses activation {name!r}; self-normalization needs SELU")
    return problems
