"""What keras-tricks's random layers share: their random state saved with their weights, and MC dropout.

Keras's random layers (`Dropout`, `GaussianNoise`...) draw from a `keras.random.SeedGenerator` whose
state advances at every call, but `save_own_variables` saves weights only: a model saved (or a
`BackupAndRestore` checkpoint written) in the middle of training comes back with the generator at its
initial seed, so a resumed run draws other masks than the uninterrupted one. keras-tricks's random
layers (`RReLU`, `MCDropout`, `MCAlphaDropout`) save the generator's state beside their weights, under
the key `seed_generator_state`, and load it back: a resumed run draws the same numbers. A file without
the key (saved before) loads as before, the generator left at its seed.
"""

from keras_tricks import _checks

_KEY = "seed_generator_state"


class SavesRandomState:
    """Mixin for a layer whose `seed_generator` state is saved and loaded with its variables."""

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[_KEY] = self.seed_generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        if _KEY in keys:
            self.seed_generator.state.assign(store[_KEY])
        super().load_own_variables({key: store[key] for key in keys if key != _KEY})


class AlwaysOn:
    """Mixin for a dropout layer that drops at inference too (Monte Carlo dropout), whatever `training` says.

    Checks `rate` in [0, 1): Keras accepts 1, which zeroes everything and divides by 0 when rescaling.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(
            _checks.number("rate", rate, low=0, high=1, high_open=True), noise_shape, seed, **kwargs
        )

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)
