"""Chapter 11, "Gradient Clipping": every clipping mode on the book's BN model, with the clip rate logged.

The book (cells 33–34) only compiles its batch-norm model with `SGD(clipvalue=1.0)` and
`SGD(clipnorm=1.0)`; it trains nothing, so it has no number to compare with. Here the same model
(`bn_model` of examples/book_models.py, BN after the activations, SGD 0.01) is trained with
`keras_tricks.optimizers.GradientClipping` in each mode — none (observe only), by value, by norm, by
global norm (θ = 1, the book's threshold), adaptive (AGC, λ = 0.01) and percentile (AutoClip, p = 10) —
and `GradientNormLogger` logs what clipping did: the fraction of steps clipped and the mean global
gradient norm before and after clipping.

    python examples/gradient_clipping.py              # quick: 5,000 images, 1 epoch
    python examples/gradient_clipping.py --full --seeds 3
"""

from _common import Row, Section, Settings, run_alone, save_figure, train
from book_models import bn_model

MODES = {  # label: GradientClipping arguments
    "no clipping (observed)": {"mode": None},
    "value, θ = 1 (Keras clipvalue)": {"mode": "value", "threshold": 1.0},
    "norm, θ = 1 (Keras clipnorm)": {"mode": "norm", "threshold": 1.0},
    "global norm, θ = 1 (Keras global_clipnorm)": {"mode": "global_norm", "threshold": 1.0},
    "adaptive (AGC), λ = 0.01": {"mode": "adaptive", "clipping": 0.01},
    "percentile (AutoClip), p = 10": {"mode": "percentile", "percentile": 10.0},
}

QUICK = Settings(samples=5_000, epochs=1)  # six models in the quick budget
FULL = QUICK.replace(samples=None, epochs=2)  # the batch-norm section's 2 epochs
SMOKE = QUICK.replace(samples=512)


def modes_figure(logs):
    """Per mode: the fraction of steps clipped and the validation accuracy, last epoch."""
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    labels = list(MODES)
    left.barh(labels, [logs[label]["grad_clip_rate"] for label in labels], color="tab:red")
    left.set(xlabel="fraction of steps clipped (last epoch)", xlim=(0, 1.05))
    left.invert_yaxis()
    right.barh(labels, [logs[label]["val_accuracy"] for label in labels])
    low = min(logs[label]["val_accuracy"] for label in labels)
    right.set(xlabel="validation accuracy", xlim=(max(0, low - 0.05), 1))
    figure.suptitle("Gradient clipping on the book's BN model (SGD 0.01), GradientNormLogger's clip rate")
    figure.tight_layout()
    return figure


def run(args, seed, settings):
    import keras

    from keras_tricks.callbacks import GradientNormLogger
    from keras_tricks.optimizers import GradientClipping

    rows, logs = [], {}
    for label, clipping in MODES.items():
        history = train(
            bn_model("after", seed),
            GradientClipping(keras.optimizers.SGD(learning_rate=0.01), **clipping),
            settings,
            seed,
            callbacks=[GradientNormLogger(per_layer=False)],
        )
        logs[label] = {key: values[-1] for key, values in history.history.items()}
        rows += [
            Row(f"{label}: fraction of steps clipped, last epoch", None, logs[label]["grad_clip_rate"]),
            Row(
                f"{label}: mean global gradient norm before / after clipping, last epoch",
                None,
                f"{logs[label]['grad_norm']:.2f} / {logs[label]['grad_norm_clipped']:.2f}",
            ),
            # AGC at λ = 0.01 clips every step hard and learns slowly in the quick run: a lower floor.
            Row(
                f"{label}: validation accuracy",
                None,
                logs[label]["val_accuracy"],
                0.2 if "AGC" in label else 0.5,
            ),
        ]
    if seed == 42:
        save_figure(modes_figure(logs), args, "gradient_clipping_modes")
    return rows


SECTION = Section("gradient-clipping", "gradient-clipping.md", run, quick=QUICK, book=FULL, smoke=SMOKE)

if __name__ == "__main__":
    run_alone(SECTION)
