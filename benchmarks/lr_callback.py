"""The book's per-batch Python learning-rate callback against plain `fit`.

Chapter 11's 1cycle code is a `Callback` that sets the learning rate in Python before every batch. On
Keras 3 that forces a host round-trip per step. This measures what it costs on the book's Fashion-MNIST
MLP (batch 32, SGD), as a CPU-time ratio against the same model trained at a constant learning rate.

Command (about 3 minutes on 2 cores):

    python benchmarks/lr_callback.py --backends tensorflow jax
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402


def book_one_cycle_scheduler(iterations, max_lr):
    """The book's `OneCycleScheduler` (handson-ml3, chapter 11), ported to Keras 3.

    The only change: `K.set_value(self.model.optimizer.learning_rate, lr)` becomes an assignment to the
    optimizer's learning-rate variable, as Keras 3 has no `keras.backend.set_value`.
    """
    import keras

    class OneCycleScheduler(keras.callbacks.Callback):
        def __init__(self, iterations, max_lr=1e-3, start_lr=None, last_iterations=None, last_lr=None):
            super().__init__()
            self.iterations = iterations
            self.max_lr = max_lr
            self.start_lr = start_lr or max_lr / 10
            self.last_iterations = last_iterations or iterations // 10 + 1
            self.half_iteration = (iterations - self.last_iterations) // 2
            self.last_lr = last_lr or self.start_lr / 1000
            self.iteration = 0

        def _interpolate(self, iter1, iter2, lr1, lr2):
            return (lr2 - lr1) * (self.iteration - iter1) / (iter2 - iter1) + lr1

        def on_batch_begin(self, batch, logs=None):
            if self.iteration < self.half_iteration:
                lr = self._interpolate(0, self.half_iteration, self.start_lr, self.max_lr)
            elif self.iteration < 2 * self.half_iteration:
                lr = self._interpolate(
                    self.half_iteration, 2 * self.half_iteration, self.max_lr, self.start_lr
                )
            else:
                lr = self._interpolate(2 * self.half_iteration, self.iterations, self.start_lr, self.last_lr)
            self.iteration += 1
            self.model.optimizer.learning_rate.assign(lr)

    return OneCycleScheduler(iterations, max_lr)


def make_configs(args):

    x, y = harness.fashion_mnist_subset(args.samples)
    steps = (args.epochs + args.warmup) * -(-len(x) // 32)

    build = harness.book_mlp_builder()

    scheduler = book_one_cycle_scheduler(steps, max_lr=0.1)  # one instance: its iteration count carries on
    configs = [
        harness.Config("plain fit, constant learning rate", build),
        harness.Config("book's per-batch OneCycleScheduler callback", build, callbacks=lambda: [scheduler]),
    ]
    return configs, x, y


if __name__ == "__main__":
    harness.main(
        "lr_callback",
        "The book's per-batch Python 1cycle callback vs plain `fit` on the book's Fashion-MNIST MLP "
        "(3 × Dense(100), SGD, batch 32).",
        make_configs,
    )
