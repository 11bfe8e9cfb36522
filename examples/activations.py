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

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this keras_tricks
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Row, build_model, fit_subset, run_alone, save_figure  # noqa: E402

SECTION = "activations"
PAGE = "activations.md"
DEPTH = 100  # the book's hidden layers
BOOK_EPOCHS, QUICK_EPOCHS = 5, 2
SAMPLES = 10_000  # training images in quick mode
NETS = {  # name: (activation, initializer, the book's validation accuracy after 5 epochs)
    "SELU": ("selu", "lecun_normal", 0.8046),
    "ReLU": ("relu", "he_normal", 0.7054),
}


def activation_figure():
    """The chapter's activation functions, computed by Keras 3's own layers and activations."""
    import keras
    import numpy as np

    from keras_tricks import plot

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
    ax = plot._pyplot().subplots(figsize=(8, 5))[1]
    for label, function in functions.items():
        ax.plot(z[:, 0], keras.ops.convert_to_numpy(function(z))[:, 0], linewidth=2, label=label)
    ax.axhline(0, color="k", linewidth=0.5)
    ax.axvline(0, color="k", linewidth=0.5)
    ax.set(xlabel="z", ylabel="activation", ylim=(-2, 2.2), title="Chapter 11's activation functions")
    ax.legend()
    return ax.figure


def deep_net(name, seed):
    """The book's 100-layer net: 100 × Dense(100, activation, initializer), softmax."""
    activation, initializer, _ = NETS[name]
    return build_model(seed, activation=activation, initializer=initializer, layers=DEPTH)


def run(args, seed):
    import keras

    from keras_tricks import plot

    rows, histories = [], {}
    for name, (_, _, book) in NETS.items():
        history = fit_subset(
            deep_net(name, seed),
            args,
            keras.optimizers.SGD(learning_rate=1e-3),
            BOOK_EPOCHS,
            QUICK_EPOCHS,
            seed,
            samples=SAMPLES,
            pixels="standardized",
        )
        histories[name] = history.history
        rows.append(
            Row(
                f"{DEPTH}-layer {name} net, SGD 1e-3, standardized inputs: validation accuracy",
                book,
                history.history["val_accuracy"][-1],
                0.4 if name == "SELU" else None,  # the 100-layer ReLU net may legitimately not learn
            )
        )
    if seed == 42:
        save_figure(activation_figure(), args, "activation_functions")
        ax = plot._pyplot().subplots(figsize=(7, 4))[1]
        for name, logs in histories.items():
            epochs = range(1, len(logs["val_accuracy"]) + 1)
            ax.plot(epochs, logs["val_accuracy"], "o-", label=f"{name}, validation")
            ax.plot(epochs, logs["accuracy"], "--", label=f"{name}, training")
            ax.axhline(NETS[name][2], color=ax.lines[-1].get_color(), linestyle=":", label=f"{name}, book")
        ax.set(xlabel="epoch", ylabel="accuracy", title=f"{DEPTH}-layer nets on standardized Fashion-MNIST")
        ax.legend(fontsize="small")
        save_figure(ax.figure, args, "selu_vs_relu_100_layers")
    return rows


if __name__ == "__main__":
    run_alone(SECTION)
