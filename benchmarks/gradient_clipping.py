"""What observable gradient clipping costs: `GradientClipping` + `GradientNormLogger` against plain Keras.

On the book's Fashion-MNIST MLP (3 × Dense(100), ReLU, He; Adam 1e-3; 16,000 images per epoch), at the
batch size given (`--batch-size`, default the book's 32), for each compile setting (default,
`steps_per_execution=8`, `jit_compile=True`; on torch the default only):

- Keras's own `Adam(global_clipnorm=1.0)` against plain `fit` (what clipping itself costs);
- `GradientClipping(Adam, "global_norm", 1.0)` + `GradientNormLogger(per_layer=True)` against Keras's
  own `global_clipnorm`;
- observe-only `GradientClipping(Adam, mode=None)` + logger against plain `fit`, and the same with
  `skip_nonfinite=True` (the default of the clipping modes: every weight waits for the whole gradient
  to be measured);
- `"adaptive"` (AGC) and `"percentile"` (AutoClip) + logger against Keras's own `global_clipnorm`;
- `keras_tricks.callbacks.Diagnose` (no probe) with the observer, against the observer + logger.

Command (about 10 minutes per backend and batch size on 2 cores):

    python benchmarks/gradient_clipping.py --backends tensorflow jax torch --epochs 15
    python benchmarks/gradient_clipping.py --backends tensorflow jax torch --epochs 15 --batch-size 128
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

SETTINGS = {"": {}, "spe=8, ": {"steps_per_execution": 8}, "jit, ": {"jit_compile": True}}


def make_configs(args):
    import keras

    from keras_tricks.callbacks import Diagnose, GradientNormLogger
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

    def adam(**kwargs):
        return keras.optimizers.Adam(1e-3, **kwargs)

    def logger():
        return [GradientNormLogger(per_layer=True)]

    def diagnose():
        return [Diagnose(verbose=0)]

    configs = []
    # Keras's torch trainer refuses steps_per_execution > 1, and jit_compile means torch.compile there
    # (minutes of compilation per configuration): torch is measured in the default setting only.
    settings = {"": {}} if keras.backend.backend() == "torch" else SETTINGS
    for prefix, compile_kwargs in settings.items():
        plain, keras_clip = f"{prefix}plain fit", f"{prefix}Keras global_clipnorm=1"
        observer = f"{prefix}GradientClipping mode=None + logger"
        rows = [
            (plain, adam, list, plain),
            (keras_clip, lambda: adam(global_clipnorm=1.0), list, plain),
            (
                f"{prefix}GradientClipping global_norm + logger",
                lambda: GradientClipping(adam(), "global_norm", 1.0),
                logger,
                keras_clip,
            ),
            (observer, lambda: GradientClipping(adam(), mode=None), logger, plain),
            (
                f"{prefix}GradientClipping mode=None, skip_nonfinite=True + logger",
                lambda: GradientClipping(adam(), mode=None, skip_nonfinite=True),
                logger,
                plain,
            ),
            (
                f"{prefix}GradientClipping adaptive + logger",
                lambda: GradientClipping(adam(), "adaptive"),
                logger,
                keras_clip,
            ),
            (
                f"{prefix}GradientClipping percentile + logger",
                lambda: GradientClipping(adam(), "percentile"),
                logger,
                keras_clip,
            ),
            (
                f"{prefix}GradientClipping mode=None + Diagnose",
                lambda: GradientClipping(adam(), mode=None),
                diagnose,
                observer,
            ),
        ]
        for name, make_optimizer, callbacks, baseline in rows:
            configs.append(
                harness.Config(
                    name,
                    builder(make_optimizer, compile_kwargs),
                    callbacks=callbacks,
                    batch_size=args.batch_size,
                    baseline=None if name == plain and not prefix else baseline,
                )
            )
    return configs, x, y


if __name__ == "__main__":
    harness.main(
        "gradient_clipping",
        "`GradientClipping` + `GradientNormLogger` vs Keras's own clipping and plain `fit` on the book's "
        "Fashion-MNIST MLP (3 × Dense(100), Adam), for three compile settings.",
        make_configs,
    )
