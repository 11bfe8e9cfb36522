import keras

from keras_tricks.callbacks import _ordering
from keras_tricks.optimizers import CyclicMomentum, _chain


class LearningRateLogger(_ordering.Arranged, keras.callbacks.Callback):
    """Puts the learning rate actually applied into `logs` at the end of each epoch.

    The value is the optimizer's learning rate at its current iteration: a schedule's value there (times
    any `ReduceLROnPlateau` factor), or the float learning rate. It goes under the key `learning_rate`,
    so `History`, `CSVLogger`, `TensorBoard` and the progress bar show it with no extra code. When the
    optimizer cycles its momentum (`keras_tricks.optimizers.CyclicMomentum`, also inside another wrapper
    such as `GradientClipping` or a `LossScaleOptimizer`), the momentum of that iteration goes under
    `momentum` too. It reads one or two scalars per epoch and defines no per-batch hook. The callback
    list of the `fit` is arranged so that the keys are in `logs` before any other callback reads them
    (`CSVLogger`, `TensorBoard`), whatever the order the callbacks were given in; the rate logged is
    then the one of the epoch that ended, before any epoch-end reduction.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    >>> model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    >>> import numpy as np
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[LearningRateLogger()])
    >>> [round(lr, 4) for lr in history.history["learning_rate"]]
    [0.05, 0.025]
    """

    _keras_tricks_roles = (_ordering.LOGGER,)

    def __init__(self):
        super().__init__()
        self.async_safe = True

    def on_train_begin(self, logs=None):
        _ordering.check_arranged(self)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = self.model.optimizer
        logs["learning_rate"] = _chain.learning_rate(optimizer)
        cyclic = _chain.unwrap(optimizer, CyclicMomentum)
        if cyclic is not None:
            logs["momentum"] = float(keras.ops.convert_to_numpy(cyclic.momentum))
