import keras

from keras_tricks import _checks
from keras_tricks._registration import register


@register
class PowerDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The book's power scheduling: the learning rate falls as a power of the step.

    $$\\eta(t) = \\frac{\\eta_0}{(1 + t/s)^c}$$

    After `s` steps the rate is η₀/2^c, after `2s` steps η₀/3^c, and so on: it drops quickly at first,
    then more and more slowly. Keras's `InverseTimeDecay` is the case c = 1; the book uses any `c`
    (typically 1). The value is computed from the optimizer's iteration counter inside the compiled step.

    Args:
        initial_learning_rate: float. η₀, the rate at step 0.
        decay_steps: int or float. s, the number of steps for the denominator to grow by one.
        power: float. c, the exponent. Defaults to `1.0`.
        name: str. Defaults to `"PowerDecay"`.

    Example:

    >>> schedule = PowerDecay(0.01, decay_steps=10_000, power=1.0)
    >>> [round(float(schedule(step)), 6) for step in (0, 10_000, 30_000)]
    [0.01, 0.005, 0.0025]
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)

    References:
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "Learning Rate Scheduling".
    """

    def __init__(self, initial_learning_rate, decay_steps, power=1.0, name="PowerDecay"):
        super().__init__()
        self.initial_learning_rate = _checks.positive_number("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _checks.positive_number("decay_steps", decay_steps)
        self.power = _checks.positive_number("power", power)
        self.name = name

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        return self.initial_learning_rate / keras.ops.power(1.0 + step / self.decay_steps, self.power)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "power": self.power,
            "name": self.name,
        }
