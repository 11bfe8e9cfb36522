import math

import keras
from keras import ops

from keras_tricks._registration import register
from keras_tricks.optimizers import _chain, _distribute, clipping
from keras_tricks.optimizers._wrapper import OptimizerWrapper, check_is_optimizer

MODES = ("value", "norm", "global_norm", "adaptive", "percentile", None)

# The order of the statistics at the head of the wrapper's `sums` variable (per-variable norms follow).
_SUMS = ("norm", "clipped_norm", "steps", "clipped_steps", "nonfinite_steps")


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
      percentile of the global norms of the last `window` steps, kept in an on-device ring buffer;
    - `None`: no clipping, statistics only.

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
            counted. Defaults to `True`.
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
        skip_nonfinite=True,
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
        if mode not in MODES:
            raise ValueError(f"Expected mode in {MODES}. Received: mode={mode!r}")
        for arg, value in (("threshold", threshold), ("clipping", clipping), ("eps", eps)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Expected {arg} to be a float. Received: {arg}={value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"Expected {arg} to be finite and > 0. Received: {arg}={value}")
        if isinstance(percentile, bool) or not isinstance(percentile, (int, float)):
            raise TypeError(f"Expected percentile to be a float. Received: percentile={percentile!r}")
        if not 0 < percentile <= 100:
            raise ValueError(f"Expected percentile in (0, 100]. Received: percentile={percentile}")
        if isinstance(window, bool) or not isinstance(window, int):
            raise TypeError(f"Expected window to be an int. Received: window={window!r}")
        if window < 1:
            raise ValueError(f"Expected window >= 1. Received: window={window}")
        if not isinstance(skip_nonfinite, bool):
            raise TypeError(
                f"Expected skip_nonfinite to be a bool. Received: skip_nonfinite={skip_nonfinite!r}"
            )
        if not isinstance(update_ratios, bool):
            raise TypeError(f"Expected update_ratios to be a bool. Received: update_ratios={update_ratios!r}")
        if kwargs:
            raise ValueError(f"GradientClipping does not support the arguments {kwargs}")

        super().__init__(inner_optimizer, name=name)
        self.mode = mode
        self.threshold = float(threshold)
        self.clipping = float(clipping)
        self.eps = float(eps)
        self.percentile = float(percentile)
        self.window = window
        self.skip_nonfinite = skip_nonfinite
        self.update_ratios = update_ratios

    def build(self, var_list):
        # "only_first_replica": under tf.distribute every replica computes the same statistics from the
        # summed gradient, so the first replica's write is the value.
        def scalar(name, dtype="float32"):
            return self.add_variable((), dtype=dtype, aggregation="only_first_replica", name=name)

        # All the sums in one vector, laid out as _SUMS then one entry per variable: one update per step
        # instead of one per statistic (on tensorflow each op costs a few microseconds per step).
        self.sums = self.add_variable(
            (len(_SUMS) + len(var_list),), dtype="float32", aggregation="only_first_replica", name="sums"
        )
        self.norm_max = scalar("grad_norm_max")
        if self.update_ratios:
            self.update_ratio_sums = self.add_variable(
                (len(var_list),), dtype="float32", aggregation="only_first_replica", name="update_ratio_sums"
            )
        if self.mode == "percentile":
            self.norm_history = self.add_variable(
                (self.window,), dtype="float32", aggregation="only_first_replica", name="norm_history"
            )
            self.history_count = scalar("history_count", dtype="int32")
        super().build(var_list)

    # The clipping and the bookkeeping, written as assignments to the wrapper's own variables: `apply`
    # runs it on the variables, `stateless_apply` inside a StatelessScope (the JAX path).
    def _clip_and_record(self, grads, weights):
        grads = [None if g is None else ops.convert_to_tensor(g) for g in grads]
        squared = clipping.squared_norms(grads)
        stacked = ops.stack([ops.zeros(()) if s is None else s for s in squared])
        norm = ops.sqrt(ops.sum(stacked))
        finite = ops.isfinite(norm)

        # `changed`: whether clipping altered the gradient, from the clipping decision itself (comparing
        # the norms before and after would count rounding: XLA may order the two reductions differently).
        if self.mode is None:
            clipped, clipped_norm, changed = grads, norm, ops.zeros((), dtype="bool")
        elif self.mode in ("global_norm", "percentile"):
            threshold = (
                self.threshold if self.mode == "global_norm" else self._autoclip_threshold(norm, finite)
            )
            clipped = clipping.clip_by_global_norm(grads, threshold, norm)
            clipped_norm = ops.minimum(norm, threshold)
            changed = norm > threshold
        else:
            present = [g for g in grads if g is not None]
            if self.mode == "value":
                clipped = clipping.clip_by_value(grads, self.threshold)
                changed = clipping.any_of([ops.max(ops.abs(g)) > self.threshold for g in present])
            elif self.mode == "norm":
                norms = [None if s is None else ops.sqrt(s) for s in squared]
                clipped = clipping.clip_by_norm(grads, self.threshold, norms)
                changed = clipping.any_of([n > self.threshold for n in norms if n is not None])
            else:
                clipped, changed = clipping.adaptive_clip(
                    grads, weights, self.clipping, self.eps, return_changed=True
                )
            clipped_norm = ops.where(changed, clipping.global_norm(clipped), norm)

        # A non-finite step adds to its own counter only; `where` keeps the sums finite.
        clipped_flag = ops.cast(changed, "float32")
        added = ops.concatenate(
            [ops.stack([norm, clipped_norm, ops.ones(()), clipped_flag, ops.zeros(())]), ops.sqrt(stacked)]
        )
        nonfinite_only = ops.cast(ops.arange(added.shape[0]) == _SUMS.index("nonfinite_steps"), "float32")
        self.sums.assign_add(ops.where(finite, added, nonfinite_only))
        self.norm_max.assign(ops.maximum(self.norm_max.value, ops.where(finite, norm, 0.0)))
        return clipped, finite

    def _record_update_ratios(self, old, new, finite):
        ratios = []
        for before, after in zip(old, new, strict=True):
            before, after = ops.cast(before, "float32"), ops.cast(after, "float32")
            weight_norm = ops.sqrt(ops.sum(ops.square(before)))
            update_norm = ops.sqrt(ops.sum(ops.square(after - before)))
            ratios.append(update_norm / ops.maximum(weight_norm, clipping.TINY))
        self.update_ratio_sums.assign_add(ops.where(finite, ops.stack(ratios), 0.0))

    def _autoclip_threshold(self, norm, finite):
        previous = self.history_count.value
        count = previous + ops.cast(finite, "int32")
        slot = ops.arange(self.window) == (previous % self.window)
        history = ops.where(ops.logical_and(slot, finite), norm, self.norm_history.value)
        self.norm_history.assign(history)
        self.history_count.assign(count)
        return clipping.percentile_of_history(history, ops.maximum(count, 1), self.percentile)

    def apply(self, grads, trainable_variables=None):
        variables = self._built_for(trainable_variables)
        if keras.backend.backend() == "jax":
            # JAX's `cond` cannot hold the inner optimizer's assignments: go through the stateless path.
            self._apply_through_stateless(grads, variables)
            return
        grads, replicas = _distribute.all_reduce_sum(grads)
        old = [ops.copy(v.value) for v in variables] if self.update_ratios else None
        clipped, finite = self._clip_and_record(grads, [v.value for v in variables])
        if replicas > 1:
            # The inner optimizer sums the replicas' gradients again: hand each replica its share.
            clipped = [None if g is None else g / replicas for g in clipped]

        def step(grads):
            self.inner_optimizer.apply(grads, trainable_variables)

        if self.skip_nonfinite:
            _distribute.apply_if_finite(finite, step, clipped)
        else:
            step(clipped)
        if self.update_ratios:
            self._record_update_ratios(old, [v.value for v in variables], finite)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        self._check_built_for_stateless()
        # LossScaleOptimizer hands over its inner optimizer's Variables (read in its StatelessScope).
        optimizer_variables = [ops.convert_to_tensor(v) for v in optimizer_variables]
        trainable_variables = [ops.convert_to_tensor(v) for v in trainable_variables]
        own_count = len(self._variables)
        inner_variables = list(optimizer_variables[own_count:])
        mapping = list(zip(self._variables, optimizer_variables[:own_count], strict=True))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            clipped, finite = self._clip_and_record(grads, trainable_variables)
            new_trainable, new_inner = self.inner_optimizer.stateless_apply(
                inner_variables, clipped, trainable_variables
            )
            if self.skip_nonfinite:
                # A select rather than a `cond`, so XLA can fuse it into the update instead of running
                # the update as a separate computation; the skipped step's values are computed, never kept.
                new_trainable = [
                    ops.where(finite, new, old)
                    for new, old in zip(new_trainable, trainable_variables, strict=True)
                ]
                new_inner = [
                    ops.where(finite, new, old) for new, old in zip(new_inner, inner_variables, strict=True)
                ]
            if self.update_ratios:
                self._record_update_ratios(trainable_variables, new_trainable, finite)
        own_variables = [scope.get_current_value(v) for v in self._variables]
        return list(new_trainable), own_variables + list(new_inner)

    def statistics(self):
        """The accumulated statistics since the last `reset_statistics()`, keyed by their log names.

        `grad_norm` and `grad_norm_clipped` are means over the finite steps, `grad_norm_max` their
        maximum, `grad_clip_rate` the fraction of finite steps clipped, `grad_steps` the number of finite
        steps and `grad_nonfinite_steps` that of the others;
        `grad_norm/<variable path>` is the mean gradient norm of each variable and, with
        `update_ratios=True`, `update_ratio/<variable path>` its mean ‖Δw‖ / ‖w‖. Values are tensors.
        """
        sums = ops.convert_to_tensor(self.sums)
        steps = ops.maximum(sums[_SUMS.index("steps")], 1.0)
        stats = {
            "grad_norm": sums[_SUMS.index("norm")] / steps,
            "grad_norm_max": ops.convert_to_tensor(self.norm_max),
            "grad_norm_clipped": sums[_SUMS.index("clipped_norm")] / steps,
            "grad_clip_rate": sums[_SUMS.index("clipped_steps")] / steps,
            "grad_nonfinite_steps": sums[_SUMS.index("nonfinite_steps")],
            "grad_steps": sums[_SUMS.index("steps")],
        }
        means = sums[len(_SUMS) :] / steps
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
