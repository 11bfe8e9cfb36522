"""keras_tricks.layers: mirrors `keras.layers`.

The public names are imported here explicitly and listed in `__all__`; a test keeps the two equal.
"""

from keras_tricks.layers.mc_alpha_dropout import MCAlphaDropout
from keras_tricks.layers.mc_dropout import MCDropout

__all__ = ["MCAlphaDropout", "MCDropout"]
