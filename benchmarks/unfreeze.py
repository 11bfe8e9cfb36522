"""What `keras_tricks.callbacks.Unfreeze` costs: frozen steps, and each freeze/unfreeze transition.

`Unfreeze` sets `layer.trainable` like the book, so while layers are frozen no gradient is computed
for them; each change of trainability rebuilds the optimizer and retraces the train step. On the
book's Fashion-MNIST MLP (3 × Dense(100), SGD, batch 32) with its three hidden layers as the reused
ones, against plain `fit` with every layer trainable:

- "hidden layers frozen (book, trainable=False)": the book's first phase, compiled once;
- "Unfreeze, frozen phase": the callback holding the layers frozen (the steady state of its first
  phase, which should cost what the book's does);
- "Unfreeze, freeze + unfreeze in every epoch": `Unfreeze(epoch=0)` in every one-epoch `fit`, i.e.
  two transitions per epoch while training every layer. Each state's functions are compiled once (in
  the warm-up) and kept, so a transition is an optimizer rebuild and a switch to the kept functions;
  its excess over the baseline, halved, is the cost of one transition in epochs of `--samples` images.

Each one-epoch `fit` call is timed whole, so that the freeze in `on_train_begin` counts.

Command (about 5 minutes on 2 cores):

    python benchmarks/unfreeze.py --backends tensorflow jax torch --epochs 5
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402


def make_configs(args):
    import keras

    from keras_tricks.callbacks import Unfreeze

    x, y = harness.fashion_mnist_subset(args.samples)
    hidden = {}  # configuration name → its model's three hidden Dense layers

    def build(name, frozen=False):
        def _build():
            model = harness.book_mlp()
            hidden[name] = model.layers[1:4]  # after Flatten, before the output layer
            for layer in hidden[name]:
                layer.trainable = not frozen
            return harness.compile_book(model, keras.optimizers.SGD(learning_rate=0.01))

        return _build

    def config(name, frozen=False, unfreeze_epoch=None):
        callbacks = list if unfreeze_epoch is None else lambda: [Unfreeze(hidden[name], epoch=unfreeze_epoch)]
        return harness.Config(name, build(name, frozen), callbacks=callbacks)

    configs = [
        config("plain fit, every layer trainable"),
        config("hidden layers frozen (book, trainable=False)", frozen=True),
        config("Unfreeze, frozen phase", unfreeze_epoch=10**6),
        config("Unfreeze, freeze + unfreeze in every epoch", unfreeze_epoch=0),
    ]
    return configs, x, y


if __name__ == "__main__":
    harness.main(
        "unfreeze",
        "`Unfreeze` on the book's Fashion-MNIST MLP (3 × Dense(100), SGD, batch 32), the three hidden "
        "layers being the reused ones, against plain `fit` with every layer trainable; each one-epoch `fit` "
        "call timed whole (`on_train_begin` included).",
        make_configs,
        whole_fit=True,
    )
