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
  variable of the old one with the same key is copied (a slot is keyed by its model variable): the
  iteration count, the learning rate, and the slots of the variables that were trainable before and
  after.
"""

import contextlib

import keras

from keras_tricks.optimizers import _chain


def trained_in_fit(model, callbacks):
    """The weights of `model` trained at some point of the fit whose callbacks are `callbacks`.

    Those trainable now, and those an `Unfreeze` among the callbacks froze and will unfreeze (a frozen
    layer's variables are not `trainable`, like a BatchNormalization's moving statistics, so it records
    them when it freezes them).
    """
    later = {path for callback in callbacks or () for path in getattr(callback, "_will_train", ())}
    return [v for v in model.weights if v.trainable or v.path in later]


def rebuild_optimizer(model):
    """Replaces `model.optimizer` by a copy built for `model.trainable_variables`, state carried over.

    A model not built yet (tensorflow builds it, and its optimizer, at the first traced step) keeps its
    optimizer: it will be built for the trainable variables of that moment.
    """
    old = model.optimizer
    if not model.built or not old.built:
        return
    with _strategy_scope(model):
        new = type(old).from_config(old.get_config())
        new.build(model.trainable_variables)
        _carry_state(model, old, new)
    model.optimizer = new


def _carry_state(model, old, new):
    """Copies each variable of optimizer `old` into the variable of `new` with the same key and shape.

    Keys (`keras_tricks.optimizers._chain.variable_keys`) name a slot by its model variable, so the slots
    of variables trainable before and after are carried whatever the two optimizers' variable lists are.
    """
    old_keys = _chain.variable_keys(old, model)
    by_key = {old_keys[id(variable)]: variable for variable in old.variables}
    new_keys = _chain.variable_keys(new, model)
    for variable in new.variables:
        source = by_key.get(new_keys[id(variable)])
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
        if model.built and old.built:
            model.optimizer.build(model.trainable_variables)
            _carry_state(model, old, model.optimizer)
    refresh(model)
