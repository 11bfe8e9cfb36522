"""keras_tricks.callbacks: mirrors `keras.callbacks`.

The public names are imported here explicitly and listed in `__all__`; a test keeps the two equal.
"""

from keras_tricks.callbacks.activation_stats import ActivationStats
from keras_tricks.callbacks.unfreeze import Unfreeze

__all__ = ["ActivationStats", "Unfreeze"]
