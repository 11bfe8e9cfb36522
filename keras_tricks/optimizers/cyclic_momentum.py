import contextlib

import keras
from keras import ops

from keras_tricks._registration import register
from keras_tricks.optimizers import _chain
from keras_tricks.optimizers._wrapper import OptimizerWrapper, check_is_optimizer, position
from keras_tricks.schedules.one_cycle import OneCycle

# The optimizers whose `beta_1` is Adam's first-moment momentum and is only used in arithmetic, on every
# backend (AdamW is an Adam). Lion's `beta_1` is an interpolation factor of its update, not a momentum.
_ADAM_FAMILY = (
    keras.optimizers.Adam,
    keras.optimizers.Adamax,
    keras.optimizers.Nadam,
    keras.optimizers.Lamb,
)


@register
class CyclicMomentum(OptimizerWrapper):
    """An optimizer wrapper whose momentum follows a schedule, e.g. 1cycle's 0.95 → 0.85 → 0.95.

    Keras optimizers take their momentum as a Python float. At every step this wrapper computes the
    momentum μₜ = `schedule` at the inner optimizer's iteration count (inside the compiled train step,
    like a learning-rate schedule), then has `inner_optimizer` apply the gradients with that momentum:

    - `keras.optimizers.SGD` (momentum > 0): SGD's velocity update is v ← μ·v − η·g with μ its float
      momentum μ₀. Multiplying each velocity by μₜ/μ₀ just before the step makes it v ← μₜ·v − η·g
      exactly; with `nesterov=True` the weights, which SGD moves by μ₀·v − η·g, then get the missing
      (μₜ − μ₀)·v. Any μ₀ > 0 will do: it is a placeholder, only its being non-zero matters (SGD with
      momentum 0 has no velocity variables).
    - `Adam`, `AdamW`, `Adamax`, `Nadam`, `Lamb`: `beta_1` is set to μₜ (a tensor) for the duration of
      the inner step, then set back to the float, so the inner optimizer's config does not change. As
      in PyTorch's `OneCycleLR`, Adam's bias correction 1 − β₁ᵗ then uses the current β₁, and Nadam's
      momentum product multiplies the β₁ of each step (its μₜ₊₁ uses this step's β₁).

    Other optimizers raise a `TypeError`: RMSprop's momentum is read in Python branches and its velocity
    variables are private attributes; Lion's `beta_1` is not a momentum.

    To compose with `GradientClipping`, put it outside: `GradientClipping(CyclicMomentum(SGD(...)))`.

    Args:
        inner_optimizer: keras.optimizers.Optimizer. An `SGD` with momentum > 0 or one of `Adam`,
            `AdamW`, `Adamax`, `Nadam`, `Lamb`. An `SGD` must not use `gradient_accumulation_steps`
            (the velocities would be rescaled on steps that do not update them), nor `use_ema` with
            `nesterov=True` (the average would miss the correction of the weights).
        schedule: `keras.optimizers.schedules.LearningRateSchedule` or `None`. A
            `keras_tricks.schedules.OneCycle` with `max_momentum` and `base_momentum` (its
            `momentum(step)` curve is used), or any schedule whose values are the momentum. Defaults to
            `None`: the inner optimizer's learning-rate schedule, which must then be a `OneCycle` with a
            momentum curve.
        name: str. Name of the optimizer. Defaults to `None` (a unique name).

    Example:

    >>> import keras, numpy as np
    >>> from keras_tricks.optimizers import CyclicMomentum
    >>> from keras_tricks.schedules import OneCycle
    >>> schedule = OneCycle(0.1, total_steps=100, max_momentum=0.95, base_momentum=0.85)
    >>> optimizer = CyclicMomentum(keras.optimizers.SGD(schedule, momentum=0.9))
    >>> w = keras.Variable(np.zeros(1, "float32"))
    >>> for _ in range(2):
    ...     optimizer.apply([np.ones(1, "float32")], [w])
    >>> # step 0: v = −η₀·g = −0.01, w = v; step 1: v = μ₁·v − η₁·g, w = w + v
    >>> mu_1, lr_1 = float(schedule.momentum(1)), float(schedule(1))  # 0.95 − 0.1/44, 0.01 + 0.09/44
    >>> expected = -0.01 + (mu_1 * -0.01 - lr_1)
    >>> abs(float(keras.ops.convert_to_numpy(w)[0]) - expected) < 1e-7
    True
    >>> optimizer.inner_optimizer.momentum  # the float placeholder is untouched
    0.9

    References:
        - Smith, [A disciplined approach to neural network hyper-parameters: Part 1](
          https://arxiv.org/abs/1803.09820), 2018, section 4.2 ("cyclical momentum").
    """

    def __init__(self, inner_optimizer, schedule=None, name=None):
        check_is_optimizer(inner_optimizer)
        if isinstance(inner_optimizer, OptimizerWrapper | keras.optimizers.LossScaleOptimizer):
            raise TypeError(
                "CyclicMomentum sets the momentum of a Keras SGD or Adam-family optimizer directly; put "
                "other wrappers outside it, e.g. GradientClipping(CyclicMomentum(SGD(...))). "
                f"Received: inner_optimizer={inner_optimizer!r}"
            )
        is_sgd = isinstance(inner_optimizer, keras.optimizers.SGD)
        if not is_sgd and not isinstance(inner_optimizer, _ADAM_FAMILY):
            raise TypeError(
                "Expected inner_optimizer to be a keras.optimizers.SGD or one of Adam, AdamW, Adamax, "
                "Nadam, Lamb (whose beta_1 is the momentum). Received: "
                f"inner_optimizer={type(inner_optimizer).__name__}"
            )
        if is_sgd:
            if inner_optimizer.momentum == 0:
                raise ValueError(
                    "Give the SGD any momentum > 0 (CyclicMomentum replaces it at every step); with "
                    "momentum 0 it has no velocity variables to scale. "
                    f"Received: inner_optimizer.momentum={inner_optimizer.momentum}"
                )
            if inner_optimizer.gradient_accumulation_steps:
                raise ValueError(
                    "CyclicMomentum does not support an SGD with gradient accumulation. Received: "
                    "inner_optimizer.gradient_accumulation_steps="
                    f"{inner_optimizer.gradient_accumulation_steps}"
                )
            if inner_optimizer.nesterov and inner_optimizer.use_ema:
                raise ValueError(
                    "CyclicMomentum does not support a Nesterov SGD with use_ema=True: the moving "
                    "average would miss the correction it applies to the weights after the step. "
                    f"Received: inner_optimizer.use_ema={inner_optimizer.use_ema}"
                )
        if schedule is None:
            schedule = self._schedule_of(inner_optimizer)
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise TypeError(
                "Expected schedule to be a keras.optimizers.schedules.LearningRateSchedule (such as a "
                f"OneCycle with max_momentum and base_momentum). Received: schedule={schedule!r}"
            )
        if isinstance(schedule, OneCycle) and not schedule.cycles_momentum:
            raise ValueError(
                "Expected a OneCycle schedule with a momentum curve; give it max_momentum and "
                f"base_momentum. Received: schedule={schedule.get_config()}"
            )
        super().__init__(inner_optimizer, name=name)
        self.schedule = schedule
        self._is_sgd = is_sgd

    @staticmethod
    def _schedule_of(inner_optimizer):
        schedule = _chain.schedule(inner_optimizer)
        if not (isinstance(schedule, OneCycle) and schedule.cycles_momentum):
            raise ValueError(
                "With schedule=None the inner optimizer's learning rate must be a OneCycle schedule with "
                "max_momentum and base_momentum; otherwise pass the momentum schedule. "
                f"Received: inner_optimizer learning_rate={inner_optimizer.get_config()['learning_rate']!r}"
            )
        return schedule

    def momentum_at(self, step):
        """The momentum (SGD's `momentum`, Adam's `beta_1`) the schedule gives at `step`, as a tensor."""
        if isinstance(self.schedule, OneCycle):
            return ops.cast(self.schedule.momentum(step), "float32")
        return ops.cast(self.schedule(step), "float32")

    @property
    def momentum(self):
        """The momentum of the current step (the one the next `apply` uses), as a tensor."""
        return self.momentum_at(self.inner_optimizer.iterations)

    def build(self, var_list):
        super().build(var_list)
        # SGD builds its velocities in the order of var_list. Indices, not the Variables: a Variable held
        # in an attribute would be tracked as one of the wrapper's own (and listed twice in `variables`).
        self._velocity_index = {id(variable): index for index, variable in enumerate(var_list)}

    @contextlib.contextmanager
    def _beta_1(self, value):
        original = self.inner_optimizer.beta_1
        self.inner_optimizer.beta_1 = value
        try:
            yield
        finally:
            self.inner_optimizer.beta_1 = original

    def _velocity_factor(self, momentum):
        return momentum / self.inner_optimizer.momentum

    def _nesterov_correction(self, momentum):
        return momentum - self.inner_optimizer.momentum

    def apply(self, grads, trainable_variables=None):
        variables = self._built_for(trainable_variables)
        grads = [None if g is None else ops.convert_to_tensor(g) for g in grads]
        momentum = self.momentum
        if not self._is_sgd:
            with self._beta_1(momentum):
                self.inner_optimizer.apply(grads, trainable_variables)
            return
        updated = [
            (variable, self.inner_optimizer.momentums[self._velocity_index[id(variable)]])
            for variable, grad in zip(variables, grads, strict=True)
            if grad is not None
        ]
        factor = self._velocity_factor(momentum)
        for _, velocity in updated:
            velocity.assign(velocity * ops.cast(factor, velocity.dtype))
        self.inner_optimizer.apply(grads, trainable_variables)
        if self.inner_optimizer.nesterov:
            correction = self._nesterov_correction(momentum)
            for variable, velocity in updated:
                variable.assign_add(ops.cast(correction, variable.dtype) * velocity)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        self._check_built_for_stateless()
        optimizer_variables = [ops.convert_to_tensor(v) for v in optimizer_variables]
        own_count = len(self._variables)
        own_values, inner_values = optimizer_variables[:own_count], optimizer_variables[own_count:]
        inner = self.inner_optimizer
        momentum = self.momentum_at(inner_values[position(inner.variables, inner.iterations)])
        if not self._is_sgd:
            with self._beta_1(momentum):
                new_trainable, new_inner = inner.stateless_apply(inner_values, grads, trainable_variables)
            return list(new_trainable), own_values + list(new_inner)
        # grads follow the variables the wrapper was built with, as do SGD's velocities
        positions = [position(inner.variables, velocity) for velocity in inner.momentums]
        updated = [(index, positions[index]) for index, grad in enumerate(grads) if grad is not None]
        factor = self._velocity_factor(momentum)
        for _, slot in updated:
            inner_values[slot] = inner_values[slot] * ops.cast(factor, inner_values[slot].dtype)
        new_trainable, new_inner = inner.stateless_apply(inner_values, grads, trainable_variables)
        new_trainable, new_inner = list(new_trainable), list(new_inner)
        if inner.nesterov:
            correction = self._nesterov_correction(momentum)
            for index, slot in updated:
                value = new_trainable[index]
                new_trainable[index] = value + ops.cast(correction, value.dtype) * new_inner[slot]
        return new_trainable, own_values + new_inner

    def get_config(self):
        return {**self._inner_config(), "schedule": keras.saving.serialize_keras_object(self.schedule)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(
            config["schedule"], custom_objects=custom_objects
        )
        return super().from_config(config, custom_objects=custom_objects)
