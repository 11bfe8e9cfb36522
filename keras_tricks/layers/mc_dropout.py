"""`MCDropout`: a `Dropout` layer that stays active at inference (Monte Carlo dropout)."""

import keras

from keras_tricks._registration import register
from keras_tricks.layers._stochastic import AlwaysOn, SavesRandomState


@register
class MCDropout(AlwaysOn, SavesRandomState, keras.layers.Dropout):
    """Dropout that also drops units at inference, for Monte Carlo (MC) dropout.

    Each call draws a new mask, whatever `training` says, so averaging `k` predictions of the same input
    approximates the predictive distribution of the Bayesian network dropout approximates (Gal &
    Ghahramani, 2016): with masks $m_i$, $\\hat p(y \\mid x) = \\frac{1}{k} \\sum_i f(x; m_i)$.
    Everything else is `keras.layers.Dropout`: units are kept with probability $1 - \\text{rate}$ and
    scaled by $1 / (1 - \\text{rate})$.

    To run a model built with plain `Dropout` in MC mode without rebuilding it, use
    `keras_tricks.mc_predict`.

    The layer saves its random generator's state with its variables (Keras's own `Dropout` does not),
    so a model saved or checkpointed in the middle of training draws, once loaded, the masks the
    uninterrupted run would have drawn.

    Args:
        rate: float. Fraction of the input units to drop, in [0, 1).
        noise_shape: tuple of int. Shape of the binary mask, broadcast over the inputs (as in
            `keras.layers.Dropout`). Defaults to `None` (one draw per element).
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
    >>> layer = MCDropout(0.5, seed=0)
    >>> x = np.ones((1, 1000), dtype="float32")
    >>> y = keras.ops.convert_to_numpy(layer(x, training=False))
    >>> sorted(np.unique(y).tolist())
    [0.0, 2.0]

    References:
        - [Gal & Ghahramani, 2016. Dropout as a Bayesian Approximation: Representing Model Uncertainty in
          Deep Learning](https://arxiv.org/abs/1506.02142)
        - [Srivastava et al., 2014. Dropout: A Simple Way to Prevent Neural Networks from
          Overfitting](https://jmlr.org/papers/v15/srivastava14a.html)
    """
