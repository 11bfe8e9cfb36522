"""Chapter 11, "The Vanishing/Exploding Gradients Problems" and "Glorot and He Initialization".

Figure 11-1 (the sigmoid saturates: its derivative is near 0 for large |z|), then why the
initializer matters, measured on the real Fashion-MNIST:

- untrained: the signal through 50 random layers (examples/initialization_depth.py): with N(0, 1)
  weights ReLU's pre-activations explode and tanh saturates; Table 11-1's initializers keep them at
  the input's scale;
- trained: a 20-layer MLP, sigmoid with N(0, 1) weights (the pre-2010 default), sigmoid with Glorot's,
  and ReLU with He's, plain SGD(0.01), observed by `GradientClipping(mode=None)` with
  `GradientNormLogger` (each layer's gradient norm) and `ActivationStats` (saturated and dead outputs).

The book trains nothing here, so there is no book number to compare with: every row is measured.

    python examples/initialization.py                 # quick: 10,000 images, 2 epochs
    python examples/initialization.py --full --seeds 3
"""

import initialization_depth
import vanishing_gradients
from _common import Row, Section, Settings, run_alone, save_figure, train, training_set

SETTINGS = ("sigmoid, N(0, 1)", "sigmoid, Glorot", "ReLU, He")  # keys of vanishing_gradients.SETTINGS

QUICK = Settings(samples=10_000, epochs=2, extra={"depth": 20})  # depth: hidden layers of the trained nets
FULL = QUICK.replace(samples=None, epochs=3)  # the book trains nothing here: 3 epochs show the trend
SMOKE = QUICK.replace(samples=512, epochs=1, depth=6)


def figure_11_1():
    """The book's Figure 11-1: the sigmoid, its linear part near 0, and where it saturates."""
    import matplotlib.pyplot as plt
    import numpy as np

    z = np.linspace(-5, 5, 200)
    sigmoid = 1 / (1 + np.exp(-z))
    ax = plt.subplots(figsize=(7, 4))[1]
    ax.plot(z, sigmoid, "b-", linewidth=2, label=r"$\sigma(z)$")
    ax.plot(z, sigmoid * (1 - sigmoid), "g-.", linewidth=2, label=r"$\sigma'(z)$ (at most 1/4)")
    ax.plot([-2, 2], [0, 1], "r--", label="linear (slope 1/4)")
    ax.plot([-5, 5], [0, 0], "k-", linewidth=0.5)
    ax.plot([-5, 5], [1, 1], "k--", linewidth=0.5)
    ax.plot([0, 0], [-0.2, 1.2], "k-", linewidth=0.5)
    arrow = {"arrowstyle": "->"}
    ax.annotate("Saturating", xy=(-4, 0.03), xytext=(-4.5, 0.25), arrowprops=arrow)
    ax.annotate("Saturating", xy=(4, 0.97), xytext=(2.8, 0.7), arrowprops=arrow)
    ax.annotate("Linear", xy=(0, 0.5), xytext=(0.8, 0.3), arrowprops=arrow)
    ax.set(xlim=(-5, 5), ylim=(-0.2, 1.2), xlabel="z", title="Figure 11-1: sigmoid activation function")
    ax.legend(loc="upper left")
    return ax.figure


def untrained_signal(seed):
    """Rows: the signal after 50 random layers (examples/initialization_depth.py), Table 11-1 vs N(0, 1)."""
    import math

    import keras

    from keras_tricks import initializers

    rows = []
    for activation in ("tanh", "relu"):
        for label, initializer in (
            (type(initializers.for_activation(activation)).__name__, initializers.for_activation(activation)),
            ("N(0, 1)", keras.initializers.RandomNormal(stddev=1.0)),
        ):
            std, saturated = initialization_depth.through_stack(activation, initializer, seed)
            what = f"untrained, 50 random {activation} layers, {label}"
            if activation == "tanh":
                rows.append(Row(f"{what}: saturated outputs of layer 50", None, saturated))
            else:
                rows.append(
                    Row(f"{what}: log10 std of layer 50's pre-activation (input: 0)", None, math.log10(std))
                )
    return rows


def train_observed(setting, settings, seed):
    """(History, ActivationStats, model) of the deep net of `setting` (`settings.extra["depth"]` hidden
    layers), observed."""
    import keras

    from keras_tricks.callbacks import ActivationStats, GradientNormLogger
    from keras_tricks.optimizers import GradientClipping

    _, (x_valid, _) = training_set(settings)
    model = vanishing_gradients.model_for(setting, settings.extra["depth"], seed)
    stats = ActivationStats(x_valid[:256])
    history = train(
        model,
        GradientClipping(keras.optimizers.SGD(0.01), mode=None),  # observes only
        settings,
        seed,
        callbacks=[GradientNormLogger(per_layer=True), stats],
    )
    return history, stats, model


def gradient_profile(history, model):
    """The last epoch's mean gradient norm of each hidden kernel, input side first."""
    from keras_tricks.diagnostics import variable_keys

    kernels = [key for key in variable_keys(model).values() if key.endswith("kernel")][:-1]
    return [history.history[f"grad_norm/{key}"][-1] for key in kernels]


def run(args, seed, settings):
    import math
    import statistics

    import matplotlib.pyplot as plt

    from keras_tricks import plot

    depth = settings.extra["depth"]
    rows = untrained_signal(seed)
    runs = {setting: train_observed(setting, settings, seed) for setting in SETTINGS}
    for setting, (history, stats, model) in runs.items():
        first, last = vanishing_gradients.first_and_last(history, model)
        hidden = [s for name, s in stats.history[-1][1].items() if name.startswith("dense")][:-1]
        kind = "dead" if setting.startswith("ReLU") else "saturated"
        rows += [
            Row(
                f"{depth}-layer {setting}, SGD 0.01: validation accuracy",
                None,
                history.history["val_accuracy"][-1],
                0.5 if setting.startswith("ReLU") else None,  # the sigmoid nets may legitimately not learn
            ),
            Row(
                f"{depth}-layer {setting}: log10 of the gradient norm ratio, last / first hidden kernel",
                None,
                math.log10(last / first),
            ),
            Row(
                f"{depth}-layer {setting}: {kind} outputs, mean over hidden layers",
                None,
                statistics.mean(s[kind] for s in hidden),
            ),
        ]
    if seed == 42:
        save_figure(figure_11_1(), args, "figure_11_1_sigmoid")
        ax = plt.subplots(figsize=(7, 4))[1]
        for setting, (history, _, model) in runs.items():
            profile = gradient_profile(history, model)
            ax.plot(range(1, len(profile) + 1), profile, "o-", label=setting)
        ax.set(yscale="log", xlabel="hidden layer (input → output)", ylabel="mean gradient norm, last epoch")
        ax.set_title(f"{depth}-layer MLP on Fashion-MNIST, SGD(0.01): gradient norm per layer")
        ax.legend()
        save_figure(ax.figure, args, "initialization_gradient_norms")
        figure, axes = plt.subplots(1, 2, figsize=(14, 4.5))
        for ax, setting in zip(axes, SETTINGS[:2], strict=True):
            plot.activation_saturation(runs[setting][1].history[-1][1], ax=ax)
            init = setting.removeprefix("sigmoid, ")
            ax.set_title(f"{depth}-layer sigmoid MLP, {init} init, after training")
        figure.tight_layout()
        save_figure(figure, args, "initialization_saturation")
    return rows


SECTION = Section("initialization", "initialization.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
