"""Chapter 11, "Reusing Pretrained Layers": model A → model B, the book's two compiles beside one `fit`.

The book (3rd edition, its notebook's cells 35–43) trains model A (3 × Dense(100, ReLU, He) + softmax,
SGD 1e-3, 20 epochs) on the 8 Fashion-MNIST classes other than T-shirt/top and pullover, then reuses
its hidden layers for model B, a binary classifier pullover (1) vs T-shirt/top (0) trained on only
200 images: a clone of A's hidden layers with a new sigmoid output, the reused layers frozen for 4
epochs, then unfrozen for 16 more, SGD 1e-3 in both phases, recompiling in between.
`keras_tricks.callbacks.Unfreeze` does the same inside one `fit`. Both start from the same model A
weights, with the same data, seeds and batch order; model B trained from scratch (20 epochs) is the
reference. Test accuracy on the 2,000 test images of task B; the book's: 0.9185 from scratch, 0.9385
on A (+2.0 points) — a gain the book admits it found by trying seeds.

    python examples/transfer_learning.py                  # quick: model A on 10,000 images, 5 epochs
    python examples/transfer_learning.py --full --seeds 3
"""

from typing import NamedTuple

from _common import Row, Section, Settings, fashion_mnist, run_alone, save_figure
from book_models import build_model

TSHIRT, PULLOVER = 0, 2  # task B's classes; task A has the 8 others
SAMPLES_B = 200  # the book's model-B training images, in both modes
BOOK = {
    "model A (8 classes): validation accuracy": 0.9027,
    "model B from scratch: test accuracy": 0.9185,
    "model B on A, the book's two compiles: test accuracy": 0.9385,
    "model B on A, one fit with Unfreeze: test accuracy": 0.9385,  # the same recipe
    "transfer gain, B on A (two compiles) − B from scratch: test accuracy": 0.9385 - 0.9185,
}

# samples and epochs: model A's (the book's: all of task A, 20 epochs); model B trains on the book's 200
# images in every mode.
QUICK = Settings(samples=10_000, epochs=5, extra={"epochs_b": 20, "frozen_epochs": 4})
FULL = QUICK.replace(samples=None, epochs=20)
SMOKE = QUICK.replace(samples=2000, epochs=1, epochs_b=6, frozen_epochs=2)


def split_tasks(x, y):
    """Task A: the 8 other classes, relabelled 0..7. Task B: pullover (1) vs T-shirt/top (0)."""
    import numpy as np

    for_b = (y == TSHIRT) | (y == PULLOVER)
    old_ids = [c for c in range(10) if c not in (TSHIRT, PULLOVER)]
    y_a = np.searchsorted(old_ids, y[~for_b])
    return (x[~for_b], y_a), (x[for_b], (y[for_b] == PULLOVER).astype("float32"))


def model_b_on_a(model_a, seed):
    """The book's `model_B_on_A`: a clone of model A's hidden layers (weights copied) + a sigmoid output."""
    import keras

    clone = keras.models.clone_model(model_a)
    clone.set_weights(model_a.get_weights())
    keras.utils.set_random_seed(seed)  # the new output layer starts the same in both recipes
    model = keras.Sequential([keras.Input(shape=(28, 28)), *clone.layers[:-1]])
    model.add(keras.layers.Dense(1, activation="sigmoid", name="output_b"))
    return model


def _compile_b(model):
    import keras

    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(1e-3), metrics=["accuracy"])


class Tasks(NamedTuple):
    """`(x, y)` pairs: task A's training images (the first `settings.samples`) and validation set; task B's
    200 training images, validation and test sets."""

    train_a: tuple
    valid_a: tuple
    train_b: tuple
    valid_b: tuple
    test_b: tuple


def tasks(settings):
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = fashion_mnist()
    (x_train_a, y_train_a), (x_train_b, y_train_b) = split_tasks(x_train, y_train)
    valid_a, valid_b = split_tasks(x_valid, y_valid)
    _, test_b = split_tasks(x_test, y_test)
    return Tasks(
        (x_train_a[: settings.samples], y_train_a[: settings.samples]),
        valid_a,
        (x_train_b[:SAMPLES_B], y_train_b[:SAMPLES_B]),
        valid_b,
        test_b,
    )


def train_model_a(data, settings, seed):
    """Model A (8 classes, SGD 1e-3) for `settings.epochs`; returns it and its last validation accuracy."""
    import keras

    model_a = build_model(seed, outputs=8)
    model_a.compile(
        loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(1e-3), metrics=["accuracy"]
    )
    keras.utils.set_random_seed(seed)
    history = model_a.fit(*data.train_a, epochs=settings.epochs, validation_data=data.valid_a, verbose=0)
    return model_a, history.history["val_accuracy"][-1]


def train_models_b(model_a, data, seed, epochs_b, frozen_epochs):
    """Model B from scratch, on A with the book's two compiles, and on A in one fit with `Unfreeze`, for
    `epochs_b` epochs, the reused layers frozen for `frozen_epochs`: `{name: (model, validation curve)}`."""
    import keras

    from keras_tricks.callbacks import Unfreeze

    def fit_b(model, epochs, initial_epoch=0, callbacks=()):
        if initial_epoch == 0:
            keras.utils.set_random_seed(seed)  # the same batch order for every model B
        return model.fit(
            *data.train_b,
            epochs=epochs,
            initial_epoch=initial_epoch,
            validation_data=data.valid_b,
            callbacks=list(callbacks),
            verbose=0,
        ).history["val_accuracy"]

    # Model B from scratch, for reference.
    scratch = build_model(seed, outputs=1, output_activation="sigmoid")
    _compile_b(scratch)
    models = {"model B from scratch": (scratch, fit_b(scratch, epochs_b))}

    # The book's recipe: freeze, compile, fit 4 epochs; unfreeze, compile again, fit 16.
    book = model_b_on_a(model_a, seed)
    for layer in book.layers[:-1]:
        layer.trainable = False
    _compile_b(book)
    frozen = fit_b(book, frozen_epochs)
    for layer in book.layers[:-1]:
        layer.trainable = True
    _compile_b(book)
    models["model B on A, the book's two compiles"] = (book, frozen + fit_b(book, epochs_b, frozen_epochs))

    # keras-tricks: one compile, one fit; Unfreeze freezes the reused layers and unfreezes them at epoch 4.
    ours = model_b_on_a(model_a, seed)
    _compile_b(ours)
    curve = fit_b(ours, epochs_b, callbacks=[Unfreeze(ours.layers[:-1], epoch=frozen_epochs)])
    models["model B on A, one fit with Unfreeze"] = (ours, curve)
    return models


def curves_figure(curves, frozen_epochs):
    """Task B's validation accuracy per epoch, one line per model B."""
    import matplotlib.pyplot as plt

    ax = plt.subplots(figsize=(7, 4))[1]
    for (name, curve), style in zip(curves.items(), ("o-", "s-", "x--"), strict=True):
        ax.plot(range(1, len(curve) + 1), curve, style, label=name)
    ax.axvline(frozen_epochs + 0.5, color="k", linestyle=":", label="reused layers unfrozen")
    ax.set(
        xlabel="epoch",
        ylabel="validation accuracy, task B",
        title="Transfer learning, task B (200 images)",
    )
    ax.legend(fontsize="small")
    return ax.figure


def run(args, seed, settings):
    """Model A for `settings.epochs` on `settings.samples` images of task A; model B for
    `settings.extra["epochs_b"]` epochs, the reused layers frozen for the first `extra["frozen_epochs"]`."""
    data = tasks(settings)
    model_a, accuracy_a = train_model_a(data, settings, seed)
    frozen_epochs = settings.extra["frozen_epochs"]
    models_b = train_models_b(model_a, data, seed, settings.extra["epochs_b"], frozen_epochs)
    test = {name: model.evaluate(*data.test_b, verbose=0)[1] for name, (model, _) in models_b.items()}
    ours_values = [accuracy_a, *test.values()]
    ours_values.append(test["model B on A, the book's two compiles"] - test["model B from scratch"])
    floors = [0.6, 0.6, 0.6, 0.6, None]  # the gain may legitimately be negative
    rows = [
        Row(what, book_value, value, floor)
        for (what, book_value), value, floor in zip(BOOK.items(), ours_values, floors, strict=True)
    ]
    if seed == 42:
        curves = {name: curve for name, (_, curve) in models_b.items()}
        save_figure(curves_figure(curves, frozen_epochs), args, "transfer_learning")
    return rows


SECTION = Section("transfer", "transfer-learning.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
