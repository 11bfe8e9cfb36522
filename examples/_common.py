"""What the chapter-11 section scripts share: the book's data split, its `build_model`, result rows.

A section script (`examples/batch_norm.py`, ...) defines

    SECTION = "batch-norm"       # its name on the tour's command line
    PAGE = "batch-norm.md"       # its docs page (where a difference from the book is explained)

    def run(args, seed):         # -> list of Row; imports keras inside (the tour picks the backend first)
        ...

and ends with `if __name__ == "__main__": run_alone(SECTION)`, so `python examples/batch_norm.py
--full --seeds 3` runs that one section through the tour (same options, same table).

`args` is the tour's namespace: `args.full` (the book's epochs on all 55,000 images) or quick (a subset,
few epochs), `args.output` (the folder for figures; see `save_figure`).
"""

import functools
import os
import sys
from typing import NamedTuple

QUICK_SAMPLES = 10_000  # training images in quick mode


class Row(NamedTuple):
    """One result. `book` is the book's number (a fraction for accuracies) or a text, `None` when the
    book gives none; `ours` is a number or a text. In quick mode the tour fails if a number in `ours`
    falls below `floor` (a sanity floor: the model learned at all), so CI can smoke-test the tour."""

    what: str
    book: object
    ours: object
    floor: float | None = None


@functools.cache
def fashion_mnist(pixels="unit"):
    """The book's split, loaded once per process (see `keras_tricks.datasets.load_fashion_mnist`)."""
    from keras_tricks.datasets import load_fashion_mnist

    return load_fashion_mnist(pixels=pixels)


def training_set(args, pixels="unit", samples=QUICK_SAMPLES):
    """`(x_train, y_train), (x_valid, y_valid)`: all 55,000 training images with `--full`, else `samples`."""
    (x_train, y_train), valid, _ = fashion_mnist(pixels)
    n = None if args.full else samples
    return (x_train[:n], y_train[:n]), valid


def epochs(args, book, quick):
    """The book's number of epochs with `--full`, `quick` otherwise."""
    return book if args.full else quick


def build_model(seed=42, activation="relu", initializer="he_normal", layers=3, units=100):
    """The book's `build_model` (cell 45 of its notebook): Flatten, 3 × Dense(100, ReLU, He), softmax.

    Seeded with `keras.utils.set_random_seed` — the book's `tf.random.set_seed` does not seed Keras 3's
    initializers."""
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
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def fit(model, args, optimizer, book_epochs, quick_epochs, seed, batch_size=32, callbacks=(), pixels="unit"):
    """Compiles with the book's loss and metric, fits, returns the `History`."""
    import keras

    (x_train, y_train), (x_valid, y_valid) = training_set(args, pixels)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    keras.utils.set_random_seed(seed)  # the same batch order for every model of a comparison
    return model.fit(
        x_train,
        y_train,
        epochs=epochs(args, book_epochs, quick_epochs),
        batch_size=batch_size,
        validation_data=(x_valid, y_valid),
        callbacks=list(callbacks),
        verbose=0,
    )


def save_figure(figure, args, name):
    """Saves a matplotlib figure as `<args.output>/<name>.png` and closes it; returns the path."""
    import matplotlib.pyplot as plt

    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, f"{name}.png")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


def run_alone(section):
    """Runs one section through the tour: `python examples/<section>.py [tour options]`."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import chapter11

    chapter11.main(["--sections", section, *sys.argv[1:]])
