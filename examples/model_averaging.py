"""Model averaging on the real Fashion-MNIST: one MLP, the average of several, and SWA of one run.

    python examples/model_averaging.py                  # 10,000 training images, 10 epochs (about a minute)
    python examples/model_averaging.py --samples 55000 --epochs 20 --models 5

Trains `--models` copies of chapter 10's MLP (300-100 ReLU, SGD, the book's learning rate 0.01, batch 32)
from different seeds, and reports the validation accuracy of each, of their `ensemble_predict` average, and
of the first one trained again with `SWA` over its second half of the epochs (same seed and data order).
"""

import argparse

import keras
import numpy as np
from book_models import chapter10_mlp

import keras_tricks
from keras_tricks.callbacks import SWA
from keras_tricks.datasets import load_fashion_mnist


def mlp(seed):
    model = chapter10_mlp(seed)
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"]
    )
    return model


def accuracy(proba, y):
    return float(np.mean(np.argmax(proba, axis=-1) == y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--models", type=int, default=3)
    args = parser.parse_args(argv)
    (x_train, y_train), (x_valid, y_valid), _ = load_fashion_mnist()
    x_train, y_train = x_train[: args.samples], y_train[: args.samples]

    models = []
    for seed in range(args.models):
        model = mlp(seed)
        model.fit(x_train, y_train, epochs=args.epochs, verbose=0)
        models.append(model)
        print(f"model {seed}: validation accuracy {accuracy(model.predict(x_valid, verbose=0), y_valid):.4f}")
    ensemble = accuracy(keras_tricks.ensemble_predict(models, x_valid), y_valid)
    print(f"ensemble_predict of {args.models} models: validation accuracy {ensemble:.4f}")

    model = mlp(0)
    model.fit(x_train, y_train, epochs=args.epochs, verbose=0, callbacks=[SWA(start_epoch=args.epochs // 2)])
    swa = accuracy(model.predict(x_valid, verbose=0), y_valid)
    print(f"model 0 with SWA from epoch {args.epochs // 2 + 1}: validation accuracy {swa:.4f}")


if __name__ == "__main__":
    main()
