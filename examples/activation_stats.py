"""Chapter 11's diagnosis of vanishing gradients, measured: a 20-layer sigmoid net, N(0, 1) vs Glorot init.

Figure 11-1 shows why: sigmoid outputs near 0 or 1 have a derivative near 0, so gradients vanish.
This builds the same deep sigmoid MLP (20 × Dense(100, sigmoid)) on Fashion-MNIST with the old
initialization (weights drawn from N(0, 1)) and with Glorot's, trains each a few epochs with
`keras_tricks.callbacks.ActivationStats` on a probe batch of 256 validation images, prints the
fraction of saturated outputs per layer, and draws the figures.

    python examples/activation_stats.py                     # prints the table, writes the figures
    python examples/activation_stats.py --epochs 5 --output figures
"""

import argparse
import os


def deep_sigmoid_net(initializer, depth=20, width=100, seed=42):
    """`initializer`: a Keras initializer name or config; each layer gets its own instance, seeded."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input(shape=(28, 28)), keras.layers.Flatten(name="flatten")]
        + [
            keras.layers.Dense(
                width,
                activation="sigmoid",
                kernel_initializer=keras.initializers.get(initializer),
                name=f"sigmoid_{i + 1}",
            )
            for i in range(depth)
        ]
        + [keras.layers.Dense(10, activation="softmax", name="output")]
    )


INITIALIZERS = {
    "N(0, 1)": {"class_name": "RandomNormal", "config": {"stddev": 1.0}},
    "Glorot": "glorot_uniform",
}


def train_runs(samples, epochs):
    """Trains the 20-layer sigmoid net with each of `INITIALIZERS`, `ActivationStats` on 256 validation
    images: `{label: (the statistics' history, last validation accuracy)}`."""
    import keras

    from keras_tricks.callbacks import ActivationStats
    from keras_tricks.datasets import load_fashion_mnist

    (x_train, y_train), (x_valid, y_valid), _ = load_fashion_mnist()
    runs = {}
    for label, initializer in INITIALIZERS.items():
        model = deep_sigmoid_net(initializer)
        model.compile(
            loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"]
        )
        stats = ActivationStats(x_valid[:256])
        history = model.fit(
            x_train[:samples],
            y_train[:samples],
            epochs=epochs,
            validation_data=(x_valid, y_valid),
            callbacks=[stats],
            verbose=0,
        )
        runs[label] = (stats.history, history.history["val_accuracy"][-1])
    return runs


def saturation_table(runs, layers):
    """The markdown table: per layer, each run's fraction of saturated outputs and their std, last epoch."""
    lines = [
        "| layer | " + " | ".join(f"{label}: saturated | {label}: std" for label in runs) + " |",
        "| --- |" + " ---: | ---: |" * len(runs),
    ]
    for name in layers:
        cells = [runs[label][0][-1][1][name] for label in runs]
        lines.append(
            f"| {name} | " + " | ".join(f"{c['saturated']:.3f} | {c['std']:.3f}" for c in cells) + " |"
        )
    lines.append("| validation accuracy | " + " | ".join(f"{runs[label][1]:.3f} | " for label in runs) + "|")
    return "\n".join(lines) + "\n"


def write_figures(runs, layers, epochs, output):
    """Per run: the saturation per layer, and the histograms of the last hidden layer's outputs."""
    import matplotlib.pyplot as plt

    from keras_tricks import plot

    os.makedirs(output, exist_ok=True)
    for label, (stats_history, _) in runs.items():
        slug = "normal" if label.startswith("N") else "glorot"
        ax = plot.activation_saturation(stats_history[-1][1])
        ax.set_title(f"20-layer sigmoid MLP, {label} init, after {epochs} epoch(s)")
        ax.figure.tight_layout()
        ax.figure.savefig(os.path.join(output, f"saturation_{slug}.png"), dpi=100)
        ax = plot.activation_histograms(stats_history, layers[-1])
        ax.figure.savefig(os.path.join(output, f"histograms_{slug}.png"), dpi=100)
        plt.close("all")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10_000, help="training images")
    parser.add_argument("--output", default="figures", help="folder for the PNG figures")
    parser.add_argument("--markdown", help="also write the per-layer table to this file")
    args = parser.parse_args(argv)

    import keras

    runs = train_runs(args.samples, args.epochs)
    layers = [name for name in runs["Glorot"][0][-1][1] if name.startswith("sigmoid_")]
    table = saturation_table(runs, layers)
    print(f"After {args.epochs} epoch(s); probe: 256 validation images; backend {keras.backend.backend()}.")
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    write_figures(runs, layers, args.epochs, args.output)
    print(f"figures written to {args.output}/")


if __name__ == "__main__":
    main()
