"""The contract of the chapter-11 tour's sections, and what they share: the book's data split, `train`, rows.

A section script (`examples/batch_norm.py`, ...) is a declaration on one contract:

    QUICK = Settings(samples=10_000, epochs=1)          # the tour's default: a subset, few epochs
    FULL = QUICK.replace(samples=None, epochs=2)        # --full: the book's epochs on 55,000 images
    SMOKE = QUICK.replace(samples=1024)                 # the tests' smallest run

    def run(args, seed, settings): ...                  # -> list of Row

    # its name on the tour's command line, its docs page (a difference from the book), run, the settings
    SECTION = Section("batch-norm", "batch-norm.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

    if __name__ == "__main__":
        run_alone(SECTION)

examples/sections.py lists the sections in the book's order; the tour (examples/chapter11.py) finds them
there, picks `book` with `--full` and `quick` otherwise, and calls `run` once per seed. `python
examples/batch_norm.py --full --seeds 3` runs that one section through the tour (same options, same
table). `run` takes every size from `settings` (a section's own knobs, such as the depth of a deep net,
are its `extra`), so a test shrinks any section by passing other settings; it imports Keras inside (the
tour picks the backend first) and writes its figures into `args.output` (see `save_figure`). A section
imports no other section: what two need is here or in examples/book_models.py (the book's models).
"""

import dataclasses
import functools
import os
import sys
import types
from collections.abc import Callable, Mapping
from typing import NamedTuple


class Row(NamedTuple):
    """One result. `book` is the book's number (a fraction for accuracies) or a text, `None` when the
    book gives none; `ours` is a number or a text. In quick mode the tour fails if a number in `ours`
    falls below `floor` (a sanity floor: the model learned at all), so CI can smoke-test the tour."""

    what: str
    book: object
    ours: object
    floor: float | None = None


@dataclasses.dataclass(frozen=True)
class Settings:
    """How much a section trains: the one place its sizes come from.

    Args:
        samples: int or None. Training images (the first ones of the book's 55,000); `None`: all.
        epochs: int or None. Epochs of each model; `None`: each experiment's own number in the book
            (a section whose experiments train for different numbers of epochs reads
            `epochs_for(book_epochs)`).
        extra: dict. The section's own knobs by name (the depth of a deep net, MC samples, ...).
            Defaults to none.
    """

    samples: int | None
    epochs: int | None
    extra: Mapping[str, object] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name in ("samples", "epochs"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ValueError(f"Expected {name} to be None or an int >= 1. Received: {name}={value!r}")
        object.__setattr__(self, "extra", types.MappingProxyType(dict(self.extra)))  # frozen too

    def epochs_for(self, book_epochs):
        """`epochs`, or the experiment's `book_epochs` when `epochs` is `None`."""
        return book_epochs if self.epochs is None else self.epochs

    def replace(self, **changes):
        """A copy with `samples`, `epochs` or extras changed, by name: `quick.replace(epochs=1, depth=6)`."""
        unknown = sorted(set(changes) - {"samples", "epochs", *self.extra})
        if unknown:
            raise ValueError(
                f"Expected samples, epochs or one of the extras {sorted(self.extra)}. Received: {unknown}"
            )
        extra = {**self.extra, **{key: value for key, value in changes.items() if key in self.extra}}
        return Settings(changes.get("samples", self.samples), changes.get("epochs", self.epochs), extra)


@dataclasses.dataclass(frozen=True)
class Section:
    """One section of the tour (see the module's docstring).

    Args:
        name: str. Its name on the tour's command line.
        page: str. Its page in docs/, where a difference from the book is explained.
        run: callable. `run(args, seed, settings)` -> list of `Row`; `args` is the tour's namespace
            (`args.output`: the folder for figures).
        quick: Settings. The tour's default run (minutes for the whole tour).
        book: Settings. `--full`: the book's epochs on the whole training set.
        smoke: Settings. The smallest run whose rows the tests check (seconds).
    """

    name: str
    page: str
    run: Callable
    quick: Settings
    book: Settings
    smoke: Settings


@functools.cache
def fashion_mnist(pixels="unit"):
    """The book's split, loaded once per process (see `keras_tricks.datasets.load_fashion_mnist`)."""
    from keras_tricks.datasets import load_fashion_mnist

    return load_fashion_mnist(pixels=pixels)


def training_set(settings, pixels="unit"):
    """`(x_train, y_train), (x_valid, y_valid)`: the first `settings.samples` training images (all if
    `None`) and the book's 5,000 validation images."""
    (x_train, y_train), valid, _ = fashion_mnist(pixels)
    return (x_train[: settings.samples], y_train[: settings.samples]), valid


def book_test_set(pixels="unit"):
    """`(x_test, y_test)` of the book's split."""
    return fashion_mnist(pixels)[2]


def train(model, optimizer, settings, seed, *, epochs=None, batch_size=32, callbacks=(), pixels="unit"):
    """Compiles with the book's loss and metric and fits on `training_set(settings, pixels)` for
    `epochs` (default: `settings.epochs`), validating on the book's validation set; returns the `History`.
    """
    import keras

    (x_train, y_train), (x_valid, y_valid) = training_set(settings, pixels)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    keras.utils.set_random_seed(seed)  # the same batch order for every model of a comparison
    return model.fit(
        x_train,
        y_train,
        epochs=settings.epochs if epochs is None else epochs,
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
    import chapter11

    chapter11.main(["--sections", section.name, *sys.argv[1:]])
