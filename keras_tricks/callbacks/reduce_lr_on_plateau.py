import keras
import numpy as np

from keras_tricks import _checks
from keras_tricks.callbacks._callback_state import CallbackState
from keras_tricks.schedules.scaled_schedule import ScaledSchedule


class ReduceLROnPlateau(keras.callbacks.Callback):
    """Keras's `ReduceLROnPlateau`, which also works when the learning rate is a schedule.

    The book's performance scheduling: when `monitor` has not improved by `min_delta` for `patience`
    epochs, multiply the learning rate by `factor` (never below `min_lr`), then wait `cooldown` epochs.
    With a float learning rate it behaves as Keras's callback. With a
    `keras.optimizers.schedules.LearningRateSchedule` (Keras's callback raises `TypeError`), it wraps the
    schedule once in `keras_tricks.schedules.ScaledSchedule` and multiplies that wrapper's factor, so the
    schedule keeps running from the optimizer's iteration counter and the reduction composes with it.

    The factor is a variable read in the compiled step. On jax a variable that is not model or optimizer
    state is a constant of the traced step, so after each reduction the callback rebuilds the train
    function (one retrace per reduction, which is rare). The factor is saved with the model (`.keras`),
    being in the schedule's config. `BackupAndRestore` restores weights and optimizer variables only: given
    `backup_dir` (a directory of its own, not `BackupAndRestore`'s), the callback also keeps its own state
    there at each epoch end — the factor, the best value, the wait and cooldown counters — so that a `fit`
    resumed from a backup continues the performance schedule where it stopped.

    Args:
        monitor: str. Quantity to monitor. Defaults to `"val_loss"`.
        factor: float in (0, 1). Multiplier of the learning rate. Defaults to `0.1`.
        patience: int. Epochs with no improvement before a reduction. Defaults to `10`.
        verbose: int. 1 prints a message at each reduction. Defaults to `0`.
        mode: str. `"auto"`, `"min"` or `"max"`. Defaults to `"auto"`.
        min_delta: float. Smallest change counted as an improvement. Defaults to `1e-4`.
        cooldown: int. Epochs to wait after a reduction before counting again. Defaults to `0`.
        min_lr: float. Lower bound of the learning rate at a reduction. Defaults to `0.0`.
        backup_dir: str or `None`. Where the callback's state is kept for a `fit` resumed by
            `keras.callbacks.BackupAndRestore`; removed when training ends. Defaults to `None` (not kept).

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.5)
    >>> model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    >>> callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0)
    >>> callback.set_model(model)
    >>> callback.on_train_begin()
    >>> callback.on_epoch_end(0, {"loss": 1.0})
    >>> callback.on_epoch_end(1, {"loss": 1.0})
    >>> round(float(model.optimizer.learning_rate), 6)
    0.05

    References:
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "Learning Rate Scheduling".
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        backup_dir=None,
    ):
        super().__init__()
        factor = _checks.positive_number("factor", factor)
        if factor >= 1:
            raise ValueError(f"Expected factor in (0, 1). Received: factor={factor}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Expected {name} to be an integer >= 0. Received: {name}={value!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"Expected mode in ('auto', 'min', 'max'). Received: mode={mode!r}")
        if not min_lr >= 0:
            raise ValueError(f"Expected min_lr >= 0. Received: min_lr={min_lr}")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.backup_dir = backup_dir
        self._state = CallbackState(backup_dir, type(self).__name__)
        self.async_safe = True

    def _improved(self, current):
        maximize = self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)
        if maximize:
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def on_train_begin(self, logs=None):
        maximize = self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)
        self.best = -np.inf if maximize else np.inf
        self.wait = 0
        self.cooldown_counter = 0
        self._scaled = None
        # Keras gives no public getter for the schedule object, but its config holds it; a schedule is
        # stateless apart from our factor, whose value the config carries, so a deserialized copy is
        # equivalent.
        config = self.model.optimizer.get_config()["learning_rate"]
        if isinstance(config, dict):
            schedule = keras.saving.deserialize_keras_object(config)
            if not isinstance(schedule, ScaledSchedule):
                schedule = ScaledSchedule(schedule)
            self.model.optimizer.learning_rate = schedule
            self._scaled = schedule
            self._retrace()
        self._state.begin()

    def on_epoch_begin(self, epoch, logs=None):
        saved = self._state.resume(epoch)
        if saved is None:
            return
        scalars, _ = saved
        self.best, self.wait, self.cooldown_counter = scalars["best"], scalars["wait"], scalars["cooldown"]
        # A float learning rate is an optimizer variable, restored by BackupAndRestore; a schedule's
        # factor is not.
        if self._scaled is not None and scalars["factor"] is not None:
            self._scaled.factor.assign(scalars["factor"])
            self._retrace()

    def on_train_end(self, logs=None):
        self._state.clear()

    def _retrace(self):
        # The train function may already be traced around the old learning rate (a second `fit`), and on
        # jax the factor variable is a constant of the trace.
        if self.model.train_function is not None:
            self.model.make_train_function(force=True)

    def on_epoch_end(self, epoch, logs=None):
        self._update(epoch, logs)
        if self._state.enabled:  # a host read of the factor only when it is kept
            factor = None
            if self._scaled is not None:
                factor = float(keras.ops.convert_to_numpy(self._scaled.factor))
            scalars = {"best": float(self.best), "wait": self.wait, "cooldown": self.cooldown_counter}
            self._state.save(epoch, {**scalars, "factor": factor})

    def _update(self, epoch, logs):
        current = (logs or {}).get(self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience and self._reduce(epoch):
            self.cooldown_counter = self.cooldown
            self.wait = 0

    def _reduce(self, epoch):
        optimizer = self.model.optimizer
        old_lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        if not old_lr > np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        if self._scaled is not None:
            factor = self._scaled.factor
            factor.assign(float(keras.ops.convert_to_numpy(factor)) * new_lr / old_lr)
            if keras.backend.backend() == "jax":
                self._retrace()
        else:
            optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        return True
