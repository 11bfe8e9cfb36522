"""Chapter 11's "Summary and Practical Guidelines": the default and self-normalizing DNNs (Tables 11-3, 11-4).

`keras_tricks.recipes` builds both for Fashion-MNIST with 3 hidden layers of 100 units (the book's
`build_model` size) and trains them with the optimizer the tables suggest,
`recipes.suggested_optimizer("nesterov")` (SGD, learning rate 0.001, momentum 0.9, Nesterov), for 10
epochs at batch 32:

- the default DNN (He initialization, ReLU: shallow, so no batch norm) on pixels / 255; it is the book's
  `build_model` with its Nesterov optimizer, so the book's Experiment 10 (0.8708) is its number;
- the self-normalizing DNN (LeCun normal, SELU) on standardized pixels, as self-normalization needs;
  the book trains no such 3-layer net (its SELU net has 100 layers and SGD(0.001)), so no book number.

`recipes.check_self_normalizing` lists the self-normalization conditions each model breaks.

    python examples/recipes.py                   # quick: 5,000 images, 2 epochs
    python examples/recipes.py --full --seeds 3  # 10 epochs on 55,000 images
    python examples/recipes.py --backend tensorflow

Runs on jax, tensorflow and torch.
"""

from _common import Row, Section, Settings, run_alone, save_figure, train

QUICK = Settings(samples=5_000, epochs=2)
FULL = QUICK.replace(samples=None, epochs=10)
SMOKE = QUICK.replace(samples=1_000, epochs=1)


def models(seed):
    """(name, the book's number, model, pixels, quick floor) for both tables."""
    import keras

    from keras_tricks import recipes

    keras.utils.set_random_seed(seed)
    default = recipes.default_dnn(n_hidden=3, n_neurons=100, n_outputs=10, input_shape=(28, 28))
    keras.utils.set_random_seed(seed)
    self_normalizing = recipes.self_normalizing_dnn(
        n_hidden=3, n_neurons=100, n_outputs=10, input_shape=(28, 28)
    )
    return [
        ("default DNN (Table 11-3)", 0.8708, default, "unit", 0.6),
        (
            "self-normalizing DNN (Table 11-4, standardized inputs)",
            None,
            self_normalizing,
            "standardized",
            0.6,
        ),
    ]


def curves_figure(histories, seed):
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4))
    for name, history in histories.items():
        epoch = range(1, len(history.history["val_accuracy"]) + 1)
        (line,) = ax.plot(epoch, history.history["val_accuracy"], label=f"{name}: validation")
        ax.plot(epoch, history.history["accuracy"], "--", color=line.get_color(), label=f"{name}: training")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.grid(True)
    ax.legend(fontsize="small")
    ax.set_title(f"The chapter's default configurations, Nesterov SGD (seed {seed})")
    return figure


def run(args, seed, settings):
    from keras_tricks import recipes

    rows, histories = [], {}
    for name, book, model, pixels, floor in models(seed):
        broken = recipes.check_self_normalizing(model)
        optimizer = recipes.suggested_optimizer("nesterov")
        history = train(model, optimizer, settings, seed, pixels=pixels)
        histories[name.split(" (")[0]] = history
        what = f"{name}, Nesterov SGD(0.001), {settings.epochs} epochs: validation accuracy"
        rows.append(Row(what, book, history.history["val_accuracy"][-1], floor))
        rows.append(Row(f"{name}: self-normalization conditions broken", None, f"{len(broken)}"))
    save_figure(curves_figure(histories, seed), args, "recipes_curves")
    return rows


SECTION = Section("recipes", "recipes.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
