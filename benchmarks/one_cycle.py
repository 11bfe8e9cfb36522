"""keras-tricks' in-graph `OneCycle` schedule vs the book's per-batch callback vs a constant learning rate.

The same book MLP (Fashion-MNIST, 3 × Dense(100), SGD, batch 32) trained three ways, interleaved: a
constant learning rate (the baseline), `keras_tricks.schedules.OneCycle` evaluated inside the compiled
step, and the book's `OneCycleScheduler` callback (ported in `lr_callback.py`) setting the rate in
Python before every batch. Target: `OneCycle` within 1.02× the constant-rate fit.

Command (about 5 minutes on 2 cores):

    python benchmarks/one_cycle.py --backends tensorflow jax
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402
from benchmarks.lr_callback import book_one_cycle_scheduler  # noqa: E402


def make_configs(args):
    import keras

    from keras_tricks.schedules import OneCycle

    x, y = harness.fashion_mnist_subset(args.samples)
    steps = (args.epochs + args.warmup) * -(-len(x) // 32)

    def build(learning_rate):
        return harness.book_mlp_builder(lambda: keras.optimizers.SGD(learning_rate=learning_rate()))

    scheduler = book_one_cycle_scheduler(steps, max_lr=0.1)  # one instance: its iteration count carries on
    configs = [
        harness.Config("plain fit, constant learning rate", build(lambda: 0.01)),
        harness.Config("keras_tricks.schedules.OneCycle", build(lambda: OneCycle(0.1, total_steps=steps))),
        harness.Config(
            "book's per-batch OneCycleScheduler callback", build(lambda: 0.01), callbacks=lambda: [scheduler]
        ),
    ]
    return configs, x, y


if __name__ == "__main__":
    harness.main(
        "one_cycle",
        "1cycle in-graph (`keras_tricks.schedules.OneCycle`) vs the book's per-batch Python callback vs a "
        "constant learning rate, on the book's Fashion-MNIST MLP (3 × Dense(100), SGD, batch 32).",
        make_configs,
    )
