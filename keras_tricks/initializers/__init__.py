"""keras_tricks.initializers: mirrors `keras.initializers`.

The public names are imported here explicitly and listed in `__all__`; a test keeps the two equal.
"""

from keras_tricks.initializers.for_activation import for_activation
from keras_tricks.initializers.lsuv import lsuv
from keras_tricks.initializers.named import get

__all__ = ["for_activation", "get", "lsuv"]
