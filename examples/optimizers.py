"""Chapter 11's "Faster Optimizers": nine optimizers on the book's MLP, 10 epochs, learning curves.

Every run is the book's `build_and_train_model(optimizer)`: `build_model(seed)` (3 × Dense(100, ReLU, He)),
sparse categorical cross-entropy, batch 32, pixels / 255, 10 epochs, validation on the last 5,000
training images. The optimizers and their settings are the book's (Experiments 9–16 of
/work/book_numbers.md), written the Keras 3 way (`learning_rate=`, never `lr=`; no `decay=`).

The book's "SGD" cell actually builds `SGD(learning_rate=0.001, momentum=0.9)`: its number is the momentum
run's, to the last digit. We train plain `SGD(learning_rate=0.001)` under that name (no book number beside
it) and compare the momentum row with the book's 0.8672.

    python examples/optimizers.py                  # quick: 5,000 images, 2 epochs per optimizer
    python examples/optimizers.py --full --seeds 3 # the book's 10 epochs on 55,000 images
    python examples/optimizers.py --backend tensorflow

Runs on jax, tensorflow and torch (torch is about three times slower per epoch on this MLP).
"""

from _common import Row, Section, Settings, run_alone, save_figure, train
from book_models import build_model

QUICK = Settings(samples=5_000, epochs=2)
FULL = QUICK.replace(samples=None, epochs=10)
SMOKE = QUICK.replace(samples=1_000, epochs=1)


def optimizers():
    """(name, the book's validation accuracy after 10 epochs, a new optimizer, quick-run floor)."""
    import keras

    opt = keras.optimizers
    return [
        ("SGD", None, opt.SGD(learning_rate=0.001), 0.3),  # slow at 1e-3: a low floor
        ("momentum", 0.8672, opt.SGD(learning_rate=0.001, momentum=0.9), 0.6),
        ("Nesterov", 0.8708, opt.SGD(learning_rate=0.001, momentum=0.9, nesterov=True), 0.6),
        ("AdaGrad", 0.8424, opt.Adagrad(learning_rate=0.001), 0.4),
        ("RMSProp", 0.8636, opt.RMSprop(learning_rate=0.001, rho=0.9), 0.6),
        ("Adam", 0.8696, opt.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999), 0.6),
        ("AdaMax", 0.8780, opt.Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999), 0.6),
        ("Nadam", 0.8740, opt.Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999), 0.6),
        ("AdamW", 0.8702, opt.AdamW(weight_decay=1e-5, learning_rate=0.001, beta_1=0.9, beta_2=0.999), 0.6),
    ]


def learning_curves(histories, seed):
    """The book's cell 64: training and validation loss per epoch, one line per optimizer."""
    import matplotlib.pyplot as plt

    figure, (train_ax, valid_ax) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, history in histories.items():
        epoch = range(1, len(history.history["loss"]) + 1)
        (line,) = train_ax.plot(epoch, history.history["loss"], label=name)
        valid_ax.plot(epoch, history.history["val_loss"], color=line.get_color(), label=name)
    for ax, title in ((train_ax, "training loss"), (valid_ax, "validation loss")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True)
    train_ax.set_ylabel("loss")
    valid_ax.legend(fontsize="small")
    figure.suptitle(f"Faster optimizers on Fashion-MNIST (seed {seed})")
    return figure


def run(args, seed, settings):
    rows, histories = [], {}
    for name, book, optimizer, floor in optimizers():
        history = train(build_model(seed), optimizer, settings, seed)
        histories[name] = history
        what = f"{name}, {settings.epochs} epochs: validation accuracy"
        rows.append(Row(what, book, history.history["val_accuracy"][-1], floor))
    save_figure(learning_curves(histories, seed), args, "optimizers_learning_curves")
    return rows


SECTION = Section("optimizers", "optimizers.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
