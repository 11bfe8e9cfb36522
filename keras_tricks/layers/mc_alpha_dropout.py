"""`MCAlphaDropout`: an `AlphaDropout` layer that stays active at inference (MC dropout for SELU nets)."""

import keras

from keras_tricks._registration import register
from keras_tricks.layers._stochastic import AlwaysOn, SavesRandomState


@register
class MCAlphaDropout(AlwaysOn, SavesRandomState, keras.layers.AlphaDropout):
    """Alpha dropout that also drops units at inference, for Monte Carlo dropout in self-normalizing nets.

    `keras.layers.AlphaDropout` sets dropped units to SELU's negative saturation value
    $-\\lambda\\alpha$ and applies the affine map $a x + b$ that keeps the mean and variance of
    standardized inputs; this layer does so on every call, whatever `training` says, so that averaging
    several predictions gives MC dropout's estimate in a SELU network (the book's
    `MCAlphaDropout`).

    The layer saves its random generator's state with its variables (Keras's own `Dropout` does not),
    so a model saved or checkpointed in the middle of training draws, once loaded, the masks the
    uninterrupted run would have drawn.

    Args:
        rate: float. Drop probability, in [0, 1); the multiplicative noise has standard deviation
            $\\sqrt{\\text{rate} / (1 - \\text{rate})}$.
        noise_shape: tuple of int. Shape of the binary mask, broadcast over the inputs. Defaults to
            `None` (one draw per element).
        seed: int. Seed of the layer's random generator. Defaults to `None`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: input tensor, of any rank.
        training: ignored; the layer always drops.

    Input shape:
        Arbitrary.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> layer = MCAlphaDropout(0.2, seed=0)
    >>> x = np.zeros((1, 1000), dtype="float32")
    >>> y1 = keras.ops.convert_to_numpy(layer(x))
    >>> y2 = keras.ops.convert_to_numpy(layer(x))
    >>> len(np.unique(y1)), bool((y1 != y2).any())
    (2, True)

    References:
        - [Klambauer et al., 2017. Self-Normalizing Neural Networks](https://arxiv.org/abs/1706.02515)
        - [Gal & Ghahramani, 2016. Dropout as a Bayesian Approximation](https://arxiv.org/abs/1506.02142)
    """
