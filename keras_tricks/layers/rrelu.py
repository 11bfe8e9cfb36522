"""Randomized leaky ReLU (Xu et al., 2015)."""

import keras

from keras_tricks import _checks
from keras_tricks._registration import register
from keras_tricks.layers._stochastic import SavesRandomState


@register
class RReLU(SavesRandomState, keras.layers.Layer):
    """Randomized leaky ReLU: a random negative slope per element in training, its mean at inference.

    In training each element gets its own slope `a ~ U(lower, upper)`, drawn afresh at every call:

    `f(x) = x` if `x >= 0`, `f(x) = a * x` otherwise.

    At inference the slope is fixed to the mean, `(lower + upper) / 2`, which makes the layer a
    `keras.layers.LeakyReLU(negative_slope=(lower + upper) / 2)`. The defaults `lower=1/8`, `upper=1/3`
    are Xu et al.'s best setting (they write the slope as `1/a` with `a ~ U(3, 8)`); the inference slope
    follows PyTorch's `torch.nn.RReLU` (mean of the slope) rather than the paper's `2 / (3 + 8)` (inverse
    of the mean divisor), so a model moved between the two frameworks predicts the same.

    The random slopes come from `keras.random.uniform` with a `keras.random.SeedGenerator` owned by the
    layer, so its state is a layer variable: it advances inside a compiled train step on every backend
    (JAX included). Unlike Keras's own random layers, the layer saves that state with its variables
    (`model.save`, and the checkpoints of `keras.callbacks.BackupAndRestore`), so a resumed run draws the
    same slopes as an uninterrupted one.

    Args:
        lower: float. Smallest negative slope, `>= 0`. Defaults to `1/8`.
        upper: float. Largest negative slope, `>= lower`. Defaults to `1/3`.
        seed: int or None. Seed of the slopes' random generator. Defaults to `None`.
        **kwargs: Base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Input tensor, any shape.
        training: bool. Random slopes when `True`, the mean slope otherwise.

    Input shape:
        Arbitrary.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> layer = RReLU(lower=0.1, upper=0.3, seed=42)
    >>> x = np.array([[-1.0, -2.0, 3.0]], dtype="float32")
    >>> keras.ops.convert_to_numpy(layer(x))  # inference: slope (0.1 + 0.3) / 2
    array([[-0.2, -0.4,  3. ]], dtype=float32)
    >>> slopes = keras.ops.convert_to_numpy(layer(-np.ones((1000,), "float32"), training=True)) * -1
    >>> bool(slopes.min() >= 0.1 and slopes.max() <= 0.3)
    True

    References:
        - [Xu et al., 2015, Empirical Evaluation of Rectified Activations in Convolutional Network](
          https://arxiv.org/abs/1505.00853)
    """

    def __init__(self, lower=1 / 8, upper=1 / 3, seed=None, **kwargs):
        super().__init__(**kwargs)
        lower = _checks.non_negative_number("lower", lower)
        upper = _checks.non_negative_number("upper", upper)
        if lower > upper:
            raise ValueError(f"Expected 0 <= lower <= upper. Received: lower={lower}, upper={upper}")
        self.lower = float(lower)
        self.upper = float(upper)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if training:
            slope = keras.random.uniform(
                keras.ops.shape(inputs),
                minval=self.lower,
                maxval=self.upper,
                dtype=self.compute_dtype,
                seed=self.seed_generator,
            )
        else:
            slope = (self.lower + self.upper) / 2
        return keras.ops.where(inputs >= 0, inputs, slope * inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "lower": self.lower, "upper": self.upper, "seed": self.seed}
