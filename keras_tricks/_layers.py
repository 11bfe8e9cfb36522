"""Walking a model's layers, and the stable name of each of its variables.

`walk(model)` is the one layer walk of the package: every layer reached through `.layers`, nested models
included (depth first, in `model.layers` order), the model itself left out.

`variable_keys(model)` names each weight of a model by what it is, not by how it was built: the path of
layer names from the model down to the layer, then the variable's own name (`"hidden/kernel"`,
`"encoder/dense_1/bias"` for a nested model). A variable's `path` is not such a name: it starts with the
name scope it was created in (`"sequential_3/dense_7/kernel"` for a model built after others in the same
process, `"dense_7/kernel"` once the model is saved and loaded). In keys, the names Keras gave
automatically (`snake_case(ClassName)`, then `_1`, `_2`... counted over the whole process) are numbered
again over this model alone (its third Dense layer is `dense_2` whatever the process built before), and
names the user gave are kept. So the same model, built in any process, saved and loaded, or built after
other models, gives the same keys: the log keys `grad_norm/<key>` and `update_ratio/<key>`, and the keys
under which resumable callbacks keep per-variable state.
"""

import re

import keras


def walk(model):
    """Every layer of `model` reached through `.layers` (nested models too), depth first."""
    for layer in getattr(model, "layers", ()):
        yield layer
        if isinstance(layer, keras.Model):
            yield from walk(layer)


def find_layer(model, item, argument):
    """The layer of `model` named `item` (nested models included), or `item` if it is one of its layers."""
    everything = list(walk(model))
    if isinstance(item, keras.layers.Layer):
        if not any(layer is item for layer in everything):
            raise ValueError(
                f"The layer {item.name!r} in {argument} is not a layer of the model, whose layers are "
                f"{[layer.name for layer in everything]}. Received: {argument} containing {item!r}"
            )
        return item
    for layer in everything:
        if layer.name == item:
            return layer
    raise ValueError(
        f"Unknown layer name {item!r} in {argument}: the model has the layers "
        f"{[layer.name for layer in everything]}. Received: {argument} containing {item!r}"
    )


# Activation layers, by the name of the activation they apply (keras.layers.Activation is read through
# its `activation`, keras.layers.ReLU through its config).
def _activation_layers():
    from keras_tricks.layers import RReLU, Swish

    return (
        (keras.layers.LeakyReLU, "leaky_relu"),
        (keras.layers.PReLU, "prelu"),
        (keras.layers.ELU, "elu"),
        (keras.layers.Softmax, "softmax"),
        (RReLU, "rrelu"),
        (Swish, "swish"),
    )


# The layers whose job is to apply an activation (besides those of `_activation_layers`).
ACTIVATION_LAYERS = (keras.layers.Activation, keras.layers.ReLU)


def activation_layer_classes():
    """Every activation layer class (Keras's and keras-tricks's)."""
    return tuple(layer_class for layer_class, _ in _activation_layers())


def activation_name(activation):
    """The name of an activation, lower case: from a string, a function of `keras.activations`, an
    activation layer (`Activation("tanh")`, `ReLU`, `LeakyReLU`, keras-tricks's `RReLU`, `Swish`...) or a
    layer with an `activation` argument (`Dense(..., activation="relu")`). `None` for no activation (and
    for a layer without one); a `ReLU` with a slope is `"leaky_relu"`, one capped at 6 `"relu6"`."""
    if activation is None or isinstance(activation, str):
        return activation if activation is None else activation.lower()
    if isinstance(activation, keras.layers.ReLU):
        config = activation.get_config()
        if config.get("negative_slope"):
            return "leaky_relu"
        return "relu6" if config.get("max_value") == 6 else "relu"
    for layer_class, name in _activation_layers():
        if isinstance(activation, layer_class):
            return name
    if isinstance(activation, keras.layers.Layer):
        return activation_name(getattr(activation, "activation", None))
    if callable(activation):
        try:
            name = keras.activations.serialize(activation)
        except (ValueError, TypeError):
            name = getattr(activation, "__name__", None)
        return name.lower() if isinstance(name, str) else None
    return None


def _snake_case(name):
    # Keras's own rule for automatic names (keras.src.utils.naming.to_snake_case).
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _canonical_names(layers):
    """`{id(layer): name}`: automatic names numbered over `layers` alone, the user's names kept."""
    counts, names = {}, {}
    for layer in layers:
        base = _snake_case(type(layer).__name__)
        if re.fullmatch(rf"{re.escape(base)}(_\d+)?", layer.name):
            index = counts.get(base, 0)
            counts[base] = index + 1
            names[id(layer)] = base if index == 0 else f"{base}_{index}"
        else:
            names[id(layer)] = layer.name
    return names


def _relative_path(variable, layer):
    """The variable's path below `layer` (`"kernel"`, or `"dense/kernel"` inside a composite layer)."""
    parts = variable.path.split("/")
    below = [i for i, part in enumerate(parts[:-1]) if part == layer.name]
    return "/".join(parts[below[-1] + 1 :]) if below else variable.name


def _keys(model, names, prefix):
    keys = {}
    for layer in getattr(model, "layers", ()):
        key = f"{prefix}{names[id(layer)]}"
        if isinstance(layer, keras.Model):
            keys.update(_keys(layer, names, f"{key}/"))
        for variable in layer.weights:
            keys.setdefault(id(variable), f"{key}/{_relative_path(variable, layer)}")
    return keys


def variable_keys(model):
    """`{id(variable): key}` for every weight of `model` (see the module docstring for the keys)."""
    layers = list(walk(model))
    keys = _keys(model, _canonical_names(layers), "")
    if len(set(keys.values())) < len(keys):
        # A user's name equal to another layer's renumbered automatic name: keep the real names.
        keys = _keys(model, {id(layer): layer.name for layer in layers}, "")
    for variable in model.weights:  # a model's own weights (not in any layer)
        keys.setdefault(id(variable), variable.path.removeprefix(f"{model.name}/"))
    return keys


def keys_by_path(model):
    """The key of each weight of a model, as keras-tricks logs and saves it: `{variable.path: key}`.

    keras-tricks names a variable in its logs (`grad_norm/<key>`, `update_ratio/<key>`) and in the state
    it keeps for a resumed fit by this key: the path of layer names from the model down to the variable,
    then the variable's name, without the model's own name (`"hidden/kernel"`; `"encoder/dense_1/bias"`
    inside a nested model). Keras's automatic layer names are numbered again over the model alone (its
    first `Dense` is `dense`, the second `dense_1`, whatever the process built before), names given by
    the user are kept: the same model gives the same keys in every process and after
    `keras.saving.load_model`, unlike `variable.path`.

    Args:
        model: keras.Model. A built model.

    Returns:
        A dict from each weight's `path` to its key, in the order of `model.weights`.

    Example:

    >>> import keras
    >>> from keras_tricks.diagnostics import variable_keys
    >>> for _ in range(2):  # in the second model, the Dense layer is named dense_1
    ...     hidden = keras.layers.Dense(4)
    ...     model = keras.Sequential([keras.Input((3,)), hidden, keras.layers.Dense(1, name="out")])
    >>> hidden.name.startswith("dense_")  # numbered over every Dense this process built
    True

    >>> list(variable_keys(model).values())
    ['dense/kernel', 'dense/bias', 'out/kernel', 'out/bias']
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected model to be a keras.Model. Received: model={model!r}")
    keys = variable_keys(model)
    return {variable.path: keys[id(variable)] for variable in model.weights}
