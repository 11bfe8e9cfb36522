"""Does the cost of observing and clipping grow with the number of variables faster than the step?

The same four configurations on networks of about 10, 50, 200 and 400 variables (Fashion-MNIST MLPs of
4, 24, 99 and 199 hidden Dense(100) SELU layers: the chapter's 100-layer self-normalizing net is the
third) and on a small CNN with 4-D kernels (two Conv2D(32, 3), max-pooling, Dense(10)); Adam 1e-3,
batch 32:

- plain `fit`; Keras's own `Adam(global_clipnorm=1.0)`;
- observe-only `GradientClipping(Adam, mode=None)` + `GradientNormLogger(per_layer=True)`, against plain;
- `GradientClipping(Adam, "global_norm", 1.0)` + logger, against Keras's `global_clipnorm`.

Each network's configurations are interleaved with each other. Writes `results/clipping_scaling.*` and
the figure `docs/images/clipping_scaling.png` (ratio against the number of variables).

Command (about 15 minutes per backend on 2 cores):

    python benchmarks/clipping_scaling.py --backends tensorflow jax torch --samples 4000 --epochs 9
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

HIDDEN_LAYERS = (4, 24, 99, 199)
FIGURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "images")


def networks():
    """`{label: build}`: the deep MLPs and the CNN, each `build()` an uncompiled model."""
    import keras

    def mlp(depth):
        def build():
            keras.utils.set_random_seed(42)
            layers = [keras.Input((28, 28, 1)), keras.layers.Flatten()]
            layers += [
                keras.layers.Dense(100, activation="selu", kernel_initializer="lecun_normal")
                for _ in range(depth)
            ]
            return keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")])

        return build

    def cnn():
        keras.utils.set_random_seed(42)
        return keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.MaxPooling2D(4),
                keras.layers.Flatten(),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )

    builds = {f"MLP {depth} hidden": mlp(depth) for depth in HIDDEN_LAYERS}
    builds["CNN"] = cnn
    return builds


def make_configs(args):
    import keras

    from keras_tricks.callbacks import GradientNormLogger
    from keras_tricks.optimizers import GradientClipping

    x, y = harness.fashion_mnist_subset(args.samples)

    def logger():
        return [GradientNormLogger(per_layer=True)]

    configs = []
    for label, network in networks().items():

        def builder(make_optimizer, network=network, label=label):
            def build():
                model = network()
                model.compile(loss="sparse_categorical_crossentropy", optimizer=make_optimizer())
                return model

            return build

        count = len(network().trainable_variables)
        plain, keras_clip = f"{label} ({count} variables): plain fit", f"{label}: Keras global_clipnorm=1"
        rows = [
            (plain, lambda: keras.optimizers.Adam(1e-3), list, plain),
            (keras_clip, lambda: keras.optimizers.Adam(1e-3, global_clipnorm=1.0), list, plain),
            (
                f"{label}: GradientClipping mode=None + logger",
                lambda: GradientClipping(keras.optimizers.Adam(1e-3), mode=None),
                logger,
                plain,
            ),
            (
                f"{label}: GradientClipping global_norm + logger",
                lambda: GradientClipping(keras.optimizers.Adam(1e-3), "global_norm", 1.0),
                logger,
                keras_clip,
            ),
        ]
        for name, make_optimizer, callbacks, baseline in rows:
            configs.append(
                harness.Config(
                    name,
                    builder(make_optimizer),
                    callbacks=callbacks,
                    batch_size=args.batch_size,
                    baseline=baseline if name != plain else None,
                )
            )
    images = x[..., None]  # the CNN's channel axis (the MLPs flatten it)
    return configs, images, y


def figure(results_path, out_path):
    """Draws each backend's observe-only and global-norm ratios against the number of variables."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(results_path) as f:
        runs = json.load(f)
    fig, ax = plt.subplots(figsize=(7, 5.4))
    styles = {"tensorflow": "tab:orange", "jax": "tab:blue", "torch": "tab:red"}
    for backend, run in runs.items():
        rows = run["results"]
        counts, observe, clip = [], [], []
        for name in rows:
            if "(" in name and "plain fit" in name and name.startswith("MLP"):
                label = name.split(" (")[0]
                counts.append(int(name.split("(")[1].split()[0]))
                observe.append(rows[f"{label}: GradientClipping mode=None + logger"]["cpu_ratio"])
                clip.append(rows[f"{label}: GradientClipping global_norm + logger"]["cpu_ratio"])
        color = styles.get(backend, "k")
        ax.plot(counts, observe, "o-", color=color, label=f"{backend}: mode=None + logger / plain")
        ax.plot(counts, clip, "s--", color=color, label=f"{backend}: global_norm + logger / Keras clip")
        cnn = [name for name in rows if name.startswith("CNN (")]
        if cnn:
            ax.plot(
                [int(cnn[0].split("(")[1].split()[0])],
                [rows["CNN: GradientClipping mode=None + logger"]["cpu_ratio"]],
                "*",
                markersize=12,
                color=color,
                label=f"{backend}: CNN, mode=None + logger / plain",
            )
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("trainable variables")
    ax.set_ylabel("CPU-time ratio per epoch")
    ax.set_title("Overhead against the number of variables (batch 32)")
    # Below the axes, not over them: no place inside is free of points for every run.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    fig.savefig(out_path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    harness.main(
        "clipping_scaling",
        "Observing (`GradientClipping(mode=None)` + `GradientNormLogger`) against plain `fit` and "
        '`GradientClipping("global_norm")` + logger against Keras\'s `global_clipnorm`, on Fashion-MNIST '
        "MLPs of 10 to 400 variables and a small CNN (Adam, batch 32).",
        make_configs,
    )
    if "--child" not in sys.argv:
        figure(
            os.path.join(harness.RESULTS_DIR, "clipping_scaling.json"),
            os.path.join(FIGURE, "clipping_scaling.png"),
        )
