"""Chapter 11's "Learning Rate Scheduling": power, exponential, piecewise, performance, LR finder, 1cycle.

Every run trains the book's `build_model(seed)` (3 × Dense(100, ReLU, He)) on pixels / 255 with the
book's settings (Experiments 17–25 of /work/book_numbers.md), written the Keras 3 way: each policy is a
`LearningRateSchedule` evaluated in the compiled step (`keras_tricks.schedules.PowerDecay`, Keras's
`ExponentialDecay` and `PiecewiseConstantDecay`, `keras_tricks.schedules.OneCycle`), or an epoch-level
callback where the book uses one (`keras.callbacks.LearningRateScheduler`,
`keras_tricks.callbacks.ReduceLROnPlateau`). `keras_tricks.callbacks.LearningRateLogger` records the rate
applied at each epoch end. The LR finder (`keras_tricks.find_learning_rate`) runs one epoch at batch 128
from 1e-4 to 1, as the book's; 1cycle then uses the book's max rate, 0.1, at batch 128.

The book's per-step `ExponentialDecay` callback (its Experiment 20, "extra material") is the in-graph
`keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=25 epochs of steps, decay_rate=0.1)` here.

    python examples/schedules.py                   # quick: 5,000 images, 2 epochs per run
    python examples/schedules.py --full --seeds 3  # the book's epochs (10 or 25) on 55,000 images
    python examples/schedules.py --backend tensorflow

Runs on jax, tensorflow and torch (torch is about three times slower per epoch on this MLP).
"""

import math
from typing import NamedTuple

from _common import Row, Section, Settings, run_alone, save_figure, train, training_set
from book_models import build_model

QUICK = Settings(samples=5_000, epochs=2)
FULL = QUICK.replace(samples=None, epochs=None)  # each experiment's own epochs in the book: 10 or 25
SMOKE = QUICK.replace(samples=1_280, epochs=1)


def exponential_decay_fn(epoch):
    """The book's `exponential_decay(lr0=0.01, s=20)`: 0.01 · 0.1^(epoch / 20), for LearningRateScheduler."""
    return 0.01 * 0.1 ** (epoch / 20)


def piecewise_constant_fn(epoch):
    """The book's `piecewise_constant([5, 15], [0.01, 0.005, 0.001])`."""
    return 0.01 if epoch < 5 else 0.005 if epoch < 15 else 0.001


class Experiment(NamedTuple):
    """One of the book's runs: its validation accuracy and epochs, the optimizer, the callbacks that set the
    rate, the batch size, and the quick run's floor."""

    name: str
    book: float
    book_epochs: int
    optimizer: object
    callbacks: tuple = ()
    batch_size: int = 32
    floor: float = 0.6


def experiments(settings, steps_per_epoch):
    """The book's Experiments 17–25 (the LR finder apart), as `Experiment`s."""
    import keras

    from keras_tricks.callbacks import ReduceLROnPlateau
    from keras_tricks.schedules import PowerDecay

    schedules = keras.optimizers.schedules
    sgd = keras.optimizers.SGD
    return [
        Experiment("power (PowerDecay(0.01, 10,000), SGD)", 0.8714, 10, sgd(PowerDecay(0.01, 10_000, 1.0))),
        Experiment(
            "exponential (ExponentialDecay(0.01, 20,000, 0.1), SGD)",
            0.8662,
            10,
            sgd(schedules.ExponentialDecay(0.01, decay_steps=20_000, decay_rate=0.1)),
        ),
        Experiment(
            "exponential per epoch (LearningRateScheduler, 0.01 · 0.1^(epoch/20), SGD)",
            0.8812,
            25,
            sgd(learning_rate=0.001),
            [keras.callbacks.LearningRateScheduler(exponential_decay_fn)],
        ),
        Experiment(
            "exponential per step (ExponentialDecay(0.01, 25 epochs, 0.1), SGD)",
            0.8802,
            25,
            sgd(schedules.ExponentialDecay(0.01, decay_steps=25 * steps_per_epoch, decay_rate=0.1)),
        ),
        Experiment(
            "piecewise (PiecewiseConstantDecay([50k, 80k], [0.01, 0.005, 0.001]), SGD)",
            0.8716,
            10,
            sgd(schedules.PiecewiseConstantDecay([50_000, 80_000], [0.01, 0.005, 0.001])),
        ),
        Experiment(
            "piecewise per epoch (LearningRateScheduler, [5, 15] epochs, Nadam)",
            0.8770,
            25,
            keras.optimizers.Nadam(learning_rate=0.01),
            [keras.callbacks.LearningRateScheduler(piecewise_constant_fn)],
        ),
        Experiment(
            "performance (ReduceLROnPlateau(factor=0.5, patience=5), SGD(0.01))",
            0.8868,
            25,
            sgd(learning_rate=0.01),
            [ReduceLROnPlateau(factor=0.5, patience=5)],
        ),
        Experiment(
            "1cycle (OneCycle(0.1), SGD, batch 128)",
            0.8920,
            25,
            sgd(one_cycle(settings, steps_per_epoch)),
            batch_size=128,
            floor=0.5,
        ),
    ]


def one_cycle(settings, steps_per_epoch):
    """The book's 1cycle at batch 128 (`steps_per_epoch` counts batches of 32), max rate 0.1, over
    `settings.epochs_for(25)` epochs."""
    from keras_tricks.schedules import OneCycle

    steps = settings.epochs_for(25) * math.ceil(steps_per_epoch * 32 / 128)
    return OneCycle(0.1, total_steps=steps)


def lr_finder(settings, seed):
    """The book's LR finder at batch 128, the rate growing from 1e-4 to 1.

    The book sweeps one epoch (430 steps on 55,000 images); a smaller training set is cycled for the
    finder's default 100 steps, so the quick run's curve is as long as a sweep needs to be trusted.
    """
    import keras

    import keras_tricks

    (x_train, y_train), _ = training_set(settings)
    model = build_model(seed)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.001))
    return keras_tricks.find_learning_rate(
        model,
        x_train,
        y_train,
        batch_size=128,
        min_lr=1e-4,
        max_lr=1.0,
        steps=max(100, math.ceil(len(x_train) / 128)),
        seed=seed,
    )


def curves_figure(histories, seed):
    """Learning rate and validation accuracy per epoch, one line per schedule."""
    import matplotlib.pyplot as plt

    figure, (lr_ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, history in histories.items():
        epoch = range(1, len(history.history["val_accuracy"]) + 1)
        label = name.split(" (")[0]
        (line,) = lr_ax.plot(epoch, history.history["learning_rate"], label=label)
        acc_ax.plot(epoch, history.history["val_accuracy"], color=line.get_color(), label=label)
    lr_ax.set_yscale("log")
    lr_ax.set_ylabel("learning rate at the epoch's end")
    acc_ax.set_ylabel("validation accuracy")
    for ax in (lr_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.grid(True)
    acc_ax.legend(fontsize="small")
    figure.suptitle(f"Learning-rate schedules on Fashion-MNIST (seed {seed})")
    return figure


def finder_figure(result, schedule):
    import matplotlib.pyplot as plt

    from keras_tricks import plot

    figure, (finder_ax, cycle_ax) = plt.subplots(1, 2, figsize=(12, 4))
    plot.lr_vs_loss(
        result.learning_rates, result.losses, result.smoothed_losses, result.suggestion, finder_ax
    )
    finder_ax.set_ylim(0, min(4.0, float(max(result.losses))))
    finder_ax.set_title("LR finder (batch 128)")
    plot.schedule(schedule, int(schedule.total_steps * 1.05), cycle_ax)
    cycle_ax.set_title("1cycle, max rate 0.1 (batch 128)")
    return figure


def run(args, seed, settings):
    from keras_tricks.callbacks import LearningRateLogger

    (x_train, _), _ = training_set(settings)
    steps_per_epoch = math.ceil(len(x_train) / 32)
    rows, histories = [], {}
    for name, book, book_epochs, optimizer, callbacks, batch_size, floor in experiments(
        settings, steps_per_epoch
    ):
        n_epochs = settings.epochs_for(book_epochs)
        # After the callbacks that change the rate, so it logs the rate they set.
        callbacks = [*callbacks, LearningRateLogger()]
        history = train(
            build_model(seed),
            optimizer,
            settings,
            seed,
            epochs=n_epochs,
            batch_size=batch_size,
            callbacks=callbacks,
        )
        histories[name] = history
        rows.append(
            Row(
                f"{name}, {n_epochs} epochs: validation accuracy",
                book,
                history.history["val_accuracy"][-1],
                floor,
            )
        )
    result = lr_finder(settings, seed)
    for rule in ("minimum", result.rule):  # the book's rule of thumb, then the default rule
        what = f"LR finder (batch 128, 1e-4 → 1): suggested rate, rule {rule!r}"
        rows.append(Row(what, "≈ 0.1 (read off the plot)", float(result.suggestions[rule])))
    save_figure(curves_figure(histories, seed), args, "schedules_curves")
    save_figure(
        finder_figure(result, one_cycle(settings, steps_per_epoch)), args, "schedules_lr_finder_1cycle"
    )
    return rows


SECTION = Section("schedules", "lr-scheduling.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
