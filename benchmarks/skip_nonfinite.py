"""What skipping a non-finite step costs: `GradientClipping("global_norm")` with and without it.

In its clipping modes the wrapper skips a step whose gradient is not finite (`skip_nonfinite=True`, the
default): every weight and every optimizer slot is selected against its old value, which on the
400-variable MLP of `clipping_scaling.py` (199 hidden Dense(100) SELU layers, Adam: 1,200 arrays) is
the likely cause of its largest ratio. Here, on that network and the 10-variable one (Adam 1e-3, batch
32), interleaved: plain `fit`; Keras's `Adam(global_clipnorm=1.0)`; the wrapper's `"global_norm"` with
`skip_nonfinite=True` and with `skip_nonfinite=False`, each against Keras's.

Command (about 10 minutes per backend on 2 cores):

    python benchmarks/skip_nonfinite.py --backends tensorflow jax --samples 4000 --epochs 7
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402
from benchmarks.clipping_scaling import networks  # noqa: E402


def make_configs(args):
    import keras

    from keras_tricks.optimizers import GradientClipping

    x, y = harness.fashion_mnist_subset(args.samples)
    configs = []
    for label, network in networks().items():
        if label not in ("MLP 4 hidden", "MLP 199 hidden"):
            continue

        def builder(make_optimizer, network=network):
            def build():
                model = network()
                model.compile(loss="sparse_categorical_crossentropy", optimizer=make_optimizer())
                return model

            return build

        plain, keras_clip = f"{label}: plain fit", f"{label}: Keras global_clipnorm=1"
        rows = [
            (plain, lambda: keras.optimizers.Adam(1e-3), None),
            (keras_clip, lambda: keras.optimizers.Adam(1e-3, global_clipnorm=1.0), plain),
        ]
        for skip in (True, False):
            rows.append(
                (
                    f"{label}: GradientClipping global_norm, skip_nonfinite={skip}",
                    lambda skip=skip: GradientClipping(
                        keras.optimizers.Adam(1e-3), "global_norm", 1.0, skip_nonfinite=skip
                    ),
                    keras_clip,
                )
            )
        configs += [
            harness.Config(name, builder(make), batch_size=args.batch_size, baseline=baseline)
            for name, make, baseline in rows
        ]
    return configs, x[..., None], y


if __name__ == "__main__":
    harness.main(
        "skip_nonfinite",
        '`GradientClipping("global_norm")` with `skip_nonfinite=True` (the default) and `False`, against '
        "Keras's `global_clipnorm`, on the 10- and 400-variable SELU MLPs of `clipping_scaling.py` "
        "(Adam, batch 32).",
        make_configs,
    )
