import warnings

import keras
import numpy as np

from keras_tricks import _checks, _layers, _messages
from keras_tricks.callbacks import _trainability
from keras_tricks.callbacks._callback_state import Resumable


class SWA(Resumable, keras.callbacks.Callback):
    """Stochastic weight averaging: the average of the weights of the last epochs, swapped in at the end.

    From `start_epoch` on (counting from 0), every `every` epochs, the trainable weights at the epoch's
    end are added to a running average, w̄ ← w̄ + (w − w̄) / (n + 1). When training ends the average
    replaces the weights. The weights of a layer frozen for a while by an `Unfreeze` of the same `fit`
    are averaged too (they are constant while frozen), and the average is kept by variable key (layer
    path and name), so it stays right when the set of trainable variables changes in the middle of `fit`.
    A BatchNormalization layer's moving mean and variance belong to the last weights, not to their
    average, so with `bn_data` they are recomputed in one pass over it: the model runs in training mode
    over the batches with each BatchNormalization layer's momentum set to i / (i + 1) at batch i (from
    0). That turns Keras's moving average into a plain average: the moving mean becomes the mean of the
    batch means and the moving variance the mean of the (biased) batch variances, as
    `torch.optim.swa_utils.update_bn` computes them; the old statistics drop out at the first batch.
    Other layers run in training mode during that pass too (dropout is active), also as in PyTorch.
    Frozen BatchNormalization layers (`trainable=False`) keep their statistics. BatchNormalization layers
    are found through `.layers`, also in nested models; renormalization (`renorm=True`) is not handled.

    The average is kept on the host in float64 and costs one copy of the weights; each update
    is one transfer of the weights at an epoch end. Given `backup_dir` (a directory of its own, not
    `BackupAndRestore`'s), the average and its count are also written there after each update, so that a
    `fit` interrupted and resumed by `keras.callbacks.BackupAndRestore` averages the same epochs as an
    uninterrupted one; the directory is deleted when training ends.

    If the callback list also restores weights at the end (`EarlyStopping(restore_best_weights=True)`),
    the callback listed last decides the final weights.

    Args:
        start_epoch: Integer. First epoch (from 0) whose weights enter the average.
        every: Integer. Average every `every` epochs from `start_epoch` on (e.g. the cycle length of a
            cyclic learning rate). Defaults to `1`.
        bn_data: Array, dict of arrays, `tf.data.Dataset`, `keras.utils.PyDataset` or other iterable of
            batches, or `None`. Inputs over which BatchNormalization statistics are recomputed; an
            iterable may yield `(x, y)` tuples, of which `x` is used. Defaults to `None` (statistics are
            those of the last weights, with a warning if the model has BatchNormalization layers).
        batch_size: Integer. Batch size for `bn_data` given as arrays. Defaults to `32`.
        backup_dir: String or `None`. Directory where the average is kept so that training resumed by
            `BackupAndRestore` continues it. Defaults to `None`.
        verbose: Integer. 1 prints a message when the average is swapped in. Defaults to `0`.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> swa = SWA(start_epoch=2)
    >>> _ = model.fit(np.ones((8, 2)), np.ones(8), epochs=5, verbose=0, callbacks=[swa])
    >>> swa.averaged_epochs
    3

    References:
        - Izmailov, P., Podoprikhin, D., Garipov, T., Vetrov, D., Wilson, A. G. (2018).
          [Averaging Weights Leads to Wider Optima and Better
          Generalization](https://arxiv.org/abs/1803.05407). UAI 2018.
    """

    def __init__(self, start_epoch, every=1, bn_data=None, batch_size=32, backup_dir=None, verbose=0):
        super().__init__()
        self.start_epoch = _checks.non_negative_int("start_epoch", start_epoch)
        self.every = _checks.positive_int("every", every)
        self.bn_data = bn_data
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.verbose = _checks.non_negative_int("verbose", verbose)
        self._init_state(backup_dir)
        self.async_safe = True
        self.average = None
        self.averaged_epochs = 0

    def _weights(self, variables):
        keys = _layers.variable_keys(self.model)
        return {keys[id(v)]: v for v in variables}

    def on_train_begin(self, logs=None):
        self.average = None
        self.averaged_epochs = 0
        self._begin_state()

    def on_epoch_begin(self, epoch, logs=None):
        self._resume_state(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._updated = False
        if epoch >= self.start_epoch and (epoch - self.start_epoch) % self.every == 0:
            # Every weight, also those of a layer frozen now: at the end, a layer unfrozen in between has
            # the average of its values at every averaged epoch.
            weights = {
                key: keras.ops.convert_to_numpy(v).astype("float64")
                for key, v in self._weights(self.model.weights).items()
            }
            if self.average is None:
                self.average = weights
            else:
                n = self.averaged_epochs
                self.average = {key: a + (weights[key] - a) / (n + 1) for key, a in self.average.items()}
            self.averaged_epochs += 1
            self._updated = True
        self._save_state(epoch)

    def _state_config(self):
        return {"start_epoch": self.start_epoch, "every": self.every}

    def _state_to_save(self):
        arrays = {"average": self.average} if self._updated else None
        return {"averaged_epochs": self.averaged_epochs}, arrays

    def _state_restored(self, scalars, arrays):
        self.averaged_epochs = scalars["averaged_epochs"]
        self.average = arrays.get("average")

    def on_train_end(self, logs=None):
        self._finish_state()
        self._clear_state()
        if self.average is None:
            return
        trained = _trainability.trained_in_fit(self.model, self._peers)
        for key, variable in self._weights(trained).items():
            variable.assign(np.asarray(self.average[key]).astype(variable.dtype))
        if self.verbose > 0:
            _messages.print_msg(f"SWA: weights averaged over {self.averaged_epochs} epochs.")
        layers = [
            layer for layer in _layers.walk(self.model) if isinstance(layer, keras.layers.BatchNormalization)
        ]
        if self.bn_data is not None:
            _recompute_batch_norm_statistics(self.model, self.bn_data, self.batch_size)
        elif any(layer.trainable for layer in layers):
            warnings.warn(
                "SWA: the model has BatchNormalization layers whose statistics belong to the last weights, "
                "not to their average; pass bn_data to recompute them.",
                stacklevel=2,
            )


def _recompute_batch_norm_statistics(model, data, batch_size=32):
    """Recomputes the moving statistics of the trainable BatchNormalization layers as plain averages."""
    layers = [
        layer
        for layer in _layers.walk(model)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    try:
        for i, batch in enumerate(_batches(data, batch_size)):
            for layer in layers:
                layer.momentum = i / (i + 1)  # 0 at the first batch: the old statistics drop out
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def _batches(data, batch_size):
    if isinstance(data, dict) or hasattr(data, "shape"):
        size = len(next(iter(keras.tree.flatten(data))))
        for start in range(0, size, batch_size):
            yield keras.tree.map_structure(lambda a, start=start: a[start : start + batch_size], data)
        return
    for batch in data:
        yield batch[0] if isinstance(batch, tuple) else batch
