"""The registry of the chapter-11 tour: every section, in the book's order, as a `Section` (see _common.py).

The tour (examples/chapter11.py) runs what is listed here, and tests/test_example_sections.py runs each
one small. Two sections frame the tour and are declared here: `data` (the book's split) and `baseline`
(chapter 10's MLP, which chapter 11 sets out to improve); every other one is declared by its own script.
Importing this module imports no Keras (`scripts/tour --help` answers before anything is installed).
"""

import activations
import batch_norm
import gradient_clipping
import initialization
import lr_decay
import optimizers
import recipes
import regularization
import schedules
import transfer_learning
from _common import Row, Section, Settings, training_set
from book_models import chapter10_mlp


def _data(args, seed, settings):
    from keras_tricks.datasets import load_fashion_mnist

    (x_train, _), (x_valid, _), (x_test, _) = load_fashion_mnist()
    sizes = f"{len(x_train):,} / {len(x_valid):,} / {len(x_test):,}"
    return [Row("train / validation / test images", "55,000 / 5,000 / 10,000", sizes)]


def _baseline(args, seed, settings):
    """Chapter 10's MLP (300-100 ReLU, SGD 0.01) on the book's split."""
    import keras

    (x_train, y_train), validation = training_set(settings)
    model = chapter10_mlp(seed)
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"]
    )
    history = model.fit(x_train, y_train, epochs=settings.epochs, validation_data=validation, verbose=0)
    what = f"chapter 10 MLP, SGD, {settings.epochs} epochs on {len(x_train):,} images: validation accuracy"
    return [Row(what, None, history.history["val_accuracy"][-1], 0.6)]  # sanity floor of the quick run


_ALL_DATA = Settings(samples=None, epochs=None)  # loads the split, trains nothing
_BASELINE = Settings(samples=10_000, epochs=3)
DATA = Section("data", "chapter11.md", _data, quick=_ALL_DATA, book=_ALL_DATA, smoke=_ALL_DATA)
BASELINE = Section(
    "baseline",
    "chapter11.md",
    _baseline,
    quick=_BASELINE,
    book=_BASELINE.replace(samples=None, epochs=30),
    smoke=_BASELINE.replace(samples=1_000, epochs=1),
)

SECTIONS = {
    section.name: section
    for section in (
        DATA,
        BASELINE,
        initialization.SECTION,
        activations.SECTION,
        batch_norm.SECTION,
        gradient_clipping.SECTION,
        transfer_learning.SECTION,
        optimizers.SECTION,
        schedules.SECTION,
        regularization.SECTION,
        recipes.SECTION,
        lr_decay.SECTION,
    )
}
