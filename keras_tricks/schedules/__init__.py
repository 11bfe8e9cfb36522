"""keras_tricks.schedules: mirrors `keras.schedules`.

The public names are imported here explicitly and listed in `__all__`; a test keeps the two equal.
Keras's own `ExponentialDecay` and `PiecewiseConstantDecay` already give the book's exponential and
piecewise-constant schedules (see the guide "Learning-rate scheduling").
"""

from keras_tricks.schedules.one_cycle import OneCycle
from keras_tricks.schedules.power_decay import PowerDecay
from keras_tricks.schedules.scaled_schedule import ScaledSchedule

__all__ = ["OneCycle", "PowerDecay", "ScaledSchedule"]
