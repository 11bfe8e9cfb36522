"""`GradientClipping`: an optimizer wrapper that clips gradients and records what clipping did.

One step, in order: the gradient of the global batch (`_distribute`), summed over the micro-batches of
an accumulating inner optimizer (`_accumulate`), measured and clipped by the mode (one small class per
mode in `_clip_modes`: its variables, its measure, its clip), recorded (`_Sums`), and handed to the
inner optimizer unless it is non-finite and skipped.

The clipping itself (a product of each gradient with its factor) is traced where the inner
optimizer's update is, inside the skip's `cond`: there XLA fuses it into the update, as it fuses Keras's
own `global_clipnorm`. Traced before the `cond`, each clipped gradient was written out to memory to be
handed to the branch: one more pass over every gradient (docs/benchmarks.md). Three cases clip before
the update: the `"value"` mode (its clipped gradients are measured too), a step without the skip
(`skip_nonfinite=False`: no `cond`), and several `tf.distribute` replicas (see `_distribute`).
"""

import collections

import keras
from keras import ops

from keras_tricks import _checks
from keras_tricks._registration import register
from keras_tricks.optimizers import _chain, _clip_modes, _distribute
from keras_tricks.optimizers import clipping as clip_ops
from keras_tricks.optimizers._wrapper import OptimizerWrapper, check_is_optimizer, position

MODES = tuple(_clip_modes.MODES)


class _Sums:
    """The layout of the statistics vector `sums`: these sums, then one gradient norm per variable.

    One vector, so that a step makes one update of it (on tensorflow each op costs a few microseconds).
    """

    FIELDS = ("norm", "clipped_norm", "steps", "clipped_steps", "nonfinite_steps")

    @classmethod
    def added(cls, step):
        """What one step adds: its sums where it is recorded, a non-finite step its own count only."""
        # `where`, not a product with 0: a non-finite step's norms would make the sums NaN.
        changed = ops.cast(step.changed, "float32")
        recorded = ops.concatenate([ops.stack([step.norm, step.clipped_norm, 1.0, changed, 0.0]), step.norms])
        nonfinite = ops.cast(ops.logical_not(step.finite), "float32")
        others = ops.where(
            ops.arange(recorded.shape[0]) == cls.FIELDS.index("nonfinite_steps"), nonfinite, 0.0
        )
        return ops.where(step.recorded, recorded, others)

    @classmethod
    def read(cls, sums):
        """`{field: value}` and the per-variable sums, from the vector."""
        return {name: sums[i] for i, name in enumerate(cls.FIELDS)}, sums[len(cls.FIELDS) :]


# What one step measured and decided (`_measure_and_clip`); `clip()` returns the clipped gradients.
_Step = collections.namedtuple(
    "_Step", ["clip", "norm", "clipped_norm", "changed", "finite", "recorded", "norms"]
)


@register
class GradientClipping(OptimizerWrapper):
    """An optimizer wrapper that clips gradients and records what clipping did.

    It clips the gradients of each step, then hands them to `inner_optimizer` (any Keras optimizer,
    with its momentum, weight decay, learning-rate schedule, EMA or gradient accumulation). Inside the
    compiled train step it accumulates, in its own non-trainable variables (saved with the optimizer):
    the global gradient norm ‖g‖ = (Σᵢ ‖gᵢ‖²)^½ before and after clipping (mean and maximum), the
    fraction of steps clipped, the number of non-finite steps and each variable's gradient norm.
    `keras_tricks.callbacks.GradientNormLogger` writes them into the training logs.

    Modes (θ = `threshold`):

    - `"value"`: each element clipped to [−θ, θ] (Keras's `clipvalue`);
    - `"norm"`: each variable's gradient gᵢ ← gᵢ · min(1, θ / ‖gᵢ‖) (Keras's `clipnorm`);
    - `"global_norm"`: every gᵢ ← gᵢ · min(1, θ / ‖g‖) (Keras's `global_clipnorm`);
    - `"adaptive"`: unit-wise adaptive gradient clipping, AGC (Brock et al. 2021): the gradient G of each
      output unit with weights W is rescaled to norm λ · max(‖W‖, ε) when larger (λ = `clipping`,
      ε = `eps`);
    - `"percentile"`: AutoClip (Seetharaman et al. 2020): global-norm clipping at the `percentile`-th
      percentile of the global norms of the last `window` steps, kept on the device in a ring buffer
      and a sorted copy (updated in linear time, never sorted);
    - `None`: no clipping, statistics only.

    Norms are exact (to 1e-6 of float64, tested inside `model.fit` on every backend and compile setting)
    for every finite float32 gradient whose norm float32 holds: a plain sum of squares where it is
    exact, norms scaled by their largest element where it would overflow or underflow
    (`keras_tricks.optimizers.clipping`); elements below float32's smallest normal (~1.2e-38) count as
    0 on jax and tensorflow, as they do in the inner optimizer's update. A step is non-finite when an
    element of its gradient is NaN or ±Inf. On tensorflow, a sparse gradient (an `Embedding`'s
    `tf.IndexedSlices`) is measured and clipped as its dense form (the rows of a repeated index summed)
    and stays sparse. A variable that is not floating-point is neither measured nor clipped: its
    gradient, if any, goes to the inner optimizer as it came.

    With an inner optimizer that accumulates gradients (`gradient_accumulation_steps=k`), the wrapper
    clips the accumulated mean gradient once per real update, as Keras's own clipping arguments do, and
    records one step per update: it keeps the running sum itself (one more copy of the gradients), hands
    the inner optimizer zeros on the other micro-steps and k times the clipped mean on the last one.

    On tensorflow under a `tf.distribute` strategy the statistics and the clipping are those of the
    gradient of the global batch (the replicas' gradients are summed first), unlike Keras's own
    clipping arguments, which clip each replica's share.

    Args:
        inner_optimizer: keras.optimizers.Optimizer. The optimizer that applies the clipped gradients;
            it must not clip itself (`clipnorm`, `clipvalue`, `global_clipnorm`).
        mode: str or None. One of `"value"`, `"norm"`, `"global_norm"`, `"adaptive"`, `"percentile"`
            or `None`. Defaults to `"global_norm"`.
        threshold: float. θ of the `"value"`, `"norm"` and `"global_norm"` modes. Defaults to `1.0`.
        clipping: float. λ of the `"adaptive"` mode. Defaults to `0.01`.
        eps: float. ε of the `"adaptive"` mode, the smallest weight norm used. Defaults to `1e-3`.
        percentile: float. In (0, 100], the percentile of the `"percentile"` mode. Defaults to `10.0`.
        window: int. Number of past global norms the `"percentile"` mode keeps. Defaults to `1000`.
        skip_nonfinite: bool. If `True`, a step whose gradients hold NaN or Inf changes neither the
            weights nor the inner optimizer's variables (its iteration count included), and is
            counted (in `grad_nonfinite_steps`, which is counted either way). Defaults to `None`:
            `True` when the wrapper clips, `False` with `mode=None`, so that an observer leaves
            training exactly as the inner optimizer alone would run it (and costs less: a skip must
            wait for the whole gradient to be measured before any weight moves).
        update_ratios: bool. If `True`, also accumulate each variable's update/weight norm ratio
            ‖Δw‖ / ‖w‖ (logged as `update_ratio/<variable path>`), at the cost of a copy of the weights
            and two more norms per step. Defaults to `False`.
        name: str. Name of the optimizer. Defaults to `None` (a unique name).

    Example:

    >>> import keras, numpy as np
    >>> from keras_tricks.optimizers import GradientClipping
    >>> optimizer = GradientClipping(keras.optimizers.SGD(0.1), "global_norm", threshold=1.0)
    >>> w = keras.Variable(np.zeros(2, "float32"))
    >>> optimizer.apply([np.array([3.0, 4.0], "float32")], [w])  # ‖g‖ = 5, clipped to 1
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(w)]
    [-0.06, -0.08]
    >>> stats = optimizer.statistics()
    >>> float(stats["grad_norm"]), float(stats["grad_clip_rate"])
    (5.0, 1.0)

    References:
        - [Pascanu et al. 2013, On the difficulty of training recurrent neural networks](
          https://arxiv.org/abs/1211.5063)
        - [Brock et al. 2021, High-Performance Large-Scale Image Recognition Without Normalization](
          https://arxiv.org/abs/2102.06171)
        - [Seetharaman et al. 2020, AutoClip: Adaptive Gradient Clipping for Source Separation
          Networks](https://arxiv.org/abs/2007.14469)
    """

    def __init__(
        self,
        inner_optimizer,
        mode="global_norm",
        threshold=1.0,
        clipping=0.01,
        eps=1e-3,
        percentile=10.0,
        window=1000,
        skip_nonfinite=None,
        update_ratios=False,
        name=None,
        **kwargs,
    ):
        check_is_optimizer(inner_optimizer)
        if _chain.unwrap(inner_optimizer, keras.optimizers.LossScaleOptimizer) is not None:
            raise ValueError(
                "Wrap the other way round: LossScaleOptimizer(GradientClipping(optimizer)), so the "
                "statistics are taken on unscaled gradients (model.compile does this for you under a "
                f"mixed-precision policy). Received: inner_optimizer={inner_optimizer!r}"
            )
        for optimizer, arg, value in _chain.clipping_settings(inner_optimizer):
            raise ValueError(
                f"An optimizer inside GradientClipping already clips with {arg} ({optimizer.name}, a "
                f"{type(optimizer).__name__}); clip in GradientClipping only, so that what it records is "
                f"what the weights get. Received: {arg}={value} in inner_optimizer={inner_optimizer.name}"
            )
        for arg in _chain.CLIPPING_ARGUMENTS:
            if kwargs.get(arg) is not None:
                raise ValueError(
                    f"GradientClipping clips through `mode` and `threshold`, not {arg}. "
                    f"Received: {arg}={kwargs[arg]}"
                )
            kwargs.pop(arg, None)
        for optimizer in _chain.chain(inner_optimizer):
            if getattr(optimizer, "loss_scale_factor", None) is not None:
                raise ValueError(
                    "Set the loss scale on a LossScaleOptimizer around GradientClipping, not on an "
                    f"optimizer inside it. Received: loss_scale_factor={optimizer.loss_scale_factor} in "
                    f"{optimizer.name}"
                )
        if kwargs:
            raise ValueError(f"GradientClipping does not support the arguments {kwargs}")
        super().__init__(inner_optimizer, name=name)
        self.mode = _checks.choice("mode", mode, MODES)
        self.threshold = _checks.positive_number("threshold", threshold)
        self.clipping = _checks.positive_number("clipping", clipping)
        self.eps = _checks.positive_number("eps", eps)
        self.percentile = _checks.number("percentile", percentile, low=0, high=100, low_open=True)
        self.window = _checks.positive_int("window", window)
        if skip_nonfinite is None:
            skip_nonfinite = self.mode is not None
        self.skip_nonfinite = _checks.boolean("skip_nonfinite", skip_nonfinite)
        self.update_ratios = _checks.boolean("update_ratios", update_ratios)
        mode_class = _clip_modes.MODES[self.mode]
        self._mode = mode_class(**{name: getattr(self, name) for name in mode_class.arguments})
        self._accumulation = _chain.unwrap(inner_optimizer).gradient_accumulation_steps

    def build(self, var_list):
        # A variable that is not floating-point (an int32 counter left trainable) has no gradient to
        # measure or clip: what it gets goes to the inner optimizer as it came, which does with it what
        # it does alone (tensorflow's fit hands it None; SGD's `apply` adds an integer gradient).
        self._integer = [not keras.backend.is_float_dtype(v.dtype) for v in var_list]

        # "only_first_replica": under tf.distribute every replica computes the same statistics from the
        # summed gradient, so the first replica's write is the value.
        def variable(name, shape=(), dtype="float32"):
            return self.add_variable(shape, dtype=dtype, aggregation="only_first_replica", name=name)

        self.sums = variable("sums", (len(_Sums.FIELDS) + len(var_list),))
        self.norm_max = variable("grad_norm_max")
        if self.update_ratios:
            self.update_ratio_sums = variable("update_ratio_sums", (len(var_list),))
        self._mode.build(self, var_list)
        if self._accumulation:
            self._accumulators = [
                None if integer else self.add_variable_from_reference(v, "gradient_clipping_sum")
                for v, integer in zip(var_list, self._integer, strict=True)
            ]
        super().build(var_list)

    # --- One step, written as assignments to the wrapper's own variables: `apply` runs it on the
    # variables, `stateless_apply` inside a StatelessScope (the JAX path).

    def _step(self, grads, weights, iteration):
        """Returns `(clip, finite)` and updates the wrapper's variables: `clip()` gives the gradients for
        the inner optimizer (call it where the update is traced, see the module's docstring)."""
        passed = [g if integer else None for g, integer in zip(grads, self._integer, strict=True)]
        grads = clip_ops.deduplicate(
            [
                None if g is None or integer else _as_tensor(g)
                for g, integer in zip(grads, self._integer, strict=True)
            ]
        )
        is_update, totals = ops.ones((), dtype="bool"), None
        if self._accumulation:
            grads, totals, is_update = self._accumulate(grads, iteration)
        step = self._measure_and_clip(grads, weights, is_update)
        self.sums.assign_add(_Sums.added(step))
        self.norm_max.assign(ops.maximum(self.norm_max.value, ops.where(step.recorded, step.norm, 0.0)))
        clip = step.clip
        if self._accumulation:
            clip = self._after_accumulation(clip, totals, step, is_update)
        if any(self._integer):
            measured = clip
            clip = lambda: [p if p is not None else c for c, p in zip(measured(), passed, strict=True)]  # noqa: E731
        return clip, step.finite

    def _measure_and_clip(self, grads, weights, is_update):
        measure = self._mode.measure(grads)
        recorded = ops.logical_and(measure.finite, is_update)
        clip, changed, clipped_norm = self._mode.clip(grads, weights, measure, recorded)
        if clipped_norm is None:  # the clipped gradient is bounded: its squares do not overflow
            clipped = clip()  # measured here: computed once, for the measure and the update
            clip = lambda: clipped  # noqa: E731
            clipped_norm = ops.where(changed, clip_ops.measure(clipped).global_norm, measure.global_norm)
        return _Step(
            clip, measure.global_norm, clipped_norm, changed, measure.finite, recorded, measure.norms
        )

    # AutoClip's variables are its mode's (`_clip_modes.AutoClip`); here for the code that reads them.
    @property
    def norm_history(self):
        return self._mode.norm_history

    @property
    def norm_sorted(self):
        return self._mode.norm_sorted

    @property
    def history_count(self):
        return self._mode.history_count

    def _accumulate(self, grads, iteration):
        """The mean of the micro-batch gradients so far (this one included), their sum, whether to update."""
        k = self._accumulation
        is_update = (iteration + 1) % k == 0
        totals = [
            None if g is None else acc.value + ops.convert_to_tensor(g)  # a sparse gradient made dense
            for g, acc in zip(grads, self._accumulators, strict=True)
        ]
        return [None if t is None else t / k for t in totals], totals, is_update

    def _after_accumulation(self, clip, totals, step, is_update):
        """Keeps the running sums; returns the function that gives what the inner optimizer (which
        averages k micro-steps) must get."""
        k = self._accumulation
        keep = step.finite if self.skip_nonfinite else ops.ones((), dtype="bool")
        for acc, total in zip(self._accumulators, totals, strict=True):
            if total is not None:
                restart = ops.zeros(total.shape, total.dtype)
                acc.assign(ops.where(keep, ops.where(is_update, restart, total), acc.value))
        return lambda: [
            None if c is None else ops.where(is_update, c * ops.cast(k, c.dtype), ops.zeros_like(c))
            for c in clip()
        ]

    def _record_update_ratios(self, old, new, finite):
        ratios = []
        for before, after in zip(old, new, strict=True):
            before, after = ops.cast(before, "float32"), ops.cast(after, "float32")
            weight_norm = ops.sqrt(ops.sum(ops.square(before)))
            update_norm = ops.sqrt(ops.sum(ops.square(after - before)))
            ratios.append(update_norm / ops.maximum(weight_norm, clip_ops.TINY))
        self.update_ratio_sums.assign_add(ops.where(finite, ops.stack(ratios), 0.0))

    def apply(self, grads, trainable_variables=None):
        variables = self._built_for(trainable_variables)
        if keras.backend.backend() == "jax":
            # JAX's `cond` cannot hold the inner optimizer's assignments: go through the stateless path.
            self._apply_through_stateless(grads, variables)
            return
        grads, replicas = _distribute.all_reduce_sum(grads)
        old = [ops.copy(v.value) for v in variables] if self.update_ratios else None
        clip, finite = self._step(grads, [v.value for v in variables], _chain.step_counter(self).value)

        def share():
            # The inner optimizer sums the replicas' gradients again: hand each replica its share.
            return [g if g is None or replicas == 1 else g / replicas for g in clip()]

        def step(grads):
            self.inner_optimizer.apply(grads, trainable_variables)

        if self.skip_nonfinite:
            _distribute.apply_if_finite(finite, step, share)
        else:
            step(share())
        if self.update_ratios:
            self._record_update_ratios(old, [v.value for v in variables], finite)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        self._check_built_for_stateless()
        # LossScaleOptimizer hands over its inner optimizer's Variables (read in its StatelessScope).
        optimizer_variables = [ops.convert_to_tensor(v) for v in optimizer_variables]
        trainable_variables = [ops.convert_to_tensor(v) for v in trainable_variables]
        own_count = len(self._variables)
        inner_variables = list(optimizer_variables[own_count:])
        iteration = inner_variables[position(self.inner_optimizer.variables, _chain.step_counter(self))]
        mapping = list(zip(self._variables, optimizer_variables[:own_count], strict=True))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            clip, finite = self._step(grads, trainable_variables, iteration)

            def update():
                new_trainable, new_inner = self.inner_optimizer.stateless_apply(
                    inner_variables, clip(), trainable_variables
                )
                return list(new_trainable), list(new_inner)

            if self.skip_nonfinite:
                # A `cond` around the inner update, not a select of every new value against its old one:
                # the select costs one more pass over every weight and slot, which XLA:CPU does not fold
                # into the update (400 variables, per epoch: 1.63× Keras's global_clipnorm with the
                # select, 1.23× with the cond; docs/benchmarks.md, "Does it scale").
                new_trainable, new_inner = ops.cond(
                    finite, update, lambda: (list(trainable_variables), list(inner_variables))
                )
            else:
                new_trainable, new_inner = update()
            if self.update_ratios:
                self._record_update_ratios(trainable_variables, new_trainable, finite)
        own_variables = [scope.get_current_value(v) for v in self._variables]
        return list(new_trainable), own_variables + list(new_inner)

    def load_own_variables(self, store):
        """Loads the saved variables, as the mode reads them (AutoClip: a file saved before its sorted
        copy existed too)."""
        super().load_own_variables(self._mode.load(self, store))

    def statistics(self):
        """The accumulated statistics since the last `reset_statistics()`, keyed by their log names.

        `grad_norm` and `grad_norm_clipped` are means over the recorded steps (the finite ones; with
        gradient accumulation, the real updates), `grad_norm_max` their maximum, `grad_clip_rate` the
        fraction of recorded steps clipped, `grad_steps` their number and `grad_nonfinite_steps` that of
        the non-finite steps; `grad_norm/<variable path>` is the mean gradient norm of each variable and,
        with `update_ratios=True`, `update_ratio/<variable path>` its mean ‖Δw‖ / ‖w‖. Values are tensors.
        (`keras_tricks.callbacks.GradientNormLogger` logs the per-variable ones under stable keys.)
        """
        sums, per_variable = _Sums.read(ops.convert_to_tensor(self.sums))
        steps = ops.maximum(sums["steps"], 1.0)
        stats = {
            "grad_norm": sums["norm"] / steps,
            "grad_norm_max": ops.convert_to_tensor(self.norm_max),
            "grad_norm_clipped": sums["clipped_norm"] / steps,
            "grad_clip_rate": sums["clipped_steps"] / steps,
            "grad_nonfinite_steps": sums["nonfinite_steps"],
            "grad_steps": sums["steps"],
        }
        means = per_variable / steps
        for index, variable in enumerate(self._trainable_variables):
            stats[f"grad_norm/{variable.path}"] = means[index]
        if self.update_ratios:
            ratios = self.update_ratio_sums / steps
            for index, variable in enumerate(self._trainable_variables):
                stats[f"update_ratio/{variable.path}"] = ratios[index]
        return stats

    def reset_statistics(self):
        """Zeroes the interval statistics (not the AutoClip history, which spans intervals)."""
        for variable in (
            self.sums,
            self.norm_max,
            *([self.update_ratio_sums] if self.update_ratios else []),
        ):
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    def get_config(self):
        return {
            **self._inner_config(),
            "mode": self.mode,
            "threshold": self.threshold,
            "clipping": self.clipping,
            "eps": self.eps,
            "percentile": self.percentile,
            "window": self.window,
            "skip_nonfinite": self.skip_nonfinite,
            "update_ratios": self.update_ratios,
        }


@register
class GradientMonitor(GradientClipping):
    """An optimizer wrapper that records gradient statistics and changes nothing.

    `GradientClipping(inner_optimizer, mode=None)` under its own name: inside the compiled train step
    it accumulates the global gradient norm (mean and maximum), each variable's gradient norm and the
    number of steps with NaN or Inf in their gradients, and hands the gradients to `inner_optimizer`
    untouched, so training runs exactly as the inner optimizer alone would run it.
    `keras_tricks.callbacks.GradientNormLogger` writes the statistics into the training logs;
    `keras_tricks.callbacks.Diagnose` reads them. To clip as well, use `GradientClipping`.

    Args:
        inner_optimizer: keras.optimizers.Optimizer. The optimizer that applies the gradients; it must
            not clip itself (`clipnorm`, `clipvalue`, `global_clipnorm`).
        update_ratios: bool. If `True`, also accumulate each variable's update/weight norm ratio
            ‖Δw‖ / ‖w‖ (logged as `update_ratio/<variable path>`). Defaults to `False`.
        skip_nonfinite: bool. If `True`, a step whose gradients hold NaN or Inf changes neither the
            weights nor the inner optimizer's variables. Defaults to `False` (such steps are counted
            in `grad_nonfinite_steps` and applied, as the inner optimizer alone would).
        name: str. Name of the optimizer. Defaults to `None` (a unique name).

    Example:

    >>> import keras, numpy as np
    >>> from keras_tricks.optimizers import GradientMonitor
    >>> optimizer = GradientMonitor(keras.optimizers.SGD(0.1))
    >>> w = keras.Variable(np.zeros(2, "float32"))
    >>> optimizer.apply([np.array([3.0, 4.0], "float32")], [w])  # not clipped
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(w)]
    [-0.3, -0.4]
    >>> float(optimizer.statistics()["grad_norm"])
    5.0
    """

    _CLIPPING_ARGUMENTS = ("mode", "threshold", "clipping", "eps", "percentile", "window")

    def __init__(self, inner_optimizer, update_ratios=False, skip_nonfinite=False, name=None, **kwargs):
        for arg in self._CLIPPING_ARGUMENTS:
            if arg in kwargs:
                raise TypeError(
                    f"GradientMonitor observes and never clips, so it takes no {arg}; to clip, use "
                    f"keras_tricks.optimizers.GradientClipping(optimizer, {arg}=...). "
                    f"Received: {arg}={kwargs[arg]!r}"
                )
        super().__init__(
            inner_optimizer,
            mode=None,
            skip_nonfinite=_checks.boolean("skip_nonfinite", skip_nonfinite),
            update_ratios=update_ratios,
            name=name,
            **kwargs,
        )

    def get_config(self):
        return {
            **self._inner_config(),
            "update_ratios": self.update_ratios,
            "skip_nonfinite": self.skip_nonfinite,
        }


def _as_tensor(gradient):
    from keras_tricks.optimizers import _sparse

    return gradient if _sparse.is_sparse(gradient) else ops.convert_to_tensor(gradient)
