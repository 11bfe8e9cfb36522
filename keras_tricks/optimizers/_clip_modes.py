"""The clipping modes of `GradientClipping`, one small class each (as optax writes one transform per
concern).

A mode owns the arguments it reads, its variables (made through the wrapper, so they are saved with
it), its measure of the gradients and its clip. The wrapper keeps the work every mode shares: gradient
accumulation, the non-finite skip, distribution and the statistics. A new mode is one class here, one
entry in `MODES`, and its test.
"""

import collections

from keras import ops

from keras_tricks.optimizers import clipping as clip_ops
from keras_tricks.optimizers._wrapper import position

Clip = collections.namedtuple("Clip", ["clip", "changed", "clipped_norm"])
Clip.__doc__ = """What a mode's `clip` returns.

Attributes:
    clip: a function of no argument that returns the clipped gradients. The wrapper calls it where the
        inner optimizer's update is traced (inside the non-finite skip's `cond`), so that XLA fuses the
        clipping into the update; what it closes over (the gradients' factors) is computed before.
    changed: bool scalar, whether clipping changed the gradients.
    clipped_norm: float32 scalar, the global norm of the clipped gradients, or `None` for the wrapper
        to measure them (the clipped gradients are then computed once, for the measure and the update).
"""


class Mode:
    """One way of clipping. `arguments` names the `GradientClipping` arguments it reads."""

    name = None
    arguments = ()

    def __init__(self, **arguments):
        for name in self.arguments:
            setattr(self, name, arguments[name])

    def build(self, wrapper, var_list):
        """Makes the mode's variables through `wrapper.add_variable` (none by default)."""

    def measure(self, grads):
        """The gradients' `clipping.Measure`."""
        return clip_ops.measure(grads)

    def clip(self, grads, weights, measure, recorded):
        """The `Clip` of one step: `recorded` says whether the step counts (finite, a real update)."""
        raise NotImplementedError

    def load(self, wrapper, store):
        """The saved `store` as the wrapper's variables now stand (the same by default)."""
        return store


class Observe(Mode):
    """No clipping: the statistics only (`mode=None`)."""

    def clip(self, grads, weights, measure, recorded):
        return Clip(lambda: grads, ops.zeros((), dtype="bool"), measure.global_norm)


class ByValue(Mode):
    """Each element clipped to [−θ, θ] (Keras's `clipvalue`)."""

    name = "value"
    arguments = ("threshold",)

    def clip(self, grads, weights, measure, recorded):
        changed = clip_ops.exceeds_value(grads, self.threshold)
        return Clip(lambda: clip_ops.clip_by_value(grads, self.threshold), changed, None)


class ByNorm(Mode):
    """Each gradient rescaled to norm θ when larger (Keras's `clipnorm`)."""

    name = "norm"
    arguments = ("threshold",)

    def clip(self, grads, weights, measure, recorded):
        changed = ops.any(measure.norms > self.threshold)
        # Each gradient's clipped norm is min(‖gᵢ‖, θ): no second pass over the gradients.
        clipped_norm = clip_ops.combined_norm(ops.minimum(measure.norms, self.threshold))
        return Clip(
            lambda: clip_ops.clip_by_norm(grads, self.threshold, measure.norms),
            changed,
            ops.where(changed, clipped_norm, measure.global_norm),
        )


def _by_global_norm(grads, measure, threshold):
    return Clip(
        lambda: clip_ops.clip_by_global_norm(grads, threshold, measure.global_norm),
        measure.global_norm > threshold,
        ops.minimum(measure.global_norm, threshold),
    )


class ByGlobalNorm(Mode):
    """All gradients rescaled together to global norm θ when larger (Keras's `global_clipnorm`)."""

    name = "global_norm"
    arguments = ("threshold",)

    def clip(self, grads, weights, measure, recorded):
        return _by_global_norm(grads, measure, self.threshold)


class Adaptive(Mode):
    """AGC (Brock et al. 2021): each output unit's gradient rescaled to λ · max(‖W‖, ε) when larger."""

    name = "adaptive"
    arguments = ("clipping", "eps")

    def measure(self, grads):
        # The unit-wise norms with the norms, in one pass. No unit is clipped below clipping · eps:
        # there its norm need not be exact.
        return clip_ops.measure_unitwise(grads, floor=self.clipping * self.eps)

    def clip(self, grads, weights, measure, recorded):
        present = [(g, w, u) for g, w, u in zip(grads, weights, measure.units, strict=True) if g is not None]
        if not present:
            return Clip(lambda: grads, ops.zeros((), dtype="bool"), measure.global_norm)
        g, w, units = zip(*present, strict=True)
        factors, changed, clipped_norm = clip_ops.adaptive_factors(g, w, self.clipping, self.eps, units)
        return Clip(
            lambda: clip_ops.apply_factors(grads, factors),
            changed,
            ops.where(changed, clipped_norm, measure.global_norm),
        )


class AutoClip(Mode):
    """AutoClip (Seetharaman et al. 2020): global-norm clipping at a percentile of the last `window`
    recorded global norms, this step's included.

    A ring buffer (`norm_history`) says which norm leaves the window; a sorted copy (`norm_sorted`,
    updated in linear time) gives the percentile without sorting at every step.
    """

    name = "percentile"
    arguments = ("percentile", "window")

    def build(self, wrapper, var_list):
        def variable(name, dtype="float32", shape=()):
            return wrapper.add_variable(shape, dtype=dtype, aggregation="only_first_replica", name=name)

        self.norm_history = variable("norm_history", shape=(self.window,))
        self.norm_sorted = variable("norm_sorted", shape=(self.window,))
        self.history_count = variable("history_count", dtype="int32")

    def clip(self, grads, weights, measure, recorded):
        previous = self.history_count.value
        slot = previous % self.window
        full = previous >= self.window
        leaving = ops.take(self.norm_history.value, slot)
        ordered = clip_ops.sorted_update(
            self.norm_sorted.value,
            ops.minimum(previous, self.window),
            (full, leaving),
            measure.global_norm,
        )
        ordered = ops.where(recorded, ordered, self.norm_sorted.value)
        at_slot = ops.logical_and(ops.arange(self.window) == slot, recorded)
        self.norm_history.assign(ops.where(at_slot, measure.global_norm, self.norm_history.value))
        self.norm_sorted.assign(ordered)
        count = previous + ops.cast(recorded, "int32")
        self.history_count.assign(count)
        threshold = clip_ops.percentile_of_sorted(ordered, ops.maximum(count, 1), self.percentile)
        return _by_global_norm(grads, measure, threshold)

    def load(self, wrapper, store):
        """A file saved before the sorted copy existed (one variable fewer) gets it rebuilt from the saved
        ring buffer, sorted once."""
        variables = wrapper.variables
        if len(store.keys()) != len(variables) - 1:
            return store
        missing = position(variables, self.norm_sorted)
        history = position(variables, self.norm_history)
        count = position(variables, self.history_count)
        old = {j: store[str(j if j < missing else j - 1)] for j in range(len(variables)) if j != missing}
        filled = ops.arange(self.window) < ops.minimum(ops.convert_to_tensor(old[count]), self.window)
        old[missing] = ops.sort(ops.where(filled, ops.convert_to_tensor(old[history]), float("inf")))
        return {str(j): value for j, value in old.items()}


MODES = {mode.name: mode for mode in (ByValue, ByNorm, ByGlobalNorm, Adaptive, AutoClip, Observe)}
