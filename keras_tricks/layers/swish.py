"""Swish with a learnable β (Ramachandran et al., 2017)."""

import keras

from keras_tricks import _checks
from keras_tricks._registration import register


@register
class Swish(keras.layers.Layer):
    """Swish activation `z * sigmoid(beta * z)` with `beta` a weight of the layer.

    `beta = 1` is SiLU, Keras's `activation="silu"` (alias `"swish"`); Keras's activation keeps `beta`
    fixed at 1. Here `beta` is a weight, trainable by default, so the network can learn how close to
    linear (`beta -> 0`: `z / 2`) or to ReLU (`beta -> inf`) each unit should be, as the book describes.
    With `per_channel=True` there is one `beta` per channel of the last axis.

    Args:
        beta: float. Initial value of `beta`. Defaults to `1.0`.
        trainable: bool. Whether `beta` is trained. `False` gives a fixed-`beta` Swish. Defaults to `True`.
        per_channel: bool. One `beta` per last-axis channel instead of a single scalar. Defaults to
            `False`.
        **kwargs: Base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        Arbitrary; with `per_channel=True` the last axis must be known.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> layer = Swish(beta=2.0)
    >>> y = layer(np.array([[-1.0, 0.0, 1.0]], dtype="float32"))
    >>> np.round(keras.ops.convert_to_numpy(y), 4)  # z * sigmoid(2 z)
    array([[-0.1192,  0.    ,  0.8808]], dtype=float32)
    >>> [w.name for w in layer.trainable_weights]
    ['beta']

    References:
        - [Ramachandran et al., 2017, Searching for Activation Functions](https://arxiv.org/abs/1710.05941)
    """

    def __init__(self, beta=1.0, trainable=True, per_channel=False, **kwargs):
        # Keras's base layer owns `trainable` (and validates it): False freezes beta.
        super().__init__(trainable=trainable, **kwargs)
        self.initial_beta = _checks.number("beta", beta)
        self.per_channel = _checks.boolean("per_channel", per_channel)
        self.supports_masking = True

    def build(self, input_shape):
        shape = ()
        if self.per_channel:
            if input_shape[-1] is None:
                raise ValueError(
                    f"Swish(per_channel=True) needs a known last axis. Received: input_shape={input_shape}"
                )
            shape = (input_shape[-1],)
        self.beta = self.add_weight(
            name="beta", shape=shape, initializer=keras.initializers.Constant(self.initial_beta)
        )

    def call(self, inputs):
        beta = keras.ops.cast(self.beta, inputs.dtype)
        return inputs * keras.ops.sigmoid(beta * inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        # `trainable` is already in the base config.
        return {**super().get_config(), "beta": self.initial_beta, "per_channel": self.per_channel}
