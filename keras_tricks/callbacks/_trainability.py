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

Compiling is what a change costs (on JAX a retrace and an XLA compile of the train step). So the functions
made for one trainability are kept, with the optimizer they were traced with, and taken again when the
model comes back to it (a model frozen and unfrozen in every `fit`, gradual unfreezing run again): that
optimizer is given the state of the freshly built one (so a layer trained again still starts from fresh
slots) and becomes `model.optimizer` again, since a tensorflow graph holds the very variables it was
traced with.

The kept functions must die the moment anything else replaces the train function (a `compile`,
`ReduceLROnPlateau` retracing for a new schedule factor, `make_train_function(force=True)`): `jax.jit`
shares traces between its live wrappers of one function (`model.train_step`) by the shapes of their
arguments, so a kept function would hand its old trace (an old factor, other variables) to the new one.
So the cache hangs on the current train function only, and holds the others but never the current one
(no reference cycle): replacing the current function frees it, the cache and every kept function at
once, by reference counting.
"""

import contextlib
import gc
import json
import numbers

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


_COMPILED = "_keras_tricks_compiled"  # on the current train function: (its key, its optimizer, the cache)


def refresh(model):
    """Makes the optimizer and the compiled functions follow the model's current trainability.

    Functions compiled before for the same trainability (and an optimizer of the same structure) are
    taken again, with their optimizer holding the new one's state; otherwise new ones are made.
    """
    current = (model.train_function, model.test_function, model.predict_function)
    kept = getattr(current[0], _COMPILED, None)
    rebuild_optimizer(model)
    key = _compiled_key(model)
    cache = {}
    if kept is not None:
        current_key, current_optimizer, cache = kept
        delattr(current[0], _COMPILED)  # a kept function holds no cache: no cycle
        cache[current_key] = (current_optimizer, current)
    if key is not None and key in cache:
        optimizer, functions = cache.pop(key)
        for kept_variable, fresh in zip(optimizer.variables, model.optimizer.variables, strict=True):
            kept_variable.assign(fresh.value)
        model.optimizer = optimizer
        model.train_function, model.test_function, model.predict_function = functions
    else:
        _forget_same_structure(cache, key)
        model.make_train_function(force=True)
        # JAX's test and predict steps take the trainable and non-trainable values as two lists; a
        # cached trace for lists of the same lengths but other members would map values to the wrong
        # variables.
        model.make_test_function(force=True)
        model.make_predict_function(force=True)
    if key is None:
        return
    try:
        setattr(model.train_function, _COMPILED, (key, model.optimizer, cache))
    except (AttributeError, TypeError):  # a function object that takes no attributes: nothing kept
        pass


def _forget_same_structure(cache, key):
    """Drops the kept functions whose state lists have the shapes of `key`'s (or all, `key` being None).

    A new function would otherwise take the trace of a kept one for, say, another frozen layer of the
    same shape (see the module's docstring), and update the wrong variables. So at most one kept entry
    per structure; the dropped functions are collected before the new ones trace.
    """
    stale = [other for other in cache if key is None or other[-1] == key[-1]]
    for other in stale:
        del cache[other]
    if stale:
        gc.collect()


def _compiled_key(model):
    """What a compiled train function depends on besides the compile call: which variables train, and
    the optimizer's class, config and variables (`None` while the optimizer is not built: its first
    traced step builds it). A float learning rate is left out: it is a variable, not traced in."""
    optimizer = model.optimizer
    if optimizer is None or not optimizer.built:
        return None
    return (
        tuple(v.path for v in model.trainable_variables),
        tuple(v.path for v in model.non_trainable_variables),
        type(optimizer),
        json.dumps(_without_float_rates(optimizer.get_config()), sort_keys=True, default=repr),
        tuple((v.path, tuple(v.shape), str(v.dtype)) for v in optimizer.variables),
        # Last: the structure of the state lists a traced step takes (see `_forget_same_structure`).
        tuple(
            tuple((tuple(v.shape), str(v.dtype)) for v in variables)
            for variables in (model.trainable_variables, model.non_trainable_variables, optimizer.variables)
        ),
    )


def _without_float_rates(config):
    """`config` (nested dicts and lists) without the float `learning_rate` entries."""
    if isinstance(config, dict):
        return {
            key: _without_float_rates(value)
            for key, value in config.items()
            if not (key == "learning_rate" and isinstance(value, numbers.Real))
        }
    if isinstance(config, (list, tuple)):
        return [_without_float_rates(value) for value in config]
    return config


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
