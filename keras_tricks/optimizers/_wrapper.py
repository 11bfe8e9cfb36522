"""The scaffolding shared by the optimizers that wrap another one (`GradientClipping`, `CyclicMomentum`).

Keras's `LossScaleOptimizer` is the template: the wrapper's own learning rate is a dummy, the inner
optimizer is built with the same variables, `variables` lists the wrapper's own then the inner's,
`learning_rate` and `iterations` are the inner's, and the inner optimizer is serialized in the config.
Subclasses write `apply` and `stateless_apply` (the JAX trainer's path).
"""

import keras


def check_is_optimizer(inner_optimizer):
    if not isinstance(inner_optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "Expected inner_optimizer to be a keras.optimizers.Optimizer instance. "
            f"Received: inner_optimizer={inner_optimizer!r}"
        )


def position(variables, variable):
    """The index of `variable` in `variables`, by identity (Keras variables compare element-wise)."""
    for index, candidate in enumerate(variables):
        if candidate is variable:
            return index
    raise ValueError(f"{variable.path} is not one of the optimizer's variables")


def portable(optimizer):
    """`optimizer` serialized so that it loads on every backend.

    On torch, Keras's optimizers are backend subclasses
    (`keras.src.backend.torch.optimizers.torch_adam.Adam`) and Keras records that class: a file saved on
    torch then loads on tensorflow or jax with a torch optimizer, which fails at the first step. Recorded
    as the public `keras.optimizers` class of the same name instead, the inner optimizer is built for the
    backend that loads the file.
    """
    config = keras.saving.serialize_keras_object(optimizer)
    name = type(optimizer).__name__
    public = getattr(keras.optimizers, name, None)
    if str(config.get("module", "")).startswith("keras.src.backend.") and isinstance(public, type):
        if isinstance(optimizer, public):
            config = {**config, "module": "keras.optimizers", "class_name": name, "registered_name": None}
    return config


class OptimizerWrapper(keras.optimizers.Optimizer):
    def __init__(self, inner_optimizer, name=None):
        check_is_optimizer(inner_optimizer)
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer

    def build(self, var_list):
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    def _build_once(self, trainable_variables):
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def _built_for(self, trainable_variables):
        """Builds on first use; the variables `apply` updates (its argument, or all the trainable ones)."""
        self._build_once(trainable_variables)
        return self._trainable_variables if trainable_variables is None else list(trainable_variables)

    def _check_built_for_stateless(self):
        if not self.built:
            raise ValueError(
                f"To call `stateless_apply`, {self.__class__.__name__} must be built (i.e. its variables "
                "must have been created). You can build it via `optimizer.build(trainable_variables)`."
            )

    def _apply_through_stateless(self, grads, variables):
        """`apply` done by `stateless_apply` then assignments (for what JAX cannot run statefully)."""
        by_variable = dict(zip(map(id, variables), grads, strict=True))
        all_grads = [by_variable.get(id(v)) for v in self._trainable_variables]
        new_trainable, new_optimizer = self.stateless_apply(
            [v.value for v in self.variables], all_grads, [v.value for v in self._trainable_variables]
        )
        for variable, value in zip(self._trainable_variables, new_trainable, strict=True):
            variable.assign(value)
        for variable, value in zip(self.variables, new_optimizer, strict=True):
            variable.assign(value)

    def _inner_config(self):
        # Not super().get_config(): the base optimizer's arguments belong to the inner optimizer.
        return {"name": self.name, "inner_optimizer": portable(self.inner_optimizer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner_optimizer = keras.saving.deserialize_keras_object(
            config.pop("inner_optimizer"), custom_objects=custom_objects
        )
        return cls(inner_optimizer, **config)
