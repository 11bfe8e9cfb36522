import math
import warnings

import keras

from keras_tricks import _checks
from keras_tricks._registration import register

_ANNEALS = ("linear", "cosine")
# Fewer steps than this cannot be a 1cycle over epochs of batches: most likely epochs given as steps.
FEW_STEPS = 10


def check_covers_fit(optimizer, epochs, steps_per_epoch):
    """Warns if the `OneCycle` of `optimizer` ends before a `fit` of `epochs` × `steps_per_epoch` steps.

    After `total_steps` the rate stays at `final_learning_rate`: a cycle shorter than the fit trains the
    rest at that tiny rate. Called by the keras-tricks callbacks of a `fit` when they get its parameters.
    """
    from keras_tricks.optimizers import _chain

    schedule = _chain.schedule(optimizer)
    while schedule is not None and not isinstance(schedule, OneCycle):
        schedule = getattr(schedule, "schedule", None)  # inside a ScaledSchedule
    if schedule is None or not epochs or not steps_per_epoch:
        return
    planned = int(epochs) * int(steps_per_epoch)
    if planned > schedule.total_steps:
        warnings.warn(
            f"This fit runs {planned} steps ({epochs} epochs × {steps_per_epoch}) but its OneCycle ends "
            f"after total_steps={schedule.total_steps}: the rest trains at final_learning_rate="
            f"{schedule.final_learning_rate:.3g}. Build it with OneCycle.from_epochs(max_learning_rate, "
            f"{epochs}, {steps_per_epoch}).",
            stacklevel=3,
        )


@register
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """The book's 1cycle schedule: up, down, then a short final fall, computed in-graph.

    Three phases over `total_steps` (the book's defaults in brackets):

    1. warm-up, from `initial_learning_rate` [max/10] up to `max_learning_rate` (first half of the rest);
    2. descent, from `max_learning_rate` back to `initial_learning_rate` (second half);
    3. final phase, from `initial_learning_rate` down to `final_learning_rate` [initial/1000], over the
       last `total_steps // 10 + 1` steps.

    After `total_steps` the rate stays at `final_learning_rate`. With `anneal="cosine"` each phase follows
    half a cosine instead of a straight line. The value is computed from the optimizer's iteration
    counter inside the compiled train step (no per-batch callback), so it resumes at the right step when
    the optimizer is saved and restored.

    Given `max_momentum` and `base_momentum`, the schedule also has a momentum curve, `momentum(step)`,
    the inverse of the rate's: from `max_momentum` down to `base_momentum` during the warm-up, back up
    during the descent, `max_momentum` in the final phase (same phases, same anneal). Keras optimizers
    take a float momentum; wrap the optimizer in `keras_tricks.optimizers.CyclicMomentum` to have it
    follow the curve (SGD's `momentum`, the Adam family's `beta_1`).

    Args:
        max_learning_rate: float. The peak rate, e.g. a tenth of the loss's blow-up point found by an
            LR finder.
        total_steps: int. Steps of the whole cycle, usually `epochs * steps_per_epoch`.
        initial_learning_rate: float. Rate at step 0 and at the end of the descent. Defaults to
            `max_learning_rate / 10`.
        final_learning_rate: float. Rate at `total_steps`. Defaults to `initial_learning_rate / 1000`.
        warmup_fraction: float in (0, 1). Fraction of `total_steps` spent warming up. Defaults to `None`:
            half of the steps before the final phase, as in the book.
        final_fraction: float in (0, 1). Fraction of `total_steps` in the final phase. Defaults to `None`:
            `total_steps // 10 + 1` steps, as in the book.
        anneal: str. `"linear"` (the book) or `"cosine"`. Defaults to `"linear"`.
        max_momentum: float in [0, 1). Momentum at step 0 and in the final phase, e.g. `0.95`. Defaults
            to `None`: no momentum curve.
        base_momentum: float in [0, 1), below `max_momentum`. Momentum at the peak rate, e.g. `0.85`.
            Defaults to `None`: no momentum curve.
        name: str. Defaults to `"OneCycle"`.

    Example:

    >>> schedule = OneCycle(0.1, total_steps=100)
    >>> [round(float(schedule(step)), 5) for step in (0, 44, 88, 100)]
    [0.01, 0.1, 0.01, 1e-05]
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)

    With momentum cycling (Smith's 0.95 → 0.85 → 0.95):

    >>> schedule = OneCycle(0.1, total_steps=100, max_momentum=0.95, base_momentum=0.85)
    >>> [round(float(schedule.momentum(step)), 5) for step in (0, 22, 44, 88, 100)]
    [0.95, 0.9, 0.85, 0.95, 0.95]
    >>> from keras_tricks.optimizers import CyclicMomentum
    >>> optimizer = CyclicMomentum(keras.optimizers.SGD(schedule, momentum=0.9))

    References:
        - Smith, [A disciplined approach to neural network hyper-parameters: Part 1](
          https://arxiv.org/abs/1803.09820), 2018.
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "Learning Rate Scheduling".
    """

    def __init__(
        self,
        max_learning_rate,
        total_steps,
        initial_learning_rate=None,
        final_learning_rate=None,
        warmup_fraction=None,
        final_fraction=None,
        anneal="linear",
        max_momentum=None,
        base_momentum=None,
        name="OneCycle",
    ):
        super().__init__()
        self.max_learning_rate = _checks.positive_number("max_learning_rate", max_learning_rate)
        self.total_steps = _checks.positive_int("total_steps", total_steps)
        if initial_learning_rate is None:
            initial_learning_rate = self.max_learning_rate / 10
        self.initial_learning_rate = _checks.positive_number("initial_learning_rate", initial_learning_rate)
        if self.initial_learning_rate >= self.max_learning_rate:
            raise ValueError(
                "Expected initial_learning_rate < max_learning_rate. Received: "
                f"initial_learning_rate={initial_learning_rate}, max_learning_rate={max_learning_rate}"
            )
        if final_learning_rate is None:
            final_learning_rate = self.initial_learning_rate / 1000
        self.final_learning_rate = _checks.positive_number("final_learning_rate", final_learning_rate)
        self.warmup_fraction = _checks.fraction("warmup_fraction", warmup_fraction)
        self.final_fraction = _checks.fraction("final_fraction", final_fraction)
        if anneal not in _ANNEALS:
            raise ValueError(f"Expected anneal in {_ANNEALS}. Received: anneal={anneal!r}")
        self.anneal = anneal
        if (max_momentum is None) != (base_momentum is None):
            raise ValueError(
                "Give both max_momentum and base_momentum to cycle the momentum, or neither. Received: "
                f"max_momentum={max_momentum}, base_momentum={base_momentum}"
            )
        if max_momentum is not None:
            max_momentum = _checks.momentum("max_momentum", max_momentum)
            base_momentum = _checks.momentum("base_momentum", base_momentum)
            if base_momentum >= max_momentum:
                raise ValueError(
                    "Expected base_momentum < max_momentum (the momentum falls while the rate rises). "
                    f"Received: base_momentum={base_momentum}, max_momentum={max_momentum}"
                )
        self.max_momentum = max_momentum
        self.base_momentum = base_momentum
        self.name = name
        self._warmup_end, self._descent_end = self._phase_ends()
        if self.total_steps < FEW_STEPS:
            warnings.warn(
                f"OneCycle counts optimizer steps, not epochs: total_steps={self.total_steps} is a cycle of "
                f"{self.total_steps} batches, after which the rate stays at {self.final_learning_rate:.3g}. "
                "Give epochs × steps per epoch, e.g. OneCycle.from_epochs(max_learning_rate, epochs, "
                "steps_per_epoch).",
                stacklevel=2,
            )

    @classmethod
    def from_epochs(cls, max_learning_rate, epochs, steps_per_epoch, **kwargs):
        """A `OneCycle` over `epochs` epochs of `steps_per_epoch` steps: `total_steps` is their product.

        Args:
            max_learning_rate: float. The peak rate.
            epochs: int. The epochs of the `fit` the cycle spans.
            steps_per_epoch: int. The optimizer steps of an epoch, `math.ceil(len(x_train) / batch_size)`.
            **kwargs: the other arguments of `OneCycle`.

        Example:

        >>> import math
        >>> schedule = OneCycle.from_epochs(0.1, epochs=25, steps_per_epoch=math.ceil(55_000 / 128))
        >>> schedule.total_steps
        10750
        """
        epochs = _checks.positive_int("epochs", epochs)
        steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        return cls(max_learning_rate, epochs * steps_per_epoch, **kwargs)

    def _phase_ends(self):
        total = self.total_steps
        if self.final_fraction is None:
            final = total // 10 + 1  # the book's `last_iterations`
        else:
            final = round(self.final_fraction * total)
        rest = total - final
        if self.warmup_fraction is None:
            warmup_end = rest // 2
            descent_end = 2 * warmup_end  # the book's `2 * half_iteration`
        else:
            warmup_end = round(self.warmup_fraction * total)
            descent_end = rest
        if not 0 < warmup_end < descent_end < total:
            raise ValueError(
                "Expected the warm-up, descent and final phases to have at least one step each "
                f"(warmup_fraction + final_fraction < 1 and total_steps >= 3). Received: "
                f"total_steps={total}, warmup_fraction={self.warmup_fraction}, "
                f"final_fraction={self.final_fraction}"
            )
        return warmup_end, descent_end

    def _cycle(self, step, start, peak, end):
        """start → peak over the warm-up, peak → start over the descent, start → end in the final phase.

        The phase is chosen first and one interpolation made, rather than three made and one chosen: the
        same arithmetic for each step (bit-identical values), in a third fewer graph ops, which the
        tensorflow executor pays for one by one at every step.
        """
        step = keras.ops.cast(step, "float32")
        warmup_end, descent_end = float(self._warmup_end), float(self._descent_end)
        in_warmup, in_descent = step < warmup_end, step < descent_end

        def by_phase(warmup, descent, final):
            return keras.ops.where(in_warmup, warmup, keras.ops.where(in_descent, descent, final))

        phase_start = by_phase(0.0, warmup_end, descent_end)
        phase_length = by_phase(warmup_end, descent_end - warmup_end, self.total_steps - descent_end)
        progress = keras.ops.clip((step - phase_start) / phase_length, 0.0, 1.0)
        if self.anneal == "cosine":
            progress = (1.0 - keras.ops.cos(math.pi * progress)) / 2.0
        # start·(1−p) + end·p rather than start + (end−start)·p: exact at both ends in float32
        return by_phase(start, peak, start) * (1.0 - progress) + by_phase(peak, start, end) * progress

    def __call__(self, step):
        low = self.initial_learning_rate
        return self._cycle(step, low, self.max_learning_rate, self.final_learning_rate)

    @property
    def cycles_momentum(self):
        """Whether the schedule has a momentum curve (`max_momentum` and `base_momentum` were given)."""
        return self.max_momentum is not None

    def momentum(self, step):
        """The momentum at `step` (a scalar or a tensor of steps), the inverse of the rate's curve."""
        if not self.cycles_momentum:
            raise ValueError(
                "This OneCycle schedule has no momentum curve; give it max_momentum and base_momentum. "
                f"Received: max_momentum={self.max_momentum}, base_momentum={self.base_momentum}"
            )
        top = self.max_momentum
        return self._cycle(step, top, self.base_momentum, top)

    def get_config(self):
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "final_learning_rate": self.final_learning_rate,
            "warmup_fraction": self.warmup_fraction,
            "final_fraction": self.final_fraction,
            "anneal": self.anneal,
            "max_momentum": self.max_momentum,
            "base_momentum": self.base_momentum,
            "name": self.name,
        }
