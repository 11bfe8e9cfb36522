"""The one walk down an optimizer chain, and the one way to the learning-rate schedule at its end.

A model's optimizer may be a chain: Keras's `LossScaleOptimizer` (put there by `compile` under a
mixed-precision policy), keras-tricks wrappers (`GradientClipping`, `CyclicMomentum`,
`LearningRateMultipliers`), in any nesting, around the optimizer that really steps (the innermost). Every
wrapper names the next one `inner_optimizer`. Callbacks and the LR finder ask here at each use and keep
nothing they get: `Unfreeze` may replace `model.optimizer` at any epoch begin.

Keras offers no public getter for an optimizer's schedule object (`optimizer.learning_rate` is the
schedule's *value*); its config holds the schedule. `schedule` reads it from there; to change a
schedule, `set_schedule` installs one, which stays reachable as the live object (a copy read from the
config would not be the one the compiled step calls).
"""

import weakref

import keras

# The base optimizer's clipping arguments (and its loss-scale argument): given to any optimizer of a
# chain below GradientClipping, they would act where the wrapper cannot see them.
CLIPPING_ARGUMENTS = ("clipnorm", "clipvalue", "global_clipnorm")

# optimizer -> the schedule keras-tricks installed in it (the live object, as long as the optimizer's
# config still shows it).
_installed = weakref.WeakKeyDictionary()


def chain(optimizer):
    """`[optimizer, the optimizer it wraps, ...]`, outermost first, innermost last."""
    optimizers = []
    while optimizer is not None:
        optimizers.append(optimizer)
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return optimizers


def unwrap(optimizer, cls=None):
    """The first optimizer of a wrapper chain that is a `cls`; the innermost optimizer when `cls` is None.

    A model's optimizer may be wrapped: by `keras.optimizers.LossScaleOptimizer` (which `compile` adds
    under a mixed-precision policy) and by keras-tricks wrappers (`GradientClipping` and its observing
    form `GradientMonitor`, `CyclicMomentum`, `LearningRateMultipliers`), in any nesting. `unwrap` walks
    from `optimizer` inward along each wrapper's `inner_optimizer`; `cls` matches subclasses too
    (`unwrap(optimizer, GradientClipping)` finds a `GradientMonitor`).

    Args:
        optimizer: `keras.optimizers.Optimizer`. Usually `model.optimizer`.
        cls: type or tuple of types, or `None`. What to look for. Defaults to `None` (the innermost
            optimizer, the one that applies the updates).

    Returns:
        The optimizer found, or `None` when no optimizer of the chain is a `cls`.

    Example:

    >>> import keras
    >>> from keras_tricks.optimizers import GradientClipping, unwrap
    >>> sgd = keras.optimizers.SGD(0.1)
    >>> optimizer = keras.optimizers.LossScaleOptimizer(GradientClipping(sgd, mode=None))
    >>> unwrap(optimizer) is sgd
    True
    >>> unwrap(optimizer, GradientClipping).mode is None
    True
    >>> unwrap(sgd, GradientClipping) is None
    True
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            f"Expected optimizer to be a keras.optimizers.Optimizer. Received: optimizer={optimizer!r}"
        )
    optimizers = chain(optimizer)
    if cls is None:
        return optimizers[-1]
    return next((o for o in optimizers if isinstance(o, cls)), None)


def clipping_settings(optimizer):
    """`[(optimizer, argument, value)]` for each Keras clipping argument set anywhere in the chain."""
    return [
        (o, argument, getattr(o, argument))
        for o in chain(optimizer)
        for argument in CLIPPING_ARGUMENTS
        if getattr(o, argument, None) is not None
    ]


def learning_rate(optimizer):
    """The learning rate the next step of `optimizer` applies, as a Python float."""
    return float(keras.ops.convert_to_numpy(unwrap(optimizer).learning_rate))


def schedule(optimizer):
    """The `LearningRateSchedule` of the innermost optimizer, or `None` for a float learning rate.

    The object keras-tricks installed with `set_schedule` when it is still the optimizer's; otherwise an
    equal one read from the config (read it, don't change it: change it through `set_schedule`).
    """
    inner = unwrap(optimizer)
    config = inner.get_config().get("learning_rate")
    if not isinstance(config, dict):
        return None
    installed = _installed.get(inner)
    if installed is not None and keras.saving.serialize_keras_object(installed) == config:
        return installed
    return keras.saving.deserialize_keras_object(config)


def is_installed(optimizer, learning_rate_schedule):
    """Whether `learning_rate_schedule` is the live schedule of the innermost optimizer of `optimizer`."""
    inner = unwrap(optimizer)
    return _installed.get(inner) is learning_rate_schedule and schedule(inner) is learning_rate_schedule


def set_schedule(optimizer, learning_rate_schedule):
    """Makes `learning_rate_schedule` the learning rate of the innermost optimizer of `optimizer`.

    A compiled train function still calls the schedule it was traced with: rebuild it
    (`model.make_train_function(force=True)`) after this.
    """
    inner = unwrap(optimizer)
    inner.learning_rate = learning_rate_schedule
    _installed[inner] = learning_rate_schedule
    return learning_rate_schedule


def variable_keys(optimizer, model):
    """`{id(variable): key}` for the variables of every optimizer of the chain of `optimizer`.

    A slot of a model variable (a momentum, a moment) is keyed `"<variable key>:<slot>"` with the model
    variable's key from `keras_tricks._layers.variable_keys` (`"hidden/kernel:momentum"`); any other
    variable `"<optimizer class>/<name>"` (`"SGD/iteration"`, `"GradientClipping/sums"`). So the same
    state has the same key in an optimizer rebuilt for other trainable variables (`Unfreeze`) and in
    another process, whatever the optimizer and model were named there.
    """
    from keras_tricks import _layers  # noqa: PLC0415  (keras_tricks._layers is imported by callbacks only)

    model_keys = _layers.variable_keys(model)
    # Keras names a slot "<reference variable path, '/' as '_'>_<slot name>"; the longest prefix wins.
    prefixes = sorted(
        ((f"{v.path.replace('/', '_')}_", model_keys[id(v)]) for v in model.weights),
        key=lambda pair: -len(pair[0]),
    )
    keys, inner_ids = {}, set()
    for member in reversed(chain(optimizer)):
        own = [v for v in member.variables if id(v) not in inner_ids]
        for variable in own:
            prefix = next((p for p in prefixes if variable.name.startswith(p[0])), None)
            if prefix is not None:
                keys[id(variable)] = f"{prefix[1]}:{variable.name[len(prefix[0]) :]}"
            else:
                keys[id(variable)] = f"{type(member).__name__}/{variable.name}"
        inner_ids.update(id(v) for v in member.variables)
    return keys


def step_counter(optimizer):
    """The variable counting the steps of the innermost optimizer, micro-steps of gradient accumulation
    included (Keras's `iterations` counts updates when it accumulates: `iteration // k`)."""
    inner = unwrap(optimizer)
    return next(v for v in inner.variables if v.name == "iteration")
