import keras

from keras_tricks import _checks
from keras_tricks._registration import register


@register
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning-rate schedule multiplied by a factor that can change during training.

    $$\\eta(t) = f \\cdot \\eta_{\\text{schedule}}(t)$$

    `keras_tricks.callbacks.ReduceLROnPlateau` wraps a schedule in it so that performance scheduling
    works on top of any schedule (Keras's own callback raises `TypeError` there). The factor lives in
    `self.factor`, a `keras.Variable` read inside the compiled step; its current value is part of the
    config, so it survives `.keras` save/load.

    Args:
        schedule: `keras.optimizers.schedules.LearningRateSchedule`. The schedule to scale.
        factor: float. The initial factor. Defaults to `1.0`.

    Example:

    >>> scaled = ScaledSchedule(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    >>> _ = scaled.factor.assign(0.1)
    >>> round(float(scaled(10)), 6)
    0.005
    """

    def __init__(self, schedule, factor=1.0):
        super().__init__()
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise TypeError(
                f"Expected schedule to be a LearningRateSchedule. Received: schedule={schedule!r}"
            )
        factor = _checks.positive_number("factor", factor)
        self.schedule = schedule
        self.factor = keras.Variable(float(factor), dtype="float32", trainable=False, name="lr_factor")

    def __call__(self, step):
        return keras.ops.multiply(self.schedule(step), keras.ops.cast(self.factor, "float32"))

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "factor": float(keras.ops.convert_to_numpy(self.factor)),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)
