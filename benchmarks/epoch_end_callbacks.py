"""What keras-tricks' epoch-end callbacks cost: EarlyStopping (Prechelt's GL, resumable) and SWA.

Both act only at epoch ends, so their cost per epoch is one host copy of the weights (when the monitored
value improves, for early stopping; at each averaged epoch, for SWA) and, with `backup_dir`, writing it to
disk. The harness trains one epoch per `fit` call, so early stopping sees an improvement, and SWA averages,
every epoch: the worst case. Book's Fashion-MNIST MLP (3 × Dense(100), SGD, batch 32).

Command (about 3 minutes on 2 cores):

    python benchmarks/epoch_end_callbacks.py --backends tensorflow jax
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402


def make_configs(args):
    import keras

    from keras_tricks.callbacks import SWA, EarlyStopping

    x, y = harness.fashion_mnist_subset(args.samples)
    state = tempfile.mkdtemp(prefix="keras_tricks_bench_")

    build = harness.book_mlp_builder()

    def early_stopping():
        return [
            EarlyStopping(
                monitor="loss",
                criterion="gl",
                alpha=5.0,
                restore_best_weights=True,
                restore_optimizer=True,
                backup_dir=os.path.join(state, "early_stopping"),
            )
        ]

    configs = [
        harness.Config("plain fit", build),
        harness.Config(
            "Keras EarlyStopping(restore_best_weights=True)",
            build,
            callbacks=lambda: [keras.callbacks.EarlyStopping(monitor="loss", restore_best_weights=True)],
        ),
        harness.Config(
            "keras-tricks EarlyStopping(gl, restore optimizer, backup_dir)", build, callbacks=early_stopping
        ),
        harness.Config(
            "keras-tricks SWA(0, backup_dir)",
            build,
            callbacks=lambda: [SWA(0, backup_dir=os.path.join(state, "swa"))],
        ),
    ]
    return configs, x, y


if __name__ == "__main__":
    harness.main(
        "epoch_end_callbacks",
        "Keras's and keras-tricks' early stopping, and SWA, vs plain `fit` on the book's Fashion-MNIST MLP "
        "(3 × Dense(100), SGD, batch 32); each acts at every epoch end (worst case).",
        make_configs,
    )
