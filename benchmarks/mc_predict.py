"""`keras_tricks.mc_predict` against plain `model.predict`, on the book's MC-dropout model.

The book's Monte Carlo dropout runs `model(X_test, training=True)` 100 times over the 10,000 test images
and averages. `mc_predict` does the same 100 stochastic passes with only the dropout layers on,
streaming the statistics. This times one `mc_predict(model, x_test, samples=100)` against 100 plain
`model.predict(x_test)` passes (the deterministic work it generalizes, same batch size), and shows the
book's own loop (100 × `model(x_test, training=True)`, one call on the whole set) beside them, and the
floor set by the random numbers: the same dropout masks drawn alone (an `MCDropout` on zeros, in calls
of `mc_predict`'s size), against which `mc_predict` is timed again. Its target: at most 1.1× the larger
of the `predict` passes and that floor. `mc_predict` keeps the model's MC clone and its compiled passes
after the first call (as `model.predict` keeps its compiled function, which the warm-up round compiles);
the last row times a first call, on a model built anew, against the floor.

Command (about 20 minutes on 2 cores):

    python benchmarks/mc_predict.py --backends tensorflow jax --samples 10000 --epochs 5
    python benchmarks/mc_predict.py --backends torch --samples 2000 --epochs 5 --tag torch
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

PASSES = 100
BATCH_SIZE = 32  # model.predict's default


def book_dropout_mlp(seed=42):
    """The book's MC-dropout model: Dropout(0.2) before each of Dense(100) × 2 and the softmax layer."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dropout(rate=0.2),
            keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal"),
            keras.layers.Dropout(rate=0.2),
            keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal"),
            keras.layers.Dropout(rate=0.2),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def predict_passes(model, x):
    """`PASSES` plain `model.predict(x)` passes at `BATCH_SIZE`, as a callable."""

    def run():
        for _ in range(PASSES):
            model.predict(x, batch_size=BATCH_SIZE, verbose=0)

    return run


def random_number_floor(images, rows_per_call):
    """The floor the random numbers set, as a callable: the dropout masks of `PASSES` passes over `images`
    images (784 + 100 + 100 per image and pass) drawn by an MCDropout alone on zeros, in compiled calls
    of `rows_per_call` rows; nothing else is computed."""
    import keras
    import numpy as np

    from keras_tricks.layers import MCDropout

    units = 784 + 100 + 100
    floor_model = keras.Sequential([keras.Input((units,)), MCDropout(0.2, seed=0)])
    rows = PASSES * images
    zeros = np.zeros((rows_per_call, units), "float32")

    def run():
        for start in range(0, rows, rows_per_call):
            floor_model.predict_on_batch(zeros[: min(rows_per_call, rows - start)])

    return run


def make_configs(args):
    import keras
    import numpy as np

    import keras_tricks
    from keras_tricks import monte_carlo
    from keras_tricks.datasets import load_fashion_mnist

    _, _, (x_test, _) = load_fashion_mnist()
    x_test = x_test[: args.samples]
    model = book_dropout_mlp()

    plain_predict = predict_passes(model, x_test)

    def mc():
        keras_tricks.mc_predict(model, x_test, samples=PASSES, batch_size=BATCH_SIZE, seed=0)

    def mc_first_call():  # clones the model and compiles its passes, as every call did until 7257b4c
        keras_tricks.mc_predict(book_dropout_mlp(), x_test, samples=PASSES, batch_size=BATCH_SIZE, seed=0)

    def book_loop():  # converted with keras.ops (np.stack of torch tensors that require grad fails)
        passes = [keras.ops.convert_to_numpy(model(x_test, training=True)) for _ in range(PASSES)]
        np.stack(passes).mean(axis=0)

    rng_floor = random_number_floor(len(x_test), monte_carlo._ROWS_PER_CALL)

    return [
        harness.Timed(f"{PASSES} × model.predict (batch {BATCH_SIZE})", plain_predict),
        harness.Timed(f"mc_predict, samples={PASSES} (batch {BATCH_SIZE})", mc),
        harness.Timed(f"book: {PASSES} × model(x, training=True), stacked", book_loop),
        harness.Timed(f"random-number floor: the {PASSES} passes' dropout masks alone", rng_floor),
        harness.Timed(
            f"mc_predict, samples={PASSES}, against the floor",
            mc,
            baseline=f"random-number floor: the {PASSES} passes' dropout masks alone",
        ),
        harness.Timed(
            f"mc_predict, samples={PASSES}, first call on a new model, against the floor",
            mc_first_call,
            baseline=f"random-number floor: the {PASSES} passes' dropout masks alone",
        ),
    ]


if __name__ == "__main__":
    harness.main(
        "mc_predict",
        "`keras_tricks.mc_predict` (100 samples) vs 100 plain `model.predict` passes over the Fashion-MNIST "
        "test images, on the book's MC-dropout MLP (3 × Dropout(0.2), 2 × Dense(100), softmax).",
        make_configs,
    )
