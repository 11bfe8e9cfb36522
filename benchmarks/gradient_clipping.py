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


def adam(**kwargs):
    import keras

    return keras.optimizers.Adam(1e-3, **kwargs)


def logger():
    from keras_tricks.callbacks import GradientNormLogger

    return [GradientNormLogger(per_layer=True)]


def diagnose():
    from keras_tricks.callbacks import Diagnose

    return [Diagnose(verbose=0)]


def comparisons(prefix):
    """(name, optimizer factory, callbacks factory, baseline's name) for one compile setting, whose names
    start with `prefix`."""
    from keras_tricks.optimizers import GradientClipping

    def clipping(*args, **kwargs):
        return lambda: GradientClipping(adam(), *args, **kwargs)

    plain, keras_clip = f"{prefix}plain fit", f"{prefix}Keras global_clipnorm=1"
    observer = f"{prefix}GradientClipping mode=None + logger"
    return [
        (plain, adam, list, plain),
        (keras_clip, lambda: adam(global_clipnorm=1.0), list, plain),
        (f"{prefix}GradientClipping global_norm + logger", clipping("global_norm", 1.0), logger, keras_clip),
        (observer, clipping(mode=None), logger, plain),
        (
            f"{prefix}GradientClipping mode=None, skip_nonfinite=True + logger",
            clipping(mode=None, skip_nonfinite=True),
            logger,
            plain,
        ),
        (f"{prefix}GradientClipping adaptive + logger", clipping("adaptive"), logger, keras_clip),
        (f"{prefix}GradientClipping percentile + logger", clipping("percentile"), logger, keras_clip),
        (f"{prefix}GradientClipping mode=None + Diagnose", clipping(mode=None), diagnose, observer),
    ]


def make_configs(args):
    import keras

    x, y = harness.fashion_mnist_subset(args.samples)
    # Keras's torch trainer refuses steps_per_execution > 1, and jit_compile means torch.compile there
    # (minutes of compilation per configuration): torch is measured in the default setting only.
    settings = {"": {}} if keras.backend.backend() == "torch" else SETTINGS
    configs = []
    for prefix, compile_kwargs in settings.items():
        for name, make_optimizer, callbacks, baseline in comparisons(prefix):
            configs.append(
                harness.Config(
                    name,
                    harness.book_mlp_builder(make_optimizer, **compile_kwargs),
                    callbacks=callbacks,
                    batch_size=args.batch_size,
                    baseline=baseline if configs else None,  # the first one: the whole run's baseline
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
