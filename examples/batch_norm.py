"""Chapter 11, "Batch Normalization": BN after the activations, and before them (the notebook's cells 25–32).

The book's two models (`bn_model` of examples/book_models.py), on the /255 pixels, with
`optimizer="sgd"` (learning rate 0.01 in Keras 2 and 3), 2 epochs:

- BN after each activation (and on the inputs): Flatten, BN, Dense(300, ReLU), BN, Dense(100, ReLU), BN,
  softmax — 271,346 parameters, 2,368 of them non-trainable (the moving means and variances);
- BN before each activation: Dense(300, use_bias=False), BN, ReLU, Dense(100, use_bias=False), BN, ReLU,
  softmax (BN's β makes the Dense bias redundant).

The book's validation accuracies: 0.8650 (after) and 0.8646 (before).

    python examples/batch_norm.py                     # quick: 10,000 images, 1 epoch
    python examples/batch_norm.py --full --seeds 3
"""

from _common import Row, Section, Settings, run_alone, save_figure, train
from book_models import bn_model

BOOK = {"after": 0.8650, "before": 0.8646}  # validation accuracy after 2 epochs

QUICK = Settings(samples=10_000, epochs=1)
FULL = QUICK.replace(samples=None, epochs=2)
SMOKE = QUICK.replace(samples=1024)


def parameter_counts(model):
    """(total, non-trainable) parameter counts, as `model.summary()` prints them."""
    import math

    non_trainable = sum(math.prod(v.shape) for v in model.non_trainable_weights)
    return model.count_params(), non_trainable


def curves_figure(histories):
    """Validation and training accuracy per epoch of both models, and the book's numbers."""
    import matplotlib.pyplot as plt

    ax = plt.subplots(figsize=(6, 4))[1]
    for where, logs in histories.items():
        epochs = range(1, len(logs["val_accuracy"]) + 1)
        ax.plot(epochs, logs["val_accuracy"], "o-", label=f"BN {where}, validation")
        ax.plot(epochs, logs["accuracy"], "--", color=ax.lines[-1].get_color(), label=f"BN {where}, training")
        ax.axhline(BOOK[where], color=ax.lines[-1].get_color(), linestyle=":", label=f"BN {where}, book")
    ax.set(xlabel="epoch", ylabel="accuracy", title="Batch normalization after vs before the activation")
    ax.set_xticks(list(epochs))
    ax.legend(fontsize="small")
    return ax.figure


def run(args, seed, settings):
    import keras

    rows, histories = [], {}
    for where, book in BOOK.items():
        model = bn_model(where, seed)
        total, non_trainable = parameter_counts(model)
        history = train(model, keras.optimizers.SGD(learning_rate=0.01), settings, seed)
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
        save_figure(curves_figure(histories), args, "batch_norm")
    return rows


SECTION = Section("batch-norm", "batch-norm.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
