import difflib

import keras
from keras import ops

from keras_tricks import _checks
from keras_tricks._registration import register
from keras_tricks.optimizers._wrapper import OptimizerWrapper


@register
class LearningRateMultipliers(OptimizerWrapper):
    """An optimizer wrapper that gives some variables their own learning rate: the inner one × a factor.

    Transfer learning often trains the reused layers more gently than the new top ("discriminative
    fine-tuning", ULMFiT): a lower rate for lower layers. This wrapper does it for any Keras optimizer,
    inside the compiled train step: after the inner optimizer's step it scales each listed variable's
    update by its multiplier, w ← w₀ + m · (w₁ − w₀), where w₀ is the value before the step and w₁ the
    inner optimizer's result.

    For the optimizers whose update is proportional to the learning rate — SGD (with momentum or
    Nesterov: the velocity is a sum of rate × gradient terms), Adam, AdamW, Adamax, Nadam, RMSprop,
    Adagrad, Lion... — this is exactly the update with the rate η·m for those variables, as long as m
    stays the same (the optimizer's slots are shared with the unscaled rate). Adadelta, Ftrl and
    Adafactor (with its relative step) do not scale like that: there it multiplies the step, not the
    rate.

    `keras_tricks.callbacks.Unfreeze(group_lr_multipliers=...)` builds one for the groups it unfreezes.

    A key names variables by their path (`variable.path`, e.g. `"sequential/hidden/kernel"`) or by a
    run of its names (`"hidden/kernel"`; `"hidden"` for every variable of that layer; `"kernel"` for every
    kernel); a path read before saving also names the variable of the loaded model (whose paths lose the
    model's name). When the
    optimizer is built, a key that matches no variable (a typo, a layer not in the model), or a variable
    matched by two keys, raises `ValueError` naming the keys and the closest paths.

    Args:
        inner_optimizer: `keras.optimizers.Optimizer`. Makes the step.
        multipliers: dict. Maps a variable path or a run of its names (see above) to a finite float > 0.
            Variables not matched keep the inner optimizer's rate.
        strict: bool. Whether a key matching none of the variables the optimizer is built for raises.
            `Unfreeze` passes `False`: it lists layers that are frozen (not trained) for a while.
            Defaults to `True`.
        name: str. Defaults to the class name in snake case.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, name="reused"),
    ...                           keras.layers.Dense(1, name="top")])
    >>> slow = {v.path: 0.1 for v in model.get_layer("reused").trainable_variables}
    >>> model.compile(optimizer=LearningRateMultipliers(keras.optimizers.SGD(0.01), slow), loss="mse")
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)  # "reused" trained at 0.001
    """

    def __init__(self, inner_optimizer, multipliers, strict=True, name=None):
        super().__init__(inner_optimizer, name=name)
        if not isinstance(multipliers, dict):
            raise TypeError(
                "Expected multipliers to be a dict mapping variable paths to numbers. "
                f"Received: multipliers={multipliers!r}"
            )
        for path, factor in multipliers.items():
            if not isinstance(path, str) or not path:
                raise TypeError(f"Expected the keys of multipliers to be variable paths. Received: {path!r}")
            _checks.positive_number(f"multipliers[{path!r}]", factor)
        self.multipliers = {path: float(factor) for path, factor in multipliers.items()}
        self.strict = _checks.boolean("strict", strict)
        self._factors = None

    def build(self, var_list):
        super().build(var_list)
        # Per position in var_list (the order of grads and of stateless_apply's values).
        self._factors = [self._factor(variable) for variable in var_list]
        if self.strict:
            unmatched = [key for key in self.multipliers if not any(matches(key, v.path) for v in var_list)]
            if unmatched:
                paths = [v.path for v in var_list]
                closest = {key: difflib.get_close_matches(key, paths, n=3, cutoff=0.3) for key in unmatched}
                raise ValueError(
                    "LearningRateMultipliers: the keys "
                    + ", ".join(f"{key!r} (closest: {closest[key]})" for key in unmatched)
                    + " match none of the variables the optimizer trains; a key is a variable path or a run "
                    f"of its names (a layer name, 'layer/kernel'). The variables are {paths}. Received: "
                    f"multipliers={self.multipliers}"
                )

    def _factor(self, variable):
        matched = [key for key in self.multipliers if matches(key, variable.path)]
        if len(matched) > 1:
            raise ValueError(
                f"LearningRateMultipliers: the variable {variable.path!r} is matched by the keys {matched}; "
                f"give it one. Received: multipliers={self.multipliers}"
            )
        return self.multipliers[matched[0]] if matched else 1.0

    def _scale(self, before, after):
        pairs = zip(before, after, self._factors, strict=True)
        return [_scaled(old, new, factor) for old, new, factor in pairs]

    def apply(self, grads, trainable_variables=None):
        variables = self._built_for(trainable_variables)
        if keras.backend.backend() == "jax":
            self._apply_through_stateless(grads, variables)
            return
        factors = [self._factor(variable) for variable in variables]
        before = [
            None if factor == 1.0 else ops.copy(v.value) for v, factor in zip(variables, factors, strict=True)
        ]
        self.inner_optimizer.apply(grads, trainable_variables)
        for variable, old, factor in zip(variables, before, factors, strict=True):
            if factor != 1.0:
                variable.assign(_scaled(old, variable.value, factor))

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        self._check_built_for_stateless()
        optimizer_variables = [ops.convert_to_tensor(v) for v in optimizer_variables]
        trainable_variables = [ops.convert_to_tensor(v) for v in trainable_variables]
        own_count = len(self._variables)
        new_trainable, new_inner = self.inner_optimizer.stateless_apply(
            optimizer_variables[own_count:], grads, trainable_variables
        )
        return self._scale(trainable_variables, new_trainable), optimizer_variables[:own_count] + list(
            new_inner
        )

    def get_config(self):
        return {**self._inner_config(), "multipliers": dict(self.multipliers), "strict": self.strict}


def matches(key, path):
    """Whether the key names the variable at `path`: its names are a run of the path's names.

    `"hidden/kernel"`, `"hidden"` (every variable of that layer) and `"kernel"` all name
    `"sequential/hidden/kernel"`. Or the path is the end of the key: a model loaded from a file has
    paths without the model's name, which keys taken from `variable.path` before saving hold.
    """
    names, parts = key.split("/"), path.split("/")
    if len(parts) < len(names):
        return names[-len(parts) :] == parts
    return any(parts[i : i + len(names)] == names for i in range(len(parts) - len(names) + 1))


def _scaled(old, new, factor):
    """`old + factor · (new − old)`: the inner optimizer's update of one variable scaled by `factor`."""
    return new if factor == 1.0 else old + ops.cast(factor, new.dtype) * (new - old)
