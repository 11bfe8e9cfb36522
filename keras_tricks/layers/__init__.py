"""keras_tricks.layers: mirrors `keras.layers`.

The public names are imported here explicitly and listed in `__all__`; a test keeps the two equal.
"""

from keras_tricks.layers.mc_alpha_dropout import MCAlphaDropout
from keras_tricks.layers.mc_dropout import MCDropout
from keras_tricks.layers.rrelu import RReLU
from keras_tricks.layers.swish import Swish

__all__ = ["MCAlphaDropout", "MCDropout", "RReLU", "Swish"]
