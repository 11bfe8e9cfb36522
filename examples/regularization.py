"""Chapter 11's "Avoiding Overfitting Through Regularization": ℓ2, dropout, MC dropout, max-norm.

The book's four experiments (26–29 of /work/book_numbers.md), on pixels / 255, batch 32:

- ℓ2: `Dense(kernel_regularizer=L2(0.01))` on both hidden layers and the output, SGD(0.02), 2 epochs;
- dropout: `Dropout(0.2)` before each Dense, SGD(0.01, momentum 0.9), 10 epochs; validation accuracy,
  and test accuracy with dropout off (`model.evaluate`);
- MC dropout: the same trained model, 100 stochastic passes over the test set with
  `keras_tricks.mc_predict` (dropout on, the model untouched); test accuracy of the mean prediction;
- max-norm: `kernel_constraint=MaxNorm(1.0)` on the hidden layers, SGD(0.01, momentum 0.9), 10 epochs.

    python examples/regularization.py                   # quick: 5,000 images, 2 epochs, 2,000 test images
    python examples/regularization.py --full --seeds 3  # the book's epochs on 55,000 images
    python examples/regularization.py --backend tensorflow

Runs on jax, tensorflow and torch.
"""

from _common import Row, Section, Settings, book_test_set, run_alone, save_figure, train

# test_samples: test images for evaluate and MC dropout (None: all 10,000); mc_samples: MC dropout passes.
QUICK = Settings(samples=5_000, epochs=2, extra={"test_samples": 2_000, "mc_samples": 100})
FULL = QUICK.replace(samples=None, epochs=None, test_samples=None)  # the book's epochs: 2 or 10
SMOKE = QUICK.replace(samples=1_000, epochs=1, test_samples=200, mc_samples=10)


def _model(seed, hidden, dropout=0.0, **dense):
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=(28, 28)), keras.layers.Flatten()]
    for _ in range(hidden):
        if dropout:
            layers.append(keras.layers.Dropout(rate=dropout))
        layers.append(keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal", **dense))
    if dropout:
        layers.append(keras.layers.Dropout(rate=dropout))
    output = {"kernel_regularizer": dense["kernel_regularizer"]} if "kernel_regularizer" in dense else {}
    if output:  # the book's RegularizedDense output layer: ℓ2 and He too
        output["kernel_initializer"] = "he_normal"
    layers.append(keras.layers.Dense(10, activation="softmax", **output))
    return keras.Sequential(layers)


def l2_model(seed):
    import keras

    return _model(seed, 2, kernel_regularizer=keras.regularizers.L2(0.01))


def dropout_model(seed):
    return _model(seed, 2, dropout=0.2)


def max_norm_model(seed):
    import keras

    return _model(seed, 2, kernel_constraint=keras.constraints.MaxNorm(max_value=1.0))


def mc_figure(model, mc, x, seed, passes):
    """The book's first test image: plain prediction beside the MC mean ± std of `passes` passes."""
    import matplotlib.pyplot as plt
    import numpy as np

    plain = model.predict(x[:1], verbose=0)[0]
    figure, ax = plt.subplots(figsize=(8, 3.5))
    classes = np.arange(10)
    ax.bar(classes - 0.2, plain, width=0.4, label="predict (dropout off)")
    ax.bar(classes + 0.2, mc.mean[0], width=0.4, yerr=mc.std[0], capsize=3, label="MC dropout mean ± std")
    ax.set_xticks(
        classes,
        ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
        fontsize="small",
    )
    ax.set_ylabel("probability")
    ax.set_title(f"Test image 0, {passes} MC dropout passes (seed {seed})")
    ax.legend()
    return figure


def run(args, seed, settings):
    import keras
    import numpy as np

    import keras_tricks

    x_test, y_test = book_test_set()
    test_samples, mc_samples = settings.extra["test_samples"], settings.extra["mc_samples"]
    x_test, y_test = x_test[:test_samples], y_test[:test_samples]
    rows = []

    def fit(model, optimizer, n):
        history = train(model, optimizer, settings, seed, epochs=n)
        return history.history["val_accuracy"][-1]

    n = settings.epochs_for(2)
    accuracy = fit(l2_model(seed), keras.optimizers.SGD(learning_rate=0.02), n)
    rows.append(Row(f"ℓ2(0.01), SGD(0.02), {n} epochs: validation accuracy", 0.8182, accuracy, 0.5))

    n = settings.epochs_for(10)
    model = dropout_model(seed)
    accuracy = fit(model, keras.optimizers.SGD(learning_rate=0.01, momentum=0.9), n)
    test_accuracy = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    mc = keras_tricks.mc_predict(model, x_test, samples=mc_samples, seed=seed)
    mc_accuracy = float(np.mean(mc.mean.argmax(axis=1) == y_test))
    rows += [
        Row(f"dropout 0.2, SGD(0.01, momentum 0.9), {n} epochs: validation accuracy", 0.8732, accuracy, 0.6),
        Row("dropout: test accuracy (dropout off)", 0.8700, test_accuracy, 0.6),
        Row(f"MC dropout, {mc_samples} passes: test accuracy", 0.8717, mc_accuracy, 0.6),
        Row("MC dropout gain over plain: test accuracy difference", 0.0017, mc_accuracy - test_accuracy),
    ]
    save_figure(mc_figure(model, mc, x_test, seed, mc_samples), args, "regularization_mc_dropout")

    accuracy = fit(max_norm_model(seed), keras.optimizers.SGD(learning_rate=0.01, momentum=0.9), n)
    what = f"max-norm 1.0, SGD(0.01, momentum 0.9), {n} epochs: validation accuracy"
    rows.append(Row(what, 0.8578, accuracy, 0.6))
    return rows


SECTION = Section("regularization", "regularization.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
