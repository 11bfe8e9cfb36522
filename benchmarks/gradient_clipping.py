"""What observable gradient clipping costs: `GradientClipping` + `GradientNormLogger` against plain Keras.

On the book's Fashion-MNIST MLP (3 × Dense(100), SGD, batch 32), for each compile setting (default,
`steps_per_execution=8`, `jit_compile=True`):

- Keras's own `SGD(global_clipnorm=1.0)` against plain `fit` (what clipping itself costs);
- `GradientClipping(SGD, "global_norm", 1.0)` + `GradientNormLogger(per_layer=True)` against Keras's own
  `global_clipnorm`;
- observe-only `GradientClipping(SGD, mode=None)` + logger against plain `fit`;
- `"adaptive"` (AGC) and `"percentile"` (AutoClip) + logger against Keras's own `global_clipnorm`.

Command (about 10 minutes on 2 cores):

    python benchmarks/gradient_clipping.py --backends tensorflow jax
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

SETTINGS = {"": {}, "spe=8, ": {"steps_per_execution": 8}, "jit, ": {"jit_compile": True}}


def make_configs(args):
    import keras

    from keras_tricks.callbacks import GradientNormLogger
    from keras_tricks.optimizers import GradientClipping

    x, y = harness.fashion_mnist_subset(args.samples)

    def builder(make_optimizer, compile_kwargs):
        def build():
            model = harness.book_mlp()
            model.compile(
                loss="sparse_categorical_crossentropy",
                optimizer=make_optimizer(),
                metrics=["accuracy"],
                **compile_kwargs,
            )
            return model

        return build

    def logger():
        return [GradientNormLogger(per_layer=True)]

    configs = []
    for prefix, compile_kwargs in SETTINGS.items():
        plain, keras_clip = f"{prefix}plain fit", f"{prefix}Keras global_clipnorm=1"
        rows = [
            (plain, lambda: keras.optimizers.SGD(0.01), list, plain),
            (keras_clip, lambda: keras.optimizers.SGD(0.01, global_clipnorm=1.0), list, plain),
            (
                f"{prefix}GradientClipping global_norm + logger",
                lambda: GradientClipping(keras.optimizers.SGD(0.01), "global_norm", 1.0),
                logger,
                keras_clip,
            ),
            (
                f"{prefix}GradientClipping mode=None + logger",
                lambda: GradientClipping(keras.optimizers.SGD(0.01), mode=None),
                logger,
                plain,
            ),
            (
                f"{prefix}GradientClipping adaptive + logger",
                lambda: GradientClipping(keras.optimizers.SGD(0.01), "adaptive"),
                logger,
                keras_clip,
            ),
            (
                f"{prefix}GradientClipping percentile + logger",
                lambda: GradientClipping(keras.optimizers.SGD(0.01), "percentile"),
                logger,
                keras_clip,
            ),
        ]
        for name, make_optimizer, callbacks, baseline in rows:
            configs.append(
                harness.Config(
                    name,
                    builder(make_optimizer, compile_kwargs),
                    callbacks=callbacks,
                    baseline=None if name == plain and not prefix else baseline,
                )
            )
    return configs, x, y


if __name__ == "__main__":
    harness.main(
        "gradient_clipping",
        "`GradientClipping` + `GradientNormLogger` vs Keras's own clipping and plain `fit` on the book's "
        "Fashion-MNIST MLP (3 × Dense(100), SGD, batch 32), for three compile settings.",
        make_configs,
    )
