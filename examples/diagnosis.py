"""The diagnosis panel: broken and healthy training configurations on the real Fashion-MNIST.

Each configuration is one of chapter 11's ways to fail (or one of its healthy networks), trained for a
few epochs on a few thousand images with `keras_tricks.callbacks.Diagnose` (and a `GradientNormLogger`),
after a pre-flight `keras_tricks.diagnostics.diagnose`. The panel says which codes each configuration
got, before training and during `fit` (with the epoch of the first detection), and keeps the evidence
(the numbers the rules read) so that the thresholds of `keras_tricks.diagnostics.THRESHOLDS` can be
checked against it: every broken configuration must get its code, no healthy one an `"error"`.

    python examples/diagnosis.py                          # jax, 3,000 images, the table and the evidence
    python examples/diagnosis.py --backend tensorflow
    python examples/diagnosis.py --samples 1000 --only raw_pixels dead_relu_bias
    python examples/diagnosis.py --thresholds             # the thresholds against the saved runs
    python examples/diagnosis.py --figure docs/images/diagnosis.png

Writes examples/results/diagnosis-<backend>.md (the table) and .json (everything measured).
"""

import argparse
import json
import os
import sys
import time

import book_models  # examples/ is on sys.path when this script runs (and in the tests)

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _mlp(
    seed, activation="relu", initializer="he_normal", layers=3, units=100, bias="zeros", inputs=(28, 28)
):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input(shape=inputs), keras.layers.Flatten()]
        + [
            keras.layers.Dense(
                units,
                activation=activation,
                kernel_initializer=_initializer(initializer),
                bias_initializer=_initializer(bias),
            )
            for _ in range(layers)
        ]
        + [keras.layers.Dense(10, activation="softmax")]
    )


def _selu_batch_norm(seed):
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=(28, 28)), keras.layers.Flatten()]
    for _ in range(5):
        layers += [
            keras.layers.Dense(100, activation="selu", kernel_initializer="lecun_normal"),
            keras.layers.BatchNormalization(),
        ]
    return keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])


def _recipe(name, seed):
    import keras

    from keras_tricks import recipes

    keras.utils.set_random_seed(seed)
    if name == "default":
        return recipes.default_dnn(3, 100, 10, (28, 28))
    return recipes.self_normalizing_dnn(10, 100, 10, (28, 28))


def _sgd(rate):
    import keras

    return lambda: keras.optimizers.SGD(rate)


def _adam(rate=1e-3):
    import keras

    return lambda: keras.optimizers.Adam(rate)


def _value_clip():
    import keras

    from keras_tricks.optimizers import GradientClipping

    return GradientClipping(keras.optimizers.SGD(0.01), "value", threshold=1e-4)


# name: (expected code or None for healthy, model builder, optimizer, pixels, epochs, training images)
PANEL = {
    "sigmoid_normal_20": (
        "saturated_activations",
        lambda s: _mlp(s, "sigmoid", "random_normal_1", 20),
        _sgd(0.01),
        "unit",
        3,
        None,
    ),
    "sigmoid_glorot_20": (
        "vanishing_gradients",
        lambda s: _mlp(s, "sigmoid", "glorot_uniform", 20),
        _sgd(0.01),
        "unit",
        3,
        None,
    ),
    "relu_normal_20": (
        "exploding_gradients",
        lambda s: _mlp(s, "relu", "random_normal_1", 20),
        _sgd(1e-4),
        "unit",
        3,
        None,
    ),
    "raw_pixels": ("unscaled_inputs", lambda s: _mlp(s), _sgd(0.01), "raw", 3, None),
    "learning_rate_far_too_high": ("diverging_loss", lambda s: _mlp(s), _sgd(3.0), "unit", 3, None),
    "nan_pixels": ("nonfinite_gradients", lambda s: _mlp(s), _sgd(0.01), "nan", 3, None),
    "dead_relu_bias": ("dead_units", lambda s: _mlp(s, bias="constant_-5"), _sgd(0.01), "unit", 3, None),
    "sgd_1e-6": ("learning_rate_too_low", lambda s: _mlp(s), _sgd(1e-6), "unit", 3, None),
    "value_clip_1e-4": ("over_clipping", lambda s: _mlp(s), _value_clip, "unit", 3, None),
    "large_net_200_images": ("overfitting", lambda s: _mlp(s, units=1000), _adam(), "unit", 12, 200),
    "selu_with_batch_norm": ("not_self_normalizing", _selu_batch_norm, _sgd(0.01), "standardized", 3, None),
    "book_mlp": (None, lambda s: _mlp(s), _sgd(0.01), "unit", 3, None),
    "tanh_glorot": (None, lambda s: _mlp(s, "tanh", "glorot_uniform"), _sgd(0.01), "unit", 3, None),
    "sigmoid_glorot_3": (None, lambda s: _mlp(s, "sigmoid", "glorot_uniform"), _sgd(0.1), "unit", 3, None),
    "book_mlp_adam": (None, lambda s: _mlp(s), _adam(), "unit", 3, None),
    "default_dnn_table_11_3": (None, lambda s: _recipe("default", s), _sgd(0.01), "unit", 3, None),
    "self_normalizing_dnn_table_11_4": (
        None,
        lambda s: _recipe("selu", s),
        _sgd(0.01),
        "standardized",
        3,
        None,
    ),
    "selu_lecun_20": (
        None,
        lambda s: _mlp(s, "selu", "lecun_normal", 20),
        _sgd(0.01),
        "standardized",
        3,
        None,
    ),
    "batch_norm_book": (None, lambda s: book_models.bn_model("after", s), _sgd(0.01), "unit", 3, None),
}


def _initializer(name):
    import keras

    if name == "random_normal_1":
        return keras.initializers.RandomNormal(stddev=1.0)
    if name == "constant_-5":
        return keras.initializers.Constant(-5.0)
    return name


def data(pixels, samples, validation=1000):
    """Training and validation sets of the book's split: the first `samples` and `validation` images."""
    import numpy as np

    from keras_tricks.datasets import load_fashion_mnist

    kind = {"nan": "unit"}.get(pixels, pixels)
    (x, y), (xv, yv), _ = load_fashion_mnist(pixels=kind)
    x, y, xv, yv = x[:samples].copy(), y[:samples], xv[:validation], yv[:validation]
    if pixels == "nan":
        x[::97, 14, 14] = np.nan  # a NaN pixel in about 1 % of the images
    return x, y, xv, yv


def run_config(name, samples=3000, epochs=None, seed=42):
    """Runs one configuration: `{"expected", "preflight", "fit", "evidence", "seconds"}`."""
    import keras

    from keras_tricks.callbacks import Diagnose, GradientNormLogger
    from keras_tricks.diagnostics import diagnose
    from keras_tricks.optimizers import GradientClipping, unwrap

    expected, build, optimizer, pixels, book_epochs, images = PANEL[name]
    x, y, xv, yv = data(pixels, images or samples)
    start = time.perf_counter()
    model = build(seed)
    inner = optimizer()
    if unwrap(inner, GradientClipping) is None:
        inner = GradientClipping(inner, mode=None)
    model.compile(optimizer=inner, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    preflight = diagnose(model, x, y, seed=seed)
    callback = Diagnose(x_probe=xv[:256], y_probe=yv[:256], verbose=0)
    model.fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=epochs or book_epochs,
        batch_size=32,
        verbose=0,
        callbacks=[GradientNormLogger(), callback],
    )

    def summary(diagnosis):
        return [
            {"code": f.code, "severity": f.severity, "epoch": f.epoch, "evidence": _plain(f.evidence)}
            for f in diagnosis
        ]

    keras.backend.clear_session(free_memory=False)
    return {
        "expected": expected,
        "preflight": summary(preflight),
        "fit": summary(callback.findings),
        "evidence": _plain({k: v for k, v in preflight.evidence.items() if k != "losses"}),
        "seconds": time.perf_counter() - start,
    }


def _plain(value):
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def verdict(result):
    """`(ok, why)`: a broken configuration got its code; a healthy one no error."""
    found = {f["code"] for f in result["preflight"] + result["fit"]}
    errors = [f["code"] for f in result["preflight"] + result["fit"] if f["severity"] == "error"]
    if result["expected"] is None:
        return not errors, ("no error" if not errors else f"errors: {sorted(set(errors))}")
    return result["expected"] in found, ("found" if result["expected"] in found else "missed")


def first_detection(result):
    code = result["expected"]
    if code is None:
        return "—"
    if any(f["code"] == code for f in result["preflight"]):
        return "before training"
    epochs = [f["epoch"] for f in result["fit"] if f["code"] == code]
    return f"epoch {min(epochs) + 1}" if epochs else "—"


def table(results):
    lines = [
        "| configuration | expected | found before training | found during fit | first detection | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, result in results.items():

        def codes(findings):
            seen = {}
            for f in findings:
                seen.setdefault(f["code"], f["severity"])
            return ", ".join(f"`{c}`" + (" (error)" if s == "error" else "") for c, s in seen.items()) or "—"

        ok, why = verdict(result)
        lines.append(
            f"| {name} | {('`' + result['expected'] + '`') if result['expected'] else 'healthy'} | "
            f"{codes(result['preflight'])} | {codes(result['fit'])} | {first_detection(result)} | "
            f"{'✓' if ok else '✗'} {why} |"
        )
    return "\n".join(lines) + "\n"


# Evidence (of the pre-flight) → the number each threshold compares; the code it decides and on which side
# of the threshold the broken configuration is.
def _measure(evidence, kind):
    import numpy as np

    acts = evidence.get("activations") or {}
    if kind == "input_scale":
        inputs = evidence.get("inputs") or {}
        return max(abs(inputs.get("mean", 0.0)), inputs.get("std", 0.0))
    if kind in ("saturated", "dead_units"):
        values = [a[kind] for a in acts.values() if a.get(kind) is not None]
        return max(values) if values else None
    if kind in ("vanishing", "exploding"):
        kernels = [v for k, v in (evidence.get("gradient_rms") or {}).items() if k.endswith("kernel")]
        return kernels[0] / kernels[-1] if len(kernels) >= 2 and kernels[-1] else None
    if kind == "exploding_norm":
        return evidence.get("gradient_norm")
    if kind == "activation_growth":
        stds = [a["std"] for a in acts.values() if a.get("std") is not None and np.isfinite(a["std"])]
        return max(stds[1:]) / stds[0] if len(stds) >= 2 and stds[0] > 0 else None
    if kind == "update_ratio_low":
        values = [v for k, v in (evidence.get("update_ratio") or {}).items() if k.endswith("kernel")]
        return float(np.median(values)) if values else None
    if kind == "over_clipping_shrink":
        return evidence.get("clipped_over_norm")
    return None


_THRESHOLD_CODES = {
    "input_scale": ("unscaled_inputs", "above"),
    "saturated": ("saturated_activations", "above"),
    "dead_units": ("dead_units", "above"),
    "vanishing": ("vanishing_gradients", "below"),
    "exploding_norm": ("exploding_gradients", "above"),
    "activation_growth": ("exploding_gradients", "above"),
    "update_ratio_low": ("learning_rate_too_low", "below"),
    "over_clipping_shrink": ("over_clipping", "below"),
}


def thresholds_table(runs):
    """Per threshold: its value, the healthy configurations' extreme and the broken one's (all backends)."""
    import math

    from keras_tricks.diagnostics import THRESHOLDS

    lines = [
        "| threshold | value | healthy configurations (most extreme) | the broken configuration | backends |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind, (code, direction) in _THRESHOLD_CODES.items():
        healthy, broken = [], []
        for run in runs.values():
            for result in run["results"].values():
                value = _measure(result["evidence"], kind)
                if value is None or not math.isfinite(value):
                    continue
                if result["expected"] is None:
                    healthy.append(value)
                elif result["expected"] == code:
                    broken.append(value)
        pick = (max, min) if direction == "above" else (min, max)
        shown_healthy = f"{pick[0](healthy):.3g}" if healthy else "—"
        shown_broken = f"{pick[1](broken):.3g}" if broken else "— (found during fit)"
        row = f"| `{kind}` ({code}) | {THRESHOLDS[kind]:g} | {shown_healthy} | {shown_broken}"
        lines.append(f"{row} | {', '.join(runs)} |")
    return "\n".join(lines) + "\n"


def figure(path, seed=42):
    """The docs' figure: a 10-layer sigmoid net with N(0, 1) weights, 4 epochs on 3,000 images, diagnosed."""
    import keras
    import matplotlib

    matplotlib.use("Agg")
    from keras_tricks import plot
    from keras_tricks.callbacks import ActivationStats, Diagnose, GradientNormLogger
    from keras_tricks.optimizers import GradientClipping

    x, y, xv, yv = data("unit", 3000)
    model = _mlp(seed, "sigmoid", "random_normal_1", 10)
    model.compile(
        optimizer=GradientClipping(keras.optimizers.SGD(0.05), mode=None),
        loss="sparse_categorical_crossentropy",
    )
    stats, diagnose = ActivationStats(xv[:256]), Diagnose(x_probe=xv[:256], y_probe=yv[:256], verbose=0)
    history = model.fit(
        x, y, epochs=4, verbose=0, validation_data=(xv, yv), callbacks=[GradientNormLogger(), stats, diagnose]
    )
    axes = plot.diagnosis(history, diagnose.findings, stats.history)
    axes[0].figure.tight_layout()
    axes[0].figure.savefig(path, dpi=90)
    print(diagnose.findings)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--only", nargs="+", choices=sorted(PANEL))
    parser.add_argument(
        "--thresholds", action="store_true", help="tabulate the thresholds from the saved runs and exit"
    )
    parser.add_argument("--figure", help="draw the docs' figure into this PNG file and exit")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.figure:
        figure(args.figure)
        return 0
    if args.thresholds:
        runs = {}
        for backend in ("tensorflow", "jax", "torch"):
            path = os.path.join(RESULTS, f"diagnosis-{backend}.json")
            if os.path.exists(path):
                with open(path) as f:
                    runs[backend] = json.load(f)
        text = thresholds_table(runs)
        print(text)
        with open(os.path.join(RESULTS, "diagnosis-thresholds.md"), "w") as f:
            f.write(text)
        return 0
    results = {}
    for name in args.only or PANEL:
        print(f"[diagnosis] {name} ...", file=sys.stderr, flush=True)
        results[name] = run_config(name, samples=args.samples)
    text = table(results)
    print(text)
    os.makedirs(RESULTS, exist_ok=True)
    if not args.only:
        with open(os.path.join(RESULTS, f"diagnosis-{args.backend}.json"), "w") as f:
            json.dump({"backend": args.backend, "samples": args.samples, "results": results}, f, indent=1)
        with open(os.path.join(RESULTS, f"diagnosis-{args.backend}.md"), "w") as f:
            f.write(text)
    return 0 if all(verdict(r)[0] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
