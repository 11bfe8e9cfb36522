"""The book's models, defined once: for the tour's sections, the other examples, the benchmarks and the tests.

The section scripts import this module by its name (`from book_models import build_model`: `python
examples/x.py` puts examples/ on `sys.path`); benchmarks/harness.py, run from the repository's root,
imports it as `examples.book_models`. So it imports nothing of examples/ itself, and Keras only inside the
functions (the tour picks the backend first).

Every builder seeds with `keras.utils.set_random_seed(seed)` before it creates a layer: the book's
`tf.random.set_seed` does not seed Keras 3's initializers.
"""


def build_model(
    seed=42,
    activation="relu",
    initializer="he_normal",
    layers=3,
    units=100,
    outputs=10,
    output_activation="softmax",
):
    """The book's `build_model` (cell 45 of its notebook): Flatten, 3 × Dense(100, ReLU, He), softmax.

    The other arguments give the chapter's variants: the 100-layer SELU and ReLU nets (`layers=100`), the
    deep sigmoid nets of the vanishing-gradient figures, model A of transfer learning (`outputs=8`) and
    model B trained from scratch (`outputs=1, output_activation="sigmoid"`). `initializer` is passed to
    every hidden layer as given (a name, or one initializer object shared by the layers)."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            *[
                keras.layers.Dense(units, activation=activation, kernel_initializer=initializer)
                for _ in range(layers)
            ],
            keras.layers.Dense(outputs, activation=output_activation),
        ]
    )


def chapter10_mlp(seed=42):
    """Chapter 10's MLP, which chapter 11 sets out to improve: Flatten, Dense(300, ReLU), Dense(100, ReLU),
    softmax, with Keras's default (Glorot uniform) initialization."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(300, activation="relu"),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def bn_model(where, seed=42):
    """The book's batch-norm model (cells 25–32) with BN `"after"` or `"before"` the activations.

    After: Flatten, BN, Dense(300, ReLU), BN, Dense(100, ReLU), BN, softmax (271,346 parameters, 2,368 of
    them non-trainable). Before: Dense(300, use_bias=False), BN, ReLU, Dense(100, use_bias=False), BN,
    ReLU, softmax (BN's β makes the Dense bias redundant). He initialization in both."""
    import keras

    keras.utils.set_random_seed(seed)
    if where == "after":
        return keras.Sequential(
            [
                keras.Input(shape=(28, 28)),
                keras.layers.Flatten(),
                keras.layers.BatchNormalization(),
                keras.layers.Dense(300, activation="relu", kernel_initializer="he_normal"),
                keras.layers.BatchNormalization(),
                keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal"),
                keras.layers.BatchNormalization(),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
    if where == "before":
        return keras.Sequential(
            [
                keras.Input(shape=(28, 28)),
                keras.layers.Flatten(),
                keras.layers.Dense(300, kernel_initializer="he_normal", use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.Activation("relu"),
                keras.layers.Dense(100, kernel_initializer="he_normal", use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.Activation("relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
    raise ValueError(f'Expected where in ("after", "before"). Received: where={where!r}')
