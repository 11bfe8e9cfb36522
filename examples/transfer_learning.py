"""Chapter 11's transfer learning, model A → model B, the book's two compiles beside one `fit`.

The book trains model A on the 8 Fashion-MNIST classes other than sandals and shirts, then reuses
its hidden layers for model B, a binary classifier shirts vs sandals trained on only 200 images:
new sigmoid output layer, reused layers frozen for 4 epochs, then unfrozen with a lower learning
rate for 16 more epochs. The book recompiles between the two phases (2nd edition: SGD at its
default 1e-2, then SGD(1e-4)); `keras_tricks.callbacks.Unfreeze` does it inside one `fit`. Both
start from the same model A weights, with the same data, seeds and batch order.

    python examples/transfer_learning.py                  # full run (a few minutes on 2 CPU cores)
    python examples/transfer_learning.py --quick          # fewer model-A images and epochs
    KERAS_BACKEND=jax python examples/transfer_learning.py

The book (2nd edition) reports the error rate on task B going from about 2.8% (model B from scratch)
down to about 0.7% with transfer — and warns that it tortured the data (picked the split and seeds)
until transfer shone.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SANDAL, SHIRT = 5, 6


def split_tasks(x, y):
    """Task A: the 8 other classes, relabelled 0..7. Task B: shirt (1) vs sandal (0)."""
    import numpy as np

    for_b = (y == SANDAL) | (y == SHIRT)
    y_a = y[~for_b]
    old_ids = [c for c in range(10) if c not in (SANDAL, SHIRT)]
    y_a = np.searchsorted(old_ids, y_a)
    return (x[~for_b], y_a), (x[for_b], (y[for_b] == SHIRT).astype("float32"))


def hidden_layers():
    import keras

    return [
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        *[keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal") for _ in range(3)],
    ]


def model_b_on_a(model_a, seed):
    """The book's `model_B_on_A`: a clone of model A's hidden layers (weights copied) + a sigmoid output."""
    import keras

    clone = keras.models.clone_model(model_a)
    clone.set_weights(model_a.get_weights())
    keras.utils.set_random_seed(seed)  # the new output layer starts the same in both recipes
    model = keras.Sequential([keras.Input(shape=(28, 28)), *clone.layers[:-1]])
    model.add(keras.layers.Dense(1, activation="sigmoid", name="output_b"))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 model-A images, 5 model-A epochs")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--markdown", help="also write the results table to this file")
    args = parser.parse_args(argv)

    import keras

    from keras_tricks.callbacks import Unfreeze
    from keras_tricks.datasets import load_fashion_mnist

    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = load_fashion_mnist()
    (x_train_a, y_train_a), (x_train_b, y_train_b) = split_tasks(x_train, y_train)
    (x_valid_a, y_valid_a), (x_valid_b, y_valid_b) = split_tasks(x_valid, y_valid)
    _, (x_test_b, y_test_b) = split_tasks(x_test, y_test)
    x_train_b, y_train_b = x_train_b[:200], y_train_b[:200]
    samples_a, epochs_a = (10_000, 5) if args.quick else (None, 20)

    keras.utils.set_random_seed(args.seed)
    model_a = keras.Sequential([*hidden_layers(), keras.layers.Dense(8, activation="softmax")])
    model_a.compile(
        loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(1e-3), metrics=["accuracy"]
    )
    model_a.fit(
        x_train_a[:samples_a],
        y_train_a[:samples_a],
        epochs=epochs_a,
        validation_data=(x_valid_a, y_valid_a),
        verbose=0,
    )
    print(
        f"model A (8 classes) validation accuracy: {model_a.evaluate(x_valid_a, y_valid_a, verbose=0)[1]:.4f}"
    )

    fit_b = {"validation_data": (x_valid_b, y_valid_b), "verbose": 0}

    # Model B from scratch, for reference.
    keras.utils.set_random_seed(args.seed)
    model_b = keras.Sequential([*hidden_layers(), keras.layers.Dense(1, activation="sigmoid")])
    model_b.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(1e-2), metrics=["accuracy"])
    keras.utils.set_random_seed(args.seed)
    model_b.fit(x_train_b, y_train_b, epochs=20, **fit_b)

    # The book's recipe: freeze, compile, fit 4 epochs; unfreeze, compile with a lower LR, fit 16.
    book = model_b_on_a(model_a, args.seed)
    for layer in book.layers[:-1]:
        layer.trainable = False
    book.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(1e-2), metrics=["accuracy"])
    keras.utils.set_random_seed(args.seed)
    book.fit(x_train_b, y_train_b, epochs=4, **fit_b)
    for layer in book.layers[:-1]:
        layer.trainable = True
    book.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(1e-4), metrics=["accuracy"])
    book.fit(x_train_b, y_train_b, epochs=20, initial_epoch=4, **fit_b)

    # keras-tricks: one compile, one fit; Unfreeze freezes, unfreezes at epoch 4 and divides the LR by 100.
    ours = model_b_on_a(model_a, args.seed)
    ours.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(1e-2), metrics=["accuracy"])
    keras.utils.set_random_seed(args.seed)
    ours.fit(
        x_train_b,
        y_train_b,
        epochs=20,
        callbacks=[Unfreeze(ours.layers[:-1], epoch=4, lr_multiplier=0.01)],
        **fit_b,
    )

    print(f"task B test set: {len(x_test_b)} images (shirts vs sandals), trained on {len(x_train_b)}")
    rows = []
    for name, model in [
        ("model B from scratch", model_b),
        ("model B on A, the book's two compiles", book),
        ("model B on A, one fit with Unfreeze", ours),
    ]:
        accuracy = model.evaluate(x_test_b, y_test_b, verbose=0)[1]
        print(f"{name:40s} accuracy {accuracy:.4f}  error {1 - accuracy:.2%}")
        rows.append(f"| {keras.backend.backend()} | {name} | {accuracy:.4f} | {1 - accuracy:.2%} |")
    if args.markdown:
        header = "| backend | model | test accuracy | test error |\n| --- | --- | ---: | ---: |\n"
        with open(args.markdown, "w") as f:
            f.write(header + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
