"""Changing which layers train in the middle of `fit`, on every backend.

Keras 3 builds the train function and the optimizer once per `fit`; a change of `layer.trainable`
inside `fit` needs both renewed:

- the train function is traced (tf.function, jax.jit) with the trainable variables of that moment, so
  it must be rebuilt with `model.make_train_function(force=True)` (and the test and predict functions
  too, which on JAX take the trainable and non-trainable variables as separate lists); the fit loops
  of all three backends look `model.train_function` up at every step, and the JAX loop re-reads the variable
  state at the first step of each epoch, so a change made in `on_epoch_begin` takes effect at once;
- the optimizer is built with one list of variables; the JAX trainer hands `stateless_apply` the
  model's current trainable variables and requires exactly that list, and on tensorflow the optimizer
  may be built lazily at the first trace (then it would not know layers unfrozen later). So the
  optimizer is replaced by a copy (same class and config) built for the new list, into which every
  variable of the old one with the same path is copied: the iteration count, the learning rate, and
  the slots of the variables that were trainable before and after.
"""

import contextlib

import keras


def _walk(layer):
    yield layer
    for sub in getattr(layer, "layers", ()):
        yield from _walk(sub)


def find_layer(model, item, argument):
    """The layer of `model` named `item` (nested models included), or `item` if it is a layer."""
    everything = list(_walk(model))[1:]
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


def _key(variable):
    """An optimizer variable's path without the name scopes above its optimizer: `sgd/iteration`.

    A wrapper built lazily inside the train step (tensorflow) puts its inner optimizer's slots under its
    own scope (`gradient_clipping/sgd/dense_kernel_momentum`), one built directly does not."""
    return "/".join(variable.path.split("/")[-2:])


def rebuild_optimizer(model):
    """Replaces `model.optimizer` by a copy built for `model.trainable_variables`, state carried over."""
    old = model.optimizer
    with _strategy_scope(model):
        new = type(old).from_config(old.get_config())
        new.build(model.trainable_variables)
        _carry_state(old, new)
    model.optimizer = new


def _carry_state(old, new):
    """Copies each variable of optimizer `old` into the variable of `new` at the same path and shape."""
    old_variables = {_key(variable): variable for variable in old.variables}
    for variable in new.variables:
        source = old_variables.get(_key(variable))
        if source is not None and tuple(source.shape) == tuple(variable.shape):
            # A copy, not the same buffer: JAX donates the new optimizer's buffers to the train step,
            # and the old optimizer stays referenced by the model's compile config (saved with it).
            variable.assign(keras.ops.copy(source.value))


def _strategy_scope(model):
    """The model's `tf.distribute` strategy scope on tensorflow (callbacks run outside it).

    Optimizer variables created outside it are not mirrored: under `MirroredStrategy` each replica would
    update its own copy of the slots and the training would silently differ from one device's.
    """
    if keras.backend.backend() == "tensorflow":
        return model.distribute_strategy.scope()
    return contextlib.nullcontext()


def refresh(model):
    """Makes the optimizer and the compiled functions follow the model's current trainability."""
    rebuild_optimizer(model)
    model.make_train_function(force=True)
    # JAX's test and predict steps take the trainable and non-trainable values as two lists; a cached
    # trace for lists of the same lengths but other members would map values to the wrong variables.
    model.make_test_function(force=True)
    model.make_predict_function(force=True)


def replace_optimizer(model, optimizer):
    """Compiles `model` again with `optimizer` instead of its own, the rest of its compile config kept,
    and carries the old optimizer's state over (by variable path, as `rebuild_optimizer`).

    Through the compile config, so that `model.save` records the new optimizer (setting `model.optimizer`
    alone would save the old one's config with the new one's variables)."""
    old = model.optimizer
    config = model.get_compile_config()
    config["optimizer"] = keras.saving.serialize_keras_object(optimizer)
    with _strategy_scope(model):
        model.compile_from_config(config)
        model.optimizer.build(model.trainable_variables)
        _carry_state(old, model.optimizer)
    refresh(model)
