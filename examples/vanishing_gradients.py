"""The book's vanishing-gradient setting, diagnosed with per-layer gradient norms.

A deep stack of sigmoid layers initialized from N(0, 1) (the setting of Figure 11-1 in chapter 11),
the same stack with Glorot initialization, and ReLU with He initialization, trained on Fashion-MNIST
with plain SGD. `GradientClipping(mode=None)` only observes; `GradientNormLogger` writes each layer's
mean gradient norm into the logs.

What it shows (measured with `--layers 6 --epochs 1 --samples 2000` on jax): with Glorot initialization
the sigmoid net's first hidden kernel gets a gradient about 500× smaller than its last hidden kernel —
the gradient vanishes on its way down, as σ' ≤ 1/4 shrinks it at every layer; with N(0, 1) weights the
sigmoids saturate and the net does not learn at all (chance accuracy), although the large weights keep
the gradient norms of all layers alike; ReLU with He initialization keeps them within a factor of about
2 and learns.

    python examples/vanishing_gradients.py                 # a few minutes on 2 CPU cores
    python examples/vanishing_gradients.py --layers 10 --epochs 5 --output figures/

It prints, per setting, the mean gradient norm of the first and last hidden kernels, their ratio and
the training accuracy, and saves one figure per setting (`keras_tricks.plot.gradient_norms`) into
`--output`.
"""

import argparse
import os

from book_models import build_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8, help="hidden layers of 100 units")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10_000, help="training images")
    parser.add_argument("--output", default="vanishing_gradients", help="directory for the figures")
    args = parser.parse_args(argv)
    if args.layers < 2 or args.epochs < 1 or args.samples < 1:
        parser.error(f"--layers must be >= 2, --epochs and --samples >= 1. Received: {vars(args)}")
    return args


SETTINGS = {
    "sigmoid, N(0, 1)": ("sigmoid", "random_normal_1"),
    "sigmoid, Glorot": ("sigmoid", "glorot_uniform"),
    "ReLU, He": ("relu", "he_normal"),
}


def model_for(setting, layers, seed=42):
    """The deep MLP of `setting` (a key of `SETTINGS`): `layers` × Dense(100), softmax; seeded."""
    import keras

    activation, initializer = SETTINGS[setting]
    if initializer == "random_normal_1":
        initializer = keras.initializers.RandomNormal(mean=0.0, stddev=1.0)  # the book's "naive" init
    return build_model(seed, activation=activation, initializer=initializer, layers=layers)


def first_and_last(history, model):
    """The last epoch's mean gradient norms of the first and the last hidden kernels."""
    from keras_tricks.diagnostics import variable_keys

    kernels = [key for key in variable_keys(model).values() if key.endswith("kernel")]
    return history.history[f"grad_norm/{kernels[0]}"][-1], history.history[f"grad_norm/{kernels[-2]}"][-1]


def run(setting, args):
    import keras

    from keras_tricks.callbacks import GradientNormLogger
    from keras_tricks.datasets import load_fashion_mnist
    from keras_tricks.optimizers import GradientClipping

    (x_train, y_train), _, _ = load_fashion_mnist()
    model = model_for(setting, args.layers)
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=GradientClipping(keras.optimizers.SGD(0.01), mode=None),
        metrics=["accuracy"],
    )
    history = model.fit(
        x_train[: args.samples],
        y_train[: args.samples],
        epochs=args.epochs,
        verbose=0,
        callbacks=[GradientNormLogger(per_layer=True)],
    )
    return history, *first_and_last(history, model)


def main(argv=None):
    args = parse_args(argv)
    from keras_tricks import plot

    os.makedirs(args.output, exist_ok=True)
    print("| setting | first hidden kernel | last hidden kernel | last / first | accuracy |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for setting in SETTINGS:
        history, first, last = run(setting, args)
        print(
            f"| {setting} | {first:.2e} | {last:.2e} | {last / first:.1f} "
            f"| {history.history['accuracy'][-1]:.3f} |"
        )
        ax = plot.gradient_norms(history, per_layer=True)
        ax.set_title(f"{args.layers} hidden layers, {setting}")
        ax.get_legend().remove()
        name = setting.replace(", ", "_").replace(" ", "").replace("(", "").replace(")", "")
        ax.figure.savefig(os.path.join(args.output, f"{name}.png"), dpi=100, bbox_inches="tight")


if __name__ == "__main__":
    main()
