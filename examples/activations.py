"""Chapter 11, "Better Activation Functions": the functions, and the 100-layer SELU net vs ReLU.

Draws LeakyReLU, PReLU, ELU, SELU, GELU, Swish and Mish (Keras 3's own layers and activations), then
reproduces the book's experiment (its notebook's cells 14–23): 100 × Dense(100) with SELU and LeCun
initialization against 100 × Dense(100) with ReLU and He initialization, SGD(1e-3), 5 epochs, on the
standardized pixels (mean 0, std 1 per pixel, as SELU's self-normalization requires). The book's
validation accuracies: 0.8046 (SELU) and 0.7054 (ReLU, which "suffered from the vanishing/exploding
gradients problem").

    python examples/activations.py                    # quick: 10,000 images, 2 epochs
    python examples/activations.py --full --seeds 3
"""

from _common import Row, Section, Settings, run_alone, save_figure, train
from book_models import build_model

DEPTH = 100  # the book's hidden layers
NETS = {  # name: (activation, initializer, the book's validation accuracy after 5 epochs)
    "SELU": ("selu", "lecun_normal", 0.8046),
    "ReLU": ("relu", "he_normal", 0.7054),
}

QUICK = Settings(samples=10_000, epochs=2, extra={"depth": DEPTH})
FULL = QUICK.replace(samples=None, epochs=5)
SMOKE = QUICK.replace(samples=512, epochs=1, depth=10)


def activation_figure():
    """The chapter's activation functions, computed by Keras 3's own layers and activations."""
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    z = np.linspace(-4, 2, 200).astype("float32")[:, None]
    prelu = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25))  # α as initialized
    functions = {
        "LeakyReLU(negative_slope=0.2)": keras.layers.LeakyReLU(negative_slope=0.2),
        "PReLU (α = 0.25, learned)": prelu,
        "ELU (α = 1)": keras.activations.elu,
        "SELU": keras.activations.selu,
        "GELU": keras.activations.gelu,
        "Swish (SiLU)": keras.activations.silu,
        "Mish": keras.activations.mish,
    }
    ax = plt.subplots(figsize=(8, 5))[1]
    for label, function in functions.items():
        ax.plot(z[:, 0], keras.ops.convert_to_numpy(function(z))[:, 0], linewidth=2, label=label)
    ax.axhline(0, color="k", linewidth=0.5)
    ax.axvline(0, color="k", linewidth=0.5)
    ax.set(xlabel="z", ylabel="activation", ylim=(-2, 2.2), title="Chapter 11's activation functions")
    ax.legend()
    return ax.figure


def deep_net(name, seed, depth=DEPTH):
    """The book's 100-layer net: `depth` × Dense(100, activation, initializer), softmax."""
    activation, initializer, _ = NETS[name]
    return build_model(seed, activation=activation, initializer=initializer, layers=depth)


def run(args, seed, settings):
    import keras
    import matplotlib.pyplot as plt

    depth = settings.extra["depth"]
    rows, histories = [], {}
    for name, (_, _, book) in NETS.items():
        history = train(
            deep_net(name, seed, depth),
            keras.optimizers.SGD(learning_rate=1e-3),
            settings,
            seed,
            pixels="standardized",
        )
        histories[name] = history.history
        rows.append(
            Row(
                f"{depth}-layer {name} net, SGD 1e-3, standardized inputs: validation accuracy",
                book,
                history.history["val_accuracy"][-1],
                0.4 if name == "SELU" else None,  # the 100-layer ReLU net may legitimately not learn
            )
        )
    if seed == 42:
        save_figure(activation_figure(), args, "activation_functions")
        ax = plt.subplots(figsize=(7, 4))[1]
        for name, logs in histories.items():
            epochs = range(1, len(logs["val_accuracy"]) + 1)
            ax.plot(epochs, logs["val_accuracy"], "o-", label=f"{name}, validation")
            ax.plot(epochs, logs["accuracy"], "--", label=f"{name}, training")
            ax.axhline(NETS[name][2], color=ax.lines[-1].get_color(), linestyle=":", label=f"{name}, book")
        ax.set(xlabel="epoch", ylabel="accuracy", title=f"{depth}-layer nets on standardized Fashion-MNIST")
        ax.legend(fontsize="small")
        save_figure(ax.figure, args, "selu_vs_relu_100_layers")
    return rows


SECTION = Section("activations", "activations.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
