"""The lesson's learning-rate decay: η × 0.98 after every epoch, against a constant rate.

The "tricks for training deep networks" lesson multiplies the learning rate by 0.98 after each epoch.
On Keras 3 that is a schedule evaluated in the compiled step, no callback:
`keras.optimizers.schedules.ExponentialDecay(η₀, decay_steps=steps_per_epoch, decay_rate=0.98,
staircase=True)`. We train the book's `build_model(seed)` with SGD at η₀ = 0.01 (the book's `lr0` for
its schedules), batch 32, for 25 epochs (the book's length for its epoch-level schedules), once with the
decay and once at a constant rate, same seed and batch order; `keras_tricks.callbacks.LearningRateLogger`
records the rate. The book itself has no such run: no book number.

    python examples/lr_decay.py                   # quick: 5,000 images, 3 epochs
    python examples/lr_decay.py --full --seeds 3  # 25 epochs on 55,000 images
    python examples/lr_decay.py --backend tensorflow

Runs on jax, tensorflow and torch.
"""

import math

from _common import Row, Section, Settings, run_alone, save_figure, train, training_set
from book_models import build_model

LR0, DECAY = 0.01, 0.98

QUICK = Settings(samples=5_000, epochs=3)
FULL = QUICK.replace(samples=None, epochs=25)
SMOKE = QUICK.replace(samples=640)


def per_epoch_decay(steps_per_epoch):
    """η₀ · 0.98^epoch, constant within an epoch."""
    import keras

    return keras.optimizers.schedules.ExponentialDecay(
        LR0, decay_steps=steps_per_epoch, decay_rate=DECAY, staircase=True
    )


def curves_figure(histories, seed):
    import matplotlib.pyplot as plt

    figure, (lr_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in histories.items():
        epoch = range(1, len(history.history["val_accuracy"]) + 1)
        lr_ax.plot(epoch, history.history["learning_rate"], label=name)
        acc_ax.plot(epoch, history.history["val_accuracy"], label=name)
    lr_ax.set_ylabel("learning rate after the epoch")
    acc_ax.set_ylabel("validation accuracy")
    for ax in (lr_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.grid(True)
        ax.legend()
    figure.suptitle(f"The lesson's ×0.98 per epoch against a constant rate, SGD (seed {seed})")
    return figure


def run(args, seed, settings):
    import keras

    from keras_tricks.callbacks import LearningRateLogger

    (x_train, _), _ = training_set(settings)
    steps_per_epoch = math.ceil(len(x_train) / 32)
    n_epochs = settings.epochs
    histories = {}
    for name, learning_rate in (
        ("constant 0.01", LR0),
        ("0.01 × 0.98 per epoch", per_epoch_decay(steps_per_epoch)),
    ):
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
        histories[name] = train(
            build_model(seed), optimizer, settings, seed, callbacks=[LearningRateLogger()]
        )
    constant, decayed = (h.history for h in histories.values())
    save_figure(curves_figure(histories, seed), args, "lr_decay_curves")
    formula = f"0.01 · 0.98^{n_epochs} = {LR0 * DECAY**n_epochs:.5f}"
    return [
        Row(
            f"SGD, constant 0.01, {n_epochs} epochs: validation accuracy",
            None,
            constant["val_accuracy"][-1],
            0.6,
        ),
        Row(
            f"SGD, 0.01 × 0.98 per epoch, {n_epochs} epochs: validation accuracy",
            None,
            decayed["val_accuracy"][-1],
            0.6,
        ),
        Row(
            "×0.98 minus constant: validation accuracy difference",
            None,
            decayed["val_accuracy"][-1] - constant["val_accuracy"][-1],
        ),
        Row(
            f"×0.98: learning rate after epoch {n_epochs} ({formula})",
            None,
            decayed["learning_rate"][-1],
        ),
    ]


SECTION = Section("lr-decay", "lr-scheduling.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
