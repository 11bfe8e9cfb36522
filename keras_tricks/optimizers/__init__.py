"""keras_tricks.optimizers: mirrors `keras.optimizers`.

The public names are imported here explicitly and listed in `__all__`; a test keeps the two equal.
"""

from keras_tricks.optimizers._chain import unwrap
from keras_tricks.optimizers.cyclic_momentum import CyclicMomentum
from keras_tricks.optimizers.gradient_clipping import GradientClipping, GradientMonitor
from keras_tricks.optimizers.learning_rate_multipliers import LearningRateMultipliers

__all__ = ["CyclicMomentum", "GradientClipping", "GradientMonitor", "LearningRateMultipliers", "unwrap"]
