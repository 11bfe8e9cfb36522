"""Chapter 11, "Batch Normalization": BN after the activations, and before them (the notebook's cells 25–32).

The book's two models, on the /255 pixels, with `optimizer="sgd"` (learning rate 0.01 in Keras 2 and 3),
2 epochs:

- BN after each activation (and on the inputs): Flatten, BN, Dense(300, ReLU), BN, Dense(100, ReLU), BN,
  softmax — 271,346 parameters, 2,368 of them non-trainable (the moving means and variances);
- BN before each activation: Dense(300, use_bias=False), BN, ReLU, Dense(100, use_bias=False), BN, ReLU,
  softmax (BN's β makes the Dense bias redundant).

The book's validation accuracies: 0.8650 (after) and 0.8646 (before).

    python examples/batch_norm.py                     # quick: 10,000 images, 1 epoch
    python examples/batch_norm.py --full --seeds 3
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this keras_tricks
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Row, fit_subset, run_alone, save_figure  # noqa: E402

SECTION = "batch-norm"
PAGE = "batch-norm.md"
BOOK_EPOCHS, QUICK_EPOCHS = 2, 1
SAMPLES = 10_000  # training images in quick mode
BOOK = {"after": 0.8650, "before": 0.8646}  # validation accuracy after 2 epochs


def bn_model(where, seed=42):
    """The book's BN model with BN `"after"` or `"before"` the activations."""
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


def parameter_counts(model):
    """(total, non-trainable) parameter counts, as `model.summary()` prints them."""
    import math

    non_trainable = sum(math.prod(v.shape) for v in model.non_trainable_weights)
    return model.count_params(), non_trainable


def run(args, seed):
    import keras

    from keras_tricks import plot

    rows, histories = [], {}
    for where, book in BOOK.items():
        model = bn_model(where, seed)
        total, non_trainable = parameter_counts(model)
        history = fit_subset(
            model,
            args,
            keras.optimizers.SGD(learning_rate=0.01),
            BOOK_EPOCHS,
            QUICK_EPOCHS,
            seed,
            samples=SAMPLES,
        )
        histories[where] = history.history
        rows += [
            Row(
                f"BN {where} the activations: parameters (non-trainable)",
                "271,346 (2,368)" if where == "after" else None,
                f"{total:,} ({non_trainable:,})",
            ),
            Row(
                f"BN {where} the activations, SGD 0.01: validation accuracy",
                book,
                history.history["val_accuracy"][-1],
                0.7,
            ),
        ]
    if seed == 42:
        ax = plot._pyplot().subplots(figsize=(6, 4))[1]
        for where, logs in histories.items():
            epochs = range(1, len(logs["val_accuracy"]) + 1)
            ax.plot(epochs, logs["val_accuracy"], "o-", label=f"BN {where}, validation")
            ax.plot(
                epochs, logs["accuracy"], "--", color=ax.lines[-1].get_color(), label=f"BN {where}, training"
            )
            ax.axhline(BOOK[where], color=ax.lines[-1].get_color(), linestyle=":", label=f"BN {where}, book")
        ax.set(xlabel="epoch", ylabel="accuracy", title="Batch normalization after vs before the activation")
        ax.set_xticks(list(epochs))
        ax.legend(fontsize="small")
        save_figure(ax.figure, args, "batch_norm")
    return rows


if __name__ == "__main__":
    run_alone(SECTION)
